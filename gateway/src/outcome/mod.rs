//! The outcome log: one [`Outcome`] row per request in SQLite, written by a dedicated thread.
//!
//! Requests hand rows to [`OutcomeLog::record`], which never blocks: it `try_send`s on a bounded
//! channel and, when that is full, drops the row, counts it and warns. The writer thread
//! commits every `flush_rows` rows or `flush_interval`, whichever comes first.
//! [`OutcomeLog::flush`] waits until everything sent before it is committed (tests, shutdown).
//! [`record::RequestRecord`] builds a request's row; [`export_jsonl`] and [`read_outcomes`] read
//! the log back.

pub mod record;
pub mod spend;
mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, Sender, TrySendError};
use router_core::{Feedback, Outcome, PromptRecord};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use store::Row;
pub use store::{export_jsonl, read_outcomes};

use crate::config::{LogConfig, Privacy};
use crate::error::Error;
use crate::metrics::Metrics;

/// Control messages travel on their own small channel so that a full row channel never
/// blocks a flush.
enum Control {
    Flush(oneshot::Sender<()>),
    Close(oneshot::Sender<()>),
}

/// Handle to the outcome log; cheap to clone.
#[derive(Clone, Debug)]
pub struct OutcomeLog {
    rows: Sender<Row>,
    control: Sender<Control>,
    privacy: Privacy,
    path: PathBuf,
    metrics: Arc<Metrics>,
}

impl OutcomeLog {
    /// Opens the database (creating it) and starts the writer thread.
    pub fn open(config: &LogConfig, metrics: Arc<Metrics>) -> Result<OutcomeLog, Error> {
        let mut conn = store::open(&config.sqlite)?;
        let (rows_tx, rows_rx) = bounded(config.channel_capacity);
        let (control_tx, control_rx) = bounded(16);
        let flush_rows = config.flush_rows;
        let flush_interval = config.flush_interval;
        let path = config.sqlite.clone();
        let writer_metrics = metrics.clone();
        let writer_path = path.clone();
        std::thread::Builder::new()
            .name("switchyard-outcome-log".to_owned())
            .spawn(move || {
                let mut writer = Writer {
                    conn: &mut conn,
                    pending: Vec::new(),
                    first_pending: None,
                    flush_rows,
                    flush_interval,
                    metrics: writer_metrics,
                    path: writer_path,
                };
                writer.run(&rows_rx, &control_rx);
            })
            .map_err(|source| Error::OutcomeLogThread { source })?;
        Ok(OutcomeLog {
            rows: rows_tx,
            control: control_tx,
            privacy: config.privacy,
            path,
            metrics,
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

    /// Queues a row; never blocks. Returns false when it was dropped.
    pub fn record(&self, outcome: Outcome) -> bool {
        self.send(Row::Outcome(Box::new(outcome)))
    }

    /// Queues a feedback label for `request_id`; never blocks.
    pub fn feedback(&self, request_id: String, feedback: Feedback) -> bool {
        self.send(Row::Feedback {
            request_id,
            feedback,
            timestamp_ms: crate::clock::unix_ms(),
        })
    }

    fn send(&self, row: Row) -> bool {
        match self.rows.try_send(row) {
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
    pending: Vec<Row>,
    first_pending: Option<Instant>,
    flush_rows: usize,
    flush_interval: Duration,
    metrics: Arc<Metrics>,
    path: PathBuf,
}

impl Writer<'_> {
    fn run(&mut self, rows: &Receiver<Row>, control: &Receiver<Control>) {
        loop {
            let wait = match self.first_pending {
                Some(t) => self.flush_interval.saturating_sub(t.elapsed()),
                None => Duration::from_secs(3600),
            };
            select! {
                recv(rows) -> row => match row {
                    Ok(row) => self.push(row),
                    Err(_) => { self.commit(); return; }
                },
                recv(control) -> msg => match msg {
                    Ok(Control::Flush(reply)) => {
                        self.drain(rows);
                        self.commit();
                        let _ = reply.send(());
                    }
                    Ok(Control::Close(reply)) => {
                        self.drain(rows);
                        self.commit();
                        let _ = reply.send(());
                        return;
                    }
                    Err(_) => { self.drain(rows); self.commit(); return; }
                },
                default(wait) => self.commit(),
            }
        }
    }

    fn push(&mut self, row: Row) {
        self.pending.push(row);
        self.first_pending.get_or_insert_with(Instant::now);
        if self.pending.len() >= self.flush_rows {
            self.commit();
        }
    }

    fn drain(&mut self, rows: &Receiver<Row>) {
        while let Ok(row) = rows.try_recv() {
            self.pending.push(row);
        }
    }

    fn commit(&mut self) {
        self.first_pending = None;
        if self.pending.is_empty() {
            return;
        }
        if let Err(e) = store::write_batch(self.conn, &self.pending) {
            for _ in 0..self.pending.len() {
                self.metrics.outcome_log_dropped();
            }
            tracing::error!(
                path = %self.path.display(),
                rows = self.pending.len(),
                error = %e,
                "Outcome log write failed; rows dropped."
            );
        }
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests;
