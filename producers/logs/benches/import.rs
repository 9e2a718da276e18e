//! Import throughput: CloudFront log lines read and mapped to page-view events, per second.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tally_logs::{ImportConfig, Importer, LogReader, Outcome};

const LEGACY: &str = include_str!("../fixtures/example-cloudfront-log-legacy.log");
const LINES: usize = 10_000;

/// A log of `LINES` records: the fixture's page views, each with a distinct request id.
fn log() -> String {
    let mut header = String::new();
    let mut records = Vec::new();
    for line in LEGACY.lines() {
        if line.starts_with('#') {
            header.push_str(line);
            header.push('\n');
        } else if line.split('\t').count() == 33 && line.contains("\t200\t") {
            records.push(line.to_owned());
        }
    }
    let mut out = header;
    for i in 0..LINES {
        let line = &records[i % records.len()];
        // Same length, distinct id: the request id's first characters become the counter.
        let fields: Vec<&str> = line.split('\t').collect();
        let id = format!("{i:08}{}", &fields[14][8..]);
        let mut fields: Vec<String> = fields.iter().map(|s| (*s).to_owned()).collect();
        fields[14] = id;
        out.push_str(&fields.join("\t"));
        out.push('\n');
    }
    out
}

fn bench(c: &mut Criterion) {
    let text = log();
    let now = Utc::now();
    let mut group = c.benchmark_group("import");
    group.sample_size(10);
    group.throughput(Throughput::Elements(LINES as u64));
    group.bench_function("read and map 10k log lines", |b| {
        b.iter(|| {
            let mut importer = Importer::new(ImportConfig::new(None));
            let mut views = 0usize;
            for line in LogReader::new(text.as_bytes()) {
                if let Outcome::PageView(e) = importer.map(&line.unwrap(), now) {
                    views += 1;
                    black_box(serde_json::to_vec(&e).unwrap());
                }
            }
            views
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
