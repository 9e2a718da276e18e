//! The position file: the first sequence number not yet acknowledged, with a checksum.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::{JournalError, io_err};

/// The position file, open.
#[derive(Debug)]
pub(crate) struct Ledger {
    file: File,
}

impl Ledger {
    /// Opens `dir/position`; returns it with the position it holds (`None`: new or damaged).
    pub(crate) fn open(dir: &Path) -> Result<(Ledger, Option<u64>), JournalError> {
        let path = dir.join("position");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        let mut bytes = [0u8; 12];
        let position = match file.read_exact_at(&mut bytes, 0) {
            Ok(()) => decode(&bytes),
            Err(_) => None,
        };
        Ok((Ledger { file }, position))
    }

    /// Writes `position` (one 12-byte write at the start of the file).
    pub(crate) fn write(&self, position: u64) -> std::io::Result<()> {
        let mut bytes = [0u8; 12];
        bytes[..8].copy_from_slice(&position.to_le_bytes());
        let crc = crc32fast::hash(&bytes[..8]);
        bytes[8..].copy_from_slice(&crc.to_le_bytes());
        self.file.write_all_at(&bytes, 0)
    }

    /// Fsyncs the file.
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }
}

/// The position `dir/position` holds, read without opening it for writing (`None`: missing or
/// damaged).
pub(crate) fn read_only(dir: &Path) -> Option<u64> {
    let bytes = std::fs::read(dir.join("position")).ok()?;
    decode(bytes.get(..12)?.try_into().ok()?)
}

fn decode(bytes: &[u8; 12]) -> Option<u64> {
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&bytes[..8]);
    let crc = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    (crc32fast::hash(&seq) == crc).then(|| u64::from_le_bytes(seq))
}
