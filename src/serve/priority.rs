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
