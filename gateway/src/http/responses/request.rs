//! A Responses API request as the internal chat form ([`chat_request`]).
//!
//! Input items are read from JSON values (not a serde enum) so that a refusal names the exact
//! place, `input[2].content[0].type`, and the item type it cannot carry.

use models::Effort;
use serde_json::{json, Map, Value};

use crate::http::error::ApiError;
use crate::openai::wire::{
    ChatCompletionRequest, ChatMessage, ContentPart, FunctionCall, FunctionDef, ImageUrl,
    MessageContent, ResponseFormat, Role, RouterOptions, StreamOptions, Tool, ToolCall,
};

/// Fields the internal form cannot carry, refused whenever they are set (not null).
const REFUSED: [(&str, &str); 5] = [
    (
        "previous_response_id",
        "this gateway stores no responses; send the whole conversation in `input`",
    ),
    (
        "conversation",
        "this gateway stores no conversations; send the whole conversation in `input`",
    ),
    ("prompt", "stored prompt templates are not available here"),
    ("max_tool_calls", "the chat form has no tool-call limit"),
    ("top_logprobs", "log probabilities are not relayed"),
];

/// Accepted and ignored: hints without an equivalent (documented in docs/gateway.md).
const IGNORED: [&str; 3] = ["service_tier", "stream_options", "safety_identifier"];

/// OpenAI's prompt-caching hints, which Chat Completions takes under the same names: passed on
/// in the chat form (the Anthropic and Gemini adapters send no such field).
const PROMPT_CACHE: [&str; 2] = ["prompt_cache_key", "prompt_cache_retention"];

/// Every other field this endpoint reads; anything not listed here is refused by name.
const KNOWN: [&str; 21] = [
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "temperature",
    "top_p",
    "max_output_tokens",
    "metadata",
    "user",
    "parallel_tool_calls",
    "stream",
    "store",
    "text",
    "router",
    "background",
    "reasoning",
    "include",
    "truncation",
    "prompt_cache_key",
    "prompt_cache_retention",
];

fn refuse(field: &str, why: &str) -> ApiError {
    ApiError::InvalidRequest(format!(
        "{field}: not supported by this gateway's /v1/responses ({why})"
    ))
}

fn invalid(field: &str, what: &str) -> ApiError {
    ApiError::InvalidRequest(format!("{field}: {what}"))
}

/// The body as the internal chat request.
pub fn parse(body: &[u8]) -> Result<ChatCompletionRequest, ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    let Value::Object(mut object) = value else {
        return Err(ApiError::InvalidRequest(
            "the body must be a JSON object".to_owned(),
        ));
    };
    // Null is the same as absent for every field, as in OpenAI's API.
    object.retain(|_, v| !v.is_null());
    for (field, why) in REFUSED {
        if object.contains_key(field) {
            return Err(refuse(field, why));
        }
    }
    if let Some(field) = object
        .keys()
        .find(|k| !KNOWN.contains(&k.as_str()) && !IGNORED.contains(&k.as_str()))
    {
        return Err(refuse(field, "unknown field"));
    }
    if object.get("background") == Some(&Value::Bool(true)) {
        return Err(refuse(
            "background",
            "answers are never run in the background",
        ));
    }
    if let Some(reasoning) = object.get("reasoning") {
        reasoning_settings(reasoning)?;
    }
    if let Some(include) = object.get("include") {
        check_include(include)?;
    }
    if let Some(t) = object.get("truncation").filter(|t| *t != "disabled") {
        return Err(refuse(
            "truncation",
            &format!("only \"disabled\" is supported, not {t}"),
        ));
    }
    let router = match object.remove("router") {
        None => None,
        Some(v) => Some(
            serde_json::from_value::<RouterOptions>(v)
                .map_err(|e| ApiError::InvalidJson(format!("router: {e}")))?,
        ),
    };
    chat_request(&object, router)
}

/// The reasoning summaries a client may ask for (OpenAI API reference, `Reasoning.summary`).
const SUMMARIES: [&str; 3] = ["auto", "concise", "detailed"];

/// `reasoning`: its `effort` and the summary asked for.
///
/// The effort is the one reasoning setting every provider is given (the chat form's
/// `reasoning_effort`, which `upstream::fit` sends each model as the nearest level it takes):
/// OpenAI's levels (`none`, `minimal`, `low`, `medium`, `high`, `xhigh`; OpenAI API reference,
/// `Reasoning.effort`) and `max`, the top level of Claude and GPT-6.1 Sol.
///
/// The summary (`summary`, or the older `generate_summary`; `summary` wins) decides where the
/// answer puts the model's reasoning text: in its reasoning item's `summary` when one is asked
/// for, else in its `content` (`answer::reasoning_item`). Codex and other agents ask for one on
/// every turn.
fn reasoning_settings(reasoning: &Value) -> Result<(Option<&str>, Option<&str>), ApiError> {
    let Some(settings) = reasoning.as_object() else {
        return Err(invalid("reasoning", "must be an object"));
    };
    for (field, value) in settings.iter().filter(|(_, v)| !v.is_null()) {
        match field.as_str() {
            "effort" => {}
            "summary" | "generate_summary" => {
                if !value.as_str().is_some_and(|v| SUMMARIES.contains(&v)) {
                    return Err(invalid(
                        &format!("reasoning.{field}"),
                        &format!("must be one of {}", SUMMARIES.join(", ")),
                    ));
                }
            }
            other => {
                return Err(refuse(
                    &format!("reasoning.{other}"),
                    "only `effort` and `summary` are read",
                ))
            }
        }
    }
    let summary = ["summary", "generate_summary"]
        .iter()
        .find_map(|field| settings.get(*field).and_then(Value::as_str));
    match settings.get("effort") {
        None | Some(Value::Null) => Ok((None, summary)),
        Some(Value::String(e)) if Effort::ALL.iter().any(|l| l.as_str() == e) => {
            Ok((Some(e), summary))
        }
        Some(_) => Err(invalid(
            "reasoning.effort",
            &format!(
                "must be one of {}",
                Effort::ALL.map(Effort::as_str).join(", ")
            ),
        )),
    }
}

/// `include`: `reasoning.encrypted_content` is accepted, with nothing to include (a reasoning
/// item's `encrypted_content` is null): the reasoning a model gives before its function calls
/// (Claude's signed thinking, OpenAI's encrypted reasoning) is kept by the gateway under the
/// calls' ids and sent back with them on the next turn (docs/gateway.md, "Parameters and
/// request shapes some models refuse"), so a stateless client has nothing to carry. Anything
/// else asks for data this endpoint does not produce, and is refused naming it.
fn check_include(include: &Value) -> Result<(), ApiError> {
    let Some(list) = include.as_array() else {
        return Err(invalid("include", "must be a list"));
    };
    for (i, item) in list.iter().enumerate() {
        match item.as_str() {
            Some("reasoning.encrypted_content") => {}
            Some("message.output_text.logprobs") => {
                return Err(refuse(
                    &format!("include[{i}]"),
                    "log probabilities are not relayed",
                ))
            }
            Some(other) => {
                return Err(refuse(
                    &format!("include[{i}]"),
                    &format!("`{other}` is output of a tool or item type not carried here"),
                ))
            }
            None => return Err(invalid(&format!("include[{i}]"), "must be a string")),
        }
    }
    Ok(())
}

fn string(object: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match object.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

fn number(object: &Map<String, Value>, field: &str) -> Result<Option<f64>, ApiError> {
    match object.get(field) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| invalid(field, "must be a number")),
    }
}

fn boolean(object: &Map<String, Value>, field: &str) -> Result<Option<bool>, ApiError> {
    match object.get(field) {
        None => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| invalid(field, "must be a boolean")),
    }
}

/// Converts the (null-free) request object into the internal chat form.
fn chat_request(
    object: &Map<String, Value>,
    router: Option<RouterOptions>,
) -> Result<ChatCompletionRequest, ApiError> {
    let model = string(object, "model")?.ok_or_else(|| invalid("model", "Field required"))?;
    let mut messages = Vec::new();
    let mut echo = Map::new();
    if let Some(instructions) = string(object, "instructions")? {
        echo.insert(
            "instructions".to_owned(),
            Value::String(instructions.clone()),
        );
        if !instructions.is_empty() {
            messages.push(ChatMessage::text(Role::System, instructions));
        }
    }
    match object.get("input") {
        None => return Err(invalid("input", "Field required")),
        Some(Value::String(text)) => messages.push(ChatMessage::text(Role::User, text.clone())),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                input_item(i, item, &mut messages)?;
            }
        }
        Some(_) => {
            return Err(invalid(
                "input",
                "must be a string or a list of input items",
            ))
        }
    }
    if let Some(metadata) = object.get("metadata") {
        let ok = metadata
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string));
        if !ok {
            return Err(invalid("metadata", "must be an object of string values"));
        }
        echo.insert("metadata".to_owned(), metadata.clone());
    }
    // `store: true` is accepted (OpenAI's default) but nothing is stored; the answer says
    // `store: false`.
    boolean(object, "store")?;
    let max_output_tokens = match object.get("max_output_tokens") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| invalid("max_output_tokens", "must be a positive integer"))?,
        ),
    };
    let stream = boolean(object, "stream")?.unwrap_or(false);
    let mut extra = Map::new();
    if let Some(parallel) = boolean(object, "parallel_tool_calls")? {
        extra.insert("parallel_tool_calls".to_owned(), Value::Bool(parallel));
    }
    // The effort is the chat form's `reasoning_effort`, as `/v1/messages`' `output_config.effort`
    // is: each attempt gets it as its model takes it (`upstream::fit`).
    let (effort, summary) = match object.get("reasoning") {
        Some(reasoning) => reasoning_settings(reasoning)?,
        None => (None, None),
    };
    if let Some(effort) = effort {
        extra.insert("reasoning_effort".to_owned(), json!(effort));
    }
    if let Some(summary) = summary {
        // Echoed as asked; the answer reads it there to put the reasoning in a summary.
        echo.insert(
            "reasoning".to_owned(),
            json!({"effort": effort, "summary": summary}),
        );
        // A client asking for a summary wants to see the reasoning: Claude from Opus 4.7 on
        // omits its thinking text unless asked for it (`upstream::fit` asks where the model
        // thinks anyway, and sends the field to no API).
        extra.insert(
            crate::upstream::fit::THINKING_DISPLAY.to_owned(),
            json!("summarized"),
        );
    }
    if let Some(verbosity) = object
        .get("text")
        .and_then(|t| t.get("verbosity"))
        .filter(|v| !v.is_null())
    {
        extra.insert("verbosity".to_owned(), verbosity_level(verbosity)?);
    }
    for field in PROMPT_CACHE {
        if let Some(value) = string(object, field)? {
            extra.insert(field.to_owned(), Value::String(value));
        }
    }
    let user = match string(object, "user")? {
        Some(user) => Some(user),
        None => string(object, "safety_identifier")?,
    };
    Ok(ChatCompletionRequest {
        model,
        messages,
        tools: tools(object.get("tools"))?,
        tool_choice: object.get("tool_choice").map(tool_choice).transpose()?,
        temperature: number(object, "temperature")?,
        top_p: number(object, "top_p")?,
        max_completion_tokens: max_output_tokens,
        stream: stream.then_some(true),
        // `response.completed` carries usage: ask every upstream for it.
        stream_options: stream.then(|| StreamOptions {
            include_usage: Some(true),
            extra: Map::new(),
        }),
        response_format: object.get("text").map(text_format).transpose()?.flatten(),
        user: user.filter(|u| !u.is_empty()),
        router,
        extra,
        client_echo: (!echo.is_empty()).then_some(echo),
        ..ChatCompletionRequest::default()
    })
}

/// `tools`: only `type: "function"` (Responses' flat shape).
fn tools(tools: Option<&Value>) -> Result<Option<Vec<Tool>>, ApiError> {
    let Some(tools) = tools else {
        return Ok(None);
    };
    let list = tools
        .as_array()
        .ok_or_else(|| invalid("tools", "must be a list"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        let kind = tool["type"].as_str().unwrap_or_default();
        if kind != "function" {
            return Err(refuse(
                &format!("tools[{i}].type"),
                &format!("only `function` tools can be routed to every provider, not `{kind}`"),
            ));
        }
        let name = tool["name"]
            .as_str()
            .ok_or_else(|| invalid(&format!("tools[{i}].name"), "Field required"))?;
        out.push(Tool {
            kind: "function".to_owned(),
            function: FunctionDef {
                name: name.to_owned(),
                description: tool["description"].as_str().map(str::to_owned),
                parameters: tool.get("parameters").filter(|p| !p.is_null()).cloned(),
                strict: Some(
                    tool["strict"]
                        .as_bool()
                        .unwrap_or_else(|| strict_compatible(&tool["parameters"])),
                ),
            },
        });
    }
    Ok(Some(out))
}

/// Whether a function's parameter schema can be held to strict mode: an object whose every
/// object (nested, in `items`, `anyOf`, `$defs`) sets `additionalProperties: false` and
/// requires all its properties. In the Responses API an omitted `strict` means strict, so a
/// Responses client that leaves it out gets it where the schema allows; where it doesn't,
/// strict mode would refuse the schema, and the tool is sent non-strict as Chat Completions
/// would take it. `/v1/messages` asks the same of an `output_config.format` schema.
pub(crate) fn strict_compatible(schema: &Value) -> bool {
    schema.get("type") == Some(&json!("object")) && strict_node(schema, 0)
}

fn strict_node(node: &Value, depth: usize) -> bool {
    // Deeper than any schema a model is given; a cycle can't occur in parsed JSON.
    if depth > 64 {
        return false;
    }
    let Some(object) = node.as_object() else {
        return true;
    };
    let is_object =
        object.get("type") == Some(&json!("object")) || object.contains_key("properties");
    if is_object {
        let properties = object.get("properties").and_then(Value::as_object);
        let required: Vec<&str> = object
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let all_required =
            properties.is_none_or(|p| p.keys().all(|k| required.contains(&k.as_str())));
        if object.get("additionalProperties") != Some(&json!(false)) || !all_required {
            return false;
        }
    }
    let children = ["properties", "$defs", "definitions"]
        .iter()
        .filter_map(|k| object.get(*k).and_then(Value::as_object))
        .flat_map(|m| m.values())
        .chain(object.get("items"))
        .chain(
            ["anyOf", "oneOf", "allOf"]
                .iter()
                .filter_map(|k| object.get(*k).and_then(Value::as_array))
                .flatten(),
        );
    children
        .into_iter()
        .all(|child| strict_node(child, depth + 1))
}

/// `tool_choice`: a mode, `{"type":"function","name":..}`, or `{"type":"allowed_tools",
/// "mode":..,"tools":[{"type":"function","name":..}]}` (in the chat form, the mode and tools
/// nest under `allowed_tools` and each name under `function`; `http::validate::tool_choice`
/// then checks the mode and that each name is one of the request's tools).
fn tool_choice(choice: &Value) -> Result<Value, ApiError> {
    match choice {
        Value::String(mode) if ["none", "auto", "required"].contains(&mode.as_str()) => {
            Ok(choice.clone())
        }
        Value::Object(o) if o.get("type") == Some(&json!("function")) => {
            let name = o
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("tool_choice.name", "Field required"))?;
            Ok(json!({"type": "function", "function": {"name": name}}))
        }
        Value::Object(o) if o.get("type") == Some(&json!("allowed_tools")) => {
            let tools = o
                .get("tools")
                .and_then(Value::as_array)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| invalid("tool_choice.tools", "must be a non-empty list"))?;
            let tools = tools
                .iter()
                .enumerate()
                .map(|(i, t)| match (t.get("type"), t.get("name")) {
                    (Some(kind), Some(Value::String(name))) if kind == "function" => {
                        Ok(json!({"type": "function", "function": {"name": name}}))
                    }
                    _ => Err(refuse(
                        &format!("tool_choice.tools[{i}]"),
                        "only functions by name ({\"type\": \"function\", \"name\": …})",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mode = o
                .get("mode")
                .filter(|m| *m == "auto" || *m == "required")
                .ok_or_else(|| invalid("tool_choice.mode", "must be \"auto\" or \"required\""))?;
            Ok(json!({"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": tools}}))
        }
        _ => Err(refuse(
            "tool_choice",
            "only none, auto, required, a function by name or allowed_tools",
        )),
    }
}

/// `text.verbosity` as the chat form's `verbosity` (GPT-5's `low`, `medium`, `high`), which
/// `upstream::fit` gives the OpenAI models that reason and drops for the rest, as for a Chat
/// Completions client: a length hint, not a contract.
fn verbosity_level(verbosity: &Value) -> Result<Value, ApiError> {
    const LEVELS: [&str; 3] = ["low", "medium", "high"];
    match verbosity.as_str() {
        Some(level) if LEVELS.contains(&level) => Ok(verbosity.clone()),
        _ => Err(invalid(
            "text.verbosity",
            &format!("must be one of {}", LEVELS.join(", ")),
        )),
    }
}

/// `text.format` as the chat form's `response_format` (`None` for plain text).
fn text_format(text: &Value) -> Result<Option<ResponseFormat>, ApiError> {
    if !text.is_object() {
        return Err(invalid("text", "must be an object"));
    }
    let Some(format) = text.get("format").filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match format["type"].as_str() {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(ResponseFormat {
            kind: "json_object".to_owned(),
            json_schema: None,
        })),
        Some("json_schema") => {
            let mut schema = format.as_object().cloned().unwrap_or_default();
            schema.remove("type");
            Ok(Some(ResponseFormat {
                kind: "json_schema".to_owned(),
                json_schema: Some(Value::Object(schema)),
            }))
        }
        _ => Err(invalid(
            "text.format.type",
            "must be text, json_object or json_schema",
        )),
    }
}

fn message(role: Role, content: Option<MessageContent>) -> ChatMessage {
    ChatMessage::new(role, content)
}

/// One input item appended to `out`: a message, a `function_call` (joined to the assistant
/// message before it, as the chat form keeps one assistant turn's calls together) or a
/// `function_call_output` (a `tool` message).
fn input_item(i: usize, item: &Value, out: &mut Vec<ChatMessage>) -> Result<(), ApiError> {
    let at = |field: &str| format!("input[{i}].{field}");
    let kind = match item.get("type") {
        None | Some(Value::Null) if item.get("role").is_some() => "message",
        Some(Value::String(kind)) => kind.as_str(),
        _ => return Err(invalid(&format!("input[{i}]"), "an item needs a `type`")),
    };
    match kind {
        "message" => {
            let role = match item["role"].as_str() {
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                Some("system") => Role::System,
                Some("developer") => Role::Developer,
                _ => {
                    return Err(invalid(
                        &at("role"),
                        "must be user, assistant, system or developer",
                    ))
                }
            };
            let content = content(&at("content"), role, &item["content"])?;
            match out.last_mut() {
                // An answer whose text came after its calls (Gemini's can) is replayed as
                // `function_call, message`: one assistant turn, as Chat Completions requires
                // (its `tool_calls` must be followed by the tool messages, or OpenAI answers
                // 400), with the text as its content.
                Some(last)
                    if role == Role::Assistant
                        && last.role == Role::Assistant
                        && last.content.is_none()
                        && last.tool_calls.is_some() =>
                {
                    last.content = Some(content);
                }
                _ => out.push(message(role, Some(content))),
            }
        }
        "function_call" => {
            let field = |name: &str| {
                item[name]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(&at(name), "Field required (a string)"))
            };
            let call = ToolCall {
                id: field("call_id")?,
                kind: "function".to_owned(),
                function: FunctionCall {
                    name: field("name")?,
                    arguments: field("arguments")?,
                },
            };
            match out.last_mut() {
                Some(last) if last.role == Role::Assistant => {
                    last.tool_calls.get_or_insert_with(Vec::new).push(call);
                }
                _ => out.push(ChatMessage {
                    tool_calls: Some(vec![call]),
                    ..message(Role::Assistant, None)
                }),
            }
        }
        "function_call_output" => {
            let call_id = item["call_id"]
                .as_str()
                .ok_or_else(|| invalid(&at("call_id"), "Field required (a string)"))?;
            let output = match &item["output"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => {
                    let mut text = String::new();
                    for (j, part) in parts.iter().enumerate() {
                        match (part["type"].as_str(), part["text"].as_str()) {
                            (Some("input_text"), Some(t)) => text.push_str(t),
                            _ => {
                                return Err(refuse(
                                    &at(&format!("output[{j}]")),
                                    "tool outputs carry text only",
                                ))
                            }
                        }
                    }
                    text
                }
                _ => return Err(invalid(&at("output"), "Field required (a string)")),
            };
            out.push(ChatMessage {
                tool_call_id: Some(call_id.to_owned()),
                ..message(Role::Tool, Some(MessageContent::Text(output)))
            });
        }
        // A reasoning item of an earlier turn (Codex replays every item it got, from
        // OpenAI or elsewhere, this endpoint's own included): the chat form has no place for
        // it, and the reasoning this gateway's answers came with is kept here and sent back
        // with their calls.
        "reasoning" => {}
        other => {
            return Err(refuse(
                &at("type"),
                &format!("`{other}` items cannot be carried to every provider"),
            ))
        }
    }
    Ok(())
}

/// A message's content: a string, or `input_text`/`output_text`/`refusal` parts (text) and
/// `input_image` parts (users only, by URL or `data:` URI).
fn content(at: &str, role: Role, content: &Value) -> Result<MessageContent, ApiError> {
    let parts = match content {
        Value::String(s) => return Ok(MessageContent::Text(s.clone())),
        Value::Array(parts) => parts,
        _ => return Err(invalid(at, "must be a string or a list of content parts")),
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let kind = part["type"].as_str().unwrap_or_default();
        match kind {
            "input_text" | "output_text" => out.push(ContentPart::Text {
                text: part["text"]
                    .as_str()
                    .ok_or_else(|| invalid(&format!("{at}[{j}].text"), "Field required"))?
                    .to_owned(),
            }),
            "refusal" => out.push(ContentPart::Text {
                text: part["refusal"].as_str().unwrap_or_default().to_owned(),
            }),
            "input_image" if role == Role::User => {
                let Some(url) = part["image_url"].as_str() else {
                    return Err(refuse(
                        &format!("{at}[{j}]"),
                        "images are taken by `image_url` only (no `file_id`)",
                    ));
                };
                out.push(ContentPart::ImageUrl {
                    image_url: ImageUrl {
                        url: url.to_owned(),
                        detail: part["detail"].as_str().map(str::to_owned),
                    },
                });
            }
            _ => {
                return Err(refuse(
                    &format!("{at}[{j}].type"),
                    &format!("`{kind}` parts cannot be carried in a {role:?} message"),
                ))
            }
        }
    }
    // One text part, or an assistant's text, travels as one string: every provider takes it.
    let text_only = out.iter().all(|p| matches!(p, ContentPart::Text { .. }));
    if text_only && (out.len() == 1 || role != Role::User) {
        let text: Vec<String> = out
            .into_iter()
            .filter_map(|p| match p {
                ContentPart::Text { text } => Some(text),
                ContentPart::ImageUrl { .. } => None,
            })
            .collect();
        return Ok(MessageContent::Text(text.join("")));
    }
    Ok(MessageContent::Parts(out))
}
