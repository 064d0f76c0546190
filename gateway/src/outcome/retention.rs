//! `[log] retention_days`: old outcomes pruned at start-up and then daily, on a thread of its
//! own beside the writer. The deletes go through [`outcome_log::prune`] in small batches, so
//! the writer's group commits wait milliseconds at most for the lock.

use std::path::Path;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use crate::config::LogConfig;
use crate::error::Error;

/// How often the log is pruned after the start-up pass.
const EVERY: Duration = Duration::from_secs(24 * 3600);

/// Starts the pruning thread when `[log] retention_days` is set. It ends when the returned
/// sender (and every clone) is dropped, that is with the last [`super::OutcomeLog`] handle.
pub(super) fn start(config: &LogConfig) -> Result<Option<Sender<()>>, Error> {
    let Some(days) = config.retention_days else {
        return Ok(None);
    };
    let (stop, stopped) = bounded::<()>(0);
    let db = config.sqlite.clone();
    let archive = config.retention_archive.clone();
    std::thread::Builder::new()
        .name("switchyard-outcome-retention".to_owned())
        .spawn(move || run(&db, days, archive.as_deref(), &stopped))
        .map_err(|source| Error::OutcomeLogThread { source })?;
    Ok(Some(stop))
}

fn run(db: &Path, days: u64, archive: Option<&Path>, stopped: &Receiver<()>) {
    loop {
        prune_once(db, days, archive);
        match stopped.recv_timeout(EVERY) {
            Err(RecvTimeoutError::Timeout) => continue,
            // Disconnected (the log is gone) or an explicit stop.
            _ => return,
        }
    }
}

/// One pass; failures are logged and retried at the next pass, never fatal to serving.
fn prune_once(db: &Path, days: u64, archive: Option<&Path>) {
    let result = outcome_log::prune_older_than(db, days, archive, false);
    match result {
        Ok(r) if r.outcomes + r.judge_calls > 0 => tracing::info!(
            outcomes = r.outcomes,
            feedback = r.feedback,
            judge_calls = r.judge_calls,
            days,
            "Outcome log retention: pruned rows older than the retention."
        ),
        Ok(_) => tracing::debug!(days, "Outcome log retention: nothing to prune."),
        Err(e) => {
            tracing::error!(error = %e, "Outcome log retention failed; retrying at the next pass.")
        }
    }
}
