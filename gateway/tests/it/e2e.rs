//! End-to-end: the real gateway on 127.0.0.1:0 against the testkit fake provider.

use std::time::Duration;

use gateway::config::GatewayConfig;
use gateway::RunningGateway;
use router_core::{ModelId, OutcomeStatus};
use serde_json::{json, Value};
use testkit::{FakeProvider, Scenario, Usage};

use crate::common::{self, provider, sse_data, KEY};

async fn start(
    fake: &FakeProvider,
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut GatewayConfig),
) -> RunningGateway {
    let cfg = common::config(
        dir,
        vec![provider("openai", &fake.openai_base_url())],
        tweak,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    gateway::spawn(cfg, listener, None).await.unwrap()
}

fn body(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "seed": 7,
        "messages": [{"role": "user", "content": "Say hello"}],
        "router": {"max_cost_usd": 1.0}
    })
}

async fn post(gw: &RunningGateway, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://{}/v1/chat/completions", gw.local_addr()))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn rows(gw: &RunningGateway) -> Vec<router_core::Outcome> {
    gw.wait_idle().await;
    gw.outcome_log().flush().await;
    gateway::read_outcomes(gw.outcome_log().location()).unwrap()
}

#[tokio::test]
async fn completion_passes_through_and_is_logged_with_cost() {
    let fake = FakeProvider::start().await;
    fake.script(
        "gpt-4o",
        [Scenario::reply_with_usage(
            "hello there",
            Usage {
                input_tokens: 12,
                output_tokens: 3,
            },
        )],
    );
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&fake, dir.path(), |_| {}).await;
    let resp = post(&gw, &body("gpt-4o", false)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-model"], "gpt-4o");
    assert!(resp.headers().contains_key("x-switchyard-route-ms"));
    let cost: f64 = resp.headers()["x-switchyard-cost-usd"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(cost > 0.0);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "hello there");

    // The upstream got the pass-through field, the key, and no Switchyard fields.
    let sent = &fake.requests()[0];
    let sent_body = &sent.body;
    assert_eq!(sent_body["seed"], 7);
    assert!(sent_body.get("router").is_none());
    assert!(sent.header("authorization").is_some());
    assert_eq!(sent.model.as_deref(), Some("gpt-4o"));

    let rows = rows(&gw).await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.status, OutcomeStatus::Ok);
    assert_eq!(r.model, Some(ModelId::new("gpt-4o")));
    assert_eq!((r.input_tokens, r.output_tokens), (Some(12), Some(3)));
    assert!((r.cost_usd.unwrap() - cost).abs() < 1e-9);
    // The compact row of a named model: what was asked and tried, not the other candidates'
    // prior estimates; no `null` error, no empty label list, durations to the microsecond.
    let decision = r.decision.as_ref().unwrap();
    assert_eq!(decision.chosen.as_str(), "gpt-4o");
    assert!(decision.ranked.is_empty(), "{decision:?}");
    let json = serde_json::to_string(r).unwrap();
    for absent in ["\"error\"", "\"feedback\"", "\"ranked\":[{"] {
        assert!(!json.contains(absent), "{absent} in {json}");
    }
    assert_eq!(r.latency_ms, (r.latency_ms * 1000.0).round() / 1000.0);
    assert_eq!(
        r.attempts[0].duration_ms,
        (r.attempts[0].duration_ms * 1000.0).round() / 1000.0
    );
    gw.shutdown().await.unwrap();
    fake.shutdown().await;
}

#[tokio::test]
async fn stream_reaches_done_and_is_logged_with_usage() {
    let fake = FakeProvider::start().await;
    fake.script("gpt-4o-mini", [Scenario::reply("one two three")]);
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&fake, dir.path(), |_| {}).await;
    let resp = post(&gw, &body("gpt-4o-mini", true)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let text = resp.text().await.unwrap();
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let content: String = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(content, "one two three");
    // The client did not ask for usage: no usage chunk reaches it.
    assert!(!text.contains("\"usage\""), "{text}");
    // But the gateway asked upstream for it.
    let sent = fake.requests()[0].body.clone();
    assert_eq!(sent["stream_options"]["include_usage"], true);

    let rows = rows(&gw).await;
    assert_eq!(rows[0].status, OutcomeStatus::Ok);
    assert!(rows[0].output_tokens.unwrap() > 0);
    assert!(
        rows[0].cost_usd.unwrap() > 0.0,
        "streamed requests are never free"
    );
    assert!(rows[0].ttft_ms.is_some());
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn server_error_fails_over_to_the_next_candidate() {
    let fake = FakeProvider::start().await;
    fake.script("gpt-4o", [Scenario::status(500)]);
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&fake, dir.path(), |_| {}).await;
    let resp = post(&gw, &body("gpt-4o", false)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-model"], "gpt-4o-mini");
    let rows = rows(&gw).await;
    let attempts = &rows[0].attempts;
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].status_code, Some(500));
    assert_eq!(attempts[0].error.as_deref(), Some("server_error"));
    assert_eq!(attempts[1].error, None);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn stream_fails_over_before_the_first_byte() {
    let fake = FakeProvider::start().await;
    fake.script("gpt-4o", [Scenario::status(503)]);
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&fake, dir.path(), |_| {}).await;
    let resp = post(&gw, &body("gpt-4o", true)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-model"], "gpt-4o-mini");
    let data = sse_data(&resp.text().await.unwrap());
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn mid_stream_failure_ends_with_an_error_event() {
    let fake = FakeProvider::start().await;
    fake.script("gpt-4o", [Scenario::Disconnect]);
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&fake, dir.path(), |_| {}).await;
    let resp = post(&gw, &body("gpt-4o", true)).await;
    assert_eq!(resp.status(), 200);
    let data = sse_data(&resp.text().await.unwrap_or_default());
    assert!(
        !data.iter().any(|d| d == "[DONE]"),
        "never a clean end: {data:?}"
    );
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert!(last["error"]["code"].is_string(), "{last}");
    assert_eq!(
        fake.calls("gpt-4o-mini"),
        0,
        "no failover after bytes reached the client"
    );
    let rows = rows(&gw).await;
    assert_eq!(rows[0].status, OutcomeStatus::StreamInterrupted);
    assert!(rows[0].cost_usd.unwrap() > 0.0);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn malformed_chunk_mid_stream_is_an_error_event() {
    let fake = FakeProvider::start().await;
    fake.script("gpt-4o", [Scenario::MalformedChunk]);
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&fake, dir.path(), |_| {}).await;
    let data = sse_data(&post(&gw, &body("gpt-4o", true)).await.text().await.unwrap());
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "decode");
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn rate_limit_on_the_last_candidate_honours_retry_after() {
    let fake = FakeProvider::start().await;
    fake.script(
        "gpt-4o-mini",
        [
            Scenario::rate_limited(Duration::ZERO),
            Scenario::reply("ok"),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&fake, dir.path(), |c| {
        c.router.candidates = Some(vec![ModelId::new("gpt-4o-mini")]);
    })
    .await;
    let resp = post(&gw, &body("gpt-4o-mini", false)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(fake.calls("gpt-4o-mini"), 2);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn revoked_key_is_a_clear_502_without_the_key() {
    let fake = FakeProvider::start().await;
    fake.always("gpt-4o", Scenario::Unauthorized);
    fake.always("gpt-4o-mini", Scenario::Unauthorized);
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&fake, dir.path(), |_| {}).await;
    let resp = post(&gw, &body("auto", false)).await;
    assert_eq!(resp.status(), 502);
    let text = resp.text().await.unwrap();
    assert!(text.contains("upstream_auth"), "{text}");
    assert!(text.contains("`openai`"), "{text}");
    assert!(!text.contains(KEY));
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_request_is_passed_on_without_failover() {
    let fake = FakeProvider::start().await;
    fake.script("gpt-4o", [Scenario::status(422)]);
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&fake, dir.path(), |_| {}).await;
    let resp = post(&gw, &body("gpt-4o", false)).await;
    assert_eq!(resp.status(), 422);
    assert_eq!(fake.calls("gpt-4o-mini"), 0);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn ttft_timeout_fails_over() {
    let fake = FakeProvider::start().await;
    fake.script("gpt-4o", [Scenario::Delay(Duration::from_secs(30))]);
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&fake, dir.path(), |c| {
        c.timeouts.ttft = Duration::from_millis(200)
    })
    .await;
    let resp = post(&gw, &body("gpt-4o", true)).await;
    assert_eq!(resp.headers()["x-switchyard-model"], "gpt-4o-mini");
    let _ = resp.text().await;
    let rows = rows(&gw).await;
    assert_eq!(rows[0].attempts[0].error.as_deref(), Some("ttft_timeout"));
    gw.shutdown().await.unwrap();
    fake.shutdown().await;
}

#[tokio::test]
async fn client_disconnect_is_logged() {
    let fake = FakeProvider::start().await;
    fake.script("gpt-4o", [Scenario::StallAfterFirstChunk]);
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&fake, dir.path(), |_| {}).await;
    let resp = post(&gw, &body("gpt-4o", true)).await;
    let mut stream = resp.bytes_stream();
    use futures::StreamExt;
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    drop(stream);
    let rows = rows(&gw).await;
    assert_eq!(rows[0].status, OutcomeStatus::ClientDisconnected);
    gw.shutdown().await.unwrap();
    fake.shutdown().await;
}

#[tokio::test]
async fn open_circuit_skips_the_provider() {
    let fake = FakeProvider::start().await;
    fake.always("gpt-4o", Scenario::status(500));
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::config(
        dir.path(),
        vec![
            provider("openai", &fake.openai_base_url()),
            provider("deepseek", &fake.openai_base_url()),
        ],
        |c| {
            c.router.candidates = Some(vec![ModelId::new("gpt-4o"), ModelId::new("deepseek-chat")]);
            c.circuit_breaker.failures_to_open = 1;
            c.circuit_breaker.open_for = Duration::from_secs(3600);
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = gateway::spawn(cfg, listener, None).await.unwrap();
    for _ in 0..2 {
        let resp = post(&gw, &body("gpt-4o", false)).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-switchyard-model"], "deepseek-chat");
    }
    assert_eq!(
        fake.calls("gpt-4o"),
        1,
        "the open breaker kept the second call away"
    );
    let rows = rows(&gw).await;
    let second = rows
        .iter()
        .find(|r| r.attempts[0].error.as_deref() == Some("circuit_open"));
    assert!(second.is_some(), "{rows:?}");
    let metrics = gw.metrics().render();
    assert!(
        metrics.contains("switchyard_circuit_opened_total{provider=\"openai\"} 1"),
        "{metrics}"
    );
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn stalled_stream_hits_the_total_budget_and_ends_with_an_error() {
    let fake = FakeProvider::start().await;
    fake.script("gpt-4o", [Scenario::StallAfterFirstChunk]);
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&fake, dir.path(), |c| {
        c.timeouts.total = Duration::from_millis(300)
    })
    .await;
    let data = sse_data(&post(&gw, &body("gpt-4o", true)).await.text().await.unwrap());
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "timeout");
    let rows = rows(&gw).await;
    assert_eq!(rows[0].status, OutcomeStatus::StreamInterrupted);
    gw.shutdown().await.unwrap();
    fake.shutdown().await;
}

#[tokio::test]
async fn auto_routes_among_candidates_and_shutdown_flushes() {
    let fake = FakeProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&fake, dir.path(), |_| {}).await;
    let resp = post(&gw, &body("auto", false)).await;
    assert_eq!(resp.status(), 200);
    let model = resp.headers()["x-switchyard-model"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(model == "gpt-4o" || model == "gpt-4o-mini", "{model}");
    let path = gw.outcome_log().location().to_owned();
    gw.shutdown().await.unwrap();
    // Shutdown committed the row without an explicit flush.
    let rows = gateway::read_outcomes(&path).unwrap();
    assert_eq!(rows.len(), 1);
    let decision = rows[0].decision.as_ref().unwrap();
    assert_eq!(decision.chosen.as_str(), model);
    // A routed row keeps every candidate's estimate: off-policy evaluation reads them.
    assert_eq!(decision.ranked.len(), 2, "{decision:?}");
    assert_eq!(rows[0].requested_model, "auto");
    assert!(matches!(
        rows[0].prompt,
        router_core::PromptRecord::Hashed { .. }
    ));
}

#[tokio::test]
async fn shutdown_ends_a_stalled_stream_after_the_grace_period() {
    let fake = FakeProvider::start().await;
    fake.script("gpt-4o", [Scenario::StallAfterFirstChunk]);
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&fake, dir.path(), |c| {
        c.server.shutdown_grace = Duration::from_millis(100);
    })
    .await;
    let path = gw.outcome_log().location().to_owned();
    let resp = post(&gw, &body("gpt-4o", true)).await;
    assert_eq!(resp.status(), 200);
    let (text, shut) = tokio::join!(resp.text(), gw.shutdown());
    shut.unwrap();
    let data = sse_data(&text.unwrap());
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "shutdown");
    let rows = gateway::read_outcomes(&path).unwrap();
    assert_eq!(rows[0].status, OutcomeStatus::StreamInterrupted);
    fake.shutdown().await;
}
