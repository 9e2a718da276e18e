//! The site's CloudFront Function, run in Node.js (CloudFront Functions' runtime is JavaScript):
//! `/dir/` is rewritten to its index document, `/dir` redirected with its query string, a path
//! with an extension left alone. Skipped, saying so, where no `node` is installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn the_index_rewrite_serves_directories_and_redirects_bare_ones() {
    let dir = std::path::PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let node = std::env::var("TALLY_NODE").unwrap_or_else(|_| "node".into());
    let out = match Command::new(&node)
        .arg(dir.join("tests/index_function.js"))
        .arg(dir.join("src/site/index.js"))
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            eprintln!("skipped: cannot run {node} ({e}); set TALLY_NODE or install Node.js");
            return;
        }
    };
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}
