//! A read-only look at a journal: no lock taken and nothing changed, so a command can read a
//! store beside the process writing it.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::frame::{self, Read};
use crate::journal::Record;
use crate::{JournalError, io_err, ledger, segment};

/// What [`scan`] found.
#[derive(Debug, Default)]
pub struct Scan {
    /// The records not yet acknowledged, in order.
    pub records: Vec<Record>,
    /// Damage met on the way ([`JournalError::Damaged`], each naming the records it cost, which
    /// are not in `records`).
    pub damage: Vec<JournalError>,
}

/// Reads every record of the journal in `dir` not yet acknowledged, without locking it or
/// changing anything: a writer may be appending meanwhile (what it has not finished writing is
/// not read). A directory that does not exist is an empty journal.
pub fn scan(dir: &Path) -> Result<Scan, JournalError> {
    let mut out = Scan::default();
    if !dir.exists() {
        return Ok(out);
    }
    let bases = segment::list(dir)?;
    let position = ledger::read_only(dir).unwrap_or(0);
    for (i, &base) in bases.iter().enumerate() {
        let path = segment::path(dir, base);
        let file = match File::open(&path) {
            Ok(f) => f,
            // Removed since the listing: every record in it was acknowledged.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("open", path)(e)),
        };
        let segment = Segment {
            file: &file,
            path: &path,
            base,
            next: bases.get(i + 1).copied(),
        };
        segment.scan(position, &mut out)?;
    }
    Ok(out)
}

/// One segment file being scanned; `next` is the next segment's base, if there is one.
struct Segment<'a> {
    file: &'a File,
    path: &'a Path,
    base: u64,
    next: Option<u64>,
}

impl Segment<'_> {
    /// Pushes the segment's records at or after `position`, and the damage that ends it early.
    fn scan(&self, position: u64, out: &mut Scan) -> Result<(), JournalError> {
        let io = || io_err("read", self.path);
        let len = self.file.metadata().map_err(io())?.len();
        let (mut offset, mut seq) = (0u64, self.base);
        loop {
            match frame::read_at(self.file, offset, len).map_err(io())? {
                Read::Record(payload, end) => {
                    if seq >= position {
                        out.records.push(Record { seq, payload });
                    }
                    offset = end;
                    seq += 1;
                }
                Read::End => return Ok(()),
                // The last segment's tail: an append not finished (or never to be).
                Read::Torn if self.next.is_none() => return Ok(()),
                Read::Torn | Read::Bad => {
                    let skipped = match self.next {
                        Some(n) => n.saturating_sub(seq),
                        None => frame::lost_at(self.file, offset).map_err(io())?,
                    };
                    out.damage.push(JournalError::Damaged {
                        path: self.path.to_owned(),
                        offset,
                        skipped,
                    });
                    return Ok(());
                }
            }
        }
    }
}
