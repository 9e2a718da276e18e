//! Segment files: `SEQ.seg`, named by the sequence number of their first record.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::{JournalError, io_err};

/// The path of the segment starting at `base`.
pub(crate) fn path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.seg"))
}

/// The bases of the segments in `dir`, in order.
pub(crate) fn list(dir: &Path) -> Result<Vec<u64>, JournalError> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("read", dir))? {
        let name = entry.map_err(io_err("read", dir))?.file_name();
        let base = name
            .to_str()
            .and_then(|n| n.strip_suffix(".seg"))
            .and_then(|n| n.parse::<u64>().ok());
        bases.extend(base);
    }
    bases.sort_unstable();
    Ok(bases)
}

/// Opens the segment at `base` for reading and appending, creating it if `create`.
pub(crate) fn open(dir: &Path, base: u64, create: bool) -> Result<File, JournalError> {
    let path = path(dir, base);
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(create)
        .open(&path)
        .map_err(io_err("open", path))
}

/// Fsyncs the directory, so a created or removed segment stays so.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync", dir))
}
