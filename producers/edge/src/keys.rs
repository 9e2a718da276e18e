//! Keys derived from configured secrets, cached per thread.
//!
//! Every keyed hash of the edge core (the visitor hash, the event id) derives its BLAKE3 key from
//! a configured secret under its own context, so one secret used for both still gives unrelated
//! keys. Deriving costs about as much as the hash itself and the secrets rarely change, so each
//! thread keeps the last few.

use std::cell::RefCell;

/// Derived keys a thread keeps: one per context in use, with room for a rotation.
const CACHED: usize = 4;

/// A context, a secret and the key derived from them.
type Entry = (&'static str, Box<[u8]>, [u8; 32]);

thread_local! {
    static CACHE: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// `blake3::derive_key(context, secret)`, from the thread's cache when it was derived before.
pub(crate) fn derived(context: &'static str, secret: &[u8]) -> [u8; 32] {
    CACHE.with(|cell| {
        let mut cache = cell.borrow_mut();
        if let Some((_, _, key)) = cache
            .iter()
            .find(|(c, s, _)| *c == context && **s == *secret)
        {
            return *key;
        }
        let key = blake3::derive_key(context, secret);
        if cache.len() == CACHED {
            cache.remove(0);
        }
        cache.push((context, secret.into(), key));
        key
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_answers_what_derivation_would() {
        for round in 0..3 {
            for (context, secret) in [("a", &b"one"[..]), ("b", b"one"), ("a", b"two")] {
                assert_eq!(
                    derived(context, secret),
                    blake3::derive_key(context, secret),
                    "round {round}: {context} {secret:?}"
                );
            }
        }
        for n in 0..10u8 {
            let secret = [n; 40];
            assert_eq!(derived("c", &secret), blake3::derive_key("c", &secret));
        }
    }
}
