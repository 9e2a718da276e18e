//! `tally new consumer`: in a copy of the workspace, the generated crate passes `cargo test` at
//! once and the workspace stays formatted; bad names and existing crates are refused without
//! writing anything.
//!
//! The copy's builds go to `$CARGO_TARGET_DIR/new-consumer-test` (the running `cargo test`
//! holds the lock on its own target directory); after the first run only the workspace's own
//! small crates (`tally-schema`, `tally-bus`, `tally-consumer` and the generated one) recompile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .to_path_buf()
}

fn tally(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The workspace's files as git knows them (tracked, and untracked but not ignored), copied
/// into `dest`.
fn copy_workspace(dest: &Path) {
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root())
        .output()
        .expect("git is needed to list the workspace's files");
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    for file in listed.stdout.split(|&b| b == 0).filter(|f| !f.is_empty()) {
        let file = Path::new(std::str::from_utf8(file).unwrap());
        let from = root().join(file);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let to = dest.join(file);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&from, &to).unwrap();
    }
}

fn cargo(dir: &Path, args: &[&str]) -> Output {
    let target = PathBuf::from(
        std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| root().join("target").into()),
    )
    .join("new-consumer-test");
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap()
}

#[test]
fn a_new_consumer_passes_its_tests_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    copy_workspace(&ws);

    let out = tally(&ws.join("src"), &["new", "consumer", "demo-sink"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("cargo test -p tally-demo-sink"), "{stdout}");
    let crate_dir = ws.join("consumers/demo-sink");
    for file in [
        "Cargo.toml",
        "README.md",
        "src/lib.rs",
        "tests/compliance.rs",
    ] {
        assert!(crate_dir.join(file).is_file(), "{file} not generated");
    }
    let list = fs::read_to_string(ws.join("src/local/consumers.rs")).unwrap();
    assert!(
        list.contains("    tally_demo_sink::CONSUMER,\n];"),
        "{list}"
    );

    // The generated code and the edited files are formatted as `cargo fmt --check` wants.
    let fmt = cargo(&ws, &["fmt", "--all", "--check"]);
    assert!(
        fmt.status.success(),
        "{}{}",
        text(&fmt.stdout),
        text(&fmt.stderr)
    );

    // Its tests (compliance included) pass, and they are the generated ones.
    let test = cargo(&ws, &["test", "--offline", "-p", "tally-demo-sink"]);
    let (stdout, stderr) = (text(&test.stdout), text(&test.stderr));
    assert!(test.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("test the_consumer_is_compliant ... ok"),
        "{stdout}"
    );
    assert!(
        stdout.contains("test the_local_pipeline_opens_it_in_its_own_directory ... ok"),
        "{stdout}"
    );

    // A second run refuses to overwrite it, and changes nothing.
    let before = fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    let out = tally(&ws, &["new", "consumer", "demo-sink"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("exists already: not overwriting"),
        "{stderr}"
    );
    assert_eq!(fs::read_to_string(ws.join("Cargo.toml")).unwrap(), before);
}

#[test]
fn bad_names_and_taken_packages_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    copy_workspace(&ws);
    let manifest = fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    let list = fs::read_to_string(ws.join("src/local/consumers.rs")).unwrap();

    let cases = [
        ("Demo", "invalid consumer name \"Demo\""),
        ("demo_sink", "invalid consumer name \"demo_sink\""),
        ("9lives", "must start with a letter"),
        // `tally-schema` is a workspace package already; consumers/schema does not exist.
        ("schema", "a package tally-schema exists already"),
        // consumers/archive exists.
        ("archive", "exists already: not overwriting"),
    ];
    for (name, expected) in cases {
        let existed = ws.join("consumers").join(name).exists();
        let out = tally(&ws, &["new", "consumer", name]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert_eq!(ws.join("consumers").join(name).exists(), existed, "{name}");
    }
    let out = tally(&ws, &["new", "consumer", "ok", "--dir", "../elsewhere"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("inside the workspace"));

    let outside = tmp.path().join("not-a-workspace");
    fs::create_dir_all(&outside).unwrap();
    let out = tally(&outside, &["new", "consumer", "ok"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no Cargo workspace"));

    assert_eq!(fs::read_to_string(ws.join("Cargo.toml")).unwrap(), manifest);
    assert_eq!(
        fs::read_to_string(ws.join("src/local/consumers.rs")).unwrap(),
        list
    );
}
