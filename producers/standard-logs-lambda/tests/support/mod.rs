//! Fakes of the handler's clients, the fixtures and the log objects they name.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use aws_lambda_events::event::s3::S3Event;
use tally_standard_logs_lambda::{
    CallError, Enrichment, FailureSink, GetError, Objects, RejectedLine, StandardConfig,
};

/// The fixture `example-s3-object-created-<variant>.json`, as text.
pub fn fixture_text(variant: &str) -> String {
    let path =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join(format!("fixtures/example-s3-object-created-{variant}.json"));
    std::fs::read_to_string(path).unwrap()
}

/// The fixture, parsed.
pub fn fixture(variant: &str) -> S3Event {
    serde_json::from_str(&fixture_text(variant)).unwrap()
}

/// The fixture's object key, decoded.
pub fn key(event: &S3Event) -> String {
    tally_standard_logs_lambda::object_key(event.records[0].s3.object.key.as_deref().unwrap())
        .unwrap()
}

/// The log object each fixture announces: the legacy log gzipped, the v2 JSON log as is.
pub fn object_for(variant: &str) -> Vec<u8> {
    let logs =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../logs/fixtures");
    match variant {
        "standard-log" => {
            let text = std::fs::read(logs.join("example-cloudfront-log-legacy.log")).unwrap();
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(&text).unwrap();
            gz.finish().unwrap()
        }
        "v2-json" => std::fs::read(logs.join("example-cloudfront-log-v2.jsonl")).unwrap(),
        other => panic!("no object for {other}"),
    }
}

/// The handler's configuration, with `extra` variables.
pub fn config(extra: &[(&str, &str)]) -> StandardConfig {
    let mut vars: HashMap<String, String> = HashMap::from([
        (
            "TALLY_STATE_MACHINE_ARN".into(),
            "arn:aws:states:eu-west-1:123456789012:stateMachine:enrich".into(),
        ),
        (
            "TALLY_FAILURE_QUEUE_URL".into(),
            "https://sqs.eu-west-1.amazonaws.com/123456789012/failures".into(),
        ),
    ]);
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    StandardConfig::from_vars(|name| vars.get(name).cloned()).unwrap()
}

/// Serves `objects` by key, records what it is given, fails starts whose input contains
/// `fail_start` and rejections whose reason contains `fail_reject`.
#[derive(Debug, Clone, Default)]
pub struct Fakes {
    pub objects: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    pub started: Arc<Mutex<Vec<(String, String)>>>,
    pub rejected: Arc<Mutex<Vec<RejectedLine>>>,
    pub fail_start: Option<String>,
    pub fail_reject: Option<String>,
    pub fail_get: bool,
}

impl Fakes {
    /// Fakes holding each variant's object under its fixture's key.
    pub fn with(variants: &[&str]) -> Self {
        let fakes = Fakes::default();
        for v in variants {
            fakes
                .objects
                .lock()
                .unwrap()
                .insert(key(&fixture(v)), object_for(v));
        }
        fakes
    }
}

impl Objects for Fakes {
    async fn get(&self, _bucket: &str, key: &str) -> Result<Vec<u8>, GetError> {
        if self.fail_get {
            return Err(GetError::Failed(CallError("slow down".into())));
        }
        self.objects
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .ok_or_else(|| GetError::Permanent("the object is gone".into()))
    }
}

impl Enrichment for Fakes {
    async fn start(&self, name: String, input: String) -> Result<(), CallError> {
        if self
            .fail_start
            .as_deref()
            .is_some_and(|f| input.contains(f))
        {
            return Err(CallError("throttled".into()));
        }
        self.started.lock().unwrap().push((name, input));
        Ok(())
    }
}

impl FailureSink<RejectedLine> for Fakes {
    async fn reject(&self, record: &RejectedLine) -> Result<(), CallError> {
        if self
            .fail_reject
            .as_deref()
            .is_some_and(|f| record.reason.contains(f))
        {
            return Err(CallError("queue unreachable".into()));
        }
        self.rejected.lock().unwrap().push(record.clone());
        Ok(())
    }
}
