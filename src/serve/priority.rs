//! The pipeline threads' scheduling priority.
//!
//! Serving a page must not wait on counting it. The pipeline threads (feed workers, bus target
//! workers, the archive ticker) are started from a thread whose nice value was raised first;
//! on Linux the nice value is per thread and new threads inherit it, so all of them run at that
//! priority while the server's own threads keep theirs. When the machine is saturated the
//! server wins, the views wait in the journal, and the pipeline catches up when the load
//! drops. Elsewhere than Linux the priority is left alone (with a warning).

use std::time::{Duration, Instant};

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

/// How a pipeline worker yields to the server: between views it looks at how much of the
/// machine's CPU time went to normal-priority work (the server, and anything else not niced) since
/// it last looked, from `/proc/stat`. The pipeline's own threads run niced, so their user time
/// does not count; their kernel time does (the kernel does not split it by priority), which is
/// far from enough to make a pipeline catching up alone pause itself. While normal-priority work
/// left less than half a core free ([`FREE_CORES`]), it pauses for [`BUSY_PAUSE`], so the views
/// wait in the journal instead of taking CPU from serving, and then runs
/// [`VIEWS_PER_PAUSE`] views, so a backlog always moves. The kernel's idle priority is not
/// enough: in `bench/serve`, with nice 19 alone the pipeline still cost 38–48% of the throughput.
/// Where `/proc/stat` cannot be read, it never pauses.
#[derive(Debug)]
pub struct Backoff {
    /// Cores on this machine; 0: never pause.
    cores: usize,
    /// When the CPU times were last read, and what they were.
    last: Option<(Instant, CpuTimes)>,
    busy: bool,
    /// Views still allowed before the next look, after a pause.
    credit: usize,
}

/// How long a worker pauses while the machine is busy.
pub const BUSY_PAUSE: Duration = Duration::from_millis(200);

/// Views a worker runs after each pause: together, so the consumers take them as one batch (the
/// counters commit once) and the worker wakes once for all of them.
pub const VIEWS_PER_PAUSE: usize = 8;

/// The machine is busy while normal-priority work leaves less than this many cores free.
pub const FREE_CORES: f64 = 0.5;

/// The shortest time the CPU times are compared over: the kernel counts in 10 ms ticks.
const WINDOW: Duration = Duration::from_millis(100);

impl Backoff {
    /// A back-off for this machine's core count.
    pub fn new() -> Backoff {
        Backoff {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            last: None,
            busy: false,
            credit: 0,
        }
    }

    /// A back-off that never pauses (shutting down, or `--pipeline-nice 0`).
    pub fn off() -> Backoff {
        Backoff {
            cores: 0,
            ..Backoff::new()
        }
    }

    /// Pauses for [`BUSY_PAUSE`] when normal-priority work kept the machine busy since the last
    /// look; after a pause, lets [`VIEWS_PER_PAUSE`] views through before it looks again.
    pub fn pace(&mut self) {
        if self.should_pause(Instant::now(), read_cpu_times) {
            // The next look comes after the pause and measures over it.
            std::thread::sleep(BUSY_PAUSE);
        }
    }

    /// Whether to pause at `now`; `read` gives the CPU times when a look is due. When they
    /// cannot be read, the back-off turns itself off rather than try again before every view.
    fn should_pause(&mut self, now: Instant, read: impl FnOnce() -> Option<CpuTimes>) -> bool {
        if self.cores == 0 {
            return false;
        }
        if self.credit > 0 {
            self.credit -= 1;
            return false;
        }
        if self
            .last
            .is_none_or(|(at, _)| now.duration_since(at) >= WINDOW)
        {
            let Some(times) = read() else {
                tracing::warn!(
                    "cannot read /proc/stat: this pipeline worker no longer pauses for the server"
                );
                self.cores = 0;
                return false;
            };
            self.busy = self
                .last
                .is_some_and(|(_, before)| busy(before, times, self.cores));
            self.last = Some((now, times));
        }
        if self.busy {
            self.credit = VIEWS_PER_PAUSE - 1;
        }
        self.busy
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

/// The machine's CPU time so far, in clock ticks (`/proc/stat`'s `cpu` line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CpuTimes {
    /// Time spent on normal-priority work: user (not niced), system, interrupts, and time the
    /// hypervisor took.
    taken: u64,
    /// All of it, niced user time, idle and I/O wait included.
    total: u64,
}

/// Whether, between `before` and `after`, normal-priority work left less than [`FREE_CORES`] of
/// `cores` free.
fn busy(before: CpuTimes, after: CpuTimes, cores: usize) -> bool {
    let total = after.total.saturating_sub(before.total);
    if total == 0 {
        return false;
    }
    let taken = after.taken.saturating_sub(before.taken) as f64 / total as f64;
    let cores = cores as f64;
    (1.0 - taken) * cores < FREE_CORES
}

fn read_cpu_times() -> Option<CpuTimes> {
    use std::io::Read;
    // The first line is all that is needed, and comes first.
    let mut buf = [0u8; 256];
    let n = std::fs::File::open("/proc/stat")
        .and_then(|mut f| f.read(&mut buf))
        .ok()?;
    cpu_times(std::str::from_utf8(&buf[..n]).ok()?.lines().next()?)
}

/// Parses `/proc/stat`'s first line: `cpu user nice system idle iowait irq softirq steal …`.
fn cpu_times(line: &str) -> Option<CpuTimes> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = fields
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let [user, nice, system, idle, iowait, irq, softirq, steal] = v[..] else {
        return None;
    };
    Some(CpuTimes {
        taken: user + system + irq + softirq + steal,
        total: user + nice + system + idle + iowait + irq + softirq + steal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cpu_line() {
        let t =
            cpu_times("cpu  4054190 410691 644795 2366120 25931 0 34541 3097 0 0").expect("times");
        assert_eq!(t.taken, 4054190 + 644795 + 34541 + 3097);
        assert_eq!(t.total, t.taken + 410691 + 2366120 + 25931);
        // Kernels before steal time had 7 fields.
        assert_eq!(cpu_times("cpu  1 2 3 4 5 6 7"), None);
        assert_eq!(cpu_times("cpu0 1 2 3 4 5 6 7 8"), None);
        assert_eq!(cpu_times("garbage"), None);
        assert!(read_cpu_times().is_some(), "this machine has /proc/stat");
    }

    #[test]
    fn busy_when_normal_work_leaves_less_than_half_a_core() {
        let at = |taken, total| CpuTimes { taken, total };
        let start = at(1000, 4000);
        // Two cores, 200 ticks: all taken, nothing free.
        assert!(busy(start, at(1200, 4200), 2));
        // 80% taken: 0.4 of a core free.
        assert!(busy(start, at(1160, 4200), 2));
        // 70% taken: 0.6 free.
        assert!(!busy(start, at(1140, 4200), 2));
        // Niced work (the pipeline's own) and idle time are free.
        assert!(!busy(start, at(1000, 4200), 2));
        // No time passed, or the counters went backwards: not busy.
        assert!(!busy(start, start, 2));
        assert!(!busy(start, at(900, 3900), 2));
        // One core: half of it must be free.
        assert!(busy(start, at(1060, 4100), 1));
        assert!(!busy(start, at(1040, 4100), 1));
    }

    #[test]
    fn pauses_while_busy_and_lets_a_batch_through_after_each_pause() {
        let at = |taken, total| CpuTimes { taken, total };
        let mut b = Backoff {
            cores: 2,
            ..Backoff::new()
        };
        let t0 = Instant::now();
        // The first look has nothing to compare with.
        assert!(!b.should_pause(t0, || Some(at(0, 0))));
        // No new look within the window.
        let soon = t0 + WINDOW / 2;
        assert!(!b.should_pause(soon, || panic!("looked within the window")));
        // Every tick taken by normal-priority work: pause, then a batch without looking.
        let t1 = t0 + WINDOW;
        assert!(b.should_pause(t1, || Some(at(20, 20))));
        for _ in 1..VIEWS_PER_PAUSE {
            assert!(!b.should_pause(t1, || panic!("looked during the batch")));
        }
        // Looked at again after the pause: still busy, so another pause and batch.
        let t2 = t1 + BUSY_PAUSE;
        assert!(b.should_pause(t2, || Some(at(60, 60))));
        for _ in 1..VIEWS_PER_PAUSE {
            assert!(!b.should_pause(t2, || panic!("looked during the batch")));
        }
        // The load dropped (idle and niced ticks): no more pauses.
        let t3 = t2 + BUSY_PAUSE;
        assert!(!b.should_pause(t3, || Some(at(62, 100))));
        assert!(!b.should_pause(t3 + WINDOW, || Some(at(64, 140))));
        // Unreadable: off for good, never asking again.
        assert!(!b.should_pause(t3 + 2 * WINDOW, || None));
        assert!(!b.should_pause(t3 + 3 * WINDOW, || panic!("asked again")));
    }

    #[test]
    fn off_never_pauses() {
        let mut off = Backoff::off();
        let t0 = Instant::now();
        for i in 0..10 {
            assert!(!off.should_pause(t0 + WINDOW * i, || panic!("off looked at the load")));
        }
    }
}
