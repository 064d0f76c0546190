//! A chat request sent through OpenAI's Responses API (`POST /responses`) and its answer read
//! back as a chat completion, for the models the catalog marks `responses_api`: OpenAI's
//! GPT-5.6 and GPT-6 models take function tools over Chat Completions only without reasoning
//! (GPT-6.1 Sol not at all), and at their default effort only here.
//!
//! Nothing is stored at OpenAI (`store: false` unless the client asked): the gateway sends
//! the whole conversation every turn, as chat clients do. The reasoning items an answer gives
//! before its function calls (encrypted, `include: ["reasoning.encrypted_content"]`) are kept
//! under the calls' ids and given back before those calls on the next turn, as OpenAI
//! advises for function calling with reasoning models; chat clients cannot carry them.
//!
//! What Responses has no field for is left out: `stop` (OpenAI's reasoning models refuse it
//! over Chat Completions too), `seed`, `n` above 1 (refused: one answer only), and other
//! chat-only fields.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use crate::openai::wire::{
    ChatCompletionRequest, ChatCompletionResponse, ChatMessage, Choice, ContentPart, FinishReason,
    FunctionCall, MessageContent, ResponseMessage, Role, ToolCall, Usage,
};
use crate::upstream::providers::call_memo::CallMemo;
use crate::upstream::UpstreamError;

/// Chat fields kept under the same name (from the request's `extra` map).
const PASSED: [&str; 7] = [
    "parallel_tool_calls",
    "store",
    "metadata",
    "service_tier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "safety_identifier",
];

/// The smallest `max_output_tokens` the Responses API takes.
const MIN_OUTPUT_TOKENS: u32 = 16;

/// Whether `req` asks to see the model's thinking (`upstream::fit::THINKING_DISPLAY`, kept for
/// this API only), which OpenAI gives as a reasoning summary.
pub(super) fn wants_summary(req: &ChatCompletionRequest) -> bool {
    req.extra
        .contains_key(crate::upstream::fit::THINKING_DISPLAY)
}

/// The Responses body for `req`, sent to `upstream_model`, with the reasoning `memo` kept
/// before the tool calls this model made, asking for a reasoning summary with `summary`.
pub(super) fn body(
    req: &ChatCompletionRequest,
    upstream_model: &str,
    stream: bool,
    memo: &CallMemo,
    summary: bool,
) -> Result<Value, UpstreamError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(UpstreamError::one_answer_only(
            "n: OpenAI's Responses API, which this model is called through, gives one answer; send n = 1",
        ));
    }
    let mut input = Vec::with_capacity(req.messages.len());
    let mut replayed = HashSet::new();
    for m in &req.messages {
        items(m, upstream_model, memo, &mut replayed, &mut input);
    }
    let mut body = Map::new();
    body.insert("model".into(), upstream_model.into());
    body.insert("input".into(), Value::Array(input));
    body.insert("store".into(), false.into());
    body.insert("include".into(), json!(["reasoning.encrypted_content"]));
    for key in PASSED {
        if let Some(v) = req.extra.get(key) {
            body.insert(key.into(), v.clone());
        }
    }
    if let Some(tools) = &req.tools {
        let tools: Vec<Value> = tools
            .iter()
            .map(|t| {
                let mut tool = json!({
                    "type": "function",
                    "name": t.function.name,
                    "parameters": t.function.parameters.clone()
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                    // Chat's default; Responses would otherwise hold every schema to strict mode.
                    "strict": t.function.strict.unwrap_or(false),
                });
                if let Some(d) = &t.function.description {
                    tool["description"] = d.clone().into();
                }
                tool
            })
            .collect();
        body.insert("tools".into(), tools.into());
    }
    if let Some(choice) = &req.tool_choice {
        body.insert(
            "tool_choice".into(),
            crate::openai::tool_choice::in_responses_shape(choice),
        );
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), t.into());
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), p.into());
    }
    if let Some(limit) = req.output_limit() {
        // Responses refuses limits below 16; health checks and probes send 1.
        body.insert(
            "max_output_tokens".into(),
            limit.max(MIN_OUTPUT_TOKENS).into(),
        );
    }
    let mut reasoning = Map::new();
    if let Some(effort) = req.extra.get("reasoning_effort") {
        reasoning.insert("effort".into(), effort.clone());
    }
    if summary {
        reasoning.insert("summary".into(), "auto".into());
    }
    if !reasoning.is_empty() {
        body.insert("reasoning".into(), Value::Object(reasoning));
    }
    let mut text = Map::new();
    if let Some(format) = &req.response_format {
        match format.kind.as_str() {
            "json_object" => {
                text.insert("format".into(), json!({"type": "json_object"}));
            }
            "json_schema" => {
                // Chat nests name, schema, strict and description under `json_schema`;
                // Responses puts them beside `type`.
                let mut f = format
                    .json_schema
                    .as_ref()
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                f.insert("type".into(), "json_schema".into());
                text.insert("format".into(), Value::Object(f));
            }
            _ => {}
        }
    }
    if let Some(v) = req.extra.get("verbosity") {
        text.insert("verbosity".into(), v.clone());
    }
    if !text.is_empty() {
        body.insert("text".into(), Value::Object(text));
    }
    if let Some(user) = &req.user {
        body.insert("user".into(), user.clone().into());
    }
    if stream {
        body.insert("stream".into(), true.into());
    }
    Ok(Value::Object(body))
}

/// `m` as Responses input items: the reasoning `upstream_model` did before its tool calls
/// (where `memo` kept it, and only once per conversation: a client may split one answer's
/// calls over several messages, and OpenAI refuses a repeated item), the message, and the
/// calls as `function_call` items, the order the answer gave them in; a tool result as a
/// `function_call_output`.
fn items(
    m: &ChatMessage,
    upstream_model: &str,
    memo: &CallMemo,
    replayed: &mut HashSet<String>,
    out: &mut Vec<Value>,
) {
    let role = match m.role {
        Role::Tool => {
            out.push(json!({
                "type": "function_call_output",
                "call_id": m.tool_call_id.clone().unwrap_or_default(),
                "output": m.text_content(),
            }));
            return;
        }
        Role::System => "system",
        Role::Developer => "developer",
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    let content = match &m.content {
        None => None,
        Some(MessageContent::Text(t)) if t.is_empty() => None,
        Some(MessageContent::Text(t)) => Some(Value::String(t.clone())),
        Some(MessageContent::Parts(parts)) if m.role == Role::Assistant => {
            Some(Value::String(m.text_content())).filter(|_| !parts.is_empty())
        }
        Some(MessageContent::Parts(parts)) => Some(Value::Array(
            parts
                .iter()
                .map(|p| match p {
                    ContentPart::Text { text } => json!({"type": "input_text", "text": text}),
                    ContentPart::ImageUrl { image_url } => json!({
                        "type": "input_image",
                        "image_url": image_url.url,
                        "detail": image_url.detail.as_deref().unwrap_or("auto"),
                    }),
                })
                .collect(),
        )),
    };
    let reasoning = m
        .tool_calls
        .iter()
        .flatten()
        .find_map(|c| memo.recall(&c.id, upstream_model))
        .filter(|json| replayed.insert(json.clone()))
        .and_then(|json| serde_json::from_str::<Vec<Value>>(&json).ok());
    out.extend(reasoning.into_iter().flatten());
    if let Some(content) = content {
        out.push(json!({"role": role, "content": content}));
    }
    for call in m.tool_calls.iter().flatten() {
        out.push(json!({
            "type": "function_call",
            "call_id": call.id,
            "name": call.function.name,
            "arguments": call.function.arguments,
        }));
    }
}

/// Keeps the reasoning items of `response` (by `upstream_model`) under its function calls'
/// ids, to be given back with them.
pub(super) fn remember_reasoning(response: &Value, upstream_model: &str, memo: &CallMemo) {
    let output = response["output"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let reasoning: Vec<&Value> = output
        .iter()
        .filter(|i| i["type"] == "reasoning" && i["encrypted_content"].is_string())
        .collect();
    if reasoning.is_empty() {
        return;
    }
    let Ok(json) = serde_json::to_string(&reasoning) else {
        return;
    };
    for item in output.iter().filter(|i| i["type"] == "function_call") {
        if let Some(id) = item["call_id"].as_str() {
            memo.remember(id, upstream_model, &json);
        }
    }
}

/// A Responses answer (non-streamed, or a stream's final `response`) as a chat completion.
pub(super) fn completion(response: &Value) -> Result<ChatCompletionResponse, UpstreamError> {
    if response["status"] == "failed" {
        return Err(failed(response));
    }
    let (message, finish_reason) = message(response)?;
    Ok(ChatCompletionResponse {
        id: response["id"].as_str().unwrap_or_default().to_owned(),
        object: "chat.completion".to_owned(),
        created: response["created_at"].as_u64().unwrap_or_default(),
        model: response["model"].as_str().unwrap_or_default().to_owned(),
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish_reason),
            logprobs: None,
            stop_sequence: None,
        }],
        usage: usage(&response["usage"]),
        system_fingerprint: None,
    })
}

/// The assistant message of a response's `output` items, and why it ended.
fn message(response: &Value) -> Result<(ResponseMessage, FinishReason), UpstreamError> {
    let output = response["output"]
        .as_array()
        .ok_or_else(|| UpstreamError::decode("responses body: no `output` array"))?;
    let mut text = String::new();
    let mut refusal = String::new();
    let mut summary: Vec<&str> = Vec::new();
    let mut calls = Vec::new();
    for item in output {
        match item["type"].as_str() {
            // Its summary, there when asked for ([`wants_summary`]); the encrypted reasoning
            // stays in the gateway ([`remember_reasoning`]).
            Some("reasoning") => summary.extend(
                item["summary"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["type"] == "summary_text")
                    .filter_map(|p| p["text"].as_str()),
            ),
            Some("message") => {
                for part in item["content"].as_array().into_iter().flatten() {
                    match part["type"].as_str() {
                        Some("output_text") => text.push_str(part["text"].as_str().unwrap_or("")),
                        Some("refusal") => {
                            refusal.push_str(part["refusal"].as_str().unwrap_or(""));
                        }
                        _ => {}
                    }
                }
            }
            Some("function_call") => calls.push(ToolCall {
                id: item["call_id"].as_str().unwrap_or_default().to_owned(),
                kind: "function".to_owned(),
                function: FunctionCall {
                    name: item["name"].as_str().unwrap_or_default().to_owned(),
                    arguments: item["arguments"].as_str().unwrap_or_default().to_owned(),
                },
            }),
            // Built-in tool calls have no place in a chat message.
            _ => {}
        }
    }
    let finish = finish_reason(response, !calls.is_empty());
    let message = ResponseMessage {
        role: Role::Assistant,
        content: (!text.is_empty() || calls.is_empty()).then_some(text),
        tool_calls: (!calls.is_empty()).then_some(calls),
        refusal: (!refusal.is_empty()).then_some(refusal),
        // One part per thought, joined as Claude's thinking blocks are.
        reasoning_content: (!summary.is_empty())
            .then(|| summary.join(crate::openai::wire::REASONING_SEPARATOR)),
    };
    Ok((message, finish))
}

/// Chat's finish reason for a response: why it is incomplete, or tool calls, or a natural end.
pub(super) fn finish_reason(response: &Value, called: bool) -> FinishReason {
    // Cut short wins over a call: its arguments may be cut too (Chat Completions says
    // `length` there as well).
    if response["status"] != "incomplete" {
        return if called {
            FinishReason::ToolCalls
        } else {
            FinishReason::Stop
        };
    }
    match response["incomplete_details"]["reason"].as_str() {
        Some("max_output_tokens") => FinishReason::Length,
        Some("content_filter") => FinishReason::ContentFilter,
        Some(other) => FinishReason::Other(other.to_owned()),
        None => FinishReason::Length,
    }
}

/// Chat's usage from Responses' (`input_tokens`, `output_tokens` and their details).
pub(super) fn usage(u: &Value) -> Option<Usage> {
    let count = |v: &Value| u32::try_from(v.as_u64()?).ok();
    let mut usage = Usage::new(count(&u["input_tokens"])?, count(&u["output_tokens"])?);
    if let Some(cached) = count(&u["input_tokens_details"]["cached_tokens"]) {
        usage.extra.insert(
            "prompt_tokens_details".into(),
            json!({"cached_tokens": cached}),
        );
    }
    if let Some(reasoning) = count(&u["output_tokens_details"]["reasoning_tokens"]) {
        usage.extra.insert(
            "completion_tokens_details".into(),
            json!({"reasoning_tokens": reasoning}),
        );
    }
    Some(usage)
}

/// The error of a response whose status is `failed`: a server error, so the gateway fails
/// over.
pub(super) fn failed(response: &Value) -> UpstreamError {
    let body = json!({"error": response["error"]}).to_string();
    UpstreamError::from_status(500, None, &body)
}

#[cfg(test)]
#[path = "responses_tests.rs"]
mod tests;
