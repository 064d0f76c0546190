//! Building the [`Outcome`] row of a request and accounting it (metrics, log).

use std::time::Instant;

use router_core::{
    Attempt, Constraints, ModelId, Objective, Outcome, OutcomeStatus, RouteDecision,
    OUTCOME_SCHEMA_VERSION,
};

use crate::auth::KeyUse;
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
}

impl RequestRecord {
    /// A record for a request arriving now.
    pub fn new(requested_model: String, prompt_text: String) -> Self {
        RequestRecord {
            request_id: new_request_id(),
            timestamp_ms: crate::clock::unix_ms(),
            started: Instant::now(),
            prompt_text,
            requested_model,
            decision: None,
            routing: None,
            key: None,
        }
    }

    /// Builds the row, records metrics and queues the row. Returns the cost in USD.
    pub fn finish(self, state: &AppState, status: OutcomeStatus, end: Ending) -> Option<f64> {
        let latency = self.started.elapsed();
        let cost_usd = match (&end.model, end.tokens) {
            (Some(model), Some((input, output))) => state
                .catalog
                .get(model)
                .ok()
                .map(|e| e.spec.cost_usd(f64::from(input), f64::from(output))),
            _ => None,
        };
        if let Some(key) = &self.key {
            key.settle(cost_usd, end.tokens);
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
        let outcome = Outcome {
            schema_version: OUTCOME_SCHEMA_VERSION,
            request_id: self.request_id,
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
            ttft_ms: end.ttft_ms,
            latency_ms: latency.as_secs_f64() * 1000.0,
            input_tokens: end.tokens.map(|t| t.0),
            output_tokens: end.tokens.map(|t| t.1),
            cost_usd,
            feedback: Vec::new(),
            key_id: self.key.as_ref().map(|k| k.key_id().to_owned()),
        };
        state.log.record(outcome);
        cost_usd
    }
}
