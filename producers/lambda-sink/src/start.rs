//! Starting a batch's executions, a bounded number at a time.

use std::collections::HashMap;

use tokio::task::JoinSet;

use crate::clients::{CallError, Enrichment};

/// Starts every execution (`(key, name, input)`), at most `concurrency` at a time; the result of
/// each, by its key, in no particular order. A call that panicked counts as failed.
pub async fn start_all<K, E: Enrichment>(
    enrichment: &E,
    starts: Vec<(K, String, String)>,
    concurrency: usize,
) -> Vec<(K, Result<(), CallError>)> {
    let mut out = Vec::with_capacity(starts.len());
    let mut running = JoinSet::new();
    let mut key_of = HashMap::new();
    let mut pending = starts.into_iter();
    loop {
        while running.len() < concurrency.max(1) {
            let Some((key, name, input)) = pending.next() else {
                break;
            };
            let enrichment = enrichment.clone();
            let handle = running.spawn(async move { enrichment.start(name, input).await });
            key_of.insert(handle.id(), key);
        }
        let Some(joined) = running.join_next_with_id().await else {
            break;
        };
        let (id, result) = match joined {
            Ok((id, result)) => (id, result),
            Err(e) => (e.id(), Err(CallError(format!("the call panicked: {e}")))),
        };
        if let Some(key) = key_of.remove(&id) {
            out.push((key, result));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Clone, Default)]
    struct Counting {
        running: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
    }

    impl Enrichment for Counting {
        async fn start(&self, name: String, _input: String) -> Result<(), CallError> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            if name == "bad" {
                return Err(CallError("throttled".into()));
            }
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_start_has_its_result_and_concurrency_is_bounded() {
        let fake = Counting::default();
        let starts: Vec<(usize, String, String)> = (0..20)
            .map(|i| {
                (
                    i,
                    if i == 7 { "bad" } else { "ok" }.to_owned(),
                    String::new(),
                )
            })
            .collect();
        let mut out = start_all(&fake, starts, 3).await;
        out.sort_by_key(|(k, _)| *k);
        assert_eq!(out.len(), 20);
        assert!(out.iter().all(|(k, r)| r.is_ok() == (*k != 7)), "{out:?}");
        assert!(fake.most.load(Ordering::SeqCst) <= 3);
    }
}
