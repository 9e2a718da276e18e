//! The committed schema tree: fresh, consistent, and the commands that maintain it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;
use std::process::Command;

use tally::schema_files;
use tally_schema::check::{self, REGENERATE_COMMAND, SCHEMA_FILE};
use tally_schema::generate;

#[test]
fn committed_schema_is_what_the_types_generate() {
    let path = schema_files::default_dir().join(SCHEMA_FILE);
    let committed = fs::read_to_string(&path).unwrap_or_default();
    let generated = generate::to_file_text(&generate::page_view_schema());
    if committed != generated {
        panic!(
            "schema/{SCHEMA_FILE} is stale: it differs from what the Rust types in schema/src generate.\n\
             Regenerate it with:\n\n    {REGENERATE_COMMAND}\n"
        );
    }
}

#[test]
fn the_committed_tree_passes_the_check() {
    let tree = schema_files::load(&schema_files::default_dir()).unwrap();
    assert!(
        !tree.releases.is_empty(),
        "no frozen release to check compatibility against"
    );
    let problems: Vec<String> = check::check(&tree)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A copy of the committed `schema/page-view` tree in a temporary `schema` directory.
fn copy_of_schema_tree() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("schema");
    fs::create_dir_all(dir.join("page-view")).unwrap();
    copy_tree(
        &schema_files::default_dir().join("page-view"),
        &dir.join("page-view"),
    );
    (tmp, dir)
}

fn tally(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn check_fails_naming_the_stale_file_and_generate_repairs_it() {
    let (_tmp, dir) = copy_of_schema_tree();
    let dir_arg = dir.to_str().unwrap();

    // Simulate a type change that was not regenerated: the committed file no longer matches.
    let file = dir.join(SCHEMA_FILE);
    let edited = fs::read_to_string(&file).unwrap().replacen(
        "\"maxLength\": 1024",
        "\"maxLength\": 2048",
        1,
    );
    fs::write(&file, edited).unwrap();

    let out = tally(&["schema", "check", "--dir", dir_arg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("page-view/v1.json is stale"), "{stderr}");
    assert!(stderr.contains(REGENERATE_COMMAND), "{stderr}");

    let out = tally(&["schema", "generate", "--dir", dir_arg]);
    assert!(out.status.success());
    let out = tally(&["schema", "check", "--dir", dir_arg]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_names_the_field_when_an_earlier_example_no_longer_validates() {
    let (_tmp, dir) = copy_of_schema_tree();
    // An example frozen for 1-0-0 whose `language` the current types reject.
    let frozen = dir.join("page-view/releases/1-0-0/valid/full.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&frozen).unwrap()).unwrap();
    value["language"] = "not a language tag!".into();
    fs::write(&frozen, value.to_string()).unwrap();

    let out = tally(&["schema", "check", "--dir", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("breaking change to field `language`"),
        "{stderr}"
    );
}

#[test]
fn freeze_copies_the_current_examples_into_a_release() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::create_dir_all(dir.join("page-view/examples/valid")).unwrap();
    fs::write(dir.join("page-view/examples/valid/a.json"), "{}").unwrap();
    let (target, n) = schema_files::freeze(dir).unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        target,
        dir.join(format!(
            "page-view/releases/{}/valid",
            tally_schema::page_view::VERSION
        ))
    );
    assert_eq!(fs::read_to_string(target.join("a.json")).unwrap(), "{}");
}
