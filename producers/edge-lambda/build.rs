//! Bakes the edge configuration into the module: Lambda@Edge has no environment variables.
//!
//! `TALLY_EDGE_CONFIG` names the JSON configuration file (`tally edge package --config` sets it);
//! without it, `edge.example.json` is used, so `cargo build --workspace` works. The file is
//! validated here, so a bad configuration fails the build, not the function.

use std::path::PathBuf;
use std::{env, fs, process};

fn main() {
    println!("cargo::rerun-if-env-changed=TALLY_EDGE_CONFIG");
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let path = match env::var_os("TALLY_EDGE_CONFIG") {
        Some(p) if !p.is_empty() => manifest_dir.join(p),
        _ => manifest_dir.join("edge.example.json"),
    };
    println!("cargo::rerun-if-changed={}", path.display());
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => fail(&format!("cannot read edge config {}: {e}", path.display())),
    };
    if let Err(e) = tally_edge::EdgeConfig::from_json(&text) {
        fail(&format!("edge config {} is invalid: {e}", path.display()));
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default()).join("edge-config.json");
    if let Err(e) = fs::write(&out, text) {
        fail(&format!("cannot write {}: {e}", out.display()));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    process::exit(1)
}
