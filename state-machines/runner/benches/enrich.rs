//! One local execution of `enrich.asl.json`: `cargo bench -p tally-states --bench enrich`.
//!
//! The putEvents task is answered by a handler that only serialises the entries, so the figure is
//! the runner's own cost (paths, intrinsics, choice, payload templates) per page view.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use tally_states::{Definition, ExecutionContext, RealSleeper, TaskContext, TaskError};

fn bench(c: &mut Criterion) {
    let dir =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("..");
    let text = std::fs::read_to_string(dir.join("enrich.asl.json")).unwrap();
    let subst = BTreeMap::from([("EventBusName".to_owned(), "tally".to_owned())]);
    let def =
        Definition::load(&text, &subst, &|r| r == "arn:aws:states:::events:putEvents").unwrap();
    let input: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("fixtures/example-enrich-input-full.json")).unwrap(),
    )
    .unwrap();
    let exec = ExecutionContext {
        name: "bench".into(),
        execution_arn: "arn:aws:states:us-east-1:000000000000:express:enrich:bench:1".into(),
        state_machine_arn: "arn:aws:states:us-east-1:000000000000:stateMachine:enrich".into(),
        state_machine_name: "enrich".into(),
        start_time: Utc.with_ymd_and_hms(2026, 11, 29, 6, 40, 19).unwrap(),
    };
    let handler = |_: &str, params: Value, _: &TaskContext<'_>| -> Result<Value, TaskError> {
        let n = params["Entries"].to_string().len();
        Ok(json!({"Entries": [{"EventId": n.to_string()}], "FailedEntryCount": 0}))
    };
    let mut group = c.benchmark_group("enrich");
    group.throughput(Throughput::Elements(1));
    group.bench_function("execute/full", |b| {
        b.iter(|| {
            def.execute(input.clone(), &exec, &handler, &RealSleeper)
                .output()
                .is_some()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
