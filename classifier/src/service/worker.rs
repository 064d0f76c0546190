//! One encoder worker thread: take the next batch the queue forms, embed it, feed the measured
//! time back into the cost estimate, run the heads and reply.
//!
//! There is no "wait for company" delay: prompts that arrive while a batch runs form the next
//! batch (continuous batching), so under load batches grow by themselves, and at low load a
//! prompt starts at once instead of paying a batching wait.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Instant;

use router_core::Embedder;

use super::cost::batch_flops;
use super::queue::{since, Taken};
use super::{Inner, ServiceError, State};

pub(super) struct Worker {
    pub(super) index: usize,
    pub(super) inner: Arc<Inner>,
    pub(super) embedder: Arc<dyn Embedder>,
}

impl Worker {
    pub(super) fn run(self) {
        // Same level as the compute pool; the pool's outcome is the one reported.
        let _ = super::priority::shift_current_thread(self.inner.config.priority_gap);
        loop {
            let taken = {
                let mut state = self.inner.lock();
                loop {
                    let now = Instant::now();
                    let State { queue, model } = &mut *state;
                    let taken = queue.take(self.index, now, model);
                    if !taken.batch.is_empty() || !taken.hopeless.is_empty() || taken.abandoned > 0
                    {
                        break taken;
                    }
                    if queue.closed {
                        return;
                    }
                    state = self
                        .inner
                        .ready
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            };
            let taken = self.reply_dropped(taken);
            if !taken.batch.is_empty() {
                self.run_batch(taken);
                self.inner.lock().queue.finished(self.index);
            }
        }
    }

    /// Counts what the queue dropped and answers the hopeless prompts at once.
    fn reply_dropped(&self, mut taken: Taken) -> Taken {
        let counters = &self.inner.counters;
        counters
            .skipped
            .fetch_add(taken.abandoned as u64, Ordering::Relaxed);
        counters
            .unmeetable
            .fetch_add(taken.hopeless.len() as u64, Ordering::Relaxed);
        counters
            .dequeued
            .fetch_add(taken.batch.len() as u64, Ordering::Relaxed);
        if taken.hopeless.is_empty() {
            return taken;
        }
        let now = Instant::now();
        let needed: Vec<_> = {
            let state = self.inner.lock();
            let model = &state.model;
            taken
                .hopeless
                .iter()
                .map(|job| model.predict(batch_flops(job.tokens, 1)))
                .collect()
        };
        for (job, needed) in taken.hopeless.drain(..).zip(needed) {
            let budget = job.deadline.saturating_duration_since(now);
            let _ = job
                .reply
                .send(Err(ServiceError::DeadlineUnmeetable { needed, budget }));
        }
        taken
    }

    fn run_batch(&self, taken: Taken) {
        let batch = taken.batch;
        let started = Instant::now();
        let texts: Vec<&str> = batch.iter().map(|j| j.text.as_str()).collect();
        let pool = &self.inner.pools[self.index];
        // A panic in the tokenizer or the forward pass fails this batch, not the worker: an
        // unwinding worker would leave its callers unanswered, its queue slot marked busy for
        // ever (admission would then misjudge what is free) and, as the last worker, the whole
        // service stopped until a restart.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.install(|| self.embedder.embed(&texts))
        }));
        let forward = started.elapsed();
        let batch_size = batch.len();
        let counters = &self.inner.counters;
        let Ok(embedded) = run else {
            counters.panicked.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                batch_size,
                "The encoder panicked on a batch; its prompts take the static fallback"
            );
            for job in batch {
                let _ = job.reply.send(Err(ServiceError::Embed(
                    "the encoder failed on this batch (it panicked; see the log)".to_owned(),
                )));
            }
            return;
        };
        self.inner
            .lock()
            .model
            .observe(batch_flops(taken.tokens, batch_size), forward);
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters
            .forward_us
            .fetch_add(forward.as_micros() as u64, Ordering::Relaxed);
        match embedded {
            Ok(vectors) if vectors.len() == batch_size => {
                for (job, embedding) in batch.into_iter().zip(vectors) {
                    let _entered = job.span.enter();
                    let queue_wait = since(started, job.enqueued);
                    counters
                        .queue_wait_us
                        .fetch_add(queue_wait.as_micros() as u64, Ordering::Relaxed);
                    if let (Some(cache), Some(key)) = (&self.inner.cache, job.key) {
                        cache.insert(key, embedding.clone());
                    }
                    // The heads run outside the pass's guard above; a panic in one fails only
                    // its prompt, for the same reasons.
                    let scored = self.inner.try_heads(embedding, &job.choice).map(|mut s| {
                        s.queue_wait = queue_wait;
                        s.forward = forward;
                        s.batch_size = batch_size;
                        s
                    });
                    // The caller may have given up meanwhile; nothing to do then.
                    let _ = job.reply.send(scored);
                }
            }
            Ok(vectors) => {
                let message = format!(
                    "the encoder returned {} vectors for {batch_size} texts",
                    vectors.len()
                );
                tracing::warn!(
                    batch_size,
                    "Encoder batch returned the wrong number of vectors"
                );
                for job in batch {
                    let _ = job.reply.send(Err(ServiceError::Embed(message.clone())));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, batch_size, "Encoder batch failed");
                for job in batch {
                    let _ = job.reply.send(Err(ServiceError::Embed(e.to_string())));
                }
            }
        }
    }
}
