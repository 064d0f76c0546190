//! WAL checkpoints on a thread of their own. SQLite's default runs one inside the commit that
//! crosses 1,000 WAL pages, with a sync of the database file, so every few hundred rows one
//! request's answer waited for a disk sync. The writer's connection has them off
//! ([`outcome_log::checkpoint_elsewhere`]); every [`EVERY_ROWS`] committed rows wake this
//! thread, which checkpoints on its own connection (`PASSIVE`: it never blocks a commit, and a
//! commit never waits for it). The WAL then stays about as small as with SQLite's default.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use crate::error::Error;

/// Rows committed between checkpoints. A row writes about five WAL pages at one row per
/// commit (its table and index pages) and fewer in groups, so this is near SQLite's default
/// of 1,000 pages.
pub(super) const EVERY_ROWS: usize = 200;

/// A checkpoint also runs after this long with rows committed since the last one, so that a
/// quiet gateway's WAL is folded in too.
const IDLE: Duration = Duration::from_secs(10);

/// Counts committed rows and wakes the checkpoint thread; shared by the writer thread and the
/// requests that commit inline. The thread ends when the last one is dropped.
#[derive(Debug)]
pub(super) struct Checkpoints {
    rows: Arc<AtomicUsize>,
    wake: Sender<()>,
}

impl Checkpoints {
    /// Starts the checkpoint thread for the log at `path`.
    pub(super) fn start(path: &Path) -> Result<Checkpoints, Error> {
        let conn = outcome_log::open(path, false)?;
        let (wake, woken) = bounded(1);
        let rows = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&rows);
        let path = path.to_owned();
        std::thread::Builder::new()
            .name("switchyard-outcome-checkpoint".to_owned())
            .spawn(move || run(&conn, &path, &seen, &woken))
            .map_err(|source| Error::OutcomeLogThread { source })?;
        Ok(Checkpoints { rows, wake })
    }

    /// Counts `rows` committed; wakes the thread each time another [`EVERY_ROWS`] have been.
    pub(super) fn committed(&self, rows: usize) {
        let before = self.rows.fetch_add(rows, Ordering::Relaxed);
        if before / EVERY_ROWS != (before + rows) / EVERY_ROWS {
            // Full: a wake-up is already pending, which covers these rows too.
            let _ = self.wake.try_send(());
        }
    }
}

fn run(conn: &rusqlite::Connection, path: &Path, rows: &AtomicUsize, woken: &Receiver<()>) {
    // Rows counted at the last complete checkpoint.
    let mut folded = 0;
    loop {
        match woken.recv_timeout(IDLE) {
            Ok(()) => {}
            Err(RecvTimeoutError::Timeout) if rows.load(Ordering::Relaxed) == folded => continue,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let counted = rows.load(Ordering::Relaxed);
        match outcome_log::checkpoint(conn) {
            // A reader holding old frames stops a checkpoint short: the next wake-up or idle
            // period tries again.
            Ok((frames, done)) if done >= frames => folded = counted,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "Outcome log checkpoint failed; retrying later.");
            }
        }
    }
}
