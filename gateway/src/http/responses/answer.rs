//! Answers in the Responses API's shapes: the `response` object ([`response_body`]) and the
//! typed event sequence of a stream ([`StreamEncoder`]).
//!
//! Request parameters echoed in the `response` object come from the internal chat request, so
//! a cache replay shapes its answer exactly like a live one.

use axum::body::Bytes;
use serde_json::{json, Map, Value};

use crate::openai::wire::{
    ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, FinishReason, TokenDetails,
    Usage,
};

/// A fresh id with `prefix` (`resp_`, `msg_`, `fc_`).
fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// Why an answer is `incomplete`, or `None` for a `completed` one.
fn incomplete_reason(finish: Option<&FinishReason>) -> Option<&'static str> {
    match finish {
        Some(FinishReason::Length) => Some("max_output_tokens"),
        Some(FinishReason::ContentFilter) => Some("content_filter"),
        Some(
            FinishReason::Stop
            | FinishReason::ToolCalls
            | FinishReason::FunctionCall
            | FinishReason::Other(_),
        )
        | None => None,
    }
}

/// The request parameters a `response` object repeats, in Responses' shapes.
#[derive(Clone, Debug)]
pub struct Echo(Map<String, Value>);

impl Echo {
    /// The echo of `req` (the chat form the Responses request was converted into).
    pub fn of(req: &ChatCompletionRequest) -> Self {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .flatten()
            .map(|t| {
                json!({
                    "type": "function",
                    "name": t.function.name,
                    "description": t.function.description,
                    "parameters": t.function.parameters,
                    "strict": t.function.strict,
                })
            })
            .collect();
        let tool_choice = match &req.tool_choice {
            None => json!("auto"),
            Some(Value::Object(o)) => {
                json!({"type": "function", "name": o.get("function").and_then(|f| f.get("name"))})
            }
            Some(mode) => mode.clone(),
        };
        let format = match &req.response_format {
            None => json!({"type": "text"}),
            Some(f) => {
                let mut format = f
                    .json_schema
                    .as_ref()
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                format.insert("type".to_owned(), json!(f.kind));
                Value::Object(format)
            }
        };
        let parallel = req
            .extra
            .get("parallel_tool_calls")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let Value::Object(map) = json!({
            "error": null,
            "incomplete_details": null,
            // Both as the request gave them (below); neither stored nor forwarded.
            "instructions": null,
            "max_output_tokens": req.output_limit(),
            "metadata": {},
            "parallel_tool_calls": parallel,
            "previous_response_id": null,
            "reasoning": {"effort": null, "summary": null},
            "store": false,
            "background": false,
            "temperature": req.temperature.unwrap_or(1.0),
            "text": {"format": format},
            "tool_choice": tool_choice,
            "tools": tools,
            "top_p": req.top_p.unwrap_or(1.0),
            "truncation": "disabled",
            "user": req.user,
        }) else {
            return Echo(Map::new());
        };
        let mut map = map;
        for (field, value) in req.client_echo.iter().flatten() {
            map.insert(field.clone(), value.clone());
        }
        Echo(map)
    }
}

/// Responses' usage object for `(input, output)` tokens, of which `details` were cached input
/// and reasoning output.
fn usage(((input, output), details): ((u32, u32), TokenDetails)) -> Value {
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": details.cached},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": details.reasoning},
        "total_tokens": input.saturating_add(output),
    })
}

/// The `response` object; `usage` is `None` while in progress.
fn response_object(
    head: &Head,
    status: &str,
    incomplete: Option<&str>,
    output: Vec<Value>,
    tokens: Option<((u32, u32), TokenDetails)>,
    echo: &Echo,
) -> Value {
    let mut object = echo.0.clone();
    object.insert("id".to_owned(), json!(head.id));
    object.insert("object".to_owned(), json!("response"));
    object.insert("created_at".to_owned(), json!(head.created_at));
    object.insert("status".to_owned(), json!(status));
    object.insert("model".to_owned(), json!(head.model));
    object.insert("output".to_owned(), Value::Array(output));
    object.insert("usage".to_owned(), tokens.map_or(Value::Null, usage));
    if let Some(reason) = incomplete {
        object.insert("incomplete_details".to_owned(), json!({ "reason": reason }));
    }
    Value::Object(object)
}

/// Identity of one response.
#[derive(Clone, Debug)]
struct Head {
    id: String,
    created_at: u64,
    model: String,
}

fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// What a streamed message content part holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PartKind {
    /// `output_text`, streamed as `response.output_text.*`.
    Text,
    /// `refusal`, streamed as `response.refusal.*`.
    Refusal,
}

/// One content part of a streamed message.
#[derive(Debug)]
struct Part {
    kind: PartKind,
    text: String,
}

impl Part {
    fn json(&self) -> Value {
        match self.kind {
            PartKind::Text => output_text(&self.text),
            PartKind::Refusal => json!({"type": "refusal", "refusal": self.text}),
        }
    }
}

fn message_item(id: &str, status: &str, content: Vec<Value>) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant", "content": content})
}

fn call_item(id: &str, status: &str, call_id: &str, name: &str, arguments: &str) -> Value {
    json!({"type": "function_call", "id": id, "status": status, "call_id": call_id,
           "name": name, "arguments": arguments})
}

/// The `response` object for a completion; `tokens` are its `(input, output)` counts.
pub fn response_body(
    completion: &ChatCompletionResponse,
    tokens: (u32, u32),
    req: &ChatCompletionRequest,
) -> Value {
    let choice = completion.choices.first();
    let finish = choice.and_then(|c| c.finish_reason.as_ref());
    let incomplete = incomplete_reason(finish);
    let item_status = if incomplete.is_some() {
        "incomplete"
    } else {
        "completed"
    };
    let mut output = Vec::new();
    if let Some(c) = choice {
        let mut content = Vec::new();
        if let Some(text) = c.message.content.as_deref().filter(|t| !t.is_empty()) {
            content.push(output_text(text));
        }
        if let Some(refusal) = c.message.refusal.as_deref().filter(|t| !t.is_empty()) {
            content.push(json!({"type": "refusal", "refusal": refusal}));
        }
        if !content.is_empty() {
            output.push(message_item(&new_id("msg_"), item_status, content));
        }
        for call in c.message.tool_calls.iter().flatten() {
            output.push(call_item(
                &new_id("fc_"),
                "completed",
                &call.id,
                &call.function.name,
                &call.function.arguments,
            ));
        }
    }
    let head = Head {
        id: new_id("resp_"),
        created_at: if completion.created > 0 {
            completion.created
        } else {
            crate::clock::unix_ms() / 1000
        },
        model: completion.model.clone(),
    };
    let status = if incomplete.is_some() {
        "incomplete"
    } else {
        "completed"
    };
    response_object(
        &head,
        status,
        incomplete,
        output,
        Some((
            tokens,
            completion
                .usage
                .as_ref()
                .map(Usage::details)
                .unwrap_or_default(),
        )),
        &Echo::of(req),
    )
}

/// The output item being streamed.
#[derive(Debug)]
enum Open {
    /// The assistant message: its content parts so far, the last one open.
    Message { id: String, parts: Vec<Part> },
    /// A function call, by its chat tool-call index.
    Call {
        index: u32,
        id: String,
        call_id: String,
        name: String,
        arguments: String,
    },
}

/// Turns chat chunks (from any provider) into Responses' typed events: `response.created`,
/// `response.in_progress`, per output item `response.output_item.added`, its content or
/// argument deltas and `.done` events, `response.output_item.done`, and finally
/// `response.completed` (or `response.incomplete`) once the outcome row is committed. Every
/// event carries its `sequence_number`.
#[derive(Debug)]
pub struct StreamEncoder {
    echo: Echo,
    head: Option<Head>,
    sequence: u64,
    /// Finished output items, in order.
    items: Vec<Value>,
    open: Option<Open>,
    finish: Option<FinishReason>,
    /// The cached and reasoning counts of the upstream's usage chunk.
    details: TokenDetails,
}

impl StreamEncoder {
    /// A fresh encoder for a stream answering `req`.
    pub fn new(req: &ChatCompletionRequest) -> Self {
        StreamEncoder {
            echo: Echo::of(req),
            head: None,
            sequence: 0,
            items: Vec::new(),
            open: None,
            finish: None,
            details: TokenDetails::default(),
        }
    }

    /// Appends one event: `event: TYPE` and the data with `type` and `sequence_number`.
    fn event(&mut self, out: &mut String, kind: &str, mut data: Value) {
        if let Value::Object(o) = &mut data {
            o.insert("type".to_owned(), json!(kind));
            o.insert("sequence_number".to_owned(), json!(self.sequence));
        }
        self.sequence += 1;
        out.push_str("event: ");
        out.push_str(kind);
        out.push_str("\ndata: ");
        out.push_str(&data.to_string());
        out.push_str("\n\n");
    }

    fn start(&mut self, out: &mut String, chunk: Option<&ChatCompletionChunk>) {
        if self.head.is_some() {
            return;
        }
        let head = Head {
            id: new_id("resp_"),
            created_at: chunk
                .map(|c| c.created)
                .filter(|c| *c > 0)
                .unwrap_or_else(|| crate::clock::unix_ms() / 1000),
            model: chunk.map(|c| c.model.clone()).unwrap_or_default(),
        };
        let response = response_object(&head, "in_progress", None, Vec::new(), None, &self.echo);
        self.head = Some(head);
        self.event(out, "response.created", json!({ "response": response }));
        self.event(out, "response.in_progress", json!({ "response": response }));
    }

    fn output_index(&self) -> usize {
        self.items.len()
    }

    /// Closes the open item: its `.done` events, then it joins the finished items.
    fn close(&mut self, out: &mut String) {
        let Some(open) = self.open.take() else {
            return;
        };
        let index = self.output_index();
        let item = match open {
            Open::Message { id, parts } => {
                let status = if incomplete_reason(self.finish.as_ref()).is_some() {
                    "incomplete"
                } else {
                    "completed"
                };
                if let Some(last) = parts.last() {
                    self.close_part(out, &id, index, parts.len() - 1, last);
                }
                message_item(&id, status, parts.iter().map(Part::json).collect())
            }
            Open::Call {
                id,
                call_id,
                name,
                arguments,
                ..
            } => {
                self.event(
                    out,
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": index, "name": name,
                           "arguments": arguments}),
                );
                call_item(&id, "completed", &call_id, &name, &arguments)
            }
        };
        self.event(
            out,
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
        self.items.push(item);
    }

    /// The `.done` events of the message's part at `content_index`.
    fn close_part(
        &mut self,
        out: &mut String,
        id: &str,
        index: usize,
        content_index: usize,
        part: &Part,
    ) {
        let at = json!({"item_id": id, "output_index": index, "content_index": content_index});
        let mut done = at.clone();
        match part.kind {
            PartKind::Text => {
                done["text"] = json!(part.text);
                done["logprobs"] = json!([]);
                self.event(out, "response.output_text.done", done);
            }
            PartKind::Refusal => {
                done["refusal"] = json!(part.text);
                self.event(out, "response.refusal.done", done);
            }
        }
        let mut finished = at;
        finished["part"] = part.json();
        self.event(out, "response.content_part.done", finished);
    }

    /// Appends `delta` to the message's open part of `kind`, opening the message or a new part
    /// (after closing one of the other kind) as needed.
    fn part_delta(&mut self, out: &mut String, kind: PartKind, delta: &str) {
        if !matches!(self.open, Some(Open::Message { .. })) {
            self.close(out);
            let id = new_id("msg_");
            let index = self.output_index();
            self.event(
                out,
                "response.output_item.added",
                json!({"output_index": index, "item": message_item(&id, "in_progress", vec![])}),
            );
            self.open = Some(Open::Message {
                id,
                parts: Vec::new(),
            });
        }
        let index = self.output_index();
        let Some(Open::Message { id, mut parts }) = self.open.take() else {
            return;
        };
        if parts.last().is_none_or(|p| p.kind != kind) {
            if let Some(last) = parts.last() {
                self.close_part(out, &id, index, parts.len() - 1, last);
            }
            parts.push(Part {
                kind,
                text: String::new(),
            });
            let added = json!({"item_id": id, "output_index": index,
                               "content_index": parts.len() - 1,
                               "part": parts[parts.len() - 1].json()});
            self.event(out, "response.content_part.added", added);
        }
        let content_index = parts.len() - 1;
        if let Some(part) = parts.last_mut() {
            part.text.push_str(delta);
        }
        let data = match kind {
            PartKind::Text => json!({"item_id": id, "output_index": index,
                                     "content_index": content_index, "delta": delta,
                                     "logprobs": []}),
            PartKind::Refusal => json!({"item_id": id, "output_index": index,
                                        "content_index": content_index, "delta": delta}),
        };
        let kind_event = match kind {
            PartKind::Text => "response.output_text.delta",
            PartKind::Refusal => "response.refusal.delta",
        };
        self.event(out, kind_event, data);
        self.open = Some(Open::Message { id, parts });
    }

    fn call(&mut self, out: &mut String, call: &crate::openai::wire::ToolCallDelta) {
        let function = call.function.as_ref();
        if !matches!(self.open, Some(Open::Call { index, .. }) if index == call.index) {
            self.close(out);
            let id = new_id("fc_");
            let call_id = call
                .id
                .clone()
                .unwrap_or_else(|| format!("call_{}", call.index));
            let name = function.and_then(|f| f.name.clone()).unwrap_or_default();
            let index = self.output_index();
            self.event(
                out,
                "response.output_item.added",
                json!({"output_index": index,
                       "item": call_item(&id, "in_progress", &call_id, &name, "")}),
            );
            self.open = Some(Open::Call {
                index: call.index,
                id,
                call_id,
                name,
                arguments: String::new(),
            });
        }
        let Some(delta) = function
            .and_then(|f| f.arguments.as_deref())
            .filter(|a| !a.is_empty())
        else {
            return;
        };
        let index = self.output_index();
        let Some(Open::Call { id, arguments, .. }) = &mut self.open else {
            return;
        };
        arguments.push_str(delta);
        let data = json!({"item_id": id, "output_index": index, "delta": delta});
        self.event(out, "response.function_call_arguments.delta", data);
    }

    /// The events for one chunk (`None` when it adds nothing the client sees).
    pub fn chunk(&mut self, chunk: &ChatCompletionChunk) -> Option<Bytes> {
        let mut out = String::new();
        self.start(&mut out, Some(chunk));
        if let Some(u) = &chunk.usage {
            self.details = u.details();
        }
        // One answer: the first choice.
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            let delta = &choice.delta;
            for (kind, text) in [
                (PartKind::Text, &delta.content),
                (PartKind::Refusal, &delta.refusal),
            ] {
                if let Some(text) = text.as_deref().filter(|t| !t.is_empty()) {
                    self.part_delta(&mut out, kind, text);
                }
            }
            for call in delta.tool_calls.iter().flatten() {
                self.call(&mut out, call);
            }
            if let Some(finish) = &choice.finish_reason {
                self.finish = Some(finish.clone());
            }
        }
        (!out.is_empty()).then(|| Bytes::from(out))
    }

    /// The closing events of a complete stream; `tokens` are its `(input, output)` counts.
    pub fn done(&mut self, tokens: (u32, u32)) -> Bytes {
        let mut out = String::new();
        self.start(&mut out, None);
        self.close(&mut out);
        let incomplete = incomplete_reason(self.finish.as_ref());
        let (kind, status) = match incomplete {
            Some(_) => ("response.incomplete", "incomplete"),
            None => ("response.completed", "completed"),
        };
        let head = self.head.clone().unwrap_or(Head {
            id: new_id("resp_"),
            created_at: 0,
            model: String::new(),
        });
        let response = response_object(
            &head,
            status,
            incomplete,
            self.items.clone(),
            Some((tokens, self.details)),
            &self.echo,
        );
        self.event(&mut out, kind, json!({ "response": response }));
        Bytes::from(out)
    }

    /// The terminal `error` event of a stream that failed after its first byte.
    pub fn error(&self, code: &str, message: &str) -> Bytes {
        error_event(self.sequence, code, message)
    }
}

/// An `error` event numbered `sequence` (0 for a stream that sent nothing before it).
pub fn error_event(sequence: u64, code: &str, message: &str) -> Bytes {
    let data = json!({"type": "error", "code": code, "message": message, "param": null,
                      "sequence_number": sequence});
    Bytes::from(format!("event: error\ndata: {data}\n\n"))
}
