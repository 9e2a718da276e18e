//! Tidy: the structural invariants of ARCHITECTURE.md, read off every member's `Cargo.toml` and
//! sources, each failure quoting the sentence it guards (after rust-analyzer's tidy tests).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The checkout, found at run time: a test binary built in another clone sharing the target
/// directory must not read that clone's files.
static ROOT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")
});

/// A workspace member: its package name, directory and normal (not dev) dependencies.
#[derive(Debug)]
struct Member {
    name: String,
    dir: PathBuf,
    deps: Vec<String>,
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn members() -> Vec<Member> {
    let root: toml_edit::DocumentMut = read(&Path::new(&*ROOT).join("Cargo.toml"))
        .parse()
        .expect("root Cargo.toml");
    let dirs = root["workspace"]["members"]
        .as_array()
        .expect("workspace.members");
    dirs.iter()
        .map(|d| {
            let dir = Path::new(&*ROOT).join(d.as_str().expect("member path"));
            let manifest: toml_edit::DocumentMut = read(&dir.join("Cargo.toml"))
                .parse()
                .expect("member Cargo.toml");
            let name = manifest["package"]["name"]
                .as_str()
                .expect("name")
                .to_owned();
            let mut deps = table_keys(manifest.get("dependencies"));
            if let Some(targets) = manifest.get("target").and_then(|t| t.as_table()) {
                for (_, target) in targets.iter() {
                    deps.extend(table_keys(target.get("dependencies")));
                }
            }
            Member { name, dir, deps }
        })
        .collect()
}

fn table_keys(item: Option<&toml_edit::Item>) -> Vec<String> {
    item.and_then(|i| i.as_table_like())
        .map(|t| t.iter().map(|(k, _)| k.to_owned()).collect())
        .unwrap_or_default()
}

/// The sentence of ARCHITECTURE.md that starts with `start`, whole (it must be there).
fn invariant(start: &str) -> String {
    let text = read(&Path::new(&*ROOT).join("ARCHITECTURE.md")).replace("\n  ", " ");
    let at = text.find(start).unwrap_or_else(|| {
        panic!("ARCHITECTURE.md no longer says {start:?}: update tests/tidy.rs")
    });
    let rest = &text[at..];
    rest[..rest.find('\n').unwrap_or(rest.len())].to_owned()
}

fn by_name(members: &[Member]) -> BTreeMap<&str, &Member> {
    members.iter().map(|m| (m.name.as_str(), m)).collect()
}

/// Every `.rs` file under `dir`, without what follows a `#[cfg(test)]` line (test modules).
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = read(&path);
            let code = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .to_owned();
            out.push((path, code));
        }
    }
    out
}

/// What file or network I/O looks like in our sources.
const IO: [&str; 8] = [
    "std::fs",
    "File::",
    "OpenOptions",
    "TcpStream",
    "TcpListener",
    "UdpSocket",
    "tokio::fs",
    "tokio::net",
];

fn assert_no_io(dir: &Path, except: &[&str], sentence: &str) {
    for (path, code) in sources(dir) {
        if except.iter().any(|e| path.ends_with(e)) {
            continue;
        }
        for needle in IO {
            assert!(
                !code.contains(needle),
                "{} uses {needle}, yet ARCHITECTURE.md says: {sentence}",
                path.display()
            );
        }
    }
}

#[test]
fn only_the_tally_binary_uses_anyhow() {
    let sentence = invariant("Library crates use `thiserror`; only the `tally` binary");
    for m in members() {
        if m.name != "tally" {
            assert!(
                !m.deps.contains(&"anyhow".to_owned()),
                "{} depends on anyhow: {sentence}",
                m.name
            );
        }
    }
}

#[test]
fn the_aws_sdk_and_datafusion_stay_in_the_crates_that_need_them() {
    let sentence = invariant("No AWS SDK in a library crate that does not talk to AWS");
    // The crates that talk to AWS: the CLI, the counters' DynamoDB side, the edge's sink, the
    // log producers and the sink they share.
    let aws = [
        "tally",
        "tally-counters",
        "tally-edge-lambda",
        "tally-realtime-lambda",
        "tally-standard-logs-lambda",
        "tally-lambda-sink",
    ];
    for m in members() {
        let sdk: Vec<&String> = m
            .deps
            .iter()
            .filter(|d| d.starts_with("aws-sdk-") || *d == "aws-config")
            .collect();
        assert!(
            sdk.is_empty() || aws.contains(&m.name.as_str()),
            "{} depends on {sdk:?}: {sentence}",
            m.name
        );
    }
    let sentence = invariant("DataFusion lives only here and in the `tally` binary");
    for m in members() {
        if m.deps.contains(&"datafusion".to_owned()) {
            assert!(
                ["tally", "tally-athena"].contains(&m.name.as_str()),
                "{}: {sentence}",
                m.name
            );
        }
    }
}

#[test]
fn no_consumer_knows_another_consumer_or_a_producer() {
    let sentence = invariant("No consumer knows another consumer or a producer");
    let members = members();
    let names = by_name(&members);
    let under = |m: &Member, dir: &str| m.dir.starts_with(Path::new(&*ROOT).join(dir));
    for m in members
        .iter()
        .filter(|m| under(m, "consumers") && m.name != "tally-consumer")
    {
        for dep in &m.deps {
            let Some(other) = names.get(dep.as_str()) else {
                continue;
            };
            let consumer = under(other, "consumers") && other.name != "tally-consumer";
            assert!(
                !consumer && !under(other, "producers"),
                "{} depends on {dep}: {sentence}",
                m.name
            );
        }
    }
}

#[test]
fn the_consumer_list_is_the_only_one() {
    let sentence = invariant("No consumer is listed twice or anywhere but `CONSUMERS`");
    let list = Path::new(&*ROOT).join("src/local/consumers.rs");
    // `tally new consumer` writes the line into the list.
    let generator = Path::new(&*ROOT).join("src/cmd/new.rs");
    let mut listed = Vec::new();
    for dir in ["src", "deploy/src", "bus/src"] {
        for (path, code) in sources(&Path::new(&*ROOT).join(dir)) {
            if path != list && path != generator && code.contains("::CONSUMER") {
                listed.push(path);
            }
        }
    }
    assert!(
        listed.is_empty(),
        "{listed:?} name a consumer's CONSUMER: {sentence}"
    );
    let code = read(&list);
    let entries: Vec<&str> = code
        .lines()
        .filter(|l| l.trim_end().ends_with("::CONSUMER,"))
        .collect();
    let mut unique = entries.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        entries.len(),
        "a consumer listed twice: {sentence}"
    );
}

#[test]
fn the_pure_crates_do_no_io() {
    let root = Path::new(&*ROOT);
    assert_no_io(
        &root.join("schema/src"),
        &[],
        &invariant("`tally-schema` does no I/O"),
    );
    assert_no_io(
        &root.join("state-machines/runner/src"),
        &[],
        &invariant("`tally-states` does no I/O"),
    );
    assert_no_io(
        &root.join("producers/edge/src"),
        &[],
        &invariant("`tally-edge` does no I/O"),
    );
    assert_no_io(
        &root.join("bus/src"),
        &[],
        &invariant("`tally-bus` has no AWS SDK; its pattern matcher does no I/O"),
    );
}

#[test]
fn every_member_has_a_code_map_entry() {
    let map = read(&Path::new(&*ROOT).join("ARCHITECTURE.md"));
    for m in members() {
        let dir = m.dir.strip_prefix(&*ROOT).expect("inside the workspace");
        // `### `DIR/` — …`: the member's folder, or one holding it (`state-machines/`).
        let entry = map
            .lines()
            .filter_map(|l| l.strip_prefix("### `"))
            .any(|l| {
                let folder = l
                    .split('`')
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches('/');
                if dir.as_os_str().is_empty() {
                    folder.is_empty()
                } else {
                    !folder.is_empty() && dir.starts_with(folder)
                }
            });
        assert!(
            entry,
            "{} ({}) has no code map entry (### `DIR/` — …) in ARCHITECTURE.md",
            m.name,
            dir.display()
        );
    }
}
