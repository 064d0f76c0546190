//! Mistral's reasoning through the gateway: Small 4 and Medium 3.5 reason when a request asks
//! (`reasoning_effort`, which they take as `none` or `high`), and answer with their thinking
//! as content parts, whole or streamed. The gateway reads those as Chat Completions'
//! `content` and `reasoning_content`; before, every such answer failed to parse.

use serde_json::{json, Value};
use testkit::Scenario;

use crate::e2e_harness::{done_chunks, streamed_text, Harness};

/// Small 4's upstream name (the catalog pins the snapshot it is priced as).
const SMALL_4: &str = "mistral-small-2603";

fn raw(content_type: &str, body: String) -> Scenario {
    Scenario::Raw {
        code: 200,
        headers: vec![("content-type".to_owned(), content_type.to_owned())],
        body,
    }
}

/// One SSE event of a Mistral stream whose delta is `delta`.
fn event(delta: Value, finish: Option<&str>) -> String {
    let chunk = json!({"id": "m1", "object": "chat.completion.chunk", "created": 1,
                       "model": SMALL_4,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {chunk}\n\n")
}

fn thinking(text: &str) -> Value {
    json!([{"type": "thinking", "thinking": [{"type": "text", "text": text}]}])
}

#[tokio::test]
async fn mistral_thinking_parts_reach_clients_as_reasoning() {
    let h = Harness::with_mistral(&["mistral-small-4"]).await;

    let whole = json!({"id": "m0", "object": "chat.completion", "created": 1, "model": SMALL_4,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
            "content": [{"type": "thinking", "thinking": [{"type": "text", "text": "2+2 is "},
                                                          {"type": "text", "text": "4."}]},
                        {"type": "text", "text": "4"}]}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}});
    let mut stream = event(json!({"role": "assistant", "content": ""}), None);
    stream.push_str(&event(json!({"content": thinking("Two and ")}), None));
    stream.push_str(&event(json!({"content": thinking("two.")}), None));
    stream.push_str(&event(json!({"content": "4"}), None));
    stream.push_str(&event(
        json!({"content": [{"type": "text", "text": "!"}]}),
        None,
    ));
    stream.push_str(&event(json!({}), Some("stop")));
    stream.push_str("data: [DONE]\n\n");
    h.fake.script(
        SMALL_4,
        [
            raw("application/json", whole.to_string()),
            raw("text/event-stream", stream),
        ],
    );

    // A client asking for a little reasoning gets Small 4's nearest level, `high`.
    let mut body = json!({"model": "mistral-small-4", "reasoning_effort": "low",
                          "messages": [{"role": "user", "content": "2+2?"}]});
    let resp = h.chat(&body).await;
    assert_eq!(resp.status(), 200);
    let sent = h.fake.requests().last().expect("a request").body.clone();
    assert_eq!(sent["model"], SMALL_4);
    assert_eq!(sent["reasoning_effort"], "high");
    let answer: Value = resp.json().await.unwrap();
    let message = &answer["choices"][0]["message"];
    assert_eq!(message["content"], "4", "{answer}");
    assert_eq!(message["reasoning_content"], "2+2 is 4.", "{answer}");

    body["stream"] = json!(true);
    let resp = h.chat(&body).await;
    assert_eq!(resp.status(), 200);
    let chunks = done_chunks(&resp.text().await.unwrap());
    assert_eq!(streamed_text(&chunks), "4!");
    let reasoning: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    assert_eq!(reasoning, "Two and two.");
    h.stop().await;
}
