//! `tally new consumer NAME`: a new consumer crate, already wired into the workspace.
//!
//! It writes `consumers/NAME/` (`Cargo.toml`, `README.md`, `src/lib.rs` with the declaration, a
//! local handler and its probe, `tests/compliance.rs`) from the templates in `src/cmd/new/`, and
//! wires the crate in: a `[workspace] members` entry, a `[workspace.dependencies]` entry and a
//! dependency of the `tally` package in the root `Cargo.toml` (edited with `toml_edit`, so its
//! formatting and comments stay), and one line at the end of the one consumer list,
//! `CONSUMERS` in `src/local/consumers.rs`. Everything is checked before anything is written;
//! nothing is overwritten.

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use tally_consumer::Declaration;
use toml_edit::{DocumentMut, InlineTable, Item, Value};

/// `tally new` subcommands.
#[derive(Debug, Subcommand)]
pub enum NewCommand {
    /// Generate a consumer crate (declaration, handler, compliance test, README) wired into the
    /// workspace and the local pipeline, so `cargo test` passes at once.
    Consumer {
        /// The consumer's name: lower-case letters, digits and '-', starting with a letter, at
        /// most 32 characters. The crate is `tally-NAME`.
        name: String,
        /// Where the crate goes, relative to the workspace root.
        #[arg(long, default_value = "consumers")]
        dir: PathBuf,
    },
}

/// The file of the one consumer list.
const LIST_FILE: &str = "src/local/consumers.rs";

/// The line that opens the list in [`LIST_FILE`]; the list ends at the next line `];`.
pub const LIST_START: &str = "pub const CONSUMERS: &[&dyn Consumer] = &[";

const TEMPLATES: [(&str, &str); 4] = [
    ("Cargo.toml", include_str!("new/Cargo.toml.tmpl")),
    ("README.md", include_str!("new/README.md.tmpl")),
    ("src/lib.rs", include_str!("new/lib.rs.tmpl")),
    (
        "tests/compliance.rs",
        include_str!("new/compliance.rs.tmpl"),
    ),
];

/// Runs a `tally new` subcommand in the workspace around the current directory.
pub fn run(cmd: NewCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        NewCommand::Consumer { name, dir } => {
            let cwd = std::env::current_dir().context("cannot read the current directory")?;
            let root = workspace_root(&cwd)?;
            let generated = new_consumer(&root, &name, &dir)?;
            for path in &generated.written {
                println!("created {}", path.display());
            }
            for path in &generated.edited {
                println!("edited  {}", path.display());
            }
            println!(
                "next: cargo test -p {} (then make src/lib.rs yours; see its README.md)",
                generated.names.package
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The names a consumer's crate is generated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The consumer's name (`demo-sink`).
    pub name: String,
    /// The package (`tally-demo-sink`).
    pub package: String,
    /// The crate as Rust code names it (`tally_demo_sink`).
    pub krate: String,
    /// The consumer's type (`DemoSink`).
    pub type_name: String,
}

impl Names {
    /// Checks `name` against the contract's naming rule (and starting with a letter, since it
    /// names a crate and a type) and derives the other names.
    pub fn new(name: &str) -> anyhow::Result<Names> {
        let probe = Declaration {
            name: name.to_owned(),
            description: String::new(),
            rules: Vec::new(),
        };
        probe.validate().map_err(|_| {
            anyhow::anyhow!(
                "invalid consumer name {name:?}: use 1 to 32 lower-case letters, digits and '-'"
            )
        })?;
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) || name.ends_with('-') {
            bail!(
                "invalid consumer name {name:?}: it must start with a letter and not end with '-'"
            );
        }
        let type_name = name
            .split('-')
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect();
        Ok(Names {
            name: name.to_owned(),
            package: format!("tally-{name}"),
            krate: format!("tally_{}", name.replace('-', "_")),
            type_name,
        })
    }

    fn fill(&self, template: &str) -> String {
        template
            .replace("{{name}}", &self.name)
            .replace("{{package}}", &self.package)
            .replace("{{crate}}", &self.krate)
            .replace("{{Type}}", &self.type_name)
    }
}

/// What [`new_consumer`] did.
#[derive(Debug)]
pub struct Generated {
    /// The names it used.
    pub names: Names,
    /// The files it created.
    pub written: Vec<PathBuf>,
    /// The files it edited.
    pub edited: Vec<PathBuf>,
}

/// The nearest directory at or above `from` whose `Cargo.toml` has a `[workspace]` table.
pub fn workspace_root(from: &Path) -> anyhow::Result<PathBuf> {
    for dir in from.ancestors() {
        let manifest = dir.join("Cargo.toml");
        if let Ok(text) = fs::read_to_string(&manifest)
            && let Ok(doc) = text.parse::<DocumentMut>()
            && doc.get("workspace").is_some()
        {
            return Ok(dir.to_path_buf());
        }
    }
    bail!(
        "no Cargo workspace at or above {}: run this in the Tally workspace",
        from.display()
    )
}

/// Generates the consumer `name` under `root/dir/name` and wires it into the workspace at
/// `root`. Checks everything first: nothing is written when any check fails.
pub fn new_consumer(root: &Path, name: &str, dir: &Path) -> anyhow::Result<Generated> {
    let names = Names::new(name)?;
    if dir.is_absolute() || dir.components().any(|c| !matches!(c, Component::Normal(_))) {
        bail!(
            "--dir {}: give a directory inside the workspace, relative to its root",
            dir.display()
        );
    }
    let crate_dir = root.join(dir).join(name);
    if crate_dir.exists() {
        bail!(
            "{} exists already: not overwriting it (choose another name or remove it)",
            crate_dir.display()
        );
    }
    let member = format!("{}/{name}", dir.to_string_lossy().replace('\\', "/"));

    let manifest_path = root.join("Cargo.toml");
    let manifest = fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let manifest = wire_manifest(&manifest, &names, &member).with_context(|| {
        format!(
            "cannot add {} to {}",
            names.package,
            manifest_path.display()
        )
    })?;
    let list_path = root.join(LIST_FILE);
    let list = fs::read_to_string(&list_path)
        .with_context(|| format!("cannot read {}", list_path.display()))?;
    let list = wire_list(&list, &names)
        .with_context(|| format!("cannot add {} to {}", names.name, list_path.display()))?;

    let mut written = Vec::new();
    for (file, template) in TEMPLATES {
        let path = crate_dir.join(file);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        fs::write(&path, names.fill(template))
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    format(&written);
    fs::write(&manifest_path, manifest)
        .with_context(|| format!("cannot write {}", manifest_path.display()))?;
    fs::write(&list_path, list).with_context(|| format!("cannot write {}", list_path.display()))?;
    Ok(Generated {
        names,
        written,
        edited: vec![manifest_path, list_path],
    })
}

/// Formats the generated Rust files with `rustfmt` (the workspace's `rustfmt.toml` applies), so
/// `cargo fmt --check` passes whatever the name's length; warns when rustfmt cannot run.
fn format(files: &[PathBuf]) {
    let rust: Vec<&PathBuf> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    let status = std::process::Command::new("rustfmt")
        .args(["--edition", "2024"])
        .args(&rust)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => eprintln!("warning: rustfmt failed ({s}): run cargo fmt"),
        Err(e) => eprintln!("warning: cannot run rustfmt ({e}): run cargo fmt"),
    }
}

/// The root manifest with the crate as a workspace member, a workspace dependency
/// (`tally-NAME = { path = "…" }`) and a dependency of the `tally` package
/// (`tally-NAME.workspace = true`); everything else as it was.
pub fn wire_manifest(manifest: &str, names: &Names, member: &str) -> anyhow::Result<String> {
    let mut doc: DocumentMut = manifest.parse().context("not valid TOML")?;
    let package = names.package.as_str();
    let members = doc
        .get_mut("workspace")
        .and_then(|w| w.get_mut("members"))
        .and_then(Item::as_array_mut)
        .context("no [workspace] members array")?;
    if members.iter().any(|m| m.as_str() == Some(member)) {
        bail!("{member:?} is a workspace member already");
    }
    members.push(member);

    let deps = doc
        .get_mut("workspace")
        .and_then(|w| w.get_mut("dependencies"))
        .and_then(Item::as_table_like_mut)
        .context("no [workspace.dependencies] table")?;
    if deps.contains_key(package) {
        bail!("a package {package} exists already in [workspace.dependencies]");
    }
    let mut path = InlineTable::new();
    path.insert("path", Value::from(member));
    deps.insert(package, Item::Value(Value::InlineTable(path)));

    let deps = doc
        .get_mut("dependencies")
        .and_then(Item::as_table_like_mut)
        .context("no [dependencies] table for the tally package")?;
    if deps.contains_key(package) {
        bail!("the tally package depends on a {package} already");
    }
    let mut workspace = InlineTable::new();
    workspace.insert("workspace", Value::from(true));
    workspace.set_dotted(true);
    deps.insert(package, Item::Value(Value::InlineTable(workspace)));
    Ok(doc.to_string())
}

/// The consumer list's file with `{crate}::CONSUMER,` added as the list's last entry.
pub fn wire_list(list: &str, names: &Names) -> anyhow::Result<String> {
    if list.contains(&format!("{}::", names.krate)) {
        bail!("it lists {} already", names.krate);
    }
    let found: Vec<usize> = list.match_indices(LIST_START).map(|(i, _)| i).collect();
    let [start] = found[..] else {
        bail!(
            "expected the line {LIST_START:?} once, found it {} times",
            found.len()
        );
    };
    let end = list[start..]
        .find("\n];")
        .map(|i| start + i + 1)
        .with_context(|| format!("the list opened by {LIST_START:?} has no closing line `];`"))?;
    let mut out = list.to_owned();
    out.insert_str(end, &format!("    {}::CONSUMER,\n", names.krate));
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn names_follow_the_contract_and_derive_crate_and_type() {
        let n = Names::new("demo-sink2").unwrap();
        assert_eq!(n.package, "tally-demo-sink2");
        assert_eq!(n.krate, "tally_demo_sink2");
        assert_eq!(n.type_name, "DemoSink2");
        for bad in [
            "",
            "Demo",
            "demo_sink",
            "1demo",
            "demo-",
            "a".repeat(33).as_str(),
        ] {
            let err = Names::new(bad).unwrap_err().to_string();
            assert!(err.contains("invalid consumer name"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn the_manifest_gains_three_lines_and_keeps_everything_else() {
        let root = include_str!("../../Cargo.toml");
        let names = Names::new("demo-sink").unwrap();
        let wired = wire_manifest(root, &names, "consumers/demo-sink").unwrap();
        let removed: Vec<&str> = root.lines().filter(|l| !wired.contains(l)).collect();
        let members_line = root.lines().find(|l| l.starts_with("members = [")).unwrap();
        assert_eq!(removed, vec![members_line], "only the members line changes");
        let added: Vec<&str> = wired.lines().filter(|l| !root.contains(l)).collect();
        assert_eq!(
            added,
            vec![
                &*members_line.replace("]", ", \"consumers/demo-sink\"]"),
                "tally-demo-sink = { path = \"consumers/demo-sink\" }",
                "tally-demo-sink.workspace = true",
            ]
        );
        let again = wire_manifest(&wired, &names, "consumers/demo-sink").unwrap_err();
        assert!(again.to_string().contains("member already"), "{again}");
    }

    #[test]
    fn the_list_gains_one_line_at_its_end() {
        let list = include_str!("../local/consumers.rs");
        let names = Names::new("demo-sink").unwrap();
        let wired = wire_list(list, &names).unwrap();
        let added: Vec<&str> = wired.lines().filter(|l| !list.contains(l)).collect();
        assert_eq!(added, vec!["    tally_demo_sink::CONSUMER,"]);
        assert!(
            wired.contains("    tally_demo_sink::CONSUMER,\n];"),
            "{wired}"
        );
        assert_eq!(wired.lines().count(), list.lines().count() + 1);
        let again = wire_list(&wired, &names).unwrap_err();
        assert!(again.to_string().contains("already"), "{again}");
        let err = wire_list("fn main() {}", &names).unwrap_err();
        assert!(err.to_string().contains("found it 0 times"), "{err}");
        let open = format!("{LIST_START}\n    a::CONSUMER,\n");
        let err = wire_list(&open, &names).unwrap_err();
        assert!(err.to_string().contains("no closing line"), "{err}");
    }
}
