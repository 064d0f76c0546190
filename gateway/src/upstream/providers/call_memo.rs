//! What a model attached to its tool calls and needs back on the next turn, kept by the
//! gateway because OpenAI's wire has no place for it: Gemini 3's thought signatures
//! (`gemini::signatures`), Claude's thinking blocks (`anthropic`) and the Responses API's
//! encrypted reasoning items (`openai::responses`). Keyed by the tool call's id (unique per
//! call) and the model that made it: another model refuses what it did not make. In memory,
//! bounded by size and age; with `[redis]` the gateway also writes them to the replicas' shared
//! record of the call, from which a replica that did not relay it (or one restarted since)
//! takes them before the next turn (`crate::routing::shared_calls`).

use std::sync::Arc;
use std::time::Duration;

/// At most this many bytes are kept (older entries go first).
const MAX_BYTES: u64 = 32 * 1024 * 1024;
/// An entry is kept this long after its answer: agent loops continue within minutes.
pub(crate) const TIME_TO_LIVE: Duration = Duration::from_secs(6 * 3600);

/// Separates the model from the payload in a shared record's value.
const SEPARATOR: char = '\u{1f}';

/// Whether `call_id` is unique enough to key state shared by replicas or conversations by:
/// ids too short or too regular (`call_0`; Kimi's `functions.name:0`) could repeat in another
/// conversation.
pub(crate) fn shareable(call_id: &str) -> bool {
    call_id.len() >= 8 && !call_id.contains(':')
}

/// Opaque payloads by tool-call id.
#[derive(Clone)]
pub struct CallMemo {
    /// Tool-call id → (upstream model, payload).
    by_call: moka::sync::Cache<String, Arc<(String, String)>>,
    /// This memo's name in a call's shared record.
    field: &'static str,
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
        CallMemo::new("payload")
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
    /// Claude's thinking blocks (plain text: `[redis] share_thinking` decides whether they
    /// leave the process).
    pub thinking: CallMemo,
    /// The Responses API's encrypted reasoning items.
    pub reasoning: CallMemo,
}

impl Default for Memos {
    fn default() -> Self {
        Memos {
            signatures: CallMemo::new("signature"),
            thinking: CallMemo::new(THINKING),
            reasoning: CallMemo::new("reasoning"),
        }
    }
}

/// The thinking memo's name, whose payloads are plain text.
pub(crate) const THINKING: &str = "thinking";

impl Memos {
    fn each(&self) -> [&CallMemo; 3] {
        [&self.signatures, &self.thinking, &self.reasoning]
    }

    /// Whether any memo holds something for `call_id`.
    pub fn knows(&self, call_id: &str) -> bool {
        self.each().iter().any(|m| m.by_call.contains_key(call_id))
    }

    /// What the memos hold for `call_id`, as a shared record's entries: (memo name, value).
    pub fn entries(&self, call_id: &str) -> Vec<(&'static str, String)> {
        self.each()
            .into_iter()
            .filter_map(|m| {
                let v = m.by_call.get(call_id)?;
                Some((m.field, format!("{}{SEPARATOR}{}", v.0, v.1)))
            })
            .collect()
    }

    /// Keeps what a shared record's entry `name` holds for `call_id`; names of no memo are
    /// ignored.
    pub fn adopt(&self, call_id: &str, name: &str, value: &str) {
        let Some((model, payload)) = value.split_once(SEPARATOR) else {
            return;
        };
        if let Some(memo) = self.each().into_iter().find(|m| m.field == name) {
            memo.remember(call_id, model, payload);
        }
    }
}

impl CallMemo {
    fn new(field: &'static str) -> Self {
        CallMemo {
            by_call: moka::sync::Cache::builder()
                .max_capacity(MAX_BYTES)
                .weigher(|id: &String, v: &Arc<(String, String)>| {
                    u32::try_from(id.len() + v.0.len() + v.1.len()).unwrap_or(u32::MAX)
                })
                .time_to_live(TIME_TO_LIVE)
                .build(),
            field,
        }
    }

    /// Keeps `payload`, which `model` attached to the call answered as `call_id`.
    pub fn remember(&self, call_id: &str, model: &str, payload: &str) {
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
    fn a_shared_record_is_adopted_by_the_memo_it_names() {
        let one = Memos::default();
        one.thinking
            .remember("call_abcdefgh", "claude-opus-5", "[{}]");
        let entries = one.entries("call_abcdefgh");
        assert_eq!(entries.len(), 1);
        let other = Memos::default();
        for (name, value) in &entries {
            other.adopt("call_abcdefgh", name, value);
        }
        other.adopt("call_abcdefgh", "owner", "claude-opus-5");
        assert!(other.knows("call_abcdefgh"));
        assert_eq!(
            other
                .thinking
                .recall("call_abcdefgh", "claude-opus-5")
                .as_deref(),
            Some("[{}]")
        );
        assert_eq!(
            other.signatures.recall("call_abcdefgh", "claude-opus-5"),
            None
        );
        assert!(shareable("call_abcdefgh") && !shareable("call_0") && !shareable("fn.a:0000000"));
    }
}
