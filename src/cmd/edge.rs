//! `tally edge …`: the edge producer (Lambda@Edge): inspect a request event, package the function.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use tally_edge::{Decision, EdgeConfig};

/// The configuration `inspect` uses without `--config`, the one `cargo build` bakes in.
const EXAMPLE_CONFIG: &str = include_str!("../../producers/edge-lambda/edge.example.json");

/// The Python module's crate, relative to the repository root.
const MODULE_MANIFEST: &str = "producers/edge-lambda/Cargo.toml";

/// Lambda@Edge's limit for an origin-request function's zipped package, in bytes.
const MAX_ZIP_BYTES: u64 = 50 * 1024 * 1024;

/// `tally edge` subcommands.
#[derive(Debug, Subcommand)]
pub enum EdgeCommand {
    /// Print the StartExecution input a CloudFront origin-request event would produce (the edge
    /// view, pretty JSON), or `skip: <reason>`.
    ///
    /// Exit code 0 either way, 2 when the event cannot be read or is not a request event.
    Inspect {
        /// The Lambda@Edge event (JSON file).
        event: PathBuf,
        /// The edge time, RFC 3339 (default: now); fix it for a deterministic output.
        #[arg(long)]
        now: Option<String>,
        /// The edge configuration (default: producers/edge-lambda/edge.example.json).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Build the Lambda@Edge function (Python 3.11, x86_64) with maturin and zip it; the handler
    /// is `tally_edge.handler`.
    ///
    /// Needs maturin and ziglang (`pip install maturin ziglang`), on PATH or in
    /// ~/.cache/tally/venv.
    Package {
        /// The edge configuration to bake in (validated first).
        #[arg(long)]
        config: PathBuf,
        /// The zip to write.
        #[arg(long)]
        out: PathBuf,
        /// For tests: an unoptimised module for this machine's Python, built without zig.
        #[arg(long, hide = true)]
        debug: bool,
    },
}

/// Runs a `tally edge` subcommand.
pub fn run(cmd: EdgeCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        EdgeCommand::Inspect { event, now, config } => inspect(&event, now.as_deref(), config),
        EdgeCommand::Package { config, out, debug } => package(&config, &out, debug),
    }
}

fn read_config(path: &Path) -> anyhow::Result<EdgeConfig> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    EdgeConfig::from_json(&text)
        .with_context(|| format!("{} is not a valid edge config", path.display()))
}

fn inspect(event: &Path, now: Option<&str>, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = match config {
        Some(path) => read_config(&path)?,
        None => {
            EdgeConfig::from_json(EXAMPLE_CONFIG).context("the example edge config is invalid")?
        }
    };
    let now = match now {
        Some(t) => DateTime::parse_from_rfc3339(t)
            .with_context(|| format!("--now {t:?} is not RFC 3339"))?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let text =
        fs::read_to_string(event).with_context(|| format!("cannot read {}", event.display()))?;
    let parsed = tally_edge::parse_event(&text)
        .with_context(|| format!("{} is not a cloudfront request event", event.display()))?;
    let record = parsed
        .record()
        .with_context(|| format!("{} has no record", event.display()))?;
    let mut stdout = io::stdout().lock();
    match tally_edge::decide(record, &config, now) {
        Decision::PageView(view) => {
            serde_json::to_writer_pretty(&mut stdout, &view)?;
            writeln!(stdout)?;
        }
        Decision::Skip(reason) => writeln!(stdout, "skip: {reason}")?,
    }
    Ok(ExitCode::SUCCESS)
}

/// maturin: on PATH, else in the tests' virtualenv.
fn find_maturin() -> anyhow::Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("maturin"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let venv =
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/tally/venv/bin/maturin"));
    on_path
        .into_iter()
        .chain(venv)
        .find(|p| p.is_file())
        .context(
            "maturin not found on PATH nor in ~/.cache/tally/venv: install it with \
             `pip install maturin ziglang` (./tests/run installs both into ~/.cache/tally/venv)",
        )
}

/// The module's manifest: under the current directory if it is the repository, else where this
/// binary was built from.
fn module_manifest() -> anyhow::Result<PathBuf> {
    [
        PathBuf::from(MODULE_MANIFEST),
        Path::new(env!("CARGO_MANIFEST_DIR")).join(MODULE_MANIFEST),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .with_context(|| format!("cannot find {MODULE_MANIFEST}: run tally from the repository root"))
}

fn package(config_path: &Path, out: &Path, debug: bool) -> anyhow::Result<ExitCode> {
    let config = read_config(config_path)?;
    if config.state_machine_arn.is_none() {
        bail!(
            "{} has no state_machine_arn: the function would send nothing",
            config_path.display()
        );
    }
    let config_path = fs::canonicalize(config_path)
        .with_context(|| format!("cannot resolve {}", config_path.display()))?;
    let manifest = module_manifest()?;
    let maturin = find_maturin()?;

    let wheels = std::env::temp_dir().join(format!(
        "tally-edge-package-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    let result = build_and_zip(&maturin, &manifest, &config_path, &wheels, out, debug);
    fs::remove_dir_all(&wheels).ok();
    let (files, bytes) = result?;
    println!(
        "{}: {files} files, {bytes} bytes; Lambda@Edge runtime python3.11, x86_64, handler tally_edge.handler",
        out.display()
    );
    if bytes > MAX_ZIP_BYTES {
        bail!("{} is larger than Lambda@Edge's 50 MB limit", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn build_and_zip(
    maturin: &Path,
    manifest: &Path,
    config: &Path,
    wheels: &Path,
    out: &Path,
    debug: bool,
) -> anyhow::Result<(usize, u64)> {
    let mut cmd = Command::new(maturin);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--out")
        .arg(wheels)
        .env("TALLY_EDGE_CONFIG", config)
        // Keep stdout for our own summary.
        .stdout(Stdio::from(io::stderr()))
        .stderr(Stdio::inherit());
    if debug {
        cmd.args(["--profile", "edge-test", "--compatibility", "linux"]);
    } else {
        cmd.args([
            "--profile",
            "edge",
            "--zig",
            "--compatibility",
            "manylinux2014",
            "-i",
            "python3.11",
        ]);
    }
    // maturin --zig runs zig through the Python that has ziglang: its own virtualenv's.
    if let Some(bin) = maturin.parent() {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::iter::once(bin.to_path_buf()).chain(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(dirs)?);
    }
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {}", maturin.display()))?;
    if !status.success() {
        bail!("maturin build failed ({status})");
    }
    let wheel = fs::read_dir(wheels)
        .with_context(|| format!("cannot read {}", wheels.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .context("maturin wrote no wheel")?;
    wheel_to_lambda_zip(&wheel, out)
}

/// Copies the wheel's files, without its `.dist-info`, into a zip whose root is the Lambda
/// function's code directory. Entries keep the wheel's order and get a fixed time, so the same
/// wheel gives the same zip.
fn wheel_to_lambda_zip(wheel: &Path, out: &Path) -> anyhow::Result<(usize, u64)> {
    let mut archive = zip::ZipArchive::new(
        File::open(wheel).with_context(|| format!("cannot open {}", wheel.display()))?,
    )
    .with_context(|| format!("{} is not a zip", wheel.display()))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let file = File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut writer = zip::ZipWriter::new(file);
    let mut files = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let name = entry.name()?.into_owned();
        if entry.is_dir()
            || name
                .split('/')
                .next()
                .is_some_and(|d| d.ends_with(".dist-info"))
        {
            continue;
        }
        let mode = if name.ends_with(".so") { 0o755 } else { 0o644 };
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode);
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        writer.start_file(name.as_str(), options)?;
        writer.write_all(&data)?;
        files += 1;
    }
    writer.finish()?;
    let bytes = fs::metadata(out)?.len();
    Ok((files, bytes))
}
