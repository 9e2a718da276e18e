//! The data directory is never served and has one writer at a time: `tally serve` refuses a data
//! directory inside the site, and a second writing command on a data directory in use fails
//! with the holder's pid, while read-only commands work beside it.

mod serve_support;

use std::process::Command;

use serve_support::Server;

fn tally(args: &[&str], cwd: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run tally")
}

#[test]
fn a_data_directory_inside_the_site_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = dir.path().join("public");
    std::fs::create_dir_all(site.join("blog")).expect("site");
    std::fs::write(site.join("index.html"), "<h1>hi</h1>\n").expect("index");
    // `tally serve .` in the site: the default --data tally-data would be ./tally-data.
    let out = tally(&["serve", ".", "--addr", "127.0.0.1:0"], &site);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is inside the site"), "{stderr}");
    assert!(
        stderr.contains("give --data a directory outside the site"),
        "{stderr}"
    );
    assert!(
        !site.join("tally-data").exists(),
        "nothing was created in the site"
    );
    // Spelled another way, through `..` and a directory that does not exist yet.
    let out = tally(
        &[
            "serve",
            "public",
            "--data",
            "public/blog/../stats/new",
            "--addr",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is inside the site"));
    // Beside the site is fine (and the site inside the data directory, as the example is).
    let server = Server::start(&dir.path().join("stats"), &[site.to_str().expect("utf-8")]);
    server.assert_alive();
    assert!(server.stop().success());
}

#[test]
fn a_second_writer_is_refused_with_the_holders_pid_and_readers_work_beside_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // Something archived, for the readers to read.
    let server = Server::start(&data, &[]);
    server.assert_alive();
    assert!(server.stop().success());
    let server = Server::start(&data, &[]);
    let pid = server.child.id();
    let data_arg = data.to_str().expect("utf-8");
    for args in [
        vec!["serve", "--data", data_arg, "--addr", "127.0.0.1:0"],
        vec![
            "archive",
            "compact",
            "--day",
            "2020-01-01",
            "--data",
            data_arg,
        ],
        vec![
            "replay",
            "--data",
            data_arg,
            "--from",
            "2020-01-01",
            "--to",
            "2020-01-01",
            "--consumer",
            "counters",
        ],
        vec!["prune", "--data", data_arg],
    ] {
        let out = tally(&args, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("is in use by another tally command (pid {pid})")),
            "{args:?}: {stderr}"
        );
    }
    for args in [
        vec!["query", "--data", data_arg, "--named", "top_pages"],
        vec!["failed", "list", "--data", data_arg],
    ] {
        let out = tally(&args, dir.path());
        assert!(
            out.status.success(),
            "{args:?} beside a running server: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(server.stop().success());
    // Released on exit: the next writer runs.
    let server = Server::start(&data, &[]);
    assert!(server.stop().success());
    let out = tally(
        &["prune", "--data", data_arg, "--retention-days", "30"],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        report["archive_objects"], 0,
        "nothing is 30 days old: {report}"
    );
    let zero = tally(
        &["prune", "--data", data_arg, "--retention-days", "0"],
        dir.path(),
    );
    assert_eq!(
        zero.status.code(),
        Some(2),
        "a retention of 0 days is refused"
    );
}
