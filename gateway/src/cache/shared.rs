//! The shared tier of the exact cache (`[cache] shared`, with `[redis]`): every answer a
//! replica stores is also written to Redis under its key's hex, with the cache's TTL, and a
//! replica that misses in memory asks Redis before going upstream, then keeps what it got in
//! memory for the rest of the answer's life. So a repeated request is answered once across
//! all replicas, not once per replica.
//!
//! Redis holds JSON (the [`Stored`] answer and when it was stored, on the gateway's clock): the
//! TTL is kept by Redis (`SET … PX`) and checked again on read against the stored time, so a
//! replica whose clock runs ahead cannot serve an answer past its TTL. Semantic lookups and
//! request coalescing stay per replica. A Redis that fails is a miss (or a lost write),
//! counted in `switchyard_redis_unavailable_total{op="cache"}`, never an error.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{CacheKey, Stored};
use crate::auth::shared::SharedCounters;

#[derive(Serialize)]
struct Out<'a> {
    stored_unix_ms: u64,
    answer: &'a Stored,
    /// Per choice (in order), which stop sequence ended it: the wire type leaves it out of
    /// its JSON (Chat Completions has no field for it), but `/v1/messages` reports it.
    stop_sequences: Vec<Option<&'a str>>,
}

#[derive(Deserialize)]
struct In {
    stored_unix_ms: u64,
    answer: Stored,
    /// Absent from entries written before it (their answers read back without it).
    #[serde(default)]
    stop_sequences: Vec<Option<String>>,
}

/// The Redis side of the cache.
#[derive(Clone, Debug)]
pub(super) struct SharedAnswers {
    pub(super) counters: Arc<SharedCounters>,
}

impl SharedAnswers {
    /// The answer another replica stored under `key` and how old it is, unless it is
    /// missing, unreadable or past `ttl` at `now_ms`.
    pub(super) async fn get(
        &self,
        key: &CacheKey,
        now_ms: u64,
        ttl: Duration,
    ) -> Option<(Stored, Duration)> {
        let bytes = self.counters.cached_answer(&key.hex()).await?;
        let found: In = match serde_json::from_slice(&bytes) {
            Ok(found) => found,
            Err(e) => {
                // Written by another version, or not by us: a miss, the next store replaces it.
                tracing::debug!(key = %key.hex(), error = %e, "Unreadable shared cache entry.");
                return None;
            }
        };
        let age = Duration::from_millis(now_ms.saturating_sub(found.stored_unix_ms));
        let mut answer = found.answer;
        for (choice, sequence) in answer
            .completion
            .choices
            .iter_mut()
            .zip(found.stop_sequences)
        {
            choice.stop_sequence = sequence;
        }
        (age < ttl).then_some((answer, age))
    }

    /// Writes `answer` for the other replicas in the background (a request's end never waits
    /// on Redis).
    pub(super) fn put(&self, key: &CacheKey, answer: &Stored, now_ms: u64, ttl: Duration) {
        let Ok(bytes) = serde_json::to_vec(&Out {
            stored_unix_ms: now_ms,
            answer,
            stop_sequences: answer
                .completion
                .choices
                .iter()
                .map(|c| c.stop_sequence.as_deref())
                .collect(),
        }) else {
            return;
        };
        let (counters, name) = (Arc::clone(&self.counters), key.hex());
        let work = async move { counters.store_answer(&name, bytes, ttl).await };
        self.counters.detach(work);
    }

    /// [`Self::remove`] after `delay`, in the background. Not on the request tracker: waiting
    /// for idle or shutting down does not wait for it (a shutdown abandons it, and the answer
    /// then lives out its TTL in Redis).
    pub(super) fn remove_later(&self, key: CacheKey, source_request_id: String, delay: Duration) {
        let answers = self.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                tokio::time::sleep(delay).await;
                answers.remove(&key, &source_request_id).await;
            });
        }
    }

    /// Deletes the answer under `key` if it is still the one request `source_request_id`
    /// made ([`super::ResponseCache::evict_answer_of`]); whether one was deleted.
    pub(super) async fn remove(&self, key: &CacheKey, source_request_id: &str) -> bool {
        // The stored JSON writes the id exactly so (serde_json, no spaces); an answer's text
        // cannot forge it, since its quotes are escaped there.
        let Ok(id) = serde_json::to_string(source_request_id) else {
            return false;
        };
        let needle = format!("\"source_request_id\":{id}");
        self.counters.forget_answer(&key.hex(), &needle).await
    }
}
