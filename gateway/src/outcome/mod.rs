//! The outcome log: one [`Outcome`] row per request in SQLite, written by a dedicated thread.
//! The schema, its migrations and the synchronous writes and reads belong to the
//! `outcome-log` crate; this module is the gateway's async side (channel, group commit,
//! the policies when the log is unavailable).
//!
//! Requests hand rows to [`OutcomeLog::record`], which returns a [`Commit`] to await. When the
//! request is the only one in flight, the writer is idle (nothing queued, its connection free)
//! and `fsync` is off, the row is committed right there in the request's task: one WAL append
//! with no disk sync (about 0.1 ms of commit wait at concurrency 1 on the loaded 2-core VM,
//! docs/performance.md) that never waits for a lock (SQLite's busy timeout is 0 on this path;
//! a busy or failing log sends the row to the writer instead), cheaper than the two thread
//! hand-offs (to the writer and back) it saves.
//! Otherwise it `try_send`s on a bounded channel (when that is full the row is dropped, counted
//! and warned about). The writer thread group-commits: it takes the first waiting row, every
//! row queued behind it (up to `flush_rows`), writes them in one transaction and then wakes
//! their waiters. An answer is acknowledged only after [`Commit::wait`], so a row is in the
//! WAL (which survives the process being killed; `fsync` makes it survive power loss too)
//! before the client sees its answer, and the added latency is one commit. WAL checkpoints run
//! on their own thread ([`checkpoint`]), never inside a request's commit.
//! [`OutcomeLog::flush`] waits until everything sent before it is committed (tests, shutdown).
//! Feedback labels go through the same thread so that the "known request, first label wins"
//! checks cannot race ([`OutcomeLog::feedback`]), and so do the judge's labels with their
//! `judge_calls` accounting row ([`OutcomeLog::judged`]).
//! [`record::RequestRecord`] builds a request's row; [`export_jsonl`] and [`read_outcomes`] read
//! the log back.

mod checkpoint;
pub mod judge_calls;
pub mod record;
mod retention;
pub mod spend;
pub mod writer_lock;

use std::sync::Arc;
use std::time::Duration;

use std::sync::TryLockError;

use crossbeam_channel::{bounded, select, Receiver, Sender, TrySendError};
use outcome_log::{Location, Store};
use router_core::{Feedback, Outcome, PromptRecord};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

pub use judge_calls::{judge_spend_since, read_judge_calls, JudgeCall, JudgeCallRow, JudgeResult};
pub use outcome_log::{export_jsonl, read_outcomes, FeedbackVerdict};

use self::checkpoint::Checkpoints;
use self::writer_lock::WriterLock;
use crate::config::{LogConfig, Privacy};
use crate::error::Error;
use crate::metrics::Metrics;

/// Control messages travel on their own small channel so that a full row channel never
/// blocks a flush.
enum Control {
    Flush(oneshot::Sender<()>),
    Close(oneshot::Sender<()>),
}

/// What the writer thread takes from the row channel.
enum Job {
    /// An outcome row and who waits for its commit.
    Outcome {
        outcome: Box<Outcome>,
        waiter: Waiter,
    },
    /// A label, checked against the stored rows before it is stored.
    Feedback {
        request_id: String,
        /// Only a row made with this client key may be labelled (`None`: any row).
        key_id: Option<String>,
        feedback: Feedback,
        timestamp_ms: u64,
        reply: oneshot::Sender<FeedbackVerdict>,
    },
    /// A judged request: its accounting row and, when the judge gave one, its label.
    Judged {
        call: Box<JudgeCall>,
        label: Option<Feedback>,
        reply: oneshot::Sender<JudgeResult>,
    },
}

/// How a queued row ended, decided once under a lock by whichever side comes first: the
/// writer (stored or failed) or the request that stopped waiting ([`Commit::wait`] past its
/// timeout). So each lost row counts as dropped exactly once, and a row given up on is not
/// written later behind the answer the `on_unavailable` policy already gave.
#[derive(Clone, Copy, Debug)]
enum Settled {
    Pending,
    /// The writer took the row into a write: its result decides, even past the deadline.
    Claimed,
    Written(bool),
    Abandoned,
}

type SharedSettled = Arc<std::sync::Mutex<Settled>>;

fn lock(s: &SharedSettled) -> std::sync::MutexGuard<'_, Settled> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The writer's connection, shared with requests that commit inline; `None` once the writer
/// has stopped (rows are then refused, as the closed channel refuses them).
type SharedConn = Arc<std::sync::Mutex<Option<Store>>>;

fn lock_conn(c: &SharedConn) -> std::sync::MutexGuard<'_, Option<Store>> {
    c.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The writer's side of a queued row: whom to wake, and the shared settlement.
#[derive(Debug)]
struct Waiter {
    done: oneshot::Sender<bool>,
    settled: SharedSettled,
    /// When the request stops waiting (queued + `commit_timeout`).
    deadline: std::time::Instant,
}

impl Waiter {
    /// Takes the row into the write about to run, unless its request already gave up on it.
    fn claim(&self) -> bool {
        let mut settled = lock(&self.settled);
        match *settled {
            Settled::Pending => {
                *settled = Settled::Claimed;
                true
            }
            Settled::Claimed | Settled::Written(_) => true,
            Settled::Abandoned => false,
        }
    }

    /// Records the write's result (unless the request gave up meanwhile) and wakes the waiter.
    fn settle(self, stored: bool, metrics: &Metrics) {
        {
            let mut settled = lock(&self.settled);
            if matches!(*settled, Settled::Pending | Settled::Claimed) {
                *settled = Settled::Written(stored);
                if !stored {
                    metrics.outcome_log_dropped();
                }
            }
        }
        let _ = self.done.send(stored);
    }
}

/// A queued row's commit, to await before acknowledging the answer.
#[derive(Debug)]
#[must_use = "await the commit before acknowledging the answer"]
pub struct Commit {
    state: CommitState,
    metrics: Arc<Metrics>,
}

#[derive(Debug)]
enum CommitState {
    /// Committed (true) or refused (false) in the request's own task.
    Inline(bool),
    /// Queued for the writer thread.
    Queued {
        done: oneshot::Receiver<bool>,
        settled: SharedSettled,
    },
    /// Dropped because the channel was full or the writer stopped.
    Refused,
}

impl Commit {
    /// Whether the row was taken at all (false: dropped because the channel was full or the
    /// writer stopped).
    pub fn queued(&self) -> bool {
        !matches!(self.state, CommitState::Refused)
    }

    /// Whether the row was committed (or refused) inline, without the writer thread.
    pub fn inline(&self) -> bool {
        matches!(self.state, CommitState::Inline(_))
    }

    /// Waits until the row's group is committed, at most `timeout`. True when it is stored.
    ///
    /// A row not committed in time counts as dropped here, once: the writer then skips it
    /// (it sees the waiter gone), so the row is not written later behind the answer the
    /// `on_unavailable` policy gave. A row already in a write when the time is up waits for
    /// that write's result (bounded by the write's own timeout): reporting it dropped while
    /// the write went on to commit it would log an answer the client never got (and count a
    /// retry's spend twice). A row the writer failed was counted by the writer.
    pub async fn wait(self, timeout: Duration) -> bool {
        let (mut done, settled) = match self.state {
            CommitState::Inline(stored) => return stored,
            CommitState::Refused => return false,
            CommitState::Queued { done, settled } => (done, settled),
        };
        if let Ok(result) = tokio::time::timeout(timeout, &mut done).await {
            return result.unwrap_or(false);
        }
        // Decided under the lock in one look (the writer claims and settles under it too).
        enum Seen {
            Settled(bool),
            GaveUp,
            InWrite,
        }
        let seen = {
            let mut settled = lock(&settled);
            match *settled {
                // The writer finished just as the wait ended: its result stands.
                Settled::Written(stored) => Seen::Settled(stored),
                Settled::Claimed => Seen::InWrite,
                Settled::Pending | Settled::Abandoned => {
                    *settled = Settled::Abandoned;
                    Seen::GaveUp
                }
            }
        };
        match seen {
            Seen::Settled(stored) => stored,
            Seen::InWrite => done.await.unwrap_or(false),
            Seen::GaveUp => {
                self.metrics.outcome_log_dropped();
                tracing::warn!(
                    ?timeout,
                    "Outcome row not committed within log.commit_timeout; dropped."
                );
                false
            }
        }
    }
}

/// Handle to the outcome log; cheap to clone.
#[derive(Clone, Debug)]
pub struct OutcomeLog {
    jobs: Sender<Job>,
    control: Sender<Control>,
    privacy: Privacy,
    location: Location,
    metrics: Arc<Metrics>,
    commit_timeout: Duration,
    /// The writer's connection, for rows committed inline.
    conn: SharedConn,
    /// Whether rows may be committed inline: only into a SQLite file without `fsync` (a
    /// disk sync per commit, or a round trip to PostgreSQL, belongs on the writer thread,
    /// not on a runtime worker).
    inline: bool,
    /// Counts committed rows for the SQLite checkpoint thread (and keeps it running).
    checkpoints: Option<Arc<Checkpoints>>,
    /// Keeps the retention thread (if any) running while a handle exists.
    _retention: Option<Sender<()>>,
    /// Set by the writer when it closes: rows are refused from then on.
    closed: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Job::Outcome { .. } => "Job::Outcome",
            Job::Feedback { .. } => "Job::Feedback",
            Job::Judged { .. } => "Job::Judged",
        })
    }
}

impl OutcomeLog {
    /// Opens the database (creating and migrating it) and starts the writer thread. A SQLite
    /// file is locked first, for as long as the writer runs: a second log handle on the same
    /// file, in this process or another, is refused with [`Error::OutcomeLogInUse`].
    pub fn open(config: &LogConfig, metrics: Arc<Metrics>) -> Result<OutcomeLog, Error> {
        let location = config.location();
        // Before the file is touched (migrations, retention), so that the refused gateway
        // changes nothing.
        let lock = match &location {
            Location::Sqlite(path) => WriterLock::acquire(path)?,
            Location::Postgres(_) => None,
        };
        let mut store = Store::open(&location, config.fsync, config.commit_timeout)?;
        // SQLite waits this long for another connection's write lock (rusqlite's default is
        // 5 s). It must not outlast `commit_timeout`: past it the answer no longer waits, so
        // a longer wait could only store a row that was already counted as dropped.
        // (PostgreSQL statements are bounded by the same timeout, set at open.)
        store.lock_wait(config.commit_timeout)?;
        let checkpoints = match (&location, store.sqlite()) {
            (Location::Sqlite(path), Some(conn)) => {
                outcome_log::checkpoint_elsewhere(conn).map_err(|source| {
                    outcome_log::Error::Sqlite {
                        path: path.clone(),
                        source,
                    }
                })?;
                Some(Arc::new(Checkpoints::start(path)?))
            }
            _ => None,
        };
        let inline = !config.fsync && store.sqlite().is_some();
        let conn: SharedConn = Arc::new(std::sync::Mutex::new(Some(store)));
        let (jobs_tx, jobs_rx) = bounded(config.channel_capacity);
        let (control_tx, control_rx) = bounded(16);
        let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut writer = Writer {
            closed: Arc::clone(&closed),
            conn: Arc::clone(&conn),
            pending: Vec::new(),
            waiters: Vec::new(),
            group_rows: config.flush_rows,
            commit_timeout: config.commit_timeout,
            metrics: metrics.clone(),
            location: location.clone(),
            checkpoints: checkpoints.clone(),
            lock,
        };
        std::thread::Builder::new()
            .name("switchyard-outcome-log".to_owned())
            .spawn(move || {
                writer.run(&jobs_rx, &control_rx);
            })
            .map_err(|source| Error::OutcomeLogThread { source })?;
        let retention = retention::start(config, Arc::clone(&metrics))?;
        Ok(OutcomeLog {
            jobs: jobs_tx,
            control: control_tx,
            privacy: config.privacy,
            location,
            metrics,
            commit_timeout: config.commit_timeout,
            conn,
            inline,
            checkpoints,
            _retention: retention,
            closed,
        })
    }

    /// Where the log is: the SQLite file or the PostgreSQL database.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The SQLite file, when the log is one.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match &self.location {
            Location::Sqlite(path) => Some(path),
            Location::Postgres(_) => None,
        }
    }

    /// The prompt as the privacy setting allows it to be kept.
    pub fn prompt_record(&self, text: &str) -> PromptRecord {
        match self.privacy {
            Privacy::Full => PromptRecord::Full {
                text: text.to_owned(),
            },
            Privacy::Hashed => PromptRecord::Hashed {
                sha256: hex::encode(Sha256::digest(text.as_bytes())),
            },
            Privacy::None => PromptRecord::None,
        }
    }

    /// Commits the row inline when `alone` and the writer is idle, else queues it; never
    /// waits for a lock. Await the returned [`Commit`] before acknowledging.
    ///
    /// `alone`: no other request is in flight. Only then is a row committed inline: rows of
    /// concurrent requests go to the writer, whose hand-off lets them gather into one group
    /// commit (measured: committing each inline at 16 in flight cost more CPU per request
    /// than the hand-offs it saved).
    pub fn record(&self, outcome: Outcome, alone: bool) -> Commit {
        let outcome = Box::new(outcome);
        let inline = if alone {
            self.commit_inline(outcome)
        } else {
            Err(outcome)
        };
        let outcome = match inline {
            Ok(stored) => {
                if !stored {
                    self.metrics.outcome_log_dropped();
                }
                return Commit {
                    state: CommitState::Inline(stored),
                    metrics: Arc::clone(&self.metrics),
                };
            }
            Err(outcome) => outcome,
        };
        let (done, rx) = oneshot::channel();
        let settled = Arc::new(std::sync::Mutex::new(Settled::Pending));
        let queued = self.send(Job::Outcome {
            outcome,
            waiter: Waiter {
                done,
                settled: Arc::clone(&settled),
                deadline: std::time::Instant::now() + self.commit_timeout,
            },
        });
        Commit {
            state: if queued {
                CommitState::Queued { done: rx, settled }
            } else {
                CommitState::Refused
            },
            metrics: Arc::clone(&self.metrics),
        }
    }

    /// Writes the row in the caller's task when nothing is queued for the writer and its
    /// connection is free: `Ok(stored)`. Gives the row back (`Err`) for the writer thread
    /// otherwise, and when the write fails: SQLite's busy timeout is 0 here, so another
    /// connection's lock fails at once instead of holding a runtime worker, and the writer
    /// then waits for it as long as `commit_timeout` allows (and logs and counts a failure).
    /// With the checkpoints on their own thread and no `fsync`, the write is an append to the
    /// WAL with no disk sync.
    fn commit_inline(&self, outcome: Box<Outcome>) -> Result<bool, Box<Outcome>> {
        if !self.inline || !self.jobs.is_empty() {
            return Err(outcome);
        }
        let mut guard = match self.conn.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Err(outcome),
        };
        let Some(conn) = guard.as_mut().and_then(Store::sqlite) else {
            return Err(outcome);
        };
        if conn.busy_timeout(Duration::ZERO).is_err() {
            return Err(outcome);
        }
        let written = outcome_log::write_batch(conn, std::slice::from_ref(&*outcome));
        // The writer's feedback and judge writes wait for locks as long as `commit_timeout`.
        let restored = conn.busy_timeout(self.commit_timeout);
        drop(guard);
        if let Err(e) = restored {
            tracing::warn!(log = %self.location, error = %e, "Setting the SQLite busy timeout failed.");
        }
        match written {
            Ok(stored) => {
                if let Some(c) = &self.checkpoints {
                    c.committed(1);
                }
                Ok(stored.first().copied().unwrap_or(false))
            }
            Err(_) => Err(outcome),
        }
    }

    /// Stores a feedback label for `request_id` unless the request is unknown or already has
    /// a label for this metric (the first label wins).
    pub async fn feedback(&self, request_id: String, feedback: Feedback) -> FeedbackVerdict {
        self.feedback_as(request_id, None, feedback).await
    }

    /// [`OutcomeLog::feedback`] on behalf of the client key `key_id`: a row made under
    /// another key (or none) reads as unknown, so that request ids are no oracle across
    /// keys. `None` may label any row (no keys configured, or the admin key).
    pub async fn feedback_as(
        &self,
        request_id: String,
        key_id: Option<String>,
        feedback: Feedback,
    ) -> FeedbackVerdict {
        let (reply, rx) = oneshot::channel();
        let job = Job::Feedback {
            request_id,
            key_id,
            feedback,
            timestamp_ms: crate::clock::unix_ms(),
            reply,
        };
        if !self.send(job) {
            return FeedbackVerdict::Unavailable;
        }
        rx.await.unwrap_or(FeedbackVerdict::Unavailable)
    }

    /// Stores a judged request's accounting row and, with `label`, its feedback label
    /// (which never replaces an existing one). Returns how it ended: the call's own result,
    /// or for a label what storing it gave.
    pub async fn judged(&self, call: JudgeCall, label: Option<Feedback>) -> JudgeResult {
        let (reply, rx) = oneshot::channel();
        let job = Job::Judged {
            call: Box::new(call),
            label,
            reply,
        };
        if !self.send(job) {
            return JudgeResult::LogUnavailable;
        }
        rx.await.unwrap_or(JudgeResult::LogUnavailable)
    }

    fn send(&self, job: Job) -> bool {
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            self.metrics.outcome_log_dropped();
            tracing::warn!("Outcome log writer has stopped; dropped a row.");
            return false;
        }
        match self.jobs.try_send(job) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.metrics.outcome_log_dropped();
                tracing::warn!("Outcome log channel is full; dropped a row.");
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                self.metrics.outcome_log_dropped();
                tracing::warn!("Outcome log writer has stopped; dropped a row.");
                false
            }
        }
    }

    /// Waits until every row queued before this call is committed.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.control.try_send(Control::Flush(tx)).is_ok() {
            // An error means the writer exited, which also means nothing is pending.
            let _ = rx.await;
        }
    }

    /// Commits everything queued and stops the writer thread.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.control.try_send(Control::Close(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

struct Writer {
    conn: SharedConn,
    pending: Vec<Outcome>,
    waiters: Vec<Waiter>,
    group_rows: usize,
    /// SQLite's busy timeout outside group commits (feedback and judge writes).
    commit_timeout: Duration,
    metrics: Arc<Metrics>,
    location: Location,
    checkpoints: Option<Arc<Checkpoints>>,
    closed: Arc<std::sync::atomic::AtomicBool>,
    /// The SQLite file's lock, held while this writer runs (dropped with it, or at close).
    lock: Option<WriterLock>,
}

impl Writer {
    fn run(&mut self, jobs: &Receiver<Job>, control: &Receiver<Control>) {
        let shared = Arc::clone(&self.conn);
        loop {
            select! {
                recv(jobs) -> job => {
                    let mut guard = lock_conn(&shared);
                    let Some(conn) = guard.as_mut() else { return };
                    let Ok(job) = job else {
                        guard.take();
                        return;
                    };
                    // Group commit: everything already queued behind this row goes into the
                    // same transaction, so a busy gateway commits in large groups and an idle
                    // one commits each row at once.
                    self.take(conn, job);
                    while self.pending.len() < self.group_rows {
                        match jobs.try_recv() {
                            Ok(job) => self.take(conn, job),
                            Err(_) => break,
                        }
                    }
                    self.commit(conn);
                },
                recv(control) -> msg => {
                    let mut guard = lock_conn(&shared);
                    let Some(conn) = guard.as_mut() else { return };
                    self.drain(conn, jobs);
                    self.commit(conn);
                    match msg {
                        Ok(Control::Flush(reply)) => {
                            drop(guard);
                            let _ = reply.send(());
                        }
                        Ok(Control::Close(reply)) => {
                            // Closes the connection before answering: no row commits after,
                            // and no row is taken after (the channel outlives this thread's
                            // return by a moment, so `closed` says it first).
                            self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
                            guard.take();
                            drop(guard);
                            // Released before answering, so that a gateway started on the
                            // same file once `close` returns is not refused.
                            self.lock.take();
                            let _ = reply.send(());
                            return;
                        }
                        Err(_) => {
                            guard.take();
                            return;
                        }
                    }
                },
            }
        }
    }

    fn take(&mut self, conn: &mut Store, job: Job) {
        match job {
            Job::Outcome { outcome, waiter } => {
                self.pending.push(*outcome);
                self.waiters.push(waiter);
            }
            Job::Feedback {
                request_id,
                key_id,
                feedback,
                timestamp_ms,
                reply,
            } => {
                // Rows queued before the label must be visible to its checks.
                self.commit(conn);
                let verdict = match conn.add_feedback(
                    &request_id,
                    key_id.as_deref(),
                    &feedback,
                    timestamp_ms,
                ) {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::error!(error = %e, "Feedback write failed.");
                        FeedbackVerdict::Unavailable
                    }
                };
                let _ = reply.send(verdict);
            }
            Job::Judged { call, label, reply } => {
                self.commit(conn);
                let mut call = *call;
                // The label and the accounting row commit together: a crash between two
                // commits kept a label whose paid call the day's budget then didn't count.
                if let Err(e) = conn.add_judged(&mut call, label.as_ref()) {
                    tracing::error!(error = %e, "Judge label write failed.");
                    // The accounting row is kept whatever became of the label: the call was
                    // paid.
                    if label.is_some() {
                        call.result = JudgeResult::LogUnavailable;
                    }
                    if let Err(e) = conn.insert_judge_call(&call) {
                        tracing::error!(error = %e, "Judge call row write failed.");
                    }
                }
                let _ = reply.send(call.result);
            }
        }
    }

    fn busy_timeout(&self, conn: &Store, timeout: Duration) {
        if let Err(e) = conn.lock_wait(timeout) {
            tracing::warn!(error = %e, "Setting the SQLite busy timeout failed.");
        }
    }

    fn drain(&mut self, conn: &mut Store, jobs: &Receiver<Job>) {
        while let Ok(job) = jobs.try_recv() {
            self.take(conn, job);
        }
    }

    fn commit(&mut self, conn: &mut Store) {
        if self.pending.is_empty() {
            return;
        }
        let mut waiters = std::mem::take(&mut self.waiters);
        // A row whose request stopped waiting (past `commit_timeout`) is counted as dropped
        // and answered by the `on_unavailable` policy: writing it now would contradict both.
        // (A row whose `Commit` was dropped unawaited is still written.)
        // The others are claimed: from here their requests wait for this write's result.
        let keep: Vec<bool> = waiters.iter().map(Waiter::claim).collect();
        let mut kept = keep.iter();
        self.pending
            .retain(|_| kept.next().copied().unwrap_or(true));
        let mut kept = keep.iter();
        waiters.retain(|_| kept.next().copied().unwrap_or(true));
        if self.pending.is_empty() {
            return;
        }
        // Wait for another connection's lock no longer than the last of these rows' requests
        // would have waited: the claimed rows' requests wait for this write's result, so one
        // row near its deadline no longer fails the whole group at once.
        let now = std::time::Instant::now();
        let budget = waiters
            .iter()
            .map(|w| w.deadline.saturating_duration_since(now))
            .max()
            .unwrap_or(self.commit_timeout);
        self.busy_timeout(conn, budget);
        let written = conn.write_batch(&self.pending);
        self.busy_timeout(conn, self.commit_timeout);
        match written {
            Ok(stored) => {
                if let Some(c) = &self.checkpoints {
                    c.committed(stored.iter().filter(|&&ok| ok).count());
                }
                for (waiter, ok) in waiters.into_iter().zip(stored) {
                    waiter.settle(ok, &self.metrics);
                }
            }
            Err(e) => {
                for waiter in waiters {
                    waiter.settle(false, &self.metrics);
                }
                tracing::error!(
                    log = %self.location,
                    rows = self.pending.len(),
                    error = %e,
                    "Outcome log write failed; rows dropped."
                );
            }
        }
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests;
