//! `[log] retention_days` and `retention_max_bytes`: old outcomes pruned at start-up and then
//! daily, and the log kept under a size cap checked every minute, on a thread of its own
//! beside the writer. The deletes go through [`outcome_log::prune`] in small batches, so the
//! writer's group commits wait milliseconds at most for the lock; what is deleted is counted
//! in `switchyard_outcome_log_pruned_total` and its spend kept in the log's `pruned_spend`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use crate::config::LogConfig;
use crate::error::Error;
use crate::metrics::Metrics;

/// How often rows past the age limit are pruned after the start-up pass.
const AGE_EVERY: Duration = Duration::from_secs(24 * 3600);
/// How often the size is checked (two pragmas on SQLite when under the cap; on PostgreSQL a
/// row count and a sample of the newest rows per table). A soak at ~4,400
/// requests/s wrote about 5 MB/s, so a minute overshoots the cap by at most a few hundred MB
/// at that rate, and the prune takes it back to 90 % of the cap.
const SIZE_EVERY: Duration = Duration::from_secs(60);

/// What the thread enforces.
struct Policy {
    db: outcome_log::Location,
    days: Option<u64>,
    max_bytes: Option<u64>,
    archive: Option<PathBuf>,
}

/// Starts the pruning thread when `[log] retention_days` or `retention_max_bytes` is set. It
/// ends when the returned sender (and every clone) is dropped, that is with the last
/// [`super::OutcomeLog`] handle.
pub(super) fn start(
    config: &LogConfig,
    metrics: Arc<Metrics>,
) -> Result<Option<Sender<()>>, Error> {
    if config.retention_days.is_none() && config.retention_max_bytes.is_none() {
        return Ok(None);
    }
    let policy = Policy {
        db: config.location(),
        days: config.retention_days,
        max_bytes: config.retention_max_bytes,
        archive: config.retention_archive.clone(),
    };
    let (stop, stopped) = bounded::<()>(0);
    std::thread::Builder::new()
        .name("switchyard-outcome-retention".to_owned())
        .spawn(move || run(&policy, &metrics, &stopped))
        .map_err(|source| Error::OutcomeLogThread { source })?;
    Ok(Some(stop))
}

fn run(policy: &Policy, metrics: &Metrics, stopped: &Receiver<()>) {
    let mut next_age = Instant::now();
    loop {
        if let Some(days) = policy.days.filter(|_| Instant::now() >= next_age) {
            age_pass(&policy.db, days, policy.archive.as_deref(), metrics);
            next_age = Instant::now() + AGE_EVERY;
        }
        if let Some(max) = policy.max_bytes {
            size_pass(&policy.db, max, policy.archive.as_deref(), metrics);
        }
        let wait = if policy.max_bytes.is_some() {
            SIZE_EVERY
        } else {
            AGE_EVERY
        };
        match stopped.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => continue,
            // Disconnected (the log is gone) or an explicit stop.
            _ => return,
        }
    }
}

/// One age pass; failures are logged and retried at the next pass, never fatal to serving.
fn age_pass(db: &outcome_log::Location, days: u64, archive: Option<&Path>, metrics: &Metrics) {
    match outcome_log::prune_older_than(db, days, archive, false) {
        Ok(r) if r.outcomes + r.judge_calls > 0 => {
            metrics.outcome_log_pruned("age", r.outcomes);
            tracing::info!(
                outcomes = r.outcomes,
                feedback = r.feedback,
                judge_calls = r.judge_calls,
                days,
                "Outcome log retention: pruned rows older than the retention."
            );
        }
        Ok(_) => tracing::debug!(days, "Outcome log retention: nothing to prune."),
        Err(e) => {
            tracing::error!(error = %e, "Outcome log retention failed; retrying at the next pass.")
        }
    }
}

/// One size pass, with the same failure rule.
pub(super) fn size_pass(
    db: &outcome_log::Location,
    max_bytes: u64,
    archive: Option<&Path>,
    metrics: &Metrics,
) {
    match outcome_log::prune_to_size(db, max_bytes, archive, false) {
        Ok(r) => {
            if r.pruned.outcomes > 0 {
                metrics.outcome_log_pruned("size", r.pruned.outcomes);
                tracing::info!(
                    outcomes = r.pruned.outcomes,
                    feedback = r.pruned.feedback,
                    judge_calls = r.pruned.judge_calls,
                    before_bytes = r.before_bytes,
                    after_bytes = r.after_bytes,
                    max_bytes,
                    "Outcome log retention: pruned the oldest rows to stay under the size cap."
                );
            }
            if r.still_over {
                tracing::warn!(
                    used_bytes = r.after_bytes,
                    max_bytes,
                    "Outcome log is over [log] retention_max_bytes with no outcome row left to prune (labels, client keys and judge calls remain); raise the cap."
                );
            }
        }
        Err(e) => tracing::error!(
            error = %e,
            "Outcome log size retention failed; retrying at the next pass."
        ),
    }
}
