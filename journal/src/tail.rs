//! The writer's end of a journal on open: a torn tail cut, damage left for the reader to report.

use std::collections::VecDeque;
use std::fs::File;
use std::path::Path;

use crate::frame::{self, Stop};
use crate::{JournalError, io_err, segment};

/// The writer's segment, as the journal found it on open.
pub(crate) struct Tail {
    /// The segment file.
    pub(crate) file: File,
    /// Its first sequence number.
    pub(crate) base: u64,
    /// Its length (after a torn tail was cut).
    pub(crate) bytes: u64,
    /// The next sequence number.
    pub(crate) next: u64,
    /// Bytes of a torn tail cut off.
    pub(crate) torn_bytes: u64,
    /// Records lost to a damaged frame.
    pub(crate) damaged: u64,
}

/// Opens the last segment for appending, creating the first if there is none: a torn tail is
/// cut; a damaged frame is left as it is (the reader reports it) and a new segment started after
/// the records it cost, so that nothing is appended behind damage.
pub(crate) fn open(dir: &Path, bases: &mut VecDeque<u64>) -> Result<Tail, JournalError> {
    if bases.is_empty() {
        segment::open(dir, 0, true)?;
        segment::sync_dir(dir)?;
        bases.push_back(0);
    }
    let base = *bases.back().unwrap_or(&0);
    let file = segment::open(dir, base, false)?;
    let path = segment::path(dir, base);
    let (records, valid, stop) = frame::scan_from(&file, 0).map_err(io_err("read", &path))?;
    let len = file.metadata().map_err(io_err("read", &path))?.len();
    let next = base + records;
    match stop {
        Stop::End | Stop::Torn => {
            if stop == Stop::Torn {
                file.set_len(valid).map_err(io_err("truncate", &path))?;
                file.sync_data().map_err(io_err("fsync", &path))?;
            }
            let torn_bytes = len - valid;
            Ok(Tail {
                file,
                base,
                bytes: valid,
                next,
                torn_bytes,
                damaged: 0,
            })
        }
        Stop::Bad => {
            let damaged = frame::lost_at(&file, valid).map_err(io_err("read", &path))?;
            let next = next + damaged;
            let file = segment::open(dir, next, true)?;
            segment::sync_dir(dir)?;
            bases.push_back(next);
            Ok(Tail {
                file,
                base: next,
                bytes: 0,
                next,
                torn_bytes: 0,
                damaged,
            })
        }
    }
}
