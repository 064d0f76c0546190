//! Building the [`Outcome`] row of a request and accounting it (metrics, log).

use std::time::Instant;

use router_core::{
    Attempt, CacheHit, Constraints, GuardrailReport, ModelId, Objective, Outcome, OutcomeStatus,
    RouteDecision, OUTCOME_SCHEMA_VERSION,
};

use crate::auth::KeyUse;
use crate::config::LogUnavailable;
use crate::openai::wire::TokenDetails;
use crate::state::AppState;

/// A fresh request id (`req_` + 32 hex digits).
pub fn new_request_id() -> String {
    format!("req_{}", uuid::Uuid::new_v4().simple())
}

/// What is known about a request before its upstream call.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    /// The gateway's request id.
    pub request_id: String,
    /// Unix milliseconds at arrival.
    pub timestamp_ms: u64,
    /// Arrival instant, for latency.
    pub started: Instant,
    /// The prompt text (kept under the privacy setting when written).
    pub prompt_text: String,
    /// The `model` the client sent.
    pub requested_model: String,
    /// The routing decision.
    pub decision: Option<RouteDecision>,
    /// The constraints and objective the router applied (logged for off-policy evaluation).
    pub routing: Option<(Constraints, Objective)>,
    /// The client key's accounting, when the request came with one.
    pub key: Option<KeyUse>,
    /// The caller's reference answer (`x-switchyard-reference-answer`), for the judge.
    pub reference_answer: Option<String>,
    /// USD per million input and output tokens of a model priced outside the catalog (an
    /// `[[embeddings]]` model); `None`: the catalog's prices.
    pub price_usd_per_mtok: Option<(f64, f64)>,
    /// What the guardrails did (`crate::guardrails`), when anything fired.
    pub guardrails: Option<GuardrailReport>,
    /// The A/B arm whose router decided the request (`[experiment]`), for `auto` requests.
    pub arm: Option<router_core::ArmAssignment>,
    /// The name of the `[[rules]]` entry that matched (`crate::routing::rules`), if any.
    pub rule: Option<String>,
}

/// How the request ended, for the row.
#[derive(Debug, Default)]
pub struct Ending {
    /// The model that answered or was tried last.
    pub model: Option<ModelId>,
    /// The upstream's model name.
    pub upstream_model: Option<String>,
    /// Every attempt.
    pub attempts: Vec<Attempt>,
    /// Time to first token in ms.
    pub ttft_ms: Option<f64>,
    /// Input and output tokens.
    pub tokens: Option<(u32, u32)>,
    /// The prompt-cache reads and writes among the input tokens (and the reasoning among the
    /// output), as the upstream's usage said: priced at the model's `cache_read` and
    /// `cache_write` multipliers. Zero when it said nothing.
    pub details: TokenDetails,
    /// The answer's text, kept only when a judge may grade it.
    pub answer_text: Option<String>,
    /// Set when the answer came from the response cache: the row's cost is then 0.
    pub cache_hit: Option<CacheHit>,
}

/// Longest `requested_model` kept in a row (client input: bounded like everything stored).
pub const MAX_STORED_MODEL_BYTES: usize = 256;

/// `s` cut to at most `max` bytes on a character boundary.
pub fn truncated(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A duration in milliseconds as a row keeps it: to the microsecond. The clock's nanoseconds
/// are noise at that scale, and their 17-digit decimals were a tenth of a small row.
fn to_micros(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// What finishing a request's row gave.
#[derive(Clone, Copy, Debug)]
pub struct Finished {
    /// The cost in USD from catalog prices, when a model answered.
    pub cost_usd: Option<f64>,
    /// Whether the row is committed; false only under `on_unavailable = "fail_closed"` (with
    /// `fail_open` a lost row is counted and the answer goes on).
    pub logged: bool,
}

impl RequestRecord {
    /// A record for a request arriving now.
    pub fn new(requested_model: &str, prompt_text: String) -> Self {
        RequestRecord {
            request_id: new_request_id(),
            timestamp_ms: crate::clock::unix_ms(),
            started: Instant::now(),
            prompt_text,
            requested_model: truncated(requested_model, MAX_STORED_MODEL_BYTES).to_owned(),
            decision: None,
            routing: None,
            key: None,
            reference_answer: None,
            price_usd_per_mtok: None,
            guardrails: None,
            arm: None,
            rule: None,
        }
    }

    /// Builds the row, records metrics, queues the row and waits for its group commit (so the
    /// caller acknowledges the answer only once the row is stored). A stored, answered request
    /// is then offered to the judge (which never waits).
    pub async fn finish(
        self,
        state: &AppState,
        status: OutcomeStatus,
        mut end: Ending,
    ) -> Finished {
        let answer_text = end.answer_text.take();
        let latency = self.started.elapsed();
        let cost_usd = match (&end.model, end.tokens) {
            // Nothing was spent; what was saved is in `cache_hit`.
            _ if end.cache_hit.is_some() => Some(0.0),
            (Some(_), Some((input, output))) if self.price_usd_per_mtok.is_some() => {
                self.price_usd_per_mtok.map(|(per_input, per_output)| {
                    (f64::from(input) * per_input + f64::from(output) * per_output) / 1_000_000.0
                })
            }
            // What the call cost: its reported usage, cache reads and writes at their prices.
            (Some(model), Some(tokens)) => state
                .catalog
                .get(model)
                .ok()
                .map(|e| e.spec.cost_usd_of(&end.details.counts(tokens))),
            _ => None,
        };
        if let Some(key) = &self.key {
            // A request no upstream answered (refused after its tokens were taken, or every
            // attempt failed before any output) used none of the key's tokens per minute:
            // settling it at zero gives its estimate back.
            let used = end.tokens.or(matches!(
                status,
                OutcomeStatus::Rejected | OutcomeStatus::UpstreamError
            )
            .then_some((0, 0)));
            key.settle(cost_usd, used);
        }
        let model_label = end.model.as_ref().map_or("none", |m| m.as_str());
        let status_label = serde_json::to_value(status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned());
        state.metrics.request(model_label, &status_label);
        if let (Some(cost), Some((input, output))) = (cost_usd, end.tokens) {
            state.metrics.usage(model_label, cost, input, output);
        }
        let judged = match (&answer_text, &end.model) {
            (Some(_), Some(model)) if status == OutcomeStatus::Ok => Some(model.clone()),
            _ => None,
        };
        let request_id = self.request_id;
        for attempt in &mut end.attempts {
            attempt.duration_ms = to_micros(attempt.duration_ms);
        }
        let outcome = Outcome {
            schema_version: OUTCOME_SCHEMA_VERSION,
            request_id: request_id.clone(),
            timestamp_ms: self.timestamp_ms,
            prompt: state.log.prompt_record(&self.prompt_text),
            requested_model: self.requested_model,
            propensity: self.decision.as_ref().map(|d| d.propensity),
            decision: self.decision,
            constraints: self.routing.as_ref().map(|r| r.0.clone()),
            objective: self.routing.map(|r| r.1),
            model: end.model,
            upstream_model: end.upstream_model,
            status,
            attempts: end.attempts,
            ttft_ms: end.ttft_ms.map(to_micros),
            latency_ms: to_micros(latency.as_secs_f64() * 1000.0),
            input_tokens: end.tokens.map(|t| t.0),
            output_tokens: end.tokens.map(|t| t.1),
            cost_usd,
            feedback: Vec::new(),
            key_id: self.key.as_ref().map(|k| k.key_id().to_owned()),
            cache_hit: end.cache_hit,
            guardrails: self.guardrails,
            arm: self.arm,
            rule: self.rule,
        };
        let wait_start = Instant::now();
        // This request's own task is the only one tracked: no other row to group with.
        let alone = state.tracker.len() <= 1;
        let stored = state
            .log
            .record(outcome, alone)
            .wait(state.config.log.commit_timeout)
            .await;
        state.metrics.outcome_commit_wait(wait_start.elapsed());
        if let (true, Some(model), Some(answer)) = (stored, judged, answer_text) {
            crate::judge::offer(
                state,
                crate::judge::Job {
                    request_id,
                    prompt: self.prompt_text,
                    answer,
                    model,
                    reference: self.reference_answer,
                },
            );
        }
        let logged = stored || state.config.log.on_unavailable == LogUnavailable::FailOpen;
        if !stored {
            tracing::warn!(
                policy = ?state.config.log.on_unavailable,
                "Outcome row not committed."
            );
        }
        Finished { cost_usd, logged }
    }
}
