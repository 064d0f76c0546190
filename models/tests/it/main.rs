//! Integration tests of the `models` catalog: the embedded file, lookups, errors, overlays.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use models::{Catalog, Error};
use router_core::{Capability, ModelId, RequestShape, Task};

mod task_scores;

fn model_toml(id: &str, extra: &str) -> String {
    format!(
        r#"
[[model]]
id = "{id}"
provider = "together"
input_usd_per_mtok = 0.5
output_usd_per_mtok = 1.5
context_window = 8192
ttft_ms = 300.0
tokens_per_s = 90.0
quality_prior = 0.6
output_tokens_prior = 250.0
{extra}
"#
    )
}

#[test]
fn embedded_catalog_loads_and_validates() {
    let c = Catalog::embedded().unwrap();
    assert!(c.len() >= 60, "only {} models", c.len());
    assert_eq!(c.specs().len(), c.len());
    let gpt4o = c.get(&ModelId::new("gpt-4o")).unwrap();
    assert_eq!(gpt4o.spec.provider.as_str(), "openai");
    assert!(gpt4o.spec.capabilities.contains(&Capability::Tools));
    assert_eq!(gpt4o.spec.input_usd_per_mtok, 2.5);
    for e in c.entries() {
        assert!((0.0..=1.0).contains(&e.quality_prior), "{}", e.spec.id);
        assert!(e.spec.latency.tokens_per_s > 0.0);
    }
}

#[test]
fn embedded_catalog_holds_every_benchmark_model_under_its_dataset_name() {
    let c = Catalog::embedded().unwrap();
    let bench = [
        // RouterBench
        "WizardLM/WizardLM-13B-V1.2",
        "claude-instant-v1",
        "claude-v1",
        "claude-v2",
        "gpt-3.5-turbo-1106",
        "gpt-4-1106-preview",
        "meta/code-llama-instruct-34b-chat",
        "meta/llama-2-70b-chat",
        "mistralai/mistral-7b-chat",
        "mistralai/mixtral-8x7b-chat",
        "zero-one-ai/Yi-34B-Chat",
        // RouteLLM
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
        // LLMRouter
        "qwen2.5-7b-instruct",
        "llama-3.1-8b-instruct",
        "gemma-2-9b-it",
        "mistral-7b-instruct-v0.3",
        "codegemma-7b",
        "llama3-chatqa-1.5-8b",
        "llama3-chatqa-1.5-70b",
        "llama-3.1-nemotron-51b-instruct",
        "llama-3.3-nemotron-super-49b-v1",
        // RouterArena
        "claude-3-haiku-20240307",
        "gemini-2.0-flash-001",
    ];
    for id in bench {
        let e = c.get(&ModelId::new(id)).unwrap();
        assert_eq!(e.spec.id.as_str(), id);
    }
    let gpt4 = c.get(&ModelId::new("gpt-4-1106-preview")).unwrap();
    assert_eq!(
        (gpt4.spec.input_usd_per_mtok, gpt4.spec.output_usd_per_mtok),
        (10.0, 30.0)
    );
}

#[test]
fn aliases_resolve_to_their_entry() {
    let c = Catalog::embedded().unwrap();
    let by_alias = c.get(&ModelId::new("openai/gpt-4o-mini")).unwrap();
    assert_eq!(by_alias.spec.id.as_str(), "gpt-4o-mini");
    let haiku = c.get(&ModelId::new("claude-3-haiku")).unwrap();
    assert_eq!(haiku.spec.id.as_str(), "claude-3-haiku-20240307");
    assert!(c.contains("gemini-2.0-flash"));
}

#[test]
fn unknown_model_suggests_the_closest_name() {
    let c = Catalog::embedded().unwrap();
    let err = c.get(&ModelId::new("gpt-4o-mnii")).unwrap_err();
    match &err {
        Error::UnknownModel { id, suggestion } => {
            assert_eq!(id.as_str(), "gpt-4o-mnii");
            assert_eq!(suggestion.as_deref(), Some("gpt-4o-mini"));
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(
        err.to_string().contains("did you mean `gpt-4o-mini`"),
        "{err}"
    );
    let far = c
        .get(&ModelId::new("zzzzzzzzzzzzzzzzzzzzzzzzzzzz"))
        .unwrap_err();
    assert!(
        matches!(
            far,
            Error::UnknownModel {
                suggestion: None,
                ..
            }
        ),
        "{far}"
    );
}

#[test]
fn wrong_type_reports_the_field_path_and_line() {
    let mut src = String::new();
    for id in ["a", "b", "c"] {
        src.push_str(&model_toml(id, ""));
    }
    src.push_str(
        &model_toml("d", "").replace("input_usd_per_mtok = 0.5", "input_usd_per_mtok = \"cheap\""),
    );
    let err = Catalog::from_toml_str(&src, "user.toml").unwrap_err();
    match &err {
        Error::Parse {
            origin,
            field,
            line,
            ..
        } => {
            assert_eq!(origin, "user.toml");
            assert_eq!(field, "model[3].input_usd_per_mtok");
            let want = src.lines().position(|l| l.contains("cheap")).unwrap() + 1;
            assert_eq!(*line, Some(want));
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(
        err.to_string().contains("model[3].input_usd_per_mtok"),
        "{err}"
    );
}

#[test]
fn unknown_field_and_capability_are_rejected_with_path() {
    let err = Catalog::from_toml_str(&model_toml("a", "colour = \"red\""), "u.toml").unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
    let err = Catalog::from_toml_str(
        &model_toml("a", "capabilities = [\"tools\", \"telepathy\"]"),
        "u.toml",
    )
    .unwrap_err();
    match &err {
        Error::Parse { field, .. } => assert_eq!(field, "model[0].capabilities[1]"),
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn validation_names_model_and_field() {
    let cases = [
        (
            "input_usd_per_mtok = 0.5",
            "input_usd_per_mtok = -1.0",
            "input_usd_per_mtok",
        ),
        (
            "output_usd_per_mtok = 1.5",
            "output_usd_per_mtok = nan",
            "output_usd_per_mtok",
        ),
        (
            "context_window = 8192",
            "context_window = 0",
            "context_window",
        ),
        (
            "quality_prior = 0.6",
            "quality_prior = 1.2",
            "quality_prior",
        ),
        ("tokens_per_s = 90.0", "tokens_per_s = 0.0", "tokens_per_s"),
    ];
    for (from, to, field) in cases {
        let src = model_toml("ok", "") + &model_toml("broken", "").replace(from, to);
        let err = Catalog::from_toml_str(&src, "user.toml").unwrap_err();
        match &err {
            Error::InvalidField {
                origin,
                id,
                field: f,
                ..
            } => {
                assert_eq!(origin, "user.toml");
                assert_eq!(id, "broken");
                assert_eq!(f, &format!("model[1].{field}"));
            }
            other => panic!("{to}: unexpected error {other}"),
        }
    }
}

#[test]
fn duplicate_ids_and_aliases_are_rejected() {
    let src = model_toml("a", "") + &model_toml("a", "");
    let err = Catalog::from_toml_str(&src, "dup.toml").unwrap_err();
    assert!(
        matches!(err, Error::DuplicateName { ref name, .. } if name == "a"),
        "{err}"
    );
    let src = model_toml("a", "aliases = [\"x\"]") + &model_toml("b", "aliases = [\"x\"]");
    let err = Catalog::from_toml_str(&src, "dup.toml").unwrap_err();
    match err {
        Error::DuplicateName {
            name,
            first,
            second,
            ..
        } => {
            assert_eq!(
                (name.as_str(), first.as_str(), second.as_str()),
                ("x", "a", "b")
            );
        }
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn overlay_replaces_in_place_and_appends_new_models() {
    let base = Catalog::embedded().unwrap();
    let n = base.len();
    let pos = base
        .entries()
        .position(|e| e.spec.id.as_str() == "gpt-4o")
        .unwrap();
    let overlay_src = model_toml("gpt-4o", "upstream_name = \"my-gpt-4o\"")
        + &model_toml("local-llama", "aliases = [\"llama-local\"]");
    let overlay = Catalog::from_toml_str(&overlay_src, "user.toml").unwrap();
    let merged = base.with_overlay(overlay);
    assert_eq!(merged.len(), n + 1);
    let e = merged.get(&ModelId::new("gpt-4o")).unwrap();
    assert_eq!(e.upstream_name, "my-gpt-4o");
    assert_eq!(e.spec.provider.as_str(), "together");
    assert_eq!(
        merged
            .entries()
            .position(|e| e.spec.id.as_str() == "gpt-4o"),
        Some(pos)
    );
    assert_eq!(
        merged.entries().last().unwrap().spec.id.as_str(),
        "local-llama"
    );
    assert_eq!(
        merged
            .get(&ModelId::new("llama-local"))
            .unwrap()
            .spec
            .id
            .as_str(),
        "local-llama"
    );
}

#[test]
fn overlay_alias_takes_a_name_from_the_base() {
    let base =
        Catalog::from_toml_str(&model_toml("a", "aliases = [\"fast\"]"), "base.toml").unwrap();
    let overlay =
        Catalog::from_toml_str(&model_toml("b", "aliases = [\"fast\"]"), "user.toml").unwrap();
    let merged = base.with_overlay(overlay);
    assert_eq!(
        merged.get(&ModelId::new("fast")).unwrap().spec.id.as_str(),
        "b"
    );
    assert!(merged.get(&ModelId::new("a")).unwrap().aliases.is_empty());
}

#[test]
fn load_reads_a_file_and_names_it_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.toml");
    std::fs::write(&path, model_toml("a", "")).unwrap();
    assert_eq!(Catalog::load(&path).unwrap().len(), 1);
    let merged = Catalog::load_with_defaults(Some(&path)).unwrap();
    assert_eq!(merged.len(), Catalog::embedded().unwrap().len() + 1);

    std::fs::write(
        &path,
        model_toml("a", "").replace("context_window = 8192", "context_window = 0"),
    )
    .unwrap();
    let err = Catalog::load(&path).unwrap_err();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );

    let missing = dir.path().join("missing.toml");
    let err = Catalog::load(&missing).unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err}");
    assert!(err.to_string().contains("missing.toml"), "{err}");
}

/// OpenAI's GPT-6.x, Claude's Fable 5.1 and Haiku 5.5 and Gemini 3.8 Flash carry their pages' prices, cache prices
/// and API rules (scripts/seed_catalog.py, `CITED_PRICES`, `CITED_CACHE`, `RESPONSES_API`).
#[test]
fn late_2026_models_are_priced_and_called_as_their_pages_say() {
    let c = Catalog::embedded().unwrap();
    let entry = |id: &str| c.get(&ModelId::new(id)).unwrap();
    let levels = |id: &str| -> Vec<&str> { entry(id).efforts.iter().map(|e| e.as_str()).collect() };
    for (id, input, output, cache_read) in [
        ("gpt-6.2-sol", 2.0, 10.0, Some(0.05)),
        ("gpt-6.2-astra", 8.0, 40.0, None),
        ("gpt-6-astra", 10.0, 50.0, Some(0.1)),
        ("gpt-6.1-terra", 1.0, 5.0, Some(0.05)),
    ] {
        let e = entry(id);
        assert_eq!(
            (e.spec.input_usd_per_mtok, e.spec.output_usd_per_mtok),
            (input, output),
            "{id}"
        );
        assert_eq!(e.spec.cache_read, cache_read, "{id}");
        // OpenAI's usage reports no written count, so no write price (writes count as input).
        assert_eq!(e.spec.cache_write, None, "{id}");
        // Tool calls only through Responses; no sampling parameters; one answer per request.
        assert!(e.responses_api && e.reasoning, "{id}");
        assert!(e.refuses.contains(&RequestShape::MultipleChoices), "{id}");
        assert!(c.get(&ModelId::new(format!("openai/{id}"))).is_ok(), "{id}");
    }
    // `none` is refused by the Astra and GPT-6.2 models; GPT-6.1 Terra takes it and defaults
    // to `medium`.
    for id in ["gpt-6.2-sol", "gpt-6.2-astra", "gpt-6-astra"] {
        assert_eq!(
            levels(id),
            ["low", "medium", "high", "xhigh", "max"],
            "{id}"
        );
        assert_eq!(entry(id).default_effort, None, "{id}");
    }
    assert_eq!(levels("gpt-6.1-terra")[0], "none");
    // Claude Haiku 5.5 (Anthropic's overview and migration guide): Claude's cache prices, the
    // newer tokenizer, no prefill, no sampling parameters, effort `medium` by default.
    let haiku = entry("claude-haiku-5.5");
    assert_eq!(haiku.upstream_name, "claude-haiku-5-5");
    assert_eq!(
        (
            haiku.spec.input_usd_per_mtok,
            haiku.spec.output_usd_per_mtok
        ),
        (0.1, 0.5)
    );
    assert_eq!(
        (haiku.spec.cache_read, haiku.spec.cache_write),
        (Some(0.1), Some(1.25))
    );
    assert_eq!(haiku.spec.token_ratio, 1.3);
    assert!(haiku.reasoning && haiku.refuses.contains(&RequestShape::AssistantPrefill));
    assert_eq!(haiku.default_effort.map(|e| e.as_str()), Some("medium"));
    assert!(c.get(&ModelId::new("anthropic/claude-haiku-5.5")).is_ok());
    // Claude Fable 5.1: reads at a quarter of Fable 5's, no forced tool use, `high` by default.
    let fable = entry("claude-fable-5.1");
    assert_eq!(fable.spec.cache_read, Some(0.025));
    // Opus 5.5's reads are 0.05 times input (its overview: $0.20 against $4), not Claude's 0.1.
    assert_eq!(entry("claude-opus-5.5").spec.cache_read, Some(0.05));
    assert!(!haiku.refuses.contains(&RequestShape::ForcedToolChoice));
    // Cached input on OpenAI's earlier GPT-6 models, from the snapshot; Gemini 3.8 Flash.
    assert_eq!(entry("gpt-6.1-sol").spec.cache_read, Some(0.05));
    assert_eq!(entry("gpt-6-luna").spec.cache_read, Some(0.1));
    let flash = entry("gemini-3.8-flash");
    assert_eq!(
        (
            flash.spec.input_usd_per_mtok,
            flash.spec.output_usd_per_mtok
        ),
        (0.75, 3.75)
    );
    // Gemini 3.8 and 3.7 Flash think at `medium` unless asked (Google's 3.8 Flash guide), so
    // their AA rows at medium are their defaults and they carry task scores.
    for id in ["gemini-3.8-flash", "gemini-3.7-flash"] {
        let gemini = entry(id);
        assert_eq!(levels(id), ["low", "medium", "high"]);
        assert_eq!(gemini.default_effort.map(|e| e.as_str()), Some("medium"));
        assert!(gemini.task_scores.get(Task::Knowledge).is_some(), "{id}");
        assert_eq!(
            (
                gemini.spec.input_usd_per_mtok,
                gemini.spec.output_usd_per_mtok
            ),
            (0.75, 3.75)
        );
    }
    assert!(fable.refuses.contains(&RequestShape::ForcedToolChoice));
    assert_eq!(fable.default_effort.map(|e| e.as_str()), Some("high"));
    assert_eq!(
        entry("gpt-6.1-terra").default_effort.map(|e| e.as_str()),
        Some("medium")
    );
}

/// Claude Opus 4.7 and 4.8 and Fable 5 (the snapshot's prices; their migration notes): the
/// newer tokenizer, no sampling parameters, efforts up to `max` with `xhigh`, no prefill (from
/// Claude 4.6 on), and Fable 5 no forced tool use; long prompts on the older Sonnets cost more.
#[test]
fn claude_4_7_to_fable_5_are_priced_and_called_as_their_notes_say() {
    let c = Catalog::embedded().unwrap();
    let entry = |id: &str| c.get(&ModelId::new(id)).unwrap();
    for (id, upstream, input, output) in [
        ("claude-opus-4.7", "claude-opus-4-7", 5.0, 25.0),
        ("claude-opus-4.8", "claude-opus-4-8", 5.0, 25.0),
        ("claude-fable-5", "claude-fable-5", 10.0, 50.0),
    ] {
        let e = entry(id);
        assert_eq!(e.upstream_name, upstream);
        assert_eq!(
            (e.spec.input_usd_per_mtok, e.spec.output_usd_per_mtok),
            (input, output),
            "{id}"
        );
        assert_eq!(e.spec.token_ratio, 1.3, "{id}");
        assert!(e.reasoning, "{id}");
        let levels: Vec<&str> = e.efforts.iter().map(|l| l.as_str()).collect();
        assert_eq!(levels, ["low", "medium", "high", "xhigh", "max"], "{id}");
        assert_eq!(e.default_effort.map(|l| l.as_str()), Some("high"), "{id}");
        assert!(e.refuses.contains(&RequestShape::AssistantPrefill), "{id}");
    }
    assert!(entry("claude-fable-5")
        .refuses
        .contains(&RequestShape::ForcedToolChoice));
    assert!(!entry("claude-opus-4.7")
        .refuses
        .contains(&RequestShape::ForcedToolChoice));
    for id in ["claude-opus-4.6", "claude-sonnet-4.6", "claude-opus-5"] {
        assert!(
            entry(id).refuses.contains(&RequestShape::AssistantPrefill),
            "{id}"
        );
    }
    assert!(!entry("claude-sonnet-4.5")
        .refuses
        .contains(&RequestShape::AssistantPrefill));
    // Opus 4.7's default (no thinking, effort high) has a cited result; it is a task prior.
    assert!(!entry("claude-opus-4.7").task_scores.is_empty());
    // A long prompt on Sonnet 4.5 (above 200K) is billed at $6 / $22.50.
    let sonnet = &entry("claude-sonnet-4.5").spec;
    assert_eq!(sonnet.prices_for(250_000.0), (6.0, 22.5));
    assert_eq!(sonnet.prices_for(150_000.0), (3.0, 15.0));
}

/// Mistral's `-latest` names move to each new model at its price (Medium 3.1 at $0.40 / $2
/// became Medium 3.5 at $1.50 / $7.50), so every Mistral entry calls the snapshot it is priced
/// and scored as, and the current Medium and Small are entries of their own.
#[test]
fn mistral_entries_call_the_snapshot_they_are_priced_as() {
    let c = Catalog::embedded().unwrap();
    let entry = |id: &str| c.get(&ModelId::new(id)).unwrap();
    for (id, upstream, input, output) in [
        ("mistral-large", "mistral-large-2512", 0.5, 1.5),
        ("mistral-medium-3.5", "mistral-medium-3-5", 1.5, 7.5),
        ("mistral-medium-3.1", "mistral-medium-2508", 0.4, 2.0),
        ("mistral-small-4", "mistral-small-2603", 0.15, 0.6),
        ("mistral-small-3.2", "mistral-small-2506", 0.09375, 0.25),
        ("codestral", "codestral-2508", 0.3, 0.9),
        ("ministral-8b", "ministral-8b-2512", 0.15, 0.15),
    ] {
        let e = entry(id);
        assert_eq!(e.upstream_name, upstream, "{id}");
        assert!(!e.upstream_name.ends_with("-latest"), "{id}");
        assert_eq!(
            (e.spec.input_usd_per_mtok, e.spec.output_usd_per_mtok),
            (input, output),
            "{id}"
        );
    }
    // Small 4 is scored from AA's row at the API's default (no reasoning); Medium 3.5's only
    // row reasoned, so it keeps its tier's flat prior.
    assert!(entry("mistral-small-4")
        .task_scores
        .get(Task::Knowledge)
        .is_some());
    assert!(entry("mistral-medium-3.5").task_scores.is_empty());
}

/// Gemini 4 (after the price snapshot): Argon and Carbon at $4 / $20 since 2026-12-01,
/// Hydrogen at $1.50 / $7.50, cached input at 0.05 times; no `minimal`, Hydrogen up to
/// `xhigh`.
#[test]
fn gemini_4_is_priced_and_thinks_as_googles_pages_say() {
    let c = Catalog::embedded().unwrap();
    for (id, input, output, levels, default) in [
        (
            "gemini-4-argon",
            4.0,
            20.0,
            &["low", "medium", "high"][..],
            "medium",
        ),
        (
            "gemini-4-carbon",
            4.0,
            20.0,
            &["low", "medium", "high"][..],
            "medium",
        ),
        (
            "gemini-4-hydrogen",
            1.5,
            7.5,
            &["low", "medium", "high", "xhigh"][..],
            "high",
        ),
    ] {
        let e = c.get(&ModelId::new(id)).unwrap();
        assert_eq!(
            (e.spec.input_usd_per_mtok, e.spec.output_usd_per_mtok),
            (input, output),
            "{id}"
        );
        assert_eq!(e.spec.cache_read, Some(0.05), "{id}");
        let taken: Vec<&str> = e.efforts.iter().map(|l| l.as_str()).collect();
        assert_eq!(taken, levels, "{id}");
        assert_eq!(e.default_effort.map(|l| l.as_str()), Some(default), "{id}");
        assert!(e.refuses.contains(&RequestShape::MultipleChoices), "{id}");
    }
}
