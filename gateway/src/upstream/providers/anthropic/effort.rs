//! Effort on Claude: the chat form's `reasoning_effort` as Anthropic's `output_config.effort`.
//!
//! Anthropic's Messages API takes `output_config: {"effort": …}` (generally available, no beta
//! header) with the levels [`LEVELS`]; which of them a model takes differs (Opus 4.5 low to
//! high, `max` from Opus and Sonnet 4.6, `xhigh` from Opus 4.7 and Sonnet 5), most models run
//! at `high` when the request names none (Opus 5.5 and Haiku 5.5 at `medium`), and Haiku 4.5,
//! Sonnet 4.5 and older take no effort at all. The catalog lists each model's levels and
//! default (`efforts`, `default_effort`, from `scripts/seed_catalog.py`), and
//! `upstream::fit` fits a request's `reasoning_effort` to them before this adapter sees it:
//! the nearest level the model takes, or none for a model that takes no effort (or that the
//! catalog does not know). This module only spells the fitted value as Anthropic does.
//!
//! Sources (read 2026-12-07): platform.claude.com/docs/en/build-with-claude/effort (the
//! levels, which models take `max` and `xhigh`, the defaults, the supported models);
//! platform.claude.com/docs/en/models (Haiku 4.5: effort not supported);
//! docs.litellm.ai/docs/providers/anthropic_effort (LiteLLM sends OpenAI's
//! `reasoning_effort` to Claude as `output_config.effort` the same way).

/// The effort levels Anthropic's API takes, lowest first: what `/v1/messages` accepts as
/// `output_config.effort`.
pub const LEVELS: [&str; 5] = ["low", "medium", "high", "xhigh", "max"];

/// The `output_config.effort` sent for a (fitted) `reasoning_effort`: Anthropic's own levels
/// as they are, OpenAI's `none` and `minimal`, which Claude has not, as its least (`low`);
/// `None` for a value neither API knows.
pub fn level(reasoning_effort: &str) -> Option<&'static str> {
    match reasoning_effort {
        "none" | "minimal" => Some("low"),
        other => LEVELS.into_iter().find(|l| *l == other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_only_values_read_as_the_least_and_unknown_ones_as_none() {
        for l in LEVELS {
            assert_eq!(level(l), Some(l));
        }
        assert_eq!(level("none"), Some("low"));
        assert_eq!(level("minimal"), Some("low"));
        assert_eq!(level("extreme"), None);
        assert_eq!(level("HIGH"), None);
    }
}
