//! Effort on Gemini: the chat form's `reasoning_effort` as
//! `generationConfig.thinkingConfig`.
//!
//! Google controls thinking with one of two fields, never both: Gemini 3 and later take a
//! `thinkingLevel` (`minimal`, `low`, `medium`, `high`; which of them differs by model: 3.1
//! Pro `low` to `high`, the Flash and Flash-Lite models all four), and answer 400 to a
//! request carrying a `thinkingBudget` beside it; Gemini 2.5 takes a `thinkingBudget` in
//! tokens (`0` turns thinking off on Flash and Flash-Lite; 2.5 Pro cannot turn it off and
//! takes 128 at the least; Flash-Lite takes 512 at the least above 0) and answers 400 to a
//! `thinkingLevel`; Gemini 2.0 and older have no thinking to control. Google's own
//! OpenAI-compatible endpoint reads `low`, `medium` and `high` as budgets of 1,024, 8,192
//! and 24,576 tokens on 2.5 and `none` as thinking off; this module spends the same
//! budgets. The catalog lists each model's levels and default (`efforts`, `default_effort`,
//! from `scripts/seed_catalog.py`), and `upstream::fit` fits a request's `reasoning_effort`
//! to them before this adapter sees it: the nearest level the model takes (`none` as
//! `minimal` on Gemini 3 Flash, `low` on 3.1 Pro, the least budget on 2.5 Pro), or none for
//! a model that takes no effort or that the catalog does not know, which then thinks at its
//! default. This module only spells the fitted value as Google does.
//!
//! Sources (read 2026-12-07):
//! docs.cloud.google.com/gemini-enterprise-agent-platform/models/thinking (Gemini 3 models
//! think at `HIGH` by default; the levels and default of each model; `thinking_level` on a
//! model before Gemini 3 is an error);
//! docs.cloud.google.com/gemini-enterprise-agent-platform/models/guides/gemini-3-5-flash
//! (3.5 Flash `MINIMAL` to `HIGH`, default `MEDIUM`; 3.1 Pro `LOW` to `HIGH`, default
//! `HIGH`; 3.1 Flash-Lite `MINIMAL` to `HIGH`, default `MINIMAL`);
//! docs.cloud.google.com/vertex-ai/generative-ai/docs/models/gemini/3-flash (3 Flash takes
//! all four levels; `thinking_level` replaces `thinking_budget`);
//! ai.google.dev/gemini-api/docs/thinking, "Set the thinking budget" (2.5 Pro 128 to 32,768,
//! cannot turn thinking off; 2.5 Flash 0 to 24,576; 2.5 Flash-Lite 512 to 24,576, does not
//! think by default, 0 turns it off; -1 dynamic), as quoted in checkmarble/llmberjack#14;
//! ai.google.dev/gemini-api/docs/openai, "Thinking" (`reasoning_effort` low / medium / high
//! as 1,024 / 8,192 / 24,576 budgets on 2.5, `none` turning thinking off), as quoted on
//! feedback.typingmind.com; the 400s: "You can only set only one of thinking budget and
//! thinking level." (sterlp/eclipse-peon-ai#115, `gemini-flash-latest`), a `thinkingLevel`
//! to `gemini-2.5-flash` (Kilo-Org/kilocode#5139), "Thinking level MEDIUM is not supported
//! for this model" (discuss.ai.google.dev, Gemini 3 Pro Preview).

use super::signatures;
use super::wire::ThinkingConfig;

/// The thinking levels Gemini 3 models take, lowest first (each model takes some of them).
pub const LEVELS: [&str; 4] = ["minimal", "low", "medium", "high"];

/// Google's budgets for OpenAI's `low`, `medium` and `high` on Gemini 2.5.
const BUDGETS: [(&str, i32); 3] = [("low", 1024), ("medium", 8192), ("high", 24_576)];

/// The `thinkingConfig` sent to `upstream_model` for a (fitted) `reasoning_effort`: a
/// `thinkingLevel` to Gemini 3 and later (and to a Gemini name without a version, which
/// names a current model), a `thinkingBudget` to Gemini 2.5, nothing to older or
/// non-Gemini models, nor for a value no API knows. With `show_thoughts` (the client asked to
/// see the model's thinking) a model that thinks also gets `includeThoughts`, so that the
/// answer carries summaries of its thoughts, which the adapter passes on as
/// `reasoning_content`; Gemini 2.0 and older, which do not think, get nothing.
pub fn config(
    upstream_model: &str,
    reasoning_effort: Option<&str>,
    show_thoughts: bool,
) -> Option<ThinkingConfig> {
    let mut config = ThinkingConfig::default();
    if signatures::validates(upstream_model) {
        config.thinking_level = reasoning_effort.and_then(level);
    } else if super::version_at_least(upstream_model, (2, 5)) {
        config.thinking_budget = reasoning_effort.and_then(|e| budget(upstream_model, e));
    } else {
        return None;
    }
    config.include_thoughts = show_thoughts;
    (config != ThinkingConfig::default()).then_some(config)
}

/// The `thinkingLevel` for a fitted effort: Gemini's own levels as they are; `none`, which
/// Gemini 3 has not (it cannot turn thinking off), as its least; `max` as `high`. `xhigh`
/// reaches only the models whose efforts list it (Gemini 4 Hydrogen and Neon): `upstream::fit`
/// sends the others their nearest level.
fn level(reasoning_effort: &str) -> Option<&'static str> {
    match reasoning_effort {
        "none" => Some("minimal"),
        "max" => Some("high"),
        "xhigh" => Some("xhigh"),
        other => LEVELS.into_iter().find(|l| *l == other),
    }
}

/// The `thinkingBudget` for a fitted effort on a Gemini 2.5 model: `none` turns thinking off
/// (2.5 Pro cannot: its least, 128), `minimal` is the least the model takes above nothing
/// (128 on Pro, 512 on Flash-Lite, taken by Flash too), the others Google's budgets (OpenAI's
/// `xhigh` and `max` as the `high` one).
fn budget(upstream_model: &str, reasoning_effort: &str) -> Option<i32> {
    let pro = upstream_model.contains("-pro");
    let least = if pro { 128 } else { 512 };
    match reasoning_effort {
        "none" if pro => Some(least),
        "none" => Some(0),
        "minimal" => Some(least),
        "xhigh" | "max" => Some(24_576),
        other => BUDGETS
            .into_iter()
            .find_map(|(name, tokens)| (name == other).then_some(tokens)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(model: &str, effort: &str) -> Option<serde_json::Value> {
        config(model, Some(effort), false).map(|c| serde_json::to_value(c).unwrap_or_default())
    }

    /// Thoughts are asked for alone or beside an effort, only of models that think.
    #[test]
    fn thoughts_are_asked_of_models_that_think() {
        let shown = |model: &str, effort: Option<&str>| {
            config(model, effort, true).map(|c| serde_json::to_value(c).unwrap_or_default())
        };
        assert_eq!(
            shown("gemini-3.5-flash", Some("low")),
            Some(serde_json::json!({"thinkingLevel": "low", "includeThoughts": true}))
        );
        assert_eq!(
            shown("gemini-2.5-flash", None),
            Some(serde_json::json!({"includeThoughts": true}))
        );
        assert_eq!(shown("gemini-2.0-flash-001", Some("low")), None);
        assert_eq!(config("gemini-3.5-flash", None, false), None);
    }

    #[test]
    fn gemini_3_gets_a_level_and_2_5_a_budget_never_both() {
        let level = |l: &str| Some(serde_json::json!({"thinkingLevel": l}));
        let budget = |b: i32| Some(serde_json::json!({"thinkingBudget": b}));
        for l in LEVELS {
            assert_eq!(sent("gemini-3-flash-preview", l), level(l), "{l}");
        }
        assert_eq!(sent("gemini-3.1-pro-preview", "low"), level("low"));
        assert_eq!(sent("models/gemini-3.5-flash", "none"), level("minimal"));
        assert_eq!(sent("gemini-3.5-flash", "max"), level("high"));
        assert_eq!(sent("gemini-4-hydrogen", "xhigh"), level("xhigh"));
        assert_eq!(sent("gemini-flash-latest", "medium"), level("medium"));

        assert_eq!(sent("gemini-2.5-flash", "low"), budget(1024));
        assert_eq!(sent("gemini-2.5-flash", "medium"), budget(8192));
        assert_eq!(sent("gemini-2.5-flash-lite", "high"), budget(24_576));
        assert_eq!(sent("gemini-2.5-flash", "none"), budget(0));
        assert_eq!(sent("gemini-2.5-flash-lite", "none"), budget(0));
        assert_eq!(sent("gemini-2.5-flash-lite", "minimal"), budget(512));
        // 2.5 Pro cannot turn thinking off: its least budget.
        assert_eq!(sent("gemini-2.5-pro", "none"), budget(128));
        assert_eq!(sent("gemini-2.5-pro", "minimal"), budget(128));
        assert_eq!(sent("gemini-2.5-pro", "xhigh"), budget(24_576));
    }

    #[test]
    fn older_models_other_names_and_unknown_values_get_nothing() {
        for model in ["gemini-2.0-flash-001", "gemini-1.5-pro", "gemma-3-27b-it"] {
            assert_eq!(sent(model, "low"), None, "{model}");
        }
        assert_eq!(sent("gemini-3-flash-preview", "extreme"), None);
        assert_eq!(sent("gemini-2.5-flash", "HIGH"), None);
    }
}
