//! What a model attached to its tool calls and needs back on the next turn, kept by the
//! gateway because OpenAI's wire has no place for it: Gemini 3's thought signatures
//! (`gemini::signatures`), Claude's thinking blocks (`anthropic`) and the Responses API's
//! encrypted reasoning items (`openai::responses`). Keyed by the client key the answer was
//! relayed for (`CallMemo::scoped`: a tenant never gets back another's payload, even knowing
//! its call id), the tool call's id (unique per call) and the model that made it: another
//! model refuses what it did not make. In memory,
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

/// Opaque payloads by client key and tool-call id.
#[derive(Clone)]
pub struct CallMemo {
    /// [`slot`] of the client key and tool-call id → (upstream model, payload).
    by_call: moka::sync::Cache<String, Arc<(String, String)>>,
    /// This memo's name in a call's shared record.
    field: &'static str,
    /// The client key whose calls this handle keeps and recalls (`None`: no client keys).
    scope: Option<Arc<str>>,
}

/// Where `call_id`'s payload for the client key `scope` is kept.
fn slot(scope: Option<&str>, call_id: &str) -> String {
    match scope {
        Some(key) => format!("{key}{SEPARATOR}{call_id}"),
        None => call_id.to_owned(),
    }
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

    /// Whether any memo holds something for `call_id`, relayed for the client key `scope`.
    pub fn knows(&self, scope: Option<&str>, call_id: &str) -> bool {
        let at = slot(scope, call_id);
        self.each().iter().any(|m| m.by_call.contains_key(&at))
    }

    /// What the memos hold for `call_id` (relayed for `scope`), as a shared record's entries:
    /// (memo name, value).
    pub fn entries(&self, scope: Option<&str>, call_id: &str) -> Vec<(&'static str, String)> {
        let at = slot(scope, call_id);
        self.each()
            .into_iter()
            .filter_map(|m| {
                let v = m.by_call.get(&at)?;
                Some((m.field, format!("{}{SEPARATOR}{}", v.0, v.1)))
            })
            .collect()
    }

    /// Keeps what a shared record's entry `name` holds for `call_id` (read for `scope`); names
    /// of no memo are ignored.
    pub fn adopt(&self, scope: Option<&str>, call_id: &str, name: &str, value: &str) {
        let Some((model, payload)) = value.split_once(SEPARATOR) else {
            return;
        };
        if let Some(memo) = self.each().into_iter().find(|m| m.field == name) {
            memo.scoped(scope).remember(call_id, model, payload);
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
            scope: None,
        }
    }

    /// This memo as seen by requests of the client key `scope` (`None`: without client keys):
    /// what it keeps, only requests of the same key recall. The store is shared.
    pub fn scoped(&self, scope: Option<&str>) -> CallMemo {
        CallMemo {
            by_call: self.by_call.clone(),
            field: self.field,
            scope: scope.map(Arc::from),
        }
    }

    /// Keeps `payload`, which `model` attached to the call answered as `call_id`.
    pub fn remember(&self, call_id: &str, model: &str, payload: &str) {
        self.by_call.insert(
            slot(self.scope.as_deref(), call_id),
            Arc::new((model.to_owned(), payload.to_owned())),
        );
    }

    /// The payload `model` attached to `call_id`, if this process kept (or fetched) it for
    /// this handle's client key.
    pub fn recall(&self, call_id: &str, model: &str) -> Option<String> {
        self.by_call
            .get(&slot(self.scope.as_deref(), call_id))
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
        let entries = one.entries(None, "call_abcdefgh");
        assert_eq!(entries.len(), 1);
        let other = Memos::default();
        for (name, value) in &entries {
            other.adopt(None, "call_abcdefgh", name, value);
        }
        other.adopt(None, "call_abcdefgh", "owner", "claude-opus-5");
        assert!(other.knows(None, "call_abcdefgh"));
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

    #[test]
    fn a_payload_is_recalled_only_for_the_client_key_it_was_kept_for() {
        let memo = CallMemo::default();
        memo.scoped(Some("key_a"))
            .remember("call_abcdefgh", "claude-opus-5", "mine");
        let recall = |scope| memo.scoped(scope).recall("call_abcdefgh", "claude-opus-5");
        assert_eq!(recall(Some("key_a")).as_deref(), Some("mine"));
        assert_eq!(recall(Some("key_b")), None);
        assert_eq!(recall(None), None);
        let memos = Memos {
            thinking: memo,
            ..Memos::default()
        };
        assert!(memos.knows(Some("key_a"), "call_abcdefgh"));
        assert!(!memos.knows(Some("key_b"), "call_abcdefgh"));
        assert!(memos.entries(Some("key_b"), "call_abcdefgh").is_empty());
    }
}
