//! The buffer files of an older tally (`_buffer/batch-ID-MILLIS.ndjson`, one JSON line a
//! record), written out as objects on open, then removed: a one-time migration.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::writer::{Archive, ArchiveError, BUFFER_DIR, Recovery, dedupe_key, io_err, sync_dir};

/// Writes out the old buffer files under the archive's root, as the tally that wrote them would
/// have on its next open: under the name its batch would have had (so one written already is not
/// written twice), without a torn last line.
pub(crate) fn recover(archive: &Archive, recovery: &mut Recovery) -> Result<(), ArchiveError> {
    let files = files(&archive.config().root.join(BUFFER_DIR))?;
    let mut state = archive.lock();
    for (path, batch, oldest) in files {
        let mut bytes = fs::read(&path).map_err(io_err("read", &path))?;
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        recovery.torn_bytes += (bytes.len() - complete) as u64;
        bytes.truncate(complete);
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            if let Some(id) = serde_json::from_slice::<Value>(line)
                .ok()
                .and_then(|v| dedupe_key(&v).map(str::to_owned))
            {
                archive.remember(&mut state, id);
            }
        }
        if archive.object_exists(oldest, &batch) {
            recovery.already_written += 1;
        } else if !bytes.is_empty() {
            archive.write_object(oldest, &batch, &bytes)?;
            recovery.objects_written += 1;
            recovery.records += bytes.iter().filter(|b| **b == b'\n').count();
        }
        fs::remove_file(&path).map_err(io_err("remove", &path))?;
        sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    }
    Ok(())
}

/// The old buffer files in `dir`, sorted, with their batch id and oldest arrival.
pub(crate) fn files(dir: &Path) -> Result<Vec<(PathBuf, String, DateTime<Utc>)>, ArchiveError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("read", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_err("read", dir))?.path();
        if let Some((batch, oldest)) = parse_name(&path) {
            out.push((path, batch, oldest));
        }
    }
    out.sort();
    Ok(out)
}

fn parse_name(path: &Path) -> Option<(String, DateTime<Utc>)> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix("batch-")?.strip_suffix(".ndjson")?;
    let (batch, millis) = rest.rsplit_once('-')?;
    Some((
        batch.to_owned(),
        DateTime::from_timestamp_millis(millis.parse().ok()?)?,
    ))
}
