//! Answers in the Responses API's shapes: the `response` object ([`response_body`]) and the
//! typed event sequence of a stream ([`StreamEncoder`]).
//!
//! Request parameters echoed in the `response` object come from the internal chat request, so
//! a cache replay shapes its answer exactly like a live one.

use std::collections::BTreeMap;

use axum::body::Bytes;
use serde_json::{json, Map, Value};

use crate::openai::tool_calls::{Fed, ToolCallAccumulator};
use crate::openai::wire::{
    ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, FinishReason, TokenDetails,
    ToolCallDelta, Usage,
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

/// An output item's status in an answer that was (`incomplete`) or was not cut short: what
/// the cut reached is `incomplete` (the answer's last item, and a call whose arguments are not
/// whole JSON, which calls streamed side by side can leave), as OpenAI marks it; what was
/// finished before it is `completed`. A client runs the calls of an answer, and one whose
/// arguments were cut off must not look complete.
fn item_status(incomplete: bool, last: bool, arguments: Option<&str>) -> &'static str {
    let cut = last || arguments.is_some_and(|a| serde_json::from_str::<Value>(a).is_err());
    if incomplete && cut {
        "incomplete"
    } else {
        "completed"
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
        let tool_choice = req.tool_choice.as_ref().map_or_else(
            || json!("auto"),
            crate::openai::tool_choice::in_responses_shape,
        );
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
            "reasoning": {"effort": req.extra.get("reasoning_effort"), "summary": null},
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
    let mut output = Vec::new();
    if let Some(c) = choice {
        let calls = c.message.tool_calls.as_deref().unwrap_or_default();
        let mut content = Vec::new();
        if let Some(text) = c.message.content.as_deref().filter(|t| !t.is_empty()) {
            content.push(output_text(text));
        }
        if let Some(refusal) = c.message.refusal.as_deref().filter(|t| !t.is_empty()) {
            content.push(json!({"type": "refusal", "refusal": refusal}));
        }
        if !content.is_empty() {
            let status = item_status(incomplete.is_some(), calls.is_empty(), None);
            output.push(message_item(&new_id("msg_"), status, content));
        }
        for (i, call) in calls.iter().enumerate() {
            let arguments = &call.function.arguments;
            let last = i + 1 == calls.len();
            output.push(call_item(
                &new_id("fc_"),
                item_status(incomplete.is_some(), last, Some(arguments)),
                &call_id(i, &call.id),
                &call.function.name,
                arguments,
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

/// The assistant message being streamed: its content parts so far, the last one open.
#[derive(Debug)]
struct OpenMessage {
    id: String,
    output_index: usize,
    parts: Vec<Part>,
}

/// A call's `call_id`: the upstream's, or `call_{index}` when it gave none.
fn call_id(index: usize, id: &str) -> String {
    if id.is_empty() {
        format!("call_{index}")
    } else {
        id.to_owned()
    }
}

/// OpenAI's `response.error.code` for a failure answered with `status`: `ResponseError.code`
/// is a fixed list in OpenAI's API (`server_error`, `rate_limit_exceeded`, `invalid_prompt`
/// and image errors), which typed clients check, so the gateway's own code goes in the `error`
/// event before it (whose `code` is any string).
fn response_error_code(status: u16) -> &'static str {
    if status == 429 {
        "rate_limit_exceeded"
    } else {
        "server_error"
    }
}

/// Turns chat chunks (from any provider) into Responses' typed events: `response.created`,
/// `response.in_progress`, per output item `response.output_item.added`, its content or
/// argument deltas and `.done` events, `response.output_item.done`, and finally
/// `response.completed` (or `response.incomplete`) once the outcome row is committed. Every
/// event carries its `sequence_number`.
///
/// Items follow one another as OpenAI streams them (a call ends the message before it), but
/// function calls stay open until the end of the answer, each by its tool-call index: an
/// upstream that interleaves parallel calls gets one item per call, their events interleaved
/// by `output_index` (which the SDKs' stream helpers key on).
#[derive(Debug)]
pub struct StreamEncoder {
    echo: Echo,
    /// The model asked for, until a chunk names the one answering.
    model: String,
    head: Option<Head>,
    sequence: u64,
    /// Finished output items, by output index.
    items: BTreeMap<usize, Value>,
    /// The output index of the next item.
    next_output: usize,
    message: Option<OpenMessage>,
    /// Open function calls, by tool-call index, each marked with its item's id and output
    /// index once announced (`response.output_item.added`): once its name is known, with the
    /// arguments held until then. Its `.done` events carry the final values.
    calls: ToolCallAccumulator<(String, usize)>,
    finish: Option<FinishReason>,
    /// The cached and reasoning counts of the upstream's usage chunk.
    details: TokenDetails,
}

impl StreamEncoder {
    /// A fresh encoder for a stream answering `req`.
    pub fn new(req: &ChatCompletionRequest) -> Self {
        StreamEncoder {
            echo: Echo::of(req),
            model: req.model.clone(),
            head: None,
            sequence: 0,
            items: BTreeMap::new(),
            next_output: 0,
            message: None,
            calls: ToolCallAccumulator::default(),
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
            model: chunk
                .map(|c| c.model.clone())
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| self.model.clone()),
        };
        let response = response_object(&head, "in_progress", None, Vec::new(), None, &self.echo);
        self.head = Some(head);
        self.event(out, "response.created", json!({ "response": response }));
        self.event(out, "response.in_progress", json!({ "response": response }));
    }

    /// A new item's output index.
    fn next_output_index(&mut self) -> usize {
        let index = self.next_output;
        self.next_output += 1;
        index
    }

    /// The status of the item at `output_index` closed now ([`item_status`]): items closed
    /// before the answer's end are `completed`.
    fn status_of(&self, output_index: usize, arguments: Option<&str>) -> &'static str {
        let incomplete = incomplete_reason(self.finish.as_ref()).is_some();
        item_status(incomplete, output_index + 1 == self.next_output, arguments)
    }

    /// Closes the open message: its last part's and its own `.done` events.
    fn close_message(&mut self, out: &mut String) {
        let Some(OpenMessage {
            id,
            output_index,
            parts,
        }) = self.message.take()
        else {
            return;
        };
        if let Some(last) = parts.last() {
            self.close_part(out, &id, output_index, parts.len() - 1, last);
        }
        let status = self.status_of(output_index, None);
        let item = message_item(&id, status, parts.iter().map(Part::json).collect());
        self.event(
            out,
            "response.output_item.done",
            json!({"output_index": output_index, "item": item}),
        );
        self.items.insert(output_index, item);
    }

    /// Announces the call at `index` (once): `response.output_item.added`, then the arguments
    /// received before it as one delta.
    fn announce(&mut self, out: &mut String, index: u32) {
        let Some(call) = self.calls.unannounced(index) else {
            return;
        };
        let call_id = call_id(index as usize, &call.id);
        let name = call.name.clone();
        let arguments = call.arguments.clone();
        let id = new_id("fc_");
        let output_index = self.next_output_index();
        self.calls.announce(index, (id.clone(), output_index));
        self.event(
            out,
            "response.output_item.added",
            json!({"output_index": output_index,
                   "item": call_item(&id, "in_progress", &call_id, &name, "")}),
        );
        if !arguments.is_empty() {
            self.event(
                out,
                "response.function_call_arguments.delta",
                json!({"item_id": id, "output_index": output_index, "delta": arguments}),
            );
        }
    }

    /// Closes the call at `index` (announced first if its name never came).
    fn close_call(&mut self, out: &mut String, index: u32) {
        self.announce(out, index);
        let Some((call, Some((id, output_index)))) = self.calls.remove(index) else {
            return;
        };
        self.event(
            out,
            "response.function_call_arguments.done",
            json!({"item_id": id, "output_index": output_index, "name": call.name,
                   "arguments": call.arguments}),
        );
        let item = call_item(
            &id,
            self.status_of(output_index, Some(&call.arguments)),
            &call_id(index as usize, &call.id),
            &call.name,
            &call.arguments,
        );
        self.event(
            out,
            "response.output_item.done",
            json!({"output_index": output_index, "item": item}),
        );
        self.items.insert(output_index, item);
    }

    /// Closes every open item in output order, calls whose name never came announced first
    /// (by index).
    fn close_all(&mut self, out: &mut String) {
        for index in self.calls.unannounced_indexes() {
            self.announce(out, index);
        }
        let mut open: Vec<(usize, Option<u32>)> = self
            .calls
            .marks()
            .map(|(index, (_, at))| (*at, Some(index)))
            .collect();
        if let Some(message) = &self.message {
            open.push((message.output_index, None));
        }
        open.sort_unstable();
        for (_, call) in open {
            match call {
                Some(index) => self.close_call(out, index),
                None => self.close_message(out),
            }
        }
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
        if self.message.is_none() {
            let id = new_id("msg_");
            let output_index = self.next_output_index();
            self.event(
                out,
                "response.output_item.added",
                json!({"output_index": output_index,
                       "item": message_item(&id, "in_progress", vec![])}),
            );
            self.message = Some(OpenMessage {
                id,
                output_index,
                parts: Vec::new(),
            });
        }
        let Some(OpenMessage {
            id,
            output_index: index,
            mut parts,
        }) = self.message.take()
        else {
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
        self.message = Some(OpenMessage {
            id,
            output_index: index,
            parts,
        });
    }

    /// One tool-call fragment, added to its index's call.
    fn call(&mut self, out: &mut String, delta: &ToolCallDelta) {
        // A call ends the message before it, as OpenAI streams items one after another.
        self.close_message(out);
        match self.calls.feed(delta) {
            Fed::Announce => self.announce(out, delta.index),
            Fed::Arguments {
                mark: (id, output_index),
                fragment,
            } => self.event(
                out,
                "response.function_call_arguments.delta",
                json!({"item_id": id, "output_index": output_index, "delta": fragment}),
            ),
            Fed::Held => {}
        }
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

    /// The response as it stands, with `status`.
    fn response(&self, status: &str, tokens: Option<((u32, u32), TokenDetails)>) -> Value {
        let head = self.head.clone().unwrap_or(Head {
            id: new_id("resp_"),
            created_at: 0,
            model: self.model.clone(),
        });
        let incomplete = incomplete_reason(self.finish.as_ref()).filter(|_| status == "incomplete");
        response_object(
            &head,
            status,
            incomplete,
            self.items.values().cloned().collect(),
            tokens,
            &self.echo,
        )
    }

    /// The closing events of a complete stream; `tokens` are its `(input, output)` counts.
    pub fn done(&mut self, tokens: (u32, u32)) -> Bytes {
        let mut out = String::new();
        self.start(&mut out, None);
        self.close_all(&mut out);
        let (kind, status) = match incomplete_reason(self.finish.as_ref()) {
            Some(_) => ("response.incomplete", "incomplete"),
            None => ("response.completed", "completed"),
        };
        let response = self.response(status, Some((tokens, self.details)));
        self.event(&mut out, kind, json!({ "response": response }));
        Bytes::from(out)
    }

    /// The `error` event that ends a stream failing after its first byte. The SDKs' stream
    /// helpers refuse any event before `response.created`, so a stream whose first chunk never
    /// reached the encoder (held back by the answer masker or the stop cutter) gets
    /// `response.created` and `response.in_progress` first.
    pub fn error(&mut self, code: &str, message: &str) -> Bytes {
        let mut out = String::new();
        self.start(&mut out, None);
        self.error_event(&mut out, code, message);
        Bytes::from(out)
    }

    fn error_event(&mut self, out: &mut String, code: &str, message: &str) {
        self.event(
            out,
            "error",
            json!({"code": code, "message": message, "param": null}),
        );
    }

    /// The whole stream of a request that failed (answered `status`, with the gateway's `code`
    /// and `message`) before its answer started, after its keep-alives began: what OpenAI
    /// sends for a response that fails, `response.created` and `response.in_progress`, the
    /// `error` event, then `response.failed` whose `response.error` says why (OpenAI API
    /// reference, "Streaming events", developers.openai.com/api/reference/resources/beta/
    /// subresources/responses/streaming-events, read 2026-12-07: `response.created` first,
    /// `error` with `code`, `message`, `param`, `sequence_number`, and `response.failed`
    /// carrying the failed response, whose `error` is `{code, message}`). The SDKs' stream
    /// helpers refuse a stream whose first event is not `response.created` (openai-python's
    /// `responses.stream()` raises "Expected to have received `response.created` before
    /// `error`").
    pub fn failed(&mut self, status: u16, code: &str, message: &str) -> Bytes {
        let mut out = String::new();
        self.start(&mut out, None);
        self.error_event(&mut out, code, message);
        let mut response = self.response("failed", None);
        response["error"] = json!({"code": response_error_code(status), "message": message});
        self.event(&mut out, "response.failed", json!({ "response": response }));
        Bytes::from(out)
    }
}
