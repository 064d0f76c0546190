//! Gemini's thoughts shown to clients that ask to see a model's thinking: a Responses request
//! with `reasoning.summary`, a Messages request whose `thinking` says `display: "summarized"`
//! (Claude Code's). The gateway asks Gemini for its thoughts' summaries (`includeThoughts`)
//! and passes them on as the reasoning each client reads; a request that does not ask gets
//! none.

use serde_json::{json, Value};
use testkit::Scenario;

use crate::e2e_harness::Harness;

/// A Gemini answer whose first part is a thought's summary.
fn thought_then_answer() -> Scenario {
    let body = json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "**Adding** two and two.", "thought": true},
            {"text": "4"}
        ]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 6, "candidatesTokenCount": 1,
                          "thoughtsTokenCount": 9, "totalTokenCount": 16},
        "modelVersion": "gemini-3.5-flash", "responseId": "g1"
    });
    Scenario::Raw {
        code: 200,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: body.to_string(),
    }
}

/// The `thinkingConfig` of the last request the fake got.
fn thinking_config(h: &Harness) -> Value {
    let sent = h.fake.requests().last().expect("a request").body.clone();
    sent["generationConfig"]["thinkingConfig"].clone()
}

#[tokio::test]
async fn gemini_thoughts_reach_clients_that_ask_for_thinking() {
    let h = Harness::with(&["gemini-3.5-flash"], |_| {}).await;
    h.fake
        .script("gemini-3.5-flash", (0..3).map(|_| thought_then_answer()));

    // Codex's way: a Responses request asking for a reasoning summary.
    let body = json!({"model": "gemini-3.5-flash", "input": "2+2?",
                      "reasoning": {"effort": "low", "summary": "auto"}});
    let resp = h.post_json("/v1/responses", &body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        thinking_config(&h),
        json!({"thinkingLevel": "low", "includeThoughts": true})
    );
    let answer: Value = resp.json().await.unwrap();
    let output = answer["output"].as_array().unwrap();
    assert_eq!(output[0]["type"], "reasoning", "{answer}");
    assert_eq!(
        output[0]["summary"],
        json!([{"type": "summary_text", "text": "**Adding** two and two."}])
    );
    assert_eq!(output[1]["content"][0]["text"], "4");

    // Claude Code's way: `/v1/messages` with thinking shown.
    let body = json!({"model": "gemini-3.5-flash", "max_tokens": 4096,
                      "thinking": {"type": "enabled", "budget_tokens": 2048,
                                   "display": "summarized"},
                      "messages": [{"role": "user", "content": "2+2?"}]});
    let resp = h.post_json("/v1/messages", &body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(thinking_config(&h)["includeThoughts"], true);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["content"][0]["type"], "thinking", "{answer}");
    assert_eq!(answer["content"][0]["thinking"], "**Adding** two and two.");
    assert_eq!(answer["content"][1]["text"], "4");

    // A chat request asks for no thoughts (its thoughts, if any came, would still be shown).
    let body = json!({"model": "gemini-3.5-flash", "reasoning_effort": "low",
                      "messages": [{"role": "user", "content": "2+2?"}]});
    assert_eq!(h.chat(&body).await.status(), 200);
    assert_eq!(thinking_config(&h), json!({"thinkingLevel": "low"}));
    h.stop().await;
}
