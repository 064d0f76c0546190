//! `switchyard bench log`: what the outcome log adds to each answer, SQLite file against
//! PostgreSQL side by side.
//!
//! An answer waits for its row's commit ([`gateway::OutcomeLog::record`], then
//! [`gateway::outcome::Commit::wait`]) and for nothing else of the log, so the commit wait is
//! the log's whole share of request latency. Rows arrive open-loop at `--rate` per second
//! (the sender keeps its schedule however slow the log is; the wait is timed from the
//! `record` call, as an answer waits, not from the schedule, whose timer ticks are a
//! millisecond apart), each a request-sized [`router_core::Outcome`] with the prompt kept,
//! through the same writer thread, group commits and inline path the gateway uses (a row is
//! "alone", and may commit inline on SQLite, when no other is waiting).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use gateway::config::LogConfig;
use gateway::metrics::Metrics;
use gateway::OutcomeLog;
use router_core::{Outcome, PromptRecord};

#[derive(Debug, clap::Args)]
pub struct LogBenchArgs {
    /// Rows per second, open loop.
    #[arg(long, default_value_t = 1000.0, value_parser = parse_positive, allow_hyphen_values = true)]
    rate: f64,
    /// Seconds per backend.
    #[arg(long, default_value_t = 10.0, value_parser = parse_positive, allow_hyphen_values = true)]
    seconds: f64,
    /// A PostgreSQL database to compare with (its `outcomes` table gets the rows; use a
    /// scratch database). Without it only the SQLite file is measured.
    #[arg(long, value_parser = parse_pg_url)]
    postgres: Option<outcome_log::PgUrl>,
    /// Commit durably: SQLite `synchronous = FULL`, PostgreSQL `synchronous_commit = on`
    /// (`[log] fsync`).
    #[arg(long)]
    fsync: bool,
    /// Print JSON instead of a markdown table.
    #[arg(long)]
    json: bool,
}

/// A finite number above 0 (`inf` would size the run's buffers past memory).
fn parse_positive(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{s}`: expected a finite number above 0")),
    }
}

/// The most rows one backend is sent: each keeps a task and a timing in memory.
const MAX_ROWS: f64 = 10_000_000.0;

/// Rows per backend and the gap between them, or why `--rate` × `--seconds` cannot run.
fn schedule(rate: f64, seconds: f64) -> anyhow::Result<(usize, Duration)> {
    let total = (rate * seconds).round();
    anyhow::ensure!(
        (1.0..=MAX_ROWS).contains(&total),
        "--rate {rate} × --seconds {seconds} gives {total} rows; choose them so that it gives \
         from 1 to {MAX_ROWS} rows"
    );
    let every = Duration::try_from_secs_f64(1.0 / rate).map_err(|_| {
        anyhow::anyhow!(
            "--rate {rate}: one row every {} s is too slow; raise --rate",
            1.0 / rate
        )
    })?;
    // Within MAX_ROWS, so the cast is exact.
    Ok((total as usize, every))
}

fn parse_pg_url(s: &str) -> Result<outcome_log::PgUrl, String> {
    if outcome_log::PgUrl::is_url(s) {
        Ok(outcome_log::PgUrl::new(s))
    } else {
        Err("expected a postgres://user:password@host:port/database URL".to_owned())
    }
}

#[derive(Debug, serde::Serialize)]
struct Row {
    backend: String,
    rate: f64,
    rows: usize,
    stored: usize,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

pub fn run(args: LogBenchArgs) -> anyhow::Result<()> {
    // Checked before anything is opened; the parsers already refused non-finite values.
    schedule(args.rate, args.seconds)?;
    let dir = tempfile::tempdir().context("a scratch folder for the SQLite log")?;
    let mut backends = vec![(
        "sqlite".to_owned(),
        LogConfig {
            sqlite: dir.path().join("bench.sqlite"),
            fsync: args.fsync,
            ..LogConfig::default()
        },
    )];
    if let Some(url) = &args.postgres {
        backends.push((
            "postgres".to_owned(),
            LogConfig {
                sqlite: dir.path().join("unused.sqlite"),
                postgres: Some(url.clone()),
                fsync: args.fsync,
                ..LogConfig::default()
            },
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    for (backend, config) in backends {
        let row = runtime.block_on(measure(&backend, &config, args.rate, args.seconds))?;
        rows.push(row);
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(());
    }
    outln!("| backend | rows/s | rows | stored | commit wait p50 ms | p90 ms | p99 ms | max ms |")?;
    outln!("|---|---|---|---|---|---|---|---|")?;
    for r in &rows {
        outln!(
            "| {} | {:.0} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
            r.backend,
            r.rate,
            r.rows,
            r.stored,
            r.p50_ms,
            r.p90_ms,
            r.p99_ms,
            r.max_ms
        )?;
    }
    Ok(())
}

async fn measure(
    backend: &str,
    config: &LogConfig,
    rate: f64,
    seconds: f64,
) -> anyhow::Result<Row> {
    let log = OutcomeLog::open(config, Arc::new(Metrics::new()))
        .with_context(|| format!("opening the {backend} log"))?;
    let (total, every) = schedule(rate, seconds)?;
    let waiting = Arc::new(AtomicUsize::new(0));
    let start = tokio::time::Instant::now();
    let run = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis(),
    )?;
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        tokio::time::sleep_until(start + every.mul_f64(i as f64)).await;
        let (log, waiting) = (log.clone(), Arc::clone(&waiting));
        tasks.push(tokio::spawn(async move {
            let row = row(run, i);
            let alone = waiting.fetch_add(1, Ordering::SeqCst) == 0;
            let asked = Instant::now();
            let commit = log.record(row, alone);
            let stored = commit.wait(Duration::from_secs(5)).await;
            waiting.fetch_sub(1, Ordering::SeqCst);
            (asked.elapsed(), stored)
        }));
    }
    let mut waits = Vec::with_capacity(total);
    let mut stored = 0;
    for t in tasks {
        let (wait, ok) = t.await?;
        waits.push(wait.as_secs_f64() * 1e3);
        stored += usize::from(ok);
    }
    log.close().await;
    waits.sort_by(f64::total_cmp);
    // NaN for an empty run (schedule() gives at least one row; this keeps it from panicking).
    let pct = |p: f64| {
        let last = waits.len().saturating_sub(1);
        waits
            .get((last as f64 * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    Ok(Row {
        backend: backend.to_owned(),
        rate,
        rows: total,
        stored,
        p50_ms: pct(0.50),
        p90_ms: pct(0.90),
        p99_ms: pct(0.99),
        max_ms: pct(1.0),
    })
}

/// A request-sized row: a ~400-byte prompt kept in full, one attempt's worth of fields.
fn row(run: u64, i: usize) -> Outcome {
    let text = format!(
        "request {i}: summarise the quarterly report for the operations team, listing the three largest cost drivers, the regions where latency regressed, and one recommendation per region; keep it under two hundred words and use plain language suitable for a status update to leadership. {}",
        "x".repeat(64)
    );
    let started = Instant::now();
    Outcome {
        prompt: PromptRecord::Full { text },
        requested_model: "gpt-4o-mini".to_owned(),
        propensity: Some(1.0),
        upstream_model: Some("gpt-4o-mini-2024-07-18".to_owned()),
        ttft_ms: Some(12.0),
        latency_ms: 40.0 + started.elapsed().as_secs_f64(),
        input_tokens: Some(64),
        output_tokens: Some(120),
        cost_usd: Some(0.000_081),
        ..Outcome::answered(format!("bench-{run}-{i}"), run + i as u64, "gpt-4o-mini")
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_positive, schedule};

    #[test]
    fn rates_and_lengths_that_give_no_row_or_no_end_are_refused_naming_the_flags() {
        for bad in ["0", "-1", "inf", "NaN", "x"] {
            assert!(parse_positive(bad).is_err(), "{bad}");
        }
        assert_eq!(schedule(1000.0, 10.0).unwrap().0, 10_000);
        for (rate, seconds) in [(1.0, 0.4), (1e300, 1.0), (1e-300, 1e300)] {
            let err = schedule(rate, seconds).unwrap_err().to_string();
            assert!(err.contains("--rate"), "{rate} × {seconds}: {err}");
        }
    }
}
