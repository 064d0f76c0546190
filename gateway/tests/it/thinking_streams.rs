//! Models that think before (or while) they answer, over real sockets: a stream stays open
//! while its upstream shows signs of life (Anthropic's pings, SSE comments), a stream that
//! fails while its model thinks fails over because nothing has reached the client yet, and a
//! model that thinks first gets `timeouts.reasoning` for its first token where the others get
//! `ttft`.

use std::time::Duration;

use router_core::{ModelId, OutcomeStatus};
use serde_json::Value;
use testkit::Scenario;

use crate::e2e_harness::{chat_body, done_chunks, header, sse_data, streamed_text, Harness};

fn thinks(think: Duration, keepalive: Option<Duration>) -> Scenario {
    Scenario::Thinks {
        think,
        after_first_token: false,
        keepalive,
        then_drop: false,
    }
}

/// A model that pauses after its first token, sending a keep-alive every 50 ms.
fn pauses_while_pinging(pause: Duration) -> Scenario {
    Scenario::Thinks {
        think: pause,
        after_first_token: true,
        keepalive: Some(Duration::from_millis(50)),
        then_drop: false,
    }
}

#[tokio::test]
async fn keepalives_hold_a_stream_open_past_the_idle_timeout() {
    let h = Harness::with(&["claude-sonnet-5", "gpt-4o", "gemini-2.5-flash"], |c| {
        c.timeouts.idle = Duration::from_millis(400);
    })
    .await;
    // Anthropic's `ping` events, reasoning deltas in a field the chat wire lacks (OpenRouter,
    // vLLM) and SSE comments: three idle timeouts of them between two tokens.
    for model in ["claude-sonnet-5", "gpt-4o", "gemini-2.5-flash"] {
        h.fake
            .script(model, [pauses_while_pinging(Duration::from_millis(1200))]);
        let resp = h.chat(&chat_body(model, true, "think hard")).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "x-switchyard-model"), model);
        let chunks = done_chunks(&resp.text().await.unwrap());
        assert!(streamed_text(&chunks).contains("think hard"), "{chunks:?}");
        // Keep-alives never reach the client: every chunk has a choice (or the usage).
        assert!(chunks
            .iter()
            .all(|c| c["choices"].as_array().is_some_and(|a| !a.is_empty())
                || c["usage"].is_object()));
    }
    // The same pause in silence is a stalled upstream: cut at the idle timeout.
    h.fake.script(
        "claude-sonnet-5",
        [Scenario::Thinks {
            think: Duration::from_millis(1200),
            after_first_token: true,
            keepalive: None,
            then_drop: false,
        }],
    );
    let resp = h.chat(&chat_body("claude-sonnet-5", true, "hi")).await;
    let data = sse_data(&resp.text().await.unwrap());
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "timeout", "{data:?}");
    let rows = h.rows().await;
    let statuses: Vec<_> = rows.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == OutcomeStatus::Ok).count(),
        3
    );
    assert!(statuses.contains(&OutcomeStatus::StreamInterrupted));
    h.stop().await;
}

#[tokio::test]
async fn a_stream_that_fails_while_its_model_thinks_fails_over() {
    let h = Harness::with(&["claude-sonnet-5", "claude-haiku-4.5"], |_| {}).await;
    // Accepted (`message_start` sent), pinging while it thinks, then the connection drops:
    // before any token, so the client sees only the next candidate's answer.
    h.fake.script(
        "claude-sonnet-5",
        [Scenario::Thinks {
            think: Duration::from_millis(200),
            after_first_token: false,
            keepalive: Some(Duration::from_millis(50)),
            then_drop: true,
        }],
    );
    let resp = h.chat(&chat_body("claude-sonnet-5", true, "hi")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "claude-haiku-4.5");
    let chunks = done_chunks(&resp.text().await.unwrap());
    let roles = chunks
        .iter()
        .filter(|c| c["choices"][0]["delta"]["role"].is_string())
        .count();
    assert_eq!(roles, 1, "one answer, one role chunk: {chunks:?}");
    assert!(
        streamed_text(&chunks).contains("claude-haiku"),
        "{chunks:?}"
    );
    let row = h.only_row().await;
    assert_eq!(row.status, OutcomeStatus::Ok);
    assert_eq!(row.attempts.len(), 2, "{:?}", row.attempts);
    assert_eq!(row.attempts[0].model, ModelId::new("claude-sonnet-5"));
    assert!(row.attempts[0].error.is_some(), "{:?}", row.attempts);
    h.stop().await;
}

#[tokio::test]
async fn a_model_that_thinks_first_gets_the_reasoning_timeout() {
    let h = Harness::with(
        &["gpt-5", "gpt-4o", "claude-haiku-4.5", "gpt-4o-mini"],
        |c| {
            c.timeouts.ttft = Duration::from_millis(300);
            c.timeouts.attempt = Duration::from_millis(300);
            c.timeouts.idle = Duration::from_millis(300);
            c.timeouts.reasoning = Duration::from_secs(20);
        },
    )
    .await;
    let think = Duration::from_millis(1000);
    // OpenAI's Chat Completions sends nothing of the answer while a model reasons: the role
    // chunk, silence, then the answer. gpt-5 reasons by default, streamed or not.
    for stream in [true, false] {
        h.fake.script("gpt-5", [thinks(think, None)]);
        let resp = h.chat(&chat_body("gpt-5", stream, "prove it")).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(
            header(&resp, "x-switchyard-model"),
            "gpt-5",
            "stream {stream}"
        );
        if stream {
            done_chunks(&resp.text().await.unwrap());
        }
    }
    let rows = h.rows().await;
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row.attempts.len(), 1, "{:?}", row.attempts);
        // Time to first token: the thinking included, not the upstream's acceptance.
        assert!(row.ttft_ms.unwrap() >= 1000.0, "{:?}", row.ttft_ms);
    }
    // A model that answers at once, silent as long after its role chunk, is stalled: it fails
    // over after `idle`, before any byte reached the client.
    h.fake.script("gpt-4o", [thinks(think, None)]);
    let resp = h.chat(&chat_body("gpt-4o", true, "prove it")).await;
    assert_eq!(resp.status(), 200);
    assert_ne!(header(&resp, "x-switchyard-model"), "gpt-4o");
    let rows = h.rows().await;
    let failed_over = rows
        .iter()
        .find(|r| r.attempts.len() == 2)
        .expect("the failed-over row");
    assert_eq!(
        failed_over.attempts[0].error.as_deref(),
        Some("ttft_timeout")
    );
    // Pings only show the connection alive, not the model at work: a model that answers at
    // once and pings for as long fails over too.
    // (The fake knows the model by its upstream name.)
    h.fake.script(
        "claude-haiku-4-5",
        [thinks(think, Some(Duration::from_millis(50)))],
    );
    let resp = h
        .chat(&chat_body("claude-haiku-4.5", true, "prove it"))
        .await;
    assert_ne!(header(&resp, "x-switchyard-model"), "claude-haiku-4.5");
    // A model streaming reasoning deltas (an unknown reasoning model behind OpenRouter or
    // vLLM) may take up to `reasoning` for its first token; the deltas never reach the client.
    h.fake
        .script("gpt-4o", [thinks(think, Some(Duration::from_millis(50)))]);
    let resp = h.chat(&chat_body("gpt-4o", true, "prove it")).await;
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o");
    let chunks = done_chunks(&resp.text().await.unwrap());
    // Every chunk carries something: an empty delta only with the finish.
    assert!(
        chunks
            .iter()
            .all(|c| c["choices"][0]["delta"] != serde_json::json!({})
                || !c["choices"][0]["finish_reason"].is_null()),
        "{chunks:?}"
    );
    h.stop().await;
}

/// A stream still waiting for its first token after `[server] stream_keepalive` gets its 200
/// and SSE comments until the answer starts (a proxy's idle timeout would cut it otherwise);
/// a failure after that point is an error event in the client's dialect, and its row says so.
#[tokio::test]
async fn a_long_wait_for_the_first_token_sends_keepalives_then_the_answer_or_an_error_event() {
    let h = Harness::with(&["gpt-5"], |c| {
        c.server.stream_keepalive = Duration::from_millis(200);
    })
    .await;
    let think = Duration::from_millis(1000);
    h.fake.script("gpt-5", [thinks(think, None)]);
    let resp = h.chat(&chat_body("gpt-5", true, "prove it")).await;
    assert_eq!(resp.status(), 200);
    // The request id went with the early headers (feedback needs it), and names the row.
    let request_id = resp.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = resp.text().await.unwrap();
    assert!(body.starts_with(": keep-alive\n\n"), "{body}");
    assert!(streamed_text(&done_chunks(&body)).contains("prove it"));
    assert_eq!(h.only_row().await.request_id, request_id);
    // Every candidate fails after the keep-alives began: no status is left to send.
    let dropped = || Scenario::Thinks {
        think,
        after_first_token: false,
        keepalive: None,
        then_drop: true,
    };
    h.fake.script("gpt-5", [dropped()]);
    let body = h
        .chat(&chat_body("gpt-5", true, "prove it"))
        .await
        .text()
        .await
        .unwrap();
    assert!(body.starts_with(": keep-alive\n\n"), "{body}");
    let data = sse_data(&body);
    assert_eq!(data.len(), 1, "{body}");
    let event: Value = serde_json::from_str(&data[0]).unwrap();
    assert!(event["error"]["message"].is_string(), "{event}");
    // The Messages dialect gets Anthropic's error event.
    h.fake.script("gpt-5", [dropped()]);
    let messages = serde_json::json!({"model": "gpt-5", "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "prove it"}]});
    let body = h
        .post_json("/v1/messages", &messages)
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("event: error"), "{body}");
    let rows = h.rows().await;
    let failed = rows
        .iter()
        .filter(|r| r.status == OutcomeStatus::UpstreamError)
        .count();
    assert_eq!(
        failed,
        2,
        "{:?}",
        rows.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    h.stop().await;
}

/// A client that leaves a long wait, before or after its keep-alives began, does not cancel
/// its request: it runs to its end and writes its one row.
#[tokio::test]
async fn a_client_leaving_a_long_wait_still_leaves_one_row() {
    let h = Harness::with(&["gpt-5"], |c| {
        c.server.stream_keepalive = Duration::from_millis(200);
    })
    .await;
    let think = Duration::from_millis(600);
    // Gone before the switch: the client gives up after 100 ms.
    h.fake.script("gpt-5", [thinks(think, None)]);
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let gone = quick
        .post(h.url("/v1/chat/completions"))
        .json(&chat_body("gpt-5", true, "prove it"))
        .send()
        .await;
    assert!(gone.is_err());
    // Gone after it: the headers came, the body is dropped unread.
    h.fake.script("gpt-5", [thinks(think, None)]);
    let resp = h.chat(&chat_body("gpt-5", true, "prove it")).await;
    assert_eq!(resp.status(), 200);
    drop(resp);
    tokio::time::sleep(think * 2).await;
    h.gw.wait_idle().await;
    let rows = h.rows().await;
    assert_eq!(
        rows.len(),
        2,
        "{:?}",
        rows.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(
        h.fake.calls("gpt-5"),
        2,
        "neither upstream call was cut short"
    );
    h.stop().await;
}

/// A model thinking between two tokens keeps the client's connection busy too: its pings are
/// passed on as SSE comments once the client has waited `stream_keepalive` for a byte.
#[tokio::test]
async fn a_pause_between_tokens_passes_keepalives_on_to_the_client() {
    let h = Harness::with(&["claude-sonnet-5"], |c| {
        c.server.stream_keepalive = Duration::from_millis(200);
    })
    .await;
    h.fake.script(
        "claude-sonnet-5",
        [pauses_while_pinging(Duration::from_millis(900))],
    );
    let body = h
        .chat(&chat_body("claude-sonnet-5", true, "think hard"))
        .await
        .text()
        .await
        .unwrap();
    let first_data = body.find("data: ").unwrap();
    let comments = body.matches(": keep-alive").count();
    assert!(!body[..first_data].contains(": keep-alive"), "{body}");
    // Every 200 ms of a 900 ms pause: three or four, never one per ping (eighteen).
    assert!((2..=5).contains(&comments), "{comments}: {body}");
    assert!(streamed_text(&done_chunks(&body)).contains("think hard"));
    h.stop().await;
}
