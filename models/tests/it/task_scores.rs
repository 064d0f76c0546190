//! Per-task scores and their cited benchmark results: what the loader accepts and the errors
//! it gives.

use models::{Catalog, Error};
use router_core::{ModelId, Task};

use crate::model_toml;

const CITED: &str = r#"task_scores = { advanced_math = 0.4, coding = 0.7 }

[[model.benchmark]]
name = "aime_2025"
score = 0.4
source = "https://example.org/model-card"
as_of = "2025-08-07"
note = "no tools"

[[model.benchmark]]
name = "livecodebench"
score = 0.7
source = "https://livecodebench.github.io/leaderboard.html"
as_of = "2025-05-01"
"#;

fn invalid_field(src: &str) -> (String, String) {
    match Catalog::from_toml_str(src, "user.toml").unwrap_err() {
        Error::InvalidField { field, problem, .. } => (field, problem),
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn cited_task_scores_load_into_the_prior() {
    let c = Catalog::from_toml_str(&model_toml("m", CITED), "user.toml").unwrap();
    let e = c.get(&ModelId::new("m")).unwrap();
    assert_eq!(e.task_scores.get(Task::AdvancedMath), Some(0.4));
    assert_eq!(e.task_scores.get(Task::Writing), None);
    assert_eq!(e.benchmarks.len(), 2);
    assert_eq!(e.benchmarks[0].benchmark.task, Task::AdvancedMath);
    assert_eq!(e.benchmarks[0].note.as_deref(), Some("no tools"));
    assert_eq!(e.prior().task_scores, e.task_scores);
    assert_eq!(e.prior().quality, e.quality_prior);
}

#[test]
fn unknown_task_is_a_clear_error() {
    let src = model_toml("m", &CITED.replace("coding = 0.7", "poetry = 0.7"));
    let (field, problem) = invalid_field(&src);
    assert_eq!(field, "model[0].task_scores.poetry");
    assert!(problem.contains("unknown task `poetry`"), "{problem}");
    assert!(problem.contains("advanced_math"), "{problem}");
}

#[test]
fn out_of_range_scores_are_rejected() {
    let src = model_toml("m", &CITED.replace("coding = 0.7", "coding = 70.0"));
    let (field, problem) = invalid_field(&src);
    assert_eq!(field, "model[0].task_scores.coding");
    assert!(problem.contains("outside [0, 1]"), "{problem}");

    let src = model_toml("m", &CITED.replace("score = 0.7", "score = 70.0"));
    let (field, problem) = invalid_field(&src);
    assert_eq!(field, "model[0].benchmark[1].score");
    assert!(problem.contains("divide a percentage by 100"), "{problem}");
}

#[test]
fn every_task_score_needs_a_cited_result_of_its_task() {
    let src = model_toml(
        "m",
        &CITED.replace("coding = 0.7 }", "coding = 0.7, writing = 0.8 }"),
    );
    let (field, problem) = invalid_field(&src);
    assert_eq!(field, "model[0].task_scores.writing");
    assert!(problem.contains("no cited result"), "{problem}");
    assert!(problem.contains("ifeval"), "{problem}");
}

#[test]
fn citations_need_a_known_benchmark_a_url_and_a_date() {
    let cases = [
        (
            "name = \"livecodebench\"",
            "name = \"vibes\"",
            "benchmark[1].name",
            "unknown benchmark",
        ),
        (
            "source = \"https://livecodebench.github.io/leaderboard.html\"",
            "source = \"a blog\"",
            "benchmark[1].source",
            "https://",
        ),
        (
            "as_of = \"2025-05-01\"",
            "as_of = \"May 2025\"",
            "benchmark[1].as_of",
            "YYYY-MM-DD",
        ),
    ];
    for (from, to, field, says) in cases {
        let src = model_toml("m", &CITED.replace(from, to));
        let (f, problem) = invalid_field(&src);
        assert_eq!(f, format!("model[0].{field}"), "{to}");
        assert!(problem.contains(says), "{to}: {problem}");
    }
    let src = model_toml(
        "m",
        &CITED.replace(
            "as_of = \"2025-05-01\"",
            "as_of = \"2025-05-01\"\ncolour = 1",
        ),
    );
    let err = Catalog::from_toml_str(&src, "user.toml").unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
}

#[test]
fn derived_scores_need_a_derivation_and_stay_apart_from_cited_ones() {
    let derived = CITED.replace(
        "task_scores = { advanced_math = 0.4, coding = 0.7 }",
        "task_scores = { advanced_math = 0.4, coding = 0.7 }\nderived_task_scores = { classification = 0.8 }",
    );
    let (field, problem) = invalid_field(&model_toml("m", &derived));
    assert_eq!(field, "model[0].derivation");
    assert!(problem.contains("derivation"), "{problem}");

    let with = derived.replace(
        "derived_task_scores = { classification = 0.8 }",
        "derived_task_scores = { classification = 0.8 }\nderivation = \"ability 1.2 from the results below\"",
    );
    let c = Catalog::from_toml_str(&model_toml("m", &with), "user.toml").unwrap();
    let e = c.get(&ModelId::new("m")).unwrap();
    assert_eq!(e.task_scores.get(Task::Classification), Some(0.8));
    assert_eq!(e.derived_tasks, vec![Task::Classification]);
    assert_eq!(e.prior().task_scores.get(Task::Classification), Some(0.8));

    let both = with.replace("classification = 0.8", "coding = 0.8");
    let (field, problem) = invalid_field(&model_toml("m", &both));
    assert_eq!(field, "model[0].derived_task_scores.coding");
    assert!(problem.contains("cited or derived, not both"), "{problem}");
}

#[test]
fn a_result_at_another_setting_does_not_back_a_score() {
    let thinking = CITED.replace(
        "note = \"no tools\"",
        "setting = \"extended_thinking\"\nnote = \"no tools\"",
    );
    let (field, problem) = invalid_field(&model_toml("m", &thinking));
    assert_eq!(field, "model[0].task_scores.advanced_math");
    assert!(problem.contains("default setting"), "{problem}");
    // Kept for the record when nothing rests on it.
    let recorded = thinking.replace("advanced_math = 0.4, ", "");
    let c = Catalog::from_toml_str(&model_toml("m", &recorded), "user.toml").unwrap();
    let e = c.get(&ModelId::new("m")).unwrap();
    assert_eq!(e.benchmarks[0].setting, "extended_thinking");
    assert!(!e.benchmarks[0].is_default_setting());
    assert!(e.benchmarks[1].is_default_setting());
    assert_eq!(e.task_scores.get(Task::AdvancedMath), None);
}

#[test]
fn task_tokens_are_cited_and_feed_the_prior() {
    let tokens = format!(
        "{CITED}\n[[model.task_tokens]]\ntask = \"advanced_math\"\ntokens = 1968.6\nsource = \"https://example.org/tokens\"\nas_of = \"2026-12-02\"\n"
    );
    let c = Catalog::from_toml_str(&model_toml("m", &tokens), "user.toml").unwrap();
    let e = c.get(&ModelId::new("m")).unwrap();
    assert_eq!(e.task_tokens.get(Task::AdvancedMath), Some(1968.6));
    assert_eq!(e.prior().task_tokens, e.task_tokens);
    assert_eq!(e.token_measurements.len(), 1);

    let negative = tokens.replace("tokens = 1968.6", "tokens = -3.0");
    let (field, problem) = invalid_field(&model_toml("m", &negative));
    assert_eq!(field, "model[0].task_tokens[0].tokens");
    assert!(problem.contains("finite number >= 0"), "{problem}");

    let uncited = tokens.replace("https://example.org/tokens", "example.org");
    let (field, _) = invalid_field(&model_toml("m", &uncited));
    assert_eq!(field, "model[0].task_tokens[0].source");

    let twice = format!(
        "{tokens}\n[[model.task_tokens]]\ntask = \"advanced_math\"\ntokens = 10.0\nsource = \"https://example.org/t\"\nas_of = \"2026-12-02\"\n"
    );
    let (field, problem) = invalid_field(&model_toml("m", &twice));
    assert_eq!(field, "model[0].task_tokens[1].task");
    assert!(problem.contains("measured twice"), "{problem}");
}

/// RouterBench's eleven models must start cold on replayed RouterBench: their flat prior is
/// the mean of task scores fitted on results published elsewhere, every score of theirs is
/// cited or says how it was derived, and none of their citations is RouterBench.
#[test]
fn routerbench_models_have_cold_priors_from_elsewhere() {
    let c = Catalog::embedded().unwrap();
    for id in [
        "gpt-4-1106-preview",
        "gpt-3.5-turbo-1106",
        "claude-instant-v1",
        "claude-v1",
        "claude-v2",
        "WizardLM/WizardLM-13B-V1.2",
        "meta/code-llama-instruct-34b-chat",
        "meta/llama-2-70b-chat",
        "mistralai/mistral-7b-chat",
        "mistralai/mixtral-8x7b-chat",
        "zero-one-ai/Yi-34B-Chat",
    ] {
        let e = c.get(&ModelId::new(id)).unwrap();
        let scores: Vec<f64> = Task::ALL
            .iter()
            .map(|t| e.task_scores.get(*t).unwrap_or_else(|| panic!("{id} {t}")))
            .collect();
        let mean = scores.iter().sum::<f64>() / scores.len() as f64;
        assert!((e.quality_prior - mean).abs() < 0.002, "{id}");
        if !e.derived_tasks.is_empty() {
            assert!(e.derivation.is_some(), "{id}");
        }
        for b in &e.benchmarks {
            assert!(!b.source.to_lowercase().contains("routerbench"), "{id}");
        }
    }
}

#[test]
fn current_models_have_all_tasks_and_reasoning_models_task_lengths() {
    let c = Catalog::embedded().unwrap();
    for id in [
        "gpt-4o-mini",
        "gpt-4o",
        "gpt-5",
        "claude-haiku-4.5",
        "claude-sonnet-4.5",
    ] {
        let e = c.get(&ModelId::new(id)).unwrap();
        assert!(
            Task::ALL.iter().all(|t| e.task_scores.get(*t).is_some()),
            "{id}"
        );
    }
    let gpt5 = c.get(&ModelId::new("gpt-5")).unwrap();
    let hard = gpt5.task_tokens.get(Task::AdvancedMath).unwrap();
    let short = gpt5.task_tokens.get(Task::Classification).unwrap();
    assert!(hard > 10.0 * short, "{hard} vs {short}");
    // Claude's extended-thinking figures are cited for the record, not fitted.
    let haiku = c.get(&ModelId::new("claude-haiku-4.5")).unwrap();
    assert!(haiku.benchmarks.iter().any(|b| !b.is_default_setting()));
}
