//! `switchyard eval --from-log DB --arms`: the arms of an A/B experiment compared on their own
//! rows of a real SQLite outcome log, the gate passing a better arm and refusing a worse one,
//! and clear errors for a log without arms or an unknown control.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use router_core::{
    ArmAssignment, Feedback, ModelId, Outcome, OutcomeStatus, PromptRecord, OUTCOME_SCHEMA_VERSION,
};

mod common;

use common::{switchyard, text};

fn row(i: usize, arm: Option<&str>, quality: f64, cost: f64) -> Outcome {
    Outcome {
        schema_version: OUTCOME_SCHEMA_VERSION,
        request_id: format!("req_{i:04}"),
        timestamp_ms: 1_700_000_000_000 + i as u64,
        prompt: PromptRecord::None,
        requested_model: "auto".to_owned(),
        decision: None,
        constraints: None,
        objective: None,
        propensity: Some(1.0),
        model: Some(ModelId::new("gpt-4o-mini")),
        upstream_model: None,
        status: OutcomeStatus::Ok,
        attempts: Vec::new(),
        ttft_ms: None,
        latency_ms: 100.0 + (i % 7) as f64,
        input_tokens: Some(100),
        output_tokens: Some(100),
        cost_usd: Some(cost),
        feedback: vec![Feedback::human("correct", quality)],
        key_id: None,
        cache_hit: None,
        guardrails: None,
        arm: arm.map(|a| ArmAssignment {
            experiment: "stack-vs-mf".to_owned(),
            arm: a.to_owned(),
            unit: "user".to_owned(),
        }),
        rule: None,
    }
}

/// 300 requests per arm: `candidate` answers better (0.8 against 0.6 on average) at the same
/// cost, `worse` answers worse; plus rows outside the experiment.
fn write_log(path: &std::path::Path) {
    let mut rows = Vec::new();
    for i in 0..300 {
        let q = |base: f64| if i % 5 == 0 { base - 0.4 } else { base + 0.1 };
        rows.push(row(3 * i, Some("control"), q(0.6), 0.002));
        rows.push(row(3 * i + 1, Some("candidate"), q(0.8), 0.002));
        rows.push(row(3 * i + 2, Some("worse"), q(0.4), 0.002));
    }
    rows.push(row(9000, None, 1.0, 0.0));
    let mut conn = outcome_log::open(path, false).unwrap();
    outcome_log::write_batch(&mut conn, &rows).unwrap();
}

#[test]
fn arms_are_compared_and_the_gate_passes_only_a_better_arm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outcomes.sqlite");
    write_log(&db);
    let db = db.to_str().unwrap();

    let out = switchyard(&["eval", "--from-log", db, "--arms"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("A/B experiment `stack-vs-mf`"), "{stdout}");
    for arm in [
        "| control | 300 | 300 |",
        "| candidate | 300 | 300 |",
        "| worse |",
    ] {
        assert!(stdout.contains(arm), "{arm} missing:\n{stdout}");
    }
    assert!(text(&out.stderr).contains("1 outside any experiment"));

    let json = switchyard(&["eval", "--from-log", db, "--arms", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["control"], "control");
    let candidate = v["deltas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["arm"] == "candidate")
        .unwrap();
    let dq = candidate["quality"]["mean"].as_f64().unwrap();
    assert!((dq - 0.2).abs() < 1e-9, "{candidate}");
    assert!(candidate["utility"]["low"].as_f64().unwrap() > 0.0);

    let pass = switchyard(&[
        "eval",
        "--from-log",
        db,
        "--arms",
        "--gate-arm",
        "candidate",
    ]);
    assert!(pass.status.success(), "{}", text(&pass.stderr));
    assert!(text(&pass.stderr).contains(": pass"));

    let refused = switchyard(&["eval", "--from-log", db, "--arms", "--gate-arm", "worse"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("not shown better; keep `control`"),
        "{}",
        text(&refused.stderr)
    );

    let bad_control = switchyard(&["eval", "--from-log", db, "--arms", "--control", "nope"]);
    assert!(!bad_control.status.success());
    let err = text(&bad_control.stderr);
    assert!(
        err.contains("`nope`") && err.contains("candidate, control, worse"),
        "{err}"
    );
}

#[test]
fn a_log_without_arms_and_a_missing_router_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outcomes.sqlite");
    let mut conn = outcome_log::open(&db, false).unwrap();
    outcome_log::write_batch(&mut conn, &[row(1, None, 1.0, 0.0)]).unwrap();
    drop(conn);
    let db = db.to_str().unwrap();

    let out = switchyard(&["eval", "--from-log", db, "--arms"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("names an A/B arm"),
        "{}",
        text(&out.stderr)
    );
    let out = switchyard(&["eval", "--from-log", db]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("add --router DIR"),
        "{}",
        text(&out.stderr)
    );
}

/// 300 requests per arm routed at λ = `lambda`: `candidate` answers better (0.8 against 0.6
/// on average) at twenty times the cost (0.004 USD against 0.0002).
fn write_priced_log(path: &std::path::Path, lambda: impl Fn(usize) -> f64) {
    let mut rows = Vec::new();
    for i in 0..300 {
        let q = |base: f64| if i % 5 == 0 { base - 0.4 } else { base + 0.1 };
        for (j, (arm, quality, cost)) in [("control", q(0.6), 0.0002), ("candidate", q(0.8), 0.004)]
            .into_iter()
            .enumerate()
        {
            let id = 2 * i + j;
            rows.push(Outcome {
                objective: Some(router_core::Objective::Utility { lambda: lambda(id) }),
                ..row(id, Some(arm), quality, cost)
            });
        }
    }
    let mut conn = outcome_log::open(path, false).unwrap();
    outcome_log::write_batch(&mut conn, &rows).unwrap();
}

#[test]
fn the_arm_gate_judges_utility_at_the_trade_off_the_arms_were_routed_under() {
    let dir = tempfile::tempdir().unwrap();
    let gate = |db: &std::path::Path| {
        switchyard(&[
            "eval",
            "--from-log",
            db.to_str().unwrap(),
            "--arms",
            "--gate-arm",
            "candidate",
        ])
    };
    // At λ = 5 the candidate's quality is worth its cost (utility 0.78 against 0.599).
    let at_5 = dir.path().join("at5.sqlite");
    write_priced_log(&at_5, |_| 5.0);
    let out = gate(&at_5);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("gate (λ = 5)"), "{stderr}");
    // At λ = 100, the trade-off these requests were routed under, it is not (0.4 against
    // 0.58): the gate must judge that one, not the default.
    let at_100 = dir.path().join("at100.sqlite");
    write_priced_log(&at_100, |_| 100.0);
    let out = gate(&at_100);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "passed at λ = 100: {stderr}");
    assert!(
        stderr.contains("gate (λ = 100)") && stderr.contains("not shown better"),
        "{stderr}"
    );
    let json = switchyard(&[
        "eval",
        "--from-log",
        at_100.to_str().unwrap(),
        "--arms",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["lambda"], 100.0);
    // Callers with their own trade-offs: no single λ to compare the arms in.
    let mixed = dir.path().join("mixed.sqlite");
    write_priced_log(&mixed, |i| if i % 3 == 0 { 100.0 } else { 5.0 });
    let out = gate(&mixed);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("several trade-offs (λ = 5, 100"),
        "{stderr}"
    );
}
