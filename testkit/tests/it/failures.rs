//! Scripted scenarios: order, counts and the shape of each failure.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use testkit::{FakeProvider, Scenario, ScenarioKind};

use crate::{client, sse_events};

fn openai(fake: &FakeProvider, model: &str, stream: bool) -> reqwest::RequestBuilder {
    client()
        .post(format!("{}/chat/completions", fake.openai_base_url()))
        .bearer_auth("sk-test")
        .json(&json!({"model": model, "stream": stream,
                      "messages": [{"role": "user", "content": "ping"}]}))
}

fn anthropic(fake: &FakeProvider, model: &str) -> reqwest::RequestBuilder {
    client()
        .post(format!("{}/v1/messages", fake.base_url()))
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": model, "max_tokens": 16,
                      "messages": [{"role": "user", "content": "ping"}]}))
}

#[tokio::test]
async fn scripted_failures_happen_in_order_per_model() {
    let fake = FakeProvider::start().await;
    fake.script(
        "m1",
        [
            Scenario::Status {
                code: 500,
                retry_after: Some(Duration::from_millis(1500)),
                body: None,
            },
            Scenario::reply("recovered"),
        ],
    );
    assert_eq!(fake.pending("m1"), 2);

    // Another model is unaffected by m1's script.
    let other: Value = openai(&fake, "m2", false)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(other["choices"][0]["message"]["content"], "m2 echoes: ping");

    let first = openai(&fake, "m1", false).send().await.unwrap();
    assert_eq!(first.status(), 500);
    assert_eq!(first.headers()["retry-after"], "2");
    let err: Value = first.json().await.unwrap();
    assert_eq!(err["error"]["type"], "server_error");

    let second: Value = openai(&fake, "m1", false)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["choices"][0]["message"]["content"], "recovered");

    // The queue is spent: back to the echo default.
    let third: Value = openai(&fake, "m1", false)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(third["choices"][0]["message"]["content"], "m1 echoes: ping");

    assert_eq!(fake.calls("m1"), 3);
    assert_eq!(fake.calls("m2"), 1);
    assert_eq!(fake.calls("never"), 0);
    assert_eq!(fake.calls_with(ScenarioKind::Status), 1);
    assert_eq!(fake.calls_with(ScenarioKind::Ok), 3);
    assert_eq!(fake.pending("m1"), 0);
    fake.shutdown().await;
}

#[tokio::test]
async fn vendor_error_shapes_for_429_529_and_401() {
    let fake = FakeProvider::start().await;
    fake.script(
        "claude-x",
        [
            Scenario::rate_limited(Duration::from_secs(3)),
            Scenario::status(529),
            Scenario::Unauthorized,
            Scenario::Status {
                code: 502,
                retry_after: None,
                body: Some("<html>bad gateway</html>".into()),
            },
        ],
    );
    let res = anthropic(&fake, "claude-x").send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "3");
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["type"], "rate_limit_error");

    let res = anthropic(&fake, "claude-x").send().await.unwrap();
    assert_eq!(res.status(), 529);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["type"], "overloaded_error");

    let res = anthropic(&fake, "claude-x").send().await.unwrap();
    assert_eq!(res.status(), 401);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["type"], "authentication_error");

    let res = anthropic(&fake, "claude-x").send().await.unwrap();
    assert_eq!(res.status(), 502);
    assert_eq!(res.headers()["content-type"], "text/plain");
    assert_eq!(res.text().await.unwrap(), "<html>bad gateway</html>");

    fake.script("gemini-x", [Scenario::rate_limited(Duration::from_secs(1))]);
    let res = client()
        .post(format!(
            "{}/v1beta/models/gemini-x:generateContent?key=k",
            fake.base_url()
        ))
        .json(&json!({"contents": [{"parts": [{"text": "hi"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(err["error"]["code"], 429);
    fake.shutdown().await;
}

#[tokio::test]
async fn always_makes_a_model_permanently_down() {
    let fake = FakeProvider::start().await;
    fake.always("down", Scenario::status(503));
    fake.script("down", [Scenario::reply("one good answer")]);
    assert_eq!(
        openai(&fake, "down", false).send().await.unwrap().status(),
        200
    );
    for _ in 0..3 {
        assert_eq!(
            openai(&fake, "down", false).send().await.unwrap().status(),
            503
        );
    }
    assert_eq!(fake.calls("down"), 4);
    fake.shutdown().await;
}

#[tokio::test]
async fn delay_then_answers() {
    let fake = FakeProvider::start().await;
    fake.script("slow", [Scenario::Delay(Duration::from_millis(20))]);
    let body: Value = openai(&fake, "slow", false)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "slow echoes: ping"
    );
    assert_eq!(fake.calls_with(ScenarioKind::Delay), 1);
    fake.shutdown().await;
}

#[tokio::test]
async fn malformed_chunk_stream_and_body() {
    let fake = FakeProvider::start().await;
    fake.script("bad", [Scenario::MalformedChunk, Scenario::MalformedChunk]);
    let text = openai(&fake, "bad", true)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = sse_events(&text);
    // The role chunk and the first token, then the broken chunk, then the end.
    assert_eq!(events.len(), 4);
    assert_eq!(events[0].json()["choices"][0]["delta"]["role"], "assistant");
    assert!(events[1].json()["choices"][0]["delta"]["content"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    assert!(serde_json::from_str::<Value>(&events[2].data).is_err());
    assert_eq!(events[3].data, "[DONE]");

    let res = openai(&fake, "bad", false).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.json::<Value>().await.is_err());
    fake.shutdown().await;
}

#[tokio::test]
async fn disconnect_mid_stream_and_before_response() {
    let fake = FakeProvider::start().await;
    fake.script("flaky", [Scenario::Disconnect, Scenario::Disconnect]);
    let res = openai(&fake, "flaky", true).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut body = res.bytes_stream();
    let mut received = Vec::new();
    let mut failed = false;
    while let Some(item) = body.next().await {
        match item {
            Ok(bytes) => received.extend_from_slice(&bytes),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the stream must end in an error, not cleanly");
    // Cut after the first token: the role chunk and the first piece of text.
    let events = sse_events(std::str::from_utf8(&received).unwrap());
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].json()["choices"][0]["delta"]["role"], "assistant");
    assert!(events[1].json()["choices"][0]["delta"]["content"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));

    // Non-streaming: the request fails on send or on reading the body.
    let outcome = match openai(&fake, "flaky", false).send().await {
        Ok(res) => res.bytes().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(outcome.is_err());
    assert_eq!(fake.calls_with(ScenarioKind::Disconnect), 2);
    fake.shutdown().await;
}

#[tokio::test]
async fn stall_after_first_chunk_hangs_until_shutdown() {
    let fake = FakeProvider::start().await;
    fake.script("stuck", [Scenario::StallAfterFirstChunk]);
    let res = anthropic(&fake, "stuck").header("accept", "text/event-stream");
    let res = res
        .json(&json!({"model": "stuck", "max_tokens": 16, "stream": true,
                      "messages": [{"role": "user", "content": "ping"}]}))
        .send()
        .await
        .unwrap();
    let mut body = res.bytes_stream();
    // Everything up to the first token: the message start, the block start, the first delta.
    let mut received = Vec::new();
    while !String::from_utf8_lossy(&received).contains("text_delta") {
        received.extend_from_slice(&body.next().await.unwrap().unwrap());
    }
    let events = sse_events(std::str::from_utf8(&received).unwrap());
    assert_eq!(events[0].event.as_deref(), Some("message_start"));
    assert_eq!(
        events.last().unwrap().event.as_deref(),
        Some("content_block_delta")
    );
    // Nothing more arrives while the fake runs (a bounded wait can only pass spuriously,
    // never fail spuriously)...
    assert!(
        tokio::time::timeout(Duration::from_millis(100), body.next())
            .await
            .is_err()
    );
    // ...and shutdown ends the stall instead of waiting on it forever.
    fake.shutdown().await;
    let rest = body.next().await;
    assert!(matches!(rest, None | Some(Err(_))));
}
