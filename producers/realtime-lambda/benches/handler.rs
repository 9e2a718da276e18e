//! Records per second through the handler: a batch of real-time records (page views, assets,
//! 404s, redirects, bots) parsed, decided and handed to a client that returns at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;

use aws_lambda_events::event::kinesis::KinesisEvent;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use support::{Recorder, config, fixture};
use tally_realtime_lambda::handle;

/// A batch of `n` records, the fixture's ten repeated with distinct request ids.
fn batch(n: usize) -> KinesisEvent {
    let one = fixture("page-views");
    let mut event = one.clone();
    event.records.clear();
    for i in 0..n {
        let mut record = one.records[i % one.records.len()].clone();
        let text = String::from_utf8(record.kinesis.data.0.clone()).unwrap();
        record.kinesis.data.0 = text.replace("EXAMPLE", &format!("EX{i:05}")).into_bytes();
        record.kinesis.sequence_number = format!("{i:020}");
        event.records.push(record);
    }
    event
}

fn handler(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = config(&[]);
    let mut group = c.benchmark_group("realtime_handler");
    for n in [100, 1000] {
        let event = batch(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("records/{n}"), |b| {
            b.iter(|| {
                let fakes = Recorder::default();
                let (response, summary) =
                    runtime.block_on(handle(&config, &fakes, &fakes, black_box(&event)));
                assert!(response.batch_item_failures.is_empty());
                black_box(summary)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, handler);
criterion_main!(benches);
