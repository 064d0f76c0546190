//! `[guardrails]`: personal data and secrets in prompts, masked or refused before anything
//! else sees them.
//!
//! [`screen`] runs first in `crate::http::chat::answer` (shared by `/v1/chat/completions`,
//! `/v1/messages` and `/v1/responses`), before the request's outcome record exists, so the
//! logged prompt, the cache key and the upstream call all see the masked text. It looks at
//! every message's text (string content, text parts, tool-call arguments; tool results are
//! `tool` messages). [`Policy`] is the validated section; the detectors are in [`detectors`].
//!
//! What fired goes into the outcome row ([`GuardrailReport`]: counts and names, never a value)
//! and into `switchyard_guardrail_total{kind,action}`.

pub mod detectors;
mod json_text;
pub mod stream;

use axum::response::{IntoResponse, Response};
use regex::Regex;
use router_core::{GuardrailReport, OutcomeStatus};
use serde::Deserialize;

use crate::auth::{Caller, KeyUse};
use crate::http::chat::{set_header, HEADER_REQUEST_ID};
use crate::http::error::ApiError;
use crate::metrics::Metrics;
use crate::openai::wire::{
    ChatCompletionRequest, ChatCompletionResponse, ContentPart, MessageContent,
};
use crate::outcome::record::{Ending, RequestRecord};
use crate::state::AppState;

/// What a detector looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An email address.
    Email,
    /// A phone number (7 to 15 digits).
    Phone,
    /// A payment card number that passes the Luhn check.
    Card,
    /// An IBAN that passes the mod-97 check.
    Iban,
    /// An API key or token.
    Secret,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 5] = [
        Kind::Email,
        Kind::Phone,
        Kind::Card,
        Kind::Iban,
        Kind::Secret,
    ];

    /// The name in config, reports and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Card => "card",
            Kind::Iban => "iban",
            Kind::Secret => "secret",
        }
    }

    /// What a masked value becomes.
    pub fn placeholder(self) -> &'static str {
        match self {
            Kind::Email => "[EMAIL]",
            Kind::Phone => "[PHONE]",
            Kind::Card => "[CARD]",
            Kind::Iban => "[IBAN]",
            Kind::Secret => "[SECRET]",
        }
    }

    /// How a refusal names it to the client.
    fn described(self) -> &'static str {
        match self {
            Kind::Email => "an email address",
            Kind::Phone => "a phone number",
            Kind::Card => "a payment card number",
            Kind::Iban => "an IBAN",
            Kind::Secret => "an API key or secret",
        }
    }
}

/// What to do with a detected value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Replace it with the kind's placeholder (`[EMAIL]`, …).
    #[default]
    Mask,
    /// Refuse the request with a 400 `guardrail_blocked`.
    Block,
    /// Do not look for it.
    Off,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Mask => "mask",
            Action::Block => "block",
            Action::Off => "off",
        }
    }
}

/// `[guardrails]` after validation (`crate::config`): on, with compiled deny patterns.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The action of each kind, in [`Kind::ALL`] order.
    pub actions: [Action; 5],
    /// Patterns that refuse a request when any message text matches, by index.
    pub deny: Vec<Regex>,
    /// Also mask non-streamed answers' text.
    pub responses: bool,
}

impl Policy {
    /// The action configured for `kind`.
    pub fn action(&self, kind: Kind) -> Action {
        let i = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        self.actions[i]
    }

    /// Whether requests are screened at all: a deny pattern, or a kind not `off`.
    fn screens_anything(&self) -> bool {
        !self.deny.is_empty() || self.actions.iter().any(|a| *a != Action::Off)
    }
}

/// Why a request was refused; the report goes into its rejected row.
#[derive(Debug)]
pub struct Refusal {
    /// What fired (the blocking kind or deny index, and nothing else).
    pub report: GuardrailReport,
    /// The 400 for the client; it names the kind or pattern, never the value.
    pub error: ApiError,
}

/// The policy of a request by a key naming `profile` (`None`: no key, or a key without a
/// profile: the global `[guardrails]`); `Ok(None)`: guardrails off for it. A profile the config
/// does not define (the config changed after the key was made) refuses the request rather
/// than let it through unscreened.
pub fn policy_for<'a>(
    state: &'a AppState,
    profile: Option<&str>,
) -> Result<Option<&'a Policy>, ApiError> {
    let guardrails = &state.config.guardrails;
    match profile {
        None => Ok(guardrails.default.as_ref()),
        Some(name) => match guardrails.profiles.get(name) {
            Some(policy) => Ok(policy.as_ref()),
            None => Err(ApiError::GuardrailProfileMissing(format!(
                "this client key is screened with guardrails profile `{name}`, which the gateway's config does not define; the operator must add [guardrails.profiles.{name}] or give the key another profile"
            ))),
        },
    }
}

/// Applies the guardrails of `caller`'s key (else the global ones) to `req` in place: masks
/// what is set to `mask`, or refuses the request when a `block` kind or a deny pattern
/// matches. `Ok(None)`: guardrails off or nothing found.
pub fn screen(
    state: &AppState,
    req: &mut ChatCompletionRequest,
    caller: Option<&Caller>,
) -> Result<Option<GuardrailReport>, Box<Refusal>> {
    screen_fields(
        state,
        &mut texts_mut(req).collect::<Vec<_>>(),
        false,
        caller,
    )
}

/// [`screen`] over plain texts (the inputs of an embeddings request), masked in place.
/// `token_ids`: the request also carries input as token ids, which no detector or deny pattern
/// can read (they are the upstream model's tokenizer's), so a policy that screens anything
/// refuses it rather than let it through unscreened.
pub fn screen_texts(
    state: &AppState,
    texts: &mut [&mut String],
    token_ids: bool,
    caller: Option<&Caller>,
) -> Result<Option<GuardrailReport>, Box<Refusal>> {
    let mut fields: Vec<_> = texts.iter_mut().map(|t| (&mut **t, Form::Prose)).collect();
    screen_fields(state, &mut fields, token_ids, caller)
}

/// What a screened text is written in: a placeholder in JSON text outside a string is written
/// as a JSON string ([`json_text`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Prose,
    /// Tool-call arguments.
    Json,
}

/// [`screen`] over texts with their forms.
fn screen_fields(
    state: &AppState,
    texts: &mut [(&mut String, Form)],
    token_ids: bool,
    caller: Option<&Caller>,
) -> Result<Option<GuardrailReport>, Box<Refusal>> {
    let profile = caller.and_then(|c| c.record().guardrails.as_deref());
    let policy = policy_for(state, profile).map_err(|error| {
        Box::new(Refusal {
            report: GuardrailReport {
                blocked: Some("profile_missing".to_owned()),
                ..GuardrailReport::default()
            },
            error,
        })
    })?;
    match policy {
        Some(policy) if token_ids && policy.screens_anything() => {
            state.metrics.guardrail("token_ids", "block", 1);
            Err(Box::new(Refusal {
                report: GuardrailReport {
                    blocked: Some("token_ids".to_owned()),
                    ..GuardrailReport::default()
                },
                error: ApiError::GuardrailBlocked(
                    "the input holds token ids, which the gateway's guardrails cannot screen; send the input as text (a string or an array of strings)".to_owned(),
                ),
            }))
        }
        Some(policy) => apply_to(policy, texts, &state.metrics),
        None => Ok(None),
    }
}

/// [`screen`] with an explicit policy.
pub fn apply(
    policy: &Policy,
    req: &mut ChatCompletionRequest,
    metrics: &Metrics,
) -> Result<Option<GuardrailReport>, Box<Refusal>> {
    apply_to(policy, &mut texts_mut(req).collect::<Vec<_>>(), metrics)
}

/// [`apply`] over the texts of a request.
fn apply_to(
    policy: &Policy,
    texts: &mut [(&mut String, Form)],
    metrics: &Metrics,
) -> Result<Option<GuardrailReport>, Box<Refusal>> {
    // Refusals are decided on the whole request before anything is changed.
    for text in texts.iter().map(|(t, _)| t.as_str()) {
        if let Some(index) = policy.deny.iter().position(|re| re.is_match(text)) {
            metrics.guardrail("deny", "block", 1);
            return Err(Box::new(Refusal {
                report: GuardrailReport {
                    blocked: Some("deny".to_owned()),
                    deny_pattern: Some(index),
                    ..GuardrailReport::default()
                },
                error: ApiError::GuardrailBlocked(format!(
                    "the request matches the gateway's guardrails deny pattern {index}"
                )),
            }));
        }
        let blocking = |k: Kind| policy.action(k) == Action::Block;
        if let Some(found) = detectors::find(text, blocking).first() {
            metrics.guardrail(found.kind.as_str(), "block", 1);
            return Err(Box::new(Refusal {
                report: GuardrailReport {
                    blocked: Some(found.kind.as_str().to_owned()),
                    ..GuardrailReport::default()
                },
                error: ApiError::GuardrailBlocked(format!(
                    "the request contains {}, which the gateway's guardrails do not allow",
                    found.kind.described()
                )),
            }));
        }
    }
    let mut counts = [0u32; 5];
    for (text, form) in texts.iter_mut() {
        replace(
            text,
            *form,
            |k| policy.action(k) == Action::Mask,
            &mut counts,
        );
    }
    let masked = report_counts(&counts, metrics);
    Ok((!masked.is_empty()).then(|| GuardrailReport {
        masked,
        ..GuardrailReport::default()
    }))
}

/// With `responses = true`, masks a non-streamed answer's text and tool-call arguments (every
/// detected kind that is not `off`; an answer is never refused), noting the counts in the
/// request's report. Each choice's `logprobs` is dropped: its tokens, their bytes and the top
/// alternatives spell the unmasked text.
pub fn screen_answer(
    state: &AppState,
    completion: &mut ChatCompletionResponse,
    record: &mut RequestRecord,
) {
    let profile = record.key.as_ref().and_then(KeyUse::guardrails_profile);
    // A missing profile refused the request before it was sent; nothing to mask then.
    let Some(policy) = policy_for(state, profile)
        .ok()
        .flatten()
        .filter(|p| p.responses)
    else {
        return;
    };
    let mut counts = [0u32; 5];
    for choice in &mut completion.choices {
        choice.logprobs = None;
        let message = &mut choice.message;
        let prose = message
            .content
            .iter_mut()
            .chain(message.refusal.iter_mut())
            .chain(message.reasoning_content.iter_mut())
            .map(|t| (t, Form::Prose));
        let arguments = message
            .tool_calls
            .iter_mut()
            .flatten()
            .map(|c| (&mut c.function.arguments, Form::Json));
        for (text, form) in prose.chain(arguments) {
            mask_all(policy, text, form, &mut counts);
        }
    }
    note_answer_masked(state, record, &counts);
}

/// With `responses = true` in the policy of `record`'s key (else the global one), a masker
/// for its streamed answer.
pub fn stream_masker(state: &AppState, record: &RequestRecord) -> Option<stream::StreamMasker> {
    let profile = record.key.as_ref().and_then(KeyUse::guardrails_profile);
    policy_for(state, profile)
        .ok()
        .flatten()
        .filter(|p| p.responses)
        .map(|p| stream::StreamMasker::new(p.clone()))
}

/// Puts the answer's masked counts into the request's report and the metric.
pub fn note_answer_masked(state: &AppState, record: &mut RequestRecord, counts: &[u32; 5]) {
    let masked = report_counts(counts, &state.metrics);
    if !masked.is_empty() {
        record
            .guardrails
            .get_or_insert_with(GuardrailReport::default)
            .answer_masked = masked;
    }
}

/// Answers a refused request: the 400, its rejected row (with the report and no prompt text)
/// and the rejection metric.
pub async fn refuse(
    state: &AppState,
    requested_model: &str,
    caller: Option<Caller>,
    endpoint: &'static str,
    refusal: Box<Refusal>,
) -> Response {
    let Refusal { report, error } = *refusal;
    state.metrics.rejected(endpoint, error.code());
    // The prompt is not kept: a deny pattern can match anything, so no masked form is safe.
    let mut record = RequestRecord::new(requested_model, String::new());
    record.key = caller.map(KeyUse::new);
    record.guardrails = Some(report);
    let request_id = record.request_id.clone();
    record
        .finish(state, OutcomeStatus::Rejected, Ending::default())
        .await;
    let mut response = error.into_response();
    set_header(response.headers_mut(), HEADER_REQUEST_ID, &request_id);
    response
}

fn mask_all(policy: &Policy, text: &mut String, form: Form, counts: &mut [u32; 5]) {
    replace(text, form, |k| policy.action(k) != Action::Off, counts);
}

fn replace(text: &mut String, form: Form, enabled: impl Fn(Kind) -> bool, counts: &mut [u32; 5]) {
    let found = detectors::find(text, enabled);
    if found.is_empty() {
        return;
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut scan = (form == Form::Json).then(json_text::JsonScan::default);
    for f in found {
        let before = &text[at..f.start];
        if let Some(scan) = &mut scan {
            scan.advance(before);
        }
        let (placeholder, sign) = json_text::placeholder(f.kind, scan, before);
        out.push_str(&before[..before.len() - sign]);
        out.push_str(&placeholder);
        if let Some(scan) = &mut scan {
            scan.advance(&text[f.start..f.end]);
        }
        at = f.end;
        if let Some(i) = Kind::ALL.iter().position(|k| *k == f.kind) {
            counts[i] += 1;
        }
    }
    out.push_str(&text[at..]);
    *text = out;
}

/// The non-zero counts by kind name, each also counted in the metric.
fn report_counts(counts: &[u32; 5], metrics: &Metrics) -> std::collections::BTreeMap<String, u32> {
    Kind::ALL
        .iter()
        .zip(counts)
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| {
            metrics.guardrail(k.as_str(), Action::Mask.as_str(), *n);
            (k.as_str().to_owned(), *n)
        })
        .collect()
}

/// Every text of a request a guardrail screens: message text, tool-call arguments (JSON) and
/// the reasoning of assistant turns (`reasoning_content`).
fn texts_mut(req: &mut ChatCompletionRequest) -> impl Iterator<Item = (&mut String, Form)> {
    req.messages.iter_mut().flat_map(|m| {
        let content: Vec<&mut String> = match &mut m.content {
            Some(MessageContent::Text(t)) => vec![t],
            Some(MessageContent::Parts(parts)) => parts
                .iter_mut()
                .filter_map(|p| match p {
                    ContentPart::Text { text } => Some(text),
                    ContentPart::ImageUrl { .. } => None,
                })
                .collect(),
            None => Vec::new(),
        };
        let calls = m
            .tool_calls
            .iter_mut()
            .flatten()
            .map(|c| &mut c.function.arguments);
        // DeepSeek's clients send an assistant turn's reasoning back with the history, and it
        // goes upstream as sent: screened as the answer's reasoning was.
        let reasoning = match m.extra.get_mut("reasoning_content") {
            Some(serde_json::Value::String(r)) => Some(r),
            _ => None,
        };
        let prose = content.into_iter().chain(reasoning);
        prose
            .map(|t| (t, Form::Prose))
            .chain(calls.map(|t| (t, Form::Json)))
    })
}

#[cfg(test)]
mod tests;
