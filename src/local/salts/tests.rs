#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::TimeZone;
use tally_edge::visitor::visitor_hash;

use super::*;

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0)
        .single()
        .expect("a time")
}

/// Every file under `root`, whole.
fn everything_kept(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).expect("readable")));
            }
        }
    }
    out
}

fn hash(salt: &str, day: DateTime<Utc>) -> String {
    visitor_hash(
        salt.as_bytes(),
        "example.com",
        "203.0.113.7",
        "Mozilla/5.0",
        day,
    )
}

#[test]
fn after_the_window_nothing_kept_recomputes_a_past_hash() {
    let root = tempfile::tempdir().expect("a temp dir");
    let salts = DailySalts::open(root.path(), at(10, 9)).expect("open");
    let salt = salts.salt(at(10, 9), at(10, 9)).expect("a salt");
    let past = hash(&salt, at(10, 9));
    assert_eq!(salts.salt(at(10, 23), at(10, 23)).unwrap(), salt);

    // The next day: late views of the day before are still hashed alike.
    let next = DailySalts::open(root.path(), at(11, 12)).expect("open");
    assert_eq!(next.salt(at(10, 22), at(11, 12)).unwrap(), salt);
    assert_ne!(next.salt(at(11, 12), at(11, 12)).unwrap(), salt);

    // Two days on, in the long-running process and in a new one: gone.
    assert_eq!(salts.prune(at(12, 0)).unwrap(), [at(10, 0).date_naive()]);
    let later = DailySalts::open(root.path(), at(12, 0)).expect("open");
    for files in [&salts, &later] {
        let now = files
            .salt(at(10, 9), at(12, 0))
            .expect("a salt of this process");
        assert_ne!(hash(&now, at(10, 9)), past);
    }
    for (path, bytes) in everything_kept(root.path()) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&*salt), "{} keeps the salt", path.display());
        if let Ok(kept) = std::str::from_utf8(&bytes) {
            assert_ne!(hash(kept.trim(), at(10, 9)), past, "{}", path.display());
        }
    }
}

#[test]
fn a_day_past_its_window_gets_a_salt_of_this_process_only() {
    let root = tempfile::tempdir().expect("a temp dir");
    let salts = DailySalts::open(root.path(), at(20, 9)).expect("open");
    let old = salts.salt(at(2, 9), at(20, 9)).expect("a salt");
    assert_eq!(
        salts.salt(at(2, 18), at(20, 10)).unwrap(),
        old,
        "one import, one salt"
    );
    assert!(
        everything_kept(root.path()).is_empty(),
        "an old day's salt was written"
    );
    let other = DailySalts::open(root.path(), at(20, 9)).expect("open");
    assert_ne!(other.salt(at(2, 9), at(20, 9)).unwrap(), old);
}

#[cfg(unix)]
#[test]
fn salts_are_the_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().expect("a temp dir");
    let salts = DailySalts::open(root.path(), at(10, 9)).expect("open");
    salts.salt(at(10, 9), at(10, 9)).expect("a salt");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(salts.dir()), 0o700);
    assert_eq!(mode(&salts.dir().join("2026-03-10")), 0o600);
}
