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
    // Formatted on the stack: this runs on every counted request.
    let (mut ip_buf, mut day_buf) = (Stack::new(), Stack::new());
    let ip = network(client_ip, &mut ip_buf);
    let day = day(now, &mut day_buf);
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

/// Room on the stack for what the hash formats: an address (at most 24 bytes, an IPv6 /64) or a
/// day (at most 14, a year past 9999 with its sign).
struct Stack {
    bytes: [u8; 32],
    len: usize,
}

impl Stack {
    fn new() -> Stack {
        Stack {
            bytes: [0; 32],
            len: 0,
        }
    }

    /// Writes `args` and returns the text.
    fn text(&mut self, args: std::fmt::Arguments<'_>) -> &str {
        let fits = self.write_fmt(args).is_ok();
        debug_assert!(fits, "{args} does not fit in the stack buffer");
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl Write for Stack {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.bytes
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// The hash key of `secret` ([`KEY_CONTEXT`]).
fn key(secret: &[u8]) -> [u8; 32] {
    crate::keys::derived(KEY_CONTEXT, secret)
}

/// The UTC day of `now` as `YYYY-MM-DD` (chrono's `%Y-%m-%d`, without parsing the format).
fn day(now: DateTime<Utc>, buf: &mut Stack) -> &str {
    let date = now.date_naive();
    if (0..=9999).contains(&date.year()) {
        let (y, m, d) = (date.year(), date.month(), date.day());
        buf.text(format_args!("{y:04}-{m:02}-{d:02}"))
    } else {
        buf.text(format_args!("{}", now.format("%Y-%m-%d")))
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
fn network<'a>(client_ip: &'a str, buf: &'a mut Stack) -> &'a str {
    match client_ip.trim().parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => buf.text(format_args!("{v4}")),
            None => {
                let s = v6.segments();
                buf.text(format_args!(
                    "{:x}:{:x}:{:x}:{:x}::/64",
                    s[0], s[1], s[2], s[3]
                ))
            }
        },
        Ok(ip) => buf.text(format_args!("{ip}")),
        Err(_) => client_ip.trim(),
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
        day(t, &mut Stack::new()).to_owned()
    }

    fn network_text(ip: &str) -> String {
        network(ip, &mut Stack::new()).to_owned()
    }

    /// The hash is BLAKE3 keyed over the length-prefixed parts, as the module says, for
    /// addresses and for text that is none (hashed as given, however long): hashes made before
    /// stay the same.
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
        // The widest addresses fit on the stack.
        let widest = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        assert_eq!(network_text(widest), "ffff:ffff:ffff:ffff::/64");
        assert_eq!(network_text("255.255.255.255"), "255.255.255.255");
    }
}
