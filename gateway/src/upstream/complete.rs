//! One non-streaming call to one model through the failover walk, with that model as the only
//! candidate: what the judge and `switchyard onboard --live` send. Same providers, upstream
//! names, retries, timeouts and circuit breakers as client traffic, but never another model:
//! a verdict must come from the judge model, a probe's answer from the model it measures.
//! Unlike client traffic it waits for a rate-limited model (its `Retry-After`, or the cool-down
//! client traffic set, up to three times within its timeout): nobody waits on it, and failing
//! would lose a verdict or a probe.

use std::time::Duration;

use router_core::ModelId;

use super::error::UpstreamErrorKind;
use super::failover::{Answer, CallKind, Failover, WalkError};
use crate::openai::wire::{ChatCompletionRequest, TokenDetails};
use crate::tokens;

/// Most waits for a rate-limited model per call.
const MAX_RATE_LIMIT_WAITS: u32 = 3;
/// The wait when a 429 names none.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);
/// What a wait must leave of the call's time for the call itself.
const MIN_CALL_TIME: Duration = Duration::from_secs(1);

/// One answered call: its text, usage, cost and time.
#[derive(Clone, Debug, PartialEq)]
pub struct Completed {
    /// The first choice's text (empty when it had none).
    pub text: String,
    /// Catalog prices × usage, in USD.
    pub cost_usd: f64,
    /// Prompt tokens (the provider's count, else an estimate).
    pub input_tokens: u32,
    /// Completion tokens (the provider's count, else an estimate).
    pub output_tokens: u32,
    /// From the first attempt to the full answer.
    pub latency: Duration,
}

/// Calls `model` with `req` (its `model` field is replaced) and waits for the whole answer,
/// at most `timeout`. The error says what failed, for a report or a log line.
pub async fn complete(
    failover: &Failover<'_>,
    model: &ModelId,
    mut req: ChatCompletionRequest,
    timeout: Duration,
) -> Result<Completed, String> {
    req.model = model.as_str().to_owned();
    req.stream = None;
    let start = tokio::time::Instant::now();
    let deadline = start + timeout;
    let mut waits = 0;
    let walk = loop {
        let walk = failover
            .run(
                &req,
                std::slice::from_ref(model),
                CallKind::Complete,
                deadline,
            )
            .await;
        // A model rate limited (by this call or, cooling down, by client traffic just before)
        // is waited for: this work is off every request's path, and failing it would lose a
        // paid-for verdict or probe. Only while the wait leaves time for the call.
        match &walk.result {
            Err(WalkError::Failed { error, .. })
                if waits < MAX_RATE_LIMIT_WAITS && error.kind == UpstreamErrorKind::RateLimited =>
            {
                let wait = error.retry_after.unwrap_or(DEFAULT_RATE_LIMIT_WAIT);
                if tokio::time::Instant::now() + wait + MIN_CALL_TIME >= deadline {
                    break walk;
                }
                waits += 1;
                tokio::time::sleep(wait).await;
            }
            _ => break walk,
        }
    };
    let served = walk.result.map_err(|e| match e {
        WalkError::NoAttempt { no_targets: true } => {
            format!("`{model}` has no live provider (check its provider's key in the config)")
        }
        WalkError::NoAttempt { no_targets: false } => {
            format!("`{model}`: no attempt within {timeout:?}")
        }
        WalkError::Failed { error, provider } => format!("`{model}` via `{provider}`: {error}"),
    })?;
    let Answer::Complete(completion) = served.answer else {
        return Err(format!(
            "`{model}` answered with a stream to a plain request"
        ));
    };
    let text = completion
        .choices
        .first()
        .and_then(|c| c.message.content.clone())
        .unwrap_or_default();
    let ((input_tokens, output_tokens), details) = match &completion.usage {
        Some(u) => ((u.prompt_tokens, u.completion_tokens), u.details()),
        None => (
            (tokens::estimate_prompt(&req), tokens::estimate(&text)),
            TokenDetails::default(),
        ),
    };
    // Prompt-cache reads and writes at their prices, as the gateway's requests are costed.
    let cost_usd = failover.catalog.get(model).map_or(0.0, |e| {
        e.spec
            .cost_usd_of(&details.counts((input_tokens, output_tokens)))
    });
    Ok(Completed {
        text,
        cost_usd,
        input_tokens,
        output_tokens,
        latency: start.elapsed(),
    })
}
