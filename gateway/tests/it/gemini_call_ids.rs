//! A tool loop on Gemini 3.5 and later: the model gives each function call an id and answers
//! 400 to a turn whose function response does not carry it; the testkit fake does the same.
//! The gateway names the call after Gemini's id and sends the id back with the call and its
//! result, so the loop's second turn goes through.

use serde_json::{json, Value};
use testkit::Scenario;

use crate::e2e_harness::Harness;

#[tokio::test]
async fn a_gemini_tool_loop_sends_each_call_id_back() {
    tool_loop(false).await;
}

/// The same with the first turn streamed: the call's name reaches the client in its delta.
#[tokio::test]
async fn a_streamed_gemini_tool_loop_sends_each_call_id_back() {
    tool_loop(true).await;
}

async fn tool_loop(stream: bool) {
    let h = Harness::with(&["gemini-3.8-flash"], |_| {}).await;
    h.fake.script(
        "gemini-3.8-flash",
        [
            Scenario::ToolCall {
                name: "weather".into(),
                arguments: json!({"city": "Oslo"}),
            },
            Scenario::echo(),
        ],
    );
    let tools = json!([{"type": "function", "function": {"name": "weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let mut messages = vec![json!({"role": "user", "content": "Weather in Oslo?"})];
    let body = json!({"model": "gemini-3.8-flash", "tools": tools, "messages": messages,
                      "stream": stream});
    let resp = h.chat(&body).await;
    assert_eq!(resp.status(), 200);
    let message = if stream {
        let chunks = crate::e2e_harness::done_chunks(&resp.text().await.unwrap());
        let call = chunks
            .iter()
            .find_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0).cloned())
            .expect("a tool call delta");
        json!({"role": "assistant", "content": null, "tool_calls": [{"id": call["id"],
               "type": "function", "function": call["function"]}]})
    } else {
        let answer: Value = resp.json().await.unwrap();
        answer["choices"][0]["message"].clone()
    };
    let call_id = message["tool_calls"][0]["id"].as_str().unwrap().to_owned();
    assert!(call_id.starts_with("call_g"), "{message}");

    messages.push(message);
    messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": "rain"}));
    let body = json!({"model": "gemini-3.8-flash", "tools": tools, "messages": messages});
    let resp = h.chat(&body).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let sent = h.fake.requests().last().expect("a request").body.clone();
    let parts: Vec<Value> = sent["contents"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["parts"].as_array().unwrap().clone())
        .collect();
    // The name carries the fake's id: `call_g`, eight hex digits, `_`, the id.
    let gemini_id = &call_id["call_g".len() + 9..];
    assert!(gemini_id.starts_with("fc-"), "{call_id}");
    assert!(parts.iter().any(|p| p["functionCall"]["id"] == gemini_id));
    assert!(parts
        .iter()
        .any(|p| p["functionResponse"]["id"] == gemini_id));
    h.stop().await;
}
