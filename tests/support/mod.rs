//! Shared helpers for the tests that cross the AWS boundary: clients for the moto server that
//! `./tests/run` starts.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sfn::config::Credentials;

/// The moto server's endpoint; a test that needs it fails, saying how to get one.
pub fn moto_endpoint() -> String {
    std::env::var("TALLY_MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "this test needs the moto server: run it through ./tests/run, which installs and \
             starts moto and sets TALLY_MOTO_ENDPOINT"
        )
    })
}

/// SDK configuration for moto: its endpoint, a fixed region and dummy credentials.
pub async fn moto_config() -> SdkConfig {
    moto_config_in("us-east-1").await
}

/// SDK configuration for moto in one region.
pub async fn moto_config_in(region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(moto_endpoint())
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

/// A name no other test uses, so tests can share one moto server.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
