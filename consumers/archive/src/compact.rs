//! Compaction: many small objects of a day's hour partitions merged into few large ones.
//!
//! Firehose (and the local writer, with its size and time buffering) writes small objects when
//! traffic is light; every query and replay then opens many files. `compact_day` merges each hour
//! partition of one day that holds two or more objects into objects of up to
//! [`CompactOptions::target_bytes`] (uncompressed), keeping every record, byte for byte, in the
//! same order.
//!
//! **Atomic per partition.** The merged objects are written (temporary file, fsync, rename) into
//! a staging directory under `_compact/` (outside the key prefix, so no reader lists it), read
//! back and checked against the sources, then the staging directory and the partition directory
//! are *exchanged* in one `renameat2(RENAME_EXCHANGE)`: a reader sees the old objects or the new
//! ones, never both, never neither. The old objects, now in the staging directory, are then
//! removed. A process killed at any point leaves the partition consistent; the next compaction
//! removes what is left in `_compact/`.
//!
//! **No writer on that day.** Compaction refuses a day that is not over (UTC) and a day for which
//! the archive's buffer holds records (a running or killed writer). An object another process
//! renames into the partition while it is being compacted is moved back, never lost.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use flate2::read::MultiGzDecoder;

use crate::buffer::buffered_arrivals;
use crate::read::{ArchiveObject, list_objects};
use crate::writer::{BUFFER_DIR, io_err, sync_dir, write_gzip_object};
use crate::{ArchiveConfig, ArchiveError};

/// Where staging directories live, under the root.
pub const COMPACT_DIR: &str = "_compact";

/// How to compact.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// Largest merged object, in uncompressed bytes (a partition larger than this gives several).
    pub target_bytes: usize,
    /// The current time: days that are not over at `now` are refused.
    pub now: DateTime<Utc>,
}

impl Default for CompactOptions {
    /// 128 MiB objects (what Firehose writes at most), now.
    fn default() -> Self {
        CompactOptions {
            target_bytes: 128 << 20,
            now: Utc::now(),
        }
    }
}

/// What compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Hour partitions of the day.
    pub partitions: usize,
    /// Partitions merged (those with two or more objects).
    pub compacted: usize,
    /// Objects of the day before.
    pub objects_before: usize,
    /// Objects of the day after.
    pub objects_after: usize,
    /// Records in the partitions merged.
    pub records: usize,
    /// Leftovers of an interrupted compaction removed first.
    pub leftovers_removed: usize,
}

/// Why the day cannot be compacted.
fn refused(message: String) -> ArchiveError {
    ArchiveError::Refused(message)
}

/// Merges the small objects of each hour partition of `day` (see the module documentation).
pub fn compact_day(
    config: &ArchiveConfig,
    day: NaiveDate,
    options: &CompactOptions,
) -> Result<CompactReport, ArchiveError> {
    let mut report = CompactReport::default();
    if day >= options.now.date_naive() {
        return Err(refused(format!(
            "{day} is not over (UTC): objects may still be written to it"
        )));
    }
    if let Some(t) = buffered_arrivals(&config.root.join(BUFFER_DIR))?
        .into_iter()
        .find(|t| t.date_naive() == day)
    {
        return Err(refused(format!(
            "the archive's buffer holds records that arrived at {t}: a writer is running or was \
             killed; open the archive (it recovers its buffer) and let it finish first"
        )));
    }
    let staging_root = config.root.join(COMPACT_DIR);
    report.leftovers_removed = remove_leftovers(&staging_root)?;

    let objects: Vec<ArchiveObject> = list_objects(&config.root, &config.layout)?
        .into_iter()
        .filter(|o| o.hour.date_naive() == day)
        .collect();
    report.objects_before = objects.len();
    let mut hours: Vec<Vec<ArchiveObject>> = Vec::new();
    for object in objects {
        match hours.last_mut() {
            Some(group) if group[0].hour == object.hour => group.push(object),
            _ => hours.push(vec![object]),
        }
    }
    report.partitions = hours.len();
    for group in hours {
        if group.len() < 2 {
            report.objects_after += group.len();
            continue;
        }
        let (written, records) = compact_partition(config, &staging_root, &group, options)?;
        report.compacted += 1;
        report.objects_after += written;
        report.records += records;
    }
    Ok(report)
}

/// Merges one partition's objects; returns the objects written and the records in them.
fn compact_partition(
    config: &ArchiveConfig,
    staging_root: &Path,
    sources: &[ArchiveObject],
    options: &CompactOptions,
) -> Result<(usize, usize), ArchiveError> {
    let partition = sources[0]
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let staging = staging_root.join(sources[0].hour.format("%Y-%m-%d-%H").to_string());
    fs::create_dir_all(&staging).map_err(io_err("create", &staging))?;

    // Every record, in key order and line order, split into objects of at most target_bytes.
    let mut all = Vec::new();
    let mut chunks: Vec<Vec<u8>> = vec![Vec::new()];
    for source in sources {
        let bytes = read_raw(&source.path)?;
        for line in bytes.split_inclusive(|b| *b == b'\n') {
            let current = chunks.last().map_or(0, Vec::len);
            if current > 0 && current + line.len() > options.target_bytes {
                chunks.push(Vec::new());
            }
            if let Some(chunk) = chunks.last_mut() {
                chunk.extend_from_slice(line);
            }
        }
        all.extend_from_slice(&bytes);
    }
    let records = all.iter().filter(|b| **b == b'\n').count();

    let oldest = oldest_arrival(&config.layout.stream, &sources[0]);
    let batch = format!(
        "compacted{:016x}",
        fnv1a(sources.iter().map(|s| s.key.as_str()))
    );
    let mut staged = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let name = config
            .layout
            .object_key(oldest, &format!("{batch}{i:03}"))
            .name;
        staged.push(write_gzip_object(&staging, &name, chunk)?);
    }
    // Read back what will replace the sources: the same bytes, or nothing happens.
    let mut back = Vec::new();
    for path in &staged {
        back.extend_from_slice(&read_raw(path)?);
    }
    if back != all {
        fs::remove_dir_all(&staging).map_err(io_err("remove", &staging))?;
        return Err(ArchiveError::Refused(format!(
            "the merged objects of {} do not read back as their sources; nothing was changed",
            partition.display()
        )));
    }
    sync_dir(&staging)?;
    exchange(&staging, &partition)?;
    sync_dir(&partition)?;
    if let Some(parent) = partition.parent() {
        sync_dir(parent)?;
    }
    // The staging directory now holds the old partition. An object a writer renamed into the
    // partition meanwhile is not among the sources: it goes back.
    let merged: BTreeSet<&str> = sources
        .iter()
        .filter_map(|s| s.path.file_name().and_then(|n| n.to_str()))
        .collect();
    for entry in fs::read_dir(&staging).map_err(io_err("read", &staging))? {
        let path = entry.map_err(io_err("read", &staging))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !merged.contains(name) && !name.starts_with('.') && name.ends_with(".gz") {
            let to = partition.join(name);
            fs::rename(&path, &to).map_err(io_err("rename", &path))?;
        }
    }
    sync_dir(&partition)?;
    fs::remove_dir_all(&staging).map_err(io_err("remove", &staging))?;
    Ok((staged.len(), records))
}

/// Removes staging directories an interrupted compaction left; returns how many.
fn remove_leftovers(staging_root: &Path) -> Result<usize, ArchiveError> {
    let entries = match fs::read_dir(staging_root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_err("read", staging_root)(e)),
    };
    let mut removed = 0;
    for entry in entries {
        let path = entry.map_err(io_err("read", staging_root))?.path();
        fs::remove_dir_all(&path).map_err(io_err("remove", &path))?;
        removed += 1;
    }
    Ok(removed)
}

/// The arrival time in an object's name (`{stream}-1-YYYY-MM-DD-HH-MM-SS-…`), else its hour.
fn oldest_arrival(stream: &str, object: &ArchiveObject) -> DateTime<Utc> {
    object
        .path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(stream)?.strip_prefix("-1-")?.get(..19))
        .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d-%H-%M-%S").ok())
        .map_or(object.hour, |t| t.and_utc())
}

fn fnv1a<'a>(parts: impl Iterator<Item = &'a str>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// An object's NDJSON, decompressed, ending in a newline.
fn read_raw(path: &Path) -> Result<Vec<u8>, ArchiveError> {
    let file = File::open(path).map_err(io_err("open", path))?;
    let mut bytes = Vec::new();
    MultiGzDecoder::new(file)
        .read_to_end(&mut bytes)
        .map_err(io_err("read", path))?;
    if bytes.last().is_some_and(|b| *b != b'\n') {
        bytes.push(b'\n');
    }
    Ok(bytes)
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> Result<(), ArchiveError> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(|e| ArchiveError::Io {
        op: "exchange",
        path: b.to_owned(),
        source: e.into(),
    })
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, b: &Path) -> Result<(), ArchiveError> {
    Err(ArchiveError::Refused(format!(
        "compacting {} needs an atomic directory exchange (Linux renameat2), not available here",
        b.display()
    )))
}
