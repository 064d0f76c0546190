//! What replicas share about the tool calls they relayed (`crate::routing::shared_calls`):
//! one Redis hash per call, `call:{call id}`, written in one command when the answer holding
//! the call is relayed and kept for a given time. Reads and writes each have their own
//! one-second back-off, apart from the limits': a slow record costs a miss, never a second of unshared
//! limits, and a Redis that is down costs one timeout a second, not one per tool turn.

use std::collections::HashMap;
use std::time::Duration;

use super::SharedCounters;

impl SharedCounters {
    /// Whether Claude's thinking text may go into the records (`[redis] share_thinking`).
    pub fn shares_thinking(&self) -> bool {
        self.share_thinking
    }

    /// Writes each call's `fields` into its record, kept `ttl` from now: one round trip for
    /// all of them. A failed write only costs another replica a miss: counted and logged,
    /// never an error.
    pub async fn put_call_records(&self, records: &[(&str, Vec<(String, String)>)], ttl: Duration) {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut pipe = redis::pipe();
        for (call_id, fields) in records.iter().filter(|(_, f)| !f.is_empty()) {
            let key = self.call_key(call_id);
            let hset = pipe.cmd("HSET").arg(&key);
            for (field, value) in fields {
                hset.arg(field).arg(value);
            }
            hset.ignore();
            pipe.cmd("PEXPIRE").arg(&key).arg(ms).ignore();
        }
        let mut conn = self.conn.clone();
        if let Err(e) = self
            .bounded_with(
                pipe.query_async::<()>(&mut conn),
                &self.call_writes_skip_until_us,
            )
            .await
        {
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
        let read = self
            .bounded_with(
                pipe.query_async::<Vec<HashMap<String, String>>>(&mut conn),
                &self.call_reads_skip_until_us,
            )
            .await;
        match read {
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
