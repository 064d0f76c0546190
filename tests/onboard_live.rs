//! `switchyard onboard --live` end to end (issue 14): the built binary sends the shipped probe
//! set through real provider adapters (OpenAI and Anthropic dialects) to the testkit fake on
//! loopback, where two models have scripted per-task qualities; it scores the answers against
//! the probes' references, fits them into a copy of the bundled artifact, and a gateway serving
//! that artifact then routes by the scripted qualities.
//!
//! The scripts: `gpt-4o-mini` answers maths (school and advanced) and classification probes
//! right and everything else wrong; `claude-haiku-4.5` the other way round. Coding probes have no automatic check:
//! the configured judge (`gpt-4o`, also on the fake) scores them. The catalog's priors say the opposite of
//! the first half (Haiku is the stronger model on every task), so a choice that follows the
//! script can only come from the probes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)] // this test runs the binary with its own environment
mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use router_core::reference::Reference;
use router_core::{ModelId, Task};
use serde_json::{json, Value};
use testkit::{FakeProvider, Scenario};
use training::onboarding::probes::{Probe, ProbeSet};

const LIGHT: &str = "gpt-4o-mini";
const HAIKU: &str = "claude-haiku-4.5";
/// Haiku's name upstream (the catalog's `upstream_name`).
const HAIKU_UPSTREAM: &str = "claude-haiku-4-5";
const JUDGE: &str = "gpt-4o";
const KEY_ENV: &str = "SWITCHYARD_TEST_ONBOARD_KEY";
const PER_TASK: usize = 12;
/// The `[judge]` default `max_tokens`, which the judge's test requests carry.
const JUDGE_MAX_TOKENS: u32 = 256;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What `gpt-4o-mini` gets right; Haiku gets right exactly the others.
fn light_is_right(task: Task) -> bool {
    matches!(task, Task::Math | Task::AdvancedMath | Task::Classification)
}

/// A reply the probe's reference check accepts.
fn right_answer(probe: &Probe) -> String {
    match &probe.reference {
        Reference::Choice { answer } => format!("The answer is \\boxed{{{answer}}}."),
        Reference::Number { answer } | Reference::Exact { answer } => {
            format!("Working it out, the answer is \\boxed{{{answer}}}")
        }
        Reference::Text { answers } => answers[0].clone(),
        Reference::Concepts { concepts } => concepts.join(" "),
        other => panic!("{}: only a judge scores {other:?}", probe.id),
    }
}

fn config(dir: &Path, fake: &FakeProvider) -> PathBuf {
    let path = dir.join("switchyard.toml");
    let text = format!(
        r#"
[[providers]]
name = "openai"
kind = "openai"
base_url = "{openai}"
api_key_env = "{KEY_ENV}"

[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "{anthropic}"
api_key_env = "{KEY_ENV}"

[router]
candidates = ["{LIGHT}", "{HAIKU}"]

[log]
sqlite = "{sqlite}"

[judge]
model = "{JUDGE}"
sample_rate = 0.0
daily_budget_usd = 1.0
"#,
        openai = fake.openai_base_url(),
        anthropic = fake.base_url(),
        sqlite = dir.join("outcomes.sqlite").display(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the binary off the async runtime (the fake keeps serving meanwhile).
async fn onboard(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(&args)
            .env("RUST_LOG", "warn")
            .env(KEY_ENV, "test-key")
            .output()
            .expect("the switchyard binary runs")
    })
    .await
    .unwrap()
}

fn onboarded(manifest: &Value, model: &str, task: Task) -> f64 {
    manifest["onboarded"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == model)
        .and_then(|m| {
            m["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["task"] == task.as_str())
        })
        .and_then(|t| t["estimate"].as_f64())
        .unwrap_or_else(|| panic!("{model} {task:?} in {manifest}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboard_live_fits_scripted_qualities_resumes_and_routes_by_them() {
    let probes = ProbeSet::bundled().unwrap();
    let selected = probes.select(PER_TASK, 0);
    let judged = selected
        .iter()
        .filter(|p| p.reference.needs_judge())
        .count();
    assert!(judged > 0, "the selection has coding probes for the judge");
    let mut light = HashMap::new();
    let mut haiku = HashMap::new();
    for p in selected.iter().filter(|p| !p.reference.needs_judge()) {
        let right = right_answer(p);
        if light_is_right(p.task) {
            light.insert(p.prompt.clone(), right);
        } else {
            haiku.insert(p.prompt.clone(), right);
        }
    }
    let fake = FakeProvider::start().await;
    fake.always(LIGHT, Scenario::keyed(light, "I am not sure."));
    fake.always(HAIKU_UPSTREAM, Scenario::keyed(haiku, "I am not sure."));
    fake.always(JUDGE, Scenario::reply(r#"{"score": 0.9}"#));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &fake);
    let out = dir.path().join("onboarded");
    let answers = dir.path().join("answers.jsonl");
    let args: Vec<String> = [
        "onboard",
        "--live",
        "--models",
        &format!("{LIGHT},{HAIKU}"),
        "--config",
        cfg.to_str().unwrap(),
        "--artifact",
        repo().join("artifacts/default-router").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--answers",
        answers.to_str().unwrap(),
        "--per-task",
        &PER_TASK.to_string(),
        "--yes",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    // An --out that is a folder of other things (here the test's own folder) is refused
    // before anything is paid for: replacing it would delete what it holds.
    let mut foreign = args.clone();
    let at = foreign.iter().position(|a| a == "--out").unwrap() + 1;
    foreign[at] = dir.path().to_str().unwrap().to_owned();
    let refused = onboard(foreign).await;
    assert!(!refused.status.success());
    assert!(
        common::text(&refused.stderr).contains("--out"),
        "{}",
        common::text(&refused.stderr)
    );
    assert!(cfg.is_file());
    assert_eq!(
        fake.calls(LIGHT) + fake.calls(HAIKU_UPSTREAM) + fake.calls(JUDGE),
        0
    );

    // Without --yes and without a terminal, nothing is sent.
    let refused = onboard(args[..args.len() - 1].to_vec()).await;
    assert!(!refused.status.success());
    assert!(
        common::text(&refused.stderr).contains("add --yes"),
        "{}",
        common::text(&refused.stderr)
    );
    // A plan expected to cost more than the cap is refused before anything is sent.
    let mut capped = args.clone();
    capped.extend(["--max-cost-usd".to_owned(), "0.000001".to_owned()]);
    let refused = onboard(capped).await;
    assert!(!refused.status.success());
    assert!(
        common::text(&refused.stderr).contains("above --max-cost-usd"),
        "{}",
        common::text(&refused.stderr)
    );
    assert_eq!(fake.calls(LIGHT) + fake.calls(HAIKU_UPSTREAM), 0);

    // A judge that replies without a score, or gives every answer the same score, is found
    // out by its test calls, before any probe is sent.
    fake.always(JUDGE, Scenario::reply("This answer looks fine to me."));
    let garbled = onboard(args.clone()).await;
    assert!(!garbled.status.success());
    assert!(
        common::text(&garbled.stderr).contains("without a readable score"),
        "{}",
        common::text(&garbled.stderr)
    );
    assert_eq!(fake.calls(JUDGE), 1);
    fake.always(JUDGE, Scenario::reply(r#"{"score": 0.9}"#));
    let constant = onboard(args.clone()).await;
    assert!(!constant.status.success());
    assert!(
        common::text(&constant.stderr).contains("does not tell them apart"),
        "{}",
        common::text(&constant.stderr)
    );
    assert_eq!(fake.calls(JUDGE), 3);
    assert_eq!(fake.calls(LIGHT) + fake.calls(HAIKU_UPSTREAM), 0);
    // A judge that reads the answer: right 1.0, wrong 0.0 on the test question, and 0.9 on
    // every coding answer.
    let check_text = |answer: &str| {
        gateway::judge::verdict::absolute_request(
            gateway::probe::JUDGE_CHECK_PROMPT,
            answer,
            JUDGE_MAX_TOKENS,
        )
        .messages
        .last()
        .unwrap()
        .text_content()
    };
    fake.always(
        JUDGE,
        Scenario::keyed(
            HashMap::from([
                (
                    check_text(gateway::probe::JUDGE_CHECK_RIGHT),
                    r#"{"score": 1.0}"#.to_owned(),
                ),
                (
                    check_text(gateway::probe::JUDGE_CHECK_WRONG),
                    r#"{"score": 0.0}"#.to_owned(),
                ),
            ]),
            r#"{"score": 0.9}"#,
        ),
    );

    let first = onboard(args.clone()).await;
    let stderr = common::text(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    // The cost table came first; every probe went to both models, the coding ones to the
    // judge too.
    assert!(stderr.contains("expected USD"), "{stderr}");
    assert!(
        stderr.contains(&format!("judging by `{JUDGE}`")),
        "{stderr}"
    );
    assert_eq!(fake.calls(LIGHT), selected.len());
    assert_eq!(fake.calls(HAIKU_UPSTREAM), selected.len());
    // Every judged answer, plus the test calls (1 garbled and 2 constant above, 2 here).
    assert_eq!(fake.calls(JUDGE), 2 * judged + 5);
    let lines = std::fs::read_to_string(&answers).unwrap();
    assert_eq!(lines.lines().count(), 2 * selected.len());
    let by_judge = lines
        .lines()
        .filter(|l| l.contains(r#""scored_by":"judge""#))
        .count();
    assert_eq!(by_judge, 2 * judged);
    let stdout = common::text(&first.stdout);
    assert!(stdout.contains("## gpt-4o-mini"), "{stdout}");
    // What a user sees (shown with --nocapture).
    eprintln!("{stderr}\n{stdout}");

    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    for task in Task::ALL {
        if task == Task::Coding || !selected.iter().any(|p| p.task == task) {
            continue;
        }
        let (l, h) = (
            onboarded(&manifest, LIGHT, task),
            onboarded(&manifest, HAIKU, task),
        );
        if light_is_right(task) {
            assert!(l > 0.7 && h < 0.4, "{task:?}: light {l}, haiku {h}");
        } else {
            assert!(h > 0.7 && l < 0.4, "{task:?}: light {l}, haiku {h}");
        }
    }
    // The judge's 0.9 on every coding answer lifts both models' coding estimates.
    for m in [LIGHT, HAIKU] {
        assert!(onboarded(&manifest, m, Task::Coding) > 0.75, "{m}");
    }
    // The probes' wall times became each model's latency prior: the fake on loopback answers
    // in milliseconds, where the catalog expects hundreds.
    for m in [LIGHT, HAIKU] {
        let fit = manifest["onboarded"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["model"] == m)
            .unwrap();
        let ttft = fit["latency"]["ttft_ms"].as_f64().unwrap();
        assert!((0.0..100.0).contains(&ttft), "{m}: {fit}");
        assert!(
            fit["latency"]["tokens_per_s"].as_f64().unwrap() > 0.0,
            "{m}"
        );
    }
    assert!(
        stdout.contains("Latency (measured on the probes"),
        "{stdout}"
    );
    // The rest of the artifact is the bundled one, byte for byte.
    let bundled = repo().join("artifacts/default-router");
    assert_eq!(
        std::fs::read(bundled.join("weights.safetensors")).unwrap(),
        std::fs::read(out.join("weights.safetensors")).unwrap()
    );

    // A second run with the same answers file sends nothing and fits the same.
    let second = onboard(args.clone()).await;
    assert!(second.status.success(), "{}", common::text(&second.stderr));
    assert_eq!(fake.calls(LIGHT), selected.len());
    // Nothing left for the judge either: no test calls.
    assert_eq!(fake.calls(JUDGE), 2 * judged + 5);
    let again: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        onboarded(&again, LIGHT, Task::Math),
        onboarded(&manifest, LIGHT, Task::Math)
    );

    // A run that selects fewer probes sends nothing and still fits every answer in the file,
    // each read against its own probe's difficulty: the same fit. (Before, the answers to
    // probes outside the smaller selection were read at difficulty 0.)
    let mut fewer = args.clone();
    let at = fewer.iter().position(|a| a == "--per-task").unwrap() + 1;
    fewer[at] = "4".to_owned();
    let third = onboard(fewer).await;
    assert!(third.status.success(), "{}", common::text(&third.stderr));
    assert_eq!(fake.calls(LIGHT), selected.len());
    let same: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    for task in [Task::Math, Task::Knowledge] {
        for m in [LIGHT, HAIKU] {
            assert_eq!(
                onboarded(&same, m, task),
                onboarded(&manifest, m, task),
                "{m} {task:?}"
            );
        }
    }

    // Without --artifact the run would start from the bundled artifact and replace `out`,
    // dropping the models onboarded into it: refused, naming the fix.
    let mut from_bundled = args.clone();
    let at = from_bundled.iter().position(|a| a == "--artifact").unwrap();
    from_bundled.drain(at..at + 2);
    let refused = onboard(from_bundled).await;
    assert!(!refused.status.success());
    let stderr = common::text(&refused.stderr);
    assert!(
        stderr.contains("already holds onboarded models") && stderr.contains("--artifact"),
        "{stderr}"
    );
    let kept: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(kept, same);

    route_by_the_fit(&out, dir.path()).await;
}

/// A gateway serving the onboarded artifact routes a maths prompt to the light model and a
/// knowledge prompt to Haiku, each candidate marked `onboarded`.
async fn route_by_the_fit(artifact: &Path, dir: &Path) {
    let encoder_dir = repo().join(".switchyard/encoder/all-MiniLM-L6-v2");
    if !encoder_dir.join("model.safetensors").exists() {
        eprintln!(
            "routing check skipped: no encoder weights in {} (run `switchyard model fetch`)",
            encoder_dir.display()
        );
        return;
    }
    let mut raw = gateway::config::GatewayConfig::default();
    raw.log.sqlite = dir.join("serve.sqlite");
    raw.router.artifact = Some(artifact.to_path_buf());
    raw.router.candidates = Some(vec![ModelId::new(LIGHT), ModelId::new(HAIKU)]);
    raw.router.routing_deadline = std::time::Duration::from_secs(60);
    let config = gateway::Config::resolve(raw, &|_| None).unwrap();
    let service = gateway::server::load_classifier(
        &config,
        &encoder_dir,
        classifier::ServiceConfig::default(),
        classifier::EncoderConfig::default(),
    )
    .unwrap()
    .expect("the encoder service starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = gateway::spawn(config, listener, Some(service))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let route = |prompt: &'static str| {
        let http = http.clone();
        let url = format!("http://{}/v1/route", gw.local_addr());
        async move {
            let resp = http
                .post(url)
                .json(&json!({ "prompt": prompt }))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()
        }
    };
    let maths = route(
        "A baker sells 14 loaves a day at 3 dollars each and spends 12 dollars on flour. \
         How many dollars does she keep each day?",
    )
    .await;
    let knowledge = route("Which river flows through Budapest, Vienna and Bratislava?").await;
    for d in [&maths, &knowledge] {
        for c in d["candidates"].as_array().unwrap() {
            assert_eq!(c["source"], "onboarded", "{c}");
        }
    }
    assert_eq!(maths["chosen"], LIGHT, "{maths}");
    assert_eq!(knowledge["chosen"], HAIKU, "{knowledge}");
    gw.shutdown().await.unwrap();
}
