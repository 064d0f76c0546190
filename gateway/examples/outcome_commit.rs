//! The latency an answer waits for its outcome row's group commit (issue 11): rows like a
//! gateway's are queued from `CONCURRENCY` tasks at once and each waits for its commit, as a
//! request does before its answer is sent. Prints p50/p99/max of the wait per concurrency and
//! the rows committed per second.
//!
//! ```sh
//! cargo run --release -p gateway --example outcome_commit -- [N] [FSYNC]
//! ```
//!
//! `N` (default 4000) rows per concurrency level; `FSYNC` `true` syncs the WAL per commit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use gateway::config::LogConfig;
use gateway::metrics::Metrics;
use gateway::OutcomeLog;
use router_core::{Attempt, ModelId, Outcome, PromptRecord};

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

/// A row of the size a routed, answered request writes (prompt hashed).
fn row(i: usize) -> Outcome {
    Outcome {
        prompt: PromptRecord::Hashed {
            sha256: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824".into(),
        },
        propensity: Some(1.0),
        upstream_model: Some("gpt-4o-mini-2024-07-18".into()),
        attempts: vec![Attempt {
            model: ModelId::new("gpt-4o-mini"),
            status_code: Some(200),
            error: None,
            duration_ms: 12.5,
            provider: None,
            upstream_name: None,
        }],
        ttft_ms: Some(12.5),
        latency_ms: 13.0,
        input_tokens: Some(20),
        output_tokens: Some(40),
        cost_usd: Some(0.00003),
        ..Outcome::answered(
            format!("req_{i:032}"),
            1_700_000_000_000 + i as u64,
            "gpt-4o-mini",
        )
    }
}

fn ms(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(4000);
    let fsync: bool = args.next().map(|a| a.parse()).transpose()?.unwrap_or(false);
    let dir = tempfile::tempdir()?;
    let config = LogConfig {
        sqlite: dir.path().join("commit.sqlite"),
        fsync,
        ..LogConfig::default()
    };
    let log = OutcomeLog::open(&config, Arc::new(Metrics::new()))?;
    println!("N = {n} rows per row of the table, fsync = {fsync}.\n");
    println!("| concurrency | wait p50 ms | wait p99 ms | wait max ms | rows/s |");
    println!("|---:|---:|---:|---:|---:|");
    let mut next = 0;
    for concurrency in [1, 16, 64] {
        let start = Instant::now();
        let base = next;
        next += n;
        let waits: Vec<Option<Duration>> = futures::stream::iter(base..base + n)
            .map(|i| {
                let log = log.clone();
                async move {
                    let t = Instant::now();
                    let stored = log
                        .record(row(i), concurrency == 1)
                        .wait(Duration::from_secs(10))
                        .await;
                    stored.then(|| t.elapsed())
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let elapsed = start.elapsed();
        let mut waits: Vec<Duration> = waits.into_iter().flatten().collect();
        if waits.len() != n {
            return Err(format!("{} of {n} rows not committed", n - waits.len()).into());
        }
        waits.sort_unstable();
        println!(
            "| {concurrency} | {:.3} | {:.3} | {:.3} | {:.0} |",
            ms(&waits, 50.0),
            ms(&waits, 99.0),
            ms(&waits, 100.0),
            n as f64 / elapsed.as_secs_f64()
        );
    }
    log.close().await;
    Ok(())
}
