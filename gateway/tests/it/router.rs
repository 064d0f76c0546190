//! `oneshot` tests of `app()`: no upstream is reached.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::common::{self, dead_base_url, provider};

async fn call(
    app: axum::Router,
    method: &str,
    uri: &str,
    body: Body,
) -> (StatusCode, Value, axum::http::HeaderMap) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value, headers)
}

fn chat(model: &str) -> Body {
    Body::from(
        json!({"model": model, "messages": [{"role": "user", "content": "What is 2+2?"}]})
            .to_string(),
    )
}

#[tokio::test]
async fn health_and_models() {
    let dir = tempfile::tempdir().unwrap();
    let state = common::state(common::config(
        dir.path(),
        vec![provider("openai", &dead_base_url())],
        |_| {},
    ));
    let app = gateway::app(state);
    let (status, body, _) = call(app.clone(), "GET", "/health", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["candidates"], 2);
    let (_, body, _) = call(app, "GET", "/v1/models", Body::empty()).await;
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["auto", "gpt-4o", "gpt-4o-mini"]);
}

#[tokio::test]
async fn invalid_json_is_400_in_openai_shape() {
    let dir = tempfile::tempdir().unwrap();
    let app = gateway::app(common::state(common::offline_config(dir.path())));
    let (status, body, headers) =
        call(app, "POST", "/v1/chat/completions", Body::from("{nope")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_json");
    assert!(headers.contains_key("x-switchyard-request-id"));
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"].is_string());
}

#[tokio::test]
async fn unknown_model_is_404_with_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let app = gateway::app(common::state(common::offline_config(dir.path())));
    let (status, body, headers) =
        call(app, "POST", "/v1/chat/completions", chat("gpt-4o-mnii")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "model_not_found");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("did you mean `gpt-4o-mini`"));
    assert!(headers.contains_key("x-switchyard-request-id"));
}

#[tokio::test]
async fn oversized_body_is_413() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::config(
        dir.path(),
        vec![provider("openai", &dead_base_url())],
        |c| {
            c.server.body_limit_bytes = 64;
        },
    );
    let app = gateway::app(common::state(cfg));
    let big = json!({"model": "auto", "messages": [{"role": "user", "content": "x".repeat(1000)}]});
    let (status, body, _) = call(
        app,
        "POST",
        "/v1/chat/completions",
        Body::from(big.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "body_too_large");
}

#[tokio::test]
async fn no_live_candidate_is_503() {
    let dir = tempfile::tempdir().unwrap();
    let state = common::state(common::offline_config(dir.path()));
    let app = gateway::app(state.clone());
    let (status, body, _) = call(app, "POST", "/v1/chat/completions", chat("auto")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "no_live_candidate");
    // Rejected requests are logged too.
    state.log.flush().await;
    let rows = gateway::read_outcomes(state.log.location()).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, router_core::OutcomeStatus::Rejected);
}

#[tokio::test]
async fn route_works_offline_with_every_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let app = gateway::app(common::state(common::offline_config(dir.path())));
    let req =
        json!({"prompt": "Prove that sqrt(2) is irrational.", "router": {"max_cost_usd": 1.0}});
    let (status, body, _) = call(app, "POST", "/v1/route", Body::from(req.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["offline"], true);
    assert_eq!(body["source"], "priors");
    let cands = body["candidates"].as_array().unwrap();
    assert_eq!(cands.len(), 2);
    for c in cands {
        assert!(
            c["quality"].is_number() && c["cost_usd"].is_number() && c["latency_ms"].is_number()
        );
    }
    assert_eq!(body["failover_order"][0], body["chosen"]);
}

#[tokio::test]
async fn route_honours_header_knobs() {
    let dir = tempfile::tempdir().unwrap();
    let app = gateway::app(common::state(common::offline_config(dir.path())));
    let req = Request::builder()
        .method("POST")
        .uri("/v1/route")
        .header("content-type", "application/json")
        .header("x-switchyard-exclude", "gpt-4o-mini")
        .body(Body::from(json!({"prompt": "hi"}).to_string()))
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    let body: Value = serde_json::from_slice(
        &axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body["chosen"], "gpt-4o");
}

#[tokio::test]
async fn feedback_is_accepted_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let state = common::state(common::offline_config(dir.path()));
    let app = gateway::app(state.clone());
    let (status, _, headers) =
        call(app.clone(), "POST", "/v1/chat/completions", chat("auto")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let id = headers["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let fb = json!({"request_id": id, "metric": "thumbs_up", "score": true});
    let (status, _, _) = call(
        app.clone(),
        "POST",
        "/v1/feedback",
        Body::from(fb.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let bad = json!({"request_id": id, "metric": "x", "score": 3.0});
    let (status, _, _) = call(app, "POST", "/v1/feedback", Body::from(bad.to_string())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    state.log.flush().await;
    let rows = gateway::read_outcomes(state.log.location()).unwrap();
    assert_eq!(rows[0].feedback.len(), 1);
    assert_eq!(rows[0].feedback[0].score, 1.0);
}

#[tokio::test]
async fn unreachable_upstream_is_a_generic_502_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let state = common::state(common::config(
        dir.path(),
        vec![provider("openai", &dead_base_url())],
        |_| {},
    ));
    let app = gateway::app(state.clone());
    let (status, body, _) = call(app.clone(), "POST", "/v1/chat/completions", chat("gpt-4o")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body["error"]["message"], "all upstream attempts failed");
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "no internals in 5xx bodies: {body}"
    );
    state.log.flush().await;
    let rows = gateway::read_outcomes(state.log.location()).unwrap();
    assert_eq!(rows[0].status, router_core::OutcomeStatus::UpstreamError);
    assert_eq!(
        rows[0].attempts.len(),
        2,
        "failed over to the second candidate"
    );
    assert!(rows[0]
        .attempts
        .iter()
        .all(|a| a.error.as_deref() == Some("connect")));

    let (_, text, _) = call(app, "GET", "/metrics", Body::empty()).await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains("switchyard_failovers_total{from_model=\"gpt-4o\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "switchyard_requests_total{model=\"gpt-4o-mini\",status=\"upstream_error\"} 1"
        ),
        "{text}"
    );
}

async fn route_with(app: axum::Router, req: Value) -> Value {
    let (status, body, _) = call(app, "POST", "/v1/route", Body::from(req.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn candidate<'a>(body: &'a Value, model: &str) -> &'a Value {
    body["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == model)
        .unwrap_or_else(|| panic!("no {model} in {body}"))
}

/// `min_quality` alone picks the cheapest model predicted to reach it, as the docs and
/// `switchyard route` say: gpt-4o-mini (flat prior 0.677) over gpt-4o (0.702), which the
/// default trade-off prefers.
#[tokio::test]
async fn min_quality_alone_picks_the_cheapest_model_that_reaches_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = common::state(common::config(
        dir.path(),
        vec![provider("openai", &dead_base_url())],
        |_| {},
    ));
    let app = gateway::app(state.clone());
    let body = route_with(app.clone(), json!({"prompt": "hi"})).await;
    assert_eq!(body["chosen"], "gpt-4o", "{body}");
    let body = route_with(
        app.clone(),
        json!({"prompt": "hi", "router": {"min_quality": 0.5}}),
    )
    .await;
    assert_eq!(body["chosen"], "gpt-4o-mini", "{body}");
    assert_eq!(body["reason"], "best_feasible");
    // The header knob, and a stated willingness to pay still wins over the floor.
    let req = Request::builder()
        .method("POST")
        .uri("/v1/route")
        .header("content-type", "application/json")
        .header("x-switchyard-min-quality", "0.5")
        .body(Body::from(json!({"prompt": "hi"}).to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let body: Value = serde_json::from_slice(
        &axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body["chosen"], "gpt-4o-mini", "{body}");
    let body = route_with(
        app.clone(),
        json!({"prompt": "hi", "router": {"min_quality": 0.5, "willingness_to_pay": 1000.0}}),
    )
    .await;
    assert_eq!(body["chosen"], "gpt-4o", "{body}");
    // Chat routes the same way: its first attempt goes to the cheap model, and the row logs
    // the objective it applied.
    let req = json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}],
        "router": {"min_quality": 0.5}});
    let (status, _, _) = call(
        app,
        "POST",
        "/v1/chat/completions",
        Body::from(req.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    state.log.flush().await;
    let rows = gateway::read_outcomes(state.log.location()).unwrap();
    assert_eq!(rows[0].attempts[0].model.as_str(), "gpt-4o-mini");
    assert_eq!(rows[0].objective, Some(router_core::Objective::Cheapest));
}

/// The cost limit judges the whole request: `n` answers each billed, none longer than
/// `max_tokens`.
#[tokio::test]
async fn cost_limit_counts_n_and_max_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let state = common::state(common::config(
        dir.path(),
        vec![provider("openai", &dead_base_url())],
        |_| {},
    ));
    let app = gateway::app(state.clone());
    // One answer of gpt-4o-mini (400 tokens at $0.6/M, about $0.00024) fits $0.001.
    let one = route_with(
        app.clone(),
        json!({"prompt": "hi", "router": {"max_cost_usd": 0.001}}),
    )
    .await;
    assert_eq!(one["chosen"], "gpt-4o-mini");
    assert_eq!(one["reason"], "best_feasible");
    let mini_one = candidate(&one, "gpt-4o-mini").clone();
    assert_eq!(mini_one["feasible"], true);
    // Five do not: the output is billed five times (the prompt once).
    let five = route_with(
        app.clone(),
        json!({"prompt": "hi", "n": 5, "router": {"max_cost_usd": 0.001}}),
    )
    .await;
    let mini_five = candidate(&five, "gpt-4o-mini");
    let extra = mini_five["cost_usd"].as_f64().unwrap() - mini_one["cost_usd"].as_f64().unwrap();
    assert!((extra - 4.0 * 400.0 * 0.6 / 1e6).abs() < 1e-9, "{five}");
    assert_eq!(mini_five["violations"], json!(["over_budget"]), "{five}");
    assert_eq!(mini_five["feasible"], false);
    assert_eq!(five["reason"], "limits_relaxed");
    // With `max_tokens: 16` even gpt-4o (at most 16 tokens at $10/M) fits, and it wins.
    let short = route_with(
        app.clone(),
        json!({"prompt": "hi", "max_tokens": 16, "router": {"max_cost_usd": 0.001}}),
    )
    .await;
    assert_eq!(short["chosen"], "gpt-4o", "{short}");
    assert_eq!(candidate(&short, "gpt-4o")["output_tokens"], 16.0);
    assert_eq!(short["reason"], "best_feasible");
    // A chat row logs both, so that off-policy evaluation replays the same decision.
    let req = json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}],
        "n": 5, "max_completion_tokens": 16});
    let (status, _, _) = call(
        app,
        "POST",
        "/v1/chat/completions",
        Body::from(req.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    state.log.flush().await;
    let rows = gateway::read_outcomes(state.log.location()).unwrap();
    let constraints = rows[0].constraints.as_ref().unwrap();
    assert_eq!(constraints.choices, 5);
    assert_eq!(constraints.output_limit, Some(16));
}
