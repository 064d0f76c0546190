use serde_json::{json, Value};
use testkit::{FakeProvider, Scenario, Wire, REDACTED};

use crate::{client, sse_events};

fn messages(fake: &FakeProvider, body: Value) -> reqwest::RequestBuilder {
    client()
        .post(format!("{}/v1/messages", fake.base_url()))
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .json(&body)
}

#[tokio::test]
async fn non_stream_answer_has_the_message_shape() {
    let fake = FakeProvider::start().await;
    fake.script("claude-x", [Scenario::reply("Hello there")]);
    let res = messages(
        &fake,
        json!({"model": "claude-x", "max_tokens": 64, "system": "be kind",
               "messages": [{"role": "user", "content": [{"type": "text", "text": "say hello"}]}]}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(
        body["content"],
        json!([{"type": "text", "text": "Hello there"}])
    );
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(
        body["usage"],
        json!({"input_tokens": 4, "output_tokens": 2})
    );
    let log = fake.requests();
    assert_eq!(log[0].wire, Wire::Anthropic);
    assert_eq!(log[0].header("x-api-key"), Some(REDACTED));
    assert_eq!(log[0].header("anthropic-version"), Some("2023-06-01"));
    fake.shutdown().await;
}

#[tokio::test]
async fn stream_is_the_full_event_sequence() {
    let fake = FakeProvider::start().await;
    fake.script("claude-x", [Scenario::reply("a b c")]);
    let res = messages(
        &fake,
        json!({"model": "claude-x", "max_tokens": 64, "stream": true,
               "messages": [{"role": "user", "content": "letters"}]}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let events = sse_events(&res.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    // Every event's data `type` matches its event name.
    assert!(events
        .iter()
        .all(|e| e.json()["type"] == e.event.clone().unwrap()));
    let text: String = events
        .iter()
        .filter_map(|e| e.json()["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text, "a b c");
    assert_eq!(events[0].json()["message"]["usage"]["input_tokens"], 1);
    let delta = events[7].json();
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 3);
    fake.shutdown().await;
}

#[tokio::test]
async fn tool_use_stream_sends_input_json_delta() {
    let fake = FakeProvider::start().await;
    fake.script(
        "claude-x",
        [Scenario::ToolCall {
            name: "lookup".into(),
            arguments: json!({"q": "rust"}),
        }],
    );
    let body = messages(
        &fake,
        json!({"model": "claude-x", "max_tokens": 64, "stream": true,
               "messages": [{"role": "user", "content": "find"}]}),
    )
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let events = sse_events(&body);
    assert_eq!(events[1].json()["content_block"]["type"], "tool_use");
    assert_eq!(events[1].json()["content_block"]["name"], "lookup");
    assert_eq!(
        events[2].json()["delta"]["partial_json"],
        "{\"q\":\"rust\"}"
    );
    assert_eq!(events[4].json()["delta"]["stop_reason"], "tool_use");
    assert_eq!(
        events.last().unwrap().event.as_deref(),
        Some("message_stop")
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn headers_and_max_tokens_are_checked() {
    let fake = FakeProvider::start().await;
    let body = json!({"model": "claude-x", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]});
    let no_key = client()
        .post(format!("{}/v1/messages", fake.base_url()))
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 401);
    let err: Value = no_key.json().await.unwrap();
    assert_eq!(err["type"], "error");
    assert_eq!(err["error"]["type"], "authentication_error");

    let no_version = client()
        .post(format!("{}/v1/messages", fake.base_url()))
        .header("x-api-key", "k")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(no_version.status(), 400);

    let no_max = messages(
        &fake,
        json!({"model": "claude-x", "messages": [{"role": "user", "content": "x"}]}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(no_max.status(), 400);
    let err: Value = no_max.json().await.unwrap();
    assert_eq!(err["error"]["type"], "invalid_request_error");
    assert_eq!(fake.calls("claude-x"), 3);
    assert!(fake.requests().iter().all(|r| r.scenario.is_none()));
    fake.shutdown().await;
}

/// The fake ends a text answer before the first of the request's stop sequences and says
/// which one, as the Messages API does, streamed or not.
#[tokio::test]
async fn an_answer_ends_at_the_first_stop_sequence_and_names_it() {
    let fake = FakeProvider::start().await;
    for stream in [false, true] {
        fake.script("claude-x", [Scenario::reply("one two END three STOP")]);
        let res = messages(
            &fake,
            json!({"model": "claude-x", "max_tokens": 64, "stream": stream,
                   "stop_sequences": ["STOP", "END"],
                   "messages": [{"role": "user", "content": "count"}]}),
        )
        .send()
        .await
        .unwrap();
        let text = res.text().await.unwrap();
        let (answer, reason, sequence) = if stream {
            let events: Vec<Value> = sse_events(&text).iter().map(|e| e.json()).collect();
            let answer: String = events
                .iter()
                .filter_map(|e| e["delta"]["text"].as_str())
                .collect();
            let delta = events
                .iter()
                .find(|e| e["type"] == "message_delta")
                .unwrap();
            (
                answer,
                delta["delta"]["stop_reason"].clone(),
                delta["delta"]["stop_sequence"].clone(),
            )
        } else {
            let body: Value = serde_json::from_str(&text).unwrap();
            (
                body["content"][0]["text"].as_str().unwrap().to_owned(),
                body["stop_reason"].clone(),
                body["stop_sequence"].clone(),
            )
        };
        assert_eq!(answer, "one two ", "stream {stream}");
        assert_eq!(reason, "stop_sequence", "stream {stream}");
        assert_eq!(sequence, "END", "stream {stream}");
    }
    fake.shutdown().await;
}

/// As the Messages API does, the fake refuses a blank stop sequence (`stop: ["\n"]` sent on
/// as it is) and `temperature` beside `top_p` (Claude 4.5 and later), with a 400.
#[tokio::test]
async fn blank_stop_sequences_and_both_sampling_parameters_are_refused() {
    let fake = FakeProvider::start().await;
    let base = json!({"model": "claude-x", "max_tokens": 64,
                      "messages": [{"role": "user", "content": "x"}]});
    let refused = [
        ("stop_sequences", json!(["END", "\n"]), "non-whitespace"),
        ("stop_sequences", json!([" "]), "non-whitespace"),
        ("top_p", json!(0.9), "cannot both be specified"),
    ];
    for (field, value, message) in refused {
        let mut body = base.clone();
        body[field] = value;
        if field == "top_p" {
            body["temperature"] = json!(0.7);
        }
        let res = messages(&fake, body).send().await.unwrap();
        assert_eq!(res.status(), 400, "{field}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["type"], "invalid_request_error");
        let text = err["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{field}: {text}");
    }
    for (field, value) in [("temperature", json!(0.7)), ("top_p", json!(0.9))] {
        let mut body = base.clone();
        body[field] = value;
        body["stop_sequences"] = json!(["END"]);
        let res = messages(&fake, body).send().await.unwrap();
        assert_eq!(res.status(), 200, "{field} alone");
    }
    fake.shutdown().await;
}
