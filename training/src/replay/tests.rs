#![allow(clippy::unwrap_used, clippy::expect_used)]

use datasets::{Cell, OutcomeTable, PromptRow};
use serde_json::{json, Value};

use super::*;

const JOINED: &str = "You are terse.\nName a colour.";

/// Two models, two prompts: `big` has everything recorded on the first, `small` only a
/// response; the second prompt (a system + user text) has only `big`.
fn table() -> OutcomeTable {
    let mut t = OutcomeTable::new("synthetic", vec!["big".into(), "small".into()]);
    let big = Cell {
        input_tokens: Some(7),
        output_tokens: Some(1),
        latency_ms: Some(1200.0),
        response: Some("4".into()),
        ..Cell::from_score(1.0)
    };
    let small = Cell {
        response: Some("5, maybe".into()),
        ..Cell::from_score(0.0)
    };
    t.rows.push(PromptRow {
        id: "arith.1".into(),
        text: "What is 2+2?".into(),
        task: Some("arith".into()),
        split: None,
        cells: vec![Some(big), Some(small)],
    });
    t.rows.push(PromptRow {
        id: "colour.1".into(),
        text: JOINED.into(),
        task: None,
        split: None,
        cells: vec![Some(Cell::from_score(0.5)), None],
    });
    t
}

async fn start() -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut index = ReplayIndex::new(table(), &|_| None);
    assert!(index.add_alias("vendor/Big-v1", "big"));
    assert!(!index.add_alias("x", "absent"));
    let config = ReplayConfig {
        latency_scale: 0.0,
        seed: 0,
    };
    tokio::spawn(serve(listener, index, config, async {
        let _ = rx.await;
    }));
    (format!("http://{addr}"), tx)
}

async fn chat(base: &str, body: Value) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn answers_recorded_responses_with_usage() {
    let (base, _stop) = start().await;
    let (status, body) = chat(
        &base,
        json!({"model": "big", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "  What is 2+2?\n"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "big");
    assert_eq!(v["choices"][0]["message"]["content"], "4");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8})
    );

    // No recorded tokens: characters / 4, rounded up; content given as text parts.
    let (status, body) = chat(
        &base,
        json!({"model": "small", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "5, maybe");
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    assert_eq!(v["usage"]["completion_tokens"], 2);

    // The last user message matches nothing; all messages joined by "\n" do.
    let (status, body) = chat(
        &base,
        json!({"model": "big", "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Name a colour."}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // An alias (the catalog's upstream name) reaches the same column.
    let (status, body) = chat(
        &base,
        json!({"model": "vendor/Big-v1", "messages": [{"role": "user", "content": "What is 2+2?"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"content\":\"4\""), "{body}");
}

#[tokio::test]
async fn streams_chunks_usage_and_done() {
    let (base, _stop) = start().await;
    let (status, body) = chat(
        &base,
        json!({"model": "small", "stream": true, "stream_options": {"include_usage": true},
               "messages": [{"role": "user", "content": "What is 2+2?"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let frames: Vec<&str> = body
        .split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|f| f.strip_prefix("data: ").unwrap())
        .collect();
    assert_eq!(frames.last(), Some(&"[DONE]"));
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "5, maybe");
    let finish: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, vec![&json!("stop")]);
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["total_tokens"], 5);

    // Without include_usage there is no usage chunk.
    let (_, body) = chat(
        &base,
        json!({"model": "big", "stream": true,
               "messages": [{"role": "user", "content": "What is 2+2?"}]}),
    )
    .await;
    assert!(!body.contains("\"usage\""), "{body}");
    assert!(body.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn unknown_prompt_model_or_outcome_is_404() {
    let (base, _stop) = start().await;
    let user = |text: &str| json!([{"role": "user", "content": text}]);
    let cases = [
        (
            json!({"model": "big", "messages": user("What is 3+3?")}),
            "prompt_not_found",
        ),
        (
            json!({"model": "huge", "messages": user("What is 2+2?")}),
            "model_not_found",
        ),
        (
            json!({"model": "small", "messages": user(JOINED)}),
            "outcome_not_recorded",
        ),
    ];
    for (request, code) in cases {
        let (status, body) = chat(&base, request).await;
        assert_eq!(status, 404, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], code);
        assert!(v["error"]["message"].as_str().unwrap().len() > 10);
    }
}

#[tokio::test]
async fn lists_models_and_serves_scores() {
    let (base, _stop) = start().await;
    let client = reqwest::Client::new();
    let models: Value = client
        .get(format!("{base}/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    // The columns, then the aliases a gateway sends as upstream names: a gateway that checks
    // its candidates against this list at start-up must find them.
    assert_eq!(ids, ["big", "small", "vendor/Big-v1"]);

    let hash = prompt_sha256("What is 2+2?");
    let got: Value = client
        .get(format!(
            "{base}/replay/score?model=small&prompt_sha256={hash}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["score"], 0.0);
    assert_eq!(got["prompt_id"], "arith.1");
    let r = client
        .post(format!("{base}/replay/score"))
        .json(&json!({"model": "big", "prompt": JOINED}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["score"], 0.5);
    let r = client
        .post(format!("{base}/replay/score"))
        .json(&json!({"model": "big", "prompt": "unseen"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[test]
fn recorded_scores_and_latency() {
    let t = table();
    assert_eq!(recorded_score(&t, "big", "What is 2+2?"), Some(1.0));
    assert_eq!(recorded_score(&t, "small", JOINED), None);
    assert_eq!(recorded_score(&t, "nobody", "What is 2+2?"), None);

    let index = ReplayIndex::new(t, &|m| {
        (m == "small").then_some(LatencyPrior {
            ttft_ms: 100.0,
            tokens_per_s: 10.0,
        })
    });
    let big = index.recorded("big", 0).unwrap();
    assert_eq!(big.latency_ms, 1200.0);
    assert_eq!(big.ttft_ms, DEFAULT_LATENCY_PRIOR.ttft_ms);
    // Prior: 100 ms + 2 tokens at 10 tokens/s.
    let small = index.recorded("small", 0).unwrap();
    assert!((small.latency_ms - 300.0).abs() < 1e-9);
    // No response, no tokens: the default completion length and the default prior.
    let none = index.recorded("big", 1).unwrap();
    assert_eq!(none.response, "");
    assert_eq!(none.completion_tokens, 300);
    assert!((none.latency_ms - 11_000.0).abs() < 1e-9);

    let zero = ReplayConfig {
        latency_scale: 0.0,
        seed: 1,
    };
    assert_eq!(scaled_latency_ms(&zero, "big", "arith.1", 1200.0), 0.0);
    let real = ReplayConfig::default();
    let a = scaled_latency_ms(&real, "big", "arith.1", 1200.0);
    assert!((1080.0..=1320.0).contains(&a), "{a}");
    assert_eq!(a, scaled_latency_ms(&real, "big", "arith.1", 1200.0));
}

/// Waits are saturated: an infinite or huge latency waits [`server::MAX_DELAY`], NaN or a
/// negative one nothing, and an ordinary one what it says.
#[test]
fn delays_saturate_instead_of_panicking() {
    use super::server::{delay, MAX_DELAY};
    assert_eq!(delay(1500.0), std::time::Duration::from_millis(1500));
    for huge in [1.2e303, f64::INFINITY, f64::MAX] {
        assert_eq!(delay(huge), MAX_DELAY, "{huge}");
    }
    for nothing in [f64::NAN, -1.0, f64::NEG_INFINITY, 0.0] {
        assert_eq!(delay(nothing), std::time::Duration::ZERO, "{nothing}");
    }
}

/// With a huge `latency_scale` (1e300 × a recorded 1.2 s) the handler waits, saturated,
/// instead of panicking on the conversion and closing the connection with no reply.
#[tokio::test]
async fn a_huge_latency_scale_keeps_the_request_waiting_not_dropped() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = ReplayConfig {
        latency_scale: 1e300,
        seed: 0,
    };
    let server = serve(
        listener,
        ReplayIndex::new(table(), &|_| None),
        config,
        std::future::pending::<()>(),
    );
    let request = async {
        tokio::time::timeout(
            std::time::Duration::from_millis(500),
            reqwest::Client::new()
                .post(format!("{base}/v1/chat/completions"))
                .json(&json!({"model": "big", "messages": [
                    {"role": "user", "content": "What is 2+2?"}]}))
                .send(),
        )
        .await
    };
    let outcome = tokio::select! {
        outcome = request => outcome,
        ended = server => panic!("the replay server stopped: {ended:?}"),
    };
    assert!(
        outcome.is_err(),
        "the request should still be waiting, got {outcome:?}"
    );
}
