//! The visitor hash's daily salts: random, one per UTC day, deleted once their day is over.
//!
//! `DATA/salts/YYYY-MM-DD` holds the salt of that day (32 random bytes as hex, mode 0600),
//! created when the first view of the day is hashed. A day's salt is kept while views of that
//! day can still arrive (the day itself and the next one) and deleted at the start of the day
//! after: at most 48 hours after it was made (the local pipeline's ticker prunes every minute, and
//! every command that opens the salts prunes first). From then on nothing the data directory holds can
//! recompute a hash of that day, not even with the address and user agent in hand.
//!
//! A view of an older day (an import of old logs) is hashed with a salt made for this process
//! and never written: one import counts that day's visitors consistently, and forgets the salt
//! when it ends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use chrono::{DateTime, Days, NaiveDate, Utc};

use super::secret;

/// Bytes of randomness in a salt.
const SALT_BYTES: usize = 32;

/// The daily salts of one data directory.
#[derive(Debug)]
pub struct DailySalts {
    dir: PathBuf,
    /// The salts this process has used, by day.
    known: Mutex<BTreeMap<NaiveDate, Salt>>,
}

/// A salt this process has used.
#[derive(Debug)]
struct Salt {
    value: Arc<str>,
    /// Whether it is the day's file (or one made for this process only).
    in_file: bool,
}

impl DailySalts {
    /// The salts of the data directory `root` (`root/salts/`), with those past their window
    /// deleted.
    pub fn open(root: &Path, now: DateTime<Utc>) -> anyhow::Result<DailySalts> {
        let dir = root.join("salts");
        secret::create_private_dir(&dir)?;
        let salts = DailySalts {
            dir,
            known: Mutex::new(BTreeMap::new()),
        };
        salts.prune(now)?;
        Ok(salts)
    }

    /// The directory the salts are kept in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The salt of `at`'s UTC day, seen at `now`: the day's file (made when missing) while the
    /// day is in its window, a salt of this process only when it is older.
    pub fn salt(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> anyhow::Result<Arc<str>> {
        let day = at.date_naive();
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(salt) = known.get(&day) {
            return Ok(salt.value.clone());
        }
        let in_file = kept(day, now);
        let value: Arc<str> = if in_file {
            secret::load_or_create(&self.path(day))?.into()
        } else {
            secret::random_hex(SALT_BYTES)?.into()
        };
        known.insert(
            day,
            Salt {
                value: value.clone(),
                in_file,
            },
        );
        drop(known);
        self.prune(now)?;
        Ok(value)
    }

    /// Deletes the salts whose window is over (files and the copies this process holds) and
    /// returns their days.
    pub fn prune(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<NaiveDate>> {
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|day, salt| !salt.in_file || *day >= oldest_kept(now));
        let mut deleted = Vec::new();
        let entries = std::fs::read_dir(&self.dir)
            .with_context(|| format!("cannot read {}", self.dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read {}", self.dir.display()))?;
            let name = entry.file_name();
            let Some(day) = name
                .to_str()
                .and_then(|n| NaiveDate::parse_from_str(n, "%Y-%m-%d").ok())
            else {
                continue;
            };
            if day < oldest_kept(now) {
                std::fs::remove_file(entry.path())
                    .with_context(|| format!("cannot delete {}", entry.path().display()))?;
                deleted.push(day);
            }
        }
        if !deleted.is_empty() {
            secret::sync_dir(&self.dir)?;
        }
        deleted.sort();
        Ok(deleted)
    }

    fn path(&self, day: NaiveDate) -> PathBuf {
        self.dir.join(day.format("%Y-%m-%d").to_string())
    }
}

/// The first day whose salt is kept at `now`: yesterday.
fn oldest_kept(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive()
        .checked_sub_days(Days::new(1))
        .unwrap_or(NaiveDate::MIN)
}

/// Whether `day`'s salt is kept in a file at `now`: yesterday, today and tomorrow (a clock a
/// little ahead).
fn kept(day: NaiveDate, now: DateTime<Utc>) -> bool {
    let tomorrow = now
        .date_naive()
        .checked_add_days(Days::new(1))
        .unwrap_or(NaiveDate::MAX);
    (oldest_kept(now)..=tomorrow).contains(&day)
}

#[cfg(test)]
mod tests;
