use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Constraints, ModelId, Objective, ProviderId, RouteDecision};

/// Version of the [`Outcome`] layout. Bump it on any change that old readers cannot ignore.
pub const OUTCOME_SCHEMA_VERSION: u32 = 1;

/// The prompt as kept under the privacy setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PromptRecord {
    /// The full text (privacy `full`).
    Full {
        /// The prompt text as the encoder saw it.
        text: String,
    },
    /// Only a SHA-256 of the text (privacy `hashed`).
    Hashed {
        /// Lowercase hex SHA-256 of the prompt text.
        sha256: String,
    },
    /// Nothing kept (privacy `none`).
    None,
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OutcomeStatus {
    /// An upstream answered and the answer reached the client.
    Ok,
    /// Every attempt failed.
    UpstreamError,
    /// A stream broke after bytes reached the client.
    StreamInterrupted,
    /// The client went away before the answer completed.
    ClientDisconnected,
    /// The request was rejected before any upstream call.
    Rejected,
}

/// One upstream attempt of a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// The model tried.
    pub model: ModelId,
    /// HTTP status from the upstream, when one came back.
    pub status_code: Option<u16>,
    /// Low-cardinality error label, `None` on success (then left out of the row; readers
    /// take a missing label as `None`, so rows written with `"error": null` read the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long the attempt took, in milliseconds.
    pub duration_ms: f64,
    /// The provider called (a `[[providers]]` name); with `upstream_name` it says which
    /// deployment of the model was tried. Absent in rows written before deployments existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderId>,
    /// The model name sent to the provider. Absent in rows written before deployments existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_name: Option<String>,
}

/// Who gave a [`Feedback`] label.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FeedbackSource {
    /// A person or the calling application (`POST /v1/feedback`), or a benchmark's score.
    #[default]
    Human,
    /// The gateway's automatic grader (`[judge]`): an LLM verdict or a reference-answer check.
    /// A human label for the same request and metric replaces it; it never replaces one.
    Judge,
}

impl FeedbackSource {
    /// The stored name (`human`, `judge`).
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackSource::Human => "human",
            FeedbackSource::Judge => "judge",
        }
    }

    /// Parses a stored name; anything unknown reads as `human` (rows written before the
    /// column existed, or by a newer version with more sources, stay usable).
    pub fn from_stored(s: &str) -> FeedbackSource {
        match s {
            "judge" => FeedbackSource::Judge,
            _ => FeedbackSource::Human,
        }
    }

    /// Whether this is [`FeedbackSource::Human`] (serde: the field is left out then, so logs
    /// without judge labels serialise as before).
    pub fn is_human(&self) -> bool {
        *self == FeedbackSource::Human
    }
}

/// A label attached after the fact (`POST /v1/feedback`, the judge) or by a benchmark.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    /// The metric name, such as `correct` or `thumbs_up`.
    pub metric: String,
    /// The score in `[0, 1]`.
    pub score: f64,
    /// Who gave it; absent (human) in rows written before judge labels existed.
    #[serde(default, skip_serializing_if = "FeedbackSource::is_human")]
    pub source: FeedbackSource,
}

impl Feedback {
    /// A label from a person, the calling application or a benchmark.
    pub fn human(metric: impl Into<String>, score: f64) -> Feedback {
        Feedback {
            metric: metric.into(),
            score,
            source: FeedbackSource::Human,
        }
    }

    /// A label from the gateway's judge.
    pub fn judge(metric: impl Into<String>, score: f64) -> Feedback {
        Feedback {
            metric: metric.into(),
            score,
            source: FeedbackSource::Judge,
        }
    }
}

/// One served request: the decision, what happened, and any feedback. Training reads these.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Always [`OUTCOME_SCHEMA_VERSION`] when written by this version.
    pub schema_version: u32,
    /// The gateway's request id (`x-switchyard-request-id`).
    pub request_id: String,
    /// Unix time in milliseconds when the request arrived.
    pub timestamp_ms: u64,
    /// The prompt under the privacy setting.
    pub prompt: PromptRecord,
    /// The `model` field the client sent (`auto` or a catalog name).
    pub requested_model: String,
    /// The routing decision, when the router ran.
    pub decision: Option<RouteDecision>,
    /// The limits the router applied: the caller's constraints, with `candidates` narrowed to
    /// the pool the gateway routed over. Off-policy evaluation re-routes the prompt under them.
    /// Absent in rows written before it was logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Constraints>,
    /// The cost-quality trade-off the router applied (the caller's or the gateway's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<Objective>,
    /// Probability with which the first model was picked.
    pub propensity: Option<f64>,
    /// The model that produced the answer (or was tried last).
    pub model: Option<ModelId>,
    /// The model name the upstream reported.
    pub upstream_model: Option<String>,
    /// How the request ended.
    pub status: OutcomeStatus,
    /// Every attempt in order.
    pub attempts: Vec<Attempt>,
    /// Time to first token, in milliseconds (streams and non-streams alike).
    pub ttft_ms: Option<f64>,
    /// Total latency, in milliseconds.
    pub latency_ms: f64,
    /// Prompt tokens.
    pub input_tokens: Option<u32>,
    /// Completion tokens.
    pub output_tokens: Option<u32>,
    /// Cost in USD from catalog prices.
    pub cost_usd: Option<f64>,
    /// Labels attached later (left out of the row while there are none: labels live in their
    /// own table and are joined in when read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feedback: Vec<Feedback>,
    /// The id of the client key the request used (`key_…`); absent without keys and in rows
    /// written before keys existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Set when the gateway answered from its response cache instead of calling a model: the
    /// row's `cost_usd` is then 0 and this says what the call would have cost. Absent in every
    /// other row (and in rows written before the cache existed), so old readers ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_hit: Option<CacheHit>,
    /// What the gateway's `[guardrails]` did: matches masked, or what refused the request.
    /// Absent when nothing fired (and in rows written before guardrails existed). Never holds
    /// a matched value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrails: Option<GuardrailReport>,
    /// The A/B experiment arm whose router decided this `auto` request (`[experiment]` in the
    /// gateway config). Absent outside an experiment, on requests naming a model, and in rows
    /// written before experiments existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<ArmAssignment>,
    /// The name of the gateway's `[[rules]]` entry that matched the request (it pinned,
    /// restricted or excluded models, or refused the request). Absent when no rule matched
    /// (and in rows written before rules existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

impl Outcome {
    /// The smallest row of an answered request: `model` answered an `auto` request, and
    /// nothing else is known (no prompt, decision, attempts, usage, cost or labels; latency 0).
    /// Tools, benchmarks and tests fill in what they need with struct update syntax.
    pub fn answered(request_id: impl Into<String>, timestamp_ms: u64, model: &str) -> Self {
        Outcome {
            schema_version: OUTCOME_SCHEMA_VERSION,
            request_id: request_id.into(),
            timestamp_ms,
            prompt: PromptRecord::None,
            requested_model: "auto".to_owned(),
            decision: None,
            constraints: None,
            objective: None,
            propensity: None,
            model: Some(ModelId::new(model)),
            upstream_model: None,
            status: OutcomeStatus::Ok,
            attempts: Vec::new(),
            ttft_ms: None,
            latency_ms: 0.0,
            input_tokens: None,
            output_tokens: None,
            cost_usd: None,
            feedback: Vec::new(),
            key_id: None,
            cache_hit: None,
            guardrails: None,
            arm: None,
            rule: None,
        }
    }
}

/// Which arm of an A/B experiment a request was assigned to (see [`Outcome::arm`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArmAssignment {
    /// The experiment's name; renaming it starts a new assignment.
    pub experiment: String,
    /// The arm's name.
    pub arm: String,
    /// What the assignment was keyed on: `user` (the request's `user` field), `key` (the
    /// client key) or `request` (nothing stable: each request drawn anew).
    pub unit: String,
}

/// What the guardrails did to one request (see [`Outcome::guardrails`]): counts and names only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardrailReport {
    /// Matches masked in the request, by detector kind (`email`, `phone`, `card`, `iban`,
    /// `secret`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub masked: BTreeMap<String, u32>,
    /// Matches masked in the answer (`responses = true`), by kind.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub answer_masked: BTreeMap<String, u32>,
    /// What refused the request: a detector kind set to `block`, or `deny`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
    /// With `blocked = "deny"`: the index of the `deny` pattern that matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_pattern: Option<usize>,
}

/// How a cached answer was served (see [`Outcome::cache_hit`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheHit {
    /// The request whose upstream answer was stored; its row holds the real cost and tokens.
    pub source_request_id: String,
    /// USD not spent: the stored answer's cost at catalog prices when it was made.
    pub saved_usd: f64,
    /// For a semantic hit (a reworded request), the cosine between the two prompts' routing
    /// embeddings; absent for an exact hit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f64>,
    /// Whether the request waited for an identical one in flight and got its answer (request
    /// coalescing) rather than finding it stored; absent (false) otherwise and in older rows.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub coalesced: bool,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn attempts_written_before_deployments_still_load_and_new_ones_round_trip() {
        let old =
            r#"{"model":"gpt-4o","status_code":503,"error":"server_error","duration_ms":4.0}"#;
        let a: Attempt = serde_json::from_str(old).unwrap();
        assert_eq!(a.provider, None);
        assert_eq!(a.upstream_name, None);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            old,
            "absent fields stay absent"
        );
        let new = Attempt {
            provider: Some(ProviderId::new("azure")),
            upstream_name: Some("gpt-4o-prod".into()),
            ..a
        };
        let back: Attempt = serde_json::from_str(&serde_json::to_string(&new).unwrap()).unwrap();
        assert_eq!(back, new);
    }
}
