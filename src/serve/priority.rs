//! The pipeline threads' scheduling priority.
//!
//! Serving a page must not wait on counting it. The pipeline threads (feed workers, bus target
//! workers, the archive ticker) are started from a thread whose nice value was raised first;
//! on Linux the nice value is per thread and new threads inherit it, so all of them run at that
//! priority while the server's own threads keep theirs. When the machine is saturated the
//! server wins, the queue overflows into the spool, and the pipeline catches up when the load
//! drops. Elsewhere than Linux the priority is left alone (with a warning).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::runtime::RuntimeMetrics;

/// Runs `start` on a new thread whose nice value is at least `nice` (0: unchanged), and
/// returns what it returns; threads it starts keep that priority.
pub fn start_lowered<T, F>(nice: i32, start: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    std::thread::Builder::new()
        .name("tally-serve-pipeline".into())
        .spawn(move || {
            lower(nice);
            start()
        })
        .context("cannot start the pipeline")?
        .join()
        .map_err(|_| anyhow::anyhow!("starting the pipeline panicked"))
}

#[cfg(target_os = "linux")]
fn lower(nice: i32) {
    use rustix::process::{getpriority_process, setpriority_process};
    if nice == 0 {
        return;
    }
    // `None`: the calling thread (on Linux, nice is a thread attribute).
    match getpriority_process(None) {
        Ok(now) if now >= nice => {}
        _ => {
            if let Err(e) = setpriority_process(None, nice) {
                tracing::warn!(nice, error = %e, "cannot lower the pipeline threads' priority");
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn lower(nice: i32) {
    if nice != 0 {
        tracing::warn!(
            nice,
            "the pipeline threads' priority is only lowered on Linux: they run at the server's"
        );
    }
}

/// How busy the server's own threads are: the share of the time its runtime's workers spent
/// running tasks (tokio's busy-time counters). Shared between the server, which names its
/// runtime once started ([`ServerLoad::watch`]), and the pipeline workers, which read it.
#[derive(Debug, Default)]
pub struct ServerLoad {
    metrics: OnceLock<RuntimeMetrics>,
}

impl ServerLoad {
    /// A load with no runtime yet: never busy until [`ServerLoad::watch`].
    pub fn new() -> ServerLoad {
        ServerLoad::default()
    }

    /// Watches `runtime`, the server's (once; later calls change nothing).
    pub fn watch(&self, runtime: &tokio::runtime::Runtime) {
        let _ = self.metrics.set(runtime.metrics());
    }

    /// The server's workers' busy time so far, summed, and how many workers there are.
    fn busy_so_far(&self) -> Option<(Duration, usize)> {
        let m = self.metrics.get()?;
        let workers = m.num_workers();
        let busy = (0..workers).map(|w| m.worker_total_busy_duration(w)).sum();
        Some((busy, workers))
    }
}

/// How a pipeline worker yields to the server: between views it looks at how busy the server's
/// own threads were since it last looked ([`ServerLoad`]), and while they were busy more than
/// [`BUSY_SHARE`] of the time it pauses, so the views wait in the queue and the spool instead of
/// taking CPU from serving. Even then it runs a few views per pause, so a backlog always moves. The
/// kernel's idle priority is not enough: in `bench/serve`, with nice 19 alone the pipeline still
/// cost 38–48% of the throughput. Only the server's threads count: the pipeline's own work, like a
/// backlog being caught up after a burst, never makes it pause.
#[derive(Debug)]
pub struct Backoff {
    /// `None`: never pause.
    load: Option<Arc<ServerLoad>>,
    /// When the load was last looked at, and the busy time then.
    last: Option<(Instant, Duration)>,
    busy: bool,
    /// Views still allowed before the next pause, after one.
    credit: usize,
}

/// How long a worker pauses while the server is busy.
pub const BUSY_PAUSE: Duration = Duration::from_millis(200);

/// Views a worker runs after each pause: together, so the consumers take them as one batch (the
/// counters commit once) and the worker wakes once for all of them.
pub const VIEWS_PER_PAUSE: usize = 8;

/// The share of its workers' time the server must have been busy for the pipeline to pause.
pub const BUSY_SHARE: f64 = 0.5;

/// How often the load is looked at, at most (also the shortest window it is measured over).
const CHECK_EVERY: Duration = Duration::from_millis(10);

impl Backoff {
    /// A back-off that yields to the server whose load is `load`.
    pub fn new(load: Arc<ServerLoad>) -> Backoff {
        Backoff {
            load: Some(load),
            last: None,
            busy: false,
            credit: 0,
        }
    }

    /// A back-off that never pauses (shutting down, or `--pipeline-nice 0`).
    pub fn off() -> Backoff {
        Backoff {
            load: None,
            last: None,
            busy: false,
            credit: 0,
        }
    }

    /// Pauses for [`BUSY_PAUSE`] when the server was busy since the last look; after a pause,
    /// lets [`VIEWS_PER_PAUSE`] views through before it looks again.
    pub fn pace(&mut self) {
        let Some(load) = &self.load else {
            return;
        };
        if self.credit > 0 {
            self.credit -= 1;
            return;
        }
        let now = Instant::now();
        match self.last {
            Some((at, _)) if now.duration_since(at) < CHECK_EVERY => {}
            last => {
                let Some((busy_now, workers)) = load.busy_so_far() else {
                    return;
                };
                self.busy = last.is_some_and(|(at, busy_then)| {
                    busy_share(busy_now.saturating_sub(busy_then), now - at, workers) > BUSY_SHARE
                });
                self.last = Some((now, busy_now));
            }
        }
        if self.busy {
            // The next look comes after the pause and measures over it.
            std::thread::sleep(BUSY_PAUSE);
            self.credit = VIEWS_PER_PAUSE - 1;
        }
    }
}

/// The share of `workers`' time over `wall` that they were `busy`.
fn busy_share(busy: Duration, wall: Duration, workers: usize) -> f64 {
    let capacity = wall.as_secs_f64() * workers as f64;
    if capacity <= 0.0 {
        return 0.0;
    }
    busy.as_secs_f64() / capacity
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_of_the_workers_time() {
        let ms = Duration::from_millis;
        assert!((busy_share(ms(50), ms(50), 2) - 0.5).abs() < 1e-9);
        assert!((busy_share(ms(100), ms(50), 2) - 1.0).abs() < 1e-9);
        assert_eq!(busy_share(ms(0), ms(50), 2), 0.0);
        assert_eq!(busy_share(ms(5), ms(0), 2), 0.0);
    }

    /// A runtime whose workers spin is busy; the same runtime idle is not, whatever else runs.
    #[test]
    fn pauses_while_the_servers_runtime_is_busy_only() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .expect("runtime");
        let load = Arc::new(ServerLoad::new());
        let mut backoff = Backoff::new(Arc::clone(&load));
        // No runtime watched yet: never a pause.
        for _ in 0..3 {
            backoff.pace();
            std::thread::sleep(CHECK_EVERY);
        }
        assert!(!backoff.busy);
        load.watch(&rt);

        // Idle runtime; this thread (not the server's) spins meanwhile.
        let spin_until = Instant::now() + Duration::from_millis(100);
        while Instant::now() < spin_until {
            backoff.pace();
            std::hint::spin_loop();
        }
        assert!(!backoff.busy, "an idle server counted as busy");

        // Both workers spin (with a yield now and then, so tokio records their busy time).
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        for _ in 0..2 {
            let stop = Arc::clone(&stop);
            rt.spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let until = Instant::now() + Duration::from_micros(200);
                    while Instant::now() < until {
                        std::hint::spin_loop();
                    }
                    tokio::task::yield_now().await;
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let before = Instant::now();
            backoff.pace();
            if before.elapsed() >= BUSY_PAUSE {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "never paused while the server was busy"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(backoff.busy);
        // After a pause, a few views go through together; then the next pause.
        let before = Instant::now();
        for _ in 1..VIEWS_PER_PAUSE {
            backoff.pace();
        }
        assert!(before.elapsed() < BUSY_PAUSE);
        let before = Instant::now();
        backoff.pace();
        assert!(before.elapsed() >= BUSY_PAUSE, "no pause after the batch");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);

        // Off: never a pause, busy or not.
        let mut off = Backoff::off();
        let before = Instant::now();
        off.pace();
        assert!(before.elapsed() < BUSY_PAUSE);
    }
}
