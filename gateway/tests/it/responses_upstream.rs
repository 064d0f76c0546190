//! OpenAI's GPT-5.6 and GPT-6 models are called through the Responses API (`POST /responses`):
//! over Chat Completions they refuse function tools at their default effort. The testkit fake
//! refuses what OpenAI's Responses API refuses (chat fields, unknown parameters, tools in the
//! chat shape), so these tests check the translation against its rules, both ways.

use serde_json::{json, Value};
use testkit::{Scenario, Wire};

use crate::e2e_harness::{done_chunks, streamed_text, Harness};

fn tool_request(model: &str) -> Value {
    json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "Use the tools."},
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_prev", "type": "function",
                "function": {"name": "weather", "arguments": "{\"city\":\"Bergen\"}"}}]},
            {"role": "tool", "tool_call_id": "call_prev", "content": "rain"},
        ],
        "tools": [{"type": "function", "function": {"name": "weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "temperature": 0.3,
        "max_tokens": 200,
        "stop": ["Observation:"],
        "reasoning_effort": "max",
    })
}

#[tokio::test]
async fn a_tool_call_goes_through_the_responses_api_and_comes_back_as_chat() {
    let h = Harness::with(&["gpt-6.1-sol", "gpt-6-luna", "gpt-4o-mini"], |_| {}).await;
    h.fake.script(
        "gpt-6.1-sol",
        [Scenario::ToolCall {
            name: "weather".into(),
            arguments: json!({"city": "Oslo"}),
        }],
    );
    let resp = h.chat(&tool_request("gpt-6.1-sol")).await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    let choice = &answer["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{answer}");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "weather");
    assert_eq!(
        serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(),
        json!({"city": "Oslo"})
    );
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert!(answer["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

    let sent = &h.fake.requests()[0];
    assert_eq!(sent.wire, Wire::OpenAiResponses);
    assert_eq!(sent.path, "/v1/responses");
    let body = &sent.body;
    assert_eq!(body["model"], "gpt-6.1-sol");
    assert_eq!(body["reasoning"], json!({"effort": "max"}), "{body}");
    assert_eq!(body["max_output_tokens"], 200);
    assert_eq!(body["tools"][0]["name"], "weather");
    assert_eq!(body["input"][2]["type"], "function_call");
    assert_eq!(body["input"][3]["call_id"], "call_prev");
    // Refused by reasoning models, and not in the Responses API at all.
    for absent in ["temperature", "stop", "messages", "max_tokens"] {
        assert!(body.get(absent).is_none(), "{absent}: {body}");
    }
    let row = h.only_row().await;
    assert!(row.cost_usd.unwrap() > 0.0);

    // The next turn gives the model back the reasoning it did before the call (encrypted;
    // nothing is stored at OpenAI), just before the call.
    let id = call["id"].as_str().unwrap();
    let mut next = tool_request("gpt-6.1-sol");
    let messages = next["messages"].as_array_mut().unwrap();
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [call.clone()]}));
    messages.push(json!({"role": "tool", "tool_call_id": id, "content": "snow"}));
    assert_eq!(h.chat(&next).await.status(), 200);
    let body = &h.fake.requests()[1].body;
    assert_eq!(body["include"], json!(["reasoning.encrypted_content"]));
    let input = body["input"].as_array().unwrap();
    let at = input
        .iter()
        .position(|i| i["call_id"] == id && i["type"] == "function_call")
        .unwrap();
    assert_eq!(input[at - 1]["type"], "reasoning", "{body}");
    assert!(input[at - 1]["encrypted_content"].is_string());
    // The earlier call another model made gets none.
    assert_eq!(input[1]["role"], "user");
    assert_eq!(input[2]["call_id"], "call_prev");
    h.stop().await;
}

#[tokio::test]
async fn a_streamed_answer_through_the_responses_api_streams_as_chat_chunks() {
    let h = Harness::with(&["gpt-6-luna"], |_| {}).await;
    h.fake.script(
        "gpt-6-luna",
        [Scenario::reply("It is sunny in Oslo today.")],
    );
    let mut body = tool_request("gpt-6-luna");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let resp = h.chat(&body).await;
    assert_eq!(resp.status(), 200);
    let chunks = done_chunks(&resp.text().await.unwrap());
    assert_eq!(streamed_text(&chunks), "It is sunny in Oslo today.");
    let finish: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| {
            c["choices"][0]
                .get("finish_reason")
                .filter(|f| !f.is_null())
        })
        .collect();
    assert_eq!(finish, [&json!("stop")]);
    assert!(
        chunks.last().unwrap()["usage"]["completion_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(h.fake.requests()[0].wire, Wire::OpenAiResponses);
    h.stop().await;
}

/// With tools through the Responses API, `auto` may send tool requests to these models; others
/// still get Chat Completions.
#[tokio::test]
async fn auto_sends_tool_requests_to_them_and_other_models_keep_chat_completions() {
    let h = Harness::with(&["gpt-6-luna", "gpt-4o-mini"], |_| {}).await;
    let mut routed = tool_request("auto");
    routed["router"] = json!({"min_quality": 0.85});
    assert_eq!(h.chat(&routed).await.status(), 200);
    let sent = h.fake.requests().last().unwrap().clone();
    assert_eq!(
        (sent.wire, sent.model.as_deref()),
        (Wire::OpenAiResponses, Some("gpt-6-luna"))
    );

    // Several answers: Responses gives one, so `auto` leaves them out.
    let mut several = routed.clone();
    several["n"] = json!(2);
    assert_eq!(h.chat(&several).await.status(), 200);
    assert_eq!(
        h.fake.requests().last().unwrap().model.as_deref(),
        Some("gpt-4o-mini")
    );

    assert_eq!(h.chat(&tool_request("gpt-4o-mini")).await.status(), 200);
    let sent = h.fake.requests().last().unwrap().clone();
    assert_eq!(sent.wire, Wire::OpenAi);
    assert_eq!(sent.body["stop"][0], "Observation:");
    h.stop().await;
}

/// A streamed tool call after a reasoning item: the call is the chat stream's tool call 0,
/// and the reasoning goes back with it on the next turn.
#[tokio::test]
async fn a_streamed_tool_call_keeps_its_index_and_its_reasoning() {
    let h = Harness::with(&["gpt-6-luna"], |_| {}).await;
    h.fake.script(
        "gpt-6-luna",
        [Scenario::ToolCall {
            name: "weather".into(),
            arguments: json!({"city": "Oslo"}),
        }],
    );
    let mut body = tool_request("gpt-6-luna");
    body["stream"] = json!(true);
    let resp = h.chat(&body).await;
    assert_eq!(resp.status(), 200);
    let chunks = done_chunks(&resp.text().await.unwrap());
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array())
        .flatten()
        .collect();
    assert!(calls.iter().all(|c| c["index"] == 0), "{calls:?}");
    let id = calls[0]["id"].as_str().unwrap().to_owned();
    let args: String = calls
        .iter()
        .filter_map(|c| c["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"city": "Oslo"})
    );

    let mut next = tool_request("gpt-6-luna");
    let messages = next["messages"].as_array_mut().unwrap();
    messages.push(
        json!({"role": "assistant", "content": null, "tool_calls": [{"id": id,
        "type": "function", "function": {"name": "weather", "arguments": args}}]}),
    );
    messages.push(json!({"role": "tool", "tool_call_id": id, "content": "snow"}));
    assert_eq!(h.chat(&next).await.status(), 200);
    let input = h.fake.requests()[1].body["input"]
        .as_array()
        .unwrap()
        .clone();
    let reasoning = input.iter().filter(|i| i["type"] == "reasoning").count();
    assert_eq!(reasoning, 1, "{input:?}");
    h.stop().await;
}

/// A Responses client asking for a reasoning summary (Codex does on every turn) routed to a
/// GPT-6 model gets OpenAI's summary as its reasoning item. An organisation OpenAI has not
/// verified is refused summaries with a 400: the call is made again without one, the client
/// gets its answer, and the gateway asks for no more summaries on that provider.
#[tokio::test]
async fn reasoning_summaries_are_asked_for_and_dropped_where_openai_refuses_them() {
    let h = Harness::with(&["gpt-6-luna"], |_| {}).await;
    let summarized = json!({"id": "resp_1", "object": "response", "status": "completed",
        "model": "gpt-6-luna", "created_at": 1,
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": [
                {"type": "summary_text", "text": "**Adding** two and two"}]},
            {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "4", "annotations": []}]}],
        "usage": {"input_tokens": 5, "output_tokens": 9,
                  "output_tokens_details": {"reasoning_tokens": 8}}});
    let refused = json!({"error": {"message": "Your organization must be verified to generate \
        reasoning summaries. Please go to: https://platform.openai.com/settings/organization/general \
        and click on Verify Organization.", "type": "invalid_request_error",
        "param": "reasoning.summary", "code": "unsupported_value"}});
    let raw = |code: u16, body: &Value| Scenario::Raw {
        code,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: body.to_string(),
    };
    h.fake.script(
        "gpt-6-luna",
        [raw(200, &summarized), raw(400, &refused), Scenario::echo()],
    );
    let codex = json!({"model": "gpt-6-luna", "input": "2+2?",
                       "reasoning": {"effort": "low", "summary": "auto"}});
    let resp = h.post_json("/v1/responses", &codex).await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["output"][0]["type"], "reasoning", "{answer}");
    assert_eq!(
        answer["output"][0]["summary"][0]["text"],
        "**Adding** two and two"
    );
    let sent = h.fake.requests();
    assert_eq!(
        sent[0].body["reasoning"],
        json!({"effort": "low", "summary": "auto"})
    );
    assert!(sent[0].body.get("thinking_display").is_none());

    // Refused: asked once more without the summary, and answered.
    let resp = h.post_json("/v1/responses", &codex).await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["status"], "completed", "{answer}");
    assert_eq!(answer["output"][0]["type"], "message", "{answer}");
    let sent = h.fake.requests();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[1].body["reasoning"]["summary"], "auto");
    assert_eq!(sent[2].body["reasoning"], json!({"effort": "low"}));

    // And not asked again.
    assert_eq!(h.post_json("/v1/responses", &codex).await.status(), 200);
    assert_eq!(
        h.fake.requests()[3].body["reasoning"],
        json!({"effort": "low"})
    );
    h.stop().await;
}
