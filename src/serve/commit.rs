//! Group commit: the page views of the requests served at the same moment go into the serve
//! journal with one `write`, and each request's response waits until its view is written.
//!
//! The first request to add a view to an empty batch spawns the batch's commit, which first
//! yields, so that every request the runtime has ready adds its view too, and then appends them
//! all ([`Journal::append_batch`]) and wakes their requests. A spawned task is not cancelled
//! when the request that spawned it is, so a client that hangs up cannot strand the views of
//! the others; [`GroupCommit::commit`] run at shutdown writes whatever a stopped runtime left.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tally_journal::Journal;
use tokio::sync::watch;

use super::dead_letters::DeadLetters;

/// The serve journal's writer for requests on a tokio runtime.
#[derive(Debug)]
pub struct GroupCommit {
    journal: Arc<Journal>,
    dead: Arc<DeadLetters>,
    open: Mutex<Batch>,
    /// Views appended to the journal.
    appended: AtomicU64,
    /// Views the journal refused, in the dead-letter file.
    refused: AtomicU64,
    /// Writes (batches) so far.
    writes: AtomicU64,
}

/// The views waiting for the next write.
#[derive(Debug)]
struct Batch {
    payloads: Vec<Vec<u8>>,
    /// Set to `true` once the batch is written (or dead-lettered).
    written: watch::Sender<bool>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            // Room for the batch of a busy moment, so the first views do not grow it by steps.
            payloads: Vec::with_capacity(32),
            written: watch::Sender::new(false),
        }
    }
}

/// A snapshot of the counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitCounts {
    /// Views appended to the journal.
    pub appended: u64,
    /// Views the journal refused (dead-lettered with the reason).
    pub refused: u64,
    /// Writes that appended them.
    pub writes: u64,
}

impl GroupCommit {
    /// A writer to `journal`; what it cannot take goes to `dead` with the reason.
    pub fn new(journal: Arc<Journal>, dead: Arc<DeadLetters>) -> GroupCommit {
        GroupCommit {
            journal,
            dead,
            open: Mutex::new(Batch::new()),
            appended: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        }
    }

    /// Adds `payload` to the open batch and returns once it is in the journal (or, if the
    /// journal refused it, in the dead-letter file). Must run on a tokio runtime.
    pub async fn append(self: &Arc<Self>, payload: Vec<u8>) {
        let (mut written, first) = {
            let mut open = lock(&self.open);
            open.payloads.push(payload);
            (open.written.subscribe(), open.payloads.len() == 1)
        };
        if first {
            let me = Arc::clone(self);
            tokio::spawn(async move {
                // Behind every task that is ready now: their views join this batch.
                tokio::task::yield_now().await;
                me.commit();
            });
        }
        // An error means the sender is gone, which happens only after the batch was written.
        written.wait_for(|w| *w).await.ok();
    }

    /// Writes the open batch now (one `write`) and wakes its requests.
    pub fn commit(&self) {
        let batch = std::mem::replace(&mut *lock(&self.open), Batch::new());
        if batch.payloads.is_empty() {
            return;
        }
        let n = batch.payloads.len() as u64;
        self.writes.fetch_add(1, Ordering::Relaxed);
        match self.journal.append_batch(&batch.payloads) {
            Ok(_) => {
                self.appended.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                let appended = e.appended;
                self.appended.fetch_add(appended as u64, Ordering::Relaxed);
                let reason = format!("the journal cannot take the view: {}", e.error);
                for payload in &batch.payloads[appended..] {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    self.dead.payload(&reason, payload);
                }
            }
        }
        batch.written.send_replace(true);
    }

    /// The counts so far.
    pub fn counts(&self) -> CommitCounts {
        CommitCounts {
            appended: self.appended.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    use tally_journal::{Durability, JournalConfig};

    use super::*;

    /// A current-thread runtime: every ready task runs before a yielded one, deterministically.
    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    }

    fn open(dir: &std::path::Path) -> (Arc<Journal>, Arc<GroupCommit>) {
        let config = JournalConfig::new(dir.join("journal"), Durability::PageCache);
        let (journal, _) = Journal::open(config).expect("journal");
        let journal = Arc::new(journal);
        let dead = Arc::new(DeadLetters::open(&dir.join("dead")).expect("dead letters"));
        let commit = Arc::new(GroupCommit::new(Arc::clone(&journal), dead));
        (journal, commit)
    }

    #[test]
    fn concurrent_views_share_a_write_and_each_returns_only_once_written() {
        let dir = tempfile::tempdir().expect("dir");
        let (journal, commit) = open(dir.path());
        let returned = Arc::new(AtomicU64::new(0));
        let rt = runtime();
        rt.block_on(async {
            let tasks: Vec<_> = (0..64)
                .map(|n| {
                    let (commit, journal) = (Arc::clone(&commit), Arc::clone(&journal));
                    let returned = Arc::clone(&returned);
                    tokio::spawn(async move {
                        commit.append(format!("view-{n}").into_bytes()).await;
                        // Every append that returned (this one included) is in the journal.
                        let done = returned.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(journal.unread() >= done, "returned before its write");
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("task");
            }
        });
        let counts = commit.counts();
        assert_eq!((counts.appended, counts.refused), (64, 0));
        assert!(
            counts.writes <= 2,
            "{} writes for 64 ready views",
            counts.writes
        );
        let mut read: Vec<String> = journal
            .read(100)
            .expect("read")
            .into_iter()
            .map(|r| String::from_utf8(r.payload).expect("utf-8"))
            .collect();
        read.sort();
        let mut expected: Vec<String> = (0..64).map(|n| format!("view-{n}")).collect();
        expected.sort();
        assert_eq!(read, expected);
    }

    #[test]
    fn a_view_the_journal_refuses_is_dead_lettered_and_the_others_are_appended() {
        let dir = tempfile::tempdir().expect("dir");
        let (journal, commit) = open(dir.path());
        let rt = runtime();
        let huge = format!(
            "{{\"path\":\"/{}\"}}",
            "x".repeat(tally_journal::MAX_RECORD)
        );
        let huge_len = huge.len();
        rt.block_on(async {
            let a = tokio::spawn({
                let c = Arc::clone(&commit);
                async move { c.append(b"{\"path\":\"/a\"}".to_vec()).await }
            });
            let b = tokio::spawn({
                let c = Arc::clone(&commit);
                async move { c.append(huge.into_bytes()).await }
            });
            a.await.expect("a");
            b.await.expect("b");
        });
        let counts = commit.counts();
        assert_eq!((counts.appended, counts.refused), (1, 1));
        assert_eq!(journal.unread(), 1);
        let dead: Vec<serde_json::Value> =
            tally_bus::local::read_json(dir.path().join("dead")).expect("dead letters");
        let [line] = &dead[..] else {
            panic!("one dead letter: {dead:?}")
        };
        let reason = line["reason"].as_str().expect("reason");
        assert!(
            reason.contains("larger than the journal's limit"),
            "{reason}"
        );
        assert_eq!(line["bytes"], huge_len, "its size");
        let head = line["head"].as_str().expect("its head");
        assert!(head.starts_with("{\"path\":\"/xxx"), "{}", &head[..20]);
    }

    #[test]
    fn a_batch_a_stopped_runtime_left_is_written_by_commit() {
        let dir = tempfile::tempdir().expect("dir");
        let (journal, commit) = open(dir.path());
        let rt = runtime();
        {
            let _in_runtime = rt.enter();
            let mut append = Box::pin(commit.append(b"view".to_vec()));
            let mut cx = Context::from_waker(Waker::noop());
            // Added to the batch, its commit spawned but never run: the runtime stops first.
            assert!(matches!(append.as_mut().poll(&mut cx), Poll::Pending));
        }
        drop(rt);
        assert_eq!(journal.unread(), 0);
        commit.commit();
        assert_eq!(journal.unread(), 1);
        assert_eq!(commit.counts().writes, 1);
    }
}
