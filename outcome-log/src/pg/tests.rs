#![allow(clippy::unwrap_used, clippy::expect_used)]

use router_core::Feedback;
use testkit::postgres::PostgresServer;

use super::*;
use crate::location::Location;
use crate::read::tests::outcome;
use crate::{FeedbackVerdict, JudgeCall, OnBadRecord, PgWriter, SpendBy};

const SESSION: Session = Session {
    fsync: false,
    statement_timeout: Some(Duration::from_secs(5)),
};

fn priced(id: &str, ts: u64, key: Option<&str>, cost: f64) -> router_core::Outcome {
    let mut o = outcome(id, ts);
    o.key_id = key.map(str::to_owned);
    o.cost_usd = Some(cost);
    o.input_tokens = Some(10);
    o.output_tokens = Some(5);
    o
}

/// What goes in reads back through the same readers as a SQLite file: same order, labels
/// attached, the last row of a repeated id kept, a non-finite latency refused.
#[test]
fn rows_and_labels_round_trip_like_the_sqlite_file() {
    let Some(pg) = PostgresServer::start() else {
        return;
    };
    let url = PgUrl::new(pg.fresh_database());
    let mut w = PgWriter::open(&url, SESSION).unwrap();
    let mut bad = outcome("nan", 5);
    bad.latency_ms = f64::NAN;
    let mut replaced = outcome("a", 1);
    replaced.requested_model = "first".to_owned();
    let stored = w
        .write_batch(&[replaced, outcome("b", 2), outcome("a", 1), bad])
        .unwrap();
    assert_eq!(stored, [true, true, true, false]);
    assert_eq!(
        w.add_feedback("b", None, &Feedback::judge("correct", 0.0), 3)
            .unwrap(),
        FeedbackVerdict::Stored
    );
    // A person's label replaces the judge's; a second person's does not replace the first.
    assert_eq!(
        w.add_feedback("b", None, &Feedback::human("correct", 1.0), 4)
            .unwrap(),
        FeedbackVerdict::ReplacedJudge { score: 0.0 }
    );
    assert_eq!(
        w.add_feedback("b", None, &Feedback::human("correct", 0.5), 5)
            .unwrap(),
        FeedbackVerdict::AlreadyLabelled { score: 1.0 }
    );
    assert_eq!(
        w.add_feedback("nope", None, &Feedback::human("correct", 1.0), 5)
            .unwrap(),
        FeedbackVerdict::UnknownRequest
    );
    // A label under a key only reaches that key's rows.
    assert_eq!(
        w.add_feedback("a", Some("key_1"), &Feedback::human("correct", 1.0), 5)
            .unwrap(),
        FeedbackVerdict::UnknownRequest
    );
    let mut b = outcome("b", 2);
    b.feedback = vec![Feedback::human("correct", 1.0)];
    let loc = Location::parse(url.secret());
    assert_eq!(
        crate::read_outcomes(&loc).unwrap(),
        vec![outcome("a", 1), b]
    );
    let mut out = Vec::new();
    assert_eq!(crate::export_jsonl(&loc, &mut out).unwrap(), 2);
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 2);

    // A record that is not an outcome: skipped by the export, named by a strict read.
    w.client()
        .execute(
            "INSERT INTO outcomes (request_id, timestamp_ms, status, latency_ms, record)
             VALUES ('bad', 0, 'ok', 1.0, '{\"not\": 1}')",
            &[],
        )
        .unwrap();
    assert_eq!(crate::read_outcomes(&loc).unwrap().len(), 2);
    let err = crate::read_outcomes_with(&loc, OnBadRecord::Fail).unwrap_err();
    assert!(
        matches!(&err, Error::PgRecordInvalid { request_id, .. } if request_id == "bad"),
        "{err}"
    );
}

/// Two gateways migrating and writing one database at once: one layout, every row.
#[test]
fn two_writers_share_one_database() {
    let Some(pg) = PostgresServer::start() else {
        return;
    };
    let url = PgUrl::new(pg.fresh_database());
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut writer = PgWriter::open(&url, SESSION).unwrap();
                for batch in 0..20 {
                    let rows: Vec<_> = (0..25)
                        .map(|i| outcome(&format!("w{w}-{batch}-{i}"), (batch * 25 + i) as u64))
                        .collect();
                    assert!(writer.write_batch(&rows).unwrap().iter().all(|&ok| ok));
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let rows = crate::read_outcomes(Location::Postgres(url.clone())).unwrap();
    assert_eq!(rows.len(), 2 * 20 * 25);
    // A database migrated by a newer build is refused, untouched.
    let mut c = connect(&url).unwrap();
    c.execute("UPDATE switchyard_schema SET version = 99", &[])
        .unwrap();
    let err = PgWriter::open(&url, SESSION).unwrap_err();
    assert!(matches!(err, Error::PgTooNew { found: 99, .. }), "{err}");
}

/// Spend per key, model and day; pruning archives first and keeps the pruned spend.
#[test]
fn spend_survives_pruning_and_the_archive_holds_the_rows() {
    let Some(pg) = PostgresServer::start() else {
        return;
    };
    let url = PgUrl::new(pg.fresh_database());
    let loc = Location::Postgres(url.clone());
    let day = 86_400_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut w = PgWriter::open(&url, SESSION).unwrap();
    w.write_batch(&[
        priced("old", now - 40 * day, Some("k1"), 1.0),
        priced("new", now - day / 2, Some("k1"), 0.25),
        priced("other", now - day / 2, None, 0.5),
    ])
    .unwrap();
    w.add_feedback("old", None, &Feedback::human("correct", 1.0), now)
        .unwrap();
    w.insert_judge_call(&JudgeCall {
        timestamp_ms: now - 40 * day,
        ..crate::store::tests::call("old")
    })
    .unwrap();
    assert_eq!(crate::key_spend_since(&loc, "k1", 0).unwrap(), 1.25);
    let dry = crate::prune_older_than(&loc, 30, None, true).unwrap();
    assert_eq!((dry.outcomes, dry.feedback, dry.judge_calls), (1, 1, 1));
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive.jsonl");
    let done = crate::prune_older_than(&loc, 30, Some(&archive), false).unwrap();
    assert_eq!(done, dry);
    let archived = std::fs::read_to_string(&archive).unwrap();
    let line: router_core::Outcome = serde_json::from_str(archived.trim()).unwrap();
    assert_eq!(line.request_id, "old");
    assert_eq!(line.feedback, vec![Feedback::human("correct", 1.0)]);
    assert_eq!(crate::read_outcomes(&loc).unwrap().len(), 2);
    // The pruned row still counts for its key's budget and in the report.
    assert_eq!(crate::key_spend_since(&loc, "k1", 0).unwrap(), 1.25);
    let by_key = crate::spend_report(&loc, SpendBy::Key, None).unwrap();
    let k1 = by_key
        .iter()
        .find(|r| r.group.as_deref() == Some("k1"))
        .unwrap();
    assert_eq!((k1.requests, k1.input_tokens, k1.cost_usd), (2, 20, 1.25));
    let by_day = crate::spend_report(&loc, SpendBy::Day, None).unwrap();
    assert_eq!(by_day.iter().map(|r| r.requests).sum::<u64>(), 3);
    assert!(by_day[0].group.as_deref().unwrap().len() == 10);
    assert_eq!(crate::judge_spend_since(&loc, 0).unwrap(), 0.0);
    // The pruned row's day, when --since starts inside it, is reported as left out.
    let old_day = (now - 40 * day) / day * day;
    let straddle = crate::spend::pruned_straddling(&loc, old_day + 1)
        .unwrap()
        .unwrap();
    assert_eq!(
        (straddle.day_ms, straddle.requests, straddle.cost_usd),
        (old_day, 1, 1.0)
    );
    assert_eq!(
        crate::spend::pruned_straddling(&loc, old_day).unwrap(),
        None
    );
}

/// A reader pointed at a database without the log says so; a writer reconnects after the
/// server closed its connection.
#[test]
fn readers_name_an_empty_database_and_writers_reconnect() {
    let Some(pg) = PostgresServer::start() else {
        return;
    };
    let url = PgUrl::new(pg.fresh_database());
    let err = crate::read_outcomes(Location::Postgres(url.clone())).unwrap_err();
    assert!(matches!(err, Error::PgNoLog { .. }), "{err}");
    assert!(err.to_string().contains("no `outcomes` table"), "{err}");
    let mut w = PgWriter::open(&url, SESSION).unwrap();
    let mut admin = connect(&PgUrl::new(pg.url())).unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap();
    // The first write after the kill may fail (the driver learns of it then); the next one
    // goes through a new connection.
    let first = w.write_batch(&[outcome("x", 1)]);
    if first.is_err() {
        w.write_batch(&[outcome("x", 1)]).unwrap();
    }
    assert_eq!(
        crate::read_outcomes(Location::Postgres(url)).unwrap().len(),
        1
    );
    // Errors name the database, not its password.
    let secret = PgUrl::new(format!("postgres://u:hunter2@127.0.0.1:{}/none", pg.port()));
    let err = PgWriter::open(&secret, SESSION).unwrap_err().to_string();
    assert!(!err.contains("hunter2") && err.contains("u:***@"), "{err}");
}

/// `[log] retention_max_bytes` on PostgreSQL: the estimated live data grows with the rows; a
/// pass over the cap deletes the oldest (archived first, their spend kept) until the estimate
/// is under 90 % of the cap; a dry run only counts; a cap nothing can meet says so.
#[test]
fn a_size_cap_prunes_the_oldest_rows_until_the_estimate_is_under_it() {
    let Some(pg) = PostgresServer::start() else {
        return;
    };
    let url = PgUrl::new(pg.fresh_database());
    let loc = Location::Postgres(url.clone());
    let mut w = PgWriter::open(&url, SESSION).unwrap();
    let rows: Vec<_> = (0..400)
        .map(|i| priced(&format!("r{i:03}"), 1_000 + i, Some("k1"), 0.01))
        .collect();
    w.write_batch(&rows).unwrap();
    let mut client = super::connect(&url).unwrap();
    let used = super::retention::used_bytes(&mut client).unwrap();
    // A row's JSON alone is a few hundred bytes.
    assert!(used > 400 * 300, "{used}");

    let under = crate::prune_to_size(&loc, used + 1, None, false).unwrap();
    assert_eq!((under.pruned.outcomes, under.before_bytes), (0, used));
    let cap = used / 2;
    let dry = crate::prune_to_size(&loc, cap, None, true).unwrap();
    assert!(
        (200..=300).contains(&dry.pruned.outcomes),
        "{} of 400 to reach 90 % of half",
        dry.pruned.outcomes
    );
    assert_eq!(crate::read_outcomes(&loc).unwrap().len(), 400);

    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive.jsonl");
    let done = crate::prune_to_size(&loc, cap, Some(&archive), false).unwrap();
    assert!(done.after_bytes <= cap * 9 / 10 + cap / 100, "{done:?}");
    assert!(!done.still_over);
    let left = crate::read_outcomes(&loc).unwrap();
    assert_eq!(left.len() + done.pruned.outcomes, 400);
    // The oldest went, archived; their spend still counts for the key.
    let oldest_left = left.iter().map(|o| o.timestamp_ms).min().unwrap();
    let archived = std::fs::read_to_string(&archive).unwrap();
    assert_eq!(archived.lines().count(), done.pruned.outcomes);
    for line in archived.lines() {
        let o: router_core::Outcome = serde_json::from_str(line).unwrap();
        assert!(o.timestamp_ms < oldest_left);
    }
    assert!((crate::key_spend_since(&loc, "k1", 0).unwrap() - 4.0).abs() < 1e-9);

    // A cap below what the spend ledger alone takes: every outcome goes and the report says
    // the log is still over.
    let all = crate::prune_to_size(&loc, 1, None, false).unwrap();
    assert!(all.still_over, "{all:?}");
    assert!(crate::read_outcomes(&loc).unwrap().is_empty());
}
