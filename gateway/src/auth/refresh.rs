//! How the running gateway learns of keys other processes wrote (`switchyard keys create` or
//! `revoke`, other replicas): one thread reads the key table every [`POLL_EVERY`], and sooner
//! when a request presents a key the gateway does not know, so that a key works as soon as
//! `keys create` has printed it instead of up to a poll later.
//!
//! The re-read for an unknown key is single-flight and rate-limited: every request waiting
//! for one is answered by the same read, and reads for unknown keys start at most once per
//! [`UNKNOWN_KEY_EVERY`], so a flood of random keys costs at most a few table reads a second
//! (counted in `switchyard_key_table_reads_total{trigger="unknown_key"}`), not one per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use tokio::sync::watch;

use super::{Auth, Inner, KeyStore};

/// How often the table is read when nothing asks sooner.
pub(super) const POLL_EVERY: Duration = Duration::from_secs(1);

/// Least time between the start of a read for unknown keys and the end of the read before it.
/// 200 ms: a new key then waits at most about a fifth of a second on its first use, which no
/// client notices next to a model's answer, while unknown keys, however many, cause at most
/// five reads of the (small) key table a second on top of the poll's one: the same order of
/// load as the poll, never a read per request.
pub(super) const UNKNOWN_KEY_EVERY: Duration = Duration::from_millis(200);

/// Longest a request with an unknown key waits for its re-read before it is refused anyway
/// (a stalled database must not hold such requests for long). 2 s: on a loaded machine the
/// read thread can take over a second to be scheduled (seen under a parallel test run with a
/// build beside it), and a new key refused then would be the very bug this re-read fixes.
const UNKNOWN_KEY_WAIT: Duration = Duration::from_secs(2);

/// The request side of the refresh thread: asks for a read and waits for one to finish.
#[derive(Debug)]
pub(super) struct Refresh {
    /// Wakes the thread for an unknown key (one pending wake is enough: capacity 1).
    wake: Sender<()>,
    /// Reads started so far.
    started: Arc<AtomicU64>,
    /// Reads finished so far; closed when the thread has stopped (or never started).
    done: watch::Receiver<u64>,
}

/// The thread's side, moved into it by [`Refresh::start`].
pub(super) struct Worker {
    wake: Receiver<()>,
    started: Arc<AtomicU64>,
    done: watch::Sender<u64>,
}

/// Why the table is being read: the label of `switchyard_key_table_reads_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trigger {
    Poll,
    UnknownKey,
}

impl Trigger {
    fn label(self) -> &'static str {
        match self {
            Trigger::Poll => "poll",
            Trigger::UnknownKey => "unknown_key",
        }
    }
}

impl Refresh {
    /// The two halves; start the worker with [`Worker::run`] on its own thread (if it never
    /// runs, requests do not wait for it).
    pub(super) fn new() -> (Refresh, Worker) {
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
        let (done_tx, done_rx) = watch::channel(0);
        let started = Arc::new(AtomicU64::new(0));
        (
            Refresh {
                wake: wake_tx,
                started: Arc::clone(&started),
                done: done_rx,
            },
            Worker {
                wake: wake_rx,
                started,
                done: done_tx,
            },
        )
    }

    /// Waits until a read of the table that started after this call has finished (at most
    /// [`UNKNOWN_KEY_WAIT`]). A read already under way may have read the table before the key
    /// was written, so it does not count.
    pub(super) async fn reread(&self) {
        let want = self.started.load(Ordering::SeqCst) + 1;
        match self.wake.try_send(()) {
            // Full: a wake is already pending, and the read it starts comes after this call.
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => return,
        }
        let mut done = self.done.clone();
        // An error: the thread has stopped, no read will come.
        let _ = tokio::time::timeout(UNKNOWN_KEY_WAIT, done.wait_for(|&n| n >= want)).await;
    }
}

impl Worker {
    /// Reads the table every [`POLL_EVERY`], or on a wake no sooner than
    /// [`UNKNOWN_KEY_EVERY`] after the last read, and reloads the keys when it changed. Ends
    /// when the gateway's [`Auth`] is gone. Holds `auth` only while reading, so that it never
    /// keeps the gateway's state alive.
    #[expect(
        clippy::disallowed_methods,
        reason = "a dedicated std thread, not a runtime worker, waits between reads"
    )]
    pub(super) fn run(self, auth: Weak<Inner>, store: KeyStore) {
        // The keys were loaded just before this thread started.
        let mut last = Instant::now();
        loop {
            let trigger = match self
                .wake
                .recv_timeout(POLL_EVERY.saturating_sub(last.elapsed()))
            {
                Ok(()) => Trigger::UnknownKey,
                Err(RecvTimeoutError::Timeout) => Trigger::Poll,
                // The `Auth` holding the other end is gone.
                Err(RecvTimeoutError::Disconnected) => return,
            };
            if trigger == Trigger::UnknownKey {
                std::thread::sleep(UNKNOWN_KEY_EVERY.saturating_sub(last.elapsed()));
            }
            // Every request that asked by now is answered by this read.
            while self.wake.try_recv().is_ok() {}
            let Some(inner) = auth.upgrade() else {
                return;
            };
            let n = self.started.fetch_add(1, Ordering::SeqCst) + 1;
            read(&Auth(inner), &store, trigger);
            last = Instant::now();
            self.done.send_replace(n);
        }
    }
}

/// One read: reloads the keys when the table changed since the last load.
fn read(auth: &Auth, store: &KeyStore, trigger: Trigger) {
    auth.0.metrics.key_table_read(trigger.label());
    let changed = match store.data_version() {
        Ok(v) => v != auth.0.seen_version.load(Ordering::SeqCst),
        Err(e) => {
            tracing::warn!(error = %e, "Key table unreadable; keeping the keys loaded.");
            false
        }
    };
    if changed {
        match auth.reload_from(store) {
            Ok(()) => tracing::info!(keys = auth.keys().len(), "Client keys reloaded."),
            Err(e) => tracing::warn!(error = %e, "Key reload failed; keeping the keys loaded."),
        }
    }
}
