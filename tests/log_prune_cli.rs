//! `switchyard log prune`: old rows are archived then deleted, recent ones stay, their spend
//! still counts, and a zero-day retention is refused with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use router_core::{Outcome, PromptRecord};

mod common;

use common::{switchyard, text};

fn logged(id: &str, days_ago: u64) -> Outcome {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    Outcome {
        latency_ms: 1.0,
        cost_usd: Some(0.001),
        ..Outcome::answered(id, now - days_ago * 86_400_000, "gpt-4o-mini")
    }
}

#[test]
fn log_prune_archives_old_rows_keeps_recent_ones_and_refuses_a_zero_retention() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outcomes.sqlite");
    let mut conn = outcome_log::open(&db, false).unwrap();
    let rows = [logged("old", 100), logged("month", 40), logged("today", 0)];
    outcome_log::write_batch(&mut conn, &rows).unwrap();
    drop(conn);
    let db_s = db.to_str().unwrap();
    let archive = dir.path().join("archive.jsonl");
    let archive_s = archive.to_str().unwrap();

    let dry = switchyard(&[
        "log",
        "prune",
        "--db",
        db_s,
        "--older-than",
        "60d",
        "--dry-run",
    ]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(
        text(&dry.stderr).contains("would delete 1 outcome"),
        "{}",
        text(&dry.stderr)
    );
    assert!(!archive.exists());

    let run = switchyard(&[
        "log",
        "prune",
        "--db",
        db_s,
        "--older-than",
        "60",
        "--archive",
        archive_s,
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        text(&run.stderr).contains("deleted 1 outcome"),
        "{}",
        text(&run.stderr)
    );
    let archived = std::fs::read_to_string(&archive).unwrap();
    assert_eq!(archived.lines().count(), 1);
    assert!(archived.contains("\"request_id\":\"old\""), "{archived}");
    let left: Vec<String> = outcome_log::read_outcomes(&db)
        .unwrap()
        .into_iter()
        .map(|o| o.request_id)
        .collect();
    assert_eq!(left, ["month", "today"]);

    let zero = switchyard(&["log", "prune", "--db", db_s, "--older-than", "0d"]);
    assert!(!zero.status.success());
    let err = text(&zero.stderr);
    assert!(err.contains("at least 1"), "{err}");
    assert_eq!(outcome_log::read_outcomes(&db).unwrap().len(), 2);

    // A week is allowed: the pruned rows' spend still counts.
    let week = switchyard(&["log", "prune", "--db", db_s, "--older-than", "7d"]);
    assert!(week.status.success(), "{}", text(&week.stderr));
    assert_eq!(outcome_log::read_outcomes(&db).unwrap().len(), 1);
    let spend = outcome_log::spend_report(&db, outcome_log::SpendBy::Model, None).unwrap();
    assert_eq!(spend[0].requests, 3);
    assert!((spend[0].cost_usd - 0.003).abs() < 1e-9);
}

#[test]
fn log_prune_max_bytes_deletes_the_oldest_rows_and_keeps_their_spend() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outcomes.sqlite");
    let mut conn = outcome_log::open(&db, false).unwrap();
    let rows: Vec<Outcome> = (0..400)
        .map(|i| {
            let mut o = logged(&format!("r{i:03}"), 0);
            o.timestamp_ms -= 400 - i; // r000 oldest
            o.prompt = PromptRecord::Full {
                text: "z".repeat(2_000),
            };
            o
        })
        .collect();
    outcome_log::write_batch(&mut conn, &rows).unwrap();
    let used = outcome_log::used_bytes(&conn).unwrap();
    drop(conn);
    let db_s = db.to_str().unwrap();
    let cap = (used / 2).to_string();

    // Neither limit: clap names both.
    let none = switchyard(&["log", "prune", "--db", db_s]);
    assert!(!none.status.success());
    assert!(
        text(&none.stderr).contains("--max-bytes"),
        "{}",
        text(&none.stderr)
    );

    let run = switchyard(&["log", "prune", "--db", db_s, "--max-bytes", &cap]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let left = outcome_log::read_outcomes(&db).unwrap();
    assert!(left.len() < 200 && !left.is_empty(), "{}", left.len());
    assert_eq!(left[0].request_id, format!("r{:03}", 400 - left.len()));
    assert!(
        text(&run.stderr).contains(&format!("deleted {} outcome", 400 - left.len())),
        "{}",
        text(&run.stderr)
    );
    let spend = outcome_log::spend_report(&db, outcome_log::SpendBy::Model, None).unwrap();
    assert_eq!(spend[0].requests, 400);
    assert!((spend[0].cost_usd - 0.4).abs() < 1e-9);

    // A cap no pruning can meet: everything goes, and the error says what to do.
    let tiny = switchyard(&["log", "prune", "--db", db_s, "--max-bytes", "1"]);
    assert!(!tiny.status.success());
    assert!(
        text(&tiny.stderr).contains("larger --max-bytes"),
        "{}",
        text(&tiny.stderr)
    );
}
