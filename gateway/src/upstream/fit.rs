//! Fitting a request to the model it is sent to.
//!
//! Reasoning models refuse parameters that other models take: OpenAI's reasoning models
//! answer 400 to `max_tokens` (they take `max_completion_tokens`) and to any `temperature`,
//! `top_p`, `stop`, penalty, `logprobs` or `logit_bias` but the default; Anthropic's 5.x
//! models refuse non-default sampling too. A 400 is the client's error and is not failed over,
//! so an `auto` request carrying `temperature` (many SDKs and frameworks send one by default)
//! would fail whenever the router chose such a model, a choice the client did not make. So the
//! gateway sends each model what its API takes: the output limit under the name it accepts,
//! and no sampling parameters or stop sequences a model marked `reasoning` in the catalog would
//! refuse (what OpenRouter and LiteLLM do too), its `reasoning_effort` as the nearest value it
//! takes (GPT-6.1 Sol has no `none`, GPT-5 `minimal` instead; a Claude or Gemini model's
//! likewise, which its adapter sends as `output_config.effort` or `thinkingConfig`, and none
//! to one that takes no effort), and, where that effort is `none`, the sampling parameters
//! and stop sequences OpenAI then accepts. The other way round, OpenAI's models that do not
//! reason refuse `reasoning_effort` and `verbosity`; and Mistral's, Anthropic's and OpenAI's
//! APIs each refuse tool-call ids some other vendor makes;
//! OpenAI's, Mistral's and Groq's refuse the `reasoning_content` DeepSeek's clients send back;
//! and Anthropic's refuses a blank stop sequence, which the gateway then keeps itself, as it
//! keeps a list longer than OpenAI's 4 or Gemini's 5, or an empty one. Servers speaking
//! OpenAI's dialect that are not OpenAI's get the output limit as `max_tokens` and `developer`
//! messages as `system`, the names they take.
//! Other models get the request unchanged, without a copy. Models the catalog marks
//! `responses_api` are called through OpenAI's Responses API ([`via_responses`]).

use std::borrow::Cow;

use models::{CatalogEntry, Effort};

use crate::openai::tool_choice::{allowed_tools, forces_a_call};
use crate::openai::wire::{ChatCompletionRequest, Role};
use crate::upstream::providers::anthropic::claude_version;
use crate::upstream::providers::anthropic::wire::{Thinking, ThinkingDisplay};
use crate::upstream::ProviderKind;

/// Body fields (kept in the request's `extra` map) that OpenAI's reasoning models refuse.
const OPENAI_REASONING_REFUSES: [&str; 5] = [
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "logit_bias",
];

/// Body fields only OpenAI's reasoning models take: its other models answer 400 to them.
const OPENAI_REASONING_ONLY: [&str; 2] = ["reasoning_effort", "verbosity"];
/// Fields of OpenAI's own API that other servers speaking its dialect refuse: the prompt-cache
/// routing hints and GPT-5's `verbosity` (which `/v1/responses` carries from `text.verbosity`).
const OPENAI_API_ONLY: [&str; 3] = ["prompt_cache_key", "prompt_cache_retention", "verbosity"];

/// The request field (in `extra`) holding Anthropic's `thinking` setting, as the
/// `/v1/messages` ingress (or a Chat Completions client) gave it.
pub const THINKING: &str = "thinking";

/// The request field (in `extra`) by which an ingress asks to see the thinking text of a model
/// that thinks anyway, without turning thinking on: `/v1/responses`' `reasoning.summary` sets
/// it to `"summarized"` (Anthropic's `thinking.display`). No API takes it: [`request_for`]
/// takes it out for every model, and gives it to Claude as [`with_display_asked`] says.
pub const THINKING_DISPLAY: &str = "thinking_display";

/// `req` as `entry`'s model, reached through a provider speaking `kind`, accepts it.
pub fn request_for<'a>(
    req: &'a ChatCompletionRequest,
    entry: Option<&CatalogEntry>,
    kind: ProviderKind,
) -> Cow<'a, ChatCompletionRequest> {
    let mut out = Cow::Borrowed(req);
    // Before the thinking setting is fitted: a display asked alone may become one.
    if let Some(fitted) = with_display_asked(&out, entry, kind) {
        out = Cow::Owned(fitted);
    }
    // First: another vendor's model gets the thinking setting as an effort, which the steps
    // below fit to the levels it takes.
    if let Some(fitted) = with_thinking_fitted(&out, entry, kind) {
        out = Cow::Owned(fitted);
    }
    if kind == ProviderKind::Anthropic {
        if let Some(fitted) = without_blank_stops(&out) {
            out = Cow::Owned(fitted);
        }
    }
    if matches!(kind, ProviderKind::Anthropic | ProviderKind::Gemini) {
        if let Some(fitted) = with_native_effort(&out, entry) {
            out = Cow::Owned(fitted);
        }
    }
    if let Some(fitted) = within_stop_cap(&out, stop_cap(entry, kind)) {
        out = Cow::Owned(fitted);
    }
    let Some(entry) = entry else {
        return out;
    };
    if kind == ProviderKind::Openai && !openai_own(entry, kind) {
        if let Some(fitted) = for_compatible_server(&out) {
            out = Cow::Owned(fitted);
        }
        if let Some(fitted) = compatible_effort(&out, entry) {
            out = Cow::Owned(fitted);
        }
    }
    if let Some(fitted) = id_rule(entry, kind).and_then(|fits| with_call_ids(&out, fits)) {
        out = Cow::Owned(fitted);
    }
    if refuses_reasoning_content(entry, kind) {
        if let Some(fitted) = without_reasoning_content(&out) {
            out = Cow::Owned(fitted);
        }
    }
    let fitted = if entry.reasoning {
        without_refused_sampling(&out, entry, kind)
    } else {
        without_reasoning_fields(&out, entry, kind)
    };
    if let Some(fitted) = fitted {
        out = Cow::Owned(fitted);
    }
    out
}

/// `req` with [`THINKING_DISPLAY`] taken out (`None` when it has none). On a Claude
/// model that thinks without being asked (Claude 5 and later, Fable and Mythos included), whose
/// default from Opus 4.7 on omits the thinking text, the display goes as `{"type": "adaptive",
/// "display": …}`: the model's own default made explicit, as Claude Code sends it, so the text
/// comes back. Nowhere does it turn thinking on: Claude 4.6 to 4.8 think only when a request
/// says so (which OpenAI's `reasoning.summary` does not), and the display is Anthropic's own
/// default on Claude 4.6 and earlier. A `thinking` setting the client sent stays as it is.
/// The setting then goes through [`with_thinking_fitted`] like a client's (left out for a
/// forced tool call, which cannot think first). The field stays where an adapter reads it
/// ([`shows_thinking_itself`]).
fn with_display_asked(
    req: &ChatCompletionRequest,
    entry: Option<&CatalogEntry>,
    kind: ProviderKind,
) -> Option<ChatCompletionRequest> {
    if shows_thinking_itself(entry, kind) {
        return None;
    }
    let value = req.extra.get(THINKING_DISPLAY)?;
    let display: Option<ThinkingDisplay> = serde_json::from_value(value.clone()).ok();
    let mut fitted = req.clone();
    fitted.extra.remove(THINKING_DISPLAY);
    let thinks_unasked = entry
        .and_then(|e| claude_version(&e.upstream_name))
        .is_some_and(|v| v >= (5, 0));
    let shown = display.filter(|_| {
        kind == ProviderKind::Anthropic && thinks_unasked && !fitted.extra.contains_key(THINKING)
    });
    if let Some(display) = shown {
        let thinking = Thinking::Adaptive {
            display: Some(display),
        };
        if let Ok(v) = serde_json::to_value(thinking) {
            fitted.extra.insert(THINKING.to_owned(), v);
        }
    }
    Some(fitted)
}

/// Whether the adapter for `entry` through `kind` reads [`THINKING_DISPLAY`] itself: Gemini's
/// (it asks for the thoughts' summaries, `includeThoughts`) and OpenAI's Responses API route
/// for OpenAI's own models (a reasoning summary; `openai::responses`, which keeps the field
/// out of Chat Completions bodies where the provider serves no Responses API).
fn shows_thinking_itself(entry: Option<&CatalogEntry>, kind: ProviderKind) -> bool {
    kind == ProviderKind::Gemini || entry.is_some_and(|e| e.responses_api && openai_own(e, kind))
}

/// A request holding Anthropic's `thinking` setting, fitted to the model.
///
/// For another vendor's model it is taken out, and its nearest effort given as
/// `reasoning_effort` where the request names none and the catalog knows the model (OpenAI
/// and compatible servers answer 400 to a `thinking` field).
///
/// For a Claude model it is first put in the form the model takes ([`claude_form`]: from
/// Claude 4.7 a budget becomes adaptive thinking at the budget's effort; from Claude 5.5, and
/// Fable and Mythos from 5, `disabled` becomes the lowest effort, the field left out), then kept
/// where Anthropic takes it ([`claude_takes`]), and then the sampling settings extended
/// thinking refuses go (`temperature`, a `top_p` below 0.95:
/// Anthropic answers 400 to them with thinking on, as OpenAI's reasoning models do to theirs,
/// which this module also drops). Where Anthropic would refuse it (a model older than Claude
/// 3.7, `adaptive` before Claude 4.6, a budget not below the request's output limit, a forced
/// tool call) it is taken out, and the model answers without extended thinking.
///
/// A value that is not a thinking setting is taken out. `None` when nothing changes.
fn with_thinking_fitted(
    req: &ChatCompletionRequest,
    entry: Option<&CatalogEntry>,
    kind: ProviderKind,
) -> Option<ChatCompletionRequest> {
    let value = req.extra.get(THINKING)?;
    let thinking: Option<Thinking> = serde_json::from_value(value.clone()).ok();
    let mut fitted = req.clone();
    if let (Some(asked), ProviderKind::Anthropic) = (thinking, kind) {
        let upstream = entry.map(|e| e.upstream_name.as_str());
        let (form, effort) = claude_form(asked, upstream);
        // The effort goes only with thinking the model then does: where it is taken out (a
        // forced tool call) the request stays as the client sent it otherwise.
        let with_effort = |fitted: &mut ChatCompletionRequest| {
            if let Some(effort) = effort {
                fitted
                    .extra
                    .entry("reasoning_effort".to_owned())
                    .or_insert_with(|| effort.into());
            }
        };
        match form {
            // Left to the model, which then thinks adaptively at that effort.
            None => {
                fitted.extra.remove(THINKING);
                with_effort(&mut fitted);
                return Some(fitted);
            }
            Some(thinking) if claude_takes(thinking, upstream, req) => {
                with_effort(&mut fitted);
                if thinking != asked {
                    if let Ok(v) = serde_json::to_value(thinking) {
                        fitted.extra.insert(THINKING.to_owned(), v);
                    }
                }
                if thinking != Thinking::Disabled {
                    fitted.temperature = None;
                    fitted.top_p = fitted.top_p.filter(|p| *p >= 0.95);
                }
                return (fitted != *req).then_some(fitted);
            }
            Some(_) => {}
        }
    }
    fitted.extra.remove(THINKING);
    // A client that asks to see Claude's thinking (Claude Code does) sees Gemini's thoughts and
    // OpenAI's reasoning summaries.
    if shows_thinking_itself(entry, kind)
        && thinking.and_then(Thinking::display) == Some(ThinkingDisplay::Summarized)
    {
        fitted
            .extra
            .insert(THINKING_DISPLAY.to_owned(), serde_json::json!("summarized"));
    }
    // Only for a model the catalog knows: the steps below fit an effort to its levels, while
    // a model it does not know (on Groq, say) may answer 400 to any.
    if kind != ProviderKind::Anthropic
        && entry.is_some()
        && !fitted.extra.contains_key("reasoning_effort")
    {
        if let Some(effort) = thinking.and_then(Thinking::effort) {
            fitted
                .extra
                .insert("reasoning_effort".to_owned(), effort.into());
        }
    }
    Some(fitted)
}

/// The form in which the Claude model called `upstream` takes a client's `thinking`, and an
/// effort to send with it where the client named none. From Claude 4.7 a thinking budget is
/// refused (adaptive thinking only: Opus 4.7 removed `budget_tokens`, and Anthropic's Claude
/// Haiku 5.5 migration guide says to send `adaptive` instead), so `enabled` becomes
/// `adaptive` with the budget's nearest effort ([`Thinking::effort`]). From Claude 5.5, and
/// on Fable and Mythos from 5, thinking cannot be turned off (Opus 5.5 answers 400 to
/// `disabled` at every effort; Fable 5.1's overview lists the same change), so `disabled`
/// leaves the field out (the model's own adaptive thinking) at the lowest effort (Fable 5
/// already thinks on every request: LiteLLM's day-0 notes call it adaptive-only). Older
/// models, and models the gateway cannot place, take the setting as given.
fn claude_form(
    thinking: Thinking,
    upstream: Option<&str>,
) -> (Option<Thinking>, Option<&'static str>) {
    let version = upstream.and_then(claude_version);
    let from = |v: (u32, u32)| version.is_some_and(|have| have >= v);
    let fable =
        upstream.is_some_and(|u| u.starts_with("claude-fable") || u.starts_with("claude-mythos"));
    // `display` from Claude 4 on (3.7 Sonnet returns its whole thinking and has no such
    // field), and for a model the gateway cannot place.
    let display = thinking
        .display()
        .filter(|_| version.is_none() || from((4, 0)));
    match thinking {
        Thinking::Enabled { .. } if from((4, 7)) => {
            (Some(Thinking::Adaptive { display }), thinking.effort())
        }
        Thinking::Disabled if from((5, 5)) || (fable && from((5, 0))) => (None, Some("low")),
        _ => (Some(thinking.with_display(display)), None),
    }
}

/// Whether Anthropic takes `thinking` on the Claude model called `upstream` (`None`: one the
/// catalog does not know, given the benefit of the doubt) for `req`: extended thinking exists
/// from Claude 3.7 Sonnet on, `adaptive` from Claude 4.6 on; an enabled budget must lie below
/// the request's output limit (at least 1,024, as `/v1/messages` checks); and a forced tool
/// call (`tool_choice` `any` or a named tool) cannot think first.
fn claude_takes(thinking: Thinking, upstream: Option<&str>, req: &ChatCompletionRequest) -> bool {
    let version = upstream.map(claude_version);
    let thinks = version.is_none_or(|v| v.is_none_or(|v| v >= (3, 7)));
    let adaptive = version.is_none_or(|v| v.is_none_or(|v| v >= (4, 6)));
    let limit = req
        .output_limit()
        .unwrap_or(super::providers::anthropic::DEFAULT_MAX_TOKENS);
    let forced = req.tool_choice.as_ref().is_some_and(forces_a_call);
    match thinking {
        Thinking::Disabled => thinks,
        Thinking::Adaptive { .. } => thinks && adaptive && !forced,
        Thinking::Enabled { budget_tokens, .. } => {
            thinks && !forced && (1024..limit).contains(&budget_tokens)
        }
    }
}

/// Whether an attempt at `entry`'s model through a provider speaking `kind` goes through
/// OpenAI's Responses API: the catalog says so for the model, the model is OpenAI's own, and
/// the provider serves that API (`serves_responses`: OpenAI's or Azure's, see
/// `Upstream::responses_api`). Other servers speaking the OpenAI dialect get Chat Completions.
pub fn via_responses(
    entry: Option<&CatalogEntry>,
    kind: ProviderKind,
    serves_responses: bool,
) -> bool {
    serves_responses && entry.is_some_and(|e| e.responses_api && openai_own(e, kind))
}

/// Latency priors at or above this time to first token are the catalog's thinking class
/// (`scripts/seed_catalog.py`: o-series, GPT-5.5 and later, Claude 5.x, Gemini 2.5 Pro and
/// 3.x, DeepSeek's reasoner).
const THINKING_TTFT_MS: f64 = 2000.0;

/// Whether an attempt at `entry`'s model with `req` thinks before its first token, so that it
/// gets `timeouts.reasoning` rather than `ttft` / `attempt`: a reasoning model other than
/// Claude at an effort other than `none` (the GPT-5.4 family asked for `high`), a model whose
/// latency prior is the thinking class (Claude 5.x, Fable and Haiku 5.5, and Gemini 3.x Pro
/// and Flash and 2.5 Pro, which think by default, at any effort: their least still thinks on a
/// hard prompt), a Gemini model run at `low` or more ([`gemini_thinks`]), or a model that
/// reasons only when asked, whose efforts start at `none`, run above it (Mistral Small 4 and
/// Medium 3.5 at `high`: a non-streamed answer comes only when the thinking is done). A model
/// the catalog does not know answers at once.
/// Claude's efforts have no `none`: Claude 5.x keep adaptive thinking on at every level (a
/// low effort thinks less, or not at all on an easy prompt, but may still think, and Opus 5.5
/// always does), so they keep the reasoning timeout at `low` too; Claude 4.5 and 4.6 take an
/// effort but think only when the request turns thinking on, which the gateway never sends,
/// so no effort makes them think first, unless the request turns extended thinking on
/// (`/v1/messages`' `thinking`, kept for them by [`request_for`]). Opus 4.7 and 4.8 are
/// `reasoning` (they refuse sampling parameters) yet think only when asked, like 4.6: a
/// Claude model thinks first by its latency class (the 5.x models, Fable, Haiku 5.5) or by
/// the request, never by its `reasoning` flag alone.
pub fn thinks_first(entry: Option<&CatalogEntry>, req: &ChatCompletionRequest) -> bool {
    entry.is_some_and(|e| {
        (e.reasoning
            && e.spec.provider.as_str() != "anthropic"
            && effort_for(req, e) != Some(Effort::None))
            || e.spec.latency.ttft_ms >= THINKING_TTFT_MS
            || gemini_thinks(e, req)
            || claude_thinking_on(req)
            || (e.efforts.first() == Some(&Effort::None)
                && effort_for(req, e).is_some_and(|x| x > Effort::None))
    })
}

/// Whether a request (as fitted for its attempt) turns Claude's extended thinking on, which
/// streams nothing the client sees until it is done: a budget of 32k tokens takes minutes.
fn claude_thinking_on(req: &ChatCompletionRequest) -> bool {
    req.extra
        .get(THINKING)
        .and_then(|v| serde_json::from_value::<Thinking>(v.clone()).ok())
        .is_some_and(|t| t != Thinking::Disabled)
}

/// Whether a Gemini model whose effort the catalog lists thinks first at the effort it runs
/// `req` at: from `low` on (a budget of 1,024 tokens or more on 2.5, `low` or more on 3.x),
/// as the Flash and Flash-Lite models, whose latency prior is the answer-at-once class, do
/// when asked; not at `none` (2.5 Flash and Flash-Lite off) or `minimal` (3.x Flash-Lite's
/// default, which Google describes as close to no thinking). 2.5 Flash, which the catalog
/// gives no default (Google's is a dynamic budget that no level names), keeps its latency
/// class when no effort is asked.
fn gemini_thinks(entry: &CatalogEntry, req: &ChatCompletionRequest) -> bool {
    entry.spec.provider.as_str() == "google"
        && !entry.efforts.is_empty()
        && effort_for(req, entry).is_some_and(|e| e >= Effort::Low)
}

/// The effort the client asked for, if it names one this gateway knows.
fn asked_effort(req: &ChatCompletionRequest) -> Option<Effort> {
    req.extra
        .get("reasoning_effort")
        .and_then(|v| v.as_str())
        .and_then(Effort::parse)
}

/// The effort `entry`'s model runs `req` at: the client's as the model takes it (the nearest
/// value it has), else the model's default.
fn effort_for(req: &ChatCompletionRequest, entry: &CatalogEntry) -> Option<Effort> {
    asked_effort(req)
        .and_then(|a| a.nearest(&entry.efforts).or(Some(a)))
        .or(entry.default_effort)
}

/// Whether `entry` is one of OpenAI's own models reached over OpenAI's API (or Azure's).
fn openai_own(entry: &CatalogEntry, kind: ProviderKind) -> bool {
    kind == ProviderKind::Openai && entry.spec.provider.as_str() == "openai"
}

/// A reasoning model's request without what its API refuses; `None` when nothing is.
fn without_refused_sampling(
    req: &ChatCompletionRequest,
    entry: &CatalogEntry,
    kind: ProviderKind,
) -> Option<ChatCompletionRequest> {
    // `max_tokens` is renamed only for OpenAI's own models (OpenAI, Azure): other servers
    // speaking the OpenAI dialect (OpenRouter, vLLM) may not know `max_completion_tokens`.
    let openai_model = openai_own(entry, kind);
    let asked = asked_effort(req);
    let effort = effort_for(req, entry);
    let remapped = openai_model && asked.is_some() && effort != asked;
    // OpenAI's models that run without reasoning (`none`: the GPT-5.4 family by default, the
    // others when asked) take `temperature` and `top_p` again.
    let samples = openai_model && effort == Some(Effort::None);
    // Penalties, `logprobs` and `logit_bias` are left out even then: OpenAI documents only
    // `temperature` and `top_p` (and `logprobs`, a loss worth less than a 400) at `none`.
    let refused_extra = kind == ProviderKind::Openai
        && OPENAI_REASONING_REFUSES
            .iter()
            .any(|k| req.extra.contains_key(*k));
    let sampling = !samples && (req.temperature.is_some() || req.top_p.is_some());
    // Stop sequences too (LangChain's and agent frameworks' ReAct loops send them): "'stop' is
    // not supported with this model" from GPT-5, o3 and the rest while they reason.
    let stop = openai_model && !samples && req.stop.is_some();
    let needs =
        sampling || stop || remapped || (openai_model && req.max_tokens.is_some()) || refused_extra;
    if !needs {
        return None;
    }
    let mut fitted = req.clone();
    if !samples {
        fitted.temperature = None;
        fitted.top_p = None;
    }
    if stop {
        fitted.stop = None;
    }
    if openai_model {
        if let Some(limit) = fitted.max_tokens.take() {
            fitted.max_completion_tokens = fitted.max_completion_tokens.or(Some(limit));
        }
    }
    if remapped {
        if let Some(e) = effort {
            fitted
                .extra
                .insert("reasoning_effort".to_owned(), e.as_str().into());
        }
    }
    if refused_extra {
        for key in OPENAI_REASONING_REFUSES {
            fitted.extra.remove(key);
        }
    }
    tracing::debug!(model = %entry.spec.id, "Fitted the request to what the reasoning model takes.");
    Some(fitted)
}

/// A request carrying `reasoning_effort` (or `verbosity`), as clients of GPT-5 send, fitted to
/// one of OpenAI's models that does not reason (gpt-4o, gpt-4.1…), which refuses them: `auto`
/// may choose such a model for it. Other providers' models are left to their adapters (the
/// Anthropic and Gemini ones send only the effort that [`with_native_effort`] leaves, as
/// `output_config.effort` and `thinkingConfig`; OpenAI-compatible servers that reason take
/// them). `None` when nothing changes.
fn without_reasoning_fields(
    req: &ChatCompletionRequest,
    entry: &CatalogEntry,
    kind: ProviderKind,
) -> Option<ChatCompletionRequest> {
    if !openai_own(entry, kind)
        || !OPENAI_REASONING_ONLY
            .iter()
            .any(|k| req.extra.contains_key(*k))
    {
        return None;
    }
    let mut fitted = req.clone();
    for key in OPENAI_REASONING_ONLY {
        fitted.extra.remove(key);
    }
    Some(fitted)
}

/// A request for a model of a vendor with its own effort field (Claude's
/// `output_config.effort`, Gemini's `thinkingConfig`, which their adapters send) with its
/// `reasoning_effort` as the nearest level the catalog says the model takes. On Claude,
/// OpenAI's `none` and `minimal` become `low`, `xhigh` and `max` the highest it takes (`max`
/// on Claude 4.6, which has no `xhigh`; `high` on Opus 4.5). On Gemini, `none` stays `none`
/// where thinking turns off (2.5 Flash and Flash-Lite) and becomes the least level elsewhere
/// (`minimal` on 3.x Flash and Flash-Lite, `low` on 3.1 Pro, `minimal`, the least budget, on
/// 2.5 Pro); `xhigh` and `max` become `high`. A model that takes no effort (Haiku 4.5, Sonnet
/// 4.5 and older Claude, Gemini 2.0 and older: no `efforts` in the catalog), one the catalog
/// does not know, and a value no API knows lose the field: both vendors answer 400 to a level
/// a model does not take, and a client asking for an effort the model cannot have gets the
/// model's default, as it did before. `None` when nothing changes.
fn with_native_effort(
    req: &ChatCompletionRequest,
    entry: Option<&CatalogEntry>,
) -> Option<ChatCompletionRequest> {
    let asked = req.extra.get("reasoning_effort")?;
    let fitted = asked
        .as_str()
        .and_then(Effort::parse)
        .and_then(|a| a.nearest(&entry?.efforts));
    if fitted.is_some() && fitted.map(Effort::as_str) == asked.as_str() {
        return None;
    }
    let mut out = req.clone();
    match fitted {
        Some(e) => out
            .extra
            .insert("reasoning_effort".to_owned(), e.as_str().into()),
        None => out.extra.remove("reasoning_effort"),
    };
    Some(out)
}

/// A request for Anthropic without its stop sequences when one of them is blank: Anthropic
/// answers 400 ("each stop sequence must contain non-whitespace") to `stop: ["\n"]`, a common
/// OpenAI request (single-line answers, classifiers). Leaving out only the blank ones would
/// let the model run past them; leaving all out makes the gateway cut the answer at the
/// client's whole list itself (`failover::Served::stop_dropped`, `http::stop_cut`). `None`
/// when every sequence has something to match.
fn without_blank_stops(req: &ChatCompletionRequest) -> Option<ChatCompletionRequest> {
    let blank = req
        .stop
        .as_ref()
        .is_some_and(|s| s.to_vec().iter().any(|s| s.trim().is_empty()));
    if !blank {
        return None;
    }
    let mut fitted = req.clone();
    fitted.stop = None;
    Some(fitted)
}

/// How many stop sequences the API of `entry`'s model takes, where it caps them: OpenAI's Chat
/// Completions 4, Gemini 5. Anthropic's Messages API has no small cap, so a `/v1/messages`
/// client may send more (the gateway takes up to 16), and `auto` may send them to either.
fn stop_cap(entry: Option<&CatalogEntry>, kind: ProviderKind) -> Option<usize> {
    match kind {
        ProviderKind::Gemini => Some(5),
        ProviderKind::Openai if entry.is_some_and(|e| openai_own(e, kind)) => Some(4),
        _ => None,
    }
}

/// `req` without its stop sequences when they are an empty list (which OpenAI's schema
/// refuses) or more than `cap`: the gateway then cuts the answer at the client's whole list
/// itself (`failover::Served::stop_dropped`), as for a blank Anthropic sequence. `None` when
/// the list fits.
fn within_stop_cap(
    req: &ChatCompletionRequest,
    cap: Option<usize>,
) -> Option<ChatCompletionRequest> {
    let count = req.stop.as_ref()?.to_vec().len();
    if count > 0 && cap.is_none_or(|cap| count <= cap) {
        return None;
    }
    let mut fitted = req.clone();
    fitted.stop = None;
    Some(fitted)
}

/// A request for a server speaking OpenAI's dialect that is not OpenAI's (Mistral, DeepSeek,
/// Groq, Together…), in the older names those servers take: the output limit as `max_tokens`
/// (Mistral answers 422 `extra_forbidden` to `max_completion_tokens`, which `/v1/responses` and
/// newer OpenAI clients send) and `developer` messages as `system` (DeepSeek refuses the
/// role, the Responses API's usual one for instructions). OpenAI treats the two roles alike
/// on its chat models. With both limits set, `max_completion_tokens` is the one sent (as
/// `max_tokens`): it is the one budgets and rate limits reserved for (`output_limit`), while
/// such a server, given both, may honour the other. OpenAI's prompt-cache fields
/// (`prompt_cache_key`, `prompt_cache_retention`: Codex and other Responses clients send them
/// on every request) and GPT-5's `verbosity` are left out: Mistral answers 422 and Groq 400 to
/// fields they do not know, a routing hint for OpenAI's cache means nothing to them, and
/// verbosity is a length hint, not a contract. `None` when nothing changes.
fn for_compatible_server(req: &ChatCompletionRequest) -> Option<ChatCompletionRequest> {
    let limit = req.max_completion_tokens.is_some();
    let developer = req.messages.iter().any(|m| m.role == Role::Developer);
    let openai_fields = OPENAI_API_ONLY.iter().any(|k| req.extra.contains_key(*k));
    if !limit && !developer && !openai_fields {
        return None;
    }
    let mut fitted = req.clone();
    for key in OPENAI_API_ONLY {
        fitted.extra.remove(key);
    }
    if limit {
        fitted.max_tokens = fitted.max_completion_tokens.take();
    }
    for m in &mut fitted.messages {
        if m.role == Role::Developer {
            m.role = Role::System;
        }
    }
    Some(fitted)
}

/// `req` for an attempt at `entry`'s model through a provider speaking `kind`, where its
/// `tool_choice` is `allowed_tools` and the upstream does not take that form: only OpenAI's own
/// API does (`openai_api`: the provider is OpenAI's or Azure's, as for [`via_responses`]; an
/// OpenAI model deployed on OpenRouter or vLLM is not), for OpenAI's models or one the catalog
/// does not know. Every other upstream gets `tools` cut to the allowed functions and the
/// choice's mode as a plain `auto` or `required` ([`with_allowed_tools_listed`]).
pub fn with_allowed_tools_fitted<'a>(
    req: Cow<'a, ChatCompletionRequest>,
    entry: Option<&CatalogEntry>,
    kind: ProviderKind,
    openai_api: bool,
) -> Cow<'a, ChatCompletionRequest> {
    let takes_it =
        kind == ProviderKind::Openai && openai_api && entry.is_none_or(|e| openai_own(e, kind));
    if takes_it {
        return req;
    }
    match with_allowed_tools_listed(&req) {
        Some(fitted) => Cow::Owned(fitted),
        None => req,
    }
}

/// A request whose `tool_choice` is `allowed_tools` with `tools` cut to the allowed functions
/// and the choice's mode as a plain `auto` or `required`: Anthropic's and Gemini's adapters
/// (and servers speaking OpenAI's dialect that are not OpenAI's) would otherwise read the
/// object as no choice at all and let the model call any tool, or none where it must call
/// one. `None` for any other choice. Ingress has checked the form
/// (`http::validate::tool_choice`); a malformed one is left for the upstream.
fn with_allowed_tools_listed(req: &ChatCompletionRequest) -> Option<ChatCompletionRequest> {
    let allowed = allowed_tools(req.tool_choice.as_ref()?).ok()??;
    let mut fitted = req.clone();
    if let Some(tools) = &mut fitted.tools {
        tools.retain(|t| allowed.names.contains(&t.function.name));
    }
    fitted.tool_choice = Some(allowed.mode());
    Some(fitted)
}

/// A request's `reasoning_effort` for a model served by a server speaking OpenAI's dialect that
/// is not OpenAI's: the nearest level the catalog says it takes (gpt-oss on Groq: `low` to
/// `high`), none for a model that neither takes one nor reasons (Groq answers 400 to the field
/// on its other models, and `auto` may send a Claude Code client's effort to Llama), and as
/// given to a reasoning model whose levels the catalog does not list. `None` when nothing
/// changes.
fn compatible_effort(
    req: &ChatCompletionRequest,
    entry: &CatalogEntry,
) -> Option<ChatCompletionRequest> {
    if !entry.efforts.is_empty() {
        return with_native_effort(req, Some(entry));
    }
    if entry.reasoning || !req.extra.contains_key("reasoning_effort") {
        return None;
    }
    let mut fitted = req.clone();
    fitted.extra.remove("reasoning_effort");
    Some(fitted)
}

/// Whether `entry`'s API, through a provider speaking `kind`, refuses an assistant message's
/// `reasoning_content`. The gateway hands DeepSeek's reasoning to clients, which send it back
/// with the history as DeepSeek requires; `auto` may send that history to another vendor.
/// OpenAI's, Mistral's and Groq's APIs check message fields and answer 400 to unknown ones
/// (Groq: "property 'reasoning_content' is unsupported"); the Anthropic and Gemini adapters
/// never send it.
fn refuses_reasoning_content(entry: &CatalogEntry, kind: ProviderKind) -> bool {
    kind == ProviderKind::Openai
        && matches!(entry.spec.provider.as_str(), "openai" | "mistral" | "groq")
}

/// `req` without `reasoning_content` on its messages; `None` when none has one.
fn without_reasoning_content(req: &ChatCompletionRequest) -> Option<ChatCompletionRequest> {
    if !req
        .messages
        .iter()
        .any(|m| m.extra.contains_key("reasoning_content"))
    {
        return None;
    }
    let mut fitted = req.clone();
    for m in &mut fitted.messages {
        m.extra.remove("reasoning_content");
    }
    Some(fitted)
}

/// The tool-call ids a provider accepts, when it is strict about them: Mistral's API takes
/// only nine letters or digits, Anthropic's only letters, digits, `_` and `-` (Kimi's ids,
/// `functions.name:0`, are refused), OpenAI's at most 40 characters. Gemini gets the same as
/// Anthropic: its adapter sends the ids on to Gemini 3 (`gemini::call_ids`), which gives
/// plain ones itself. `auto` may send a
/// conversation whose earlier tool calls another vendor's model made to any of them, and
/// that would fail with a 400.
fn id_rule(entry: &CatalogEntry, kind: ProviderKind) -> Option<fn(&str) -> bool> {
    fn nine(id: &str) -> bool {
        id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric())
    }
    fn anthropic(id: &str) -> bool {
        !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }
    fn openai(id: &str) -> bool {
        id.len() <= 40
    }
    match (kind, entry.spec.provider.as_str()) {
        (ProviderKind::Openai, "mistral") => Some(nine),
        (ProviderKind::Openai, "openai") => Some(openai),
        (ProviderKind::Anthropic | ProviderKind::Gemini, _) => Some(anthropic),
        _ => None,
    }
}

/// `req` with every tool-call id `fits` refuses replaced, in the calls and in the results
/// that refer to them alike, by one derived from it (nine characters for Mistral, `call_`
/// and nine elsewhere): the same id always maps to the same replacement, so calls and
/// results still match.
fn with_call_ids(
    req: &ChatCompletionRequest,
    fits: fn(&str) -> bool,
) -> Option<ChatCompletionRequest> {
    let foreign = req.messages.iter().any(|m| {
        m.tool_calls.iter().flatten().any(|c| !fits(&c.id))
            || m.tool_call_id.as_deref().is_some_and(|id| !fits(id))
    });
    if !foreign {
        return None;
    }
    let replace = |id: &str| {
        let nine = nine_characters(id);
        if fits(&nine) {
            nine
        } else {
            format!("call_{nine}")
        }
    };
    let mut fitted = req.clone();
    for m in &mut fitted.messages {
        for call in m.tool_calls.iter_mut().flatten() {
            if !fits(&call.id) {
                call.id = replace(&call.id);
            }
        }
        if let Some(id) = m.tool_call_id.as_mut().filter(|id| !fits(id)) {
            *id = replace(id);
        }
    }
    Some(fitted)
}

/// Nine letters and digits derived from `id` (FNV-1a, 64 bits, in base 62): the same id
/// always maps to the same nine, so calls and results still match.
fn nine_characters(id: &str) -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (0..9)
        .map(|_| {
            let c = ALPHABET[(hash % 62) as usize];
            hash /= 62;
            char::from(c)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn request(effort: Option<&str>) -> ChatCompletionRequest {
        let mut body = serde_json::json!({
            "model": "auto",
            "messages": [{"role": "user", "content": "hi"}],
        });
        if let Some(e) = effort {
            body["reasoning_effort"] = e.into();
        }
        serde_json::from_value(body).unwrap()
    }

    fn with(
        req: &ChatCompletionRequest,
        change: impl FnOnce(&mut serde_json::Value),
    ) -> ChatCompletionRequest {
        let mut body = serde_json::to_value(req).unwrap();
        change(&mut body);
        serde_json::from_value(body).unwrap()
    }

    /// `allowed_tools` goes as sent only to OpenAI's own API (for OpenAI's models, or one the
    /// catalog does not know); an OpenAI model on another server (OpenRouter, vLLM), another
    /// vendor's model, and Claude or Gemini get the allowed tools and the plain mode.
    #[test]
    fn allowed_tools_go_as_sent_only_to_openais_own_api() {
        let catalog = models::Catalog::embedded().unwrap();
        let req = with(&request(None), |b| {
            b["tools"] = serde_json::json!([
                {"type": "function", "function": {"name": "look"}},
                {"type": "function", "function": {"name": "write"}}]);
            b["tool_choice"] = serde_json::json!({"type": "allowed_tools", "allowed_tools":
                {"mode": "required", "tools": [{"type": "function", "function": {"name": "look"}}]}});
        });
        let gpt = catalog.find("gpt-4o").unwrap();
        let mistral = catalog.find("mistral-small-3.2").unwrap();
        let claude = catalog.find("claude-haiku-4.5").unwrap();
        let cases = [
            (Some(gpt), ProviderKind::Openai, true, true),
            (None, ProviderKind::Openai, true, true),
            (Some(gpt), ProviderKind::Openai, false, false),
            (None, ProviderKind::Openai, false, false),
            (Some(mistral), ProviderKind::Openai, true, false),
            (Some(claude), ProviderKind::Anthropic, false, false),
            (None, ProviderKind::Gemini, false, false),
        ];
        for (entry, kind, openai_api, as_sent) in cases {
            let out = with_allowed_tools_fitted(Cow::Borrowed(&req), entry, kind, openai_api);
            let case = format!("{:?} {kind:?} {openai_api}", entry.map(|e| &e.spec.id));
            if as_sent {
                assert!(matches!(out, Cow::Borrowed(_)), "{case}");
                continue;
            }
            assert_eq!(
                out.tool_choice,
                Some(serde_json::json!("required")),
                "{case}"
            );
            let names: Vec<&str> = out
                .tools
                .iter()
                .flatten()
                .map(|t| t.function.name.as_str())
                .collect();
            assert_eq!(names, ["look"], "{case}");
        }
        let plain = with(&req, |b| b["tool_choice"] = "auto".into());
        let out = with_allowed_tools_fitted(
            Cow::Borrowed(&plain),
            Some(claude),
            ProviderKind::Anthropic,
            false,
        );
        assert!(
            matches!(out, Cow::Borrowed(_)),
            "any other choice: unchanged"
        );
    }

    /// Mistral refuses `max_completion_tokens` and DeepSeek the `developer` role, both of
    /// which `/v1/responses` sends; OpenAI's own models keep them.
    #[test]
    fn compatible_servers_get_the_limit_and_the_role_in_their_names() {
        let catalog = models::Catalog::embedded().unwrap();
        let req = with(&request(None), |b| {
            b["max_completion_tokens"] = 100.into();
            b["messages"] = serde_json::json!([
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": "hi"}]);
        });
        for model in ["deepseek-chat", "mistral-small-3.2"] {
            let entry = catalog.find(model).unwrap();
            let out = request_for(&req, Some(entry), ProviderKind::Openai);
            assert_eq!(out.max_tokens, Some(100), "{model}");
            assert_eq!(out.max_completion_tokens, None, "{model}");
            assert_eq!(out.messages[0].role, Role::System, "{model}");
        }
        let entry = catalog.find("gpt-4o").unwrap();
        let out = request_for(&req, Some(entry), ProviderKind::Openai);
        assert!(
            matches!(out, Cow::Borrowed(_)),
            "OpenAI's own model: unchanged"
        );
        // Both limits: the one reserved for is sent, alone (both went, and a server that
        // honours `max_tokens` could write 50 times what the key's budget held).
        let both = with(&req, |b| b["max_tokens"] = 5000.into());
        let entry = catalog.find("deepseek-chat").unwrap();
        let out = request_for(&both, Some(entry), ProviderKind::Openai);
        assert_eq!(
            (out.max_tokens, out.max_completion_tokens),
            (Some(100), None)
        );
    }

    /// On servers speaking OpenAI's dialect that are not OpenAI's, an effort reaches only the
    /// models that take one, as the nearest level they take.
    #[test]
    fn compatible_servers_get_an_effort_only_where_the_model_takes_one() {
        let catalog = models::Catalog::embedded().unwrap();
        let sent = |model: &str, effort: &str| {
            let entry = catalog.find(model).unwrap();
            request_for(&request(Some(effort)), Some(entry), ProviderKind::Openai)
                .extra
                .get("reasoning_effort")
                .and_then(|v| v.as_str().map(str::to_owned))
        };
        assert_eq!(sent("gpt-oss-120b", "low").as_deref(), Some("low"));
        assert_eq!(sent("gpt-oss-120b", "xhigh").as_deref(), Some("high"));
        assert_eq!(sent("gpt-oss-20b", "minimal").as_deref(), Some("low"));
        assert_eq!(sent("llama-3.3-70b-instruct", "high"), None);
        assert_eq!(sent("mistral-small-3.2", "low"), None);
        assert_eq!(sent("mistral-small-4", "low").as_deref(), Some("high"));
        assert_eq!(
            sent("mistral-medium-3.5", "minimal").as_deref(),
            Some("none")
        );
    }

    /// `/v1/messages`' thinking setting stays for Claude models that think on request, goes
    /// from older Claude, and becomes the nearest effort elsewhere unless one is given.
    #[test]
    fn claude_versions_are_read_from_api_names() {
        for (name, version) in [
            ("claude-3-7-sonnet-20250219", Some((3, 7))),
            ("claude-3-haiku-20240307", Some((3, 0))),
            ("claude-sonnet-4-5-20250929", Some((4, 5))),
            ("claude-opus-4-6", Some((4, 6))),
            ("claude-opus-5", Some((5, 0))),
            ("claude-opus-4-7", Some((4, 7))),
            ("claude-haiku-5-5", Some((5, 5))),
            ("claude-fable-5-1", Some((5, 1))),
            ("claude-mythos-5-1", Some((5, 1))),
            ("anthropic.claude-sonnet-4-5-20250929-v1:0", Some((4, 5))),
            ("anthropic.claude-v2:1", Some((2, 0))),
            ("claude-opus-5-5@20260922", Some((5, 5))),
            ("claude-3-7-sonnet@20250219", Some((3, 7))),
            ("claude-opus-4.7", Some((4, 7))),
            ("claude-1.3", Some((1, 3))),
            ("claude-v1", Some((2, 0))),
            ("claude-instant-v1", Some((2, 0))),
            ("claude-next", None),
        ] {
            assert_eq!(claude_version(name), version, "{name}");
        }
    }

    /// A display asked alone (`/v1/responses`' `reasoning.summary`) reaches the Claude models
    /// that think unasked, whose default omits the text from Opus 4.7 on, as their adaptive
    /// thinking shown; it turns thinking on nowhere, leaves a client's own setting and a forced
    /// tool call as they were, and no API gets the field itself.
    #[test]
    fn a_display_asked_alone_shows_the_thinking_of_claude_that_thinks_anyway() {
        let catalog = models::Catalog::embedded().unwrap();
        let asked = with(&request(Some("high")), |b| {
            b["thinking_display"] = "summarized".into();
        });
        let sent = |req: &ChatCompletionRequest, model: &str, kind| {
            request_for(req, Some(catalog.find(model).unwrap()), kind).into_owned()
        };
        let shown = serde_json::json!({"type": "adaptive", "display": "summarized"});
        for model in [
            "claude-sonnet-5",
            "claude-opus-5.5",
            "claude-haiku-5.5",
            "claude-fable-5.1",
        ] {
            let out = sent(&asked, model, ProviderKind::Anthropic);
            assert_eq!(out.extra["thinking"], shown, "{model}");
            assert!(!out.extra.contains_key(THINKING_DISPLAY), "{model}");
            assert!(out.extra.contains_key("reasoning_effort"), "{model}");
        }
        for (model, kind) in [
            ("claude-opus-4.7", ProviderKind::Anthropic),
            ("claude-opus-4.6", ProviderKind::Anthropic),
            ("claude-haiku-4.5", ProviderKind::Anthropic),
            ("gpt-5", ProviderKind::Openai),
            ("deepseek-chat", ProviderKind::Openai),
        ] {
            let out = sent(&asked, model, kind);
            let fields: Vec<&String> = out.extra.keys().collect();
            assert!(
                !out.extra.contains_key(THINKING) && !out.extra.contains_key(THINKING_DISPLAY),
                "{model}: {fields:?}"
            );
        }
        let out = request_for(&asked, None, ProviderKind::Anthropic);
        assert!(!out.extra.contains_key(THINKING) && !out.extra.contains_key(THINKING_DISPLAY));
        let off = serde_json::json!({"type": "disabled"});
        let own = with(&asked, |b| b["thinking"] = off.clone());
        let out = sent(&own, "claude-sonnet-5", ProviderKind::Anthropic);
        assert_eq!(out.extra["thinking"], off);
        let mut forced = asked.clone();
        forced.tool_choice = Some(serde_json::json!("required"));
        let out = sent(&forced, "claude-sonnet-5", ProviderKind::Anthropic);
        assert!(!out.extra.contains_key(THINKING) && !out.extra.contains_key(THINKING_DISPLAY));
        // Gemini's adapter reads the field itself (it asks for the thoughts' summaries), and
        // so does it when a `/v1/messages` client asks to see Claude's thinking.
        let out = sent(&asked, "gemini-2.5-pro", ProviderKind::Gemini);
        assert_eq!(out.extra[THINKING_DISPLAY], "summarized");
        let claude_code = with(&request(None), |b| {
            b["thinking"] = serde_json::json!({"type": "enabled", "budget_tokens": 2048,
                                               "display": "summarized"});
        });
        let out = sent(&claude_code, "gemini-3.5-flash", ProviderKind::Gemini);
        assert_eq!(out.extra[THINKING_DISPLAY], "summarized");
        assert_eq!(out.extra["reasoning_effort"], "low");
        assert!(!out.extra.contains_key(THINKING));
        let quiet = with(&request(None), |b| {
            b["thinking"] = serde_json::json!({"type": "enabled", "budget_tokens": 2048});
        });
        let out = sent(&quiet, "gemini-3.5-flash", ProviderKind::Gemini);
        assert!(!out.extra.contains_key(THINKING_DISPLAY));
    }

    #[test]
    fn thinking_stays_for_claude_and_becomes_an_effort_elsewhere() {
        let catalog = models::Catalog::embedded().unwrap();
        let thinking = |value: serde_json::Value, effort: Option<&str>| {
            with(&request(None), |b| {
                b["thinking"] = value.clone();
                if let Some(e) = effort {
                    b["reasoning_effort"] = e.into();
                }
            })
        };
        let budget = |n: u32| serde_json::json!({"type": "enabled", "budget_tokens": n});
        let sent = |req: &ChatCompletionRequest, model: &str, kind| {
            request_for(req, Some(catalog.find(model).unwrap()), kind).into_owned()
        };
        let asked = thinking(budget(2000), None);
        let out = sent(&asked, "claude-sonnet-4.5", ProviderKind::Anthropic);
        assert_eq!(out.extra["thinking"]["budget_tokens"], 2000);
        let out = sent(&asked, "claude-3.7-sonnet", ProviderKind::Anthropic);
        assert_eq!(out.extra["thinking"]["budget_tokens"], 2000);
        let out = sent(&asked, "claude-3.5-sonnet", ProviderKind::Anthropic);
        assert!(!out.extra.contains_key("thinking"));
        // `adaptive` from Claude 4.6 on; a budget must lie below the output limit (4,096 by
        // default); a forced tool call cannot think first.
        let adaptive = thinking(serde_json::json!({"type": "adaptive"}), None);
        let out = sent(&adaptive, "claude-opus-4.6", ProviderKind::Anthropic);
        assert_eq!(out.extra["thinking"]["type"], "adaptive");
        let out = sent(&adaptive, "claude-sonnet-4.5", ProviderKind::Anthropic);
        assert!(!out.extra.contains_key("thinking"));
        let out = sent(
            &thinking(budget(4096), None),
            "claude-sonnet-4.5",
            ProviderKind::Anthropic,
        );
        assert!(!out.extra.contains_key("thinking"));
        let mut forced = thinking(budget(2000), None);
        forced.tool_choice = Some(serde_json::json!("required"));
        let out = sent(&forced, "claude-sonnet-4.5", ProviderKind::Anthropic);
        assert!(!out.extra.contains_key("thinking"));
        // Kept: the sampling settings extended thinking refuses go.
        let mut sampled = thinking(budget(2000), None);
        sampled.temperature = Some(0.2);
        sampled.top_p = Some(0.5);
        let out = sent(&sampled, "claude-sonnet-4.5", ProviderKind::Anthropic);
        assert_eq!(out.extra["thinking"]["budget_tokens"], 2000);
        assert_eq!((out.temperature, out.top_p), (None, None));
        assert!(thinks_first(catalog.find("claude-sonnet-4.5"), &out));
        assert!(!thinks_first(
            catalog.find("claude-sonnet-4.5"),
            &request(None)
        ));
        for (value, effort) in [
            (budget(2000), Some("low")),
            (budget(8000), Some("medium")),
            (budget(30000), Some("high")),
            (serde_json::json!({"type": "adaptive"}), None),
            (serde_json::json!("on"), None),
        ] {
            let out = sent(
                &thinking(value.clone(), None),
                "gpt-5",
                ProviderKind::Openai,
            );
            assert!(!out.extra.contains_key("thinking"), "{value}");
            assert_eq!(
                out.extra.get("reasoning_effort").and_then(|v| v.as_str()),
                effort,
                "{value}"
            );
        }
        // From Claude 4.7 a budget is refused: `adaptive` at the budget's effort, unless the
        // client named one. From Claude 5.5 thinking cannot be turned off: the field goes and
        // the effort is the lowest. Claude 4.6 still takes both as given.
        let effort = |out: &ChatCompletionRequest| {
            out.extra
                .get("reasoning_effort")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        for model in ["claude-haiku-5.5", "claude-opus-5.5", "claude-sonnet-5"] {
            let out = sent(
                &thinking(budget(8000), None),
                model,
                ProviderKind::Anthropic,
            );
            assert_eq!(
                out.extra["thinking"],
                serde_json::json!({"type": "adaptive"})
            );
            assert_eq!(effort(&out).as_deref(), Some("medium"), "{model}");
            let out = sent(
                &thinking(budget(8000), Some("high")),
                model,
                ProviderKind::Anthropic,
            );
            assert_eq!(effort(&out).as_deref(), Some("high"), "{model}");
        }
        // `display` (Claude Code asks for `summarized`, which Opus 4.7 and later omit by
        // default) goes on with the setting from Claude 4, also where a budget becomes
        // `adaptive`; Claude 3.7 Sonnet has no such field.
        let shown = |value: serde_json::Value| {
            let mut v = value;
            v["display"] = "summarized".into();
            thinking(v, None)
        };
        let out = sent(
            &shown(serde_json::json!({"type": "adaptive"})),
            "claude-opus-5.5",
            ProviderKind::Anthropic,
        );
        assert_eq!(
            out.extra["thinking"],
            serde_json::json!({"type": "adaptive", "display": "summarized"})
        );
        let out = sent(
            &shown(budget(8000)),
            "claude-sonnet-5",
            ProviderKind::Anthropic,
        );
        assert_eq!(
            out.extra["thinking"],
            serde_json::json!({"type": "adaptive", "display": "summarized"})
        );
        let out = sent(
            &shown(budget(2000)),
            "claude-sonnet-4.5",
            ProviderKind::Anthropic,
        );
        assert_eq!(out.extra["thinking"]["display"], "summarized");
        let out = sent(
            &shown(budget(2000)),
            "claude-3.7-sonnet",
            ProviderKind::Anthropic,
        );
        assert_eq!(
            out.extra["thinking"],
            serde_json::json!({"type": "enabled", "budget_tokens": 2000})
        );
        let off = thinking(serde_json::json!({"type": "disabled"}), None);
        for model in [
            "claude-opus-5.5",
            "claude-haiku-5.5",
            "claude-fable-5.1",
            "claude-fable-5",
        ] {
            let out = sent(&off, model, ProviderKind::Anthropic);
            assert!(!out.extra.contains_key("thinking"), "{model}");
            assert_eq!(effort(&out).as_deref(), Some("low"), "{model}");
        }
        let out = sent(&off, "claude-sonnet-5", ProviderKind::Anthropic);
        assert_eq!(out.extra["thinking"]["type"], "disabled");
        // A forced tool call cannot think first: the budget goes, and no effort comes with it.
        let mut forced = thinking(budget(30000), None);
        forced.tool_choice = Some(serde_json::json!("required"));
        let out = sent(&forced, "claude-sonnet-5", ProviderKind::Anthropic);
        assert!(!out.extra.contains_key("thinking"));
        assert_eq!(effort(&out), None);
        let out = sent(
            &thinking(budget(2000), None),
            "claude-opus-4.6",
            ProviderKind::Anthropic,
        );
        assert_eq!(out.extra["thinking"]["budget_tokens"], 2000);
        assert_eq!(effort(&out), None);
        // A model the catalog does not know gets no effort it may refuse.
        let unknown = thinking(budget(8000), None);
        let out = request_for(&unknown, None, ProviderKind::Openai);
        assert!(!out.extra.contains_key("thinking"));
        assert!(!out.extra.contains_key("reasoning_effort"));
        // A given effort wins over the budget's.
        let out = sent(
            &thinking(budget(30000), Some("low")),
            "gpt-5",
            ProviderKind::Openai,
        );
        assert_eq!(out.extra["reasoning_effort"], "low");
    }

    /// OpenAI's prompt-cache fields and GPT-5's verbosity reach OpenAI's models only: Mistral
    /// (422) and Groq (400) refuse fields they do not know.
    #[test]
    fn prompt_cache_fields_reach_openai_only() {
        let catalog = models::Catalog::embedded().unwrap();
        let req = with(&request(None), |b| {
            b["prompt_cache_key"] = "session-1".into();
            b["prompt_cache_retention"] = "24h".into();
            b["verbosity"] = "low".into();
        });
        let gpt5 = catalog.find("gpt-5").unwrap();
        let out = request_for(&req, Some(gpt5), ProviderKind::Openai);
        assert_eq!(out.extra["verbosity"], "low");
        let gpt = catalog.find("gpt-4o").unwrap();
        let out = request_for(&req, Some(gpt), ProviderKind::Openai);
        assert_eq!(out.extra["prompt_cache_key"], "session-1");
        assert_eq!(out.extra["prompt_cache_retention"], "24h");
        for model in ["mistral-small-3.2", "deepseek-chat"] {
            let entry = catalog.find(model).unwrap();
            let out = request_for(&req, Some(entry), ProviderKind::Openai);
            assert!(!out.extra.contains_key("prompt_cache_key"), "{model}");
            assert!(!out.extra.contains_key("prompt_cache_retention"), "{model}");
            assert!(!out.extra.contains_key("verbosity"), "{model}");
        }
        // OpenAI's models that do not reason refuse verbosity too.
        let out = request_for(&req, Some(gpt), ProviderKind::Openai);
        assert!(!out.extra.contains_key("verbosity"));
    }

    /// More stop sequences than the API takes, or an empty list, are the gateway's to cut.
    #[test]
    fn stop_lists_past_the_api_cap_are_left_to_the_gateway() {
        let catalog = models::Catalog::embedded().unwrap();
        let stops = |n: usize| {
            with(&request(None), |b| {
                b["stop"] = (0..n).map(|i| format!("s{i}")).collect::<Vec<_>>().into();
            })
        };
        let gpt = catalog.find("gpt-4o-mini").unwrap();
        assert!(request_for(&stops(4), Some(gpt), ProviderKind::Openai)
            .stop
            .is_some());
        assert!(request_for(&stops(5), Some(gpt), ProviderKind::Openai)
            .stop
            .is_none());
        assert!(request_for(&stops(0), Some(gpt), ProviderKind::Openai)
            .stop
            .is_none());
        let gemini = catalog.find("gemini-2.5-flash").unwrap();
        assert!(request_for(&stops(5), Some(gemini), ProviderKind::Gemini)
            .stop
            .is_some());
        assert!(request_for(&stops(6), Some(gemini), ProviderKind::Gemini)
            .stop
            .is_none());
        let claude = catalog.find("claude-haiku-4.5").unwrap();
        assert!(
            request_for(&stops(16), Some(claude), ProviderKind::Anthropic)
                .stop
                .is_some()
        );
        // Other OpenAI-dialect servers (vLLM, DeepSeek) take longer lists.
        let deepseek = catalog.find("deepseek-chat").unwrap();
        assert!(request_for(&stops(8), Some(deepseek), ProviderKind::Openai)
            .stop
            .is_some());
    }

    #[test]
    fn models_that_think_before_answering_are_told_apart() {
        let catalog = models::Catalog::embedded().unwrap();
        let thinks = |model: &str, effort: Option<&str>| {
            thinks_first(Some(catalog.find(model).unwrap()), &request(effort))
        };
        // Reasoning by default: OpenAI's by their effort, Claude 5.x by their latency class.
        assert!(thinks("gpt-5", None));
        assert!(thinks("claude-opus-5", None));
        assert!(thinks("gpt-6.1-sol", Some("none")), "it has no `none`: low");
        // The GPT-5.4 family runs at `none` unless asked.
        assert!(!thinks("gpt-5.4-mini", None));
        assert!(thinks("gpt-5.4-mini", Some("high")));
        // Gemini 3.x think by default without an effort field: the latency class says so.
        assert!(thinks("gemini-3.1-pro-preview", None));
        // Models that answer at once, and models the catalog does not know.
        assert!(!thinks("gpt-4o-mini", None));
        assert!(!thinks("claude-sonnet-4.6", None));
        assert!(!thinks_first(None, &request(Some("high"))));
        // Opus 4.7 and 4.8 refuse sampling parameters (`reasoning`) but think only when asked.
        assert!(!thinks("claude-opus-4.7", None));
        assert!(!thinks("claude-opus-4.8", Some("high")));
        assert!(thinks("claude-haiku-5.5", None), "thinks by default");
        // Mistral Small 4 and Medium 3.5 reason only when asked (`none` or `high`).
        assert!(!thinks("mistral-small-4", None));
        assert!(!thinks("mistral-small-4", Some("none")));
        assert!(thinks("mistral-small-4", Some("low")), "nearest: high");
        assert!(thinks("mistral-medium-3.5", Some("high")));
        assert!(
            !thinks("mistral-small-3.2", Some("high")),
            "takes no effort"
        );
        assert!(thinks("claude-fable-5", Some("low")));
        // Claude 5.x keep adaptive thinking on at every effort; Claude 4.6 takes an effort
        // but thinks only when the request turns thinking on, which the gateway never does.
        assert!(thinks("claude-sonnet-5", Some("low")));
        assert!(thinks("claude-opus-5.5", Some("none")));
        assert!(!thinks("claude-sonnet-4.6", Some("max")));
    }

    /// A Claude model gets the nearest effort it takes; one that takes none, or that the
    /// catalog does not know, gets no effort at all.
    #[test]
    fn claude_gets_the_nearest_effort_it_takes_or_none() {
        let catalog = models::Catalog::embedded().unwrap();
        assert_fitted_efforts(
            &catalog,
            ProviderKind::Anthropic,
            &[
                ("claude-opus-5.5", "low", Some("low")),
                ("claude-opus-5.5", "max", Some("max")),
                ("claude-opus-5.5", "minimal", Some("low")),
                ("claude-sonnet-4.6", "none", Some("low")),
                ("claude-sonnet-4.6", "xhigh", Some("max")),
                ("claude-opus-4.5", "xhigh", Some("high")),
                ("claude-opus-4.5", "max", Some("high")),
                ("claude-haiku-4.5", "low", None),
                ("claude-sonnet-4.5", "high", None),
                ("claude-3.7-sonnet", "high", None),
                ("claude-sonnet-5", "extreme", None),
            ],
        );
        // A level the model takes leaves the request as it is, without a copy.
        let req = request(Some("high"));
        let entry = catalog.find("claude-sonnet-5").unwrap();
        assert!(matches!(
            request_for(&req, Some(entry), ProviderKind::Anthropic),
            Cow::Borrowed(_)
        ));
        // The catalog's levels and defaults (Anthropic's effort page, read 2026-12-07).
        let levels = |m: &str| {
            let e = catalog.find(m).unwrap();
            let names: Vec<&str> = e.efforts.iter().map(|e| e.as_str()).collect();
            (names.join(","), e.default_effort.map(Effort::as_str))
        };
        let all = "low,medium,high,xhigh,max".to_owned();
        assert_eq!(levels("claude-opus-5.5"), (all.clone(), Some("medium")));
        assert_eq!(levels("claude-sonnet-5"), (all, Some("high")));
        assert_eq!(
            levels("claude-opus-4.6"),
            ("low,medium,high,max".to_owned(), Some("high"))
        );
        assert_eq!(levels("claude-haiku-4.5"), (String::new(), None));
    }

    /// A Gemini model gets the nearest thinking level it takes (its adapter spells it as a
    /// level or a budget); Gemini 2.0, or a model the catalog does not know, gets none.
    #[test]
    fn gemini_gets_the_nearest_thinking_level_it_takes_or_none() {
        let catalog = models::Catalog::embedded().unwrap();
        assert_fitted_efforts(
            &catalog,
            ProviderKind::Gemini,
            &[
                ("gemini-3-flash-preview", "none", Some("minimal")),
                ("gemini-3.5-flash", "low", Some("low")),
                ("gemini-3.5-flash", "xhigh", Some("high")),
                ("gemini-3.1-pro-preview", "minimal", Some("low")),
                ("gemini-3.1-pro-preview", "none", Some("low")),
                ("gemini-3.1-flash-lite", "max", Some("high")),
                ("gemini-2.5-flash", "none", Some("none")),
                ("gemini-2.5-flash-lite", "medium", Some("medium")),
                ("gemini-2.5-pro", "none", Some("minimal")),
                ("gemini-2.5-pro", "max", Some("high")),
                ("gemini-2.0-flash-001", "low", None),
                ("gemini-3.5-flash", "extreme", None),
            ],
        );
        // The catalog's defaults (Google's thinking pages, read 2026-12-07); 2.5 Flash's is a
        // dynamic budget, which no level names.
        let default = |m: &str| catalog.find(m).unwrap().default_effort.map(Effort::as_str);
        assert_eq!(default("gemini-3.1-pro-preview"), Some("high"));
        assert_eq!(default("gemini-3.5-flash"), Some("medium"));
        assert_eq!(default("gemini-3.1-flash-lite"), Some("minimal"));
        assert_eq!(default("gemini-2.5-flash-lite"), Some("none"));
        assert_eq!(default("gemini-2.5-flash"), None);
    }

    /// Asserts, for each (model, asked, expected), the `reasoning_effort` that `request_for`
    /// leaves for the catalog's `model` through a provider speaking `kind`; and that a model
    /// the catalog does not know gets none.
    fn assert_fitted_efforts(
        catalog: &models::Catalog,
        kind: ProviderKind,
        cases: &[(&str, &str, Option<&str>)],
    ) {
        let fitted = |entry: Option<&CatalogEntry>, asked: &str| {
            let req = request(Some(asked));
            let out = request_for(&req, entry, kind);
            out.extra
                .get("reasoning_effort")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        for (model, asked, expected) in cases {
            let entry = catalog.find(model).unwrap();
            let out = fitted(Some(entry), asked);
            assert_eq!(out.as_deref(), *expected, "{model} {asked}");
        }
        assert_eq!(
            fitted(None, "low"),
            None,
            "a model the catalog does not know"
        );
    }

    /// Gemini's effort decides whether it thinks first where its latency class does not: the
    /// Flash and Flash-Lite models asked for `low` or more do; at `none` or `minimal`, and at
    /// their defaults, they answer at once; the thinking class thinks at every effort.
    #[test]
    fn gemini_thinks_first_from_a_low_effort_on() {
        let catalog = models::Catalog::embedded().unwrap();
        let thinks = |model: &str, effort: Option<&str>| {
            let entry = catalog.find(model);
            let req = request(effort);
            thinks_first(entry, &request_for(&req, entry, ProviderKind::Gemini))
        };
        assert!(thinks("gemini-2.5-flash", Some("low")));
        assert!(thinks("gemini-2.5-flash-lite", Some("high")));
        assert!(thinks("gemini-3.1-flash-lite", Some("medium")));
        assert!(!thinks("gemini-2.5-flash", Some("none")));
        assert!(!thinks("gemini-3.5-flash-lite", Some("minimal")));
        assert!(!thinks("gemini-2.5-flash", None));
        assert!(!thinks("gemini-2.5-flash-lite", None));
        assert!(!thinks("gemini-3.1-flash-lite", None));
        assert!(!thinks("gemini-2.0-flash-001", Some("high")));
        assert!(thinks("gemini-3-flash-preview", Some("minimal")));
        assert!(thinks("gemini-2.5-pro", Some("none")));
        assert!(thinks("gemini-3.1-pro-preview", None));
    }
}
