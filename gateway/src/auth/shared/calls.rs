//! What replicas share about the tool calls they relayed (`crate::routing::shared_calls`):
//! one Redis hash per call, `call:{call id}`, whose fields are what a later turn answering
//! that call needs from the replica that relayed it (which model made it, per client key, and
//! the payloads the model attached: Claude's thinking, Gemini's thought signatures, the
//! Responses API's reasoning items). Each write renews the hash's expiry.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::SharedCounters;

impl SharedCounters {
    /// Sets `field` of `call_id`'s record to `value`, the record kept `ttl` from now. A failed
    /// write only costs another replica a miss: counted and logged, never an error.
    pub async fn put_call_field(&self, call_id: &str, field: &str, value: &str, ttl: Duration) {
        let mut conn = self.conn.clone();
        let key = self.call_key(call_id);
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut pipe = redis::pipe();
        pipe.cmd("HSET")
            .arg(&key)
            .arg(field)
            .arg(value)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(ms)
            .ignore();
        if let Err(e) = self.bounded(pipe.query_async::<()>(&mut conn)).await {
            self.note("calls", "dropped", &e);
        }
    }

    /// The records of `call_ids`, in order (empty where Redis has none), in one round trip.
    /// A failed read is a miss for every call: counted and logged, never an error.
    pub async fn call_records(&self, call_ids: &[&str]) -> Vec<HashMap<String, String>> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        for id in call_ids {
            pipe.cmd("HGETALL").arg(self.call_key(id));
        }
        match self
            .bounded(pipe.query_async::<Vec<HashMap<String, String>>>(&mut conn))
            .await
        {
            Ok(records) if records.len() == call_ids.len() => records,
            Ok(_) => vec![HashMap::new(); call_ids.len()],
            Err(e) => {
                self.note("calls", "miss", &e);
                vec![HashMap::new(); call_ids.len()]
            }
        }
    }

    fn call_key(&self, call_id: &str) -> String {
        format!("{}call:{call_id}", self.prefix)
    }
}

/// Writes `field = value` into `call_id`'s shared record off the request's path (on the
/// settlements' tracker, which shutdown waits for).
pub fn publish_call_field(
    shared: &Arc<SharedCounters>,
    call_id: &str,
    field: String,
    value: String,
    ttl: Duration,
) {
    let shared = Arc::clone(shared);
    let call_id = call_id.to_owned();
    let tracker = shared.tracker().clone();
    tracker.spawn(async move {
        shared.put_call_field(&call_id, &field, &value, ttl).await;
    });
}
