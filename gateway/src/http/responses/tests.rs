#![allow(clippy::unwrap_used, clippy::expect_used)]
use serde_json::{json, Value};

use super::*;
use crate::cache::assemble::Assembler;
use crate::http::error::ApiError;
use crate::openai::wire::{
    ChatCompletionChunk, ChunkChoice, Delta, FinishReason, Role, ToolCallDelta,
};

fn parse_json(v: Value) -> Result<crate::openai::wire::ChatCompletionRequest, ApiError> {
    parse(v.to_string().as_bytes())
}

#[test]
fn string_input_and_instructions() {
    let req = parse_json(
        json!({"model": "auto", "input": "Hi", "instructions": "Be brief.",
        "max_output_tokens": 32, "temperature": 0.2, "user": "u1", "metadata": {"k": "v"},
        "store": true, "router": {"max_cost_usd": 0.01}}),
    )
    .unwrap();
    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::System, Role::User]);
    assert_eq!(req.messages[0].text_content(), "Be brief.");
    assert_eq!(req.output_limit(), Some(32));
    assert_eq!(req.user.as_deref(), Some("u1"));
    assert_eq!(req.router.as_ref().unwrap().max_cost_usd, Some(0.01));
    assert!(!req.is_stream());
    // Echoed in the answer as given, and never part of what is sent upstream.
    let echo = format!("{:?}", answer::Echo::of(&req));
    assert!(
        echo.contains("Be brief.") && echo.contains("\"k\""),
        "{echo}"
    );
    let upstream = serde_json::to_value(&req).unwrap();
    assert!(upstream.get("metadata").is_none() && upstream.get("client_echo").is_none());
}

/// The Responses API holds a function tool without `strict` to strict mode: the gateway sends
/// `strict: true` where the schema allows it (before, an omitted `strict` became chat's
/// non-strict default), non-strict where strict mode would refuse the schema, and the client's
/// own choice as given.
#[test]
fn an_omitted_strict_is_strict_where_the_schema_allows() {
    let strict_schema = json!({"type": "object", "additionalProperties": false,
        "properties": {"city": {"type": "string"},
                       "days": {"type": "array", "items": {"type": "object",
                           "additionalProperties": false, "required": ["n"],
                           "properties": {"n": {"type": "integer"}}}}},
        "required": ["city", "days"]});
    let open_schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
    let optional = json!({"type": "object", "additionalProperties": false,
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["city"]});
    let nested_open = json!({"type": "object", "additionalProperties": false,
        "properties": {"where": {"type": "object", "properties": {"city": {"type": "string"}}}},
        "required": ["where"]});
    for (tool, strict) in [
        (
            json!({"type": "function", "name": "f", "parameters": strict_schema}),
            true,
        ),
        (
            json!({"type": "function", "name": "f", "parameters": open_schema}),
            false,
        ),
        (
            json!({"type": "function", "name": "f", "parameters": optional}),
            false,
        ),
        (
            json!({"type": "function", "name": "f", "parameters": nested_open}),
            false,
        ),
        (json!({"type": "function", "name": "f"}), false),
        (
            json!({"type": "function", "name": "f", "parameters": strict_schema, "strict": false}),
            false,
        ),
    ] {
        let req = parse_json(json!({"model": "gpt-4o", "input": "hi", "tools": [tool]})).unwrap();
        assert_eq!(
            req.tools.as_ref().unwrap()[0].function.strict,
            Some(strict),
            "{tool}"
        );
        // The response object echoes what was applied.
        let echo = format!("{:?}", answer::Echo::of(&req));
        assert!(
            echo.contains(&format!("\"strict\": Bool({strict})")),
            "{echo}"
        );
    }
}

/// An answer whose text came after its call (`function_call, message`), replayed by the
/// client, stays one assistant turn before the tool's output: two assistant messages with the
/// calls first are a 400 at OpenAI's Chat Completions.
#[test]
fn text_after_a_call_joins_the_calls_turn() {
    let req = parse_json(json!({
        "model": "gpt-4o-mini",
        "input": [
            {"role": "user", "content": "Weather in Paris?"},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather",
             "arguments": "{}"},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "Checking."}]},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "18C in Paris."}]}
        ]
    }))
    .unwrap();
    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::User, Role::Assistant, Role::Tool, Role::Assistant]
    );
    assert_eq!(req.messages[1].text_content(), "Checking.");
    assert_eq!(req.messages[1].tool_calls.as_ref().unwrap()[0].id, "call_1");
    assert_eq!(req.messages[3].text_content(), "18C in Paris.");
}

#[test]
fn items_tools_and_function_call_round_trip() {
    let req = parse_json(json!({
        "model": "gpt-4o-mini",
        "stream": true,
        "parallel_tool_calls": false,
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"},
                   "strict": true}],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "input": [
            {"role": "developer", "content": "Use tools."},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "Weather in Paris?"},
                {"type": "input_image", "image_url": "data:image/png;base64,AA"}]},
            {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
             "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather",
             "arguments": "{\"city\":\"Paris\"}", "id": "fc_1", "status": "completed"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"}
        ]
    }))
    .unwrap();
    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::Developer, Role::User, Role::Assistant, Role::Tool]
    );
    assert!(req.messages[1].has_image());
    assert_eq!(req.messages[2].text_content(), "Checking.");
    let call = &req.messages[2].tool_calls.as_ref().unwrap()[0];
    assert_eq!(call.id, "call_1");
    assert_eq!(call.function.arguments, r#"{"city":"Paris"}"#);
    assert_eq!(req.messages[3].tool_call_id.as_deref(), Some("call_1"));
    assert_eq!(req.tools.as_ref().unwrap()[0].function.strict, Some(true));
    assert_eq!(
        req.tool_choice.as_ref().unwrap()["function"]["name"],
        "get_weather"
    );
    assert_eq!(req.extra["parallel_tool_calls"], false);
    assert!(req.is_stream() && req.wants_stream_usage());
    let echo = answer::Echo::of(&req);
    let body = format!("{echo:?}");
    assert!(body.contains("get_weather"), "{body}");
}

#[test]
fn refuses_what_it_cannot_carry_by_name() {
    let base = json!({"model": "auto", "input": "hi"});
    for (field, value) in [
        ("previous_response_id", json!("resp_1")),
        ("conversation", json!("conv_1")),
        ("background", json!(true)),
        ("reasoning", json!({"summary": "everything"})),
        ("include", json!(["message.output_text.logprobs"])),
        ("include", json!(["file_search_call.results"])),
        ("include", json!("reasoning.encrypted_content")),
        ("truncation", json!("auto")),
        ("frobnicate", json!(1)),
    ] {
        let mut b = base.clone();
        b[field] = value;
        let e = parse_json(b).unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
    // Null, `false` and empty settings are the defaults, not requests.
    let mut b = base.clone();
    b["background"] = json!(false);
    b["previous_response_id"] = Value::Null;
    b["reasoning"] = json!({"effort": null});
    b["include"] = json!([]);
    b["truncation"] = json!("disabled");
    parse_json(b).unwrap();
    let mut b = base.clone();
    b["tools"] = json!([{"type": "web_search"}]);
    let e = parse_json(b).unwrap_err().to_string();
    assert!(
        e.contains("tools[0].type") && e.contains("web_search"),
        "{e}"
    );
    let mut b = base;
    b["input"] = json!([{"type": "item_reference", "id": "msg_1"}]);
    let e = parse_json(b).unwrap_err().to_string();
    assert!(e.contains("input[0].type"), "{e}");
}

fn chunk(delta: Delta, finish: Option<FinishReason>) -> ChatCompletionChunk {
    ChatCompletionChunk {
        id: "c1".into(),
        object: "chat.completion.chunk".into(),
        created: 7,
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

#[test]
fn stream_events_follow_responses_sequence() {
    let req = parse_json(json!({"model": "auto", "input": "hi", "stream": true})).unwrap();
    let mut e = StreamEncoder::new(&req);
    let text = |t: &str| Delta {
        content: Some(t.into()),
        ..Default::default()
    };
    let mut all = String::new();
    for c in [
        chunk(text("Hel"), None),
        chunk(text("lo"), None),
        chunk(
            call_delta(0, Some("call_1"), Some("f"), Some("{\"a\":1}")),
            None,
        ),
        chunk(Delta::default(), Some(FinishReason::ToolCalls)),
    ] {
        if let Some(b) = e.chunk(&c) {
            all.push_str(std::str::from_utf8(&b).unwrap());
        }
    }
    all.push_str(std::str::from_utf8(&e.done((7, 3))).unwrap());
    let events: Vec<Value> = all
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let names: Vec<&str> = events.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, v) in events.iter().enumerate() {
        assert_eq!(v["sequence_number"], i, "{v}");
    }
    let done = &events[13]["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["content"][0]["text"], "Hello");
    assert_eq!(done["output"][1]["call_id"], "call_1");
    assert_eq!(done["output"][1]["arguments"], "{\"a\":1}");
    assert_eq!(events[12]["output_index"], 1);
    assert_eq!(done["usage"]["total_tokens"], 10);
    assert_eq!(events[0]["response"]["id"], done["id"]);
}

#[test]
fn a_streamed_refusal_is_its_own_part_with_refusal_events() {
    let req = parse_json(json!({"model": "auto", "input": "hi", "stream": true})).unwrap();
    let mut e = StreamEncoder::new(&req);
    let refusal = |t: &str| Delta {
        refusal: Some(t.into()),
        ..Default::default()
    };
    let mut all = String::new();
    for c in [
        chunk(
            Delta {
                content: Some("Well. ".into()),
                ..Default::default()
            },
            None,
        ),
        chunk(refusal("I can't "), None),
        chunk(refusal("help with that."), Some(FinishReason::Stop)),
    ] {
        if let Some(b) = e.chunk(&c) {
            all.push_str(std::str::from_utf8(&b).unwrap());
        }
    }
    all.push_str(std::str::from_utf8(&e.done((3, 5))).unwrap());
    let events: Vec<Value> = all
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let names: Vec<&str> = events.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.content_part.added",
            "response.refusal.delta",
            "response.refusal.delta",
            "response.refusal.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(events[7]["content_index"], 1);
    assert_eq!(events[7]["part"]["type"], "refusal");
    assert_eq!(events[10]["refusal"], "I can't help with that.");
    let content = &events[13]["response"]["output"][0]["content"];
    assert_eq!(content[0]["text"], "Well. ");
    assert_eq!(
        content[1],
        json!({"type": "refusal", "refusal": "I can't help with that."})
    );
}

/// `(type, data)` of every event in `body`; each event's data names its own type.
fn typed_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e.lines().find_map(|l| l.strip_prefix("event: ")).unwrap();
            let data: Value =
                serde_json::from_str(e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap())
                    .unwrap();
            assert_eq!(data["type"], name, "{e}");
            (name.to_owned(), data)
        })
        .collect()
}

/// The whole stream `chunks` make through a fresh encoder for `req`.
fn encode(
    req: &crate::openai::wire::ChatCompletionRequest,
    chunks: &[ChatCompletionChunk],
) -> String {
    let mut e = StreamEncoder::new(req);
    let mut all = String::new();
    for c in chunks {
        if let Some(b) = e.chunk(c) {
            all.push_str(std::str::from_utf8(&b).unwrap());
        }
    }
    all.push_str(std::str::from_utf8(&e.done((5, 5))).unwrap());
    all
}

/// `chunks` assembled as the response cache stores an answer, and that answer's replay as
/// this endpoint streams it (typed events).
fn stored_and_replayed(
    req: &crate::openai::wire::ChatCompletionRequest,
    chunks: &[ChatCompletionChunk],
) -> (
    crate::openai::wire::ChatCompletionResponse,
    Vec<(String, Value)>,
) {
    let stored = Assembler::of_chunks(chunks, (5, 5)).unwrap();
    let replay = typed_events(&encode(req, &crate::cache::replay::chunks(&stored, (5, 5))));
    (stored, replay)
}

fn call_delta(index: u32, id: Option<&str>, name: Option<&str>, args: Option<&str>) -> Delta {
    Delta {
        tool_calls: Some(vec![ToolCallDelta::for_test(index, id, name, args)]),
        ..Default::default()
    }
}

/// The `function_call` items of a response with their item ids left out (fresh per answer).
fn calls_of(response: &Value) -> Vec<Value> {
    response["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "function_call")
        .map(|i| {
            let mut i = i.clone();
            i.as_object_mut().unwrap().remove("id");
            i
        })
        .collect()
}

/// Checks what an SDK's stream helper relies on: contiguous sequence numbers, output indexes
/// given in order by `output_item.added`, every delta and `.done` event naming the item at its
/// index while it is open, each item's arguments the concatenation of its deltas, and every
/// item done before the response is.
fn assert_coherent(events: &[(String, Value)]) {
    let mut items: Vec<(String, String)> = Vec::new();
    let mut closed: Vec<bool> = Vec::new();
    for (i, (name, v)) in events.iter().enumerate() {
        assert_eq!(v["sequence_number"], i, "{v}");
        let at = v["output_index"].as_u64().map(|n| n as usize);
        if let (Some(at), Some(id)) = (at, v["item_id"].as_str()) {
            assert_eq!(items[at].0, id, "{v}");
            assert!(!closed[at], "an event after its item's done: {v}");
        }
        if name == "response.completed" || name == "response.incomplete" {
            assert!(closed.iter().all(|c| *c), "an item left open: {events:?}");
        }
        match name.as_str() {
            "response.output_item.added" => {
                assert_eq!(at, Some(items.len()), "{v}");
                items.push((v["item"]["id"].as_str().unwrap().to_owned(), String::new()));
                closed.push(false);
            }
            "response.function_call_arguments.delta" => {
                let (id, args) = &mut items[at.unwrap()];
                assert_eq!(v["item_id"], id.as_str(), "{v}");
                args.push_str(v["delta"].as_str().unwrap());
            }
            "response.function_call_arguments.done" => {
                let (id, args) = &items[at.unwrap()];
                assert_eq!(v["item_id"], id.as_str(), "{v}");
                assert_eq!(v["arguments"], args.as_str(), "{v}");
            }
            "response.output_item.done" => {
                assert_eq!(v["item"]["id"], items[at.unwrap()].0.as_str(), "{v}");
                assert!(!std::mem::replace(&mut closed[at.unwrap()], true), "{v}");
            }
            _ => {}
        }
    }
}

/// Fragments of parallel calls interleaved across indexes (and a name that comes after the
/// first fragment) make one `function_call` item per index with its own id, name and
/// arguments, as `cache::assemble` puts the answer together: the live stream and the cached
/// replay of it give the same calls. Before, every change of index opened a new item: four
/// items, two with empty names and invented `call_0`/`call_1` ids.
#[test]
fn interleaved_tool_call_fragments_make_one_item_per_call() {
    let req = parse_json(json!({"model": "auto", "input": "hi", "stream": true})).unwrap();
    let chunks = [
        chunk(call_delta(0, Some("call_A"), Some("fa"), Some("")), None),
        chunk(call_delta(1, Some("call_B"), Some("fb"), None), None),
        chunk(call_delta(0, None, None, Some("{\"a\":")), None),
        chunk(call_delta(1, None, None, Some("{\"b\":2}")), None),
        chunk(call_delta(0, None, None, Some("1}")), None),
        // A third call whose name comes after its first fragment.
        chunk(call_delta(2, Some("call_C"), None, Some("{\"c\":")), None),
        chunk(call_delta(2, None, Some("fc"), Some("3}")), None),
        chunk(Delta::default(), Some(FinishReason::ToolCalls)),
    ];
    let events = typed_events(&encode(&req, &chunks));
    assert_coherent(&events);
    let added: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "response.output_item.added")
        .map(|(_, v)| &v["item"])
        .collect();
    let names: Vec<&str> = added.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["fa", "fb", "fc"], "announced with their names");
    let (last, completed) = events.last().unwrap();
    assert_eq!(last, "response.completed");
    let expected = vec![
        json!({"type": "function_call", "status": "completed", "call_id": "call_A",
               "name": "fa", "arguments": "{\"a\":1}"}),
        json!({"type": "function_call", "status": "completed", "call_id": "call_B",
               "name": "fb", "arguments": "{\"b\":2}"}),
        json!({"type": "function_call", "status": "completed", "call_id": "call_C",
               "name": "fc", "arguments": "{\"c\":3}"}),
    ];
    assert_eq!(calls_of(&completed["response"]), expected);

    // The cached replay of the same answer (assembled, stored, replayed as chunks) agrees,
    // streamed and not.
    let (stored, replay) = stored_and_replayed(&req, &chunks);
    assert_coherent(&replay);
    assert_eq!(calls_of(&replay.last().unwrap().1["response"]), expected);
    assert_eq!(calls_of(&response_body(&stored, (5, 5), &req)), expected);
}

/// A call whose upstream gave no id gets `call_{index}` live, in the replay and in a
/// non-streamed answer alike.
#[test]
fn a_call_without_an_id_gets_the_same_id_live_and_replayed() {
    let req = parse_json(json!({"model": "auto", "input": "hi", "stream": true})).unwrap();
    let chunks = [
        chunk(call_delta(0, None, Some("f"), Some("{}")), None),
        chunk(Delta::default(), Some(FinishReason::ToolCalls)),
    ];
    let live = typed_events(&encode(&req, &chunks));
    assert_eq!(
        calls_of(&live.last().unwrap().1["response"])[0]["call_id"],
        "call_0"
    );
    let (stored, replay) = stored_and_replayed(&req, &chunks);
    assert_eq!(
        calls_of(&replay.last().unwrap().1["response"])[0]["call_id"],
        "call_0"
    );
    assert_eq!(
        calls_of(&response_body(&stored, (5, 5), &req))[0]["call_id"],
        "call_0"
    );
}

/// DashScope (Qwen) repeats `"id": ""` in every fragment after a call's first: the call keeps
/// the first fragment's id in its `.done` events, in the stored answer and in the replay.
/// Before, the empty id won: `output_item.added` said `call_1`, `output_item.done` `call_0`.
#[test]
fn an_empty_id_in_later_fragments_keeps_the_calls_id() {
    let req = parse_json(json!({"model": "auto", "input": "hi", "stream": true})).unwrap();
    let chunks = [
        chunk(
            call_delta(0, Some("call_1"), Some("f"), Some("{\"a\"")),
            None,
        ),
        chunk(call_delta(0, Some(""), None, Some(":1}")), None),
        chunk(Delta::default(), Some(FinishReason::ToolCalls)),
    ];
    let live = typed_events(&encode(&req, &chunks));
    assert_coherent(&live);
    let call_ids: Vec<&Value> = live
        .iter()
        .filter(|(n, _)| n.starts_with("response.output_item."))
        .map(|(_, v)| &v["item"]["call_id"])
        .collect();
    assert_eq!(call_ids, [&json!("call_1"), &json!("call_1")]);
    let expected = vec![json!({"type": "function_call", "status": "completed",
        "call_id": "call_1", "name": "f", "arguments": "{\"a\":1}"})];
    assert_eq!(calls_of(&live.last().unwrap().1["response"]), expected);
    let (stored, replay) = stored_and_replayed(&req, &chunks);
    assert_eq!(calls_of(&replay.last().unwrap().1["response"]), expected);
    assert_eq!(calls_of(&response_body(&stored, (5, 5), &req)), expected);
}

/// An answer cut at the output limit inside a call's arguments: the call is `incomplete`, as
/// the response is, streamed and not (its arguments are cut-off JSON); the message finished
/// before it is `completed`.
#[test]
fn calls_of_a_truncated_answer_are_incomplete() {
    let req = parse_json(json!({"model": "auto", "input": "hi", "stream": true})).unwrap();
    let chunks = [
        chunk(
            Delta {
                content: Some("Calling.".into()),
                ..Default::default()
            },
            None,
        ),
        chunk(
            call_delta(0, Some("call_1"), Some("f"), Some("{\"a\":")),
            None,
        ),
        chunk(Delta::default(), Some(FinishReason::Length)),
    ];
    let events = typed_events(&encode(&req, &chunks));
    let (last, v) = events.last().unwrap();
    assert_eq!(last, "response.incomplete");
    let response = &v["response"];
    assert_eq!(response["status"], "incomplete");
    assert_eq!(
        response["incomplete_details"]["reason"],
        "max_output_tokens"
    );
    let statuses: Vec<&str> = response["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["completed", "incomplete"], "{response}");
    let done: Vec<&str> = events
        .iter()
        .filter(|(n, _)| n == "response.output_item.done")
        .map(|(_, v)| v["item"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(done, ["completed", "incomplete"]);

    let body = response_body(
        &Assembler::of_chunks(&chunks, (5, 5)).unwrap(),
        (5, 5),
        &req,
    );
    assert_eq!(body["status"], "incomplete");
    let statuses: Vec<&str> = body["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["completed", "incomplete"], "{body}");

    // Of two calls, the one finished before the cut stays `completed`; a message cut short
    // with no call after it is `incomplete`.
    let chunks = [
        chunk(
            call_delta(0, Some("call_1"), Some("f"), Some("{\"a\":1}")),
            None,
        ),
        chunk(
            call_delta(1, Some("call_2"), Some("f"), Some("{\"a\":")),
            None,
        ),
        chunk(Delta::default(), Some(FinishReason::Length)),
    ];
    let stored = Assembler::of_chunks(&chunks, (5, 5)).unwrap();
    let live = typed_events(&encode(&req, &chunks));
    for response in [
        live.last().unwrap().1["response"].clone(),
        response_body(&stored, (5, 5), &req),
    ] {
        let statuses: Vec<&str> = response["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["completed", "incomplete"], "{response}");
    }
    let cut_text = [chunk(
        Delta {
            content: Some("Once upon".into()),
            ..Default::default()
        },
        Some(FinishReason::Length),
    )];
    let live = typed_events(&encode(&req, &cut_text));
    assert_eq!(
        live.last().unwrap().1["response"]["output"][0]["status"],
        "incomplete"
    );
}

/// A stream failing before any chunk reached the encoder (the answer masker or the stop
/// cutter held the first one back) still starts with `response.created`, which the SDKs'
/// stream helpers require before any other event.
#[test]
fn an_error_before_any_chunk_comes_after_response_created() {
    let req = parse_json(json!({"model": "auto", "input": "hi", "stream": true})).unwrap();
    let mut e = StreamEncoder::new(&req);
    let events = typed_events(std::str::from_utf8(&e.error("timeout", "cut")).unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["response.created", "response.in_progress", "error"]);
    assert_coherent(&events);
    assert_eq!(events[2].1["code"], "timeout");
    assert_eq!(events[2].1["message"], "cut");
    // After a chunk, the error follows what was sent, numbered on.
    let mut e = StreamEncoder::new(&req);
    let sent = e
        .chunk(&chunk(
            Delta {
                content: Some("Hi".into()),
                ..Default::default()
            },
            None,
        ))
        .unwrap();
    let error = e.error("timeout", "cut");
    let all = format!(
        "{}{}",
        std::str::from_utf8(&sent).unwrap(),
        std::str::from_utf8(&error).unwrap()
    );
    let events = typed_events(&all);
    assert_coherent(&events);
    assert_eq!(
        events
            .iter()
            .filter(|(n, _)| n == "response.created")
            .count(),
        1
    );
    assert_eq!(events.last().unwrap().0, "error");
}

/// The stream of a request that failed before its answer started: `response.created`,
/// `response.in_progress`, the `error` event with the gateway's code and message, then
/// `response.failed` whose `response.error` says why.
#[test]
fn a_failed_stream_is_created_errored_and_failed() {
    let req = parse_json(
        json!({"model": "gpt-4o-mini", "input": "hi", "stream": true,
                                "instructions": "Be brief."}),
    )
    .unwrap();
    let mut e = StreamEncoder::new(&req);
    let body = e.failed(502, "upstream_failed", "all upstream attempts failed");
    let events = typed_events(std::str::from_utf8(&body).unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "error",
            "response.failed"
        ]
    );
    assert_coherent(&events);
    let created = &events[0].1["response"];
    assert_eq!(created["status"], "in_progress");
    assert_eq!(created["model"], "gpt-4o-mini");
    assert_eq!(created["instructions"], "Be brief.");
    assert_eq!(events[2].1["code"], "upstream_failed");
    assert_eq!(events[2].1["message"], "all upstream attempts failed");
    let failed = &events[3].1["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["id"], created["id"]);
    assert_eq!(
        failed["error"],
        json!({"code": "server_error", "message": "all upstream attempts failed"})
    );
    assert_eq!(failed["output"], json!([]));
    let mut e = StreamEncoder::new(&req);
    let events =
        typed_events(std::str::from_utf8(&e.failed(429, "rate_limited", "slow down")).unwrap());
    assert_eq!(
        events[3].1["response"]["error"]["code"],
        "rate_limit_exceeded"
    );
}

/// `text` must be an object (`{"format": …}`): a string or a number was taken as plain text,
/// silently losing the format the client meant.
#[test]
fn a_text_that_is_not_an_object_is_refused_naming_it() {
    for text in [json!("zzz"), json!(5), json!(["json"]), json!(true)] {
        let e = parse_json(json!({"model": "auto", "input": "hi", "text": text})).unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
        assert!(
            e.to_string().starts_with("text: must be an object"),
            "{text}: {e}"
        );
    }
    for text in [json!({}), json!({"format": {"type": "text"}})] {
        let req = parse_json(json!({"model": "auto", "input": "hi", "text": text})).unwrap();
        assert!(req.response_format.is_none());
    }
}

/// OpenAI's prompt-caching hints are accepted and passed on under their names (Chat
/// Completions takes both); before, `prompt_cache_retention` was a 400 and `prompt_cache_key`
/// was dropped.
#[test]
fn prompt_cache_hints_are_carried() {
    let req = parse_json(json!({"model": "auto", "input": "hi",
        "prompt_cache_key": "conv-1", "prompt_cache_retention": "24h"}))
    .unwrap();
    assert_eq!(req.extra["prompt_cache_key"], "conv-1");
    assert_eq!(req.extra["prompt_cache_retention"], "24h");
    let upstream = serde_json::to_value(&req).unwrap();
    assert_eq!(upstream["prompt_cache_key"], "conv-1");
    assert_eq!(upstream["prompt_cache_retention"], "24h");
    for field in ["prompt_cache_key", "prompt_cache_retention"] {
        let mut body = json!({"model": "auto", "input": "hi"});
        body[field] = json!(5);
        let e = parse_json(body).unwrap_err().to_string();
        assert!(e.starts_with(field), "{e}");
    }
}

/// `reasoning.effort` is the chat form's `reasoning_effort` (as `/v1/messages`'
/// `output_config.effort` is), echoed in the answer; an unknown level and a reasoning summary
/// are refused naming the field.
#[test]
fn reasoning_effort_becomes_reasoning_effort() {
    for level in ["none", "minimal", "low", "medium", "high", "xhigh", "max"] {
        let req = parse_json(json!({"model": "auto", "input": "hi",
                                    "reasoning": {"effort": level, "summary": null}}))
        .unwrap();
        assert_eq!(req.extra["reasoning_effort"], level);
        let body = response_body(
            &serde_json::from_value(json!({"id": "c", "object": "chat.completion", "created": 1,
                "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": "ok"}}]}))
            .unwrap(),
            (1, 1),
            &req,
        );
        assert_eq!(body["reasoning"], json!({"effort": level, "summary": null}));
    }
    for reasoning in [json!({}), json!({"effort": null})] {
        let req =
            parse_json(json!({"model": "auto", "input": "hi", "reasoning": reasoning})).unwrap();
        assert!(!req.extra.contains_key("reasoning_effort"));
    }
    for (reasoning, field) in [
        (json!({"effort": "extreme"}), "reasoning.effort"),
        (json!({"effort": "High"}), "reasoning.effort"),
        (json!({"effort": 3}), "reasoning.effort"),
        (
            json!({"effort": "low", "summary": "brief"}),
            "reasoning.summary",
        ),
        (
            json!({"generate_summary": true}),
            "reasoning.generate_summary",
        ),
        (json!({"effort": "low", "budget": 100}), "reasoning.budget"),
        (json!("low"), "reasoning"),
    ] {
        let e = parse_json(json!({"model": "auto", "input": "hi", "reasoning": reasoning}))
            .unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
        assert!(e.to_string().starts_with(field), "{field}: {e}");
    }
    let e = parse_json(json!({"model": "auto", "input": "hi", "reasoning": {"effort": "x"}}))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("none, minimal, low, medium, high, xhigh, max"),
        "{e}"
    );
}

/// What Codex sends on every turn (`reasoning.summary`, `include:
/// ["reasoning.encrypted_content"]`, `text.verbosity`, `store: false`, and the earlier turns'
/// reasoning items replayed in `input`) is taken: the effort and verbosity are carried, the
/// reasoning items skipped, and nothing else changes the conversation.
#[test]
fn a_codex_shaped_request_is_taken() {
    let req = parse_json(json!({
        "model": "auto",
        "instructions": "You are a coding agent.",
        "input": [
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "fix the build"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [],
             "encrypted_content": "gAAAAB..."},
            {"type": "function_call", "call_id": "call_1", "name": "shell",
             "arguments": "{\"cmd\":\"cargo build\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "ok"}
        ],
        "tools": [{"type": "function", "name": "shell", "parameters": {"type": "object"}}],
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": false,
        "stream": true,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "session-1",
        "text": {"verbosity": "low"}
    }))
    .unwrap();
    assert_eq!(req.extra["reasoning_effort"], "medium");
    assert_eq!(req.extra["verbosity"], "low");
    let roles: Vec<_> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::System, Role::User, Role::Assistant, Role::Tool],
        "the reasoning item adds no turn"
    );
    assert_eq!(
        req.messages[2].tool_calls.as_ref().unwrap()[0]
            .function
            .name,
        "shell"
    );
    for verbosity in [json!("loud"), json!(1)] {
        let e = parse_json(json!({"model": "auto", "input": "hi",
                                  "text": {"verbosity": verbosity}}))
        .unwrap_err();
        assert!(e.to_string().starts_with("text.verbosity"), "{e}");
    }
    let plain = parse_json(json!({"model": "auto", "input": "hi",
                                  "text": {"verbosity": null}}))
    .unwrap();
    assert!(!plain.extra.contains_key("verbosity"));
}

fn reasoning(text: &str) -> Delta {
    Delta {
        reasoning_content: Some(text.into()),
        ..Default::default()
    }
}

/// A completion with `reasoning`, `text` and one call, as the chat path gives it.
fn reasoned_completion(finish: &str) -> crate::openai::wire::ChatCompletionResponse {
    serde_json::from_value(json!({"id": "c", "object": "chat.completion", "created": 1,
        "model": "m", "choices": [{"index": 0, "finish_reason": finish,
        "message": {"role": "assistant", "content": "Checking.",
                    "reasoning_content": "Two and two.",
                    "tool_calls": [{"id": "call_1", "type": "function",
                                    "function": {"name": "f", "arguments": "{}"}}]}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14,
                  "completion_tokens_details": {"reasoning_tokens": 4}}}))
    .unwrap()
}

/// `reasoning.summary` is echoed as asked (was always null), asks the upstream for the thinking
/// text (`upstream::fit` gives it to the Claude models that omit it), and puts the reasoning
/// in a `summary_text`; without it the reasoning is `reasoning_text` content and nothing more
/// is asked upstream.
#[test]
fn a_reasoning_summary_is_echoed_and_asks_for_the_thinking_text() {
    for (reasoning, effort, summary) in [
        (
            json!({"effort": "high", "summary": "auto"}),
            json!("high"),
            json!("auto"),
        ),
        (
            json!({"summary": "detailed"}),
            json!(null),
            json!("detailed"),
        ),
        (
            json!({"generate_summary": "concise"}),
            json!(null),
            json!("concise"),
        ),
        (json!({"effort": "low"}), json!("low"), json!(null)),
        (
            json!({"effort": "low", "summary": null}),
            json!("low"),
            json!(null),
        ),
    ] {
        let req =
            parse_json(json!({"model": "auto", "input": "hi", "reasoning": reasoning})).unwrap();
        let asked = summary.is_string();
        assert_eq!(
            req.extra.get(crate::upstream::fit::THINKING_DISPLAY),
            asked.then(|| json!("summarized")).as_ref(),
            "{reasoning}"
        );
        let body = response_body(&reasoned_completion("tool_calls"), (5, 9), &req);
        assert_eq!(
            body["reasoning"],
            json!({"effort": effort, "summary": summary}),
            "{reasoning}"
        );
        let item = &body["output"][0];
        let text = json!([{"type": if asked { "summary_text" } else { "reasoning_text" },
                           "text": "Two and two."}]);
        if asked {
            assert_eq!(item["summary"], text, "{item}");
            assert!(item.get("content").is_none(), "{item}");
        } else {
            assert_eq!(item["summary"], json!([]), "{item}");
            assert_eq!(item["content"], text, "{item}");
        }
    }
}

/// The reasoning of a non-streamed answer is the first output item, before the message and
/// the calls, with an `rs_` id; reasoning tokens stay in the usage; an answer cut while the
/// model still reasoned has that item `incomplete`; an answer without reasoning has no item.
#[test]
fn reasoning_leads_a_non_streamed_answer() {
    let req = parse_json(json!({"model": "auto", "input": "hi"})).unwrap();
    let body = response_body(&reasoned_completion("tool_calls"), (5, 9), &req);
    let kinds: Vec<&str> = body["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["reasoning", "message", "function_call"], "{body}");
    let item = &body["output"][0];
    assert!(item["id"].as_str().unwrap().starts_with("rs_"), "{item}");
    assert_eq!(item["status"], "completed");
    assert_eq!(item["encrypted_content"], Value::Null);
    assert_eq!(
        body["usage"]["output_tokens_details"]["reasoning_tokens"],
        4
    );

    let cut: crate::openai::wire::ChatCompletionResponse = serde_json::from_value(json!({
        "id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "length",
                     "message": {"role": "assistant", "content": null,
                                 "reasoning_content": "Let me"}}]}))
    .unwrap();
    let body = response_body(&cut, (5, 9), &req);
    assert_eq!(body["status"], "incomplete");
    assert_eq!(body["output"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["output"][0]["status"], "incomplete");

    let mut plain = reasoned_completion("stop");
    plain.choices[0].message.reasoning_content = Some(String::new());
    let body = response_body(&plain, (5, 9), &req);
    assert_eq!(body["output"][0]["type"], "message", "{body}");
}

/// The events of a streamed answer that reasons, then answers and calls, for a request with
/// and without `reasoning.summary`: the reasoning item is announced at output index 0, its one
/// part added, its text streamed and done, before the message opens at index 1; the final
/// response lists it first. The cached replay of the answer streams the same.
#[test]
fn streamed_reasoning_is_an_item_before_the_message() {
    let chunks = [
        chunk(reasoning("Two and "), None),
        // Reasoning held before the first token comes in that token's chunk.
        chunk(
            Delta {
                reasoning_content: Some("two.".into()),
                content: Some("4".into()),
                ..Default::default()
            },
            None,
        ),
        chunk(
            Delta {
                content: Some(".".into()),
                ..Default::default()
            },
            None,
        ),
        chunk(
            call_delta(0, Some("call_1"), Some("f"), Some("{}")),
            Some(FinishReason::ToolCalls),
        ),
    ];
    for (summary, part, delta, text_done, part_done, index_field) in [
        (
            true,
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "summary_index",
        ),
        (
            false,
            "response.content_part.added",
            "response.reasoning_text.delta",
            "response.reasoning_text.done",
            "response.content_part.done",
            "content_index",
        ),
    ] {
        let mut body = json!({"model": "auto", "input": "hi", "stream": true});
        if summary {
            body["reasoning"] = json!({"summary": "auto"});
        }
        let req = parse_json(body).unwrap();
        let events = typed_events(&encode(&req, &chunks));
        assert_coherent(&events);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                part,
                delta,
                delta,
                text_done,
                part_done,
                "response.output_item.done",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ],
            "summary: {summary}"
        );
        let indexes: Vec<u64> = events[2..20]
            .iter()
            .map(|(_, v)| v["output_index"].as_u64().unwrap())
            .collect();
        assert_eq!(indexes, [[0; 7].as_slice(), &[1; 7], &[2; 4]].concat());
        let kind = if summary {
            "summary_text"
        } else {
            "reasoning_text"
        };
        let (_, added) = &events[2];
        assert_eq!(added["item"]["type"], "reasoning");
        assert_eq!(added["item"]["status"], "in_progress");
        assert_eq!(events[3].1["part"], json!({"type": kind, "text": ""}));
        for (_, v) in &events[3..8] {
            assert_eq!(v[index_field], 0, "{v}");
        }
        assert_eq!(events[4].1["delta"], "Two and ");
        assert_eq!(events[5].1["delta"], "two.");
        assert_eq!(events[6].1["text"], "Two and two.");
        assert_eq!(
            events[7].1["part"],
            json!({"type": kind, "text": "Two and two."})
        );
        let item = &events[8].1["item"];
        let field = if summary { "summary" } else { "content" };
        assert_eq!(item["status"], "completed");
        assert_eq!(item[field], json!([{"type": kind, "text": "Two and two."}]));
        let done = &events[20].1["response"];
        assert_eq!(&done["output"][0], item);
        assert_eq!(done["output"][1]["content"][0]["text"], "4.");
        assert_eq!(done["output"][2]["call_id"], "call_1");
        assert_eq!(
            done["reasoning"]["summary"],
            if summary { json!("auto") } else { json!(null) }
        );

        let (stored, replay) = stored_and_replayed(&req, &chunks);
        assert_coherent(&replay);
        let replayed = &replay.last().unwrap().1["response"];
        assert_eq!(replayed["output"][0][field], item[field]);
        assert_eq!(
            response_body(&stored, (5, 5), &req)["output"][0][field],
            item[field]
        );
    }
}

/// Reasoning interleaved with text and calls (which an upstream should not send, but may:
/// Claude thinks between tool calls) keeps the event order whole: reasoning after text closes
/// the message and opens a new reasoning item at the next index; text after it a new message;
/// reasoning after a call a new item while the call stays open. Every item is closed once, in
/// output order, and the final response lists them all.
#[test]
fn reasoning_after_text_closes_the_message_first() {
    let req = parse_json(json!({"model": "auto", "input": "hi", "stream": true,
                                "reasoning": {"summary": "auto"}}))
    .unwrap();
    let text = |t: &str| Delta {
        content: Some(t.into()),
        ..Default::default()
    };
    let chunks = [
        chunk(text("First."), None),
        chunk(reasoning("Hmm."), None),
        chunk(reasoning(" More."), None),
        chunk(text("Second."), None),
        chunk(
            call_delta(0, Some("call_1"), Some("f"), Some("{\"a\":")),
            None,
        ),
        chunk(reasoning("After the call."), None),
        chunk(call_delta(0, None, None, Some("1}")), None),
        chunk(reasoning("Last."), Some(FinishReason::Length)),
    ];
    let events = typed_events(&encode(&req, &chunks));
    assert_coherent(&events);
    let (last, v) = events.last().unwrap();
    assert_eq!(last, "response.incomplete");
    let output = v["response"]["output"].as_array().unwrap();
    let shape: Vec<(&str, &str)> = output
        .iter()
        .map(|i| (i["type"].as_str().unwrap(), i["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        shape,
        [
            ("message", "completed"),
            ("reasoning", "completed"),
            ("message", "completed"),
            ("function_call", "completed"),
            ("reasoning", "completed"),
            ("reasoning", "incomplete"),
        ]
    );
    assert_eq!(output[1]["summary"][0]["text"], "Hmm. More.");
    assert_eq!(output[3]["arguments"], "{\"a\":1}");
    assert_eq!(output[5]["summary"][0]["text"], "Last.");
    // Nothing at all, and reasoning alone, end as whole streams too.
    for chunks in [vec![], vec![chunk(reasoning("Only."), None)]] {
        let events = typed_events(&encode(&req, &chunks));
        assert_coherent(&events);
        assert_eq!(events.last().unwrap().0, "response.completed");
    }
}
