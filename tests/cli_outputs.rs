//! What the CLI writes, through the real binary: `train --out` replaces an artifact folder
//! whole through a staging sibling, `train --from-log --data --train-split-only` keeps the
//! benchmark's test rows out, `log export --out` leaves the previous file whole when it
//! fails, `eval --from-log` says which samples it left out (and refuses a log that leaves
//! none), a loop whose rounds would label nothing to refit on is refused before any
//! traffic, naming the flags that decide it, `onboard` warns about probe counts above its pool,
//! `score` refuses an artifact that shares no model with the data, and an error prints each
//! cause once. The `train`, `loop`, `onboard` and `score` cases need the encoder
//! weights (`switchyard model fetch`, which `scripts/test.sh` runs first).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{manifest, switchyard, text};
use router_core::{Feedback, Outcome, PromptRecord};

const FIXTURE: &str = "tests/fixtures/routellm-gsm8k";

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn train(extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        "--max-tokens",
        "64",
        "--predictor",
        "linear",
        "--no-guard",
    ];
    args.extend_from_slice(extra);
    switchyard(&args)
}

#[test]
fn train_replaces_an_artifact_folder_whole_and_leaves_no_staging_behind() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let arts = dir.path().join("artifacts");
    let out = arts.join("router");
    let (cache_s, out_s) = (cache.to_str().unwrap(), out.to_str().unwrap());
    let data = ["--data", FIXTURE, "--cache-dir", cache_s, "--out", out_s];
    let first = train(&[&data[..], &["--max-prompts", "60"]].concat());
    assert!(first.status.success(), "{}", text(&first.stderr));
    // Something only the old folder holds: an in-place save would leave it beside new files.
    std::fs::write(out.join("stray.txt"), b"from the last fit").unwrap();
    let second = train(&[&data[..], &["--max-prompts", "40", "--seed", "3"]].concat());
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        !out.join("stray.txt").exists(),
        "the old folder was not replaced whole"
    );
    assert_eq!(manifest(&out)["metrics"]["data"]["seed"], 3);
    assert_eq!(
        names(&arts),
        ["router"],
        "a staging or old folder was left behind"
    );
}

#[test]
fn train_leaves_a_folder_that_is_not_an_artifact_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let out = dir.path().join("artifacts");
    std::fs::create_dir_all(out.join("another-router")).unwrap();
    std::fs::write(out.join("notes.txt"), b"keep me").unwrap();
    let (cache_s, out_s) = (cache.to_str().unwrap(), out.to_str().unwrap());
    let run = train(&[
        "--data",
        FIXTURE,
        "--cache-dir",
        cache_s,
        "--out",
        out_s,
        "--max-prompts",
        "40",
    ]);
    assert!(!run.status.success());
    let err = text(&run.stderr);
    assert!(err.contains("not an artifact folder"), "{err}");
    assert!(out.join("notes.txt").is_file() && out.join("another-router").is_dir());
}

/// A logged answer of `model` to `text`, labelled `score`.
fn logged(i: usize, model: &str, score: f64) -> Outcome {
    Outcome {
        prompt: PromptRecord::Full {
            text: format!("logged question number {i}: what is {i} plus {i}?"),
        },
        feedback: vec![Feedback::human("correct", score)],
        latency_ms: 10.0,
        cost_usd: Some(0.0001),
        ..Outcome::answered(format!("r{i}"), 1_700_000_000_000 + i as u64, model)
    }
}

#[test]
fn train_from_log_keeps_the_mixed_in_test_split_out_with_train_split_only() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.jsonl");
    let lines: Vec<String> = (0..6)
        .map(|i| {
            let model = if i % 2 == 0 { "gpt-4o" } else { "gpt-4o-mini" };
            serde_json::to_string(&logged(i, model, (i % 3) as f64 / 2.0)).unwrap()
        })
        .collect();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    // Canonical outcomes: 3 train rows and 2 test rows.
    let bench = dir.path().join("bench.jsonl");
    let mut rows = vec![
        r#"{"switchyard_outcomes":1,"source":"split-bench","models":["gpt-4o","gpt-4o-mini"]}"#
            .to_owned(),
    ];
    for (i, split) in ["train", "train", "train", "test", "test"]
        .iter()
        .enumerate()
    {
        rows.push(format!(
            r#"{{"id":"b{i}","text":"benchmark prompt {i} about {split} things","split":"{split}","cells":{{"gpt-4o":{{"score":1.0,"cost_usd":0.002}},"gpt-4o-mini":{{"score":{},"cost_usd":0.0002}}}}}}"#,
            i % 2
        ));
    }
    std::fs::write(&bench, rows.join("\n") + "\n").unwrap();
    let out = dir.path().join("mixed");
    let cache = dir.path().join("cache");
    let run = train(&[
        "--from-log",
        log.to_str().unwrap(),
        "--data",
        bench.to_str().unwrap(),
        "--train-split-only",
        "--cache-dir",
        cache.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let data = &manifest(&out)["metrics"]["data"];
    assert_eq!(
        data["prompts"],
        6 + 3,
        "the 2 test rows were trained on: {data}"
    );
    assert_eq!(data["source"]["train_split_only"], true, "{data}");
}

#[test]
fn a_failed_log_export_leaves_the_previous_file_whole_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outcomes.sqlite");
    std::fs::write(&db, b"not a SQLite database, so the export fails").unwrap();
    let out = dir.path().join("train.jsonl");
    std::fs::write(&out, "the previous export\n").unwrap();
    let run = switchyard(&[
        "log",
        "export",
        "--db",
        db.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = text(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(
        stderr.contains("train.jsonl"),
        "the file is not named: {stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "the previous export\n"
    );
    assert_eq!(names(dir.path()), ["outcomes.sqlite", "train.jsonl"]);
}

#[test]
fn onboard_warns_when_a_probe_count_is_above_the_pool_and_names_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let run = switchyard(&[
        "onboard",
        "--data",
        FIXTURE,
        "--max-tokens",
        "64",
        "--max-prompts",
        "80",
        "--cache-dir",
        dir.path().to_str().unwrap(),
        "--model",
        "gpt-4-1106-preview",
        "--probes",
        "5,100000",
    ]);
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    // 80 prompts, 20% held out: a pool of 64.
    assert!(
        stderr.contains(
            "warning: --probes 100000 is more than the probe pool: the 64 training prompts"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("K=64"), "{stderr}");
    assert!(!stderr.contains("--probes 5"), "{stderr}");
}

#[test]
fn score_refuses_an_artifact_that_shares_no_model_with_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let art = dir.path().join("router");
    let cache_s = cache.to_str().unwrap();
    let trained = train(&[
        "--data",
        FIXTURE,
        "--cache-dir",
        cache_s,
        "--max-prompts",
        "40",
        "--out",
        art.to_str().unwrap(),
    ]);
    assert!(trained.status.success(), "{}", text(&trained.stderr));
    // The same prompts, recorded for two models the artifact does not know.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let csv = std::fs::read_to_string(Path::new(FIXTURE).join("gsm8k_responses.csv")).unwrap();
    std::fs::write(
        other.join("gsm8k_responses.csv"),
        csv.replace("mistralai/Mixtral-8x7B-Instruct-v0.1", "foo")
            .replace("gpt-4-1106-preview", "bar"),
    )
    .unwrap();
    let score = |data: &str| {
        switchyard(&[
            "score",
            "--data",
            data,
            "--cache-dir",
            cache_s,
            "--max-prompts",
            "10",
            "--artifact",
            art.to_str().unwrap(),
            "--out",
            dir.path().join("scores.jsonl").to_str().unwrap(),
        ])
    };
    let run = score(other.to_str().unwrap());
    let stderr = text(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(stderr.contains("shares no model with the data"), "{stderr}");
    assert!(
        stderr.contains(
            "the artifact's models are mistralai/Mixtral-8x7B-Instruct-v0.1, gpt-4-1106-preview"
        ) || stderr.contains(
            "the artifact's models are gpt-4-1106-preview, mistralai/Mixtral-8x7B-Instruct-v0.1"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("the data's are foo, bar"), "{stderr}");
    // Its own data scores, and says how many models it knows.
    let run = score(FIXTURE);
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("the artifact knows 2 of the data's 2 models"),
        "{stderr}"
    );
}

#[test]
fn an_error_prints_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let junk = p("junk.sqlite");
    std::fs::write(&junk, b"not a SQLite database").unwrap();
    let bad = p("a_badjson");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(dir.path().join("a_badjson/manifest.json"), "{\n").unwrap();
    let (missing, no_config) = (p("missing"), p("nonexist.toml"));
    for (args, cause) in [
        (
            vec!["route", "--artifact", &missing, "hi"],
            "no such folder",
        ),
        (vec!["route", "--artifact", &bad, "hi"], "EOF while parsing"),
        (
            vec!["route", "--config", &no_config, "--priors-only", "hi"],
            "No such file or directory",
        ),
        (
            vec!["log", "export", "--db", &junk],
            "file is not a database",
        ),
    ] {
        let run = switchyard(&args);
        let stderr = text(&run.stderr);
        assert!(!run.status.success(), "{args:?}: {stderr}");
        assert_eq!(stderr.matches(cause).count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("field `?`"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_loop_whose_rounds_label_nothing_to_refit_on_is_refused_before_any_traffic() {
    // --label-share 0.2 of --per-round 4 is one label (rounded), but --holdout 0.5 leaves 2
    // requests to train on and a fifth of 2 is none: no refit would have anything to learn
    // from. The labels are drawn among the requests not held out, so this is known from the
    // flags alone, and the loop refuses before it sends a round of traffic.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("loop");
    let run = switchyard(&[
        "loop",
        "--data",
        FIXTURE,
        "--rounds",
        "1",
        "--per-round",
        "4",
        "--holdout",
        "0.5",
        "--label-share",
        "0.2",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = text(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    for flag in ["--label-share", "--per-round", "--holdout"] {
        assert!(stderr.contains(flag), "no {flag}: {stderr}");
    }
    assert!(
        !out.join("outcomes.sqlite").exists(),
        "traffic was sent: {stderr}"
    );
}

#[test]
fn eval_from_log_refuses_a_log_without_router_choices_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let router = dir.path().join("router");
    let (cache_s, router_s) = (cache.to_str().unwrap(), router.to_str().unwrap());
    let trained = train(&[
        "--data",
        FIXTURE,
        "--cache-dir",
        cache_s,
        "--out",
        router_s,
        "--max-prompts",
        "40",
    ]);
    assert!(trained.status.success(), "{}", text(&trained.stderr));
    // Requests that named their model: none is a draw from the router's policy.
    let log = dir.path().join("log.jsonl");
    let lines: Vec<String> = (0..4)
        .map(|i| serde_json::to_string(&logged(i, "gpt-4o-mini", 1.0)).unwrap())
        .collect();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let out = switchyard(&[
        "eval",
        "--from-log",
        log.to_str().unwrap(),
        "--router",
        router_s,
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("no sample left to evaluate"), "{err}");
    assert!(err.contains("4 not the router's own choice"), "{err}");
}
