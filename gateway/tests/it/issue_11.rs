//! Issue 11, the defects found by probing: each one against the real gateway on loopback with
//! the testkit fake (hostile upstream answers are `Scenario::Raw` and `Scenario::Huge`).

use std::time::Duration;

use gateway::metrics::Metrics;
use router_core::OutcomeStatus;
use serde_json::{json, Value};
use testkit::Scenario;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::e2e_harness::{chat_body, done_chunks, header, openai_error, sse_data, Harness};

/// Upper bound on waiting for something that must happen (a guard against hangs, not a
/// timing assertion).
const GUARD: Duration = Duration::from_secs(60);

fn rejected(metrics: &Metrics, endpoint: &str, code: &str) -> f64 {
    metrics.counter_value(
        "switchyard_rejected_requests_total",
        &[("endpoint", endpoint), ("code", code)],
    )
}

fn raw_429(retry_after: &str) -> Scenario {
    Scenario::Raw {
        code: 429,
        headers: vec![("retry-after".to_owned(), retry_after.to_owned())],
        body: r#"{"error":{"message":"slow down","type":"rate_limit"}}"#.to_owned(),
    }
}

const HOSTILE_RETRY_AFTER: [&str; 5] = [
    "1000000000000000019884624838656",
    "1e308",
    "NaN",
    "-5",
    "Wed, 21 Oct 2015 07:28:00 GMT",
];

#[tokio::test]
async fn issue_11_hostile_retry_after_fails_over_without_a_panic() {
    let h = Harness::openai().await;
    for value in HOSTILE_RETRY_AFTER {
        h.fake.script("gpt-4o", [raw_429(value)]);
        let resp = h.chat(&chat_body("gpt-4o", false, "hi")).await;
        assert_eq!(resp.status(), 200, "Retry-After: {value}");
        assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    }
    let rows = h.rows().await;
    assert_eq!(rows.len(), HOSTILE_RETRY_AFTER.len());
    assert!(rows.iter().all(|r| r.status == OutcomeStatus::Ok));
    h.stop().await;
}

#[tokio::test]
async fn issue_11_hostile_retry_after_on_the_last_candidate_is_a_clamped_429() {
    let h = Harness::with(&["gpt-4o-mini"], |_| {}).await;
    for value in HOSTILE_RETRY_AFTER {
        h.fake.script("gpt-4o-mini", [raw_429(value)]);
        let resp = h.chat(&chat_body("gpt-4o-mini", false, "hi")).await;
        if let Some(v) = resp.headers().get("retry-after") {
            let secs: f64 = v.to_str().unwrap().parse().unwrap();
            assert!((0.0..=3600.0).contains(&secs), "{value}: {secs}");
        }
        openai_error(resp, 429).await;
    }
    assert_eq!(h.rows().await.len(), HOSTILE_RETRY_AFTER.len());
    h.stop().await;
}

#[tokio::test]
async fn issue_11_huge_model_names_and_lists_are_a_short_400() {
    let h = Harness::openai().await;
    let huge = "m".repeat(1 << 20);
    let cases = [
        chat_body(&huge, false, "hi"),
        json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}],
               "router": {"exclude": [huge]}}),
        json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}],
               "router": {"candidates": vec!["gpt-4o"; 10_000]}}),
    ];
    for body in &cases {
        let resp = h.chat(body).await;
        let text = resp.text().await.unwrap();
        assert!(
            text.len() < 1024,
            "the name is echoed whole: {} bytes",
            text.len()
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["code"], "invalid_request", "{v}");
    }
    let resp = h
        .client
        .post(h.url("/v1/chat/completions"))
        .header("x-switchyard-exclude", "x".repeat(64 * 1024))
        .json(&chat_body("auto", false, "hi"))
        .send()
        .await
        .unwrap();
    openai_error(resp, 400).await;
    let rows = h.rows().await;
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.requested_model.len() <= 256));
    assert_eq!(h.fake.calls("gpt-4o") + h.fake.calls("gpt-4o-mini"), 0);
    h.stop().await;
}

#[tokio::test]
async fn issue_11_out_of_range_numbers_are_a_400_and_the_log_stays_exportable() {
    let h = Harness::openai().await;
    let with = |extra: Value| {
        let mut body = chat_body("auto", false, "hi");
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (
            with(json!({"router": {"willingness_to_pay": 5e-324}})),
            "router.willingness_to_pay",
        ),
        (
            with(json!({"router": {"max_cost_usd": -1}})),
            "router.max_cost_usd",
        ),
        (
            with(json!({"router": {"min_quality": 7}})),
            "router.min_quality",
        ),
        (with(json!({"temperature": 1e300})), "temperature"),
        (with(json!({"top_p": -0.5})), "top_p"),
        (with(json!({"n": 0})), "n must"),
        (with(json!({"max_tokens": 0})), "max_tokens"),
    ];
    for (body, field) in &cases {
        let err = openai_error(h.chat(body).await, 400).await;
        assert!(err["message"].as_str().unwrap().contains(field), "{err}");
    }
    // A number too big for a double is not even JSON for serde: still a 400.
    let resp = h
        .client
        .post(h.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(r#"{"model":"auto","messages":[{"role":"user","content":"hi"}],"router":{"willingness_to_pay":1e999}}"#)
        .send()
        .await
        .unwrap();
    openai_error(resp, 400).await;
    let ok = h
        .chat(&with(json!({"router": {"willingness_to_pay": 0.5}})))
        .await;
    assert_eq!(ok.status(), 200);
    let rows = h.rows().await;
    assert_eq!(rows.len(), cases.len() + 2);
    let mut out = Vec::new();
    let n = gateway::export_jsonl(h.gw.outcome_log().location(), &mut out).unwrap();
    assert_eq!(n, rows.len());
    h.stop().await;
}

#[tokio::test]
async fn issue_11_requests_no_model_can_serve_are_a_400_naming_the_limit() {
    let h = Harness::openai().await;
    let all_excluded = json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}],
        "router": {"exclude": ["gpt-4o", "gpt-4o-mini"]}});
    let err = openai_error(h.chat(&all_excluded).await, 400).await;
    assert_eq!(err["code"], "no_model_allowed", "{err}");
    // About 200k tokens: more than either candidate's 128k window.
    let long = "lorem ".repeat(140_000);
    let err = openai_error(h.chat(&chat_body("auto", false, &long)).await, 400).await;
    assert_eq!(err["code"], "context_length_exceeded", "{err}");
    assert!(err["message"].as_str().unwrap().contains("128000"), "{err}");
    assert_eq!(h.fake.calls("gpt-4o") + h.fake.calls("gpt-4o-mini"), 0);
    assert_eq!(h.rows().await.len(), 2, "one row per call: nothing retried");
    h.stop().await;
}

#[tokio::test]
async fn issue_11_huge_upstream_answers_fail_over_or_end_cleanly() {
    let limit = 256 * 1024;
    let h = Harness::openai_with(|c| c.server.upstream_response_limit_bytes = limit).await;
    let huge = Scenario::Huge { bytes: 4 << 20 };
    // Non-streamed: the too-large answer fails over to the next candidate.
    h.fake.script("gpt-4o", [huge.clone()]);
    let resp = h.chat(&chat_body("gpt-4o", false, "hi")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    // Every candidate too large: a 502 naming the cause.
    h.fake.script("gpt-4o", [huge.clone()]);
    h.fake.script("gpt-4o-mini", [huge.clone()]);
    let err = openai_error(h.chat(&chat_body("gpt-4o", false, "hi")).await, 502).await;
    assert_eq!(err["code"], "upstream_too_large", "{err}");
    // Streamed: the stream ends with an error event, never `[DONE]`, after at most the limit.
    h.fake.script("gpt-4o", [huge]);
    let resp = h.chat(&chat_body("gpt-4o", true, "hi")).await;
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(
        body.len() <= limit + 64 * 1024,
        "{} bytes relayed",
        body.len()
    );
    let data = sse_data(&body);
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "too_large", "{last}");
    let rows = h.rows().await;
    assert!(rows
        .iter()
        .any(|r| r.status == OutcomeStatus::StreamInterrupted));
    h.stop().await;
}

#[tokio::test]
async fn issue_11_feedback_for_unknown_or_labelled_requests_is_refused() {
    let h = Harness::openai().await;
    let resp = h.chat(&chat_body("gpt-4o-mini", false, "hi")).await;
    assert_eq!(resp.status(), 200);
    // No flush: the row is committed before the answer.
    let id = header(&resp, "x-switchyard-request-id").to_owned();
    let label =
        |id: &str, score: Value| json!({"request_id": id, "metric": "thumbs_up", "score": score});
    let first = h.post_json("/v1/feedback", &label(&id, json!(true))).await;
    assert_eq!(first.status(), 202);
    let again = h.post_json("/v1/feedback", &label(&id, json!(true))).await;
    assert_eq!(openai_error(again, 409).await["code"], "feedback_conflict");
    let conflicting = h.post_json("/v1/feedback", &label(&id, json!(0.0))).await;
    openai_error(conflicting, 409).await;
    let unknown = h
        .post_json(
            "/v1/feedback",
            &label("req_00000000000000000000000000000000", json!(1)),
        )
        .await;
    assert_eq!(
        openai_error(unknown, 404).await["code"],
        "request_not_found"
    );
    let malformed = h
        .client
        .post(h.url("/v1/feedback"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    openai_error(malformed, 400).await;
    // A NUL (PostgreSQL cannot store it) is the client's error, not the log's 503.
    let nul = json!({"request_id": id, "metric": "thumbs\0up", "score": 1});
    let nul = h.post_json("/v1/feedback", &nul).await;
    assert!(openai_error(nul, 400).await["message"]
        .as_str()
        .unwrap()
        .contains("control characters"));
    let m = h.gw.metrics();
    assert_eq!(rejected(m, "feedback", "invalid_json"), 1.0);
    assert_eq!(rejected(m, "feedback", "feedback_conflict"), 2.0);
    assert_eq!(rejected(m, "feedback", "request_not_found"), 1.0);
    let rows = h.rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].feedback.len(), 1, "the first label wins");
    assert_eq!(rows[0].feedback[0].score, 1.0);
    h.stop().await;
}

#[tokio::test]
async fn issue_11_malformed_chat_requests_leave_a_row_and_a_metric() {
    let h = Harness::openai().await;
    let resp = h
        .client
        .post(h.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(r#"{"model": 3}"#)
        .send()
        .await
        .unwrap();
    let id = header(&resp, "x-switchyard-request-id").to_owned();
    openai_error(resp, 400).await;
    assert_eq!(
        rejected(h.gw.metrics(), "chat_completions", "invalid_json"),
        1.0
    );
    let row = h.only_row().await;
    assert_eq!(row.request_id, id);
    assert_eq!(row.status, OutcomeStatus::Rejected);
    h.stop().await;
}

#[tokio::test]
async fn issue_11_streams_commit_their_row_before_done() {
    let h = Harness::openai().await;
    let resp = h.chat(&chat_body("gpt-4o-mini", true, "hi")).await;
    let id = header(&resp, "x-switchyard-request-id").to_owned();
    done_chunks(&resp.text().await.unwrap());
    // Read straight from the database: no wait_idle, no flush.
    let rows = gateway::read_outcomes(h.gw.outcome_log().location()).unwrap();
    assert!(rows
        .iter()
        .any(|r| r.request_id == id && r.status == OutcomeStatus::Ok));
    h.stop().await;
}

/// Reads from `stream` until the peer closes it; returns what was read.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(GUARD, stream.read_to_end(&mut out))
        .await
        .expect("the gateway closes the connection")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn issue_11_half_sent_headers_are_closed_after_the_header_timeout() {
    let h =
        Harness::openai_with(|c| c.server.header_read_timeout = Duration::from_millis(300)).await;
    let mut slow = TcpStream::connect(h.gw.local_addr()).await.unwrap();
    slow.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    read_until_closed(&mut slow).await;
    // The gateway still serves others.
    assert_eq!(h.get("/health").await.status(), 200);
    h.stop().await;
}

#[tokio::test]
async fn issue_11_a_trickled_body_gets_a_408() {
    let h = Harness::openai_with(|c| c.server.body_read_timeout = Duration::from_millis(300)).await;
    let mut slow = TcpStream::connect(h.gw.local_addr()).await.unwrap();
    slow.write_all(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"model\":",
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    h.stop().await;
}

#[tokio::test]
async fn issue_11_idle_keep_alive_connections_are_closed() {
    let h = Harness::openai_with(|c| c.server.idle_timeout = Duration::from_millis(300)).await;
    let mut conn = TcpStream::connect(h.gw.local_addr()).await.unwrap();
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    // The answer arrives, then the kept-alive connection is closed once idle.
    let answer = read_until_closed(&mut conn).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    h.stop().await;
}

#[tokio::test]
async fn issue_11_connections_over_the_cap_wait_for_a_free_slot() {
    let h = Harness::openai_with(|c| c.server.max_connections = 1).await;
    let holder = TcpStream::connect(h.gw.local_addr()).await.unwrap();
    let mut waiting = TcpStream::connect(h.gw.local_addr()).await.unwrap();
    waiting
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(300), waiting.read(&mut first)).await;
    assert!(early.is_err(), "served while the only slot was taken");
    drop(holder);
    let answer = read_until_closed(&mut waiting).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    h.stop().await;
}

#[tokio::test]
async fn issue_11_shutdown_with_a_half_sent_request_ends_after_the_grace() {
    let h = Harness::openai_with(|c| {
        c.server.shutdown_grace = Duration::from_millis(500);
        c.server.header_read_timeout = Duration::from_secs(3600);
        c.server.idle_timeout = Duration::from_secs(3600);
    })
    .await;
    let mut slow = TcpStream::connect(h.gw.local_addr()).await.unwrap();
    slow.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    // Let the gateway accept it before shutting down.
    assert_eq!(h.get("/health").await.status(), 200);
    tokio::time::timeout(GUARD, h.stop())
        .await
        .expect("shutdown is bounded by the grace period");
    read_until_closed(&mut slow).await;
}

/// A deterministic generator for hostile bodies (no extra dependency).
struct Lcg(u64);

impl Lcg {
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next_u64() as usize) % items.len()]
    }
}

#[tokio::test]
async fn issue_11_hostile_json_bodies_never_get_a_5xx() {
    let h = Harness::openai().await;
    let values = [
        "null",
        "true",
        "-1",
        "0",
        "1e308",
        "-1e308",
        "5e-324",
        "1.5",
        "\"\"",
        "\"auto\"",
        "\"gpt-4o\"",
        "[]",
        "{}",
        "[1,2]",
        "{\"a\":1}",
        "\"\\u0000\"",
        "99999999999999999999",
        "[\"gpt-4o\",\"gpt-4o-mini\"]",
        "[{\"role\":\"user\",\"content\":\"hi\"}]",
        "[{\"role\":\"tool\"}]",
        "[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]",
    ];
    let keys = [
        "model",
        "messages",
        "stream",
        "temperature",
        "top_p",
        "n",
        "max_tokens",
        "tools",
        "tool_choice",
        "response_format",
        "stop",
        "router",
        "stream_options",
        "user",
        "willingness_to_pay",
        "exclude",
        "candidates",
        "max_cost_usd",
        "min_quality",
    ];
    let mut rng = Lcg(11);
    for i in 0..300 {
        let mut body = serde_json::Map::new();
        body.insert("model".into(), json!("auto"));
        body.insert(
            "messages".into(),
            json!([{"role": "user", "content": "hi"}]),
        );
        let mut router = serde_json::Map::new();
        for _ in 0..(rng.next_u64() % 4 + 1) {
            let key = rng.pick(&keys);
            let value: Value = serde_json::from_str(rng.pick(&values)).unwrap();
            if rng.next_u64().is_multiple_of(2) {
                router.insert(key.to_owned(), value);
            } else {
                body.insert(key.to_owned(), value);
            }
        }
        if !router.is_empty() {
            body.insert("router".into(), Value::Object(router));
        }
        let mut text = Value::Object(body).to_string();
        if i % 10 == 0 {
            // Cut or corrupt the JSON itself now and then.
            let cut = (rng.next_u64() as usize) % text.len();
            text.truncate(cut);
        }
        let resp = h
            .client
            .post(h.url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(text.clone())
            .send()
            .await
            .unwrap();
        let status = resp.status();
        assert!(!status.is_server_error(), "{status} for {text}");
    }
    h.stop().await;
}
