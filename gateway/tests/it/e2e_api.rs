//! End-to-end over real HTTP: `auto` routing and its headers, named models, `/v1/models`,
//! `/v1/route`, `/v1/feedback`, `/metrics`, `/health`, and the OpenAI-shaped client errors.

use gateway::upstream::ProviderKind;
use router_core::{ModelId, OutcomeStatus};
use serde_json::{json, Value};
use testkit::{FakeProvider, Scenario, Usage};

use crate::e2e_harness::{
    chat_body, done_chunks, header, openai_error, provider, streamed_text, Harness, KEY,
};

#[tokio::test]
async fn auto_routes_and_sets_every_switchyard_header() {
    let h = Harness::openai().await;
    let resp = h.chat(&chat_body("auto", false, "Say hello")).await;
    assert_eq!(resp.status(), 200);
    let model = header(&resp, "x-switchyard-model").to_owned();
    assert!(
        ["gpt-4o-mini", "gpt-4o"].contains(&model.as_str()),
        "{model}"
    );
    let request_id = header(&resp, "x-switchyard-request-id").to_owned();
    assert!(!request_id.is_empty());
    let route_ms: f64 = header(&resp, "x-switchyard-route-ms").parse().unwrap();
    assert!(route_ms >= 0.0);
    let cost: f64 = header(&resp, "x-switchyard-cost-usd").parse().unwrap();
    assert!(cost > 0.0);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    // The upstream saw exactly the routed model.
    assert_eq!(h.fake.calls(&model), 1);

    let row = h.only_row().await;
    assert_eq!(row.request_id, request_id);
    assert_eq!(row.requested_model, "auto");
    assert_eq!(row.model, Some(ModelId::new(model.as_str())));
    assert_eq!(row.status, OutcomeStatus::Ok);
    let decision = row.decision.expect("auto requests log their decision");
    assert_eq!(decision.chosen, ModelId::new(model.as_str()));
    assert!(row.propensity.is_some());
    assert!(row.cost_usd.unwrap() > 0.0);
    h.stop().await;
}

#[tokio::test]
async fn auto_rows_log_the_constraints_and_objective_the_router_applied() {
    let h = Harness::openai().await;
    let mut body = chat_body("auto", false, "Say hello");
    body["router"] = json!({
        "exclude": ["gpt-4o"],
        "max_latency_ms": 20000.0,
        "willingness_to_pay": 0.5
    });
    let resp = h.chat(&body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    let row = h.only_row().await;
    let constraints = row.constraints.expect("auto rows log their constraints");
    // The allow-list is the pool the router really chose from: the live candidates minus the
    // caller's exclusions, so off-policy evaluation re-routes under the same choices.
    assert_eq!(
        constraints.candidates,
        Some(vec![ModelId::new("gpt-4o-mini")])
    );
    assert_eq!(constraints.exclude, vec![ModelId::new("gpt-4o")]);
    assert_eq!(constraints.max_latency_ms, Some(20000.0));
    assert_eq!(
        row.objective,
        Some(router_core::Objective::Utility { lambda: 2.0 })
    );
    h.stop().await;
}

#[tokio::test]
async fn named_model_is_called_by_its_upstream_name_and_logged() {
    let h = Harness::openai().await;
    h.fake.script(
        "gpt-4o",
        [Scenario::reply_with_usage(
            "bonjour",
            Usage {
                input_tokens: 20,
                output_tokens: 5,
            },
        )],
    );
    let resp = h
        .chat(&chat_body("gpt-4o", false, "Say hello in French"))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "bonjour");
    assert_eq!(v["usage"]["total_tokens"], 25);
    assert_eq!(h.fake.calls("gpt-4o-mini"), 0);
    // The key went upstream (redacted in the fake's log), and only there.
    assert!(h.fake.requests()[0].header("authorization").is_some());

    let row = h.only_row().await;
    assert_eq!(row.requested_model, "gpt-4o");
    assert_eq!((row.input_tokens, row.output_tokens), (Some(20), Some(5)));
    // gpt-4o: $2.5 / $10 per million tokens.
    let expected = 20.0 * 2.5e-6 + 5.0 * 10e-6;
    assert!((row.cost_usd.unwrap() - expected).abs() < 1e-12, "{row:?}");
    h.stop().await;
}

#[tokio::test]
async fn stream_chunks_arrive_in_order_and_the_row_has_tokens_and_cost() {
    let h = Harness::openai().await;
    h.fake
        .script("gpt-4o-mini", [Scenario::reply("alpha beta gamma")]);
    let mut body = chat_body("gpt-4o-mini", true, "Count");
    body["stream_options"] = json!({"include_usage": true});
    let resp = h.chat(&body).await;
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "content-type").starts_with("text/event-stream"));
    let request_id = header(&resp, "x-switchyard-request-id").to_owned();
    let chunks = done_chunks(&resp.text().await.unwrap());
    assert!(chunks.len() >= 3, "{chunks:?}");
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk", "{c}");
    }
    // The first chunk opens the assistant turn, the text arrives in order, a finish reason
    // closes the choice, and the usage chunk (asked for) comes last.
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(streamed_text(&chunks), "alpha beta gamma");
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"] == "stop"));
    let last = chunks.last().unwrap();
    assert!(
        last["usage"]["completion_tokens"].as_u64().unwrap() > 0,
        "{last}"
    );

    let row = h.only_row().await;
    assert_eq!(row.request_id, request_id);
    assert_eq!(row.status, OutcomeStatus::Ok);
    assert_eq!(row.model, Some(ModelId::new("gpt-4o-mini")));
    assert!(row.input_tokens.unwrap() > 0);
    assert!(row.output_tokens.unwrap() > 0);
    assert!(
        row.cost_usd.unwrap() > 0.0,
        "a stream is never free: {row:?}"
    );
    assert!(row.ttft_ms.is_some());
    h.stop().await;
}

#[tokio::test]
async fn models_lists_auto_and_the_live_candidates() {
    let fake = FakeProvider::start().await;
    let mut offline = provider("anthropic", ProviderKind::Anthropic, &fake.base_url());
    offline.api_key_env = Some("SWITCHYARD_E2E_UNSET".to_owned());
    let providers = vec![
        provider("openai", ProviderKind::Openai, &fake.openai_base_url()),
        offline,
    ];
    let h = Harness::custom(
        fake,
        providers,
        &["gpt-4o-mini", "gpt-4o", "claude-haiku-4.5"],
        |_| {},
    )
    .await;
    let resp = h.get("/v1/models").await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "list");
    let mut ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    // Claude's provider has no key: not listed.
    assert_eq!(ids, ["auto", "gpt-4o", "gpt-4o-mini"]);
    for m in v["data"].as_array().unwrap() {
        assert_eq!(m["object"], "model");
    }
    h.stop().await;
}

#[tokio::test]
async fn route_decides_without_calling_upstream() {
    let h = Harness::openai().await;
    let resp = h
        .post_json(
            "/v1/route",
            &json!({"prompt": "Prove that there are infinitely many primes."}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let chosen = v["chosen"].as_str().unwrap();
    assert!(["gpt-4o-mini", "gpt-4o"].contains(&chosen), "{v}");
    assert_eq!(v["source"], "priors");
    assert_eq!(v["offline"], false);
    assert_eq!(v["candidates"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["failover_order"][0], chosen);
    assert!(v["input_tokens"].as_u64().unwrap() > 0);

    // A chat-shaped body works too, and neither called the fake.
    let resp = h
        .post_json("/v1/route", &chat_body("gpt-4o", false, "hi"))
        .await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["chosen"], "gpt-4o");
    assert_eq!(h.fake.requests().len(), 0);
    assert_eq!(h.fake.calls("gpt-4o") + h.fake.calls("gpt-4o-mini"), 0);
    assert!(h.rows().await.is_empty(), "routing alone logs no outcome");
    h.stop().await;
}

#[tokio::test]
async fn feedback_joins_the_outcome_row_by_request_id() {
    let h = Harness::openai().await;
    let resp = h.chat(&chat_body("auto", false, "Rate me")).await;
    let request_id = header(&resp, "x-switchyard-request-id").to_owned();
    let _ = resp.bytes().await.unwrap();
    // Let the row land first, as a client giving feedback later would.
    assert_eq!(h.rows().await.len(), 1);
    for (metric, score) in [("thumbs", json!(true)), ("grade", json!(0.25))] {
        let resp = h
            .post_json(
                "/v1/feedback",
                &json!({"request_id": request_id, "metric": metric, "score": score}),
            )
            .await;
        assert_eq!(resp.status(), 202, "{:?}", resp.text().await);
    }
    let row = h.only_row().await;
    let mut got: Vec<(String, f64)> = row
        .feedback
        .iter()
        .map(|f| (f.metric.clone(), f.score))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [("grade".to_owned(), 0.25), ("thumbs".to_owned(), 1.0)]
    );

    // Out-of-range scores and bad JSON are 400s in OpenAI shape.
    let resp = h
        .post_json(
            "/v1/feedback",
            &json!({"request_id": request_id, "metric": "grade", "score": 3.0}),
        )
        .await;
    openai_error(resp, 400).await;
    h.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_and_failovers() {
    let h = Harness::openai().await;
    h.fake.script("gpt-4o", [Scenario::status(500)]);
    let resp = h.chat(&chat_body("gpt-4o", false, "hi")).await;
    assert_eq!(resp.status(), 200);
    let _ = resp.bytes().await.unwrap();
    h.rows().await;
    let resp = h.get("/metrics").await;
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "content-type").starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    for family in [
        "switchyard_requests_total",
        "switchyard_failovers_total",
        "switchyard_upstream_latency_seconds",
        "switchyard_cost_usd_total",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family}")),
            "{family}:\n{text}"
        );
    }
    let failovers =
        h.gw.metrics()
            .counter_value("switchyard_failovers_total", &[("from_model", "gpt-4o")]);
    assert_eq!(failovers, 1.0, "{text}");
    let served: f64 = text
        .lines()
        .filter(|l| l.starts_with("switchyard_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(served, 1.0, "{text}");
    h.stop().await;
}

#[tokio::test]
async fn health_reports_candidates() {
    let h = Harness::openai().await;
    let resp = h.get("/health").await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["candidates"], 2);
    assert_eq!(v["predictor"], false);
    h.stop().await;
}

#[tokio::test]
async fn client_errors_are_openai_shaped() {
    let h = Harness::with(&["gpt-4o-mini"], |c| c.server.body_limit_bytes = 4096).await;

    // Invalid JSON.
    let resp = h
        .client
        .post(h.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let err = openai_error(resp, 400).await;
    assert_eq!(err["type"], "invalid_request_error");

    // Unknown model.
    let err = openai_error(h.chat(&chat_body("gpt-4o-minii", false, "hi")).await, 404).await;
    assert_eq!(err["code"], "model_not_found");
    assert!(err["message"].as_str().unwrap().contains("gpt-4o-minii"));

    // Body over the limit.
    let big = "x".repeat(8192);
    let err = openai_error(h.chat(&chat_body("auto", false, &big)).await, 413).await;
    assert_eq!(err["code"], "body_too_large");

    // Empty messages.
    let resp = h.chat(&json!({"model": "auto", "messages": []})).await;
    openai_error(resp, 400).await;

    assert_eq!(
        h.fake.requests().len(),
        0,
        "no client error reaches upstream"
    );
    h.stop().await;
}

#[tokio::test]
async fn no_configured_provider_is_a_503_for_auto_and_a_404_for_a_named_model() {
    let fake = FakeProvider::start().await;
    let mut p = provider("openai", ProviderKind::Openai, &fake.openai_base_url());
    p.api_key_env = Some("SWITCHYARD_E2E_UNSET".to_owned());
    let h = Harness::custom(fake, vec![p], &["gpt-4o-mini"], |_| {}).await;
    // `auto` with no live provider at all: the gateway is not set up; a 503 that tells the
    // SDKs not to retry.
    let resp = h.chat(&chat_body("auto", false, "hi")).await;
    assert_eq!(header(&resp, "x-should-retry"), "false");
    let err = openai_error(resp, 503).await;
    assert_eq!(err["code"], "no_live_candidate");
    // A named model whose provider is not live: a 404 naming the model and the fix.
    let err = openai_error(h.chat(&chat_body("gpt-4o-mini", false, "hi")).await, 404).await;
    assert_eq!(err["code"], "model_not_found");
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("gpt-4o-mini"), "{err}");
    assert!(message.contains("SWITCHYARD_E2E_UNSET"), "{err}");
    let rows = h.rows().await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.status == OutcomeStatus::Rejected));
    h.stop().await;
}

#[tokio::test]
async fn upstream_401_is_a_502_naming_the_provider_not_the_key() {
    let h = Harness::with(&["claude-haiku-4.5"], |_| {}).await;
    h.fake.always("claude-haiku-4-5", Scenario::Unauthorized);
    let resp = h.chat(&chat_body("claude-haiku-4.5", false, "hi")).await;
    let err = openai_error(resp, 502).await;
    assert_eq!(err["code"], "upstream_auth");
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("anthropic"), "{message}");
    assert!(message.contains("key"), "{message}");
    assert!(!message.contains(KEY));
    let row = h.only_row().await;
    assert_eq!(row.status, OutcomeStatus::UpstreamError);
    h.stop().await;
}
