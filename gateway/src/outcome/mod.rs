//! The outcome log: one [`Outcome`] row per request in SQLite, written by a dedicated thread.
//! The schema, its migrations and the synchronous writes and reads belong to the
//! `outcome-log` crate; this module is the gateway's async side (channel, group commit,
//! the policies when the log is unavailable).
//!
//! Requests hand rows to [`OutcomeLog::record`], which never blocks: it `try_send`s on a bounded
//! channel (when that is full the row is dropped, counted and warned about) and returns a
//! [`Commit`] to await. The writer thread group-commits: it takes the first waiting row, every
//! row queued behind it (up to `flush_rows`), writes them in one transaction and then wakes
//! their waiters. An answer is acknowledged only after [`Commit::wait`], so a row is in the
//! WAL (which survives the process being killed; `fsync` makes it survive power loss too)
//! before the client sees its answer, and the added latency is one group commit. WAL
//! checkpoints run on their own thread ([`checkpoint`]), never inside a request's commit.
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

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, select, Receiver, Sender, TrySendError};
use router_core::{Feedback, Outcome, PromptRecord};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

pub use judge_calls::{judge_spend_since, read_judge_calls, JudgeCall, JudgeCallRow, JudgeResult};
pub use outcome_log::{export_jsonl, read_outcomes, FeedbackVerdict};

use self::checkpoint::Checkpoints;
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
    Written(bool),
    Abandoned,
}

type SharedSettled = Arc<std::sync::Mutex<Settled>>;

fn lock(s: &SharedSettled) -> std::sync::MutexGuard<'_, Settled> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
    fn abandoned(&self) -> bool {
        matches!(*lock(&self.settled), Settled::Abandoned)
    }

    /// Records the write's result (unless the request gave up meanwhile) and wakes the waiter.
    fn settle(self, stored: bool, metrics: &Metrics) {
        {
            let mut settled = lock(&self.settled);
            if matches!(*settled, Settled::Pending) {
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
    done: Option<oneshot::Receiver<bool>>,
    settled: SharedSettled,
    metrics: Arc<Metrics>,
}

impl Commit {
    /// Whether the row was queued at all (false: dropped because the channel was full or the
    /// writer stopped).
    pub fn queued(&self) -> bool {
        self.done.is_some()
    }

    /// Waits until the row's group is committed, at most `timeout`. True when it is stored.
    ///
    /// A row not committed in time counts as dropped here, once: the writer then skips it
    /// (it sees the waiter gone), so the row is not written later behind the answer the
    /// `on_unavailable` policy gave. A row the writer failed was counted by the writer.
    pub async fn wait(self, timeout: Duration) -> bool {
        let Some(done) = self.done else {
            return false;
        };
        if let Ok(Ok(stored)) = tokio::time::timeout(timeout, done).await {
            return stored;
        }
        let mut settled = lock(&self.settled);
        match *settled {
            // The writer finished just as the wait ended: its result stands.
            Settled::Written(stored) => stored,
            Settled::Pending | Settled::Abandoned => {
                *settled = Settled::Abandoned;
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
    path: PathBuf,
    metrics: Arc<Metrics>,
    commit_timeout: Duration,
    /// Keeps the retention thread (if any) running while a handle exists.
    _retention: Option<Sender<()>>,
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
    /// Opens the database (creating it) and starts the writer thread.
    pub fn open(config: &LogConfig, metrics: Arc<Metrics>) -> Result<OutcomeLog, Error> {
        let mut conn = outcome_log::open(&config.sqlite, config.fsync)?;
        // SQLite waits this long for another connection's write lock (rusqlite's default is
        // 5 s). It must not outlast `commit_timeout`: past it the answer no longer waits, so
        // a longer wait could only store a row that was already counted as dropped.
        conn.busy_timeout(config.commit_timeout)
            .and_then(|()| outcome_log::checkpoint_elsewhere(&conn))
            .map_err(|source| outcome_log::Error::Sqlite {
                path: config.sqlite.clone(),
                source,
            })?;
        let checkpoints = Checkpoints::start(&config.sqlite)?;
        let (jobs_tx, jobs_rx) = bounded(config.channel_capacity);
        let (control_tx, control_rx) = bounded(16);
        let group_rows = config.flush_rows;
        let path = config.sqlite.clone();
        let writer_metrics = metrics.clone();
        let writer_path = path.clone();
        let config_commit_timeout = config.commit_timeout;
        std::thread::Builder::new()
            .name("switchyard-outcome-log".to_owned())
            .spawn(move || {
                let mut writer = Writer {
                    conn: &mut conn,
                    pending: Vec::new(),
                    waiters: Vec::new(),
                    group_rows,
                    commit_timeout: config_commit_timeout,
                    metrics: writer_metrics,
                    path: writer_path,
                    checkpoints,
                };
                writer.run(&jobs_rx, &control_rx);
            })
            .map_err(|source| Error::OutcomeLogThread { source })?;
        let retention = retention::start(config, Arc::clone(&metrics))?;
        Ok(OutcomeLog {
            jobs: jobs_tx,
            control: control_tx,
            privacy: config.privacy,
            path,
            metrics,
            commit_timeout: config.commit_timeout,
            _retention: retention,
        })
    }

    /// The database file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
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

    /// Queues a row; never blocks. Await the returned [`Commit`] before acknowledging.
    pub fn record(&self, outcome: Outcome) -> Commit {
        let (done, rx) = oneshot::channel();
        let settled = Arc::new(std::sync::Mutex::new(Settled::Pending));
        let queued = self.send(Job::Outcome {
            outcome: Box::new(outcome),
            waiter: Waiter {
                done,
                settled: Arc::clone(&settled),
                deadline: std::time::Instant::now() + self.commit_timeout,
            },
        });
        Commit {
            done: queued.then_some(rx),
            settled,
            metrics: Arc::clone(&self.metrics),
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

struct Writer<'a> {
    conn: &'a mut rusqlite::Connection,
    pending: Vec<Outcome>,
    waiters: Vec<Waiter>,
    group_rows: usize,
    /// SQLite's busy timeout outside group commits (feedback and judge writes).
    commit_timeout: Duration,
    metrics: Arc<Metrics>,
    path: PathBuf,
    /// Counts committed rows for the checkpoint thread (and keeps it running).
    checkpoints: Checkpoints,
}

impl Writer<'_> {
    fn run(&mut self, jobs: &Receiver<Job>, control: &Receiver<Control>) {
        loop {
            select! {
                recv(jobs) -> job => match job {
                    Ok(job) => {
                        // Group commit: everything already queued behind this row goes into
                        // the same transaction, so a busy gateway commits in large groups and
                        // an idle one commits each row at once.
                        self.take(job);
                        while self.pending.len() < self.group_rows {
                            match jobs.try_recv() {
                                Ok(job) => self.take(job),
                                Err(_) => break,
                            }
                        }
                        self.commit();
                    }
                    Err(_) => { self.commit(); return; }
                },
                recv(control) -> msg => match msg {
                    Ok(Control::Flush(reply)) => {
                        self.drain(jobs);
                        self.commit();
                        let _ = reply.send(());
                    }
                    Ok(Control::Close(reply)) => {
                        self.drain(jobs);
                        self.commit();
                        let _ = reply.send(());
                        return;
                    }
                    Err(_) => { self.drain(jobs); self.commit(); return; }
                },
            }
        }
    }

    fn take(&mut self, job: Job) {
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
                self.commit();
                let verdict = match outcome_log::add_feedback(
                    self.conn,
                    &request_id,
                    key_id.as_deref(),
                    &feedback,
                    timestamp_ms,
                ) {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::error!(path = %self.path.display(), error = %e, "Feedback write failed.");
                        FeedbackVerdict::Unavailable
                    }
                };
                let _ = reply.send(verdict);
            }
            Job::Judged { call, label, reply } => {
                self.commit();
                let mut call = *call;
                if let Some(label) = label {
                    call.result = match outcome_log::add_feedback(
                        self.conn,
                        &call.request_id,
                        None,
                        &label,
                        call.timestamp_ms,
                    ) {
                        Ok(FeedbackVerdict::Stored | FeedbackVerdict::ReplacedJudge { .. }) => {
                            JudgeResult::Stored
                        }
                        Ok(FeedbackVerdict::AlreadyLabelled { .. }) => JudgeResult::Superseded,
                        Ok(FeedbackVerdict::UnknownRequest) => JudgeResult::UnknownRequest,
                        Ok(FeedbackVerdict::Unavailable) => JudgeResult::LogUnavailable,
                        Err(e) => {
                            tracing::error!(path = %self.path.display(), error = %e, "Judge label write failed.");
                            JudgeResult::LogUnavailable
                        }
                    };
                }
                // The accounting row is kept whatever became of the label: the call was paid.
                if let Err(e) = outcome_log::judge_calls::insert(self.conn, &call) {
                    tracing::error!(path = %self.path.display(), error = %e, "Judge call row write failed.");
                }
                let _ = reply.send(call.result);
            }
        }
    }

    fn busy_timeout(&mut self, timeout: Duration) {
        if let Err(e) = self.conn.busy_timeout(timeout) {
            tracing::warn!(path = %self.path.display(), error = %e, "Setting the SQLite busy timeout failed.");
        }
    }

    fn drain(&mut self, jobs: &Receiver<Job>) {
        while let Ok(job) = jobs.try_recv() {
            self.take(job);
        }
    }

    fn commit(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut waiters = std::mem::take(&mut self.waiters);
        // A row whose request stopped waiting (past `commit_timeout`) is counted as dropped
        // and answered by the `on_unavailable` policy: writing it now would contradict both.
        // (A row whose `Commit` was dropped unawaited is still written.)
        let keep: Vec<bool> = waiters.iter().map(|w| !w.abandoned()).collect();
        let mut kept = keep.iter();
        self.pending
            .retain(|_| kept.next().copied().unwrap_or(true));
        let mut kept = keep.iter();
        waiters.retain(|_| kept.next().copied().unwrap_or(true));
        if self.pending.is_empty() {
            return;
        }
        // Wait for another connection's lock no longer than the first of these rows' requests
        // waits for it (at the deadline a failed write and a request giving up agree).
        let now = std::time::Instant::now();
        let budget = waiters
            .iter()
            .map(|w| w.deadline.saturating_duration_since(now))
            .min()
            .unwrap_or(self.commit_timeout);
        self.busy_timeout(budget);
        let written = outcome_log::write_batch(self.conn, &self.pending);
        self.busy_timeout(self.commit_timeout);
        match written {
            Ok(stored) => {
                self.checkpoints
                    .committed(stored.iter().filter(|&&ok| ok).count());
                for (waiter, ok) in waiters.into_iter().zip(stored) {
                    waiter.settle(ok, &self.metrics);
                }
            }
            Err(e) => {
                for waiter in waiters {
                    waiter.settle(false, &self.metrics);
                }
                tracing::error!(
                    path = %self.path.display(),
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
