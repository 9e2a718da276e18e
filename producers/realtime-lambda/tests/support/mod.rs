//! Fakes of the handler's clients and the fixtures, shared by the tests and the bench.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use aws_lambda_events::event::kinesis::KinesisEvent;
use tally_realtime_lambda::{CallError, Enrichment, FailureSink, RealtimeConfig, RejectedRecord};

/// The fixture `example-kinesis-realtime-logs-<variant>.json`, as text.
pub fn fixture_text(variant: &str) -> String {
    let path =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join(format!(
                "fixtures/example-kinesis-realtime-logs-{variant}.json"
            ));
    std::fs::read_to_string(path).unwrap()
}

/// The fixture, parsed.
pub fn fixture(variant: &str) -> KinesisEvent {
    serde_json::from_str(&fixture_text(variant)).unwrap()
}

/// The field list the fixtures were written with.
pub fn fields() -> String {
    std::fs::read_to_string(
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("fixtures/realtime-fields.txt"),
    )
    .unwrap()
    .trim()
    .to_owned()
}

/// The handler's configuration for the fixtures, with `extra` variables.
pub fn config(extra: &[(&str, &str)]) -> RealtimeConfig {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("TALLY_REALTIME_FIELDS".into(), fields()),
        (
            "TALLY_STATE_MACHINE_ARN".into(),
            "arn:aws:states:us-east-1:123456789012:stateMachine:enrich".into(),
        ),
        (
            "TALLY_FAILURE_QUEUE_URL".into(),
            "https://sqs.us-east-1.amazonaws.com/123456789012/failures".into(),
        ),
    ]);
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    RealtimeConfig::from_vars(|name| vars.get(name).cloned()).unwrap()
}

/// Records what it is given; fails calls whose input contains `fail_on`.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    pub started: Arc<Mutex<Vec<String>>>,
    pub rejected: Arc<Mutex<Vec<RejectedRecord>>>,
    pub fail_on: Option<String>,
}

impl Enrichment for Recorder {
    async fn start(&self, _name: String, input: String) -> Result<(), CallError> {
        if self.fail_on.as_deref().is_some_and(|f| input.contains(f)) {
            return Err(CallError("throttled".into()));
        }
        self.started.lock().unwrap().push(input);
        Ok(())
    }
}

impl FailureSink<RejectedRecord> for Recorder {
    async fn reject(&self, record: &RejectedRecord) -> Result<(), CallError> {
        if self
            .fail_on
            .as_deref()
            .is_some_and(|f| record.reason.contains(f))
        {
            return Err(CallError("queue unreachable".into()));
        }
        self.rejected.lock().unwrap().push(record.clone());
        Ok(())
    }
}
