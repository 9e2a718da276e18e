//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use tally_edge::EdgeConfig;

/// The crate's directory.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
}

/// Every fixture, as (variant, path), sorted by variant.
pub fn fixtures() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(crate_dir().join("fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_owned();
            let stem = name.strip_suffix(".json")?;
            // Origin-request fixtures are named by their variant; origin-response ones
            // `response-<variant>`.
            let variant = match stem.strip_prefix("example-cloudfront-origin-request-") {
                Some(v) => v.to_owned(),
                None => format!(
                    "response-{}",
                    stem.strip_prefix("example-cloudfront-origin-response-")?
                ),
            };
            Some((variant, p))
        })
        .collect();
    out.sort();
    out
}

/// The expected-decision file of a variant.
pub fn expected_path(variant: &str) -> PathBuf {
    crate_dir()
        .join("fixtures/expected")
        .join(format!("{variant}.json"))
}

/// The configuration every fixture is decided with.
pub fn config() -> EdgeConfig {
    let mut c = EdgeConfig::new("www.example.com");
    c.site_aliases = vec!["example.com".into()];
    c
}

/// The edge time every fixture is decided at.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 6, 40, 19).unwrap() + chrono::Duration::milliseconds(123)
}

/// When enrichment "received" it.
pub fn received_at() -> DateTime<Utc> {
    now() + chrono::Duration::milliseconds(57)
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
