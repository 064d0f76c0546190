//! What a model attached to its tool calls and needs back on the next turn, kept by the
//! gateway because OpenAI's wire has no place for it: Gemini 3's thought signatures
//! (`gemini::signatures`), Claude's thinking blocks (`anthropic`) and the Responses API's
//! encrypted reasoning items (`openai::responses`). Keyed by the tool call's id (unique per
//! call) and the model that made it: another model refuses what it did not make. In memory,
//! bounded by size and age; with `[redis]` also written to the replicas' shared record of the
//! call, from which a replica that did not relay it (or one restarted since) fetches it before
//! the next turn (`crate::routing::shared_calls`).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::auth::SharedCounters;

/// At most this many bytes are kept (older entries go first).
const MAX_BYTES: u64 = 32 * 1024 * 1024;
/// An entry is kept this long after its answer: agent loops continue within minutes.
pub(crate) const TIME_TO_LIVE: Duration = Duration::from_secs(6 * 3600);

/// Separates the model from the payload in a shared record's field.
const SEPARATOR: char = '\u{1f}';

/// Whether `call_id` is unique enough to key shared state by: ids too short or too regular
/// (`call_0`; Kimi's `functions.name:0`) could repeat in another conversation.
pub(crate) fn shareable(call_id: &str) -> bool {
    call_id.len() >= 8 && !call_id.contains(':')
}

/// Where a gateway's memos publish what they keep: set once `[redis]` is connected.
type SharedSlot = Arc<OnceLock<Arc<SharedCounters>>>;

/// Opaque payloads by tool-call id.
#[derive(Clone)]
pub struct CallMemo {
    /// Tool-call id → (upstream model, payload).
    by_call: moka::sync::Cache<String, Arc<(String, String)>>,
    /// This memo's field in a call's shared record.
    field: &'static str,
    shared: SharedSlot,
}

impl std::fmt::Debug for CallMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallMemo")
            .field("field", &self.field)
            .field("entries", &self.by_call.entry_count())
            .finish()
    }
}

impl Default for CallMemo {
    fn default() -> Self {
        CallMemo::new("payload", SharedSlot::default())
    }
}

/// The memos of one gateway, one per kind of payload: every provider instance of a vendor (a
/// model's several deployments, keys or regions) holds the same one, so the next turn finds
/// what the last one kept whichever instance serves it. Ids are unique per call and the model
/// is checked, so sharing mixes nothing up.
#[derive(Clone, Debug)]
pub struct Memos {
    /// Gemini's thought signatures.
    pub signatures: CallMemo,
    /// Claude's thinking blocks.
    pub thinking: CallMemo,
    /// The Responses API's encrypted reasoning items.
    pub reasoning: CallMemo,
    shared: SharedSlot,
}

impl Default for Memos {
    fn default() -> Self {
        let shared = SharedSlot::default();
        Memos {
            signatures: CallMemo::new("signature", Arc::clone(&shared)),
            thinking: CallMemo::new("thinking", Arc::clone(&shared)),
            reasoning: CallMemo::new("reasoning", Arc::clone(&shared)),
            shared,
        }
    }
}

impl Memos {
    /// Publishes what the memos keep from now on to the replicas' shared records (`[redis]`).
    pub fn share_through(&self, shared: Option<Arc<SharedCounters>>) {
        if let Some(shared) = shared {
            let _ = self.shared.set(shared);
        }
    }

    fn each(&self) -> [&CallMemo; 3] {
        [&self.signatures, &self.thinking, &self.reasoning]
    }

    /// Whether any memo holds something for `call_id`.
    pub fn knows(&self, call_id: &str) -> bool {
        self.each().iter().any(|m| m.by_call.contains_key(call_id))
    }

    /// Keeps, without publishing it again, what a shared record's `field` holds for
    /// `call_id`; fields of no memo are ignored.
    pub fn adopt(&self, call_id: &str, field: &str, value: &str) {
        let Some((model, payload)) = value.split_once(SEPARATOR) else {
            return;
        };
        if let Some(memo) = self.each().into_iter().find(|m| m.field == field) {
            memo.keep(call_id, model, payload);
        }
    }
}

impl CallMemo {
    fn new(field: &'static str, shared: SharedSlot) -> Self {
        CallMemo {
            by_call: moka::sync::Cache::builder()
                .max_capacity(MAX_BYTES)
                .weigher(|id: &String, v: &Arc<(String, String)>| {
                    u32::try_from(id.len() + v.0.len() + v.1.len()).unwrap_or(u32::MAX)
                })
                .time_to_live(TIME_TO_LIVE)
                .build(),
            field,
            shared,
        }
    }

    /// Keeps `payload`, which `model` attached to the call answered as `call_id`, and
    /// publishes it to the call's shared record when replicas share one.
    pub fn remember(&self, call_id: &str, model: &str, payload: &str) {
        self.keep(call_id, model, payload);
        if let (Some(shared), true) = (self.shared.get(), shareable(call_id)) {
            crate::auth::publish_call_field(
                shared,
                call_id,
                self.field.to_owned(),
                format!("{model}{SEPARATOR}{payload}"),
                TIME_TO_LIVE,
            );
        }
    }

    fn keep(&self, call_id: &str, model: &str, payload: &str) {
        self.by_call.insert(
            call_id.to_owned(),
            Arc::new((model.to_owned(), payload.to_owned())),
        );
    }

    /// The payload `model` attached to `call_id`, if this process kept (or fetched) it.
    pub fn recall(&self, call_id: &str, model: &str) -> Option<String> {
        self.by_call
            .get(call_id)
            .filter(|v| v.0 == model)
            .map(|v| v.1.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_is_recalled_only_for_the_model_that_made_it() {
        let s = CallMemo::default();
        s.remember("call_a", "gemini-3.5-flash", "sig");
        assert_eq!(
            s.recall("call_a", "gemini-3.5-flash").as_deref(),
            Some("sig")
        );
        assert_eq!(s.recall("call_a", "gemini-3.1-pro-preview"), None);
        assert_eq!(s.recall("call_b", "gemini-3.5-flash"), None);
    }

    #[test]
    fn a_shared_record_is_adopted_by_the_memo_of_its_field() {
        let memos = Memos::default();
        memos.adopt("call_abcdefgh", "thinking", "claude-opus-5\u{1f}[{}]");
        memos.adopt("call_abcdefgh", "owner:key", "claude-opus-5");
        assert!(memos.knows("call_abcdefgh"));
        assert_eq!(
            memos
                .thinking
                .recall("call_abcdefgh", "claude-opus-5")
                .as_deref(),
            Some("[{}]")
        );
        assert_eq!(
            memos.signatures.recall("call_abcdefgh", "claude-opus-5"),
            None
        );
        assert!(shareable("call_abcdefgh") && !shareable("call_0") && !shareable("fn.a:0000000"));
    }
}
