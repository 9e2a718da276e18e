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
use std::fmt::Write;
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
    // Written on the stack: this runs on every counted request.
    let mut ip = Buf::new();
    network(client_ip, &mut ip);
    let mut day_buf = Buf::new();
    day(now, &mut day_buf);
    for part in [
        site.as_bytes(),
        ip.as_bytes(),
        user_agent.as_bytes(),
        day_buf.as_bytes(),
    ] {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hex(&hasher.finalize().as_bytes()[..HASH_BYTES])
}

/// A short text written on the stack; what does not fit (only a malformed client address can be
/// that long) goes to the heap.
struct Buf {
    stack: [u8; 64],
    len: usize,
    heap: Option<String>,
}

impl Buf {
    fn new() -> Buf {
        Buf {
            stack: [0; 64],
            len: 0,
            heap: None,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match &self.heap {
            Some(s) => s.as_bytes(),
            None => &self.stack[..self.len],
        }
    }
}

impl Write for Buf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if let Some(heap) = &mut self.heap {
            heap.push_str(s);
        } else if self.len + s.len() <= self.stack.len() {
            self.stack[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
        } else {
            let mut heap = String::from_utf8_lossy(&self.stack[..self.len]).into_owned();
            heap.push_str(s);
            self.heap = Some(heap);
        }
        Ok(())
    }
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
fn day(now: DateTime<Utc>, out: &mut impl Write) {
    let date = now.date_naive();
    // Writing to a `Buf` cannot fail.
    if (0..=9999).contains(&date.year()) {
        write!(
            out,
            "{:04}-{:02}-{:02}",
            date.year(),
            date.month(),
            date.day()
        )
        .ok();
    } else {
        write!(out, "{}", now.format("%Y-%m-%d")).ok();
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
fn network(client_ip: &str, out: &mut impl Write) {
    // Writing to a `Buf` cannot fail.
    match client_ip.trim().parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => write!(out, "{v4}").ok(),
            None => {
                let s = v6.segments();
                write!(out, "{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]).ok()
            }
        },
        Ok(ip) => write!(out, "{ip}").ok(),
        Err(_) => out.write_str(client_ip.trim()).ok(),
    };
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
            assert_eq!(day_text(t), t.format("%Y-%m-%d").to_string());
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
        assert_eq!(network_text("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(network_text(" not an ip "), "not an ip");
    }

    fn day_text(t: DateTime<Utc>) -> String {
        let mut s = String::new();
        day(t, &mut s);
        s
    }

    fn network_text(ip: &str) -> String {
        let mut s = String::new();
        network(ip, &mut s);
        s
    }

    /// The hash is BLAKE3 keyed over the length-prefixed parts, as the module says, whatever
    /// the length of the client address (one too long for the stack buffer included): hashes
    /// made before stay the same.
    #[test]
    fn the_documented_encoding_for_short_and_long_inputs() {
        let long = format!("{}x", "not-an-address-".repeat(6));
        for ip in ["203.0.113.7", "2001:db8:1:2:aaaa::1", long.as_str()] {
            let mut reference = blake3::Hasher::new_keyed(&blake3::derive_key(KEY_CONTEXT, SECRET));
            for part in ["example.com", &network_text(ip), "UA", "2026-11-29"] {
                reference.update(&(part.len() as u64).to_le_bytes());
                reference.update(part.as_bytes());
            }
            let expected = hex(&reference.finalize().as_bytes()[..HASH_BYTES]);
            assert_eq!(
                visitor_hash(SECRET, "example.com", ip, "UA", at(5)),
                expected,
                "{ip}"
            );
        }
        assert!(long.len() > 64);
        assert_eq!(network_text(&long), long);
        // Text that outgrows the stack keeps what was written before it.
        let mut buf = Buf::new();
        for part in ["a".repeat(40), "b".repeat(40), "c".repeat(3)] {
            buf.write_str(&part).expect("writes");
        }
        let expected = format!("{}{}ccc", "a".repeat(40), "b".repeat(40));
        assert_eq!(buf.as_bytes(), expected.as_bytes());
    }
}
