#![allow(clippy::unwrap_used, clippy::expect_used)]

use router_core::Feedback;

use super::*;

pub(crate) fn outcome(id: &str, ts: u64) -> Outcome {
    Outcome {
        latency_ms: 1.0,
        ..Outcome::answered(id, ts, "gpt-4o-mini")
    }
}

#[test]
fn a_bad_record_is_skipped_by_the_export_and_named_by_a_strict_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sqlite");
    let mut conn = crate::open(&path, false).unwrap();
    crate::write_batch(&mut conn, &[outcome("b", 2), outcome("a", 1)]).unwrap();
    crate::add_feedback(&mut conn, "b", None, &Feedback::human("correct", 1.0), 3).unwrap();
    conn.execute(
        "INSERT INTO outcomes (request_id, timestamp_ms, status, latency_ms, record)
         VALUES ('bad', 0, 'ok', 1.0, '{\"not\": \"an outcome\"}')",
        [],
    )
    .unwrap();
    let mut b = outcome("b", 2);
    b.feedback = vec![Feedback::human("correct", 1.0)];
    assert_eq!(read_outcomes(&path).unwrap(), vec![outcome("a", 1), b]);
    let mut out = Vec::new();
    assert_eq!(export_jsonl(&path, &mut out).unwrap(), 2);
    let err = read_outcomes_with(&path, OnBadRecord::Fail).unwrap_err();
    assert!(
        matches!(&err, Error::RecordInvalid { request_id, .. } if request_id == "bad"),
        "{err}"
    );
}

#[test]
fn a_file_without_feedback_reads_unlabelled_and_a_missing_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bare.sqlite");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE outcomes (request_id TEXT PRIMARY KEY, timestamp_ms INTEGER NOT NULL,
            status TEXT NOT NULL, latency_ms REAL NOT NULL, record TEXT NOT NULL);",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO outcomes VALUES ('a', 1, 'ok', 1.0, ?1)",
        [serde_json::to_string(&outcome("a", 1)).unwrap()],
    )
    .unwrap();
    assert_eq!(read_outcomes(&path).unwrap(), vec![outcome("a", 1)]);
    let err = read_outcomes(dir.path().join("nope.sqlite")).unwrap_err();
    assert!(matches!(err, Error::Missing { .. }), "{err}");
    assert!(err.to_string().contains("nope.sqlite"), "{err}");
}

#[test]
fn a_file_with_only_client_keys_reads_as_no_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys-only.sqlite");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE client_keys (id TEXT PRIMARY KEY);")
        .unwrap();
    assert_eq!(read_outcomes(&path).unwrap(), Vec::<Outcome>::new());
}
