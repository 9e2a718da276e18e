//! The optional daily visitor hash.
//!
//! `visitor_hash = hex(BLAKE3-keyed(key, site ‖ ip ‖ user agent ‖ UTC day))[..32]`, where the key
//! is derived from the configured secret with BLAKE3's key derivation (context
//! [`KEY_CONTEXT`]) and every input is length-prefixed, so no two inputs share an encoding.
//!
//! - The IP is the client's, with IPv6 addresses cut to their /64 network (a device changes the
//!   low 64 bits often, for privacy); it is used here and nowhere else.
//! - The UTC day makes the hash change every day: the same visitor cannot be followed across days.
//! - Without the secret, the hash cannot be recomputed from a guessed IP; rotating the secret
//!   unlinks everything hashed before.
//! - 128 bits, written as 32 lower-case hex digits (the schema allows 16–64).

use std::cell::RefCell;
use std::net::IpAddr;

use chrono::{DateTime, Datelike, Utc};

/// BLAKE3 key-derivation context for the visitor-hash key.
pub const KEY_CONTEXT: &str = "tally 2026-11 edge visitor hash v1";

/// Bytes of hash kept (hex doubles them).
const HASH_BYTES: usize = 16;

/// The visitor hash of one request.
pub fn visitor_hash(
    secret: &[u8],
    site: &str,
    client_ip: &str,
    user_agent: &str,
    now: DateTime<Utc>,
) -> String {
    let mut hasher = blake3::Hasher::new_keyed(&key(secret));
    let ip = network(client_ip);
    let day = day(now);
    for part in [
        site.as_bytes(),
        ip.as_bytes(),
        user_agent.as_bytes(),
        day.as_bytes(),
    ] {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hex(&hasher.finalize().as_bytes()[..HASH_BYTES])
}

/// A secret and the hash key derived from it.
type DerivedKey = (Box<[u8]>, [u8; 32]);

thread_local! {
    /// The last secret this thread hashed with, and the key derived from it: deriving costs about
    /// as much as the hash itself, and the secret rarely changes.
    static KEY: RefCell<Option<DerivedKey>> = const { RefCell::new(None) };
}

/// The hash key of `secret` ([`KEY_CONTEXT`]).
fn key(secret: &[u8]) -> [u8; 32] {
    KEY.with(|cell| {
        let mut cell = cell.borrow_mut();
        match &*cell {
            Some((known, key)) if **known == *secret => *key,
            _ => {
                let key = blake3::derive_key(KEY_CONTEXT, secret);
                *cell = Some((secret.into(), key));
                key
            }
        }
    })
}

/// The UTC day of `now` as `YYYY-MM-DD` (chrono's `%Y-%m-%d`, without parsing the format).
fn day(now: DateTime<Utc>) -> String {
    let date = now.date_naive();
    if (0..=9999).contains(&date.year()) {
        format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day())
    } else {
        now.format("%Y-%m-%d").to_string()
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// An IPv4 address as it is; an IPv6 address cut to its /64; anything else trimmed as given.
fn network(client_ip: &str) -> String {
    match client_ip.trim().parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(ip) => ip.to_string(),
        Err(_) => client_ip.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, h, 0, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn stable_within_a_day_and_keyed() {
        let a = visitor_hash(SECRET, "example.com", "203.0.113.7", "UA", at(0));
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(
            a,
            visitor_hash(SECRET, "example.com", "203.0.113.7", "UA", at(23))
        );
        let next_day = Utc
            .with_ymd_and_hms(2026, 11, 30, 0, 0, 0)
            .single()
            .expect("valid");
        assert_ne!(
            a,
            visitor_hash(SECRET, "example.com", "203.0.113.7", "UA", next_day)
        );
        assert_ne!(
            a,
            visitor_hash(
                b"another secret, 32 bytes or more!",
                "example.com",
                "203.0.113.7",
                "UA",
                at(0)
            )
        );
        assert_ne!(
            a,
            visitor_hash(SECRET, "example.com", "203.0.113.8", "UA", at(0))
        );
        assert_ne!(
            a,
            visitor_hash(SECRET, "example.org", "203.0.113.7", "UA", at(0))
        );
        assert_ne!(
            a,
            visitor_hash(SECRET, "example.com", "203.0.113.7", "UA2", at(0))
        );
        // Length prefixes: moving a boundary changes the hash.
        assert_ne!(
            visitor_hash(SECRET, "ab", "c", "", at(0)),
            visitor_hash(SECRET, "a", "bc", "", at(0))
        );
    }

    #[test]
    fn the_day_is_chronos_and_the_key_follows_the_secret() {
        for (y, m, d) in [
            (2026, 11, 29),
            (2027, 1, 1),
            (999, 2, 3),
            (-5, 6, 7),
            (10_000, 1, 1),
        ] {
            let t = Utc
                .with_ymd_and_hms(y, m, d, 12, 0, 0)
                .single()
                .expect("valid");
            assert_eq!(day(t), t.format("%Y-%m-%d").to_string());
        }
        let other = b"another secret, 32 bytes or more!";
        for secret in [SECRET, other, SECRET] {
            assert_eq!(key(secret), blake3::derive_key(KEY_CONTEXT, secret));
        }
    }

    #[test]
    fn ipv6_by_network() {
        let a = visitor_hash(SECRET, "s", "2001:db8:1:2:aaaa::1", "UA", at(0));
        let b = visitor_hash(SECRET, "s", "2001:db8:1:2:bbbb::2", "UA", at(0));
        let c = visitor_hash(SECRET, "s", "2001:db8:1:3::1", "UA", at(0));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(network("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(network("not an ip"), "not an ip");
    }
}
