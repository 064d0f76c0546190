//! Answers in the Responses API's shapes: the `response` object ([`response_body`]) and the
//! typed event sequence of a stream ([`StreamEncoder`]).
//!
//! A model's reasoning text (the chat form's `reasoning_content`: Claude's thinking, DeepSeek's
//! reasoning) is a `reasoning` item before the message and calls it came before, as OpenAI's
//! reasoning models answer ([`reasoning_item`]).
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

/// A fresh id with `prefix` (`resp_`, `rs_`, `msg_`, `fc_`).
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
    /// Whether the client asked for a reasoning summary (`reasoning.summary`, echoed as
    /// asked): the reasoning text then goes in a reasoning item's `summary`, else in its
    /// `content` ([`reasoning_item`]).
    fn summarizes(&self) -> bool {
        self.0
            .get("reasoning")
            .and_then(|r| r.get("summary"))
            .is_some_and(Value::is_string)
    }

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

/// Where a reasoning item holds its text, and the events that stream it: one part of either.
#[derive(Debug)]
struct ReasoningPart {
    /// The item's field, and the part's type in it.
    field: &'static str,
    kind: &'static str,
    /// The field that numbers the part in its events (always 0: one part).
    index: &'static str,
    added: &'static str,
    delta: &'static str,
    text_done: &'static str,
    done: &'static str,
}

/// A summary, as OpenAI's reasoning models give one when asked (`reasoning.summary`).
const SUMMARY: ReasoningPart = ReasoningPart {
    field: "summary",
    kind: "summary_text",
    index: "summary_index",
    added: "response.reasoning_summary_part.added",
    delta: "response.reasoning_summary_text.delta",
    text_done: "response.reasoning_summary_text.done",
    done: "response.reasoning_summary_part.done",
};

/// The reasoning itself, as OpenAI's open-weight models (gpt-oss) give it.
const CONTENT: ReasoningPart = ReasoningPart {
    field: "content",
    kind: "reasoning_text",
    index: "content_index",
    added: "response.content_part.added",
    delta: "response.reasoning_text.delta",
    text_done: "response.reasoning_text.done",
    done: "response.content_part.done",
};

/// The part reasoning text goes in: a `summary_text` in `summary` when the client asked for a
/// summary, else a `reasoning_text` in `content` (with `summary` empty). OpenAI returns
/// summaries only to a client that asks, and a client that asks shows them (Codex asks on
/// every turn and shows summaries by default, raw reasoning only when configured to); the
/// text upstreams give is Claude's thinking, which Anthropic itself summarises, or another
/// model's raw reasoning, which open-model Responses servers (gpt-oss, vLLM) return as
/// `reasoning_text` content. So a client that asks gets the text as what it asked for, and
/// one that does not gets it where OpenAI puts reasoning that is not a summary.
fn reasoning_part(summary: bool) -> &'static ReasoningPart {
    if summary {
        &SUMMARY
    } else {
        &CONTENT
    }
}

/// A `reasoning` item holding `text` (none yet when empty) as [`reasoning_part`] says. Its
/// `encrypted_content` is null: what a model signs or encrypts stays with the gateway, which
/// gives it back to that model with the calls it came before.
fn reasoning_item(id: &str, status: &str, text: &str, summary: bool) -> Value {
    let part = reasoning_part(summary);
    let parts: Vec<Value> = if text.is_empty() {
        Vec::new()
    } else {
        vec![json!({"type": part.kind, "text": text})]
    };
    let mut item = json!({"type": "reasoning", "id": id, "status": status, "summary": [],
                          "encrypted_content": null});
    item[part.field] = Value::Array(parts);
    item
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
    let echo = Echo::of(req);
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
        // The reasoning came before the answer: first, as OpenAI orders its items.
        if let Some(reasoning) = c
            .message
            .reasoning_content
            .as_deref()
            .filter(|t| !t.is_empty())
        {
            let last = content.is_empty() && calls.is_empty();
            output.push(reasoning_item(
                &new_id("rs_"),
                item_status(incomplete.is_some(), last, None),
                reasoning,
                echo.summarizes(),
            ));
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
        &echo,
    )
}

/// The assistant message being streamed: its content parts so far, the last one open.
#[derive(Debug)]
struct OpenMessage {
    id: String,
    output_index: usize,
    parts: Vec<Part>,
}

/// The reasoning item being streamed: its one part's text so far.
#[derive(Debug)]
struct OpenReasoning {
    id: String,
    output_index: usize,
    text: String,
}

/// The reasoning item or the message being streamed: at most one is open, either closes the
/// other (as OpenAI streams them, one after the other).
#[derive(Debug)]
enum Prose {
    Reasoning(OpenReasoning),
    Message(OpenMessage),
}

impl Prose {
    fn output_index(&self) -> usize {
        match self {
            Prose::Reasoning(r) => r.output_index,
            Prose::Message(m) => m.output_index,
        }
    }
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
///
/// Reasoning (`reasoning_content`) is a `reasoning` item ([`reasoning_item`]), its text in one
/// summary or content part, closed when text or a call begins. Reasoning that comes after
/// text (an upstream that interleaves them, or Claude thinking between tool calls) closes the
/// message and opens a new reasoning item at the next output index; text after it opens a new
/// message.
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
    /// Whether reasoning goes in a summary part (the client asked for one) or a content part.
    summarize: bool,
    /// The open reasoning item or message, if any.
    prose: Option<Prose>,
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
        let echo = Echo::of(req);
        StreamEncoder {
            summarize: echo.summarizes(),
            echo,
            model: req.model.clone(),
            head: None,
            sequence: 0,
            items: BTreeMap::new(),
            next_output: 0,
            prose: None,
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

    /// Closes the open reasoning item or message.
    fn close_prose(&mut self, out: &mut String) {
        match self.prose.take() {
            Some(Prose::Reasoning(reasoning)) => self.close_reasoning(out, reasoning),
            Some(Prose::Message(message)) => self.close_message(out, message),
            None => {}
        }
    }

    /// Closes `message`: its last part's and its own `.done` events.
    fn close_message(&mut self, out: &mut String, message: OpenMessage) {
        let OpenMessage {
            id,
            output_index,
            parts,
        } = message;
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

    /// Appends `delta` to the open reasoning item, closing the message first (reasoning after
    /// text starts a new item) and opening the item as needed.
    fn reasoning_delta(&mut self, out: &mut String, delta: &str) {
        let mut open = match self.prose.take() {
            Some(Prose::Reasoning(open)) => open,
            other => {
                if let Some(Prose::Message(message)) = other {
                    self.close_message(out, message);
                }
                self.open_reasoning(out)
            }
        };
        let part = reasoning_part(self.summarize);
        let mut data = json!({"item_id": open.id, "output_index": open.output_index,
                              "delta": delta});
        data[part.index] = json!(0);
        self.event(out, part.delta, data);
        open.text.push_str(delta);
        self.prose = Some(Prose::Reasoning(open));
    }

    /// A new reasoning item at the next output index, and its one part: their `.added` events.
    fn open_reasoning(&mut self, out: &mut String) -> OpenReasoning {
        let part = reasoning_part(self.summarize);
        let id = new_id("rs_");
        let output_index = self.next_output_index();
        let item = reasoning_item(&id, "in_progress", "", self.summarize);
        self.event(
            out,
            "response.output_item.added",
            json!({"output_index": output_index, "item": item}),
        );
        let mut added = json!({"item_id": id, "output_index": output_index,
                               "part": {"type": part.kind, "text": ""}});
        added[part.index] = json!(0);
        self.event(out, part.added, added);
        OpenReasoning {
            id,
            output_index,
            text: String::new(),
        }
    }

    /// Closes `reasoning`: its part's and its own `.done` events.
    fn close_reasoning(&mut self, out: &mut String, reasoning: OpenReasoning) {
        let OpenReasoning {
            id,
            output_index,
            text,
        } = reasoning;
        let part = reasoning_part(self.summarize);
        let mut at = json!({"item_id": id, "output_index": output_index});
        at[part.index] = json!(0);
        let mut text_done = at.clone();
        text_done["text"] = json!(text);
        self.event(out, part.text_done, text_done);
        let mut done = at;
        done["part"] = json!({"type": part.kind, "text": text});
        self.event(out, part.done, done);
        let status = self.status_of(output_index, None);
        let item = reasoning_item(&id, status, &text, self.summarize);
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
        if let Some(prose) = &self.prose {
            open.push((prose.output_index(), None));
        }
        open.sort_unstable();
        for (_, call) in open {
            match call {
                Some(index) => self.close_call(out, index),
                None => self.close_prose(out),
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
        let OpenMessage {
            id,
            output_index: index,
            mut parts,
        } = match self.prose.take() {
            Some(Prose::Message(message)) => message,
            other => {
                // The answer follows the reasoning: its item is done.
                if let Some(Prose::Reasoning(reasoning)) = other {
                    self.close_reasoning(out, reasoning);
                }
                let id = new_id("msg_");
                let output_index = self.next_output_index();
                self.event(
                    out,
                    "response.output_item.added",
                    json!({"output_index": output_index,
                           "item": message_item(&id, "in_progress", vec![])}),
                );
                OpenMessage {
                    id,
                    output_index,
                    parts: Vec::new(),
                }
            }
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
        self.prose = Some(Prose::Message(OpenMessage {
            id,
            output_index: index,
            parts,
        }));
    }

    /// One tool-call fragment, added to its index's call.
    fn call(&mut self, out: &mut String, delta: &ToolCallDelta) {
        // A call ends the message (or reasoning) before it, as OpenAI streams items one after
        // another.
        self.close_prose(out);
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
            // First: reasoning held before the first token comes in that token's chunk.
            if let Some(reasoning) = delta.reasoning_content.as_deref().filter(|t| !t.is_empty()) {
                self.reasoning_delta(&mut out, reasoning);
            }
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
