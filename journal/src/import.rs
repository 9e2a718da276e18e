//! A one-time migration: the JSON-lines files a store kept before it moved onto a journal,
//! imported as its records.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::{DirLock, Durability, Journal, JournalConfig, JournalError, frame, io_err, segment};

/// What [`import_lines`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    /// Lines imported, one record each.
    pub records: u64,
    /// Old files removed.
    pub files: usize,
    /// Bytes of torn last lines (no newline: writes a killed process never finished, hence never
    /// acknowledged) left out.
    pub torn_bytes: u64,
}

/// Moves the line files a store wrote before it kept a journal into the journal in `dir`: each
/// whole, non-blank line of `files`, in order, becomes one record, then the files are removed.
/// Files that do not exist are passed over, so a store calls this on every open.
///
/// Crash-safe: the records are written to a staging journal (`dir/.import/`), fsynced, and its
/// one segment renamed into `dir` before any file is removed. Files found beside a journal that
/// already holds records were imported by a process that died before removing them: they are
/// removed, not imported twice. Holds the directory's lock meanwhile.
pub fn import_lines(dir: &Path, files: &[PathBuf]) -> Result<Imported, JournalError> {
    let files: Vec<&PathBuf> = files.iter().filter(|f| f.is_file()).collect();
    if files.is_empty() {
        return Ok(Imported::default());
    }
    fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    let lock = DirLock::acquire(dir)?;
    let mut imported = Imported::default();
    if !has_records(dir)? {
        imported = stage(dir, &files)?;
    }
    for file in &files {
        fs::remove_file(file).map_err(io_err("remove", *file))?;
        if let Some(parent) = file.parent() {
            segment::sync_dir(parent)?;
        }
    }
    drop(lock);
    imported.files = files.len();
    Ok(imported)
}

/// Writes the lines of `files` to `dir/.import/` in one segment and renames it into `dir`,
/// in place of the empty segments there.
fn stage(dir: &Path, files: &[&PathBuf]) -> Result<Imported, JournalError> {
    let staging = dir.join(".import");
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(io_err("remove", &staging))?;
    }
    let mut config = JournalConfig::new(&staging, Durability::PageCache);
    config.segment_bytes = u64::MAX; // one segment: one rename moves every record
    let mut imported = Imported::default();
    {
        let (journal, _) = Journal::open(config)?;
        for file in files {
            let bytes = fs::read(file).map_err(io_err("read", *file))?;
            let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            imported.torn_bytes += (bytes.len() - whole) as u64;
            let lines: Vec<&[u8]> = bytes[..whole]
                .split(|&b| b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                .collect();
            journal.append_batch(&lines).map_err(|e| e.error)?;
            imported.records += lines.len() as u64;
        }
        journal.sync()?;
    }
    for base in segment::list(dir)? {
        let path = segment::path(dir, base);
        fs::remove_file(&path).map_err(io_err("remove", &path))?;
    }
    let position = dir.join("position");
    if position.exists() {
        fs::remove_file(&position).map_err(io_err("remove", &position))?;
    }
    let from = segment::path(&staging, 0);
    let to = segment::path(dir, 0);
    fs::rename(&from, &to).map_err(io_err("rename", &from))?;
    segment::sync_dir(dir)?;
    fs::remove_dir_all(&staging).map_err(io_err("remove", &staging))?;
    Ok(imported)
}

/// Whether the journal in `dir` ever held a record.
fn has_records(dir: &Path) -> Result<bool, JournalError> {
    for base in segment::list(dir)? {
        let path = segment::path(dir, base);
        let file = File::open(&path).map_err(io_err("open", &path))?;
        let (records, _, _) = frame::scan_from(&file, 0).map_err(io_err("read", &path))?;
        if base > 0 || records > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}
