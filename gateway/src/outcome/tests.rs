#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn outcome(id: &str, ts: u64) -> Outcome {
    Outcome {
        propensity: Some(1.0),
        upstream_model: Some("gpt-4o-mini-2024-07-18".to_owned()),
        ttft_ms: Some(12.0),
        latency_ms: 34.0,
        input_tokens: Some(10),
        output_tokens: Some(20),
        cost_usd: Some(0.0001),
        ..Outcome::answered(id, ts, "gpt-4o-mini")
    }
}

fn config(dir: &tempfile::TempDir, privacy: Privacy, capacity: usize) -> LogConfig {
    LogConfig {
        sqlite: dir.path().join("sub/outcomes.sqlite"),
        privacy,
        channel_capacity: capacity,
        flush_rows: 1000,
        flush_interval: Duration::from_secs(3600),
        ..LogConfig::default()
    }
}

#[tokio::test]
async fn write_flush_read_with_feedback() {
    let dir = tempfile::tempdir().unwrap();
    let log = OutcomeLog::open(&config(&dir, Privacy::Full, 64), Arc::new(Metrics::new())).unwrap();
    assert!(log.record(outcome("b", 2), true).wait(WAIT).await);
    assert!(log.record(outcome("a", 1), true).wait(WAIT).await);
    let label = |score| Feedback::human("thumbs_up", score);
    assert_eq!(
        log.feedback("a".into(), label(1.0)).await,
        FeedbackVerdict::Stored
    );
    // Issue 11: the first label wins; unknown ids are refused.
    assert_eq!(
        log.feedback("a".into(), label(0.0)).await,
        FeedbackVerdict::AlreadyLabelled { score: 1.0 }
    );
    assert_eq!(
        log.feedback("nope".into(), label(1.0)).await,
        FeedbackVerdict::UnknownRequest
    );
    log.flush().await;
    let all = read_outcomes(log.location()).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].request_id, "a");
    assert_eq!(all[0].feedback.len(), 1);
    assert_eq!(all[0].feedback[0].metric, "thumbs_up");
    assert_eq!(all[1], outcome("b", 2));

    let mut buf = Vec::new();
    assert_eq!(export_jsonl(log.location(), &mut buf).unwrap(), 2);
    let lines: Vec<Outcome> = String::from_utf8(buf)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, all);
    log.close().await;
}

#[tokio::test]
async fn privacy_modes() {
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(Metrics::new());
    let full = OutcomeLog::open(&config(&dir, Privacy::Full, 4), m.clone()).unwrap();
    assert_eq!(
        full.prompt_record("hello"),
        PromptRecord::Full {
            text: "hello".into()
        }
    );
    let dir2 = tempfile::tempdir().unwrap();
    let hashed = OutcomeLog::open(&config(&dir2, Privacy::Hashed, 4), m.clone()).unwrap();
    assert_eq!(
        hashed.prompt_record("hello"),
        PromptRecord::Hashed {
            sha256: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824".into()
        }
    );
    let dir3 = tempfile::tempdir().unwrap();
    let none = OutcomeLog::open(&config(&dir3, Privacy::None, 4), m).unwrap();
    assert_eq!(none.prompt_record("hello"), PromptRecord::None);
}

#[tokio::test]
async fn full_channel_drops_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let cfg = config(&dir, Privacy::None, 1);
    let log = OutcomeLog::open(&cfg, metrics.clone()).unwrap();
    // The writer may take rows as they come, so send until one is refused.
    let mut sent = 0;
    let mut commits = Vec::new();
    loop {
        // Not alone: every row goes through the channel (none is committed inline).
        let commit = log.record(outcome(&format!("r{sent}"), sent), false);
        if !commit.queued() {
            break;
        }
        commits.push(commit);
        sent += 1;
        assert!(sent < 100_000, "the channel never filled");
    }
    assert!(metrics.counter_value("switchyard_outcome_log_dropped_total", &[]) >= 1.0);
    log.flush().await;
    assert_eq!(read_outcomes(log.location()).unwrap().len() as u64, sent);
}

#[tokio::test]
async fn flush_rows_commits_without_flush() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir, Privacy::None, 64);
    cfg.flush_rows = 1;
    let log = OutcomeLog::open(&cfg, Arc::new(Metrics::new())).unwrap();
    let _ = log.record(outcome("x", 1), true);
    log.close().await;
    assert_eq!(read_outcomes(&cfg.sqlite).unwrap().len(), 1);
}

const WAIT: Duration = Duration::from_secs(10);

/// Issue 10: a row is committed in the request's task when the writer is idle, and goes to the
/// writer (which waits for the lock) when another connection holds the write lock; either
/// way it is stored before the wait returns, and nothing is written after `close`.
#[tokio::test]
async fn issue_10_rows_commit_inline_when_idle_and_through_the_writer_when_locked() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let log = OutcomeLog::open(&config(&dir, Privacy::None, 64), metrics.clone()).unwrap();
    // Right after `open` the checkpoint and retention threads may still hold the database
    // for a moment (on a loaded machine, long enough to see): a row then goes to the writer,
    // as it should. Once they are quiet, a lone row commits inline.
    let mut stored = 0;
    let inline = loop {
        let commit = log.record(outcome(&format!("idle{stored}"), 1), true);
        let inline = commit.inline();
        assert!(commit.wait(WAIT).await);
        stored += 1;
        if inline || stored == 50 {
            break inline;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(inline, "no lone row committed inline in {stored} tries");
    assert_eq!(read_outcomes(log.location()).unwrap().len(), stored);

    let other = rusqlite::Connection::open(log.sqlite_path().unwrap()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let commit = log.record(outcome("locked", 2), true);
    assert!(commit.queued() && !commit.inline(), "{commit:?}");
    other.execute_batch("COMMIT").unwrap();
    assert!(commit.wait(WAIT).await);
    assert_eq!(read_outcomes(log.location()).unwrap().len(), stored + 1);
    assert_eq!(
        metrics.counter_value("switchyard_outcome_log_dropped_total", &[]),
        0.0
    );

    log.close().await;
    let late = log.record(outcome("late", 3), true);
    assert!(!late.queued());
    assert!(!late.wait(WAIT).await);
    assert_eq!(read_outcomes(log.location()).unwrap().len(), stored + 1);
}

/// Issue 10: with SQLite's own checkpoints off on the writer's connection (so that no commit
/// waits for a sync of the database file), the checkpoint thread folds the WAL into the
/// database after `EVERY_ROWS` rows.
#[tokio::test]
async fn issue_10_checkpoints_run_off_the_commit_path() {
    let dir = tempfile::tempdir().unwrap();
    let log = OutcomeLog::open(&config(&dir, Privacy::None, 64), Arc::new(Metrics::new())).unwrap();
    let wal = log.sqlite_path().unwrap().with_extension("sqlite-wal");
    let db_bytes = || std::fs::metadata(log.sqlite_path().unwrap()).unwrap().len();
    let before = db_bytes();
    for i in 0..checkpoint::EVERY_ROWS as u64 {
        assert!(
            log.record(outcome(&format!("k{i}"), i), true)
                .wait(WAIT)
                .await
        );
    }
    // The checkpoint thread copies the rows into the database file (growing it) on its own.
    let deadline = std::time::Instant::now() + WAIT;
    while db_bytes() <= before {
        assert!(std::time::Instant::now() < deadline, "no checkpoint ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(wal.exists());
    log.close().await;
}

#[tokio::test]
async fn issue_11_a_committed_row_is_readable_before_wait_returns() {
    let dir = tempfile::tempdir().unwrap();
    let log = OutcomeLog::open(&config(&dir, Privacy::None, 64), Arc::new(Metrics::new())).unwrap();
    for i in 0..20 {
        assert!(
            log.record(outcome(&format!("c{i}"), i), true)
                .wait(WAIT)
                .await
        );
        // No flush: the wait alone guarantees the row is in the database.
        assert_eq!(read_outcomes(log.location()).unwrap().len() as u64, i + 1);
    }
    log.close().await;
}

#[tokio::test]
async fn issue_11_non_finite_numbers_are_refused_and_export_never_fails() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let log = OutcomeLog::open(&config(&dir, Privacy::None, 64), metrics.clone()).unwrap();
    let mut bad = outcome("bad", 1);
    bad.objective = Some(router_core::Objective::Utility {
        lambda: f64::INFINITY,
    });
    assert!(!log.record(bad, true).wait(WAIT).await);
    assert!(log.record(outcome("good", 2), true).wait(WAIT).await);
    assert!(metrics.counter_value("switchyard_outcome_log_dropped_total", &[]) >= 1.0);
    // A row written by an older version with a null number is skipped, not fatal.
    let conn = rusqlite::Connection::open(log.sqlite_path().unwrap()).unwrap();
    conn.execute(
        "INSERT INTO outcomes (request_id, timestamp_ms, status, latency_ms, record) VALUES ('old', 0, 'ok', 1.0, '{\"latency_ms\": null}')",
        [],
    )
    .unwrap();
    let mut buf = Vec::new();
    assert_eq!(export_jsonl(log.location(), &mut buf).unwrap(), 1);
    log.close().await;
}

#[test]
fn missing_db_is_a_clear_error() {
    let err = read_outcomes(std::path::Path::new("/nonexistent/x.sqlite")).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[tokio::test]
async fn issue_14_feedback_source_migrates_and_judge_labels_yield_to_humans() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&dir, Privacy::None, 64);
    std::fs::create_dir_all(cfg.sqlite.parent().unwrap()).unwrap();
    {
        // A log written before judge labels: no `source` column.
        let conn = rusqlite::Connection::open(&cfg.sqlite).unwrap();
        conn.execute_batch(
            "CREATE TABLE outcomes (request_id TEXT PRIMARY KEY, timestamp_ms INTEGER NOT NULL,
                model TEXT, status TEXT NOT NULL, cost_usd REAL, latency_ms REAL NOT NULL,
                record TEXT NOT NULL);
             CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL,
                metric TEXT NOT NULL, score REAL NOT NULL, timestamp_ms INTEGER NOT NULL);",
        )
        .unwrap();
        let old = serde_json::to_string(&outcome("old", 1)).unwrap();
        conn.execute(
            "INSERT INTO outcomes VALUES ('old', 1, 'gpt-4o-mini', 'ok', 0.0, 1.0, ?1)",
            [old],
        )
        .unwrap();
        conn.execute_batch(
            "INSERT INTO feedback (request_id, metric, score, timestamp_ms) VALUES ('old', 'correct', 1.0, 0);",
        )
        .unwrap();
    }
    // Read without migrating (read-only): the old label is a human one.
    let before = read_outcomes(&cfg.sqlite).unwrap();
    assert_eq!(before[0].feedback, vec![Feedback::human("correct", 1.0)]);

    let log = OutcomeLog::open(&cfg, Arc::new(Metrics::new())).unwrap();
    assert!(log.record(outcome("new", 2), true).wait(WAIT).await);
    // The migrated old label stays human: a judge label cannot replace it.
    assert_eq!(
        log.feedback("old".into(), Feedback::judge("correct", 0.0))
            .await,
        FeedbackVerdict::AlreadyLabelled { score: 1.0 }
    );
    assert_eq!(
        log.feedback("new".into(), Feedback::judge("correct", 0.4))
            .await,
        FeedbackVerdict::Stored
    );
    assert_eq!(
        log.feedback("new".into(), Feedback::judge("correct", 0.9))
            .await,
        FeedbackVerdict::AlreadyLabelled { score: 0.4 }
    );
    assert_eq!(
        log.feedback("new".into(), Feedback::human("correct", 0.0))
            .await,
        FeedbackVerdict::ReplacedJudge { score: 0.4 }
    );
    // A judge label on another metric sits next to the human one.
    assert_eq!(
        log.feedback("new".into(), Feedback::judge("helpful", 0.5))
            .await,
        FeedbackVerdict::Stored
    );
    log.flush().await;
    let all = read_outcomes(log.location()).unwrap();
    assert_eq!(all[0].feedback, vec![Feedback::human("correct", 1.0)]);
    assert_eq!(
        all[1].feedback,
        vec![
            Feedback::human("correct", 0.0),
            Feedback::judge("helpful", 0.5)
        ]
    );
    // The export says which labels the judge gave, and only those.
    let mut buf = Vec::new();
    export_jsonl(log.location(), &mut buf).unwrap();
    let text = String::from_utf8(buf).unwrap();
    assert_eq!(text.matches("\"source\":\"judge\"").count(), 1);
    log.close().await;
}

/// `[log] retention_days`: rows older than the retention are archived and deleted when the
/// log opens (and daily after); recent rows and rows written since stay.
#[tokio::test]
async fn retention_prunes_old_rows_at_start_and_archives_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir, Privacy::None, 64);
    let now = crate::clock::unix_ms();
    let day = 86_400_000;
    {
        let mut conn = outcome_log::open(&cfg.sqlite, false).unwrap();
        let rows = [
            outcome("old", now - 100 * day),
            outcome("recent", now - 40 * day),
        ];
        outcome_log::write_batch(&mut conn, &rows).unwrap();
    }
    cfg.retention_days = Some(60);
    cfg.retention_archive = Some(dir.path().join("archive.jsonl"));
    let log = OutcomeLog::open(&cfg, Arc::new(Metrics::new())).unwrap();
    assert!(log.record(outcome("new", now), true).wait(WAIT).await);
    // The start-up pass runs on its own thread: wait for it (bounded), not for a time.
    let ids = || -> Vec<String> {
        read_outcomes(&cfg.sqlite)
            .unwrap()
            .into_iter()
            .map(|o| o.request_id)
            .collect()
    };
    for _ in 0..200 {
        if !ids().contains(&"old".to_owned()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ids(), ["recent", "new"]);
    let archived = std::fs::read_to_string(dir.path().join("archive.jsonl")).unwrap();
    assert_eq!(archived.lines().count(), 1);
    assert!(archived.contains("\"request_id\":\"old\""), "{archived}");
}

/// `[log] retention_max_bytes`: a pass over the cap prunes the oldest rows, counts them in
/// `/metrics` and keeps their spend; a pass under it does nothing.
#[test]
fn a_size_pass_prunes_the_oldest_rows_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&dir, Privacy::None, 64);
    {
        let mut conn = outcome_log::open(&cfg.sqlite, false).unwrap();
        let rows: Vec<Outcome> = (0..1_000)
            .map(|i| {
                let mut o = outcome(&format!("r{i}"), 1_000 + i);
                o.prompt = PromptRecord::Full {
                    text: "y".repeat(2_000),
                };
                o
            })
            .collect();
        outcome_log::write_batch(&mut conn, &rows).unwrap();
    }
    let used = {
        let conn = rusqlite::Connection::open(&cfg.sqlite).unwrap();
        outcome_log::used_bytes(&conn).unwrap()
    };
    let spend = || outcome_log::spend_report(&cfg.sqlite, outcome_log::SpendBy::Model, None);
    let before = spend().unwrap();
    let metrics = Metrics::new();
    retention::size_pass(&cfg.location(), used * 2, None, &metrics);
    assert!(!metrics
        .render()
        .contains("switchyard_outcome_log_pruned_total{"));
    retention::size_pass(&cfg.location(), used / 4, None, &metrics);
    let left = read_outcomes(&cfg.sqlite).unwrap();
    assert!(left.len() < 300, "{}", left.len());
    assert_eq!(left.last().unwrap().request_id, "r999");
    let line = format!(
        "switchyard_outcome_log_pruned_total{{reason=\"size\"}} {}",
        1_000 - left.len()
    );
    assert!(metrics.render().contains(&line), "{}", metrics.render());
    let after = spend().unwrap();
    assert_eq!(before[0].requests, after[0].requests);
    assert!((before[0].cost_usd - after[0].cost_usd).abs() < 1e-9);
}

/// The handshake between a request's wait and the writer: a row the writer took into a write
/// before the wait ran out is decided by that write (never reported dropped and then stored),
/// and a row its request gave up on first is skipped by the writer.
#[tokio::test]
async fn a_row_in_a_write_when_its_wait_ends_gets_the_writes_result() {
    let metrics = Arc::new(Metrics::new());
    let pair = || {
        let (done, rx) = oneshot::channel();
        let settled = Arc::new(std::sync::Mutex::new(Settled::Pending));
        let waiter = Waiter {
            done,
            settled: Arc::clone(&settled),
            deadline: std::time::Instant::now(),
        };
        let commit = Commit {
            state: CommitState::Queued { done: rx, settled },
            metrics: Arc::clone(&metrics),
        };
        (waiter, commit)
    };
    let dropped = || metrics.counter_value("switchyard_outcome_log_dropped_total", &[]);

    let (waiter, commit) = pair();
    assert!(waiter.claim(), "a pending row is taken into the write");
    // The write ends well after the wait's timeout: the wait outlives it and takes its result.
    let (stored, ()) = tokio::join!(commit.wait(Duration::from_millis(5)), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waiter.settle(true, &metrics);
    });
    assert!(stored, "the write's result is the request's");
    assert_eq!(dropped(), 0.0);

    let (waiter, commit) = pair();
    assert!(!commit.wait(Duration::from_millis(5)).await);
    assert_eq!(dropped(), 1.0);
    assert!(
        !waiter.claim(),
        "the writer skips a row its request gave up on"
    );
}
