//! A process lock on a directory: one writer at a time, and an error that names the holder.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

use crate::JournalError;

/// How often, and how long each time, a lock this process's pid holds is tried again.
const SELF_HELD_RETRIES: u32 = 20;
const SELF_HELD_WAIT: std::time::Duration = std::time::Duration::from_millis(10);

/// The pid written in the lock file, if it reads as one.
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// An exclusive lock on a directory, held until dropped (or the process dies: the kernel
/// releases it, so a killed holder never leaves a stale lock).
#[derive(Debug)]
pub struct DirLock {
    path: PathBuf,
    _file: File,
}

impl DirLock {
    /// Takes the lock file `dir/lock`, creating it, and writes this process's pid into it.
    /// Another process holding it: [`JournalError::Locked`] with its pid.
    pub fn acquire(dir: &Path) -> Result<DirLock, JournalError> {
        let path = dir.join("lock");
        let io = |source| JournalError::Io {
            op: "lock",
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io)?;
        let mut waited = 0;
        while flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            let pid = holder(&mut file);
            // Held "by this process": either a second open here (refused), or a lock this
            // process just released whose descriptor a child of another thread still holds
            // between its fork and exec (flock locks belong to the open file description, which
            // a fork shares until exec closes it). The latter lasts microseconds: wait a little.
            if pid != Some(std::process::id()) || waited == SELF_HELD_RETRIES {
                return Err(JournalError::Locked { path, pid });
            }
            waited += 1;
            std::thread::sleep(SELF_HELD_WAIT);
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(DirLock { path, _file: file })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
