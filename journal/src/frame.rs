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
    /// A frame cut off by the end of the file: what an append a killed process never finished
    /// leaves (or, read beside a live writer, one still being written).
    Torn,
    /// A frame inside the file whose checksum or length is wrong: damage, not a torn append.
    Bad,
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
    if size == 0 {
        // No record is empty (appends refuse them), and an empty payload's checksum is 0: a
        // zero header is space a crash left zeroed, a torn tail if zeros run to the end.
        return Ok(if zeros_to_end(file, offset, len)? {
            Read::Torn
        } else {
            Read::Bad
        });
    }
    if size > MAX_RECORD {
        return Ok(Read::Bad);
    }
    if end > len {
        return Ok(Read::Torn);
    }
    let mut payload = vec![0u8; size];
    file.read_exact_at(&mut payload, offset + HEADER as u64)?;
    if crc32fast::hash(&payload) != crc {
        return Ok(Read::Bad);
    }
    Ok(Read::Record(payload, end))
}

/// Whether every byte of `file` from `offset` to `len` is zero.
fn zeros_to_end(file: &File, mut offset: u64, len: u64) -> io::Result<bool> {
    let mut buf = vec![0u8; 64 << 10];
    while offset < len {
        let n = buf.len().min((len - offset) as usize);
        file.read_exact_at(&mut buf[..n], offset)?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        offset += n as u64;
    }
    Ok(true)
}

/// Where a scan of a file stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// At the end of the file.
    End,
    /// At a torn last frame.
    Torn,
    /// At a damaged frame.
    Bad,
}

/// Scans `file` from `offset`: the number of whole frames and where they end.
pub(crate) fn scan_from(file: &File, mut offset: u64) -> io::Result<(u64, u64, Stop)> {
    let len = file.metadata()?.len();
    let mut records = 0u64;
    loop {
        match read_at(file, offset, len)? {
            Read::Record(_, next) => {
                offset = next;
                records += 1;
            }
            Read::End => return Ok((records, offset, Stop::End)),
            Read::Torn => return Ok((records, offset, Stop::Torn)),
            Read::Bad => return Ok((records, offset, Stop::Bad)),
        }
    }
}

/// How many records a damaged frame at `offset` cost, at least: itself, and the whole frames
/// that follow it if its length field is to be believed.
pub(crate) fn lost_at(file: &File, offset: u64) -> io::Result<u64> {
    let len = file.metadata()?.len();
    let mut header = [0u8; HEADER];
    file.read_exact_at(&mut header, offset)?;
    let size = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as u64;
    let after = offset + HEADER as u64 + size;
    if size as usize > MAX_RECORD || after > len {
        return Ok(1);
    }
    Ok(1 + scan_from(file, after)?.0)
}

/// Fills in the header of `frame`: [`HEADER`] placeholder bytes followed by the payload.
pub(crate) fn finish(frame: &mut [u8]) {
    let (header, payload) = frame.split_at_mut(HEADER);
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    header[..4].copy_from_slice(&len.to_le_bytes());
    header[4..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
}
