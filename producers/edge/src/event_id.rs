//! The keyed event id: what becomes of CloudFront's request id before it is stored.
//!
//! CloudFront's logs print the request id beside the client's address, so an archived event whose
//! `event_id` were the request id would be one join away from its raw IP. With an
//! `event_id_key` configured, every producer stores instead
//! `k1-` ‖ `hex(BLAKE3-keyed(key, request id))[..32]`, the key derived from the configured secret
//! with BLAKE3's key derivation (context [`KEY_CONTEXT`]). The same request id under the same key
//! gives the same event id whichever producer saw it (the edge, the real-time or the standard
//! logs, `tally import`), so a request two producers see still counts once; without the key no
//! one can tell which log line an event came from.

use crate::keys::derived;
use crate::visitor::hex;

/// BLAKE3 key-derivation context for the event-id key.
pub const KEY_CONTEXT: &str = "tally 2026-12 event id v1";

/// What starts every keyed event id (the schema's pattern allows it; no request id CloudFront
/// makes contains `-`).
pub const PREFIX: &str = "k1-";

/// Bytes of hash kept (hex doubles them).
const HASH_BYTES: usize = 16;

/// The event id of the request `request_id` under `key`.
pub fn keyed_event_id(key: &[u8], request_id: &str) -> String {
    let key = derived(KEY_CONTEXT, key);
    let hash = blake3::keyed_hash(&key, request_id.as_bytes());
    let mut id = String::with_capacity(PREFIX.len() + 2 * HASH_BYTES);
    id.push_str(PREFIX);
    id.push_str(&hex(&hash.as_bytes()[..HASH_BYTES]));
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::is_event_id;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn stable_keyed_distinct_and_an_event_id() {
        let a = keyed_event_id(
            KEY,
            "Lg0b3Cq7V5EXAMPLEa1Q8mZp0hWUv9Rk2sNt4dYcXo6FjHbLi1PqRA==",
        );
        assert!(is_event_id(&a), "{a}");
        assert_eq!(a.len(), PREFIX.len() + 32);
        assert!(a.starts_with(PREFIX));
        assert_eq!(
            a,
            keyed_event_id(
                KEY,
                "Lg0b3Cq7V5EXAMPLEa1Q8mZp0hWUv9Rk2sNt4dYcXo6FjHbLi1PqRA=="
            )
        );
        assert_ne!(
            a,
            keyed_event_id(
                KEY,
                "Lg0b3Cq7V5EXAMPLEa1Q8mZp0hWUv9Rk2sNt4dYcXo6FjHbLi1PqRB=="
            )
        );
        assert_ne!(
            a,
            keyed_event_id(
                b"another key of 32 bytes or more!",
                "Lg0b3Cq7V5EXAMPLEa1Q8mZp0hWUv9Rk2sNt4dYcXo6FjHbLi1PqRA=="
            )
        );
        assert!(!a.contains("Lg0b3"), "the request id shows through: {a}");
    }

    #[test]
    fn unrelated_to_the_visitor_hash_under_the_same_secret() {
        assert_ne!(
            derived(KEY_CONTEXT, KEY),
            derived(crate::visitor::KEY_CONTEXT, KEY)
        );
    }
}
