//! A replay's checkpoint, `DATA/replay/NAME/`: the archive objects it delivered, one key a
//! record of a `tally-journal`, fsynced per partition (a record says the sink made that object's
//! events durable, so it must outlive power loss as the sink's commit does; one fsync per hour
//! partition costs nothing next to the partition's delivery).

use std::collections::HashSet;
use std::path::Path;

use anyhow::Context;
use tally_journal::{Durability, Journal, JournalConfig, JournalError};

use super::DataDir;

/// The checkpoint: object keys already replayed.
#[derive(Debug)]
pub struct Checkpoint {
    done: HashSet<String>,
    journal: Journal,
}

impl Checkpoint {
    /// Opens (creating) `DATA/replay/NAME/`; with `restart`, empties it first. The
    /// `NAME.checkpoint` file of an older tally is moved in. Keys a damaged record held are
    /// logged and replayed again (the consumers are idempotent per event id).
    pub fn open(data: &DataDir, name: &str, restart: bool) -> anyhow::Result<Checkpoint> {
        let dir = data.root().join("replay").join(name);
        let legacy = dir.with_extension("checkpoint");
        if restart {
            for gone in [&dir, &legacy] {
                remove(gone).with_context(|| format!("cannot remove {}", gone.display()))?;
            }
        }
        tally_journal::import_lines(&dir, &[legacy])?;
        let (journal, _) = Journal::open(JournalConfig::new(&dir, Durability::EveryRecord))?;
        let mut done = HashSet::new();
        loop {
            match journal.read(4096) {
                Ok(records) if records.is_empty() => break,
                Ok(records) => done.extend(
                    records
                        .into_iter()
                        .map(|r| String::from_utf8_lossy(&r.payload).into_owned()),
                ),
                Err(e @ JournalError::Damaged { .. }) => {
                    tracing::warn!(error = %e, "replay checkpoint: the objects it named are replayed again");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Checkpoint { done, journal })
    }

    /// Whether the object with this key was replayed.
    pub fn is_done(&self, key: &str) -> bool {
        self.done.contains(key)
    }

    /// The checkpoint's directory.
    pub fn dir(&self) -> &Path {
        self.journal.dir()
    }

    /// Records the keys of a partition's objects (one write, one fsync), once the sink made
    /// their events durable.
    pub fn record<'a>(&mut self, keys: impl Iterator<Item = &'a str>) -> anyhow::Result<()> {
        let keys: Vec<&str> = keys.collect();
        self.journal.append_batch(&keys)?;
        self.done.extend(keys.into_iter().map(str::to_owned));
        Ok(())
    }
}

/// Removes a file or a directory, if it is there.
fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;

    use std::path::PathBuf;

    use tally_journal::kill_test;

    use super::*;

    fn keys(n: std::ops::Range<u32>) -> Vec<String> {
        n.map(|i| format!("events/year=2026/h{i}/o{i}.gz"))
            .collect()
    }

    fn segment(data: &DataDir) -> PathBuf {
        data.root().join("replay/r").join(format!("{:020}.seg", 0))
    }

    #[test]
    fn what_was_recorded_is_done_after_a_reopen_and_restart_forgets_it() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::new(tmp.path());
        let mut c = Checkpoint::open(&data, "r", false).unwrap();
        c.record(keys(0..3).iter().map(String::as_str)).unwrap();
        drop(c);
        let c = Checkpoint::open(&data, "r", false).unwrap();
        assert!(keys(0..3).iter().all(|k| c.is_done(k)));
        drop(c);
        let c = Checkpoint::open(&data, "r", true).unwrap();
        assert!(!c.is_done(&keys(0..1)[0]));
    }

    #[test]
    fn a_torn_record_names_no_object_and_a_damaged_one_is_replayed_again() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::new(tmp.path());
        let mut c = Checkpoint::open(&data, "r", false).unwrap();
        for k in keys(0..3) {
            c.record(std::iter::once(k.as_str())).unwrap();
        }
        drop(c);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(segment(&data))
            .unwrap();
        f.write_all(&[60, 0, 0, 0, 0, 0, 0, 0, b'e', b'v']).unwrap();
        let c = Checkpoint::open(&data, "r", false).unwrap();
        assert!(
            keys(0..3).iter().all(|k| c.is_done(k)),
            "the torn tail is cut"
        );
        drop(c);
        let mut bytes = std::fs::read(segment(&data)).unwrap();
        let second = 8 + keys(0..1)[0].len() + 8;
        bytes[second] ^= 0xff;
        std::fs::write(segment(&data), bytes).unwrap();
        let mut c = Checkpoint::open(&data, "r", false).unwrap();
        let done: Vec<bool> = keys(0..3).iter().map(|k| c.is_done(k)).collect();
        assert_eq!(
            done,
            [true, false, false],
            "from the damage on: replayed again"
        );
        c.record(keys(3..4).iter().map(String::as_str)).unwrap();
        drop(c);
        let c = Checkpoint::open(&data, "r", false).unwrap();
        assert!(c.is_done(&keys(3..4)[0]), "recorded after the damage");
    }

    #[test]
    fn the_checkpoint_file_of_an_older_tally_is_moved_in_without_its_torn_line() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::new(tmp.path());
        let old = tmp.path().join("replay/r.checkpoint");
        std::fs::create_dir_all(old.parent().unwrap()).unwrap();
        let k = keys(0..2);
        std::fs::write(&old, format!("{}\n{}", k[0], k[1])).unwrap();
        let c = Checkpoint::open(&data, "r", false).unwrap();
        assert!(!old.exists());
        assert_eq!((c.is_done(&k[0]), c.is_done(&k[1])), (true, false));
    }

    /// Not a test on its own: the replay killed by
    /// `a_replay_killed_with_sigkill_keeps_every_partition_it_recorded`.
    #[test]
    #[ignore = "run by a_replay_killed_with_sigkill_keeps_every_partition_it_recorded"]
    fn checkpoint_child() {
        let Some(dir) = kill_test::child_dir() else {
            return;
        };
        let mut c = Checkpoint::open(&DataDir::new(dir), "r", false).unwrap();
        for i in 0.. {
            let partition = keys(i * 3..i * 3 + 3);
            c.record(partition.iter().map(String::as_str)).unwrap();
            println!("recorded {i}");
        }
    }

    #[test]
    fn a_replay_killed_with_sigkill_keeps_every_partition_it_recorded() {
        let tmp = tempfile::tempdir().unwrap();
        let test = "local::checkpoint::tests::checkpoint_child";
        let child = kill_test::Child::spawn(test, tmp.path(), &[]).unwrap();
        let reported = child.kill_after("recorded ", 200).unwrap();
        let last: u32 = reported.last().unwrap().parse().unwrap();
        let c = Checkpoint::open(&DataDir::new(tmp.path()), "r", false).unwrap();
        let missing: Vec<String> = keys(0..last * 3 + 3)
            .into_iter()
            .filter(|k| !c.is_done(k))
            .collect();
        assert!(missing.is_empty(), "recorded and lost: {missing:?}");
    }
}
