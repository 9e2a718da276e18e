//! A failing or full target holds up nobody: each event is retried on its own schedule, a full
//! queue spills to disk instead of blocking the put, and a put's ticket is released only when
//! every delivery of its event has ended.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tally_bus::Pattern;
use tally_bus::local::{
    BusConfig, DeliveryError, LocalBus, RetryPolicy, Rule, Target, TargetInput,
};

const PATIENCE: Duration = Duration::from_secs(10);

fn config() -> BusConfig {
    BusConfig::new("tally", "123456789012", "us-east-1")
}

fn all() -> Pattern {
    Pattern::parse(r#"{"source": ["tally"]}"#).unwrap()
}

fn event(n: u64) -> Value {
    json!({"version": "0", "id": format!("id-{n}"), "detail-type": "page view", "source": "tally",
           "account": "123456789012", "time": "2026-11-29T06:40:19Z", "region": "us-east-1",
           "resources": [], "detail": {"n": n}})
}

fn n_of(input: &TargetInput) -> u64 {
    input.as_json().unwrap()["detail"]["n"].as_u64().unwrap()
}

/// The events a sink saw, by `detail.n`.
type Seen = Arc<Mutex<Vec<u64>>>;

fn recorder() -> (Seen, impl Fn(&TargetInput) -> Result<(), DeliveryError>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    (seen, move |i: &TargetInput| {
        s.lock().unwrap().push(n_of(i));
        Ok(())
    })
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "waited too long for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_failing_event_waits_for_its_retry_without_holding_the_events_behind_it() {
    // Event 0 fails until `healed`; the retry delay (200 ms) is far longer than delivering the
    // other nineteen takes, so with inline retries they would all wait behind it.
    let healed = Arc::new(AtomicBool::new(false));
    let (seen, record) = recorder();
    let h = Arc::clone(&healed);
    let sink = move |i: &TargetInput| {
        if n_of(i) == 0 && !h.load(Ordering::SeqCst) {
            return Err(DeliveryError::new("down for event 0"));
        }
        record(i)
    };
    let retry = RetryPolicy::new(100, 60)
        .unwrap()
        .with_backoff(Duration::from_millis(200), 1.0, Duration::from_millis(200))
        .unwrap();
    let bus = LocalBus::builder(config())
        .rule(Rule::new("r", all()).target(Target::new("t", sink).retry_policy(retry).max_batch(1)))
        .build()
        .unwrap();
    for n in 0..20 {
        bus.put(event(n)).unwrap();
    }
    wait_until("events 1 to 19", || seen.lock().unwrap().len() == 19);
    assert!(!seen.lock().unwrap().contains(&0));
    healed.store(true, Ordering::SeqCst);
    wait_until("event 0 after its retry", || {
        seen.lock().unwrap().len() == 20
    });
    let stats = bus.shutdown()[0].stats;
    assert_eq!((stats.delivered, stats.dead_lettered), (20, 0));
    assert!(stats.retried >= 1);
}

/// A sink that reports each input it starts on, then waits for a permit.
fn gated() -> (
    Receiver<u64>,
    Sender<()>,
    impl Fn(&TargetInput) -> Result<(), DeliveryError>,
) {
    let (started_tx, started_rx) = mpsc::channel();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let (started_tx, gate_rx) = (Mutex::new(started_tx), Mutex::new(gate_rx));
    let sink = move |i: &TargetInput| {
        started_tx.lock().unwrap().send(n_of(i)).ok();
        gate_rx.lock().unwrap().recv_timeout(PATIENCE).ok();
        Ok(())
    };
    (started_rx, gate_tx, sink)
}

#[test]
fn a_full_queue_spills_to_disk_and_never_blocks_the_put() {
    let dir = tempfile::tempdir().unwrap();
    let (started, gate, slow) = gated();
    let (fast_seen, fast) = recorder();
    let bus = Arc::new(
        LocalBus::builder(config())
            .rule(
                Rule::new("r", all())
                    .target(
                        Target::new("slow", slow)
                            .queue_capacity(2)
                            .max_batch(1)
                            .spill_to(dir.path().join("slow")),
                    )
                    .target(Target::new("fast", fast)),
            )
            .build()
            .unwrap(),
    );
    bus.put(event(0)).unwrap();
    assert_eq!(
        started.recv_timeout(PATIENCE).unwrap(),
        0,
        "the slow worker holds event 0"
    );
    // Without the spill the fourth put would wait until the gate opens, and this thread opens it.
    for n in 1..50 {
        bus.put(event(n)).unwrap();
    }
    wait_until("the fast target", || fast_seen.lock().unwrap().len() == 50);
    let stats = bus.target_stats("r", "slow").unwrap();
    assert_eq!(
        stats.spilled, 47,
        "2 queued, 47 in the overflow journal: {stats:?}"
    );
    for _ in 0..50 {
        gate.send(()).unwrap();
    }
    let stats = bus.shutdown();
    let slow = stats.iter().find(|t| t.target == "slow").unwrap().stats;
    assert_eq!((slow.accepted, slow.delivered), (50, 50));
    let mut order: Vec<u64> = started.try_iter().collect();
    order.insert(0, 0);
    order.sort_unstable();
    order.dedup();
    assert_eq!(
        order,
        (0..50).collect::<Vec<_>>(),
        "each spilled event delivered once"
    );
}

struct Ticket(Sender<()>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.send(()).ok();
    }
}

#[test]
fn a_ticket_is_released_when_the_last_delivery_of_its_event_ends() {
    let (started, gate, slow) = gated();
    let calls = Arc::new(AtomicU32::new(0));
    let c = Arc::clone(&calls);
    let fast = move |_: &TargetInput| {
        c.fetch_add(1, Ordering::SeqCst);
        Ok(())
    };
    let bus = LocalBus::builder(config())
        .rule(
            Rule::new("r", all())
                .target(Target::new("slow", slow))
                .target(Target::new("fast", fast)),
        )
        .build()
        .unwrap();
    let (released_tx, released) = mpsc::channel();
    let ticket: tally_bus::local::Ticket = Arc::new(Ticket(released_tx));
    bus.put_with_ticket(event(7), Some(ticket)).unwrap();
    assert_eq!(started.recv_timeout(PATIENCE).unwrap(), 7);
    wait_until("the fast delivery", || calls.load(Ordering::SeqCst) == 1);
    assert!(
        released.recv_timeout(Duration::from_millis(100)).is_err(),
        "released while the slow delivery is under way"
    );
    gate.send(()).unwrap();
    released.recv_timeout(PATIENCE).unwrap();
    bus.shutdown();
}

#[test]
fn a_consumer_failing_for_a_while_holds_up_no_other_and_gets_everything_once_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let down = Arc::new(AtomicBool::new(true));
    let (failing_seen, record) = recorder();
    let d = Arc::clone(&down);
    let failing = move |i: &TargetInput| {
        if d.load(Ordering::SeqCst) {
            return Err(DeliveryError::new("database unavailable"));
        }
        record(i)
    };
    let (others_seen, others) = recorder();
    let retry = RetryPolicy::new(185, 86_400)
        .unwrap()
        .with_backoff(Duration::from_millis(20), 2.0, Duration::from_millis(100))
        .unwrap();
    let bus = LocalBus::builder(config())
        .rule(
            Rule::new("r", all())
                .target(
                    Target::new("failing", failing)
                        .retry_policy(retry)
                        .queue_capacity(8)
                        .spill_to(dir.path().join("failing")),
                )
                .target(Target::new("others", others)),
        )
        .build()
        .unwrap();
    for n in 0..500 {
        bus.put(event(n)).unwrap(); // never waits on the failing target
    }
    wait_until("the healthy consumer", || {
        others_seen.lock().unwrap().len() == 500
    });
    assert!(failing_seen.lock().unwrap().is_empty());
    down.store(false, Ordering::SeqCst);
    wait_until("the recovered consumer", || {
        failing_seen.lock().unwrap().len() >= 500
    });
    let reports = bus.shutdown();
    let failing = reports
        .iter()
        .find(|t| t.target == "failing")
        .unwrap()
        .stats;
    assert_eq!(
        (failing.delivered, failing.dead_lettered),
        (500, 0),
        "{failing:?}"
    );
    let mut got = failing_seen.lock().unwrap().clone();
    got.sort_unstable();
    assert_eq!(got, (0..500).collect::<Vec<_>>(), "each event once");
}

#[test]
fn a_failing_consumer_keeps_at_most_a_queue_of_events_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let attempts = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
    let a = Arc::clone(&attempts);
    let failing = move |i: &TargetInput| {
        a.lock().unwrap().insert(n_of(i));
        Err(DeliveryError::new("down"))
    };
    let retry = RetryPolicy::new(185, 86_400)
        .unwrap()
        .with_backoff(Duration::from_millis(10), 1.0, Duration::from_millis(10))
        .unwrap();
    let bus = LocalBus::builder(config())
        .rule(
            Rule::new("r", all()).target(
                Target::new("failing", failing)
                    .retry_policy(retry)
                    .queue_capacity(4)
                    .max_batch(1)
                    .spill_to(dir.path().join("failing")),
            ),
        )
        .build()
        .unwrap();
    for n in 0..100 {
        bus.put(event(n)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300)); // many retry rounds
    let tried = attempts.lock().unwrap().len();
    assert!(
        tried <= 4,
        "{tried} distinct events were taken while the first 4 keep failing"
    );
    let stats = bus.target_stats("r", "failing").unwrap();
    assert!(stats.spilled >= 92, "the rest wait on disk: {stats:?}");
    bus.shutdown_within(Duration::ZERO);
}
