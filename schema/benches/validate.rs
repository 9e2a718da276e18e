//! Validation throughput: `cargo bench -p tally-schema --bench validate`.
//!
//! Criterion reports elements/s: page-view records validated per second on one core.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fs;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use tally_schema::validate::PageViewValidator;

fn examples() -> Vec<Value> {
    let dir =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("page-view/examples/valid");
    let mut paths: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

fn bench(c: &mut Criterion) {
    let validator = PageViewValidator::new().unwrap();
    let records = examples();
    let details: Vec<Value> = records
        .iter()
        .filter(|r| r.get("detail").is_none())
        .cloned()
        .collect();
    let envelopes: Vec<Value> = records
        .iter()
        .filter(|r| r.get("detail").is_some())
        .cloned()
        .collect();
    let lines: String = details
        .iter()
        .map(|d| d.to_string() + "\n")
        .collect::<String>()
        .repeat(100);

    let mut group = c.benchmark_group("validate");
    group.throughput(Throughput::Elements(details.len() as u64));
    group.bench_function("detail/is_valid", |b| {
        b.iter(|| details.iter().filter(|d| validator.is_valid(d)).count())
    });
    group.bench_function("detail/validate", |b| {
        b.iter(|| {
            details
                .iter()
                .map(|d| validator.validate(d).len())
                .sum::<usize>()
        })
    });
    group.throughput(Throughput::Elements(envelopes.len() as u64));
    group.bench_function("envelope/is_valid", |b| {
        b.iter(|| envelopes.iter().filter(|e| validator.is_valid(e)).count())
    });
    group.throughput(Throughput::Elements(details.len() as u64 * 100));
    group.bench_function("ndjson/parse_and_validate", |b| {
        b.iter(|| validator.validate_document(&lines).errors.len())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
