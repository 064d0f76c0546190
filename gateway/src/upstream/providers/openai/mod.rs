//! The OpenAI-compatible adapter: OpenAI, Groq, Together, DeepSeek, Mistral, OpenRouter, vLLM,
//! Ollama and any server speaking `POST {base_url}/chat/completions` with a bearer key.
//!
//! The request passes through almost unchanged (unknown fields included); the adapter swaps in
//! the upstream model name, drops Switchyard's `router` object and, for streams, asks for
//! `stream_options.include_usage` so that token counts arrive in the final chunk. Models the
//! catalog marks `responses_api` are called through `POST {base_url}/responses` instead
//! ([`responses`]).

mod responses;
mod responses_stream;
mod stream;

/// The stream translation over an SSE body, for the property tests (`crate::proptests`).
#[cfg(test)]
pub(crate) fn translate_sse(events: crate::upstream::sse::SseStream) -> ChunkStream {
    stream::events_to_chunks(events)
}

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;

use super::call_memo::CallMemo;
use super::{ChunkStream, Provider, ProviderKind, UpstreamError};
use crate::openai::wire::{ChatCompletionRequest, ChatCompletionResponse, StreamOptions};
use crate::secret::Secret;

/// An OpenAI-compatible upstream.
#[derive(Clone, Debug)]
pub struct OpenAiProvider {
    client: reqwest::Client,
    base: String,
    url: String,
    responses_url: String,
    embeddings_url: String,
    api_key: Option<Secret<String>>,
    response_limit: usize,
    /// Reasoning items by the function calls they preceded (Responses API models).
    reasoning: CallMemo,
    /// Whether this provider's account was refused a reasoning summary: OpenAI answers 400
    /// ("Your organization must be verified to generate reasoning summaries", `param:
    /// reasoning.summary`) to an organisation it has not verified. Once a call without the
    /// summary has then been answered, no request asks again until a restart, which
    /// re-probes (an organisation may get verified meanwhile).
    summaries_refused: Arc<AtomicBool>,
}

impl OpenAiProvider {
    /// `base_url` includes the version prefix, e.g. `https://api.openai.com/v1` or
    /// `http://127.0.0.1:11434/v1`; `api_key` is sent as a bearer token when set.
    pub fn new(client: reqwest::Client, base_url: String, api_key: Option<Secret<String>>) -> Self {
        let base = base_url.trim_end_matches('/');
        let url = format!("{base}/chat/completions");
        let embeddings_url = format!("{base}/embeddings");
        OpenAiProvider {
            client,
            base: base.to_owned(),
            url,
            responses_url: format!("{base}/responses"),
            embeddings_url,
            api_key,
            response_limit: super::DEFAULT_RESPONSE_LIMIT_BYTES,
            reasoning: super::call_memo::CallMemo::default(),
            summaries_refused: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Keeps reasoning items in the gateway's memo (shared by its providers and, with
    /// `[redis]`, its replicas) instead of this adapter's own.
    pub fn with_memos(mut self, memos: &super::call_memo::Memos) -> Self {
        self.reasoning = memos.reasoning.clone();
        self
    }

    /// Caps the size of a non-streamed answer (and of error bodies) read from the upstream.
    pub fn with_response_limit(mut self, bytes: usize) -> Self {
        self.response_limit = bytes;
        self
    }

    /// The upstream body: the client's request with the upstream model and without Switchyard
    /// fields.
    fn body(
        req: &ChatCompletionRequest,
        upstream_model: &str,
        stream: bool,
    ) -> ChatCompletionRequest {
        let mut body = req.clone();
        body.model = upstream_model.to_owned();
        body.router = None;
        // Read by the Responses route only; no Chat Completions server takes it.
        body.extra.remove(crate::upstream::fit::THINKING_DISPLAY);
        // Chat Completions refuses an empty `tools` list, and `parallel_tool_calls` or a
        // `tool_choice` of "none"/"auto" without tools, which the Responses and Messages
        // dialects (and so requests translated from them) allow. A forced choice without
        // tools is left for the upstream to refuse: the client asked for a call it cannot get.
        if body.tools.as_ref().is_some_and(Vec::is_empty) {
            body.tools = None;
        }
        if body.tools.is_none() {
            body.extra.remove("parallel_tool_calls");
            if matches!(
                body.tool_choice
                    .as_ref()
                    .and_then(serde_json::Value::as_str),
                Some("none" | "auto")
            ) {
                body.tool_choice = None;
            }
        }
        if stream {
            body.stream = Some(true);
            let mut opts = body.stream_options.take().unwrap_or_default();
            opts.include_usage = Some(true);
            body.stream_options = Some(opts);
        } else {
            body.stream = None;
            body.stream_options = None::<StreamOptions>;
        }
        body
    }

    /// Posts `req` to the Responses API, asking for a reasoning summary where the client asked
    /// to see the thinking ([`responses::wants_summary`]) and the account has not been
    /// refused one; a 400 about the summary is answered by one more call without it (the
    /// client then gets the answer without reasoning, not an error), and once that call is
    /// answered the refusal is kept.
    async fn post_responses(
        &self,
        req: &ChatCompletionRequest,
        upstream_model: &str,
        stream: bool,
        memo: &CallMemo,
    ) -> Result<reqwest::Response, UpstreamError> {
        let summary =
            responses::wants_summary(req) && !self.summaries_refused.load(Ordering::Relaxed);
        let body = responses::body(req, upstream_model, stream, memo, summary)?;
        match self.post(&self.responses_url, &body).await {
            Err(e) if summary && summary_refused(&e) => {
                let body = responses::body(req, upstream_model, stream, memo, false)?;
                let retried = self.post(&self.responses_url, &body).await;
                // Only an answer without the summary shows that the summary was the cause;
                // of concurrent refusals, one warns.
                if retried.is_ok() && !self.summaries_refused.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        model = upstream_model,
                        "OpenAI refused a reasoning summary ({}); the gateway asks for none \
                         from now on, so Responses and Messages clients see no OpenAI \
                         reasoning until the organisation is verified and the gateway restarted",
                        e.message
                    );
                } else if let Err(again) = &retried {
                    tracing::debug!(
                        model = upstream_model,
                        "a call without the reasoning summary OpenAI refused failed too ({}); \
                         summaries stay asked for",
                        again.message
                    );
                }
                retried
            }
            other => other,
        }
    }

    async fn send(&self, body: &ChatCompletionRequest) -> Result<reqwest::Response, UpstreamError> {
        self.post(&self.url, body).await
    }

    async fn post(
        &self,
        url: &str,
        body: &impl serde::Serialize,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut builder = self.client.post(url).json(body);
        if let Some(key) = &self.api_key {
            builder = builder.bearer_auth(key.expose());
        }
        super::send_checked(builder, self.response_limit, UpstreamError::from_status).await
    }
}

impl Provider for OpenAiProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Openai
    }

    fn complete<'a>(
        &'a self,
        req: &'a ChatCompletionRequest,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<ChatCompletionResponse, UpstreamError>> {
        async move {
            let body = Self::body(req, upstream_model, false);
            let response = self.send(&body).await?;
            let bytes = super::read_capped(response, self.response_limit).await?;
            serde_json::from_slice(&bytes)
                .map_err(|e| UpstreamError::decode(format!("chat completion body: {e}")))
        }
        .boxed()
    }

    fn stream<'a>(
        &'a self,
        req: &'a ChatCompletionRequest,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<ChunkStream, UpstreamError>> {
        async move {
            let body = Self::body(req, upstream_model, true);
            let response = self.send(&body).await?;
            Ok(stream::chunks(response))
        }
        .boxed()
    }

    fn complete_responses<'a>(
        &'a self,
        req: &'a ChatCompletionRequest,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<ChatCompletionResponse, UpstreamError>> {
        async move {
            let memo = self.reasoning.scoped(req.memo_scope.as_deref());
            let response = self
                .post_responses(req, upstream_model, false, &memo)
                .await?;
            let bytes = super::read_capped(response, self.response_limit).await?;
            let value: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| UpstreamError::decode(format!("responses body: {e}")))?;
            let answer = responses::completion(&value)?;
            responses::remember_reasoning(&value, upstream_model, &memo);
            Ok(answer)
        }
        .boxed()
    }

    fn stream_responses<'a>(
        &'a self,
        req: &'a ChatCompletionRequest,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<ChunkStream, UpstreamError>> {
        async move {
            let memo = self.reasoning.scoped(req.memo_scope.as_deref());
            let response = self
                .post_responses(req, upstream_model, true, &memo)
                .await?;
            Ok(responses_stream::chunks(
                response,
                upstream_model.to_owned(),
                memo,
            ))
        }
        .boxed()
    }

    fn list_models(
        &self,
    ) -> BoxFuture<'_, Result<Vec<super::listing::OfferedModel>, UpstreamError>> {
        let key = self.api_key.as_ref().map(|k| k.expose().as_str());
        super::listing::openai(&self.client, &self.base, key).boxed()
    }

    fn model<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<super::listing::OfferedModel>, UpstreamError>> {
        let key = self.api_key.as_ref().map(|k| k.expose().as_str());
        super::listing::openai_one(&self.client, &self.base, key, name).boxed()
    }

    fn embeddings<'a>(
        &'a self,
        body: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<serde_json::Value, UpstreamError>> {
        async move {
            let response = self.post(&self.embeddings_url, body).await?;
            let bytes = super::read_capped(response, self.response_limit).await?;
            serde_json::from_slice(&bytes)
                .map_err(|e| UpstreamError::decode(format!("embeddings body: {e}")))
        }
        .boxed()
    }
}

/// Whether `e` is OpenAI refusing the reasoning summary a request asked for to an organisation
/// it has not verified (a 400: "Your organization must be verified to generate reasoning
/// summaries"), rather than refusing the request: both words, so that a 400 about a tool
/// called `summarize` or a replayed item's `summary` field does not count.
fn summary_refused(e: &UpstreamError) -> bool {
    let message = e.message.to_ascii_lowercase();
    e.status == Some(400) && message.contains("verified") && message.contains("reasoning summar")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::openai::wire::{ChatMessage, Role, RouterOptions};

    #[test]
    fn body_swaps_model_and_asks_for_usage() {
        let req = ChatCompletionRequest {
            model: "auto".into(),
            messages: vec![ChatMessage::text(Role::User, "hi")],
            router: Some(RouterOptions::default()),
            stream: Some(true),
            ..Default::default()
        };
        let body = OpenAiProvider::body(&req, "gpt-4o-mini-2024-07-18", true);
        assert_eq!(body.model, "gpt-4o-mini-2024-07-18");
        assert!(body.router.is_none());
        assert_eq!(body.stream_options.unwrap().include_usage, Some(true));
        let body = OpenAiProvider::body(&req, "m", false);
        assert_eq!(body.stream, None);
        assert!(body.stream_options.is_none());
    }

    /// Only OpenAI's refusal of summaries to an unverified organisation counts, not any 400
    /// that mentions a summary.
    #[test]
    fn a_refused_summary_is_told_from_other_bad_requests() {
        let error = |status: u16, message: &str| {
            let body = serde_json::json!({"error": {"message": message}}).to_string();
            UpstreamError::from_status(status, None, &body)
        };
        let refused = "Your organization must be verified to generate reasoning summaries. \
                       Please go to: https://platform.openai.com/settings/organization/general";
        assert!(summary_refused(&error(400, refused)));
        assert!(!summary_refused(&error(403, refused)));
        assert!(!summary_refused(&error(
            400,
            "Invalid schema for function 'summarize_doc': 'properties' is required"
        )));
        assert!(!summary_refused(&error(
            400,
            "Missing required parameter: 'input[2].summary'."
        )));
    }
}
