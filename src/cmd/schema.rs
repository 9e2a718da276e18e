//! `tally schema …`

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use tally_schema::check::{self, FREEZE_COMMAND};
use tally_schema::generate;
use tally_schema::validate::PageViewValidator;

use crate::{registry, schema_files};

/// `tally schema` subcommands.
#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Regenerate the committed schema files from the Rust types.
    Generate {
        /// The `schema` crate's directory.
        #[arg(long, default_value_os_t = schema_files::default_dir())]
        dir: PathBuf,
    },
    /// Fail if a committed schema is stale, an example is misfiled, or a version breaks an
    /// earlier one of the same model.
    Check {
        /// The `schema` crate's directory.
        #[arg(long, default_value_os_t = schema_files::default_dir())]
        dir: PathBuf,
    },
    /// Copy the current valid examples into releases/<version>/, before bumping the version.
    Freeze {
        /// The `schema` crate's directory.
        #[arg(long, default_value_os_t = schema_files::default_dir())]
        dir: PathBuf,
    },
    /// Validate page-view details or envelopes: JSON files or NDJSON, `-` for stdin.
    Validate {
        /// Files to validate.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Print the schema.
    Export {
        /// Print the whole event as JSON Schema Draft 4, as the EventBridge Schema Registry takes it.
        #[arg(long)]
        registry_format: bool,
    },
    /// Create or update the schema in an EventBridge Schema Registry (creating the registry).
    Publish {
        /// The registry's name.
        #[arg(long)]
        registry: String,
        /// The AWS region; the SDK's default chain otherwise.
        #[arg(long)]
        region: Option<String>,
        /// Another endpoint for the schemas API.
        #[arg(long)]
        endpoint_url: Option<String>,
    },
}

/// Runs a `tally schema` subcommand.
pub fn run(cmd: SchemaCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SchemaCommand::Generate { dir } => {
            let changed = schema_files::generate(&dir)?;
            for path in &changed {
                eprintln!("wrote {}", path.display());
            }
            if changed.is_empty() {
                eprintln!("schema files are up to date");
            }
            Ok(ExitCode::SUCCESS)
        }
        SchemaCommand::Check { dir } => {
            let tree = schema_files::load(&dir)?;
            let problems = check::check(&tree);
            if problems.is_empty() {
                eprintln!(
                    "schema {} ok: {} valid and {} invalid examples, {} frozen release(s) checked",
                    tally_schema::page_view::VERSION,
                    tree.valid.len(),
                    tree.invalid.len(),
                    tree.releases.len()
                );
                return Ok(ExitCode::SUCCESS);
            }
            for p in &problems {
                eprintln!("error: {p}");
            }
            eprintln!(
                "{} problem(s); before changing page_view::VERSION, run `{FREEZE_COMMAND}`",
                problems.len()
            );
            Ok(ExitCode::from(1))
        }
        SchemaCommand::Freeze { dir } => {
            let (target, n) = schema_files::freeze(&dir)?;
            eprintln!("froze {n} example(s) into {}", target.display());
            Ok(ExitCode::SUCCESS)
        }
        SchemaCommand::Validate { files } => validate(&files),
        SchemaCommand::Export { registry_format } => {
            let schema = if registry_format {
                generate::registry_schema()
            } else {
                generate::page_view_schema()
            };
            io::stdout().write_all(generate::to_file_text(&schema).as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        SchemaCommand::Publish {
            registry,
            region,
            endpoint_url,
        } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let published = rt.block_on(async {
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
                if let Some(region) = region {
                    loader = loader.region(aws_config::Region::new(region));
                }
                if let Some(url) = endpoint_url {
                    loader = loader.endpoint_url(url);
                }
                let client = aws_sdk_schemas::Client::new(&loader.load().await);
                let content = generate::to_file_text(&generate::registry_schema());
                registry::publish(&client, &registry, &content).await
            })?;
            if published.registry_created {
                eprintln!("created registry {registry}");
            }
            let what = match published.action {
                registry::Action::Created => "created",
                registry::Action::Updated => "updated",
                registry::Action::Unchanged => "unchanged",
            };
            println!(
                "{}/{}: {what}, version {}",
                registry,
                registry::SCHEMA_NAME,
                published.version
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn validate(files: &[String]) -> anyhow::Result<ExitCode> {
    let validator = PageViewValidator::new()?;
    let (mut records, mut invalid_records) = (0usize, 0usize);
    let mut out = io::BufWriter::new(io::stdout().lock());
    for file in files {
        let text = if file == "-" {
            let mut s = String::new();
            io::stdin()
                .read_to_string(&mut s)
                .context("cannot read stdin")?;
            s
        } else {
            std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?
        };
        let report = validator.validate_document(&text);
        records += report.records;
        let mut last_line = None;
        for e in &report.errors {
            if last_line != Some(e.line) {
                invalid_records += 1;
                last_line = Some(e.line);
            }
            writeln!(out, "{file}:{}: {}", e.line, e.violation)?;
        }
    }
    out.flush()?;
    eprintln!("{records} record(s), {invalid_records} invalid");
    Ok(if invalid_records == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
