#![allow(clippy::unwrap_used, clippy::expect_used)]

use router_core::Feedback;

use super::*;
use crate::read::tests::outcome;

const DAY: u64 = 86_400_000;

/// A log with `n` outcomes one day apart (day 0 first), a label on each even one and a judge
/// call on day 1's.
fn log(dir: &Path, n: u64) -> std::path::PathBuf {
    let path = dir.join("log.sqlite");
    let mut conn = crate::open(&path, false).unwrap();
    let rows: Vec<Outcome> = (0..n).map(|d| outcome(&format!("r{d}"), d * DAY)).collect();
    crate::write_batch(&mut conn, &rows).unwrap();
    for d in (0..n).step_by(2) {
        let id = format!("r{d}");
        crate::add_feedback(
            &mut conn,
            &id,
            None,
            &Feedback::human("correct", 1.0),
            d * DAY,
        )
        .unwrap();
    }
    conn.execute(
        "INSERT INTO judge_calls (request_id, timestamp_ms, judge_model, method, result, cost_usd,
                                  input_tokens, output_tokens, latency_ms)
         VALUES ('r1', ?1, 'judge', 'absolute', 'ok', 0.001, 10, 5, 100.0)",
        [DAY as i64],
    )
    .unwrap();
    path
}

#[test]
fn prune_archives_then_deletes_old_rows_with_their_labels_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = log(dir.path(), 10);
    // Dry: counts only, nothing changes.
    let dry = prune(&path, 5 * DAY, None, 2, true).unwrap();
    assert_eq!(
        dry,
        PruneReport {
            outcomes: 5,
            feedback: 3,
            judge_calls: 1
        }
    );
    assert_eq!(crate::read_outcomes(&path).unwrap().len(), 10);

    let mut archive = Vec::new();
    let report = prune(&path, 5 * DAY, Some(&mut archive), 2, false).unwrap();
    assert_eq!(report, dry);
    // The archive holds exactly the deleted rows, oldest first, labels attached.
    let archived: Vec<Outcome> = String::from_utf8(archive)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = archived.iter().map(|o| o.request_id.as_str()).collect();
    assert_eq!(ids, ["r0", "r1", "r2", "r3", "r4"]);
    assert_eq!(archived[0].feedback, vec![Feedback::human("correct", 1.0)]);
    assert!(archived[1].feedback.is_empty());
    // What stays is untouched, labels included.
    let left = crate::read_outcomes(&path).unwrap();
    let ids: Vec<&str> = left.iter().map(|o| o.request_id.as_str()).collect();
    assert_eq!(ids, ["r5", "r6", "r7", "r8", "r9"]);
    assert_eq!(left[1].feedback.len(), 1);
    let conn = Connection::open(&path).unwrap();
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT COUNT(*) FROM feedback"), 2);
    assert_eq!(count("SELECT COUNT(*) FROM judge_calls"), 0);
    // Again: nothing left to prune.
    assert_eq!(
        prune(&path, 5 * DAY, None, 2, false).unwrap(),
        PruneReport::default()
    );
}

#[test]
fn prune_keeps_an_unreadable_row_in_the_archive_and_names_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = log(dir.path(), 2);
    let conn = Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO outcomes (request_id, timestamp_ms, status, latency_ms, record)
         VALUES ('bad', 0, 'ok', 1.0, '{\"not\": \"an outcome\"}')",
        [],
    )
    .unwrap();
    drop(conn);
    let mut archive = Vec::new();
    let report = prune(&path, DAY, Some(&mut archive), DEFAULT_PRUNE_BATCH, false).unwrap();
    assert_eq!(report.outcomes, 2);
    let text = String::from_utf8(archive).unwrap();
    assert!(text.contains("{\"not\": \"an outcome\"}"), "{text}");
    let missing = dir.path().join("nope.sqlite");
    let err = prune(&missing, DAY, None, 10, false).unwrap_err();
    assert!(err.to_string().contains("nope.sqlite"), "{err}");
}
