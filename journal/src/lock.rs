//! A process lock on a directory: one writer at a time, and an error that names the holder.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

use crate::JournalError;

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
        if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            let mut holder = String::new();
            file.read_to_string(&mut holder).ok();
            return Err(JournalError::Locked {
                path,
                pid: holder.trim().parse().ok(),
            });
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
