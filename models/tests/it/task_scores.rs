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
