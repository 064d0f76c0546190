//! What a model attached to its tool calls and needs back on the next turn, kept by the
//! gateway because OpenAI's wire has no place for it: Gemini 3's thought signatures
//! (`gemini::signatures`) and Claude's thinking blocks (`anthropic`). Keyed by the tool call's
//! id (unique per call) and the model that made it: another model refuses what it did not
//! make. In memory, bounded by size and age; a replica that did not serve the call, or a
//! restart, has nothing to give back.

use std::sync::Arc;
use std::time::Duration;

/// At most this many bytes are kept (older entries go first).
const MAX_BYTES: u64 = 32 * 1024 * 1024;
/// An entry is kept this long after its answer: agent loops continue within minutes.
const TIME_TO_LIVE: Duration = Duration::from_secs(6 * 3600);

/// Opaque payloads by tool-call id.
#[derive(Clone)]
pub struct CallMemo {
    /// Tool-call id → (upstream model, payload).
    by_call: moka::sync::Cache<String, Arc<(String, String)>>,
}

impl std::fmt::Debug for CallMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallMemo")
            .field("entries", &self.by_call.entry_count())
            .finish()
    }
}

impl Default for CallMemo {
    fn default() -> Self {
        CallMemo {
            by_call: moka::sync::Cache::builder()
                .max_capacity(MAX_BYTES)
                .weigher(|id: &String, v: &Arc<(String, String)>| {
                    u32::try_from(id.len() + v.0.len() + v.1.len()).unwrap_or(u32::MAX)
                })
                .time_to_live(TIME_TO_LIVE)
                .build(),
        }
    }
}

/// One memo per kind of payload for the whole process: every provider instance of a vendor
/// (a model's several deployments, keys or regions) shares it, so the next turn finds what
/// the last one kept whichever instance serves it. Ids are unique per call and the model is
/// checked, so sharing mixes nothing up.
pub mod shared {
    use std::sync::LazyLock;

    use super::CallMemo;

    /// Gemini's thought signatures.
    pub static SIGNATURES: LazyLock<CallMemo> = LazyLock::new(CallMemo::default);
    /// Claude's thinking blocks.
    pub static THINKING: LazyLock<CallMemo> = LazyLock::new(CallMemo::default);
    /// The Responses API's encrypted reasoning items.
    pub static REASONING: LazyLock<CallMemo> = LazyLock::new(CallMemo::default);
}

impl CallMemo {
    /// Keeps `payload`, which `model` attached to the call answered as `call_id`.
    pub fn remember(&self, call_id: &str, model: &str, payload: &str) {
        self.by_call.insert(
            call_id.to_owned(),
            Arc::new((model.to_owned(), payload.to_owned())),
        );
    }

    /// The payload `model` attached to `call_id`, if this process kept it.
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
}
