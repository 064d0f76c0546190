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

/// `n` keyed, costed rows one minute apart from `start`, each with a 1 KB prompt.
fn costed_log(path: &Path, n: u64, start: u64) {
    let mut conn = crate::open(path, false).unwrap();
    let rows: Vec<Outcome> = (0..n)
        .map(|i| {
            let mut o = outcome(&format!("c{i}"), start + i * 60_000);
            o.key_id = Some(if i % 2 == 0 { "k1" } else { "k2" }.to_owned());
            o.cost_usd = Some(0.25);
            o.input_tokens = Some(10);
            o.output_tokens = Some(20);
            o.prompt = router_core::PromptRecord::Full {
                text: format!("{i} {}", "x".repeat(1000)),
            };
            o
        })
        .collect();
    crate::write_batch(&mut conn, &rows).unwrap();
}

fn total_cost(path: &Path, by: crate::SpendBy) -> (u64, f64) {
    let rows = crate::spend_report(path, by, None).unwrap();
    (
        rows.iter().map(|r| r.requests).sum(),
        rows.iter().map(|r| r.cost_usd).sum(),
    )
}

#[test]
fn pruned_rows_still_count_in_budgets_and_spend_reports() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sqlite");
    // 100 rows over 100 minutes of day 3.
    costed_log(&path, 100, 3 * DAY);
    let k1_before = crate::key_spend_since(&path, "k1", 3 * DAY).unwrap();
    assert!((k1_before - 12.5).abs() < 1e-9);
    let reports = || -> Vec<Vec<crate::SpendRow>> {
        [
            crate::SpendBy::Key,
            crate::SpendBy::Model,
            crate::SpendBy::Day,
        ]
        .into_iter()
        .map(|by| crate::spend_report(&path, by, None).unwrap())
        .collect()
    };
    let before = reports();
    // Prune the first 60 (before minute 60).
    let report = prune(&path, 3 * DAY + 60 * 60_000, None, 7, false).unwrap();
    assert_eq!(report.outcomes, 60);
    assert_eq!(crate::read_outcomes(&path).unwrap().len(), 40);
    // The budget seed and every grouping of the spend report are unchanged.
    assert!((crate::key_spend_since(&path, "k1", 3 * DAY).unwrap() - k1_before).abs() < 1e-9);
    let after = reports();
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b.len(), a.len());
        for (rb, ra) in b.iter().zip(a) {
            assert_eq!(
                (
                    &rb.group,
                    rb.requests,
                    rb.ok,
                    rb.input_tokens,
                    rb.output_tokens
                ),
                (
                    &ra.group,
                    ra.requests,
                    ra.ok,
                    ra.input_tokens,
                    ra.output_tokens
                )
            );
            assert!((rb.cost_usd - ra.cost_usd).abs() < 1e-9);
        }
    }
    // A period starting after the pruned day does not see it.
    assert_eq!(crate::key_spend_since(&path, "k1", 4 * DAY).unwrap(), 0.0);
}

#[test]
fn a_size_cap_prunes_the_oldest_rows_until_the_log_is_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sqlite");
    costed_log(&path, 2_000, 10 * DAY);
    let conn = Connection::open(&path).unwrap();
    let used = used_bytes(&conn).unwrap();
    assert!(used > 2_000_000, "{used}");
    let totals = total_cost(&path, crate::SpendBy::Key);

    // Within the cap: nothing happens.
    let same = prune_to_size(&path, used + 1, None, false).unwrap();
    assert_eq!(same.pruned, PruneReport::default());
    assert_eq!(same.before_bytes, used);

    // Dry: says what would go, deletes nothing.
    let cap = used / 2;
    let dry = prune_to_size(&path, cap, None, true).unwrap();
    assert!(
        dry.pruned.outcomes > 900 && dry.pruned.outcomes < 2_000,
        "{dry:?}"
    );
    assert_eq!(crate::read_outcomes(&path).unwrap().len(), 2_000);

    let archive = dir.path().join("archive.jsonl");
    let done = prune_to_size(&path, cap, Some(&archive), false).unwrap();
    assert!(done.after_bytes <= cap, "{done:?}");
    assert!(!done.still_over);
    let left = crate::read_outcomes(&path).unwrap();
    assert_eq!(left.len() + done.pruned.outcomes, 2_000);
    // The newest rows stay, the oldest went to the archive, and spend is kept.
    assert!(left.iter().any(|o| o.request_id == "c1999"));
    assert!(!left.iter().any(|o| o.request_id == "c0"));
    let archived = std::fs::read_to_string(&archive).unwrap();
    assert_eq!(archived.lines().count(), done.pruned.outcomes);
    assert!(archived.lines().next().unwrap().contains("\"c0\""));
    let (requests, cost) = total_cost(&path, crate::SpendBy::Key);
    assert_eq!(requests, totals.0);
    assert!((cost - totals.1).abs() < 1e-6);
    // The file does not shrink, but new rows reuse the freed pages.
    let pages = |c: &Connection| c.query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0));
    let before = pages(&conn).unwrap();
    costed_log(&path, 200, 20 * DAY);
    assert_eq!(pages(&conn).unwrap(), before);
}

#[test]
fn a_cap_below_what_the_kept_tables_need_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sqlite");
    costed_log(&path, 50, 10 * DAY);
    let report = prune_to_size(&path, 1, None, false).unwrap();
    assert_eq!(report.pruned.outcomes, 50);
    assert!(report.still_over, "{report:?}");
    let missing = prune_to_size(dir.path().join("nope.sqlite"), 1, None, false).unwrap_err();
    assert!(missing.to_string().contains("nope.sqlite"), "{missing}");
}
