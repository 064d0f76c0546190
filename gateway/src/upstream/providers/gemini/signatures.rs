//! Gemini 3's thought signatures across turns.
//!
//! A Gemini 3 model attaches an opaque `thoughtSignature` to the function calls it makes, and
//! answers 400 to a later request whose history holds its function call without it ("missing
//! a thought_signature"), whatever the thinking level. OpenAI's wire has no place for it, so an
//! OpenAI client sends the call back without one. The adapter keeps each signature here,
//! under the tool call's id (unique per call) and the model that made it (a signature from
//! another model is refused as invalid), and puts it back on the call. Where it has none (a
//! call another model made, as happens when `auto` routes the turns of one conversation to
//! different models; another replica's call; a restart), it sends the value Google documents
//! for histories that did not come from this model, which skips the check.

use std::sync::Arc;
use std::time::Duration;

/// The signature Google documents for function calls that did not come from the model.
pub const SKIP_VALIDATOR: &str = "skip_thought_signature_validator";

/// At most this many bytes of signatures are kept (older ones go first).
const MAX_BYTES: u64 = 32 * 1024 * 1024;
/// A tool call's signature is kept this long after its answer: agent loops continue within
/// minutes, and a conversation resumed later gets [`SKIP_VALIDATOR`].
const TIME_TO_LIVE: Duration = Duration::from_secs(6 * 3600);

/// Signatures by tool-call id.
#[derive(Clone)]
pub struct Signatures {
    /// Tool-call id → (upstream model, signature).
    by_call: moka::sync::Cache<String, Arc<(String, String)>>,
}

impl std::fmt::Debug for Signatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signatures")
            .field("entries", &self.by_call.entry_count())
            .finish()
    }
}

impl Default for Signatures {
    fn default() -> Self {
        Signatures {
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

impl Signatures {
    /// Keeps `signature`, which `model` attached to the call answered as `call_id`.
    pub fn remember(&self, call_id: &str, model: &str, signature: &str) {
        self.by_call.insert(
            call_id.to_owned(),
            Arc::new((model.to_owned(), signature.to_owned())),
        );
    }

    /// The signature `model` attached to `call_id`, if this process kept it.
    pub fn recall(&self, call_id: &str, model: &str) -> Option<String> {
        self.by_call
            .get(call_id)
            .filter(|v| v.0 == model)
            .map(|v| v.1.clone())
    }
}

/// Whether `upstream_model` checks signatures: Gemini 3 and later (1.x and 2.x do not, and
/// might not take a signature they did not make).
pub fn validates(upstream_model: &str) -> bool {
    let name = upstream_model
        .strip_prefix("models/")
        .unwrap_or(upstream_model);
    let Some(version) = name.strip_prefix("gemini-") else {
        // Not a Gemini name (Gemma, a tuned model): nothing says it checks, and it might
        // refuse a signature it did not make.
        return false;
    };
    let major: String = version.chars().take_while(char::is_ascii_digit).collect();
    major.parse::<u32>().map_or(true, |m| m >= 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_3_and_later_validate() {
        assert!(validates("gemini-3.1-pro-preview"));
        assert!(validates("models/gemini-3.5-flash"));
        assert!(validates("gemini-4-argon"));
        assert!(!validates("gemini-2.5-flash"));
        assert!(!validates("gemini-1.5-pro"));
        assert!(!validates("gemma-3-27b-it"));
    }

    #[test]
    fn a_signature_is_recalled_only_for_the_model_that_made_it() {
        let s = Signatures::default();
        s.remember("call_a", "gemini-3.5-flash", "sig");
        assert_eq!(
            s.recall("call_a", "gemini-3.5-flash").as_deref(),
            Some("sig")
        );
        assert_eq!(s.recall("call_a", "gemini-3.1-pro-preview"), None);
        assert_eq!(s.recall("call_b", "gemini-3.5-flash"), None);
    }
}
