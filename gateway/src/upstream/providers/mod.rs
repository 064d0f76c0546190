//! Upstream provider adapters behind one trait, [`Provider`].
//!
//! Every adapter speaks OpenAI's wire types at the gateway side ([`crate::openai::wire`]) and its
//! vendor's API upstream. The gateway picks the adapter with [`build_provider`].
//!
//! # Writing an adapter (Anthropic, Gemini)
//!
//! 1. Put it in `providers/<vendor>/`: `mod.rs` (the `impl Provider`), `wire.rs` (the vendor's
//!    serde types), `stream.rs` (vendor SSE → [`ChatCompletionChunk`]), `tests.rs`.
//! 2. Expose `pub struct AnthropicProvider` with
//!    `pub fn new(client: reqwest::Client, base_url: String, api_key: Option<Secret<String>>) -> Self`
//!    and add its arm to [`build_provider`] below (replace the `ProviderUnsupported` arm).
//! 3. Timeouts are NOT your job: the failover loop bounds every call by dropping the future
//!    (`tokio::time::timeout`), which cancels the reqwest request. Do not add your own.
//! 4. Errors: build [`UpstreamError`] with its constructors: [`UpstreamError::from_reqwest`]
//!    for transport errors, [`UpstreamError::from_status`] for a non-2xx answer (pass the
//!    `Retry-After` header through [`retry_after_from_headers`]; the body's message is
//!    extracted and kept short), [`UpstreamError::decode`] for malformed bodies or chunks.
//!    Never put the API key in a message.
//! 5. Streams: read the body with [`crate::upstream::sse::SseStream`] and map every event to a
//!    [`ChatCompletionChunk`] (`choices[0].delta.content` for text, `tool_calls` deltas, a final
//!    chunk with empty `choices` and `usage` when the vendor reports token counts). A stream
//!    that ends without its vendor's terminal event must yield an error
//!    ([`UpstreamError::stream_truncated`]), never end silently.
//! 6. Non-streamed answers: fill `usage` whenever the vendor reports it.

pub mod anthropic;
pub mod call_memo;
pub mod gemini;
pub mod listing;
pub mod openai;
pub(crate) mod stream_steps;

use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::openai::wire::{ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse};
use crate::secret::Secret;
use crate::upstream::error::retry_after_from_headers;
use crate::upstream::error::UpstreamError;

/// The API dialect a provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProviderKind {
    /// OpenAI chat completions: OpenAI, Groq, Together, DeepSeek, Mistral, OpenRouter, vLLM,
    /// Ollama, llama.cpp server and other compatible servers.
    Openai,
    /// Anthropic messages API.
    Anthropic,
    /// Google Gemini `generateContent` API.
    Gemini,
}

impl ProviderKind {
    /// The config-file name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
        }
    }
}

/// A stream of OpenAI-shaped chunks from an upstream.
pub type ChunkStream = BoxStream<'static, Result<ChatCompletionChunk, UpstreamError>>;

/// One upstream API. Implementations are cheap to share (`Arc<dyn Provider>`).
pub trait Provider: Send + Sync {
    /// The dialect.
    fn kind(&self) -> ProviderKind;

    /// A non-streamed completion of `req` by the upstream model `upstream_model` (the
    /// catalog's `upstream_name`, to be used instead of `req.model`).
    fn complete<'a>(
        &'a self,
        req: &'a ChatCompletionRequest,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<ChatCompletionResponse, UpstreamError>>;

    /// A streamed completion. The outer future resolves once the upstream answered with a
    /// success status; errors after that arrive as stream items.
    fn stream<'a>(
        &'a self,
        req: &'a ChatCompletionRequest,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<ChunkStream, UpstreamError>>;

    /// A non-streamed completion through OpenAI's Responses API (`POST /responses`), for the
    /// models the catalog marks `responses_api`; an adapter of another dialect serves it as
    /// [`Provider::complete`].
    fn complete_responses<'a>(
        &'a self,
        req: &'a ChatCompletionRequest,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<ChatCompletionResponse, UpstreamError>> {
        self.complete(req, upstream_model)
    }

    /// A streamed completion through OpenAI's Responses API; see
    /// [`Provider::complete_responses`].
    fn stream_responses<'a>(
        &'a self,
        req: &'a ChatCompletionRequest,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<ChunkStream, UpstreamError>> {
        self.stream(req, upstream_model)
    }

    /// The models this upstream offers to this key, from its "list models" endpoint. Start-up
    /// uses it to keep models the provider no longer serves out of `auto`.
    fn list_models(&self) -> BoxFuture<'_, Result<Vec<listing::OfferedModel>, UpstreamError>>;

    /// One model by the name requests use (`GET …/models/{name}`, which resolves aliases a
    /// list does not show); `Ok(None)` when the provider says there is no such model.
    fn model<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<listing::OfferedModel>, UpstreamError>>;

    /// `POST /embeddings` with `body` (OpenAI's embeddings request, the upstream model name
    /// already in it); the answer's JSON. Only the OpenAI dialect has it: other adapters
    /// refuse (the config never points an embeddings model at them).
    fn embeddings<'a>(
        &'a self,
        body: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<serde_json::Value, UpstreamError>> {
        let _ = body;
        Box::pin(async move {
            Err(UpstreamError::untranslatable(format!(
                "{} providers have no embeddings endpoint",
                self.kind().as_str()
            )))
        })
    }
}

/// The non-streamed answer cap of an adapter built without [`build_provider`] (tests).
pub const DEFAULT_RESPONSE_LIMIT_BYTES: usize = 32 * 1024 * 1024;

/// Longest error body read from an upstream: only its message is kept anyway.
const ERROR_BODY_LIMIT_BYTES: usize = 64 * 1024;

/// Reads a response body, refusing one larger than `limit` bytes without buffering past it.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<bytes::Bytes, UpstreamError> {
    if response
        .content_length()
        .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return Err(UpstreamError::too_large(limit));
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| UpstreamError::from_reqwest(&e))?
    {
        if body.len() + chunk.len() > limit {
            return Err(UpstreamError::too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Builds the adapter for `kind`, keeping what models attach to their tool calls in `memos`
/// (the gateway's); non-streamed answers larger than `response_limit` bytes are refused
/// ([`UpstreamError::too_large`]). `prompt_cache`: whether an Anthropic adapter marks
/// prompt-cache breakpoints (the others ignore it: their APIs cache by themselves).
pub fn build_provider(
    kind: ProviderKind,
    client: reqwest::Client,
    base_url: String,
    api_key: Option<Secret<String>>,
    response_limit: usize,
    memos: &call_memo::Memos,
    prompt_cache: bool,
) -> Result<Box<dyn Provider>, crate::Error> {
    match kind {
        ProviderKind::Openai => Ok(Box::new(
            openai::OpenAiProvider::new(client, base_url, api_key)
                .with_response_limit(response_limit)
                .with_memos(memos),
        )),
        ProviderKind::Anthropic => Ok(Box::new(
            anthropic::AnthropicProvider::new(client, base_url, api_key)
                .with_response_limit(response_limit)
                .with_memos(memos)
                .with_prompt_cache(prompt_cache),
        )),
        ProviderKind::Gemini => Ok(Box::new(
            gemini::GeminiProvider::new(client, base_url, api_key)
                .with_response_limit(response_limit)
                .with_memos(memos),
        )),
    }
}

/// Sends an upstream request and turns a non-2xx answer into an [`UpstreamError`] with
/// `classify(status, retry_after, body)`, the one place every adapter's HTTP errors go through.
pub(crate) async fn send_checked(
    builder: reqwest::RequestBuilder,
    limit: usize,
    classify: fn(u16, Option<Duration>, &str) -> UpstreamError,
) -> Result<reqwest::Response, UpstreamError> {
    let response = builder
        .send()
        .await
        .map_err(|e| UpstreamError::from_reqwest(&e))?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    if status.is_redirection() {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok());
        return Err(UpstreamError::redirect(status.as_u16(), location));
    }
    let retry_after = retry_after_from_headers(response.headers());
    // Only the error body's message is kept; failing to read it (or a huge one) only loses
    // the message.
    let body = read_capped(response, limit.min(ERROR_BODY_LIMIT_BYTES))
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    Err(classify(status.as_u16(), retry_after, &text))
}

/// A history tool call's arguments as the object Anthropic's `input` and Gemini's `args` must
/// be. Blank arguments and ones that parse to anything but an object (`"null"`, which a
/// Gemini call without `args` used to become) are `{}`: both vendors refuse any other value
/// (Anthropic answers 400 to `input: null`), and such a call has no arguments to lose.
/// Arguments that are not JSON are the client's error.
pub(crate) fn call_input(id: &str, arguments: &str) -> Result<serde_json::Value, UpstreamError> {
    if arguments.trim().is_empty() {
        return Ok(serde_json::Value::Object(serde_json::Map::new()));
    }
    let value: serde_json::Value = serde_json::from_str(arguments).map_err(|e| {
        UpstreamError::untranslatable(format!(
            "tool call `{id}` has arguments that are not JSON: {e}"
        ))
    })?;
    Ok(match value {
        serde_json::Value::Object(_) => value,
        _ => serde_json::Value::Object(serde_json::Map::new()),
    })
}
