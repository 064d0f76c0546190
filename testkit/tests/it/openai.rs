use serde_json::{json, Value};
use testkit::{FakeProvider, Scenario, ScenarioKind, Usage, Wire, REDACTED};

use crate::{client, sse_events};

fn chat(fake: &FakeProvider, body: Value) -> reqwest::RequestBuilder {
    client()
        .post(format!("{}/chat/completions", fake.openai_base_url()))
        .bearer_auth("sk-test")
        .json(&body)
}

#[tokio::test]
async fn non_stream_answer_has_the_chat_completion_shape() {
    let fake = FakeProvider::start().await;
    let res = chat(
        &fake,
        json!({"model": "gpt-x", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "what is two plus two"}
        ]}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt-x");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "gpt-x echoes: what is two plus two"
    );
    // Word-count usage: 2 + 5 prompt words, 7 reply words.
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 7, "completion_tokens": 7, "total_tokens": 14})
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn stream_ends_with_done_and_reports_usage_on_request() {
    let fake = FakeProvider::start().await;
    let usage = Usage {
        input_tokens: 11,
        output_tokens: 3,
    };
    fake.script(
        "gpt-x",
        [Scenario::reply_with_usage("one two three", usage)],
    );
    let body = chat(
        &fake,
        json!({"model": "gpt-x", "stream": true, "stream_options": {"include_usage": true},
               "messages": [{"role": "user", "content": "count"}]}),
    )
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let events = sse_events(&body);
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "one two three");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(
        last["usage"],
        json!({"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14})
    );

    // Without include_usage there is no usage chunk.
    let body = chat(
        &fake,
        json!({"model": "gpt-x", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let events = sse_events(&body);
    assert_eq!(events.last().unwrap().data, "[DONE]");
    assert!(events.iter().all(|e| !e.data.contains("\"usage\"")));
    fake.shutdown().await;
}

#[tokio::test]
async fn tool_call_scenario_returns_tool_calls() {
    let fake = FakeProvider::start().await;
    fake.script(
        "gpt-x",
        [
            Scenario::ToolCall {
                name: "get_weather".into(),
                arguments: json!({"city": "Oslo"}),
            },
            Scenario::ToolCall {
                name: "get_weather".into(),
                arguments: json!({"city": "Oslo"}),
            },
        ],
    );
    let body: Value = chat(
        &fake,
        json!({"model": "gpt-x", "messages": [{"role": "user", "content": "weather?"}]}),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], "{\"city\":\"Oslo\"}");

    let body = chat(
        &fake,
        json!({"model": "gpt-x", "stream": true, "messages": [{"role": "user", "content": "weather?"}]}),
    )
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let events = sse_events(&body);
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let args: String = events[..events.len() - 1]
        .iter()
        .filter_map(|e| {
            e.json()["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(args, "{\"city\":\"Oslo\"}");
    assert_eq!(fake.calls_with(ScenarioKind::ToolCall), 2);
    fake.shutdown().await;
}

#[tokio::test]
async fn missing_key_is_401_and_the_log_redacts_keys() {
    let fake = FakeProvider::start().await;
    let res = client()
        .post(format!("{}/chat/completions", fake.openai_base_url()))
        .json(&json!({"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");

    chat(
        &fake,
        json!({"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .header("x-trace", "t1")
    .send()
    .await
    .unwrap();
    let log = fake.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].scenario, None);
    assert_eq!(log[1].wire, Wire::OpenAi);
    assert_eq!(log[1].method, "POST");
    assert_eq!(log[1].path, "/v1/chat/completions");
    assert_eq!(log[1].header("Authorization"), Some(REDACTED));
    assert_eq!(log[1].header("x-trace"), Some("t1"));
    assert_eq!(log[1].body["messages"][0]["content"], "hi");
    assert_eq!(log[1].model.as_deref(), Some("gpt-x"));
    assert_eq!(log[1].scenario, Some(ScenarioKind::Ok));
    assert_eq!(fake.calls("gpt-x"), 2);
    fake.shutdown().await;
}

#[tokio::test]
async fn bad_requests_are_400_in_openai_shape() {
    let fake = FakeProvider::start().await;
    let res = chat(&fake, json!({"model": "gpt-x"})).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    fake.shutdown().await;
}
