#![allow(clippy::unwrap_used, clippy::expect_used)]

use router_core::{Feedback, Outcome};
use rusqlite::Connection;

use super::*;
use crate::schema::{has_column, has_table};
use crate::{add_feedback, open, read_outcomes, spend_report, write_batch, Error, FeedbackVerdict};

fn outcome(id: &str, ts: u64) -> Outcome {
    Outcome {
        propensity: Some(1.0),
        latency_ms: 34.0,
        input_tokens: Some(10),
        output_tokens: Some(20),
        cost_usd: Some(0.25),
        ..Outcome::answered(id, ts, "gpt-4o-mini")
    }
}

/// The oldest layout this code knows (before client keys and the judge, before versioning):
/// `outcomes` without `key_id`, `feedback` without `source`, no `judge_calls`.
fn oldest_layout(path: &std::path::Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE outcomes (request_id TEXT PRIMARY KEY, timestamp_ms INTEGER NOT NULL,
            model TEXT, status TEXT NOT NULL, cost_usd REAL, latency_ms REAL NOT NULL,
            record TEXT NOT NULL);
         CREATE INDEX outcomes_timestamp ON outcomes(timestamp_ms);
         CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL,
            metric TEXT NOT NULL, score REAL NOT NULL, timestamp_ms INTEGER NOT NULL);",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO outcomes VALUES ('old', 1, 'gpt-4o-mini', 'ok', 0.25, 34.0, ?1)",
        [serde_json::to_string(&outcome("old", 1)).unwrap()],
    )
    .unwrap();
    conn.execute_batch(
        "INSERT INTO feedback (request_id, metric, score, timestamp_ms) VALUES ('old', 'correct', 1.0, 0);",
    )
    .unwrap();
}

#[test]
fn the_oldest_layout_migrates_to_the_current_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    oldest_layout(&path);
    assert_eq!(version(&Connection::open(&path).unwrap()).unwrap(), 0);

    let mut conn = open(&path, false).unwrap();
    assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
    assert!(has_column(&conn, "outcomes", "key_id").unwrap());
    assert!(has_column(&conn, "feedback", "source").unwrap());
    assert!(has_table(&conn, "judge_calls").unwrap());
    assert!(has_table(&conn, "pruned_spend").unwrap());
    let model_index: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'outcomes_model'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(model_index, 0, "version 6 drops the unused model index");

    // The old row and its label survive; the label reads as a person's, so a judge label
    // cannot replace it.
    let rows = read_outcomes(&path).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].feedback, vec![Feedback::human("correct", 1.0)]);
    assert_eq!(
        add_feedback(&mut conn, "old", None, &Feedback::judge("correct", 0.0), 5).unwrap(),
        FeedbackVerdict::AlreadyLabelled { score: 1.0 }
    );
    // New rows use the new columns next to the old ones.
    let mut keyed = outcome("new", 2);
    keyed.key_id = Some("key_1".to_owned());
    assert_eq!(write_batch(&mut conn, &[keyed]).unwrap(), vec![true]);
    let by_key = spend_report(&path, crate::SpendBy::Key, None).unwrap();
    assert_eq!(by_key.len(), 2);
    assert!(by_key
        .iter()
        .any(|r| r.group.as_deref() == Some("key_1") && r.requests == 1));
    assert!(by_key.iter().any(|r| r.group.is_none() && r.requests == 1));
    crate::judge_calls::insert(
        &conn,
        &crate::JudgeCall {
            request_id: "new".to_owned(),
            timestamp_ms: 3,
            judge_model: None,
            method: "reference",
            result: crate::JudgeResult::Stored,
            score: Some(1.0),
            cost_usd: 0.5,
            input_tokens: 0,
            output_tokens: 0,
            latency_ms: 1.0,
        },
    )
    .unwrap();
    assert_eq!(crate::judge_spend_since(&path, 0).unwrap(), 0.5);
}

#[test]
fn a_new_file_starts_at_the_current_version_and_reopening_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/new.sqlite");
    let mut conn = open(&path, true).unwrap();
    assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
    assert_eq!(migrate(&mut conn).unwrap(), Migrated::From(SCHEMA_VERSION));
    write_batch(&mut conn, &[outcome("a", 1)]).unwrap();
    drop(conn);
    let conn = open(&path, false).unwrap();
    assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
    assert_eq!(read_outcomes(&path).unwrap(), vec![outcome("a", 1)]);
}

#[test]
fn an_unversioned_file_with_the_ad_hoc_columns_migrates_cleanly() {
    // Files written between the ad-hoc column additions and versioning: every column there,
    // `user_version` still 0. Each step must see its change is made and do nothing.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("adhoc.sqlite");
    oldest_layout(&path);
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "ALTER TABLE outcomes ADD COLUMN key_id TEXT;
             ALTER TABLE feedback ADD COLUMN source TEXT NOT NULL DEFAULT 'human';
             UPDATE feedback SET source = 'judge';",
        )
        .unwrap();
    }
    let conn = open(&path, false).unwrap();
    assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
    assert_eq!(
        read_outcomes(&path).unwrap()[0].feedback,
        vec![Feedback::judge("correct", 1.0)]
    );
}

#[test]
fn a_file_from_a_newer_build_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.sqlite");
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let err = open(&path, false).unwrap_err();
    assert!(matches!(err, Error::TooNew { found, .. } if found == SCHEMA_VERSION + 1));
    assert!(err.to_string().contains("future.sqlite"), "{err}");
    let conn = Connection::open(&path).unwrap();
    assert!(!has_table(&conn, "outcomes").unwrap());
}
