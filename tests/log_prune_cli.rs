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
    // Said before the deletion (a cron log keeps what was about to happen), then done.
    assert!(
        text(&run.stderr).starts_with("will delete 1 outcome"),
        "{}",
        text(&run.stderr)
    );
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

/// A log of `rows` outcomes of 2 kB prompts, the oldest first (about 2.3 kB each on disk).
fn big_log(db: &std::path::Path, rows: usize) -> u64 {
    let mut conn = outcome_log::open(db, false).unwrap();
    let rows: Vec<Outcome> = (0..rows)
        .map(|i| {
            let mut o = logged(&format!("r{i:05}"), 0);
            o.timestamp_ms -= (rows - i) as u64; // r00000 oldest
            o.prompt = PromptRecord::Full {
                text: "z".repeat(2_000),
            };
            o
        })
        .collect();
    for chunk in rows.chunks(1_000) {
        outcome_log::write_batch(&mut conn, chunk).unwrap();
    }
    outcome_log::used_bytes(&conn).unwrap()
}

#[test]
fn log_prune_max_bytes_says_what_it_will_delete_then_deletes_the_oldest_rows_and_keeps_their_spend()
{
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outcomes.sqlite");
    let total = 9_000;
    let used = big_log(&db, total);
    let floor = gateway::config::MIN_RETENTION_BYTES;
    assert!(used > floor + floor / 4, "{used}");
    let db_s = db.to_str().unwrap();

    // Neither limit: clap names both.
    let none = switchyard(&["log", "prune", "--db", db_s]);
    assert!(!none.status.success());
    assert!(
        text(&none.stderr).contains("--max-bytes"),
        "{}",
        text(&none.stderr)
    );

    // A dry run says how many would go and deletes nothing.
    let dry = switchyard(&[
        "log",
        "prune",
        "--db",
        db_s,
        "--max-bytes",
        "16MiB",
        "--dry-run",
    ]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(
        text(&dry.stderr).starts_with("would delete "),
        "{}",
        text(&dry.stderr)
    );
    assert_eq!(outcome_log::read_outcomes(&db).unwrap().len(), total);

    // Units are accepted; the count is said before the deletion, then what was deleted.
    let run = switchyard(&["log", "prune", "--db", db_s, "--max-bytes", "16MiB"]);
    let err = text(&run.stderr);
    assert!(run.status.success(), "{err}");
    let left = outcome_log::read_outcomes(&db).unwrap();
    assert!(left.len() < total && !left.is_empty(), "{}", left.len());
    assert_eq!(left[0].request_id, format!("r{:05}", total - left.len()));
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines[0].starts_with("will delete about "), "{err}");
    assert!(
        lines[1].starts_with(&format!("deleted {} outcome", total - left.len())),
        "{err}"
    );
    let spend = outcome_log::spend_report(&db, outcome_log::SpendBy::Model, None).unwrap();
    assert_eq!(spend[0].requests, total as u64);
}

/// Below the floor `[log] retention_max_bytes` has (16 MiB), `--max-bytes` is refused before
/// anything is read or deleted, naming the flag, the floor and why: 1024 meant as MiB, or a
/// 0, deleted every outcome and label.
#[test]
fn log_prune_refuses_a_max_bytes_below_the_floor_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outcomes.sqlite");
    let mut conn = outcome_log::open(&db, false).unwrap();
    let rows: Vec<Outcome> = (0..50).map(|i| logged(&format!("r{i}"), 0)).collect();
    outcome_log::write_batch(&mut conn, &rows).unwrap();
    drop(conn);
    let db_s = db.to_str().unwrap();
    let floor = gateway::config::MIN_RETENTION_BYTES;
    let just_under = (floor - 1).to_string();
    for value in [
        "0",
        "1",
        "1024",
        "15MiB",
        just_under.as_str(),
        "-5",
        "10 parsecs",
    ] {
        for dry in [false, true] {
            let mut args = vec!["log", "prune", "--db", db_s, "--max-bytes", value];
            if dry {
                args.push("--dry-run");
            }
            let run = switchyard(&args);
            let err = text(&run.stderr);
            assert_eq!(run.status.code(), Some(2), "{value}: {err}");
            assert!(err.contains("--max-bytes"), "{value}: {err}");
            assert!(!err.contains("deleted"), "{value}: {err}");
            if !matches!(value, "10 parsecs" | "-5") {
                assert!(
                    err.contains("16 MiB") && err.contains(&floor.to_string()),
                    "{value}: {err}"
                );
                assert!(err.contains("retention_max_bytes"), "{value}: {err}");
            }
        }
    }
    assert_eq!(outcome_log::read_outcomes(&db).unwrap().len(), 50);
    // The floor itself is accepted (the log is far under it: nothing to do).
    let at_floor = switchyard(&[
        "log",
        "prune",
        "--db",
        db_s,
        "--max-bytes",
        &floor.to_string(),
    ]);
    assert!(at_floor.status.success(), "{}", text(&at_floor.stderr));
    assert_eq!(outcome_log::read_outcomes(&db).unwrap().len(), 50);
}
