//! Event ids in UUID version 4 format without a `uuid` dependency.
//!
//! Each id packs two 64-bit words. The first is a bijective mix (the
//! SplitMix64 finaliser) of a per-process counter XOR a per-process seed, so
//! ids from one process never repeat (for 2^64 ids). The second is a
//! per-process seed drawn from `std`'s randomly keyed `RandomState`, the start
//! time and the process id, so ids from different processes differ with high
//! probability. The version nibble is set to 4 and the variant bits to `10`;
//! the four bits of the first word that the version nibble displaces are kept
//! in the second word, so no counter bits are lost.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);
static SEEDS: OnceLock<(u64, u64)> = OnceLock::new();

fn seeds() -> (u64, u64) {
    *SEEDS.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let seed = |salt: u64| {
            let mut h = RandomState::new().build_hasher();
            h.write_u128(nanos);
            h.write_u32(std::process::id());
            h.write_u64(salt);
            h.finish()
        };
        (seed(1), seed(2))
    })
}

/// SplitMix64's finaliser: a bijection on `u64` with good avalanche.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A fresh id such as `7bf73129-1428-4cd3-a780-95db273d1602`.
pub(crate) fn new_event_id() -> String {
    let (s1, s2) = seeds();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let a = mix64(n ^ s1);
    let hi = (a & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let lo = (s2 & 0x3fff_ffff_ffff_fff0) | 0x8000_0000_0000_0000 | ((a >> 12) & 0xf);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_uuid_v4_shaped_and_unique() {
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let id = new_event_id();
            assert_eq!(id.len(), 36);
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(parts[2].starts_with('4'));
            assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
            assert!(seen.insert(id));
        }
    }
}
