//! `POST /v1/messages`: Anthropic's Messages API as an ingress.
//!
//! The request is parsed with the Anthropic adapter's own wire types
//! ([`crate::upstream::providers::anthropic::wire`]) and converted into the internal chat form
//! ([`chat_request`]); from there it takes exactly the `/v1/chat/completions` path
//! ([`chat::answer`]): routing (`model: "auto"` or a catalog name), client keys, failover,
//! outcome rows and metrics. Only the answer's shape differs: [`message_body`] for a message,
//! [`StreamEncoder`] for Anthropic's event sequence, and [`anthropic_errors`] rewrites every
//! error of this path into `{"type":"error","error":{"type","message"}}` with its status.
//!
//! Supported: `system` (string or text blocks), multi-turn `messages` (string or blocks:
//! `text`, `image` (base64 or URL), `tool_use`, `tool_result` with string or text content; `is_error` prefixes it with
//! `Error: `),
//! `max_tokens` (required), `stop_sequences`, `temperature`, `top_p`, `metadata.user_id`,
//! `tools`, `tool_choice`, `stream`, `output_config` (`format` as a `json_schema` response
//! format, `effort` as `reasoning_effort`), `thinking` (kept for Claude, the nearest effort for
//! other vendors' models: `upstream::fit`), and Switchyard's `router` options. Refused with a
//! 400 naming the field: `top_k` (the internal form has no place for it), other block types
//! (`document`, ...), non-text `tool_result` content.

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::auth::Caller;
use crate::http::chat::{self, Dialect};
use crate::http::error::ApiError;
use crate::openai::tool_calls::{Fed, ToolCallAccumulator};
use crate::openai::wire::{
    ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, ChatMessage, ContentPart,
    FinishReason, FunctionCall, FunctionDef, ImageUrl, MessageContent, ResponseFormat, Role,
    RouterOptions, Stop, StreamOptions, TokenDetails, Tool, ToolCall, ToolCallDelta, Usage,
};
use crate::state::AppState;
use crate::upstream::providers::anthropic::effort;
use crate::upstream::providers::anthropic::wire::{
    ContentBlock, ImageSource, MessageRole, MessagesRequest, OutputConfig, OutputFormat, Thinking,
    ToolChoice,
};
use crate::upstream::THINKING;

/// The path this module serves (errors on it are reshaped by [`anthropic_errors`]).
pub const PATH: &str = "/v1/messages";

/// Fields of Anthropic's request the internal form cannot carry: refused, not dropped.
const UNSUPPORTED: [&str; 1] = ["top_k"];

/// The axum handler: reads the body, then runs [`messages`] in the tracker (a client
/// disconnect neither cancels the upstream call nor loses the outcome row).
pub async fn handler(
    State(state): State<AppState>,
    caller: Option<axum::Extension<Caller>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match super::body_bytes(&state, body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let work = messages(
        state.clone(),
        headers,
        body,
        caller.map(|axum::Extension(c)| c),
    );
    super::tracked(&state, work).await
}

/// Handles one Messages request end to end.
pub async fn messages(
    state: AppState,
    headers: HeaderMap,
    body: Bytes,
    caller: Option<Caller>,
) -> Response {
    match parse(&body) {
        Ok(req) => chat::answer(state, headers, req, caller, Dialect::Anthropic).await,
        Err(e) => chat::reject_malformed(&state, e, Dialect::Anthropic).await,
    }
}

/// The body as the internal chat request.
pub fn parse(body: &[u8]) -> Result<ChatCompletionRequest, ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    parse_value(value)
}

/// [`parse`] of a body already read as JSON (`count_tokens` edits it first).
pub fn parse_value(mut value: Value) -> Result<ChatCompletionRequest, ApiError> {
    let Some(object) = value.as_object_mut() else {
        return Err(ApiError::InvalidRequest(
            "the body must be a JSON object".to_owned(),
        ));
    };
    if object.get("max_tokens").is_none_or(Value::is_null) {
        return Err(ApiError::InvalidRequest(
            "max_tokens: Field required (the Messages API needs an output token limit)".to_owned(),
        ));
    }
    for field in UNSUPPORTED {
        if object.get(field).is_some_and(|v| !v.is_null()) {
            return Err(ApiError::InvalidRequest(format!(
                "{field}: not supported by this gateway's /v1/messages (remove it)"
            )));
        }
    }
    // The structured-outputs beta's top-level `output_format` is `output_config.format` now
    // (Anthropic takes both for a transition period).
    if let Some(format) = object.remove("output_format").filter(|v| !v.is_null()) {
        if object
            .get("output_config")
            .is_some_and(|c| !c["format"].is_null())
        {
            return Err(ApiError::InvalidRequest(
                "output_format: give the format once, as output_config.format".to_owned(),
            ));
        }
        let config = object.entry("output_config").or_insert_with(|| json!({}));
        if !config.is_object() {
            *config = json!({});
        }
        config["format"] = format;
    }
    let router = match object.remove("router") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value::<RouterOptions>(v)
                .map_err(|e| ApiError::InvalidJson(format!("router: {e}")))?,
        ),
    };
    // The error names the field where serde can tell (`thinking: unknown variant …`: the
    // tagged `thinking` is read whole, so the path stops there).
    let req: MessagesRequest = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        ApiError::InvalidJson(if path.split('.').all(|s| s.is_empty() || s == "?") {
            message
        } else {
            format!("{path}: {message}")
        })
    })?;
    chat_request(req, router)
}

/// Converts a Messages request into the internal chat form.
pub fn chat_request(
    req: MessagesRequest,
    router: Option<RouterOptions>,
) -> Result<ChatCompletionRequest, ApiError> {
    let mut messages = Vec::new();
    if let Some(system) = req.system.filter(|s| !s.is_empty()) {
        messages.push(ChatMessage::text(Role::System, system));
    }
    for (i, message) in req.messages.into_iter().enumerate() {
        match message.role {
            MessageRole::User => user_turn(i, message.content, &mut messages)?,
            MessageRole::Assistant => messages.push(assistant_turn(i, message.content)?),
        }
    }
    let stream = req.stream.unwrap_or(false);
    // `disable_parallel_tool_use` is OpenAI's `parallel_tool_calls: false` (meaningful only
    // with tools: Chat Completions refuses the field without them).
    let mut extra = Map::new();
    if req.tools.as_ref().is_some_and(|t| !t.is_empty())
        && req
            .tool_choice
            .as_ref()
            .is_some_and(ToolChoice::one_call_at_a_time)
    {
        extra.insert("parallel_tool_calls".to_owned(), Value::Bool(false));
    }
    let OutputConfig { format, effort } = req.output_config.unwrap_or_default();
    // The effort is the chat form's `reasoning_effort`: each attempt gets it as its model
    // takes it (`upstream::fit`; OpenAI's reasoning models as `reasoning_effort`, Claude as
    // `output_config.effort`).
    if let Some(effort) = effort_level(effort)? {
        extra.insert("reasoning_effort".to_owned(), Value::String(effort));
    }
    // Extended thinking (Claude Code sends it) goes to Claude as asked, and to other vendors'
    // models as the nearest effort (`upstream::fit`).
    if let Some(thinking) = req.thinking {
        if let Thinking::Enabled { budget_tokens, .. } = thinking {
            if budget_tokens < 1024 || budget_tokens >= req.max_tokens {
                return Err(ApiError::InvalidRequest(format!(
                    "thinking.budget_tokens: must be at least 1024 and less than max_tokens ({})",
                    req.max_tokens
                )));
            }
        }
        let value = serde_json::to_value(thinking)
            .map_err(|e| ApiError::InvalidRequest(format!("thinking: {e}")))?;
        extra.insert(THINKING.to_owned(), value);
    }
    Ok(ChatCompletionRequest {
        model: req.model,
        messages,
        tools: req.tools.map(|tools| {
            tools
                .into_iter()
                .map(|t| Tool {
                    kind: "function".to_owned(),
                    function: FunctionDef {
                        name: t.name,
                        description: t.description,
                        parameters: Some(t.input_schema),
                        strict: None,
                    },
                })
                .collect()
        }),
        tool_choice: req.tool_choice.as_ref().map(|c| match c {
            ToolChoice::Auto { .. } => json!("auto"),
            ToolChoice::Any { .. } => json!("required"),
            ToolChoice::None => json!("none"),
            ToolChoice::Tool { name, .. } => {
                json!({"type": "function", "function": {"name": name}})
            }
        }),
        temperature: req.temperature,
        top_p: req.top_p,
        max_tokens: Some(req.max_tokens),
        stop: req.stop_sequences.map(Stop::Many),
        stream: stream.then_some(true),
        // The message_delta event carries usage: ask every upstream for it.
        stream_options: stream.then(|| StreamOptions {
            include_usage: Some(true),
            extra: Map::new(),
        }),
        user: req
            .metadata
            .and_then(|m| m.user_id)
            .filter(|user| !user.is_empty()),
        response_format: response_format(format)?,
        router,
        extra,
        ..ChatCompletionRequest::default()
    })
}

/// `output_config.effort` when it is one of Anthropic's levels (`effort::LEVELS`); any other
/// value is a 400 naming them, as Anthropic's API answers.
fn effort_level(effort: Option<String>) -> Result<Option<String>, ApiError> {
    match effort {
        Some(e) if !effort::LEVELS.contains(&e.as_str()) => Err(ApiError::InvalidRequest(format!(
            "output_config.effort: must be one of {}",
            effort::LEVELS.join(", ")
        ))),
        other => Ok(other),
    }
}

/// `output_config.format` as the chat form's `json_schema` response format, which every
/// provider that can hold an answer to a schema is given (and routing requires).
fn response_format(format: Option<OutputFormat>) -> Result<Option<ResponseFormat>, ApiError> {
    let Some(format) = format else {
        return Ok(None);
    };
    if format.kind != "json_schema" || !format.schema.is_object() {
        return Err(ApiError::InvalidRequest(
            "output_config.format: must be {\"type\": \"json_schema\", \"schema\": {…}}".to_owned(),
        ));
    }
    // Strict where OpenAI's strict mode takes the schema (every property required, objects
    // closed); a schema Claude takes may leave properties optional, which strict mode would
    // answer 400 to, so it goes non-strict there.
    let strict = crate::http::responses::request::strict_compatible(&format.schema);
    Ok(Some(ResponseFormat {
        kind: "json_schema".to_owned(),
        json_schema: Some(json!({"name": "output", "schema": format.schema, "strict": strict})),
    }))
}

fn message(role: Role, content: Option<MessageContent>) -> ChatMessage {
    ChatMessage::new(role, content)
}

/// A user turn: its `tool_result` blocks become `tool` messages (first, as OpenAI wants them
/// right after the assistant's calls), its text and images one user message.
fn user_turn(
    i: usize,
    blocks: Vec<ContentBlock>,
    out: &mut Vec<ChatMessage>,
) -> Result<(), ApiError> {
    let mut parts = Vec::new();
    for block in blocks {
        match block {
            ContentBlock::Text { text } => parts.push(ContentPart::Text { text }),
            ContentBlock::Image { source } => parts.push(ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: match source {
                        ImageSource::Base64 { media_type, data } => {
                            format!("data:{media_type};base64,{data}")
                        }
                        ImageSource::Url { url } => url,
                    },
                    detail: None,
                },
            }),
            ContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => {
                // OpenAI tool messages have no error flag: the text says it.
                let content = if is_error == Some(true) {
                    format!("Error: {content}")
                } else {
                    content
                };
                out.push(ChatMessage {
                    tool_call_id: Some(tool_use_id),
                    ..message(Role::Tool, Some(MessageContent::Text(content)))
                });
            }
            ContentBlock::ToolUse { .. }
            | ContentBlock::Thinking { .. }
            | ContentBlock::RedactedThinking { .. } => {
                return Err(ApiError::InvalidRequest(format!(
                    "messages.{i}.content: a user message cannot hold `tool_use` or thinking blocks"
                )))
            }
        }
    }
    let content = match parts.as_slice() {
        [] => return Ok(()),
        [ContentPart::Text { text }] => MessageContent::Text(text.clone()),
        _ => MessageContent::Parts(parts),
    };
    out.push(message(Role::User, Some(content)));
    Ok(())
}

/// An assistant turn: text and `tool_use` blocks, and the text of its thinking blocks as
/// `reasoning_content`.
fn assistant_turn(i: usize, blocks: Vec<ContentBlock>) -> Result<ChatMessage, ApiError> {
    let mut text = String::new();
    let mut calls = Vec::new();
    let mut reasoning = String::new();
    for block in blocks {
        match block {
            ContentBlock::Text { text: t } => text.push_str(&t),
            ContentBlock::ToolUse { id, name, input } => calls.push(ToolCall {
                id,
                kind: "function".to_owned(),
                function: FunctionCall {
                    name,
                    arguments: input.to_string(),
                },
            }),
            // The chat form keeps only the text, as `reasoning_content`: DeepSeek needs its
            // reasoning back with its tool calls (it reached this client as thinking blocks),
            // and `upstream::fit` drops it for the APIs that refuse it. A Claude model gets its
            // own signed blocks back from the adapter, kept when it made the calls here.
            ContentBlock::Thinking { thinking, .. } => {
                crate::openai::wire::push_reasoning(&mut reasoning, &thinking);
            }
            ContentBlock::RedactedThinking { .. } => {}
            ContentBlock::Image { .. } | ContentBlock::ToolResult { .. } => {
                return Err(ApiError::InvalidRequest(format!(
                    "messages.{i}.content: an assistant message holds only `text`, `tool_use` and thinking blocks"
                )))
            }
        }
    }
    let content = (!text.is_empty() || calls.is_empty()).then_some(MessageContent::Text(text));
    let mut turn = ChatMessage {
        tool_calls: (!calls.is_empty()).then_some(calls),
        ..message(Role::Assistant, content)
    };
    if !reasoning.is_empty() {
        turn.extra
            .insert("reasoning_content".to_owned(), Value::String(reasoning));
    }
    Ok(turn)
}

/// Anthropic's `stop_reason` for an OpenAI finish reason and, where known, the stop sequence
/// that ended the answer. Only Anthropic's upstreams say which sequence matched, and the
/// gateway knows it where it cut the answer itself; an OpenAI or Gemini `stop` cannot tell a
/// sequence from the natural end, so it stays `end_turn`.
pub fn stop_reason(finish: Option<&FinishReason>, sequence: Option<&str>) -> &'static str {
    match finish {
        Some(FinishReason::Length) => "max_tokens",
        Some(FinishReason::ToolCalls | FinishReason::FunctionCall) => "tool_use",
        Some(FinishReason::ContentFilter) => "refusal",
        Some(FinishReason::Stop) if sequence.is_some() => "stop_sequence",
        Some(FinishReason::Stop | FinishReason::Other(_)) | None => "end_turn",
    }
}

/// `reason` for an answer that did (`called_tools`) or did not call tools: an answer holding a
/// `tool_use` block ends with `tool_use` unless something else cut it (length, a filter, a stop
/// sequence). OpenAI answers a *named* `tool_choice` with `finish_reason: "stop"`, and an
/// Anthropic client loops on `stop_reason == "tool_use"`: as `end_turn` it would never run the
/// tool.
fn with_tool_use(reason: &'static str, called_tools: bool) -> &'static str {
    if called_tools && reason == "end_turn" {
        "tool_use"
    } else {
        reason
    }
}

/// A message id in Anthropic's style (`msg_...`).
fn message_id(id: &str) -> String {
    if id.starts_with("msg_") {
        id.to_owned()
    } else {
        format!("msg_{id}")
    }
}

/// A tool call's arguments as the `input` object (arguments that are not JSON become `{}`).
fn tool_input(arguments: &str) -> Value {
    serde_json::from_str::<Value>(arguments)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| Value::Object(Map::new()))
}

/// The Messages answer for a completion; `(input, output)` are its token counts.
pub fn message_body(completion: &ChatCompletionResponse, (input, output): (u32, u32)) -> Value {
    let choice = completion.choices.first();
    let sequence = choice
        .filter(|c| c.finish_reason == Some(FinishReason::Stop))
        .and_then(|c| c.stop_sequence.clone());
    let mut content = Vec::new();
    if let Some(c) = choice {
        if let Some(thinking) = c
            .message
            .reasoning_content
            .as_deref()
            .filter(|t| !t.is_empty())
        {
            content.push(thinking_block(thinking));
        }
        let text = c
            .message
            .content
            .as_deref()
            .filter(|t| !t.is_empty())
            .or(c.message.refusal.as_deref());
        if let Some(text) = text {
            content.push(json!({"type": "text", "text": text}));
        }
        for (i, call) in c.message.tool_calls.iter().flatten().enumerate() {
            content.push(json!({
                "type": "tool_use",
                "id": tool_use_id(i, &call.id),
                "name": call.function.name,
                "input": tool_input(&call.function.arguments),
            }));
        }
    }
    json!({
        "id": message_id(&completion.id),
        "type": "message",
        "role": "assistant",
        "model": completion.model,
        "content": content,
        "stop_reason": with_tool_use(
            stop_reason(
                choice.and_then(|c| c.finish_reason.as_ref()),
                sequence.as_deref(),
            ),
            content.iter().any(|block| block["type"] == "tool_use"),
        ),
        "stop_sequence": sequence,
        "usage": anthropic_usage(
            (input, output),
            completion.usage.as_ref().map(Usage::details).unwrap_or_default(),
        ),
    })
}

/// A `thinking` block of the model's reasoning (Claude's thinking text, DeepSeek's
/// `reasoning_content`). Its `signature` is empty: the gateway keeps Claude's signed blocks and
/// gives them back to the model that made them itself, and ignores the thinking blocks a
/// client sends back (see `assistant_turn`).
fn thinking_block(thinking: &str) -> Value {
    json!({"type": "thinking", "thinking": thinking, "signature": ""})
}

/// Anthropic's usage for `(input, output)` tokens of which `details.cached` input tokens were
/// read from the prompt cache and `details.cache_write` written to it: Anthropic counts both
/// apart (`cache_read_input_tokens`, `cache_creation_input_tokens`), and `input_tokens` is the
/// rest, so that a client costing the call from these fields prices each part as billed.
fn anthropic_usage((input, output): (u32, u32), details: TokenDetails) -> Value {
    let read = details.cached.min(input);
    let written = details.cache_write.min(input - read);
    json!({
        "input_tokens": input - read - written,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
        "output_tokens": output,
    })
}

/// One server-sent event in Anthropic's framing.
fn event(out: &mut String, name: &str, data: &Value) {
    out.push_str("event: ");
    out.push_str(name);
    out.push_str("\ndata: ");
    out.push_str(&data.to_string());
    out.push_str("\n\n");
}

/// The terminal `error` event of a stream.
pub fn error_event(kind: &str, message: &str) -> Bytes {
    let mut out = String::new();
    event(
        &mut out,
        "error",
        &json!({"type": "error", "error": {"type": kind, "message": message}}),
    );
    Bytes::from(out)
}

/// A `tool_use` block's id: the upstream's call id, or `toolu_{index}` when it gave none.
fn tool_use_id(index: usize, id: &str) -> String {
    if id.is_empty() {
        format!("toolu_{index}")
    } else {
        id.to_owned()
    }
}

/// The kind of a streamed text-like block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prose {
    Text,
    Thinking,
}

/// Turns OpenAI chunks (from any provider) into Anthropic's event sequence: `message_start`,
/// per block `content_block_start` / `content_block_delta` / `content_block_stop`, then
/// `message_delta` (stop reason, usage) and `message_stop` once the outcome row is committed.
/// Reasoning (`reasoning_content`) streams as `thinking` blocks ([`thinking_block`]).
///
/// A `tool_use` block ends the text block before it, as Anthropic streams blocks one after
/// another, but `tool_use` blocks stay open until the end of the answer, each by its tool-call
/// index: an upstream that interleaves parallel calls gets one block per call, their deltas
/// interleaved by block `index` (which the SDKs' stream helpers key on).
#[derive(Debug)]
pub struct StreamEncoder {
    input_estimate: u32,
    started: bool,
    next_index: u32,
    /// The open text or thinking block (at most one is open: either closes the other), by
    /// index.
    prose: Option<(u32, Prose)>,
    /// The calls streamed so far, by tool-call index, each marked with its `tool_use` block's
    /// index once started: a block starts once its call's name is known
    /// (`content_block_start` carries the name), with the arguments held until then.
    tools: ToolCallAccumulator<u32>,
    stop_reason: &'static str,
    stop_sequence: Option<String>,
    /// Whether a `tool_use` block was opened (see [`with_tool_use`]).
    called_tools: bool,
    /// The cached and reasoning counts of the upstream's usage chunk.
    details: TokenDetails,
}

impl StreamEncoder {
    /// A fresh encoder; `input_estimate` is reported in `message_start` (the upstream's count
    /// arrives with the last chunk and goes into `message_delta`).
    pub fn new(input_estimate: u32) -> Self {
        StreamEncoder {
            input_estimate,
            started: false,
            next_index: 0,
            prose: None,
            tools: ToolCallAccumulator::default(),
            stop_reason: "end_turn",
            stop_sequence: None,
            called_tools: false,
            details: TokenDetails::default(),
        }
    }

    fn start(&mut self, out: &mut String, id: &str, model: &str) {
        if self.started {
            return;
        }
        self.started = true;
        event(
            out,
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": message_id(id),
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": model,
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {"input_tokens": self.input_estimate, "output_tokens": 0},
            }}),
        );
    }

    /// Starts a block: `content_block_start` with `content_block`; returns its index.
    fn open_block(&mut self, out: &mut String, content_block: &Value) -> u32 {
        let index = self.next_index;
        self.next_index = self.next_index.saturating_add(1);
        event(
            out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": content_block}),
        );
        index
    }

    fn close_block(out: &mut String, index: u32) {
        event(
            out,
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        );
    }

    fn close_prose(&mut self, out: &mut String) {
        if let Some((index, _)) = self.prose.take() {
            Self::close_block(out, index);
        }
    }

    /// Text or reasoning, in the open block of its kind or a new one (closing the other kind's,
    /// as Anthropic streams one block after another).
    fn prose_delta(&mut self, out: &mut String, kind: Prose, text: &str) {
        let index = match self.prose {
            Some((index, open)) if open == kind => index,
            _ => {
                self.close_prose(out);
                let block = match kind {
                    Prose::Text => json!({"type": "text", "text": ""}),
                    Prose::Thinking => thinking_block(""),
                };
                let index = self.open_block(out, &block);
                self.prose = Some((index, kind));
                index
            }
        };
        let delta = match kind {
            Prose::Text => json!({"type": "text_delta", "text": text}),
            Prose::Thinking => json!({"type": "thinking_delta", "thinking": text}),
        };
        event(
            out,
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        );
    }

    fn json_delta(out: &mut String, index: u32, partial: &str) {
        event(
            out,
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": partial}}),
        );
    }

    /// Starts the `tool_use` block of the call at `index` (once), with the arguments received
    /// before it as one delta.
    fn start_tool(&mut self, out: &mut String, index: u32) {
        let Some(tool) = self.tools.unannounced(index) else {
            return;
        };
        let content_block = json!({
            "type": "tool_use",
            "id": tool_use_id(index as usize, &tool.id),
            "name": tool.name,
            "input": {},
        });
        let arguments = tool.arguments.clone();
        let block = self.open_block(out, &content_block);
        self.tools.announce(index, block);
        if !arguments.is_empty() {
            Self::json_delta(out, block, &arguments);
        }
    }

    /// Closes every open block in block order, then (started and closed at once) calls whose
    /// name never came, by index.
    fn close_all(&mut self, out: &mut String) {
        let mut open: Vec<u32> = self.tools.marks().map(|(_, block)| *block).collect();
        open.extend(self.prose.take().map(|(index, _)| index));
        open.sort_unstable();
        for index in open {
            Self::close_block(out, index);
        }
        for index in self.tools.unannounced_indexes() {
            self.start_tool(out, index);
            if let Some(block) = self.tools.mark(index) {
                Self::close_block(out, *block);
            }
        }
        self.tools = ToolCallAccumulator::default();
    }

    /// One tool-call fragment, added to its index's `tool_use` block.
    fn tool_call(&mut self, out: &mut String, call: &ToolCallDelta) {
        self.called_tools = true;
        self.close_prose(out);
        match self.tools.feed(call) {
            Fed::Announce => self.start_tool(out, call.index),
            Fed::Arguments {
                mark: block,
                fragment,
            } => Self::json_delta(out, block, fragment),
            Fed::Held => {}
        }
    }

    /// The events for one chunk (`None` when it adds nothing the client sees).
    pub fn chunk(&mut self, chunk: &ChatCompletionChunk) -> Option<Bytes> {
        let mut out = String::new();
        self.start(&mut out, &chunk.id, &chunk.model);
        if let Some(u) = &chunk.usage {
            self.details = u.details();
        }
        // One answer: the first choice.
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            let delta = &choice.delta;
            if let Some(thinking) = delta.reasoning_content.as_deref().filter(|t| !t.is_empty()) {
                self.prose_delta(&mut out, Prose::Thinking, thinking);
            }
            for text in [&delta.content, &delta.refusal].into_iter().flatten() {
                if !text.is_empty() {
                    self.prose_delta(&mut out, Prose::Text, text);
                }
            }
            for call in delta.tool_calls.iter().flatten() {
                self.tool_call(&mut out, call);
            }
            if let Some(finish) = &choice.finish_reason {
                self.stop_sequence = choice
                    .stop_sequence
                    .clone()
                    .filter(|_| *finish == FinishReason::Stop);
                self.stop_reason = stop_reason(Some(finish), self.stop_sequence.as_deref());
            }
        }
        (!out.is_empty()).then(|| Bytes::from(out))
    }

    /// The closing events of a complete stream; `(input, output)` are its token counts.
    pub fn done(&mut self, (input, output): (u32, u32)) -> Bytes {
        let mut out = String::new();
        self.start(&mut out, "", "");
        self.close_all(&mut out);
        event(
            &mut out,
            "message_delta",
            &json!({"type": "message_delta",
                    "delta": {"stop_reason": with_tool_use(self.stop_reason, self.called_tools),
                              "stop_sequence": self.stop_sequence},
                    "usage": anthropic_usage((input, output), self.details)}),
        );
        event(&mut out, "message_stop", &json!({"type": "message_stop"}));
        Bytes::from(out)
    }
}

/// Anthropic's error `type` for a status.
pub(crate) fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        s if s >= 500 => "api_error",
        _ => "invalid_request_error",
    }
}

/// Middleware: every error response on [`PATH`] (the handler's, and the key check's, body
/// limit's and content-type check's before it) in Anthropic's shape
/// `{"type":"error","error":{"type","message"}}`, status and headers unchanged.
pub async fn anthropic_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    let ours = path == PATH || path == super::count_tokens::PATH;
    let response = next.run(request).await;
    let status = response.status();
    if !ours || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let original: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let message = original["error"]["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_owned()
        });
    let body = json!({"type": "error", "error": {"type": error_type(status), "message": message}});
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::cache::assemble::Assembler;
    use crate::openai::wire::{ChunkChoice, Delta};

    /// A `/v1/messages` client gets the cache reads and writes apart from `input_tokens`, as
    /// Anthropic reports them, whichever upstream answered; counts above the input are cut.
    #[test]
    fn usage_counts_cache_reads_and_writes_apart() {
        let details = |cached, cache_write| TokenDetails {
            cached,
            cache_write,
            reasoning: 0,
        };
        assert_eq!(
            anthropic_usage((10_000, 5), details(6_000, 3_000)),
            json!({"input_tokens": 1_000, "cache_creation_input_tokens": 3_000,
                   "cache_read_input_tokens": 6_000, "output_tokens": 5})
        );
        assert_eq!(
            anthropic_usage((100, 5), details(80, 50)),
            json!({"input_tokens": 0, "cache_creation_input_tokens": 20,
                   "cache_read_input_tokens": 80, "output_tokens": 5})
        );
    }

    #[test]
    fn an_output_format_is_strict_only_where_openais_strict_mode_takes_it() {
        let strict_of = |schema: Value| {
            let body = json!({"model": "auto", "max_tokens": 8,
                "messages": [{"role": "user", "content": "hi"}],
                "output_config": {"format": {"type": "json_schema", "schema": schema}}});
            let req = parse(body.to_string().as_bytes()).unwrap();
            req.response_format.unwrap().json_schema.unwrap()["strict"].clone()
        };
        // Claude takes an optional property; OpenAI's strict mode would answer 400.
        let optional = json!({"type": "object", "properties": {"a": {"type": "string"}},
            "additionalProperties": false});
        assert_eq!(strict_of(optional), json!(false));
        let closed = json!({"type": "object", "properties": {"a": {"type": "string"}},
            "required": ["a"], "additionalProperties": false});
        assert_eq!(strict_of(closed), json!(true));
    }

    /// `output_config.effort` is the chat form's `reasoning_effort`, beside a format; a level
    /// Anthropic does not have is refused naming the ones it has.
    #[test]
    fn an_effort_becomes_reasoning_effort_and_unknown_levels_are_refused() {
        let parsed = |config: Value| {
            let body = json!({"model": "auto", "max_tokens": 8, "output_config": config,
                "messages": [{"role": "user", "content": "hi"}]});
            parse(body.to_string().as_bytes())
        };
        for level in effort::LEVELS {
            let req = parsed(json!({"effort": level})).unwrap();
            assert_eq!(req.extra["reasoning_effort"], level);
            assert!(req.response_format.is_none());
        }
        let req = parsed(json!({"effort": "low", "format": {"type": "json_schema",
            "schema": {"type": "object"}}}))
        .unwrap();
        assert_eq!(req.extra["reasoning_effort"], "low");
        assert!(req.response_format.is_some());
        for none in [json!({}), json!({"effort": null})] {
            assert!(!parsed(none).unwrap().extra.contains_key("reasoning_effort"));
        }
        for bad in ["extreme", "minimal", "none", "High"] {
            let e = parsed(json!({"effort": bad})).unwrap_err();
            assert!(matches!(e, ApiError::InvalidRequest(_)), "{bad}: {e}");
            assert!(
                e.to_string()
                    .contains("output_config.effort: must be one of low, medium, high, xhigh, max"),
                "{e}"
            );
        }
        assert!(parsed(json!({"effort": 3})).is_err());
    }

    #[test]
    fn parses_system_blocks_multi_turn_tools_and_images() {
        let body = json!({
            "model": "auto",
            "max_tokens": 64,
            "system": [{"type": "text", "text": "Be brief."}],
            "stop_sequences": ["END"],
            "metadata": {"user_id": "u1"},
            "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "get_weather"},
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": true,
                     "content": [{"type": "text", "text": "18C"}]},
                    {"type": "text", "text": "And this?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}}
                ]}
            ]
        });
        let req = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(req.max_tokens, Some(64));
        assert_eq!(req.user.as_deref(), Some("u1"));
        // Anthropic's API takes a null (or absent) end-user id; so does this endpoint.
        for metadata in [json!({"user_id": null}), json!({})] {
            let mut b = body.clone();
            b["metadata"] = metadata;
            assert_eq!(parse(b.to_string().as_bytes()).unwrap().user, None);
        }
        assert_eq!(req.stop, Some(Stop::Many(vec!["END".into()])));
        let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                Role::System,
                Role::User,
                Role::Assistant,
                Role::Tool,
                Role::User
            ]
        );
        assert_eq!(req.messages[0].text_content(), "Be brief.");
        let call = &req.messages[2].tool_calls.as_ref().unwrap()[0];
        assert_eq!(call.function.arguments, r#"{"city":"Paris"}"#);
        assert_eq!(req.messages[3].tool_call_id.as_deref(), Some("toolu_1"));
        assert_eq!(req.messages[3].text_content(), "Error: 18C");
        assert!(req.messages[4].has_image());
        assert_eq!(req.tool_choice.unwrap()["function"]["name"], "get_weather");
        assert_eq!(req.tools.unwrap()[0].function.name, "get_weather");
    }

    /// A thinking block's text comes back as the turn's `reasoning_content` (DeepSeek needs
    /// it); redacted and empty thinking add nothing.
    #[test]
    fn an_assistant_turns_thinking_text_becomes_its_reasoning() {
        let body = json!({"model": "auto", "max_tokens": 64, "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Call the tool.", "signature": ""},
                {"type": "redacted_thinking", "data": "enc"},
                {"type": "thinking", "thinking": "", "signature": "s"},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "rain"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Rain."}]},
            {"role": "user", "content": "Thanks"}
        ]});
        let req = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(req.messages[1].extra["reasoning_content"], "Call the tool.");
        assert!(!req.messages[3].extra.contains_key("reasoning_content"));
    }

    #[test]
    fn refuses_what_it_cannot_carry_by_name() {
        let no_max = json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]});
        let e = parse(no_max.to_string().as_bytes()).unwrap_err();
        assert!(e.to_string().contains("max_tokens"), "{e}");
        let top_k = json!({"model": "auto", "max_tokens": 5, "top_k": 3,
                           "messages": [{"role": "user", "content": "hi"}]});
        assert!(parse(top_k.to_string().as_bytes())
            .unwrap_err()
            .to_string()
            .contains("top_k"));
        let document = json!({"model": "auto", "max_tokens": 5, "messages": [{"role": "user",
            "content": [{"type": "document", "source": {}}]}]});
        let e = parse(document.to_string().as_bytes()).unwrap_err();
        assert!(e.to_string().contains("document"), "{e}");
        assert!(parse(b"[1]").is_err());
        assert!(parse(b"not json").is_err());
    }

    fn chunk(delta: Delta, finish: Option<FinishReason>) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: "c1".into(),
            object: "chat.completion.chunk".into(),
            created: 1,
            model: "m".into(),
            choices: vec![ChunkChoice {
                delta,
                finish_reason: finish,
                ..Default::default()
            }],
            usage: None,
            system_fingerprint: None,
        }
    }

    fn names(s: &str) -> Vec<&str> {
        s.lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect()
    }

    /// Reasoning (Claude's thinking, DeepSeek's `reasoning_content`) becomes a `thinking`
    /// block before the text, streamed or not, and a later one after it.
    #[test]
    fn reasoning_becomes_thinking_blocks() {
        let mut e = StreamEncoder::new(5);
        let mut all = String::new();
        let think = |t: &str| Delta {
            reasoning_content: Some(t.into()),
            ..Default::default()
        };
        let text = |t: &str| Delta {
            content: Some(t.into()),
            ..Default::default()
        };
        for c in [
            chunk(think("Check "), None),
            chunk(think("the map."), None),
            chunk(text("Oslo"), None),
            chunk(think("Sure."), None),
            call_chunk(0, Some("call_1"), Some("f"), Some("{}")),
            chunk(Delta::default(), Some(FinishReason::ToolCalls)),
        ] {
            if let Some(b) = e.chunk(&c) {
                all.push_str(std::str::from_utf8(&b).unwrap());
            }
        }
        all.push_str(std::str::from_utf8(&e.done((7, 3))).unwrap());
        let data: Vec<Value> = all
            .split("\n\n")
            .filter_map(|ev| ev.lines().find_map(|l| l.strip_prefix("data: ")))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let blocks: Vec<(u64, String)> = data
            .iter()
            .filter(|d| d["type"] == "content_block_start")
            .map(|d| {
                (
                    d["index"].as_u64().unwrap(),
                    d["content_block"]["type"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            blocks,
            [
                (0, "thinking".to_owned()),
                (1, "text".to_owned()),
                (2, "thinking".to_owned()),
                (3, "tool_use".to_owned())
            ]
        );
        let thinking: String = data
            .iter()
            .filter(|d| d["delta"]["type"] == "thinking_delta" && d["index"] == 0)
            .map(|d| d["delta"]["thinking"].as_str().unwrap())
            .collect();
        assert_eq!(thinking, "Check the map.");
        // Each block closes before the next opens (the tool call's at the end).
        let stops: Vec<u64> = data
            .iter()
            .filter(|d| d["type"] == "content_block_stop")
            .map(|d| d["index"].as_u64().unwrap())
            .collect();
        assert_eq!(stops, [0, 1, 2, 3]);
        assert_eq!(data[1]["content_block"]["signature"], "");

        let mut completion: ChatCompletionResponse = serde_json::from_value(json!({
            "id": "c2", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": "Oslo", "reasoning_content": "Check the map."}}]
        }))
        .unwrap();
        let body = message_body(&completion, (7, 3));
        assert_eq!(
            body["content"],
            json!([{"type": "thinking", "thinking": "Check the map.", "signature": ""},
                   {"type": "text", "text": "Oslo"}])
        );
        completion.choices[0].message.reasoning_content = None;
        let body = message_body(&completion, (7, 3));
        assert_eq!(body["content"], json!([{"type": "text", "text": "Oslo"}]));
    }

    #[test]
    fn stream_events_follow_anthropics_sequence() {
        let mut e = StreamEncoder::new(5);
        let mut all = String::new();
        let text = |t: &str| Delta {
            content: Some(t.into()),
            ..Default::default()
        };
        for c in [
            chunk(text("Hel"), None),
            chunk(text("lo"), None),
            call_chunk(0, Some("call_1"), Some("f"), Some("{\"a\":")),
            chunk(Delta::default(), Some(FinishReason::ToolCalls)),
        ] {
            if let Some(b) = e.chunk(&c) {
                all.push_str(std::str::from_utf8(&b).unwrap());
            }
        }
        all.push_str(std::str::from_utf8(&e.done((7, 3))).unwrap());
        assert_eq!(
            names(&all),
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert!(all.contains(r#""stop_reason":"tool_use""#), "{all}");
        assert!(all.contains(r#""output_tokens":3"#), "{all}");
        assert!(all.contains(r#""index":1"#), "{all}");
    }

    fn call_chunk(
        index: u32,
        id: Option<&str>,
        name: Option<&str>,
        args: Option<&str>,
    ) -> ChatCompletionChunk {
        chunk(
            Delta {
                tool_calls: Some(vec![ToolCallDelta::for_test(index, id, name, args)]),
                ..Default::default()
            },
            None,
        )
    }

    /// The `tool_use` blocks a stream makes, as the SDKs' stream helpers put them together
    /// (each block by its `index`: `content_block_start`, then its `input_json_delta`s), after
    /// checking that every delta and stop names a started block.
    fn tool_uses(all: &str) -> Vec<Value> {
        let mut blocks: Vec<(Value, String)> = Vec::new();
        for data in all.lines().filter_map(|l| l.strip_prefix("data: ")) {
            let v: Value = serde_json::from_str(data).unwrap();
            let index = v["index"].as_u64().map(|i| i as usize);
            match v["type"].as_str().unwrap() {
                "content_block_start" => {
                    assert_eq!(index, Some(blocks.len()), "{v}");
                    blocks.push((v["content_block"].clone(), String::new()));
                }
                "content_block_delta" => {
                    let (_, json) = &mut blocks[index.unwrap()];
                    if let Some(partial) = v["delta"]["partial_json"].as_str() {
                        json.push_str(partial);
                    }
                }
                "content_block_stop" => assert!(index.unwrap() < blocks.len(), "{v}"),
                _ => {}
            }
        }
        blocks
            .into_iter()
            .filter(|(b, _)| b["type"] == "tool_use")
            .map(|(mut block, json)| {
                block["input"] = serde_json::from_str(&json).unwrap();
                block
            })
            .collect()
    }

    /// A call whose name comes in a later fragment that repeats `"id": ""` (DashScope's
    /// continuation) starts its block with the first fragment's id. Before, the empty id won
    /// and the block was `toolu_0`, while the stored answer said `""`.
    #[test]
    fn an_empty_id_before_the_name_keeps_the_calls_id() {
        let chunks = [
            call_chunk(0, Some("call_1"), None, Some("{\"a\":")),
            call_chunk(0, Some(""), Some("f"), Some("1}")),
            chunk(Delta::default(), Some(FinishReason::ToolCalls)),
        ];
        let mut e = StreamEncoder::new(5);
        let mut all = String::new();
        for c in &chunks {
            if let Some(b) = e.chunk(c) {
                all.push_str(std::str::from_utf8(&b).unwrap());
            }
        }
        all.push_str(std::str::from_utf8(&e.done((7, 3))).unwrap());
        let expected =
            vec![json!({"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}})];
        assert_eq!(tool_uses(&all), expected, "{all}");
        let stored = Assembler::of_chunks(&chunks, (7, 3)).unwrap();
        assert_eq!(
            message_body(&stored, (7, 3))["content"],
            Value::Array(expected)
        );
    }

    /// Fragments of parallel calls interleaved across indexes (and a name that comes after the
    /// first fragment) make one `tool_use` block per call with its own id, name and input, as
    /// `cache::assemble` puts the answer together: the live stream, the cached replay of it
    /// and the non-streamed answer agree. Before, every change of index opened a new block:
    /// blocks with empty names and `toolu_0`-style ids.
    #[test]
    fn interleaved_tool_call_fragments_make_one_block_per_call() {
        let chunks = [
            call_chunk(0, Some("call_A"), Some("fa"), Some("")),
            call_chunk(1, Some("call_B"), Some("fb"), None),
            call_chunk(0, None, None, Some("{\"a\":")),
            call_chunk(1, None, None, Some("{\"b\":2}")),
            call_chunk(0, None, None, Some("1}")),
            call_chunk(2, Some("call_C"), None, Some("{\"c\":")),
            call_chunk(2, None, Some("fc"), Some("3}")),
            chunk(Delta::default(), Some(FinishReason::ToolCalls)),
        ];
        let encode = |chunks: &[ChatCompletionChunk]| {
            let mut e = StreamEncoder::new(5);
            let mut all = String::new();
            for c in chunks {
                if let Some(b) = e.chunk(c) {
                    all.push_str(std::str::from_utf8(&b).unwrap());
                }
            }
            all.push_str(std::str::from_utf8(&e.done((7, 3))).unwrap());
            all
        };
        let live = encode(&chunks);
        let expected = vec![
            json!({"type": "tool_use", "id": "call_A", "name": "fa", "input": {"a": 1}}),
            json!({"type": "tool_use", "id": "call_B", "name": "fb", "input": {"b": 2}}),
            json!({"type": "tool_use", "id": "call_C", "name": "fc", "input": {"c": 3}}),
        ];
        assert_eq!(tool_uses(&live), expected, "{live}");
        assert!(live.contains(r#""stop_reason":"tool_use""#), "{live}");
        let starts = live.matches("content_block_start").count();
        let stops = live.matches("\"content_block_stop\"").count();
        assert_eq!((starts / 2, stops), (3, 3), "{live}");

        let stored = Assembler::of_chunks(&chunks, (7, 3)).unwrap();
        let replay = encode(&crate::cache::replay::chunks(&stored, (7, 3)));
        assert_eq!(tool_uses(&replay), expected, "{replay}");
        let body = message_body(&stored, (7, 3));
        assert_eq!(body["content"], Value::Array(expected));
        // A call without an id is `toolu_{index}` live and replayed.
        let chunks = [
            call_chunk(0, None, Some("f"), Some("{}")),
            chunk(Delta::default(), Some(FinishReason::ToolCalls)),
        ];
        let stored = Assembler::of_chunks(&chunks, (7, 3)).unwrap();
        for all in [
            encode(&chunks),
            encode(&crate::cache::replay::chunks(&stored, (7, 3))),
        ] {
            assert_eq!(tool_uses(&all)[0]["id"], "toolu_0", "{all}");
        }
        assert_eq!(message_body(&stored, (7, 3))["content"][0]["id"], "toolu_0");
    }
}
