//! The Anthropic Messages adapter: OpenAI chat requests in, `POST {base_url}/v1/messages` out.
//!
//! Translation (see [`messages_request`]): `system`/`developer` messages become `system`;
//! `tool` messages become `tool_result` blocks in a user turn; consecutive turns of one role
//! merge, as Anthropic requires alternation; `max_tokens` defaults to
//! [`DEFAULT_MAX_TOKENS`]; `temperature` is clamped to Anthropic's `[0, 1]`, and `top_p` is
//! left out when `temperature` is set; tools and `tool_choice` map to Anthropic's; images
//! become `image` blocks (base64 or URL); blank (empty or whitespace-only) text is left out,
//! as Anthropic refuses it; `user` goes as `metadata.user_id` in hashed form
//! (`user_id`); a `json_schema` response format goes as `output_config.format` to Claude 4.5
//! and later, its schema rewritten to what Claude takes ([`structured`]); `reasoning_effort`
//! (fitted to the model by `upstream::fit`) as `output_config.effort` beside it ([`effort`]).
//! Refused: `n` above 1 (Anthropic gives one answer). Not translated: `json_object` (Claude
//! has no schema-free JSON mode: the catalog gives Claude `structured_outputs`, not
//! `json_mode`, so such requests are not routed to it), logprobs.
//!
//! Errors: a 402 `billing_error`, and a 400 that says the credit balance is too low or a
//! spend or usage limit was reached, are the gateway's account's problem, not the request's
//! (`status_error`): they fail over and count against the provider's circuit breaker.

pub mod effort;
mod prompt_cache;
mod stream;
pub mod structured;
mod thinking;
pub mod wire;

/// The stream translation over an SSE body, for the property tests (`crate::proptests`).
#[cfg(test)]
pub(crate) fn translate_sse(events: crate::upstream::sse::SseStream) -> ChunkStream {
    stream::translate(events, "claude-x".to_owned(), CallMemo::default())
}

#[cfg(test)]
mod tests;

use std::time::{SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::call_memo::CallMemo;
use super::{ChunkStream, Provider, ProviderKind, UpstreamError};
use crate::openai::wire::{
    ChatCompletionRequest, ChatCompletionResponse, ChatMessage, Choice, ContentPart, FinishReason,
    FunctionCall, MessageContent, ResponseFormat, ResponseMessage, Role, ToolCall, Usage,
};
use crate::secret::Secret;
use crate::upstream::UpstreamErrorKind;
use wire::{
    ContentBlock, ImageSource, Message, MessageRole, MessagesRequest, MessagesResponse, Metadata,
    OutputConfig, OutputFormat, ResponseBlock, ToolChoice, ToolDef, API_VERSION,
};

/// `max_tokens` sent when the client set no output limit (Anthropic requires one). An OpenAI
/// client that sets none expects a whole answer, and 1,024 cut code and long answers short
/// (and, on Claude 5.x, whose adaptive thinking counts against it, sometimes left no room
/// for the answer). 4,096 is the largest every Claude model since Claude 3 accepts; larger
/// values would also reserve more of the key's output-tokens-per-minute limit, which
/// Anthropic charges from `max_tokens` up front. Clients that need more set it.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// An Anthropic Messages upstream.
#[derive(Clone, Debug)]
pub struct AnthropicProvider {
    client: reqwest::Client,
    root: String,
    url: String,
    api_key: Option<Secret<String>>,
    response_limit: usize,
    /// Thinking blocks by the tool calls they preceded ([`thinking`]).
    thinking: CallMemo,
    /// Whether requests get prompt-cache breakpoints ([`prompt_cache`]).
    prompt_cache: bool,
}

impl AnthropicProvider {
    /// `base_url` is the API root without version, e.g. `https://api.anthropic.com`; the key is
    /// sent as `x-api-key`.
    pub fn new(client: reqwest::Client, base_url: String, api_key: Option<Secret<String>>) -> Self {
        let root = base_url.trim_end_matches('/').to_owned();
        let url = format!("{root}/v1/messages");
        AnthropicProvider {
            client,
            root,
            url,
            api_key,
            response_limit: super::DEFAULT_RESPONSE_LIMIT_BYTES,
            thinking: CallMemo::default(),
            prompt_cache: true,
        }
    }

    /// Whether requests get prompt-cache breakpoints (`[[providers]] prompt_cache`; on
    /// unless turned off).
    pub fn with_prompt_cache(mut self, on: bool) -> Self {
        self.prompt_cache = on;
        self
    }

    /// Keeps thinking blocks in the gateway's memo (shared by its providers and, with
    /// `[redis]`, its replicas) instead of this adapter's own.
    pub fn with_memos(mut self, memos: &super::call_memo::Memos) -> Self {
        self.thinking = memos.thinking.clone();
        self
    }

    /// Caps the size of a non-streamed answer (and of error bodies) read from the upstream.
    pub fn with_response_limit(mut self, bytes: usize) -> Self {
        self.response_limit = bytes;
        self
    }

    async fn send(&self, body: &MessagesRequest) -> Result<reqwest::Response, UpstreamError> {
        let mut builder = self
            .client
            .post(&self.url)
            .header("anthropic-version", API_VERSION);
        builder = if self.prompt_cache {
            let mut marked = serde_json::to_value(body).map_err(|e| {
                UpstreamError::decode(format!("serialising the anthropic request: {e}"))
            })?;
            prompt_cache::mark(&mut marked);
            builder.json(&marked)
        } else {
            builder.json(body)
        };
        if let Some(key) = &self.api_key {
            builder = builder.header("x-api-key", key.expose());
        }
        super::send_checked(builder, self.response_limit, status_error).await
    }
}

/// What a 400 `invalid_request_error` says when the fault is the account's: "Your credit
/// balance is too low to access the Anthropic API", "You have reached your specified API
/// usage limits", a workspace's spend limit. Compared in lower case.
const ACCOUNT_MESSAGES: &[&str] = &[
    "credit balance",
    "spend limit",
    "spending limit",
    "usage limit",
];

/// Classifies a non-2xx answer, or a stream's `error` event under its type's status
/// ([`wire::ErrorBody::status`]). A 402 (`billing_error`), and a 400 whose error is a
/// `billing_error` or says the credit balance is too low or a spend or usage limit was
/// reached, are the account's fault: retryable upstream errors
/// ([`UpstreamError::account`]), not the client's bad request. Everything else as
/// [`UpstreamError::from_status`].
pub(crate) fn status_error(
    status: u16,
    retry_after: Option<std::time::Duration>,
    body: &str,
) -> UpstreamError {
    if is_account_error(status, body) {
        return UpstreamError::account(status, body);
    }
    UpstreamError::from_status(status, retry_after, body)
}

fn is_account_error(status: u16, body: &str) -> bool {
    match status {
        402 => true,
        400 => {
            let Ok(parsed) = serde_json::from_str::<Value>(body) else {
                return false;
            };
            if parsed.pointer("/error/type").and_then(Value::as_str) == Some("billing_error") {
                return true;
            }
            let message = parsed
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_lowercase();
            ACCOUNT_MESSAGES.iter().any(|m| message.contains(m))
        }
        _ => false,
    }
}

/// The `metadata.user_id` sent for an OpenAI `user`: its SHA-256 in hex. Anthropic refuses a
/// `user_id` that looks like an email address or a phone number (400 "Please send a uuid or
/// hash value"), and OpenAI clients often send the end user's email; the digest still names
/// the same end user on every request. A blank `user` sends none.
fn user_id(user: &str) -> Option<String> {
    (!user.trim().is_empty()).then(|| hex::encode(Sha256::digest(user.as_bytes())))
}

impl Provider for AnthropicProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Anthropic
    }

    fn list_models(
        &self,
    ) -> BoxFuture<'_, Result<Vec<super::listing::OfferedModel>, UpstreamError>> {
        let key = self.api_key.as_ref().map(|k| k.expose().as_str());
        super::listing::anthropic(&self.client, &self.root, API_VERSION, key).boxed()
    }

    fn model<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<super::listing::OfferedModel>, UpstreamError>> {
        let key = self.api_key.as_ref().map(|k| k.expose().as_str());
        super::listing::anthropic_one(&self.client, &self.root, API_VERSION, key, name).boxed()
    }

    fn complete<'a>(
        &'a self,
        req: &'a ChatCompletionRequest,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<ChatCompletionResponse, UpstreamError>> {
        async move {
            let memo = self.thinking.scoped(req.memo_scope.as_deref());
            let body = messages_request(req, upstream_model, false, &memo)?;
            let response = self
                .send(&body)
                .await
                .map_err(|e| schema_refused(&body, e))?;
            let bytes = super::read_capped(response, self.response_limit).await?;
            let parsed: MessagesResponse = serde_json::from_slice(&bytes)
                .map_err(|e| UpstreamError::decode(format!("anthropic message body: {e}")))?;
            Ok(chat_response(parsed, upstream_model, &memo))
        }
        .boxed()
    }

    fn stream<'a>(
        &'a self,
        req: &'a ChatCompletionRequest,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<ChunkStream, UpstreamError>> {
        async move {
            let memo = self.thinking.scoped(req.memo_scope.as_deref());
            let body = messages_request(req, upstream_model, true, &memo)?;
            let response = self
                .send(&body)
                .await
                .map_err(|e| schema_refused(&body, e))?;
            Ok(stream::chunks(response, upstream_model.to_owned(), memo))
        }
        .boxed()
    }
}

/// A 400 to a request that carried an answer schema is most likely Claude refusing the schema
/// (a recursive one, `allOf` with `$ref`, a map-typed object: structured outputs take a
/// subset of JSON Schema that the rewrite in [`structured`] cannot always reach): a model of
/// another provider may take it, so the next candidate is tried (breaker-neutral) instead of
/// the client getting Claude's 400 for a model it may not have chosen. An `output_config`
/// holding only an effort does not count: that is no schema to refuse.
fn schema_refused(body: &MessagesRequest, err: UpstreamError) -> UpstreamError {
    let schema = body
        .output_config
        .as_ref()
        .is_some_and(|c| c.format.is_some());
    if schema && err.kind == UpstreamErrorKind::BadRequest {
        err.elsewhere()
    } else {
        err
    }
}

/// Translates an OpenAI chat request into a Messages request for `upstream_model`, giving the
/// model back the thinking it did before its tool calls where `memo` kept it.
pub fn messages_request(
    req: &ChatCompletionRequest,
    upstream_model: &str,
    stream: bool,
    memo: &CallMemo,
) -> Result<MessagesRequest, UpstreamError> {
    // Answering one choice to a request for several would break clients that read the others.
    if req.n.is_some_and(|n| n > 1) {
        return Err(UpstreamError::one_answer_only(
            "n: Anthropic's Messages API gives one answer per request; send n = 1",
        ));
    }
    let mut system: Vec<String> = Vec::new();
    let mut messages: Vec<Message> = Vec::new();
    for message in &req.messages {
        let (role, blocks) = match message.role {
            Role::System | Role::Developer => {
                let text = message.text_content();
                if !is_blank(&text) {
                    system.push(text);
                }
                continue;
            }
            Role::User => (MessageRole::User, user_blocks(message)),
            Role::Assistant => {
                let mut blocks = thinking::recall(memo, upstream_model, message);
                blocks.extend(assistant_blocks(message)?);
                (MessageRole::Assistant, blocks)
            }
            Role::Tool => (
                MessageRole::User,
                vec![ContentBlock::ToolResult {
                    tool_use_id: message.tool_call_id.clone().unwrap_or_default(),
                    content: message.text_content(),
                    is_error: None,
                }],
            ),
        };
        if blocks.is_empty() {
            continue;
        }
        // Anthropic requires alternating roles: merge consecutive turns of one role (several
        // tool results, or a tool result followed by a user message).
        match messages.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => messages.push(Message {
                role,
                content: blocks,
            }),
        }
    }
    for m in messages
        .iter_mut()
        .filter(|m| m.role == MessageRole::Assistant)
    {
        thinking::lead(&mut m.content);
    }
    if messages.is_empty() {
        return Err(UpstreamError::untranslatable(
            "the conversation has no user or assistant message",
        ));
    }
    let tools = req.tools.as_ref().map(|tools| {
        tools
            .iter()
            .map(|t| ToolDef {
                name: t.function.name.clone(),
                description: t.function.description.clone(),
                input_schema: t
                    .function
                    .parameters
                    .clone()
                    .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
            })
            .collect()
    });
    // A schema goes to the models that hold an answer to one; an older Claude asked for one
    // (a catalog that says it can) fails the attempt rather than answer free text.
    let format = match req
        .response_format
        .as_ref()
        .and_then(ResponseFormat::schema)
    {
        Some(_) if !structured::takes_output_format(upstream_model) => {
            return Err(UpstreamError::untranslatable(format!(
                "response_format json_schema: `{upstream_model}` cannot be held to a schema \
                 (structured outputs start with Claude 4.5)"
            )));
        }
        Some(schema) => Some(OutputFormat {
            kind: "json_schema".to_owned(),
            schema: structured::output_schema(schema),
        }),
        None => None,
    };
    // `upstream::fit` has left `reasoning_effort` only where the model takes an effort, as
    // the nearest level it takes ([`effort`]).
    let effort = req
        .extra
        .get("reasoning_effort")
        .and_then(Value::as_str)
        .and_then(effort::level)
        .map(str::to_owned);
    let output_config =
        (format.is_some() || effort.is_some()).then_some(OutputConfig { format, effort });
    Ok(MessagesRequest {
        model: upstream_model.to_owned(),
        max_tokens: req.output_limit().unwrap_or(DEFAULT_MAX_TOKENS),
        messages,
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        // OpenAI allows up to 2, Anthropic up to 1.
        temperature: req.temperature.map(|t| t.clamp(0.0, 1.0)),
        // Claude Sonnet 4.5, Haiku 4.5 and Opus 4.1/4.5 answer 400 to both ("`temperature`
        // and `top_p` cannot both be specified for this model"), and many clients send both;
        // every Claude model takes either alone.
        top_p: req.top_p.filter(|_| req.temperature.is_none()),
        stop_sequences: req.stop.as_ref().map(|s| s.to_vec()),
        stream: stream.then_some(true),
        tools,
        tool_choice: tool_choice_of(req),
        metadata: req
            .user
            .as_deref()
            .and_then(user_id)
            .map(|user_id| Metadata {
                user_id: Some(user_id),
            }),
        output_config,
        // As the client asked (`/v1/messages`' `thinking`); `upstream::fit` leaves it only for
        // models that think on request.
        thinking: req
            .extra
            .get(crate::upstream::THINKING)
            .and_then(|v| serde_json::from_value(v.clone()).ok()),
    })
}

/// Whether a text is empty or whitespace only: Anthropic refuses such text blocks ("text
/// content blocks must contain non-whitespace text"), so they are left out.
fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// The user's text and image blocks, without blank text ([`is_blank`]).
fn user_blocks(message: &ChatMessage) -> Vec<ContentBlock> {
    match &message.content {
        None => Vec::new(),
        Some(MessageContent::Text(text)) if is_blank(text) => Vec::new(),
        Some(MessageContent::Text(text)) => vec![ContentBlock::Text { text: text.clone() }],
        Some(MessageContent::Parts(parts)) => parts
            .iter()
            .filter_map(|part| match part {
                ContentPart::Text { text } if is_blank(text) => None,
                ContentPart::Text { text } => Some(ContentBlock::Text { text: text.clone() }),
                ContentPart::ImageUrl { image_url } => Some(ContentBlock::Image {
                    source: image_source(&image_url.url),
                }),
            })
            .collect(),
    }
}

fn assistant_blocks(message: &ChatMessage) -> Result<Vec<ContentBlock>, UpstreamError> {
    let mut blocks = Vec::new();
    let text = message.text_content();
    if !is_blank(&text) {
        blocks.push(ContentBlock::Text { text });
    }
    for call in message.tool_calls.iter().flatten() {
        let input = super::call_input(&call.id, &call.function.arguments)?;
        blocks.push(ContentBlock::ToolUse {
            id: call.id.clone(),
            name: call.function.name.clone(),
            input,
        });
    }
    Ok(blocks)
}

/// `data:<mime>;base64,<data>` becomes inline bytes; anything else is passed as a URL.
fn image_source(url: &str) -> ImageSource {
    let inline = url.strip_prefix("data:").and_then(|rest| {
        let (meta, data) = rest.split_once(',')?;
        let media_type = meta.strip_suffix(";base64")?;
        Some(ImageSource::Base64 {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
        })
    });
    inline.unwrap_or_else(|| ImageSource::Url {
        url: url.to_owned(),
    })
}

/// The request's `tool_choice` in Anthropic's shape, with OpenAI's `parallel_tool_calls:
/// false` as `disable_parallel_tool_use` (an agent that handles one call per turn relies on
/// it; without tools there is nothing to limit).
fn tool_choice_of(req: &ChatCompletionRequest) -> Option<ToolChoice> {
    let has_tools = req.tools.as_ref().is_some_and(|t| !t.is_empty());
    let one = (has_tools && req.extra.get("parallel_tool_calls") == Some(&Value::Bool(false)))
        .then_some(true);
    match req.tool_choice.as_ref().map(|c| tool_choice(c, one)) {
        Some(choice) => choice,
        None => one.map(|_| ToolChoice::Auto {
            disable_parallel_tool_use: one,
        }),
    }
}

/// OpenAI `tool_choice` (`"none"`, `"auto"`, `"required"` or a named function).
fn tool_choice(choice: &Value, one: Option<bool>) -> Option<ToolChoice> {
    match choice {
        Value::String(s) => match s.as_str() {
            "none" => Some(ToolChoice::None),
            "auto" => Some(ToolChoice::Auto {
                disable_parallel_tool_use: one,
            }),
            "required" => Some(ToolChoice::Any {
                disable_parallel_tool_use: one,
            }),
            _ => None,
        },
        Value::Object(_) => choice["function"]["name"]
            .as_str()
            .map(|name| ToolChoice::Tool {
                name: name.to_owned(),
                disable_parallel_tool_use: one,
            }),
        _ => None,
    }
}

/// Maps Anthropic's `stop_reason` to OpenAI's `finish_reason`.
pub fn finish_reason(stop_reason: &str) -> FinishReason {
    match stop_reason {
        "end_turn" | "stop_sequence" | "pause_turn" => FinishReason::Stop,
        // Cut at the context window rather than at `max_tokens`: truncated all the same.
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Translates a Messages response of `upstream_model` into an OpenAI chat completion, keeping
/// the thinking before its tool calls in `memo`.
pub fn chat_response(
    resp: MessagesResponse,
    upstream_model: &str,
    memo: &CallMemo,
) -> ChatCompletionResponse {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    let mut thought = Vec::new();
    // The thinking text, as Anthropic shows it to its own clients (summarised on Claude 4 and
    // later); signatures and redacted thinking stay in `memo` only.
    let mut reasoning = String::new();
    for block in resp.content {
        match block {
            ResponseBlock::Text { text: t } => text.push_str(&t),
            ResponseBlock::ToolUse { id, name, input } => tool_calls.push(ToolCall {
                id,
                kind: "function".to_owned(),
                function: FunctionCall {
                    name,
                    // Clients parse the arguments as an object; Anthropic always sends one, a
                    // proxy in between may not.
                    arguments: match input {
                        Value::Object(_) => input.to_string(),
                        _ => "{}".to_owned(),
                    },
                },
            }),
            ResponseBlock::Thinking {
                thinking,
                signature,
            } => {
                crate::openai::wire::push_reasoning(&mut reasoning, &thinking);
                thought.push(ContentBlock::Thinking {
                    thinking,
                    signature,
                });
            }
            ResponseBlock::RedactedThinking { data } => {
                thought.push(ContentBlock::RedactedThinking { data });
            }
            ResponseBlock::Other => {}
        }
    }
    let ids: Vec<String> = tool_calls.iter().map(|c| c.id.clone()).collect();
    thinking::remember(memo, upstream_model, &thought, &ids);
    let content = (!text.is_empty() || tool_calls.is_empty()).then_some(text);
    ChatCompletionResponse {
        id: resp.id,
        object: "chat.completion".to_owned(),
        created: unix_now(),
        model: resp.model,
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: Role::Assistant,
                content,
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                refusal: None,
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
            },
            stop_sequence: resp
                .stop_sequence
                .filter(|_| resp.stop_reason.as_deref() == Some("stop_sequence")),
            finish_reason: resp.stop_reason.as_deref().map(finish_reason),
            logprobs: None,
        }],
        usage: Some(usage(&resp.usage)),
        system_fingerprint: None,
    }
}

/// Chat's usage from Anthropic's, with the prompt tokens read from the cache (which
/// `prompt_tokens` includes) in OpenAI's `prompt_tokens_details.cached_tokens`, and those
/// written to it (`cache_creation_input_tokens`, also included, billed at a premium) in
/// `prompt_tokens_details.cache_write_tokens` (OpenRouter's name) when there are any.
pub(crate) fn usage(u: &wire::AnthropicUsage) -> Usage {
    let mut usage = Usage::new(u.prompt_tokens(), u.output_tokens);
    let written = u.cache_creation_input_tokens.unwrap_or(0);
    if u.cache_read_input_tokens.is_some() || written > 0 {
        let mut details = serde_json::json!({
            "cached_tokens": u.cache_read_input_tokens.unwrap_or(0),
        });
        if written > 0 {
            details["cache_write_tokens"] = written.into();
        }
        usage.extra.insert("prompt_tokens_details".into(), details);
    }
    usage
}

/// A Claude model's (major, minor) version from its API name (`claude-sonnet-4-5`,
/// `claude-3-7-sonnet-20250219`, `claude-opus-5`, `claude-v1`, `claude-1.3`, Bedrock's
/// `anthropic.claude-sonnet-4-5-20250929-v1:0`, Vertex's `claude-opus-4-5@20251101`, a
/// deployment's dotted `claude-opus-4.7`); `None` when the name holds none (a model the
/// gateway cannot place, treated as current).
pub fn claude_version(upstream: &str) -> Option<(u32, u32)> {
    // Bedrock prefixes the vendor, Vertex adds `@date`.
    let (_, rest) = upstream.split_once("claude-")?;
    let rest = rest.split('@').next().unwrap_or(rest);
    if rest.starts_with("instant") || rest.starts_with('v') || rest.starts_with("2") {
        return Some((2, 0));
    }
    // The first run of numbers split by `-` or `.` is the version; a date (8 digits) is not.
    let numbers: Vec<u32> = rest
        .split(['-', '.'])
        .skip_while(|p| p.parse::<u32>().is_err())
        .take_while(|p| p.len() < 8)
        .map_while(|p| p.parse().ok())
        .collect();
    match numbers.as_slice() {
        [major, minor, ..] => Some((*major, *minor)),
        [major] => Some((*major, 0)),
        [] => None,
    }
}

/// Unix seconds for `created` (Anthropic does not report one).
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
