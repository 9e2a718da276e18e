//! The framing: `[length u32 LE][crc32 u32 LE][payload]`, one frame per record.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Bytes before the payload.
pub(crate) const HEADER: usize = 8;

/// A record's payload, at most (a frame claiming more is damage, not a record).
pub const MAX_RECORD: usize = 16 << 20;

/// What [`read_at`] found at an offset.
#[derive(Debug)]
pub(crate) enum Read {
    /// A whole frame: its payload and the offset after it.
    Record(Vec<u8>, u64),
    /// The end of the file, exactly.
    End,
    /// A frame cut off, or whose checksum or length is wrong: the file's valid part ends here.
    Torn,
}

/// Reads the frame at `offset` of `file`, whose valid length is `len`.
pub(crate) fn read_at(file: &File, offset: u64, len: u64) -> io::Result<Read> {
    if offset == len {
        return Ok(Read::End);
    }
    let mut header = [0u8; HEADER];
    if len - offset < HEADER as u64 {
        return Ok(Read::Torn);
    }
    file.read_exact_at(&mut header, offset)?;
    let size = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let end = offset + (HEADER + size) as u64;
    if size > MAX_RECORD || end > len {
        return Ok(Read::Torn);
    }
    let mut payload = vec![0u8; size];
    file.read_exact_at(&mut payload, offset + HEADER as u64)?;
    if crc32fast::hash(&payload) != crc {
        return Ok(Read::Torn);
    }
    Ok(Read::Record(payload, end))
}

/// Scans `file` from the start: the number of whole frames and where the valid part ends.
pub(crate) fn scan(file: &File) -> io::Result<(u64, u64, bool)> {
    let len = file.metadata()?.len();
    let (mut offset, mut records) = (0u64, 0u64);
    loop {
        match read_at(file, offset, len)? {
            Read::Record(_, next) => {
                offset = next;
                records += 1;
            }
            Read::End => return Ok((records, offset, false)),
            Read::Torn => return Ok((records, offset, true)),
        }
    }
}

/// Fills in the header of `frame`: [`HEADER`] placeholder bytes followed by the payload.
pub(crate) fn finish(frame: &mut [u8]) {
    let (header, payload) = frame.split_at_mut(HEADER);
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    header[..4].copy_from_slice(&len.to_le_bytes());
    header[4..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
}
