//! The Google Gemini adapter: OpenAI chat requests in,
//! `POST {base_url}/v1beta/models/{model}:generateContent` (or
//! `:streamGenerateContent?alt=sse`) out, with the key in `x-goog-api-key`.
//!
//! Translation (see [`generate_request`]): `system`/`developer` messages become
//! `systemInstruction`; `assistant` turns become `model` turns; `tool` messages become
//! `functionResponse` parts (the function name is looked up from the earlier tool call's id);
//! consecutive turns of one role merge; images become `inlineData` (data URIs) or `fileData`
//! (URLs); tools become `functionDeclarations` (their JSON Schema as `parametersJsonSchema`);
//! `tool_choice` becomes `toolConfig` (only beside declarations); JSON `response_format` sets
//! `responseMimeType: application/json`, except beside function declarations (mode not
//! `NONE`) for models before Gemini 3, which refuse the pair (`json_mode`). Gemini has no
//! tool-call ids, so answers get unique `call_…` ids, under which Gemini 3's thought
//! signatures are kept for the next turn ([`signatures`]). A `json_schema` response format's
//! schema goes as `responseJsonSchema` (Gemini 2.5 and later, [`answer_schema`]);
//! `reasoning_effort` (fitted to the model by `upstream::fit`) as `thinkingConfig`, a
//! `thinkingLevel` on Gemini 3 and a `thinkingBudget` on 2.5 ([`thinking`]). A malformed
//! or unexpected function call fails the attempt ([`unusable_finish`]). Refused: `n` above 1.
//! Not translated: logprobs.

mod call_ids;
pub mod signatures;
mod stream;
pub mod thinking;
pub mod wire;

/// The stream translation over an SSE body, for the property tests (`crate::proptests`).
#[cfg(test)]
pub(crate) fn translate_sse(
    events: crate::upstream::sse::SseStream,
    upstream_model: String,
) -> ChunkStream {
    stream::translate(events, upstream_model, Signatures::default())
}

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Value};

use super::{ChunkStream, Provider, ProviderKind, UpstreamError};
use crate::openai::wire::{
    ChatCompletionRequest, ChatCompletionResponse, ChatMessage, Choice, ContentPart, FinishReason,
    FunctionCall as OpenAiFunctionCall, MessageContent, ResponseMessage, Role, ToolCall, Usage,
};
use crate::secret::Secret;
pub use signatures::Signatures;
use wire::{
    Blob, Content, FileData, FunctionCall, FunctionCallingConfig, FunctionDeclaration,
    FunctionResponse, GenerateContentRequest, GenerateContentResponse, GenerationConfig, Part,
    ToolConfig, ToolGroup,
};

/// A Gemini API upstream.
#[derive(Clone, Debug)]
pub struct GeminiProvider {
    client: reqwest::Client,
    base_url: String,
    api_key: Option<Secret<String>>,
    response_limit: usize,
    /// Thought signatures of the function calls this provider answered with.
    signatures: Signatures,
}

impl GeminiProvider {
    /// `base_url` is the API root without version, e.g.
    /// `https://generativelanguage.googleapis.com`; the key is sent as `x-goog-api-key` (not
    /// in the URL, so it never reaches access logs).
    pub fn new(client: reqwest::Client, base_url: String, api_key: Option<Secret<String>>) -> Self {
        GeminiProvider {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            response_limit: super::DEFAULT_RESPONSE_LIMIT_BYTES,
            signatures: Signatures::default(),
        }
    }

    /// Keeps thought signatures in the gateway's memo (shared by its providers and, with
    /// `[redis]`, its replicas) instead of this adapter's own.
    pub fn with_memos(mut self, memos: &crate::upstream::providers::call_memo::Memos) -> Self {
        self.signatures = memos.signatures.clone();
        self
    }

    /// Caps the size of a non-streamed answer (and of error bodies) read from the upstream.
    pub fn with_response_limit(mut self, bytes: usize) -> Self {
        self.response_limit = bytes;
        self
    }

    fn url(&self, upstream_model: &str, stream: bool) -> String {
        let model = upstream_model
            .strip_prefix("models/")
            .unwrap_or(upstream_model);
        if stream {
            format!(
                "{}/v1beta/models/{model}:streamGenerateContent?alt=sse",
                self.base_url
            )
        } else {
            format!("{}/v1beta/models/{model}:generateContent", self.base_url)
        }
    }

    async fn send(
        &self,
        url: &str,
        body: &GenerateContentRequest,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut builder = self.client.post(url).json(body);
        if let Some(key) = &self.api_key {
            builder = builder.header("x-goog-api-key", key.expose());
        }
        super::send_checked(builder, self.response_limit, status_error).await
    }
}

/// Classifies a non-2xx answer. Gemini reports a bad key as 400 `API_KEY_INVALID`, which is
/// an auth failure, not a bad request; and a 400 `FAILED_PRECONDITION` ("User location is
/// not supported for the API use", "Gemini API free tier is not available in your country.
/// Please enable billing") is the account's problem, not the request's
/// ([`UpstreamError::account`]). A 429 carries its wait in the body
/// (`error.details[].retryDelay`, from `google.rpc.RetryInfo`) rather than in `Retry-After`;
/// it is read when the header is absent.
fn status_error(
    status: u16,
    retry_after: Option<std::time::Duration>,
    body: &str,
) -> UpstreamError {
    if status == 400 && body.contains("API_KEY_INVALID") {
        return UpstreamError::from_status(401, retry_after, body);
    }
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    if status == 400
        && error.and_then(|e| e.get("status")).and_then(Value::as_str)
            == Some("FAILED_PRECONDITION")
    {
        return UpstreamError::account(status, body);
    }
    let retry_after = match retry_after {
        None if status == 429 => error.and_then(retry_delay),
        given => given,
    };
    UpstreamError::from_status(status, retry_after, body)
}

/// The first `retryDelay` of an error's `details` (a protobuf duration in JSON: seconds with
/// an optional fraction and an `s`, such as `"45.837906927s"`), clamped as a `Retry-After`
/// is ([`crate::upstream::error::parse_retry_after`]).
fn retry_delay(error: &Value) -> Option<std::time::Duration> {
    error
        .get("details")?
        .as_array()?
        .iter()
        .filter_map(|d| d.get("retryDelay")?.as_str())
        .find_map(|delay| {
            crate::upstream::error::parse_retry_after(delay.trim().strip_suffix('s')?)
        })
}

impl Provider for GeminiProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Gemini
    }

    fn list_models(
        &self,
    ) -> BoxFuture<'_, Result<Vec<super::listing::OfferedModel>, UpstreamError>> {
        let key = self.api_key.as_ref().map(|k| k.expose().as_str());
        super::listing::gemini(&self.client, &self.base_url, key).boxed()
    }

    fn model<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<super::listing::OfferedModel>, UpstreamError>> {
        let key = self.api_key.as_ref().map(|k| k.expose().as_str());
        super::listing::gemini_one(&self.client, &self.base_url, key, name).boxed()
    }

    fn complete<'a>(
        &'a self,
        req: &'a ChatCompletionRequest,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<ChatCompletionResponse, UpstreamError>> {
        async move {
            let memo = self.signatures.scoped(req.memo_scope.as_deref());
            let body = generate_request(req, upstream_model, &memo)?;
            let response = self.send(&self.url(upstream_model, false), &body).await?;
            let bytes = super::read_capped(response, self.response_limit).await?;
            let parsed: GenerateContentResponse = serde_json::from_slice(&bytes)
                .map_err(|e| UpstreamError::decode(format!("gemini response body: {e}")))?;
            let finish = parsed
                .candidates
                .first()
                .and_then(|c| c.finish_reason.as_deref());
            if let Some(err) = finish.and_then(unusable_finish) {
                return Err(err);
            }
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
            let memo = self.signatures.scoped(req.memo_scope.as_deref());
            let body = generate_request(req, upstream_model, &memo)?;
            let response = self.send(&self.url(upstream_model, true), &body).await?;
            Ok(stream::chunks(response, upstream_model.to_owned(), memo))
        }
        .boxed()
    }
}

/// Translates an OpenAI chat request into a `generateContent` request for `upstream_model`,
/// putting back the thought signatures `signatures` kept for the history's function calls.
pub fn generate_request(
    req: &ChatCompletionRequest,
    upstream_model: &str,
    signatures: &Signatures,
) -> Result<GenerateContentRequest, UpstreamError> {
    // Gemini 2.5 takes `candidateCount`, but Gemini 3 answers 400 to it above 1 ("Multiple
    // candidates is not enabled for this model"); one answer to a request for several would
    // break clients that read the others.
    if req.n.is_some_and(|n| n > 1) {
        return Err(UpstreamError::one_answer_only(
            "n: the gateway asks Gemini for one answer per request; send n = 1",
        ));
    }
    let signed = SignedCalls {
        model: upstream_model,
        signatures,
        required: signatures::validates(upstream_model),
    };
    let mut system: Vec<Part> = Vec::new();
    let mut contents: Vec<Content> = Vec::new();
    // Tool-call id → function name, filled from assistant turns: Gemini's function responses
    // are matched by name, OpenAI's tool messages by id.
    let mut call_names: HashMap<String, String> = HashMap::new();
    for message in &req.messages {
        let (role, parts) = match message.role {
            Role::System | Role::Developer => {
                let text = message.text_content();
                if !text.is_empty() {
                    system.push(Part::text(text));
                }
                continue;
            }
            Role::User => ("user", user_parts(message)),
            Role::Assistant => ("model", model_parts(message, &mut call_names, &signed)?),
            Role::Tool => (
                "user",
                vec![function_response(message, &call_names, signed.required)],
            ),
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
            _ => contents.push(Content {
                role: Some(role.to_owned()),
                parts,
            }),
        }
    }
    if contents.is_empty() {
        return Err(UpstreamError::untranslatable(
            "the conversation has no user or assistant message",
        ));
    }
    let tools = req.tools.as_ref().filter(|t| !t.is_empty()).map(|tools| {
        vec![ToolGroup {
            function_declarations: tools
                .iter()
                .map(|t| FunctionDeclaration {
                    name: t.function.name.clone(),
                    description: t.function.description.clone(),
                    parameters_json_schema: t.function.parameters.clone().map(json_schema),
                })
                .collect(),
        }]
    });
    // Gemini 2.5 and earlier answer 400 to a function-calling config without
    // declarations ("Function calling config is set without function_declarations"),
    // which the Responses and Messages dialects allow (`tools: []`, `tool_choice: auto`).
    let calling = tools
        .as_ref()
        .and(req.tool_choice.as_ref())
        .and_then(tool_config);
    let calls_functions = tools.is_some()
        && calling
            .as_ref()
            .is_none_or(|c| c.function_calling_config.mode != "NONE");
    let wants_json = req.response_format.as_ref().is_some_and(|f| f.wants_json());
    let json = wants_json && json_mode(upstream_model, calls_functions);
    let generation_config = GenerationConfig {
        temperature: req.temperature,
        top_p: req.top_p,
        max_output_tokens: req.output_limit(),
        stop_sequences: req.stop.as_ref().map(|s| s.to_vec()),
        response_mime_type: json.then(|| "application/json".to_owned()),
        response_json_schema: json.then(|| answer_schema(req, upstream_model)).flatten(),
        // `upstream::fit` has left `reasoning_effort` only where the model takes one, as the
        // nearest level it takes ([`thinking`]), and `thinking_display` where the client asked
        // to see the thinking.
        thinking_config: thinking::config(
            upstream_model,
            req.extra.get("reasoning_effort").and_then(Value::as_str),
            req.extra
                .contains_key(crate::upstream::fit::THINKING_DISPLAY),
        ),
    };
    Ok(GenerateContentRequest {
        contents,
        system_instruction: (!system.is_empty()).then_some(Content {
            role: None,
            parts: system,
        }),
        tool_config: calling,
        tools,
        generation_config: (generation_config != GenerationConfig::default())
            .then_some(generation_config),
    })
}

/// Whether a request that asks for JSON gets `responseMimeType: application/json`. Beside
/// function declarations it may call (`calls_functions`), Gemini 2.x answers 400 ("Function
/// calling with a response mime type: 'application/json' is unsupported"), so there it is left
/// out and the answer has no JSON guarantee (as on Anthropic, which has no JSON mode); Gemini
/// 3 and later take the pair. The version is read as for thought signatures
/// ([`signatures::validates`]).
fn json_mode(upstream_model: &str, calls_functions: bool) -> bool {
    !calls_functions || signatures::validates(upstream_model)
}

/// The schema of a `json_schema` response format, as `responseJsonSchema` takes it. Without
/// it the answer is only JSON, not JSON of the client's shape (which Structured Outputs
/// clients parse into their types). The field takes JSON Schema from Gemini 2.5 on; older
/// models know only `responseSchema`, an OpenAPI subset that refuses much of what clients send
/// (as for tools, [`json_schema`]), so they keep JSON mode alone.
fn answer_schema(req: &ChatCompletionRequest, upstream_model: &str) -> Option<Value> {
    let schema = req.response_format.as_ref()?.schema()?;
    takes_json_schema(upstream_model).then(|| json_schema(schema.clone()))
}

/// Whether `upstream_model` takes `responseJsonSchema`: a Gemini name of version 2.5 or later,
/// or one without a version (`gemini-flash-latest` names a current model).
fn takes_json_schema(upstream_model: &str) -> bool {
    version_at_least(upstream_model, (2, 5))
}

/// Whether `upstream_model` is a Gemini name (`gemini-…`, with or without `models/`) of at
/// least version `min` (major, minor), or of no version (an alias of a current model). Other
/// names (Gemma, tuned models) are not.
pub(crate) fn version_at_least(upstream_model: &str, min: (u32, u32)) -> bool {
    let name = upstream_model
        .strip_prefix("models/")
        .unwrap_or(upstream_model);
    let Some(version) = name.strip_prefix("gemini-") else {
        return false;
    };
    let number = |s: &str| -> Option<u32> {
        let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let Some(major) = number(version) else {
        return true;
    };
    let minor = version
        .split_once('.')
        .and_then(|(_, rest)| number(rest))
        .unwrap_or(0);
    (major, minor) >= min
}

/// The user's text and image parts. Empty text is dropped: Gemini rejects empty parts.
fn user_parts(message: &ChatMessage) -> Vec<Part> {
    match &message.content {
        None => Vec::new(),
        Some(MessageContent::Text(text)) if text.is_empty() => Vec::new(),
        Some(MessageContent::Text(text)) => vec![Part::text(text.clone())],
        Some(MessageContent::Parts(parts)) => parts
            .iter()
            .filter_map(|part| match part {
                ContentPart::Text { text } if text.is_empty() => None,
                ContentPart::Text { text } => Some(Part::text(text.clone())),
                ContentPart::ImageUrl { image_url } => Some(image_part(&image_url.url)),
            })
            .collect(),
    }
}

/// How the history's function calls get their thought signatures.
struct SignedCalls<'a> {
    model: &'a str,
    signatures: &'a Signatures,
    /// The model refuses a function call without one (Gemini 3 and later).
    required: bool,
}

fn model_parts(
    message: &ChatMessage,
    call_names: &mut HashMap<String, String>,
    signed: &SignedCalls<'_>,
) -> Result<Vec<Part>, UpstreamError> {
    let mut parts = Vec::new();
    let text = message.text_content();
    if !text.is_empty() {
        parts.push(Part::text(text));
    }
    for call in message.tool_calls.iter().flatten() {
        let args = super::call_input(&call.id, &call.function.arguments)?;
        call_names.insert(call.id.clone(), call.function.name.clone());
        parts.push(Part {
            function_call: Some(FunctionCall {
                id: Some(call_ids::gemini_id(&call.id))
                    .filter(|id| signed.required && !id.is_empty()),
                name: call.function.name.clone(),
                args,
            }),
            thought_signature: signed.signatures.recall(&call.id, signed.model),
            ..Part::default()
        });
    }
    // Gemini checks the first function call of each step; a step this model did not make (or
    // whose signature is gone) gets the documented bypass rather than a 400.
    let unsigned = !parts.iter().any(|p| p.thought_signature.is_some());
    if signed.required && unsigned {
        if let Some(first) = parts.iter_mut().find(|p| p.function_call.is_some()) {
            first.thought_signature = Some(signatures::SKIP_VALIDATOR.to_owned());
        }
    }
    Ok(parts)
}

/// A tool message as a `functionResponse`, with the id of the call it answers where `ids`
/// (Gemini 3 and later: [`call_ids`]). Gemini wants an object: JSON objects pass as they are,
/// anything else is wrapped as `{"content": ...}`.
fn function_response(
    message: &ChatMessage,
    call_names: &HashMap<String, String>,
    ids: bool,
) -> Part {
    let id = message.tool_call_id.clone().unwrap_or_default();
    // Only for a call of the history: an id that matches none would match nothing there.
    let call_id = Some(call_ids::gemini_id(&id))
        .filter(|i| ids && !i.is_empty() && call_names.contains_key(&id));
    let name = call_names.get(&id).cloned().unwrap_or(id);
    let text = message.text_content();
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Value::Object(map),
        Ok(other) => json!({"content": other}),
        Err(_) => json!({"content": text}),
    };
    Part {
        function_response: Some(FunctionResponse {
            id: call_id,
            name,
            response,
        }),
        ..Part::default()
    }
}

/// `data:<mime>;base64,<data>` becomes inline bytes; a URL becomes a file reference with a
/// MIME type guessed from its extension.
fn image_part(url: &str) -> Part {
    let inline = url.strip_prefix("data:").and_then(|rest| {
        let (meta, data) = rest.split_once(',')?;
        let mime_type = meta.strip_suffix(";base64")?;
        Some(Blob {
            mime_type: mime_type.to_owned(),
            data: data.to_owned(),
        })
    });
    match inline {
        Some(blob) => Part {
            inline_data: Some(blob),
            ..Part::default()
        },
        None => {
            let path = url
                .split(['?', '#'])
                .next()
                .unwrap_or(url)
                .to_ascii_lowercase();
            let mime_type = if path.ends_with(".png") {
                "image/png"
            } else if path.ends_with(".webp") {
                "image/webp"
            } else if path.ends_with(".gif") {
                "image/gif"
            } else {
                "image/jpeg"
            };
            Part {
                file_data: Some(FileData {
                    mime_type: mime_type.to_owned(),
                    file_uri: url.to_owned(),
                }),
                ..Part::default()
            }
        }
    }
}

/// A tool's JSON Schema as `parametersJsonSchema` takes it. `parameters` takes only an
/// OpenAPI subset and answers 400 to much of what OpenAI clients, Pydantic and MCP servers
/// send (`const`, `$ref` beside other keys, `propertyNames`, type lists); this field takes
/// JSON Schema. The `$schema` tag names a dialect, not a constraint, and is left out.
fn json_schema(mut schema: Value) -> Value {
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
    }
    schema
}

/// OpenAI `tool_choice` as a function-calling mode.
fn tool_config(choice: &Value) -> Option<ToolConfig> {
    let (mode, allowed) = match choice {
        Value::String(s) => match s.as_str() {
            "none" => ("NONE", None),
            "auto" => ("AUTO", None),
            "required" => ("ANY", None),
            _ => return None,
        },
        Value::Object(_) => (
            "ANY",
            Some(vec![choice["function"]["name"].as_str()?.to_owned()]),
        ),
        _ => return None,
    };
    Some(ToolConfig {
        function_calling_config: FunctionCallingConfig {
            mode: mode.to_owned(),
            allowed_function_names: allowed,
        },
    })
}

/// Maps Gemini's `finishReason` to OpenAI's; `STOP` after a function call is `tool_calls`.
pub fn finish_reason(reason: &str, called_tools: bool) -> FinishReason {
    match reason {
        "STOP" if called_tools => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_ascii_lowercase()),
    }
}

/// The error for a finish that leaves no usable answer: the model's function call did not
/// parse (`MALFORMED_FUNCTION_CALL`, common with long string arguments) or named a function
/// the request did not offer (`UNEXPECTED_TOOL_CALL`). Gemini then sends no tool call, only
/// whatever text came before it, which a client would take for the whole answer. The same
/// request usually succeeds when sent again, so this is a retryable upstream failure: the
/// next candidate is tried, and with none left the client gets a 502 (which the OpenAI SDKs
/// retry) instead of a 200 with a `finish_reason` outside OpenAI's set. It says nothing of
/// the provider's health (one client's tools and prompt), so no breaker counts it.
pub(crate) fn unusable_finish(reason: &str) -> Option<UpstreamError> {
    matches!(reason, "MALFORMED_FUNCTION_CALL" | "UNEXPECTED_TOOL_CALL").then(|| {
        let mut err = UpstreamError::decode(format!(
            "gemini finished with {reason}: the model's function call was unusable"
        ));
        err.source = crate::upstream::ErrorSource::Internal;
        err
    })
}

/// Translates a `generateContent` response into an OpenAI chat completion.
pub fn chat_response(
    resp: GenerateContentResponse,
    upstream_model: &str,
    signatures: &Signatures,
) -> ChatCompletionResponse {
    let candidate = resp.candidates.into_iter().next();
    let parts = candidate
        .as_ref()
        .and_then(|c| c.content.as_ref())
        .map(|c| c.parts.as_slice())
        .unwrap_or_default();
    let mut text = String::new();
    let mut thoughts = String::new();
    let mut tool_calls = Vec::new();
    for part in parts {
        // Summaries of the model's thoughts, there when the request asked (`includeThoughts`).
        if part.thought == Some(true) {
            thoughts.push_str(part.text.as_deref().unwrap_or_default());
            continue;
        }
        if let Some(t) = &part.text {
            text.push_str(t);
        }
        if let Some(call) = &part.function_call {
            let tool = tool_call(call);
            if let Some(signature) = &part.thought_signature {
                signatures.remember(&tool.id, upstream_model, signature);
            }
            tool_calls.push(tool);
        }
    }
    let blocked = resp
        .prompt_feedback
        .as_ref()
        .and_then(|f| f.block_reason.as_ref())
        .is_some();
    let finish = match candidate.as_ref().and_then(|c| c.finish_reason.as_deref()) {
        Some(reason) => Some(finish_reason(reason, !tool_calls.is_empty())),
        None if blocked => Some(FinishReason::ContentFilter),
        None => None,
    };
    let content = (!text.is_empty() || tool_calls.is_empty()).then_some(text);
    ChatCompletionResponse {
        id: resp.response_id.unwrap_or_else(fallback_id),
        object: "chat.completion".to_owned(),
        created: unix_now(),
        model: resp
            .model_version
            .unwrap_or_else(|| upstream_model.to_owned()),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: Role::Assistant,
                content,
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                refusal: None,
                reasoning_content: (!thoughts.is_empty()).then_some(thoughts),
            },
            stop_sequence: None,
            finish_reason: finish,
            logprobs: None,
        }],
        usage: resp.usage_metadata.map(|u| usage(&u)),
        system_fingerprint: None,
    }
}

/// Chat's usage from Gemini's counts, with the cached prompt tokens and the thinking tokens
/// (billed as output, so counted in `completion_tokens` too) in OpenAI's detail fields.
pub(crate) fn usage(u: &wire::UsageMetadata) -> Usage {
    let mut usage = Usage::new(u.prompt_token_count, u.output_tokens());
    if let Some(cached) = u.cached_content_token_count {
        usage.extra.insert(
            "prompt_tokens_details".into(),
            json!({"cached_tokens": cached}),
        );
    }
    if u.thoughts_token_count > 0 {
        usage.extra.insert(
            "completion_tokens_details".into(),
            json!({"reasoning_tokens": u.thoughts_token_count}),
        );
    }
    usage
}

/// An OpenAI tool call for a function call of an answer, under an id unique to it that
/// carries Gemini's own ([`call_ids::client_id`]): clients match results to calls by id across
/// the whole conversation (and Anthropic refuses a history whose ids repeat), and its thought
/// signature is kept under it.
fn tool_call(call: &FunctionCall) -> ToolCall {
    ToolCall {
        id: call_ids::client_id(call.id.as_deref()),
        kind: "function".to_owned(),
        function: OpenAiFunctionCall {
            name: call.name.clone(),
            // `args` is optional (left out for a function without parameters); a client
            // parses the arguments as an object, and Anthropic refuses anything else.
            arguments: match &call.args {
                Value::Object(_) => call.args.to_string(),
                _ => "{}".to_owned(),
            },
        },
    }
}

/// An id for answers whose upstream sent none.
fn fallback_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())
}

/// Unix seconds for `created` (Gemini does not report one).
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
