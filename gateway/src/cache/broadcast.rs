//! Bad labels across replicas (`[cache] shared`). A label often reaches another replica than
//! the one that served the request (a load balancer spreads `/v1/feedback` like any call), and
//! every replica that read an answer from Redis keeps a copy in memory. So the replica that
//! gets a bad label publishes it on a Redis channel; a replica that served the request takes
//! the answer out of its memory and of Redis and publishes which answer that was, and every
//! replica holding a copy of that answer drops it.
//!
//! Pub/sub delivers only to connected subscribers: a replica whose subscription is down (Redis
//! restarting) misses the evictions of that time, and its copies live out their TTL as before.
//! The subscription is checked with a ping every 30 s and re-established with a capped
//! back-off. Publishing has a back-off of its own: a failed publish (a Redis user without
//! channel permissions answers NOPERM) never pauses the shared limits.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::CacheKey;
use crate::auth::SharedCounters;
use crate::state::AppState;

/// A bad label, or the answer one condemned, as published on the channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Eviction {
    /// The publishing replica: its own messages come back to it, and it has acted already.
    pub(super) origin: String,
    /// The labelled request.
    pub(super) request_id: String,
    /// The answer the label condemned, once a replica that served the request knows it:
    /// its key (hex) and the request that made it. Absent from the first announcement of a
    /// replica that did not serve the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) answer: Option<(String, String)>,
}

impl Eviction {
    /// The condemned answer's key and source request, when the message names a valid one.
    pub(super) fn answer(&self) -> Option<(CacheKey, &str)> {
        let (key, source) = self.answer.as_ref()?;
        let bytes: [u8; 32] = hex::decode(key).ok()?.try_into().ok()?;
        Some((CacheKey::from_bytes(bytes), source))
    }
}

/// The shortest and longest wait before subscribing again after a failure.
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How often a quiet subscription is checked with a ping, and the least wait for its answer.
const PING_EVERY: Duration = Duration::from_secs(30);
const PING_TIMEOUT_MIN: Duration = Duration::from_secs(1);

/// Publishes `eviction` in the background (a label's response never waits on Redis).
pub(super) fn announce(counters: &Arc<SharedCounters>, eviction: &Eviction) {
    let Ok(message) = serde_json::to_vec(eviction) else {
        return;
    };
    let publisher = Arc::clone(counters);
    counters.detach(async move { publisher.publish_eviction(message).await });
}

/// Follows the evictions channel until `stop` is cancelled or the gateway is gone, when the
/// cache is shared. Not a request task: it runs on a tracker of its own, so that waiting for
/// the requests (`wait_idle`, shutdown) does not wait for it.
pub(crate) fn spawn(state: &AppState, stop: CancellationToken) {
    let Some(counters) = state.cache.as_ref().and_then(|c| c.shared_counters()) else {
        return;
    };
    let state = state.downgrade();
    TaskTracker::new().spawn(async move {
        let mut retry = RETRY_MIN;
        let mut warned = false;
        loop {
            let subscribed = tokio::select! {
                _ = stop.cancelled() => return,
                s = counters.follow_evictions() => s,
            };
            match subscribed {
                Ok(pubsub) => {
                    if warned {
                        tracing::info!("Following cache evictions on Redis again.");
                    }
                    retry = RETRY_MIN;
                    let (mut sink, mut messages) = pubsub.split();
                    let mut ping = tokio::time::interval(PING_EVERY);
                    ping.reset();
                    loop {
                        let message = tokio::select! {
                            _ = stop.cancelled() => return,
                            m = messages.next() => m,
                            _ = ping.tick() => {
                                // A connection that died without closing (a Redis host gone,
                                // a NAT's idle cut) delivers nothing and ends nothing: only
                                // an unanswered ping shows it. Any reply will do: a
                                // subscribed RESP2 connection answers `["pong", ""]`, not
                                // `PONG`.
                                let answered = tokio::time::timeout(
                                    counters.timeout().max(PING_TIMEOUT_MIN),
                                    sink.ping::<redis::Value>(),
                                )
                                .await;
                                if matches!(answered, Ok(Ok(_))) {
                                    continue;
                                }
                                None
                            }
                        };
                        let Some(message) = message else {
                            break;
                        };
                        let Some(state) = state.upgrade() else {
                            return;
                        };
                        handle(&state, message.get_payload_bytes()).await;
                    }
                    tracing::warn!("Lost the Redis subscription to cache evictions; subscribing again. Bad labels published meanwhile are missed here.");
                    warned = true;
                }
                Err(e) if !warned => {
                    tracing::warn!(error = %e, "Cannot follow cache evictions on Redis; retrying. Until then bad labels given to other replicas leave this replica's copies to their TTL.");
                    warned = true;
                }
                Err(e) => tracing::debug!(error = %e, "Still cannot follow cache evictions."),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(retry) => {}
            }
            retry = (retry * 2).min(RETRY_MAX);
        }
    });
}

/// One published message: anything unreadable is skipped (another version, or not ours).
async fn handle(state: &AppState, payload: &[u8]) {
    let Some(cache) = &state.cache else {
        return;
    };
    let eviction: Eviction = match serde_json::from_slice(payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::debug!(error = %e, "Unreadable cache eviction message skipped.");
            return;
        }
    };
    if cache.evict_published(&eviction).await {
        state.metrics.response_cache_evicted("replica");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_eviction_reads_back_its_answer_and_refuses_a_bad_key() {
        let key = CacheKey::from_bytes([7; 32]);
        let e = Eviction {
            origin: "a".into(),
            request_id: "r1".into(),
            answer: Some((key.hex(), "r0".into())),
        };
        let back: Eviction = serde_json::from_slice(&serde_json::to_vec(&e).unwrap()).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.answer(), Some((key, "r0")));
        let first = Eviction {
            answer: None,
            ..e.clone()
        };
        let json = serde_json::to_string(&first).unwrap();
        assert!(!json.contains("answer"), "{json}");
        for bad in ["zz", "0707", ""] {
            let e = Eviction {
                answer: Some((bad.into(), "r0".into())),
                ..e.clone()
            };
            assert_eq!(e.answer(), None, "{bad}");
        }
    }
}
