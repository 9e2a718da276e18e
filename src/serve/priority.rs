//! The pipeline threads' scheduling priority.
//!
//! Serving a page must not wait on counting it. The pipeline threads (feed workers, bus target
//! workers, the archive ticker) are started from a thread whose nice value was raised first;
//! on Linux the nice value is per thread and new threads inherit it, so all of them run at that
//! priority while the server's own threads keep theirs. When the machine is saturated the
//! server wins, the queue overflows into the spool, and the pipeline catches up when the load
//! drops. Elsewhere than Linux the priority is left alone (with a warning).

use anyhow::Context;

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

/// How a pipeline worker yields to the server: between views it looks at how many threads the
/// machine is running, and while every core is taken by someone else it pauses, so the views wait
/// in the queue and the spool instead of taking CPU from serving. Even then it runs one view per
/// pause, so a backlog always moves. The kernel's own idle priority is not enough: in
/// `bench/serve`, with nice 19 alone the pipeline still cost 38–48% of the throughput.
#[derive(Debug)]
pub struct Backoff {
    /// Cores on this machine; 0: never pause.
    cores: usize,
    last_check: std::time::Instant,
    busy: bool,
}

/// How long a worker pauses while the machine is busy.
pub const BUSY_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// How often the machine's load is looked at, at most.
const CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(2);

impl Backoff {
    /// A back-off for this machine's core count.
    pub fn new() -> Backoff {
        Backoff {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            last_check: std::time::Instant::now() - CHECK_EVERY,
            busy: false,
        }
    }

    /// A back-off that never pauses (shutting down, or `--pipeline-nice 0`).
    pub fn off() -> Backoff {
        Backoff {
            cores: 0,
            ..Backoff::new()
        }
    }

    /// Pauses for [`BUSY_PAUSE`] when every core is running something other than this worker.
    pub fn pace(&mut self) {
        if self.cores == 0 {
            return;
        }
        if self.last_check.elapsed() >= CHECK_EVERY {
            self.last_check = std::time::Instant::now();
            self.busy = std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|l| running(&l))
                .is_some_and(|n| busy(n, self.cores));
        }
        if self.busy {
            std::thread::sleep(BUSY_PAUSE);
            self.last_check = std::time::Instant::now() - CHECK_EVERY;
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

/// Whether `running` threads, the asking worker among them, leave no core free for it.
fn busy(running: usize, cores: usize) -> bool {
    running.saturating_sub(1) >= cores
}

/// The number of runnable threads in a `/proc/loadavg` line (`0.50 0.40 0.30 3/190 12345`).
fn running(loadavg: &str) -> Option<usize> {
    loadavg
        .split_whitespace()
        .nth(3)?
        .split('/')
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_runnable_count() {
        assert_eq!(running("0.50 0.40 0.30 3/190 12345\n"), Some(3));
        assert_eq!(running("12.00 9.1 7.0 17/2048 1"), Some(17));
        assert_eq!(running("garbage"), None);
        assert_eq!(running("1 2 3 x/4 5"), None);
    }

    #[test]
    fn busy_when_the_others_fill_every_core() {
        // Two cores: the worker alone, or with one other thread, leaves a core free.
        assert!(!busy(1, 2));
        assert!(!busy(2, 2));
        assert!(busy(3, 2));
        assert!(busy(9, 2));
        assert!(!busy(0, 1));
    }
}
