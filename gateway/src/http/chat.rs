//! `POST /v1/chat/completions`: parse, route, call with failover, answer, log.
//!
//! [`answer`] is shared with `POST /v1/messages` (`crate::http::messages`), which converts its
//! request into the same internal chat form; only the answer's shape differs ([`Dialect`]).

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use router_core::{Constraints, DecisionReason, ModelId, OutcomeStatus};

use crate::auth::{Caller, KeyUse};
use crate::cache::{Directive, Plan, Served as CacheServed, Stored};
use crate::http::error::ApiError;
use crate::http::request_options::{merged_options, prompt_text, resolve_model, routing_input};
use crate::http::{cached, relay, validate};
use crate::openai::wire::{ChatCompletionRequest, ChatCompletionResponse};
use crate::outcome::record::{Ending, RequestRecord};
use crate::routing::{Routed, Unit};
use crate::state::AppState;
use crate::tokens;
use crate::upstream::failover::{Answer, CallKind, Served};

/// `x-switchyard-model`: the catalog id that answered.
pub const HEADER_MODEL: &str = "x-switchyard-model";
/// `x-switchyard-request-id`: the outcome row's id, for `/v1/feedback`.
pub const HEADER_REQUEST_ID: &str = "x-switchyard-request-id";
/// `x-switchyard-route-ms`: time spent routing.
pub const HEADER_ROUTE_MS: &str = "x-switchyard-route-ms";
/// `x-switchyard-cost-usd`: cost from catalog prices (non-streamed answers).
pub const HEADER_COST_USD: &str = "x-switchyard-cost-usd";

/// The client's API dialect: how answers and streams are shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI chat completions.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// OpenAI Responses (`crate::http::responses`).
    Responses,
}

impl Dialect {
    /// The endpoint label of rejection metrics.
    pub fn endpoint(self) -> &'static str {
        match self {
            Dialect::OpenAi => "chat_completions",
            Dialect::Anthropic => "messages",
            Dialect::Responses => "responses",
        }
    }

    /// The name this dialect gives a field of the internal (chat) request, so that an error
    /// names what the client sent: `/v1/messages` calls `stop` `stop_sequences`, and
    /// `/v1/responses` calls `messages` `input` and the output limit `max_output_tokens`.
    pub fn field(self, chat: &'static str) -> &'static str {
        match (self, chat) {
            (Dialect::Anthropic, "stop") => "stop_sequences",
            (Dialect::Anthropic, "max_completion_tokens") => "max_tokens",
            (Dialect::Responses, "messages") => "input",
            (Dialect::Responses, "max_tokens" | "max_completion_tokens") => "max_output_tokens",
            _ => chat,
        }
    }
}

/// The `model` value that asks the router to choose.
pub const AUTO: &str = "auto";

/// Sets a header from a string, skipping values that are not valid header text.
pub(crate) fn set_header(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// Handles one chat completion request end to end; `caller` is the client key it came with.
pub async fn chat_completion(
    state: AppState,
    headers: HeaderMap,
    body: Bytes,
    caller: Option<Caller>,
) -> Response {
    match serde_json::from_slice::<ChatCompletionRequest>(&body) {
        Ok(req) => answer(state, headers, req, caller, Dialect::OpenAi).await,
        Err(e) => {
            reject_malformed(
                &state,
                ApiError::InvalidJson(e.to_string()),
                Dialect::OpenAi,
            )
            .await
        }
    }
}

/// A malformed request still leaves a (small) row and a metric.
pub(crate) async fn reject_malformed(
    state: &AppState,
    error: ApiError,
    dialect: Dialect,
) -> Response {
    state.metrics.rejected(dialect.endpoint(), error.code());
    let record = RequestRecord::new("", String::new());
    let request_id = record.request_id.clone();
    record
        .finish(state, OutcomeStatus::Rejected, Ending::default())
        .await;
    let mut response = error.into_response();
    set_header(response.headers_mut(), HEADER_REQUEST_ID, &request_id);
    response
}

/// Routes, calls and logs a parsed request, answering in `dialect`'s shape (errors stay
/// [`ApiError`]s; `/v1/messages` reshapes them in one middleware).
pub(crate) async fn answer(
    state: AppState,
    headers: HeaderMap,
    mut req: ChatCompletionRequest,
    caller: Option<Caller>,
    dialect: Dialect,
) -> Response {
    // First: the logged prompt, the cache key and the upstream all see the masked text.
    let guarded = match crate::guardrails::screen(&state, &mut req, caller.as_ref()) {
        Ok(report) => report,
        Err(refusal) => {
            return crate::guardrails::refuse(
                &state,
                &req.model,
                caller,
                dialect.endpoint(),
                refusal,
            )
            .await
        }
    };
    let mut record = RequestRecord::new(&req.model, prompt_text(&req.messages));
    record.guardrails = guarded;
    record.key = caller.map(KeyUse::new);
    // What a model attaches to its tool calls comes back only to the key it was relayed for.
    req.memo_scope = record.key.as_ref().map(|k| k.key_id().to_owned());
    let request_id = record.request_id.clone();
    let every = state.config.server.stream_keepalive;
    let mut response = if req.is_stream() && !every.is_zero() {
        crate::http::keepalive::serve(state, req, headers, record, dialect, every).await
    } else {
        match serve(&state, &req, &headers, &mut record, dialect).await {
            Ok(response) => response,
            Err(failure) => failed(&state, record, dialect.endpoint(), failure).await,
        }
    };
    set_header(response.headers_mut(), HEADER_REQUEST_ID, &request_id);
    response
}

/// A request that ends without an answer: the error for the client, what its row records,
/// and the row's status.
pub(crate) type Failure = (ApiError, Ending, OutcomeStatus);

/// The failure of a request refused as the client's mistake.
pub(crate) fn rejected(error: ApiError) -> Failure {
    (error, Ending::default(), OutcomeStatus::Rejected)
}

/// Writes the row of a request that failed on `endpoint` and answers with its error.
pub(crate) async fn failed(
    state: &AppState,
    record: RequestRecord,
    endpoint: &'static str,
    (error, ending, status): Failure,
) -> Response {
    if status == OutcomeStatus::Rejected {
        state.metrics.rejected(endpoint, error.code());
    }
    let finished = record.finish(state, status, ending).await;
    // A client's mistake stays its 4xx under `fail_closed` too: nothing was served, and a 503
    // would make SDKs retry a request that cannot succeed.
    if finished.logged || status == OutcomeStatus::Rejected {
        error.into_response()
    } else {
        ApiError::OutcomeLogUnavailable.into_response()
    }
}

pub(crate) async fn serve(
    state: &AppState,
    req: &ChatCompletionRequest,
    headers: &HeaderMap,
    record: &mut RequestRecord,
    dialect: Dialect,
) -> Result<Response, Failure> {
    if req.messages.is_empty() {
        return Err(rejected(ApiError::InvalidRequest(format!(
            "{} must not be empty",
            dialect.field("messages")
        ))));
    }
    validate::sampling(req, dialect).map_err(rejected)?;
    validate::tool_choice(req, dialect).map_err(rejected)?;
    let options = merged_options(req.router.as_ref(), headers).map_err(rejected)?;
    let directive = Directive::from_headers(headers).map_err(rejected)?;
    // The A/B arm whose router decides an `auto` request (`[experiment]`); a pinned request
    // is outside the experiment.
    let key_id = record.key.as_ref().map(KeyUse::key_id);
    let (arm, assignment) = if req.model == AUTO {
        state
            .router
            .assign(Unit {
                user: req.user.as_deref(),
                key_id,
                request_id: &record.request_id,
            })
            .unzip()
    } else {
        (None, None)
    };
    let arm_name = arm.map(|a| a.name.as_str());
    // `[[rules]]` before the cache: a request a rule refuses is refused even when an answer
    // to it is cached, and one a rule pins or narrows is answered only from entries stored
    // under the same rule (a rule may match on a header the cache key does not hold).
    let key = record.key.clone();
    let live_pool = state.router.candidates();
    // A key with a model list routes `auto` only among its models.
    let key_pool = key.as_ref().map(|k| k.pool(&live_pool));
    let pool: &[ModelId] = key_pool.as_deref().unwrap_or(&live_pool);
    let meta = crate::routing::rules::RequestMeta {
        headers,
        key: key.as_ref().map(|k| (k.key_id(), k.key_name())),
        user: req.user.as_deref(),
    };
    let rule = state
        .config
        .rules
        .apply(&meta, &req.model, pool, &state.metrics);
    record.rule = rule.name().map(str::to_owned);
    if let Some(e) = rule.refusal() {
        return Err(rejected(e));
    }
    let generation = match &state.cache {
        Some(_) if req.model == AUTO => state.router.predictor_generation(),
        _ => None,
    };
    let namespace = crate::cache::key::Namespace {
        key_id,
        arm: arm_name,
        rule: rule.name(),
        generation: generation.as_deref(),
        config: state.cache.as_ref().map(|c| c.fingerprint(&state.config)),
    };
    // Before routing and before any key limit: a hit costs nothing and calls nothing. An entry
    // exists only under this key's id (and arm and rule), stored after the same request passed
    // every check.
    let mut plan = Plan::new(&state.config.cache, req, &options, namespace, directive);
    let (served_by_cache, hit) = cached::lookup(state, &plan).await;
    if let Some(entry) = hit {
        return Ok(
            cached::answer_hit(state, record, &entry, req, dialect, CacheServed::Hit, None).await,
        );
    }
    let deadline = tokio::time::Instant::from_std(record.started) + state.config.timeouts.request;
    let (leader, coalesced) = cached::coalesce(state, &plan, deadline).await;
    if let Some((entry, served)) = coalesced {
        return Ok(cached::answer_hit(state, record, &entry, req, dialect, served, None).await);
    }
    let semantic_scope = if plan.semantic {
        crate::cache::key::scope_of(req, &options, namespace)
    } else {
        None
    };
    let input = routing_input(
        &state.catalog,
        &req.messages,
        req,
        options,
        state.objective(),
    )
    .map_err(rejected)?;
    // The semantic cache compares routing embeddings: the prompt is scored here, once, and
    // an `auto` request then routes on the same scores.
    let route_start = std::time::Instant::now();
    let mut scores = None;
    let mut embedding = None;
    if let Some(scope) = &semantic_scope {
        let scored = state
            .router
            .score(&input.text, route_start, true, arm)
            .await;
        embedding = scored.embedding().map(<[f32]>::to_vec);
        if let Some((entry, similarity)) =
            cached::semantic_lookup(state, &plan, scope, embedding.as_deref())
        {
            return Ok(cached::answer_hit(
                state,
                record,
                &entry,
                req,
                dialect,
                CacheServed::SemanticHit,
                Some(similarity),
            )
            .await);
        }
        scores = Some(scored);
    }
    cached::count_miss(state, served_by_cache);
    if let Some(k) = &key {
        let prompt =
            prompt_tokens_at_most(state, rule.requested(&req.model), rule.pool(pool), &input);
        // Every choice (`n`) is written, and billed, separately.
        let estimate =
            prompt + u64::from(req.output_limit().unwrap_or(0)) * u64::from(choices(req));
        k.take_tokens(estimate).await.map_err(|e| {
            state
                .metrics
                .key_rejected(crate::auth::rejection_reason(&e, "rate_limit_tokens"));
            rejected(e)
        })?;
    }
    // What another replica (or this one before a restart) kept about the calls this turn
    // answers: their owner for affinity, their thinking and signatures for the attempt.
    crate::routing::shared_calls::warm(state, key_id, &req.messages).await;
    let pool: &[ModelId] = rule.pool(pool);
    let requested = rule.requested(&req.model);
    let routed: Routed = if requested == AUTO {
        if pool.is_empty() {
            if let (Some(k), false) = (&key, live_pool.is_empty()) {
                state.metrics.key_rejected("model_not_allowed");
                return Err(rejected(k.model_refused(AUTO)));
            }
            return Err(rejected(ApiError::NoProviderConfigured(
                "no provider with a configured API key serves any candidate model; set a provider's API key variable or add [[providers]] entries (docs/gateway.md)".to_owned(),
            )));
        }
        if let Some(assignment) = assignment {
            state
                .metrics
                .experiment_arm(&assignment.experiment, &assignment.arm);
            record.arm = Some(assignment);
        }
        // A tool loop stays on the model that made its calls, where the request allows it.
        let continued = state
            .tool_loops
            .owner(key_id, &req.messages)
            .filter(|m| pool.contains(m) && input.constraints.allows(m));
        // It must still meet the request's hard limits (the loop's results may have grown the
        // prompt past its window, or the turn may now need a capability it lacks).
        let kept = continued.and_then(|model| {
            let mut r = state.router.pin(&model, &input, pool).ok()?;
            let fits = r
                .decision
                .ranked
                .iter()
                .any(|c| c.model == model && c.is_eligible());
            fits.then(|| {
                state.metrics.tool_loop_kept(model.as_str());
                r.decision.reason = DecisionReason::ToolLoop;
                r
            })
        });
        let routed = match (kept, scores) {
            (Some(r), _) => Ok(r),
            (None, Some(scored)) => state.router.route_scored(&input, pool, scored, route_start),
            (None, None) => state.router.route(&input, pool, arm).await,
        };
        routed.map_err(|_| {
            rejected(validate::unservable(
                &state.catalog,
                pool,
                &input.constraints,
                input.input_tokens,
            ))
        })?
    } else {
        let model = resolve_model(&state.catalog, requested).map_err(rejected)?;
        if let Some(r) = rule.refuses(&model) {
            return Err(rejected(r));
        }
        if let Some(k) = key.as_ref().filter(|k| !k.allows(&model)) {
            state.metrics.key_rejected("model_not_allowed");
            return Err(rejected(k.model_refused(model.as_str())));
        }
        validate::named_model_capabilities(&state.catalog, &model, &input.constraints)
            .map_err(rejected)?;
        if state.config.live_provider_of(&model).is_none() {
            // A configuration gap, not an outage: a 404 the SDKs do not retry.
            let provider = state.config.first_provider_of(&model).ok_or_else(|| {
                rejected(ApiError::Internal(format!("`{model}` left the catalog")))
            })?;
            return Err(rejected(ApiError::ProviderNotConfigured {
                model: model.to_string(),
                hint: state.config.provider_setup_hint(&provider),
                provider: provider.to_string(),
            }));
        }
        state.router.pin(&model, &input, pool).map_err(|_| {
            rejected(validate::unservable(
                &state.catalog,
                pool,
                &input.constraints,
                input.input_tokens,
            ))
        })?
    };
    let route_ms = routed.elapsed.as_secs_f64() * 1000.0;
    let mut order = routed.decision.failover_order();
    // The static fallback may name a model the rule excludes: never call it either.
    rule.retain(&mut order).map_err(rejected)?;
    if let Some(k) = &key {
        // The static fallback may name a model outside the key's list: never call it.
        order.retain(|m| k.allows(m));
        if order.is_empty() {
            state.metrics.key_rejected("model_not_allowed");
            return Err(rejected(k.model_refused(req.model.as_str())));
        }
        k.reserve(max_cost_usd(
            state,
            &order,
            input.input_tokens,
            req.output_limit(),
            choices(req),
        ))
        .await
        .map_err(|e| {
            state
                .metrics
                .key_rejected(crate::auth::rejection_reason(&e, "budget"));
            rejected(e)
        })?;
    }
    record.decision = Some(if requested == AUTO {
        routed.decision
    } else {
        // The compact row of the common case: failover has its order already.
        routed.decision.without_estimates()
    });
    record.reference_answer = crate::judge::reference_of(state, headers);
    // A pinned request was not the policy's choice: off-policy evaluation must not read it as
    // one.
    if requested == AUTO {
        record.routing = Some((
            applied_constraints(&input.constraints, pool),
            input.objective,
        ));
    }
    tracing::debug!(
        request_id = %record.request_id,
        chosen = %order[0],
        source = routed.source.as_str(),
        "Routed request."
    );

    let kind = if req.is_stream() {
        CallKind::Stream
    } else {
        CallKind::Complete
    };
    let walk = state.failover().run(req, &order, kind, deadline).await;
    let served = match walk.result {
        Ok(served) => served,
        Err(error) => {
            // A candidate skipped for its open breaker or its cool-down was never called: the
            // row names the last one that was, when there was one.
            let skipped = [
                crate::upstream::UpstreamErrorKind::CircuitOpen.label(),
                crate::upstream::failover::COOLING_DOWN,
            ];
            let failed = walk
                .attempts
                .iter()
                .rev()
                .find(|a| !a.error.as_deref().is_some_and(|e| skipped.contains(&e)))
                .or_else(|| walk.attempts.last());
            let mut ending = Ending {
                model: failed.map(|a| a.model.clone()),
                attempts: walk.attempts,
                ..Ending::default()
            };
            // The walk may have stopped because nobody was waiting any more (`departure`):
            // the row says so; no answer came, so the key's token estimate goes back.
            let status = if crate::departure::departed() {
                ending.tokens = Some((0, 0));
                OutcomeStatus::ClientDisconnected
            } else {
                OutcomeStatus::UpstreamError
            };
            return Err((error.into(), ending, status));
        }
    };
    let model = served.model.clone();
    // Only the first choice's answer is stored: after a failover the answer is another
    // model's (or, for `auto`, not the policy's choice), and replaying it for the whole TTL
    // would outlast the outage that caused it.
    if order.first() != Some(&model) {
        plan.write = false;
    }
    // Identical requests wait for a stored answer: with none coming, they go now rather than
    // after this answer (a whole stream).
    let leader = leader.filter(|_| plan.write);
    if let Some(scope) = &semantic_scope {
        cached::semantic_index(state, &plan, scope, embedding.as_deref());
    }
    // `stop` the model was not sent (it refuses it) is kept here, as its API would have.
    let stops = if served.stop_dropped {
        crate::http::stop_cut::sequences(req.stop.as_ref())
    } else {
        Vec::new()
    };
    let mut response = match served.answer {
        Answer::Complete(mut completion) => {
            // Cut before masking, as the model's API would have cut the raw text.
            crate::http::stop_cut::cut_completion(&mut completion, &stops);
            crate::guardrails::screen_answer(state, &mut completion, record);
            let calls: Vec<&str> = completion
                .choices
                .iter()
                .flat_map(|c| c.message.tool_calls.iter().flatten())
                .map(|c| c.id.as_str())
                .collect();
            let client_key = record.key.as_ref().map(KeyUse::key_id);
            crate::routing::shared_calls::relayed(state, client_key, calls, &served.model).await;
            let Served {
                model,
                upstream_name,
                attempt_start,
                ttft,
                ..
            } = served;
            state
                .metrics
                .upstream_latency(model.as_str(), attempt_start.elapsed(), Some(ttft));
            let usage = usage_of(&completion, input.input_tokens);
            let upstream_model = if completion.model.is_empty() {
                upstream_name
            } else {
                completion.model.clone()
            };
            let ending = Ending {
                model: Some(model.clone()),
                upstream_model: Some(upstream_model.clone()),
                attempts: walk.attempts,
                ttft_ms: Some(ttft.as_secs_f64() * 1000.0),
                tokens: Some(usage),
                details: completion
                    .usage
                    .as_ref()
                    .map(crate::openai::wire::Usage::details)
                    .unwrap_or_default(),
                // Copied only when a judge may grade it.
                answer_text: state.judge.is_some().then(|| answer_text(&completion)),
                cache_hit: None,
            };
            let request_id = record.request_id.clone();
            // Paid for and logged as ever, but nobody read it (`departure`).
            let status = if crate::departure::departed() {
                OutcomeStatus::ClientDisconnected
            } else {
                OutcomeStatus::Ok
            };
            let finished = record.clone().finish(state, status, ending).await;
            if !finished.logged {
                return Ok(ApiError::OutcomeLogUnavailable.into_response());
            }
            cached::store(state, &plan, || Stored {
                completion: completion.clone(),
                model,
                upstream_model: Some(upstream_model),
                tokens: usage,
                cost_usd: finished.cost_usd.unwrap_or(0.0),
                source_request_id: request_id,
            });
            let mut response = match dialect {
                Dialect::OpenAi => Json(completion).into_response(),
                Dialect::Anthropic => {
                    Json(crate::http::messages::message_body(&completion, usage)).into_response()
                }
                Dialect::Responses => Json(crate::http::responses::response_body(
                    &completion,
                    usage,
                    req,
                ))
                .into_response(),
            };
            if let Some(cost) = finished.cost_usd {
                set_header(
                    response.headers_mut(),
                    HEADER_COST_USD,
                    &format!("{cost:.8}"),
                );
            }
            response
        }
        Answer::Stream { lead, rest } => relay::start(
            state.clone(),
            record.clone(),
            relay::Committed {
                thinking_tokens: thinking_tokens(state, &served.model, served.ttft, served.thinks),
                model: served.model,
                target: served.target,
                upstream_name: served.upstream_name,
                lead,
                rest,
                attempts: walk.attempts,
                attempt_start: served.attempt_start,
                ttft: served.ttft,
                input_tokens_estimate: input.input_tokens,
                cache: plan.store_key(),
                stop: crate::http::stop_cut::StopCutter::new(stops, req.n.unwrap_or(1)),
                leader,
                encoder: match dialect {
                    Dialect::OpenAi => relay::Encoder::OpenAi {
                        wants_usage: req.wants_stream_usage(),
                    },
                    Dialect::Anthropic => relay::Encoder::Anthropic(
                        crate::http::messages::StreamEncoder::new(input.input_tokens),
                    ),
                    Dialect::Responses => {
                        relay::Encoder::Responses(crate::http::responses::StreamEncoder::new(req))
                    }
                },
            },
        ),
    };
    set_header(response.headers_mut(), HEADER_MODEL, model.as_str());
    set_header(
        response.headers_mut(),
        HEADER_ROUTE_MS,
        &format!("{route_ms:.3}"),
    );
    cached::mark(response.headers_mut(), served_by_cache);
    Ok(response)
}

/// The prompt's tokens as the model that will read it counts them (Claude 5.x's tokenizer
/// counts about 30 % more than the gateway's estimate: `ModelSpec::token_ratio`): the named
/// model's count, or for `auto` the largest over the models the key, the rules and the
/// request's own constraints let it choose, so that a key's
/// tokens-per-minute limit admits no request it would not have admitted once routed. The real
/// count is settled after the answer.
fn prompt_tokens_at_most(
    state: &AppState,
    requested: &str,
    pool: &[ModelId],
    input: &crate::routing::RoutingInput,
) -> u64 {
    let estimate = f64::from(input.input_tokens);
    let count = |id: &str| {
        state
            .catalog
            .find(id)
            .map_or(estimate, |e| e.spec.prompt_tokens(estimate))
    };
    let most = if requested == AUTO {
        pool.iter()
            .filter(|m| input.constraints.allows(m))
            .map(|m| count(m.as_str()))
            .reduce(f64::max)
            .unwrap_or(estimate)
    } else {
        count(requested)
    };
    // Saturating: a float-to-int cast clamps.
    most.ceil() as u64
}

/// About how many tokens a model that thinks first spent before its first token: that time at
/// its catalog decoding speed (an upper estimate: the time also holds the connection and the
/// prompt's prefill). Counted only for a stream whose upstream reports no usage (one
/// the gateway ended at a stop sequence), whose relayed text alone would leave the thinking,
/// billed by the provider, out of its cost.
fn thinking_tokens(
    state: &AppState,
    model: &ModelId,
    ttft: std::time::Duration,
    thinks: bool,
) -> u32 {
    if !thinks {
        return 0;
    }
    let speed = state
        .catalog
        .find(model.as_str())
        .map_or(0.0, |e| e.spec.latency.tokens_per_s);
    // Saturating: a float-to-int cast clamps, and a negative or NaN speed gives 0.
    (ttft.as_secs_f64() * speed) as u32
}

/// The first choice's text (what a judge grades).
fn answer_text(completion: &ChatCompletionResponse) -> String {
    completion
        .choices
        .first()
        .and_then(|c| c.message.content.clone())
        .unwrap_or_default()
}

/// How many answers the request asks for (`n`): each is written and billed.
fn choices(req: &ChatCompletionRequest) -> u32 {
    req.n.unwrap_or(1).max(1)
}

/// The most the request can cost on any model of its failover order: the prompt estimate plus
/// `max_tokens` (or, without it, the rest of the model's context window) for each of its
/// `choices`, at catalog prices. Every prompt token at the full input price: what the
/// provider's prompt cache holds is not known before the call (a cache write, at Anthropic's
/// 1.25 times, can settle a little above this hold); the settled cost prices it.
fn max_cost_usd(
    state: &AppState,
    order: &[ModelId],
    input_tokens: u32,
    output_limit: Option<u32>,
    choices: u32,
) -> f64 {
    order
        .iter()
        .filter_map(|m| state.catalog.get(m).ok())
        .map(|e| {
            let output = output_limit
                .unwrap_or_else(|| e.spec.context_window.saturating_sub(input_tokens))
                .min(e.spec.context_window);
            e.spec.predicted_cost_usd(
                f64::from(input_tokens),
                f64::from(output) * f64::from(choices),
            )
        })
        .fold(0.0, f64::max)
}

/// Input and output tokens of a completion: the upstream's usage, or estimates when it sent
/// none (so that cost is never silently zero).
fn usage_of(completion: &ChatCompletionResponse, input_estimate: u32) -> (u32, u32) {
    if let Some(u) = &completion.usage {
        return (u.prompt_tokens, u.completion_tokens);
    }
    let output: u32 = completion
        .choices
        .iter()
        .map(|c| {
            let text = c.message.content.as_deref().unwrap_or_default();
            let calls: u32 = c
                .message
                .tool_calls
                .iter()
                .flatten()
                .map(|t| {
                    tokens::estimate(&t.function.name) + tokens::estimate(&t.function.arguments)
                })
                .sum();
            tokens::estimate(text) + calls
        })
        .sum();
    (input_estimate, output)
}

/// The caller's constraints with the allow-list narrowed to the pool the router chose from, so
/// that a logged row says exactly which models were possible.
fn applied_constraints(constraints: &Constraints, pool: &[ModelId]) -> Constraints {
    let candidates = pool
        .iter()
        .filter(|m| constraints.allows(m))
        .cloned()
        .collect();
    Constraints {
        candidates: Some(candidates),
        ..constraints.clone()
    }
}
