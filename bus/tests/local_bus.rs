//! Behaviour of the local bus: routing, retries, dead letters, isolation of
//! slow targets, backpressure and draining shutdown. Ordering is checked
//! with channels, not wall-clock thresholds.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tally_bus::Pattern;
use tally_bus::local::{
    BusConfig, BusError, DeadLetter, DeadLetterCondition, DeadLetterRecord, DeliveryError,
    InputConfig, InputTransformer, JsonJournal, LocalBus, RetryPolicy, Rule, Target, TargetInput,
    read_dead_letters,
};

/// Long enough that only a broken implementation ever waits this long.
const PATIENCE: Duration = Duration::from_secs(10);

fn config() -> BusConfig {
    BusConfig::new("tally", "123456789012", "us-east-1")
}

fn pattern(json: &str) -> Pattern {
    Pattern::parse(json).unwrap()
}

fn fast_retries(retries: u32) -> RetryPolicy {
    RetryPolicy::new(retries, 60)
        .unwrap()
        .with_backoff(Duration::from_millis(1), 2.0, Duration::from_millis(4))
        .unwrap()
}

/// A sink that forwards every input to a channel.
fn channel_sink() -> (
    impl Fn(&TargetInput) -> Result<(), DeliveryError>,
    Receiver<TargetInput>,
) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let sink = move |input: &TargetInput| {
        tx.lock().unwrap().send(input.clone()).ok();
        Ok(())
    };
    (sink, rx)
}

fn event(source: &str, n: u64) -> Value {
    json!({"version": "0", "id": format!("id-{n}"), "detail-type": "page view", "source": source,
           "account": "123456789012", "time": "2026-11-29T06:40:19Z", "region": "us-east-1",
           "resources": [], "detail": {"n": n, "path": "/blog/x"}})
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tally-bus-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn routes_to_matching_targets_only() {
    let (a, a_rx) = channel_sink();
    let (b, b_rx) = channel_sink();
    let (c, c_rx) = channel_sink();
    let bus = LocalBus::builder(config())
        .rule(
            Rule::new(
                "blog",
                pattern(r#"{"detail": {"path": [{"prefix": "/blog/"}]}}"#),
            )
            .target(Target::new("a", a))
            .target(Target::new("b", b).input(InputConfig::path("$.detail.n").unwrap())),
        )
        .rule(Rule::new("other", pattern(r#"{"source": ["other"]}"#)).target(Target::new("c", c)))
        .build()
        .unwrap();

    let receipt = bus.put(event("tally", 1)).unwrap();
    assert_eq!((receipt.rules, receipt.targets), (1, 2));
    assert_eq!(receipt.event_id.as_deref(), Some("id-1"));
    let receipt = bus.put(json!({"source": "nobody"})).unwrap();
    assert_eq!((receipt.rules, receipt.targets), (0, 0));
    assert_eq!(bus.put(json!([1])), Err(BusError::NotAnObject));
    bus.shutdown();

    assert_eq!(
        a_rx.try_iter().collect::<Vec<_>>(),
        [TargetInput::Json(event("tally", 1))]
    );
    assert_eq!(
        b_rx.try_iter().collect::<Vec<_>>(),
        [TargetInput::Json(json!(1))]
    );
    assert_eq!(c_rx.try_iter().count(), 0);
    assert_eq!(bus.target_stats("blog", "a").unwrap().delivered, 1);
    assert_eq!(bus.target_stats("other", "c").unwrap().accepted, 0);
}

#[test]
fn transformer_gets_rule_name_and_arn() {
    let (sink, rx) = channel_sink();
    let spec = InputTransformer {
        input_paths_map: [("n".to_owned(), "$.detail.n".to_owned())].into(),
        input_template: r#"{"n": <n>, "rule": <aws.events.rule-name>, "arn": <aws.events.rule-arn>, "at": <aws.events.event.ingestion-time>}"#.to_owned(),
    };
    let bus = LocalBus::builder(config())
        .rule(
            Rule::new("views", pattern(r#"{"source": ["tally"]}"#))
                .target(Target::new("t", sink).input(InputConfig::transformer(&spec).unwrap())),
        )
        .build()
        .unwrap();
    bus.put(event("tally", 7)).unwrap();
    bus.shutdown();
    let got = rx.try_recv().unwrap();
    let got = got.as_json().unwrap();
    assert_eq!(got["n"], 7);
    assert_eq!(got["rule"], "views");
    assert_eq!(
        got["arn"],
        "arn:aws:events:us-east-1:123456789012:rule/tally/views"
    );
    assert_eq!(
        got["at"].as_str().unwrap().len(),
        "2026-11-29T06:40:19Z".len()
    );
}

#[test]
fn retries_then_succeeds() {
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let sink = move |_: &TargetInput| {
        if seen.fetch_add(1, Ordering::SeqCst) < 2 {
            Err(DeliveryError::new("throttled"))
        } else {
            Ok(())
        }
    };
    let dir = TempDir::new("retry-ok");
    let dlq = Arc::new(JsonJournal::open(dir.0.join("dlq")).unwrap());
    let bus = LocalBus::builder(config())
        .rule(
            Rule::new("r", pattern(r#"{"source": ["tally"]}"#)).target(
                Target::new("t", sink)
                    .retry_policy(fast_retries(3))
                    .dead_letter(dlq),
            ),
        )
        .build()
        .unwrap();
    bus.put(event("tally", 1)).unwrap();
    let report = bus.shutdown();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let stats = report[0].stats;
    assert_eq!(
        (stats.delivered, stats.retried, stats.dead_lettered),
        (1, 2, 0)
    );
    assert_eq!(read_dead_letters(dir.0.join("dlq")).unwrap(), []);
}

#[test]
fn exhausted_retries_write_a_dead_letter_line() {
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let sink = move |_: &TargetInput| {
        seen.fetch_add(1, Ordering::SeqCst);
        Err(DeliveryError::new("connection refused"))
    };
    let dir = TempDir::new("retry-dead");
    let path = dir.0.join("dlq");
    let dlq = Arc::new(JsonJournal::open(&path).unwrap());
    let bus = LocalBus::builder(config())
        .rule(
            Rule::new("r", pattern(r#"{"source": ["tally"]}"#)).target(
                Target::new("t", sink)
                    .retry_policy(fast_retries(2))
                    .dead_letter(dlq),
            ),
        )
        .build()
        .unwrap();
    bus.put(event("tally", 1)).unwrap();
    bus.put(event("tally", 2)).unwrap();
    let report = bus.shutdown();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        6,
        "1 attempt + 2 retries per event"
    );
    let stats = report[0].stats;
    assert_eq!(
        (
            stats.accepted,
            stats.delivered,
            stats.retried,
            stats.dead_lettered
        ),
        (2, 0, 4, 2)
    );

    let stored: Vec<Value> = tally_bus::local::read_json(&path).unwrap();
    assert_eq!(stored.len(), 2);
    let first = &stored[0];
    for key in [
        "reason",
        "rule",
        "target",
        "attempts",
        "time",
        "event",
        "condition",
    ] {
        assert!(first.get(key).is_some(), "dead letter lacks {key}: {first}");
    }
    let records = read_dead_letters(&path).unwrap();
    let r = &records[0];
    assert_eq!(r.reason, "connection refused");
    assert_eq!(
        (r.rule.as_str(), r.target.as_str(), r.attempts),
        ("r", "t", 3)
    );
    assert_eq!(r.condition, DeadLetterCondition::MaximumRetryAttempts);
    assert_eq!(
        r.rule_arn,
        "arn:aws:events:us-east-1:123456789012:rule/tally/r"
    );
    assert_eq!(r.event, event("tally", 1));
    assert_eq!(records[1].event["detail"]["n"], 2);
}

#[test]
fn permanent_failures_and_bad_input_skip_retries() {
    let sink = |input: &TargetInput| match input.as_json().and_then(|v| v["kind"].as_str()) {
        Some("gone") => Err(DeliveryError::permanent("target no longer exists")),
        _ => Ok(()),
    };
    let spec = InputTransformer {
        input_paths_map: [("kind".to_owned(), "$.detail.kind".to_owned())].into(),
        input_template: r#"{"kind": "<kind>"}"#.to_owned(),
    };
    let dir = TempDir::new("permanent");
    let path = dir.0.join("dlq");
    let bus = LocalBus::builder(config())
        .rule(
            Rule::new("r", pattern(r#"{"source": ["tally"]}"#)).target(
                Target::new("t", sink)
                    .input(InputConfig::transformer(&spec).unwrap())
                    .retry_policy(fast_retries(5))
                    .dead_letter(Arc::new(JsonJournal::open(&path).unwrap())),
            ),
        )
        .build()
        .unwrap();
    bus.put(json!({"source": "tally", "detail": {"kind": "gone"}}))
        .unwrap();
    bus.put(json!({"source": "tally", "detail": {"kind": "say \"hi\""}}))
        .unwrap();
    bus.put(json!({"source": "tally", "detail": {"kind": "fine"}}))
        .unwrap();
    let stats = bus.shutdown()[0].stats;
    assert_eq!(
        (stats.delivered, stats.retried, stats.dead_lettered),
        (1, 0, 2)
    );
    let records = read_dead_letters(&path).unwrap();
    assert_eq!(records[0].condition, DeadLetterCondition::PermanentFailure);
    assert_eq!(records[0].attempts, 1);
    assert_eq!(records[0].input, Some(json!({"kind": "gone"})));
    assert_eq!(records[1].condition, DeadLetterCondition::InvalidInput);
    assert_eq!(records[1].attempts, 0);
    assert!(
        records[1].reason.contains("not valid json"),
        "{}",
        records[1].reason
    );
}

#[test]
fn a_panicking_sink_is_retried() {
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let sink = move |_: &TargetInput| {
        assert!(seen.fetch_add(1, Ordering::SeqCst) > 0, "first call panics");
        Ok(())
    };
    let bus = LocalBus::builder(config())
        .rule(
            Rule::new("r", pattern(r#"{"source": ["tally"]}"#))
                .target(Target::new("t", sink).retry_policy(fast_retries(1))),
        )
        .build()
        .unwrap();
    bus.put(event("tally", 1)).unwrap();
    let stats = bus.shutdown()[0].stats;
    assert_eq!((stats.delivered, stats.retried), (1, 1));
}

struct BrokenDeadLetter;

impl DeadLetter for BrokenDeadLetter {
    fn write(&self, _: &DeadLetterRecord) -> std::io::Result<()> {
        Err(std::io::Error::other("disk full"))
    }
}

#[test]
fn a_failing_dead_letter_destination_is_counted() {
    let sink = |_: &TargetInput| Err(DeliveryError::new("down"));
    let bus = LocalBus::builder(config())
        .rule(
            Rule::new("r", pattern(r#"{"source": ["tally"]}"#)).target(
                Target::new("t", sink)
                    .retry_policy(fast_retries(0))
                    .dead_letter(Arc::new(BrokenDeadLetter)),
            ),
        )
        .build()
        .unwrap();
    bus.put(event("tally", 1)).unwrap();
    let stats = bus.shutdown()[0].stats;
    assert_eq!(
        (
            stats.dead_lettered,
            stats.dead_letter_failed,
            stats.pending()
        ),
        (0, 1, 0)
    );
}

/// A sink that reports each call on `started`, then waits for `gate`.
fn gated_sink(
    started: Sender<u64>,
    gate: Receiver<()>,
) -> impl Fn(&TargetInput) -> Result<(), DeliveryError> {
    let started = Mutex::new(started);
    let gate = Mutex::new(gate);
    move |input: &TargetInput| {
        let n = input.as_json().unwrap()["detail"]["n"].as_u64().unwrap();
        started.lock().unwrap().send(n).ok();
        gate.lock().unwrap().recv().ok();
        Ok(())
    }
}

#[test]
fn a_slow_target_does_not_block_a_fast_one() {
    let (started_tx, started_rx) = mpsc::channel();
    let (gate_tx, gate_rx) = mpsc::channel();
    let (fast, fast_rx) = channel_sink();
    let bus = LocalBus::builder(config())
        .rule(
            Rule::new("r", pattern(r#"{"source": ["tally"]}"#))
                .target(Target::new("slow", gated_sink(started_tx, gate_rx)))
                .target(Target::new("fast", fast)),
        )
        .build()
        .unwrap();
    for n in 0..20 {
        bus.put(event("tally", n)).unwrap();
    }
    // The slow target is stuck in its first delivery...
    assert_eq!(started_rx.recv_timeout(PATIENCE).unwrap(), 0);
    // ...while the fast one receives all twenty, in order.
    for n in 0..20 {
        let got = fast_rx.recv_timeout(PATIENCE).unwrap();
        assert_eq!(got.as_json().unwrap()["detail"]["n"], n);
    }
    assert_eq!(bus.target_stats("r", "slow").unwrap().delivered, 0);
    for _ in 0..20 {
        gate_tx.send(()).unwrap();
    }
    let report = bus.shutdown();
    assert!(report.iter().all(|t| t.stats.delivered == 20), "{report:?}");
}

#[test]
fn a_full_queue_blocks_put_until_there_is_room() {
    let (started_tx, started_rx) = mpsc::channel();
    let (gate_tx, gate_rx) = mpsc::channel();
    let bus = Arc::new(
        LocalBus::builder(config())
            .rule(
                Rule::new("r", pattern(r#"{"source": ["tally"]}"#))
                    .target(Target::new("t", gated_sink(started_tx, gate_rx)).queue_capacity(1)),
            )
            .build()
            .unwrap(),
    );
    bus.put(event("tally", 0)).unwrap();
    assert_eq!(started_rx.recv_timeout(PATIENCE).unwrap(), 0); // the worker holds event 0
    bus.put(event("tally", 1)).unwrap(); // fills the queue

    let (done_tx, done_rx) = mpsc::channel();
    let putter = {
        let bus = Arc::clone(&bus);
        std::thread::spawn(move || {
            bus.put(event("tally", 2)).unwrap();
            done_tx.send(()).unwrap();
        })
    };
    // The third put waits: nothing has been taken from the queue.
    assert_eq!(
        done_rx.recv_timeout(Duration::from_millis(200)),
        Err(RecvTimeoutError::Timeout)
    );
    gate_tx.send(()).unwrap(); // event 0 delivered; the worker takes event 1
    done_rx.recv_timeout(PATIENCE).unwrap();
    putter.join().unwrap();
    assert_eq!(started_rx.recv_timeout(PATIENCE).unwrap(), 1);
    gate_tx.send(()).unwrap();
    gate_tx.send(()).unwrap();
    let stats = bus.shutdown()[0].stats;
    assert_eq!((stats.accepted, stats.delivered), (3, 3));
}

#[test]
fn shutdown_drains_everything_accepted() {
    let flaky_calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&flaky_calls);
    let flaky = move |_: &TargetInput| {
        if seen.fetch_add(1, Ordering::SeqCst).is_multiple_of(3) {
            Err(DeliveryError::new("flaky"))
        } else {
            Ok(())
        }
    };
    let dead = |_: &TargetInput| Err(DeliveryError::new("always down"));
    let (ok, ok_rx) = channel_sink();
    let dir = TempDir::new("drain");
    let dlq = Arc::new(JsonJournal::open(dir.0.join("dlq")).unwrap());
    let bus = Arc::new(
        LocalBus::builder(config())
            .rule(
                Rule::new("all", pattern(r#"{"source": ["tally"]}"#))
                    .target(Target::new("ok", ok).queue_capacity(4))
                    .target(
                        Target::new("flaky", flaky)
                            .retry_policy(fast_retries(5))
                            .dead_letter(dlq.clone())
                            .queue_capacity(4),
                    )
                    .target(
                        Target::new("dead", dead)
                            .retry_policy(fast_retries(1))
                            .dead_letter(dlq.clone())
                            .queue_capacity(4),
                    ),
            )
            .build()
            .unwrap(),
    );
    let producers: Vec<_> = (0..4u64)
        .map(|p| {
            let bus = Arc::clone(&bus);
            std::thread::spawn(move || {
                for i in 0..25 {
                    bus.put(event("tally", p * 100 + i)).unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let report = bus.shutdown();
    assert_eq!(bus.put(event("tally", 999)), Err(BusError::ShutDown));
    for t in &report {
        let s = t.stats;
        assert_eq!(s.accepted, 100, "{t:?}");
        assert_eq!(s.accepted, s.delivered + s.dead_lettered, "{t:?}");
        assert_eq!(s.pending(), 0);
    }
    assert_eq!(ok_rx.try_iter().count(), 100);
    let dead_stats = bus.target_stats("all", "dead").unwrap();
    assert_eq!(dead_stats.dead_lettered, 100);
    let lines = read_dead_letters(dlq.dir()).unwrap();
    assert_eq!(
        lines.len() as u64,
        100 + bus.target_stats("all", "flaky").unwrap().dead_lettered
    );
    // Shutting down twice is harmless.
    assert_eq!(bus.shutdown(), report);
}

#[test]
fn shutdown_within_dead_letters_what_it_cannot_deliver() {
    let (tried_tx, tried_rx) = mpsc::channel();
    let tried_tx = Mutex::new(tried_tx);
    let failing = move |_: &TargetInput| {
        tried_tx.lock().unwrap().send(()).ok();
        Err(DeliveryError::new("down"))
    };
    let slow_retries = RetryPolicy::new(185, 86_400)
        .unwrap()
        .with_backoff(Duration::from_secs(3600), 2.0, Duration::from_secs(3600))
        .unwrap();
    let dir = TempDir::new("grace");
    let path = dir.0.join("dlq");
    let bus = LocalBus::builder(config())
        .rule(
            Rule::new("r", pattern(r#"{"source": ["tally"]}"#)).target(
                // One at a time: a batch is tried together, so "queued, never tried" needs
                // batches of one (batched_targets_are_abandoned_together covers batches).
                Target::new("t", failing)
                    .max_batch(1)
                    .retry_policy(slow_retries)
                    .dead_letter(Arc::new(JsonJournal::open(&path).unwrap())),
            ),
        )
        .build()
        .unwrap();
    for n in 0..5 {
        bus.put(event("tally", n)).unwrap();
    }
    tried_rx.recv_timeout(PATIENCE).unwrap(); // the first event has been tried
    let stats = bus.shutdown_within(Duration::from_millis(50))[0].stats;
    assert_eq!(
        (stats.accepted, stats.dead_lettered, stats.delivered),
        (5, 5, 0)
    );
    let records = read_dead_letters(&path).unwrap();
    assert!(
        records
            .iter()
            .all(|r| r.condition == DeadLetterCondition::Shutdown)
    );
    // Each was tried once while the others waited for their retries: nobody waits behind one.
    assert!(records.iter().all(|r| r.attempts == 1), "{records:?}");
}

#[test]
fn dropping_the_bus_drains_it() {
    let (sink, rx) = channel_sink();
    {
        let bus = LocalBus::builder(config())
            .rule(
                Rule::new("r", pattern(r#"{"source": ["tally"]}"#)).target(Target::new("t", sink)),
            )
            .build()
            .unwrap();
        for n in 0..10 {
            bus.put(event("tally", n)).unwrap();
        }
    }
    assert_eq!(rx.try_iter().count(), 10);
}

#[test]
fn configuration_is_validated() {
    let ok = |_: &TargetInput| Ok(());
    let build = |rule: Rule| {
        LocalBus::builder(config())
            .rule(rule)
            .build()
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let p = || pattern(r#"{"source": ["tally"]}"#);
    assert!(build(Rule::new("bad name", p())).contains("invalid rule name"));
    assert!(build(Rule::new("r", p()).target(Target::new("", ok))).contains("invalid target id"));
    assert!(
        build(
            Rule::new("r", p())
                .target(Target::new("t", ok))
                .target(Target::new("t", ok))
        )
        .contains("duplicate target id")
    );
    let six = (0..6).fold(Rule::new("r", p()), |r, i| {
        r.target(Target::new(format!("t{i}"), ok))
    });
    assert_eq!(
        build(six),
        "rule \"r\" has 6 targets; at most 5 are allowed"
    );
    assert!(
        build(Rule::new("r", p()).target(Target::new("t", ok).queue_capacity(0)))
            .contains("at least 1")
    );
    let dup = LocalBus::builder(config())
        .rule(Rule::new("r", p()))
        .rule(Rule::new("r", p()))
        .build();
    assert!(dup.unwrap_err().to_string().contains("duplicate rule name"));
    let bad_account = LocalBus::builder(BusConfig::new("b", "12", "us-east-1")).build();
    assert!(bad_account.unwrap_err().to_string().contains("12 digits"));
}

/// How a [`BatchSink`] answers a batch.
#[derive(Clone, Copy)]
enum BatchAnswer {
    /// Every input delivered.
    AllOk,
    /// Odd-numbered inputs fail (retryably); one-by-one retries succeed.
    OddFail,
    /// No results at all (a broken sink).
    NoResults,
    /// Every input fails, batched or alone.
    AllFail,
}

/// A sink that overrides `deliver_batch`: it records each batch's event numbers, and blocks
/// its first call until `gate` is released, so a backlog builds up behind it.
struct BatchSink {
    answer: BatchAnswer,
    batches: Mutex<Vec<Vec<u64>>>,
    singles: Mutex<Vec<u64>>,
    started: Mutex<Sender<()>>,
    gate: Mutex<Receiver<()>>,
}

fn n_of(input: &TargetInput) -> u64 {
    input.as_json().unwrap()["detail"]["n"].as_u64().unwrap()
}

impl BatchSink {
    fn new(answer: BatchAnswer) -> (Arc<BatchSink>, Receiver<()>, Sender<()>) {
        let (started_tx, started_rx) = mpsc::channel();
        let (gate_tx, gate_rx) = mpsc::channel();
        let sink = Arc::new(BatchSink {
            answer,
            batches: Mutex::new(Vec::new()),
            singles: Mutex::new(Vec::new()),
            started: Mutex::new(started_tx),
            gate: Mutex::new(gate_rx),
        });
        (sink, started_rx, gate_tx)
    }

    fn wait_for_gate(&self) {
        self.started.lock().unwrap().send(()).ok();
        self.gate.lock().unwrap().recv().ok();
    }
}

impl tally_bus::local::Deliver for BatchSink {
    fn deliver(&self, input: &TargetInput) -> Result<(), DeliveryError> {
        let first =
            self.batches.lock().unwrap().is_empty() && self.singles.lock().unwrap().is_empty();
        self.singles.lock().unwrap().push(n_of(input));
        if first {
            // The gated first event is delivered, whatever the answer, so the backlog after it
            // reaches the batch path.
            self.wait_for_gate();
            return Ok(());
        }
        match self.answer {
            BatchAnswer::AllFail => Err(DeliveryError::new("down")),
            _ => Ok(()),
        }
    }

    fn deliver_batch(&self, inputs: &[TargetInput]) -> Vec<Result<(), DeliveryError>> {
        let ns: Vec<u64> = inputs.iter().map(n_of).collect();
        self.batches.lock().unwrap().push(ns.clone());
        match self.answer {
            BatchAnswer::AllOk => ns.iter().map(|_| Ok(())).collect(),
            BatchAnswer::OddFail => ns
                .iter()
                .map(|n| {
                    if n % 2 == 1 {
                        Err(DeliveryError::new("odd"))
                    } else {
                        Ok(())
                    }
                })
                .collect(),
            BatchAnswer::NoResults => Vec::new(),
            BatchAnswer::AllFail => ns.iter().map(|_| Err(DeliveryError::new("down"))).collect(),
        }
    }
}

/// Puts event 0 (the sink blocks on it), then events `1..=backlog`, then releases the sink.
fn backlog_behind_a_blocked_sink(
    sink: &Arc<BatchSink>,
    started: &Receiver<()>,
    gate: &Sender<()>,
    target: impl FnOnce(Target) -> Target,
    backlog: u64,
) -> LocalBus {
    let shared: Arc<dyn tally_bus::local::Deliver> = Arc::clone(sink) as _;
    let bus = LocalBus::builder(config())
        .rule(
            Rule::new("r", pattern(r#"{"source": ["tally"]}"#))
                .target(target(Target::with_sink("t", shared).max_batch(10))),
        )
        .build()
        .unwrap();
    bus.put(event("tally", 0)).unwrap();
    started.recv_timeout(PATIENCE).unwrap();
    for n in 1..=backlog {
        bus.put(event("tally", n)).unwrap();
    }
    gate.send(()).unwrap();
    bus
}

#[test]
fn a_backlog_is_delivered_in_batches_in_queue_order() {
    let (sink, started, gate) = BatchSink::new(BatchAnswer::AllOk);
    let bus = backlog_behind_a_blocked_sink(&sink, &started, &gate, |t| t, 25);
    let stats = bus.shutdown()[0].stats;
    assert_eq!(
        (stats.accepted, stats.delivered, stats.retried),
        (26, 26, 0)
    );
    assert_eq!(
        *sink.singles.lock().unwrap(),
        vec![0],
        "the first event came alone"
    );
    let batches = sink.batches.lock().unwrap().clone();
    let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
    assert_eq!(
        sizes,
        vec![10, 10, 5],
        "the backlog, in batches of max_batch"
    );
    let order: Vec<u64> = batches.into_iter().flatten().collect();
    assert_eq!(order, (1..=25).collect::<Vec<u64>>());
}

#[test]
fn failed_inputs_of_a_batch_are_retried_alone() {
    let (sink, started, gate) = BatchSink::new(BatchAnswer::OddFail);
    let bus = backlog_behind_a_blocked_sink(
        &sink,
        &started,
        &gate,
        |t| t.retry_policy(fast_retries(3)),
        10,
    );
    let stats = bus.shutdown()[0].stats;
    assert_eq!(
        (stats.delivered, stats.retried, stats.dead_lettered),
        (11, 5, 0)
    );
    assert_eq!(*sink.singles.lock().unwrap(), vec![0, 1, 3, 5, 7, 9]);
}

#[test]
fn a_batch_answered_with_the_wrong_count_is_retried_alone() {
    let (sink, started, gate) = BatchSink::new(BatchAnswer::NoResults);
    let bus = backlog_behind_a_blocked_sink(
        &sink,
        &started,
        &gate,
        |t| t.retry_policy(fast_retries(3)),
        4,
    );
    let stats = bus.shutdown()[0].stats;
    assert_eq!(
        (stats.delivered, stats.retried, stats.dead_lettered),
        (5, 4, 0)
    );
    assert_eq!(*sink.singles.lock().unwrap(), vec![0, 1, 2, 3, 4]);
}

#[test]
fn batched_targets_are_abandoned_together() {
    let (sink, started, gate) = BatchSink::new(BatchAnswer::AllFail);
    let dir = TempDir::new("batch-grace");
    let path = dir.0.join("dlq");
    let slow_retries = RetryPolicy::new(185, 86_400)
        .unwrap()
        .with_backoff(Duration::from_secs(3600), 2.0, Duration::from_secs(3600))
        .unwrap();
    let dlq: Arc<dyn DeadLetter> = Arc::new(JsonJournal::open(&path).unwrap());
    let bus = backlog_behind_a_blocked_sink(
        &sink,
        &started,
        &gate,
        |t| t.retry_policy(slow_retries).dead_letter(dlq),
        5,
    );
    // Wait until the backlog's batch has been tried, then give up on it.
    let deadline = std::time::Instant::now() + PATIENCE;
    while sink.batches.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let stats = bus.shutdown_within(Duration::from_millis(50))[0].stats;
    assert_eq!(
        (stats.accepted, stats.dead_lettered, stats.delivered),
        (6, 5, 1)
    );
    let records = read_dead_letters(&path).unwrap();
    assert_eq!(records.len(), 5);
    assert!(
        records
            .iter()
            .all(|r| r.condition == DeadLetterCondition::Shutdown)
    );
    assert!(
        records.iter().all(|r| r.attempts == 1),
        "each was tried once, in its batch"
    );
}
