//! Interval durability: a thread that fsyncs what was appended and acknowledged, once per
//! interval, so that no append waits on the disk.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::inner::Core;

/// The shortest interval the syncer runs at (an `Interval(ZERO)` would spin).
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// The syncer thread; stopped (and joined) when dropped.
#[derive(Debug)]
pub(crate) struct Syncer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Starts fsyncing `core` every `every`; the thread ends with the syncer or the core.
    pub(crate) fn start(core: &Arc<Core>, every: Duration) -> std::io::Result<Syncer> {
        let (stop, stopped) = mpsc::channel::<()>();
        let core: Weak<Core> = Arc::downgrade(core);
        let every = every.max(MIN_INTERVAL);
        let thread = std::thread::Builder::new()
            .name("tally-journal-sync".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    match core.upgrade() {
                        Some(core) => core.sync_if_dirty(),
                        None => return,
                    }
                }
            })?;
        Ok(Syncer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}
