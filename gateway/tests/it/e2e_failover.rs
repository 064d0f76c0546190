//! End-to-end failover over real sockets: connect errors, rate limits, timeouts, broken streams
//! and the circuit breaker, each checked on the client's answer, the fake's call counts and the
//! outcome row's attempts.

use std::time::Duration;

use gateway::upstream::ProviderKind;
use router_core::{ModelId, OutcomeStatus};
use serde_json::Value;
use testkit::{FakeProvider, Scenario};

use crate::e2e_harness::{
    chat_body, closed_port_url, header, openai_error, provider, sse_data, Harness,
};

#[tokio::test]
async fn connect_error_fails_over_to_the_next_candidate() {
    let fake = FakeProvider::start().await;
    let providers = vec![
        provider("deepseek", ProviderKind::Openai, &closed_port_url()),
        provider("openai", ProviderKind::Openai, &fake.openai_base_url()),
    ];
    let h = Harness::custom(fake, providers, &["deepseek-chat", "gpt-4o-mini"], |_| {}).await;
    let resp = h.chat(&chat_body("deepseek-chat", false, "hi")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    let row = h.only_row().await;
    assert_eq!(row.status, OutcomeStatus::Ok);
    assert_eq!(row.attempts.len(), 2, "{:?}", row.attempts);
    assert_eq!(row.attempts[0].model, ModelId::new("deepseek-chat"));
    assert_eq!(row.attempts[0].error.as_deref(), Some("connect"));
    assert_eq!(row.attempts[0].status_code, None);
    h.stop().await;
}

#[tokio::test]
async fn rate_limit_with_another_candidate_moves_on_without_waiting() {
    let h = Harness::openai().await;
    // A long Retry-After: waiting for it would hang the test, so passing proves no wait.
    h.fake.script(
        "gpt-4o",
        [Scenario::rate_limited(Duration::from_secs(3600))],
    );
    let resp = h.chat(&chat_body("gpt-4o", false, "hi")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    assert_eq!(h.fake.calls("gpt-4o"), 1);
    let row = h.only_row().await;
    assert_eq!(row.attempts[0].status_code, Some(429));
    assert_eq!(row.attempts[0].error.as_deref(), Some("rate_limited"));
    h.stop().await;
}

#[tokio::test]
async fn retry_after_beyond_the_deadline_is_a_429_to_the_client() {
    let h = Harness::with(&["gpt-4o-mini"], |c| {
        c.timeouts.request = Duration::from_secs(20);
        c.timeouts.attempt = Duration::from_secs(20);
        c.timeouts.ttft = Duration::from_secs(20);
    })
    .await;
    h.fake.always(
        "gpt-4o-mini",
        Scenario::rate_limited(Duration::from_secs(3600)),
    );
    let resp = h.chat(&chat_body("gpt-4o-mini", false, "hi")).await;
    assert_eq!(resp.status(), 429);
    let retry_after: f64 = header(&resp, "retry-after").parse().unwrap();
    assert!(retry_after >= 3600.0, "{retry_after}");
    let err = openai_error(resp, 429).await;
    assert_eq!(err["type"], "rate_limit_error");
    assert_eq!(h.fake.calls("gpt-4o-mini"), 1, "no retry past the deadline");
    h.stop().await;
}

#[tokio::test]
async fn slow_non_stream_attempt_times_out_and_fails_over() {
    let h = Harness::with(&["gpt-4o-mini", "gpt-4o"], |c| {
        // Long enough that the healthy second attempt never hits it on a loaded machine.
        c.timeouts.attempt = Duration::from_secs(2);
    })
    .await;
    h.fake
        .script("gpt-4o", [Scenario::Delay(Duration::from_secs(3600))]);
    let resp = h.chat(&chat_body("gpt-4o", false, "hi")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    let row = h.only_row().await;
    assert_eq!(row.attempts[0].error.as_deref(), Some("timeout"));
    assert_eq!(row.attempts[1].error, None);
    h.stop().await;
}

#[tokio::test]
async fn stream_ttft_timeout_fails_over_before_any_byte() {
    let h = Harness::with(&["gpt-4o-mini", "gpt-4o"], |c| {
        c.timeouts.ttft = Duration::from_secs(2);
    })
    .await;
    h.fake
        .script("gpt-4o", [Scenario::Delay(Duration::from_secs(3600))]);
    let resp = h.chat(&chat_body("gpt-4o", true, "hi")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    let data = sse_data(&resp.text().await.unwrap());
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let row = h.only_row().await;
    assert_eq!(row.status, OutcomeStatus::Ok);
    assert_eq!(row.attempts[0].error.as_deref(), Some("ttft_timeout"));
    h.stop().await;
}

/// A stream that fails after its first byte reached the client ends with an error event, never
/// `[DONE]`, and is not failed over.
async fn assert_broken_stream(scenario: Scenario, expected_code: Option<&str>) {
    // Bounds the stall case; the other cases end long before (and the first chunk must arrive
    // inside it even on a loaded machine).
    assert_broken_stream_with(
        scenario,
        expected_code,
        Duration::from_secs(2),
        Duration::from_secs(60),
    )
    .await;
}

async fn assert_broken_stream_with(
    scenario: Scenario,
    expected_code: Option<&str>,
    total: Duration,
    idle: Duration,
) {
    let h = Harness::with(&["gpt-4o", "gpt-4o-mini"], |c| {
        c.timeouts.total = total;
        c.timeouts.idle = idle;
    })
    .await;
    h.fake.script("gpt-4o", [scenario.clone()]);
    let resp = h.chat(&chat_body("gpt-4o", true, "hi")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o");
    let body = resp.text().await.unwrap();
    let data = sse_data(&body);
    assert!(!data.iter().any(|d| d == "[DONE]"), "{scenario:?}: {body}");
    let first: Value = serde_json::from_str(&data[0]).unwrap();
    assert_eq!(
        first["object"], "chat.completion.chunk",
        "{scenario:?}: {body}"
    );
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    let code = last["error"]["code"].as_str();
    assert!(code.is_some(), "{scenario:?}: {body}");
    if let Some(expected) = expected_code {
        assert_eq!(code, Some(expected), "{scenario:?}: {body}");
    }
    assert_eq!(h.fake.calls("gpt-4o-mini"), 0, "{scenario:?}: no failover");
    let row = h.only_row().await;
    assert_eq!(row.status, OutcomeStatus::StreamInterrupted, "{scenario:?}");
    assert!(row.cost_usd.unwrap() > 0.0, "{scenario:?}");
    h.stop().await;
}

#[tokio::test]
async fn stall_after_first_chunk_is_an_error_event() {
    assert_broken_stream(Scenario::StallAfterFirstChunk, Some("timeout")).await;
}

/// A stalled stream ends at the idle gap between chunks, long before its total budget.
#[tokio::test]
async fn stall_ends_at_the_idle_timeout_not_the_total() {
    assert_broken_stream_with(
        Scenario::StallAfterFirstChunk,
        Some("timeout"),
        Duration::from_secs(600),
        Duration::from_secs(1),
    )
    .await;
}

#[tokio::test]
async fn malformed_chunk_is_an_error_event() {
    assert_broken_stream(Scenario::MalformedChunk, Some("decode")).await;
}

#[tokio::test]
async fn upstream_disconnect_is_an_error_event() {
    assert_broken_stream(Scenario::Disconnect, None).await;
}

#[tokio::test]
async fn breaker_opens_after_consecutive_failures() {
    let h = Harness::with(&["gpt-4o", "claude-haiku-4.5"], |c| {
        c.circuit_breaker.failures_to_open = 3;
        c.circuit_breaker.open_for = Duration::from_secs(3600);
    })
    .await;
    h.fake.always("gpt-4o", Scenario::status(500));
    for i in 0..5 {
        let resp = h.chat(&chat_body("gpt-4o", false, "hi")).await;
        assert_eq!(resp.status(), 200, "request {i}");
        assert_eq!(header(&resp, "x-switchyard-model"), "claude-haiku-4.5");
        let _ = resp.bytes().await.unwrap();
    }
    assert_eq!(
        h.fake.calls("gpt-4o"),
        3,
        "calls stop once the breaker is open"
    );
    assert_eq!(h.fake.calls("claude-haiku-4-5"), 5);
    let mut rows = h.rows().await;
    rows.sort_by_key(|r| r.timestamp_ms);
    let skipped = rows
        .iter()
        .filter(|r| r.attempts[0].error.as_deref() == Some("circuit_open"))
        .count();
    assert_eq!(skipped, 2, "{rows:#?}");
    let opened =
        h.gw.metrics()
            .counter_value("switchyard_circuit_opened_total", &[("provider", "openai")]);
    assert_eq!(opened, 1.0);
    h.stop().await;
}

#[tokio::test]
async fn attempts_stop_at_max_attempts() {
    let h = Harness::with(&["gpt-4o", "gpt-4o-mini", "claude-haiku-4.5"], |c| {
        c.retries.max_attempts = 2;
    })
    .await;
    for m in ["gpt-4o", "gpt-4o-mini", "claude-haiku-4-5"] {
        h.fake.always(m, Scenario::status(503));
    }
    let resp = h.chat(&chat_body("gpt-4o", false, "hi")).await;
    let err = openai_error(resp, 502).await;
    assert_eq!(err["code"], "upstream_failed");
    let total =
        h.fake.calls("gpt-4o") + h.fake.calls("gpt-4o-mini") + h.fake.calls("claude-haiku-4-5");
    assert_eq!(total, 2);
    let row = h.only_row().await;
    assert_eq!(row.status, OutcomeStatus::UpstreamError);
    assert_eq!(row.attempts.len(), 2);
    h.stop().await;
}

/// With no attempt left, a Retry-After that fits the deadline is not waited for: the wait
/// could only end in the same 429.
#[tokio::test]
async fn retry_after_is_not_waited_for_when_no_attempt_is_left() {
    let h = Harness::with(&["gpt-4o-mini"], |c| {
        c.retries.max_attempts = 1;
        c.retries.honour_retry_after = true;
    })
    .await;
    h.fake.script(
        "gpt-4o-mini",
        [Scenario::rate_limited(Duration::from_secs(3))],
    );
    let started = std::time::Instant::now();
    let resp = h.chat(&chat_body("gpt-4o-mini", false, "hi")).await;
    let waited = started.elapsed();
    assert_eq!(resp.status(), 429);
    // Well under the 3 s Retry-After, with room for a loaded machine.
    assert!(waited < Duration::from_millis(1500), "{waited:?}");
    let _ = openai_error(resp, 429).await;
    assert_eq!(h.fake.calls("gpt-4o-mini"), 1);
    h.stop().await;
}

/// A candidate skipped for its open breaker was never called: the client gets the failure of
/// the candidate that was, and the row names that one.
#[tokio::test]
async fn skipped_open_breaker_keeps_the_real_failure() {
    let h = Harness::with(&["gpt-4o", "claude-haiku-4.5"], |c| {
        c.circuit_breaker.failures_to_open = 1;
        c.circuit_breaker.open_for = Duration::from_secs(3600);
    })
    .await;
    // Opens the anthropic breaker; gpt-4o answers in its place.
    h.fake.script("claude-haiku-4-5", [Scenario::status(500)]);
    let resp = h.chat(&chat_body("claude-haiku-4.5", false, "hi")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o");
    let _ = resp.bytes().await.unwrap();

    h.fake.script("gpt-4o", [Scenario::status(500)]);
    let resp = h.chat(&chat_body("gpt-4o", false, "hi")).await;
    let err = openai_error(resp, 502).await;
    assert_eq!(err["code"], "upstream_failed", "{err}");
    assert_eq!(h.fake.calls("claude-haiku-4-5"), 1, "skipped, not called");
    let rows = h.rows().await;
    let failed: Vec<_> = rows
        .iter()
        .filter(|r| r.status == OutcomeStatus::UpstreamError)
        .collect();
    assert_eq!(failed.len(), 1, "{rows:#?}");
    let row = failed[0];
    assert_eq!(row.model, Some(ModelId::new("gpt-4o")), "{row:#?}");
    assert_eq!(row.attempts.len(), 2, "{:?}", row.attempts);
    assert_eq!(row.attempts[0].status_code, Some(500));
    assert_eq!(row.attempts[1].error.as_deref(), Some("circuit_open"));
    h.stop().await;
}

/// A request one adapter cannot express (Claude and Gemini need a user turn) is valid for the
/// next candidate: the walk moves on instead of answering the client 400.
#[tokio::test]
async fn a_request_one_vendor_cannot_express_fails_over() {
    let h = Harness::with(&["claude-haiku-4.5", "gpt-4o-mini"], |_| {}).await;
    let mut body = chat_body("claude-haiku-4.5", false, "unused");
    body["messages"] = serde_json::json!([{"role": "system", "content": "Say hi."}]);
    let resp = h.chat(&body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    let row = h.only_row().await;
    assert_eq!(row.attempts[0].model, ModelId::new("claude-haiku-4.5"));
    assert_eq!(row.attempts[0].error.as_deref(), Some("bad_request"));
    assert_eq!(
        h.fake.calls("claude-haiku-4-5"),
        0,
        "nothing was sent to Claude"
    );
    // With no other candidate the client gets the adapter's 400.
    let h2 = Harness::with(&["claude-haiku-4.5"], |_| {}).await;
    let err = openai_error(h2.chat(&body).await, 400).await;
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("no user or assistant message"),
        "{err}"
    );
    h.stop().await;
    h2.stop().await;
}

/// A `Retry-After` that leaves the retry less than its first-token budget is not waited for:
/// the client gets the 429 at once instead of a timeout at the deadline.
#[tokio::test]
async fn retry_after_leaving_no_time_for_the_retry_is_a_429_at_once() {
    let h = Harness::with(&["gpt-4o-mini"], |c| {
        c.timeouts.request = Duration::from_secs(4);
        c.timeouts.attempt = Duration::from_secs(4);
        c.timeouts.ttft = Duration::from_secs(2);
    })
    .await;
    h.fake.always(
        "gpt-4o-mini",
        Scenario::rate_limited(Duration::from_secs(3)),
    );
    let started = std::time::Instant::now();
    let resp = h.chat(&chat_body("gpt-4o-mini", false, "hi")).await;
    assert_eq!(resp.status(), 429);
    assert!(started.elapsed() < Duration::from_secs(2), "no wait");
    assert_eq!(h.fake.calls("gpt-4o-mini"), 1);
    h.stop().await;
}

/// An attempt ended by the request's deadline (not by its own limit) does not count against
/// the provider's breaker; nor does a model's 404 (renamed, withdrawn), which would shut the
/// provider's other models out.
#[tokio::test]
async fn an_attempt_cut_by_the_request_deadline_leaves_the_breaker_closed() {
    let breaker = |c: &mut gateway::config::GatewayConfig| {
        c.circuit_breaker.failures_to_open = 1;
        c.circuit_breaker.open_for = Duration::from_secs(3600);
        c.timeouts.request = Duration::from_secs(3);
        c.timeouts.attempt = Duration::from_secs(2);
        c.timeouts.ttft = Duration::from_secs(2);
        c.timeouts.reasoning = Duration::from_secs(2);
        c.timeouts.total = Duration::from_secs(3);
    };
    let opened = |h: &Harness| {
        h.gw.metrics()
            .counter_value("switchyard_circuit_opened_total", &[("provider", "openai")])
    };
    // Claude uses its whole limit; gpt-4o is then left a third of its own by the deadline.
    let h = Harness::with(&["claude-haiku-4.5", "gpt-4o"], breaker).await;
    h.fake.script(
        "claude-haiku-4-5",
        [Scenario::Delay(Duration::from_secs(5))],
    );
    h.fake
        .script("gpt-4o", [Scenario::Delay(Duration::from_secs(5))]);
    let resp = h.chat(&chat_body("claude-haiku-4.5", false, "slow")).await;
    assert_eq!(resp.status(), 504);
    let _ = resp.bytes().await.unwrap();
    assert_eq!(h.fake.calls("gpt-4o"), 1);
    let resp = h.chat(&chat_body("gpt-4o", false, "back")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o");
    assert_eq!(opened(&h), 0.0);
    h.stop().await;
}

#[tokio::test]
async fn one_models_404_leaves_the_providers_breaker_closed() {
    let h = Harness::with(&["gpt-4o", "gpt-4o-mini"], |c| {
        c.circuit_breaker.failures_to_open = 1;
        c.circuit_breaker.open_for = Duration::from_secs(3600);
    })
    .await;
    h.fake.script("gpt-4o", [Scenario::status(404)]);
    let resp = h.chat(&chat_body("gpt-4o", false, "gone")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    let _ = resp.bytes().await.unwrap();
    let opened =
        h.gw.metrics()
            .counter_value("switchyard_circuit_opened_total", &[("provider", "openai")]);
    assert_eq!(opened, 0.0);
    h.stop().await;
}

/// A provider whose `base_url` is wrong answers every path with a bare 404: that one opens its
/// breaker (each request would otherwise pay a round trip to it), where a model's 404 does not.
#[tokio::test]
async fn a_404_for_a_wrong_base_url_opens_the_providers_breaker() {
    let fake = FakeProvider::start().await;
    let providers = vec![
        provider(
            "openai",
            ProviderKind::Openai,
            &format!("{}/not-the-api", fake.openai_base_url()),
        ),
        provider("anthropic", ProviderKind::Anthropic, &fake.base_url()),
    ];
    let h = Harness::custom(fake, providers, &["gpt-4o", "claude-haiku-4.5"], |c| {
        c.circuit_breaker.failures_to_open = 1;
        c.circuit_breaker.open_for = Duration::from_secs(3600);
    })
    .await;
    for _ in 0..2 {
        let resp = h.chat(&chat_body("gpt-4o", false, "hi")).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "x-switchyard-model"), "claude-haiku-4.5");
        let _ = resp.bytes().await.unwrap();
    }
    let opened =
        h.gw.metrics()
            .counter_value("switchyard_circuit_opened_total", &[("provider", "openai")]);
    assert_eq!(opened, 1.0);
    h.gw.wait_idle().await;
    h.gw.outcome_log().flush().await;
    let rows = gateway::read_outcomes(h.gw.outcome_log().location()).unwrap();
    let first = &rows[0].attempts[0];
    assert_eq!(first.status_code, Some(404));
    assert_eq!(first.error.as_deref(), Some("not_found"));
    // The second request did not call the wrong address again.
    assert!(rows[1].attempts.iter().all(|a| a.status_code != Some(404)));
    h.stop().await;
}

/// Sends `body` and gives up after `after`, as a client that times out and closes its
/// connection before the answer.
async fn leave_early(h: &Harness, body: &Value, after: Duration) {
    let client = reqwest::Client::builder().timeout(after).build().unwrap();
    let sent = client
        .post(h.url("/v1/chat/completions"))
        .json(body)
        .send()
        .await;
    assert!(sent.is_err(), "the client gave up before the answer");
}

/// A client that left before its answer started gets no further candidate tried and no
/// `Retry-After` waited out for it: nobody would read the answer, yet it would be paid for.
#[tokio::test]
async fn a_client_that_left_gets_no_further_attempts() {
    // Failover: gpt-4o fails after the client left; gpt-4o-mini is not called.
    let h = Harness::with(&["gpt-4o", "gpt-4o-mini"], |_| {}).await;
    h.fake.script(
        "gpt-4o",
        [Scenario::Thinks {
            think: Duration::from_millis(800),
            after_first_token: false,
            keepalive: None,
            then_drop: true,
        }],
    );
    leave_early(
        &h,
        &chat_body("gpt-4o", false, "hi"),
        Duration::from_millis(200),
    )
    .await;
    let row = h.only_row().await;
    assert_eq!(h.fake.calls("gpt-4o"), 1);
    assert_eq!(h.fake.calls("gpt-4o-mini"), 0, "{:?}", row.attempts);
    assert_eq!(row.attempts.len(), 1);
    assert_eq!(row.status, OutcomeStatus::ClientDisconnected);
    h.stop().await;

    // Retry-After: the wait ends when the client leaves; no second call.
    let h = Harness::with(&["gpt-4o-mini"], |_| {}).await;
    h.fake.script(
        "gpt-4o-mini",
        [Scenario::rate_limited(Duration::from_secs(2))],
    );
    let started = std::time::Instant::now();
    leave_early(
        &h,
        &chat_body("gpt-4o-mini", false, "hi"),
        Duration::from_millis(300),
    )
    .await;
    let row = h.only_row().await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the wait ended early"
    );
    assert_eq!(h.fake.calls("gpt-4o-mini"), 1);
    assert_eq!(row.status, OutcomeStatus::ClientDisconnected);
    assert_eq!(row.cost_usd, Some(0.0), "nothing was answered");
    h.stop().await;
}

/// The same for a stream that already gets keep-alives (`[server] stream_keepalive`): the
/// client leaving while the model thinks stops the walk there.
#[tokio::test]
async fn a_streaming_client_that_left_during_keepalives_gets_no_further_attempts() {
    let h = Harness::with(&["gpt-4o", "gpt-4o-mini"], |c| {
        c.server.stream_keepalive = Duration::from_millis(100);
    })
    .await;
    h.fake.script(
        "gpt-4o",
        [Scenario::Thinks {
            think: Duration::from_millis(1000),
            after_first_token: false,
            keepalive: None,
            then_drop: true,
        }],
    );
    let client = reqwest::Client::new();
    let mut resp = client
        .post(h.url("/v1/chat/completions"))
        .json(&chat_body("gpt-4o", true, "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "keep-alives started");
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b": keep-alive"), "{first:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(resp);
    let row = h.only_row().await;
    assert_eq!(h.fake.calls("gpt-4o"), 1);
    assert_eq!(h.fake.calls("gpt-4o-mini"), 0, "{:?}", row.attempts);
    h.stop().await;
}

/// A non-streamed answer that comes after its client left is logged (and charged) as ever,
/// its row saying the client went away instead of `ok`.
#[tokio::test]
async fn an_answer_nobody_waited_for_is_logged_as_client_disconnected() {
    let h = Harness::with(&["gpt-4o-mini"], |_| {}).await;
    h.fake
        .script("gpt-4o-mini", [Scenario::Delay(Duration::from_millis(600))]);
    leave_early(
        &h,
        &chat_body("gpt-4o-mini", false, "hi"),
        Duration::from_millis(200),
    )
    .await;
    let row = h.only_row().await;
    assert_eq!(row.status, OutcomeStatus::ClientDisconnected);
    assert_eq!(row.model, Some(ModelId::new("gpt-4o-mini")));
    assert!(row.cost_usd.unwrap() > 0.0, "the answer was paid for");
    // A client that waits gets `ok`.
    let resp = h.chat(&chat_body("gpt-4o-mini", false, "hi")).await;
    assert_eq!(resp.status(), 200);
    let rows = h.rows().await;
    assert!(rows.iter().any(|r| r.status == OutcomeStatus::Ok));
    h.stop().await;
}

/// A 429 cools that model down (its `Retry-After`, at most `rate_limit_cooldown`) instead of
/// counting against its provider's breaker: the next requests skip it without a call and the
/// provider's other models keep serving, even with a breaker that opens on one failure.
#[tokio::test]
async fn a_rate_limited_model_cools_down_without_opening_its_providers_breaker() {
    let h = Harness::with(&["gpt-4o", "gpt-4o-mini"], |c| {
        c.circuit_breaker.failures_to_open = 1;
        c.circuit_breaker.open_for = Duration::from_secs(3600);
    })
    .await;
    h.fake
        .script("gpt-4o", [Scenario::rate_limited(Duration::from_secs(30))]);
    for i in 0..3 {
        let resp = h.chat(&chat_body("gpt-4o", false, "hi")).await;
        assert_eq!(resp.status(), 200, "request {i}");
        assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
        let _ = resp.bytes().await.unwrap();
    }
    assert_eq!(h.fake.calls("gpt-4o"), 1, "skipped while it cools down");
    assert_eq!(h.fake.calls("gpt-4o-mini"), 3, "the provider stays open");
    let rows = h.rows().await;
    let skipped = rows
        .iter()
        .filter(|r| r.attempts[0].error.as_deref() == Some("cooling_down"))
        .count();
    assert_eq!(skipped, 2);
    // A failure before the skip: the client gets that failure, and the row names the model
    // that was called, not the one skipped.
    h.fake.script("gpt-4o-mini", [Scenario::status(500)]);
    let resp = h.chat(&chat_body("gpt-4o-mini", false, "hi")).await;
    assert_eq!(resp.status(), 502);
    let _ = resp.bytes().await.unwrap();
    let mut rows = h.rows().await;
    rows.sort_by_key(|r| r.timestamp_ms);
    let last = rows.last().unwrap();
    assert_eq!(
        last.attempts.last().unwrap().error.as_deref(),
        Some("cooling_down")
    );
    assert_eq!(last.model, Some(ModelId::new("gpt-4o-mini")));
    h.stop().await;

    // Alone, the cooled-down model answers 429 at once, with the time left (without the
    // retry after the wait, which would hold the first request for 30 s).
    let h = Harness::with(&["gpt-4o-mini"], |c| c.retries.honour_retry_after = false).await;
    h.fake.script(
        "gpt-4o-mini",
        [Scenario::rate_limited(Duration::from_secs(30))],
    );
    let first = h.chat(&chat_body("gpt-4o-mini", false, "hi")).await;
    assert_eq!(first.status(), 429);
    let second = h.chat(&chat_body("gpt-4o-mini", false, "hi")).await;
    assert_eq!(second.status(), 429);
    let left: f64 = header(&second, "retry-after").parse().unwrap();
    assert!((1.0..=30.0).contains(&left), "{left}");
    assert_eq!(h.fake.calls("gpt-4o-mini"), 1);
    h.stop().await;

    // `rate_limit_cooldown = 0s` turns it off: every request calls again.
    let h = Harness::with(&["gpt-4o-mini"], |c| {
        c.retries.rate_limit_cooldown = Duration::ZERO;
        c.retries.honour_retry_after = false;
    })
    .await;
    h.fake.script(
        "gpt-4o-mini",
        [Scenario::rate_limited(Duration::from_secs(30))],
    );
    assert_eq!(
        h.chat(&chat_body("gpt-4o-mini", false, "hi"))
            .await
            .status(),
        429
    );
    assert_eq!(
        h.chat(&chat_body("gpt-4o-mini", false, "hi"))
            .await
            .status(),
        200
    );
    h.stop().await;
}

/// A thinking model's 4-minute `reasoning` limit under a shorter request deadline is the
/// request's: its first attempt had it whole, so a provider that hangs still opens its breaker
/// (only a late candidate's share of the deadline is breaker-neutral).
#[tokio::test]
async fn a_hung_thinking_model_still_opens_its_breaker_under_a_short_request_deadline() {
    let h = Harness::with(&["gpt-5"], |c| {
        c.circuit_breaker.failures_to_open = 1;
        c.circuit_breaker.open_for = Duration::from_secs(3600);
        c.timeouts.request = Duration::from_secs(2);
        c.timeouts.attempt = Duration::from_secs(2);
        c.timeouts.ttft = Duration::from_secs(1);
        c.timeouts.total = Duration::from_secs(2);
    })
    .await;
    h.fake
        .script("gpt-5", [Scenario::Delay(Duration::from_secs(5))]);
    let resp = h.chat(&chat_body("gpt-5", false, "think")).await;
    assert_eq!(resp.status(), 504);
    let _ = resp.bytes().await.unwrap();
    let opened =
        h.gw.metrics()
            .counter_value("switchyard_circuit_opened_total", &[("provider", "openai")]);
    assert_eq!(opened, 1.0);
    h.stop().await;
}

/// The retry after a `Retry-After` wait goes ahead even when another request's later 429
/// moved the model's cool-down past it (it would be skipped, and its wait wasted on the old
/// 429). Both requests are in flight when their 429s come.
#[tokio::test]
async fn a_retry_after_its_wait_is_not_skipped_by_a_later_cool_down() {
    let h = Harness::with(&["gpt-4o-mini"], |_| {}).await;
    let late_429 = |after_ms: u64, wait_s: u64| Scenario::Late {
        delay: Duration::from_millis(after_ms),
        then: Box::new(Scenario::rate_limited(Duration::from_secs(wait_s))),
    };
    h.fake.script(
        "gpt-4o-mini",
        [late_429(200, 1), late_429(500, 2), Scenario::echo()],
    );
    let first = async {
        h.chat(&chat_body("gpt-4o-mini", false, "first"))
            .await
            .status()
    };
    let second = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        h.chat(&chat_body("gpt-4o-mini", false, "second"))
            .await
            .status()
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(first, 200, "the first retried after its wait");
    assert_eq!(second, 200);
    assert_eq!(h.fake.calls("gpt-4o-mini"), 4);
    h.stop().await;
}
