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

/// The signature Google documents for function calls that did not come from the model.
pub const SKIP_VALIDATOR: &str = "skip_thought_signature_validator";

/// Signatures by tool-call id, kept for the model that made them.
pub type Signatures = crate::upstream::providers::call_memo::CallMemo;

/// Whether `upstream_model` checks signatures: Gemini 3 and later (1.x and 2.x do not, and
/// might not take a signature they did not make).
/// A name that is not Gemini's (Gemma, a tuned model) does not: nothing says it checks, and it
/// might refuse a signature it did not make.
pub fn validates(upstream_model: &str) -> bool {
    super::version_at_least(upstream_model, (3, 0))
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
}
