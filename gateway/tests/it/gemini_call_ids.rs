//! A tool loop on Gemini 3.5 and later: the model gives each function call an id and answers
//! 400 to a turn whose function response does not carry it; the testkit fake does the same.
//! The gateway names the call after Gemini's id and sends the id back with the call and its
//! result, so the loop's second turn goes through.

use serde_json::{json, Value};
use testkit::Scenario;

use crate::e2e_harness::Harness;

#[tokio::test]
async fn a_gemini_tool_loop_sends_each_call_id_back() {
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
    let body = json!({"model": "gemini-3.8-flash", "tools": tools, "messages": messages});
    let resp = h.chat(&body).await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    let message = answer["choices"][0]["message"].clone();
    let call_id = message["tool_calls"][0]["id"].as_str().unwrap().to_owned();
    assert!(call_id.starts_with("call_fc-"), "{answer}");

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
    let gemini_id = &call_id["call_".len()..];
    assert!(parts.iter().any(|p| p["functionCall"]["id"] == gemini_id));
    assert!(parts
        .iter()
        .any(|p| p["functionResponse"]["id"] == gemini_id));
    h.stop().await;
}
