//! Agent tool loops through the gateway with Claude 5.x, which thinks by default: the thinking
//! block before a tool call must come back with the call on the next turn, which no OpenAI
//! client (nor the Messages ingress's chat form) carries. The testkit fake answers a Claude 5
//! tool call after a thinking block and refuses a later turn holding the call without it, as
//! Anthropic does.

use serde_json::{json, Value};
use testkit::Scenario;

use crate::e2e_harness::{done_chunks, Harness};

fn first_turn(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": "Weather in Oslo?"}],
        "tools": [{"type": "function", "function": {"name": "weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
    })
}

/// The second turn as an OpenAI client sends it: the assistant's call (without thinking) and
/// the tool's result.
fn second_turn(model: &str, call_id: &str) -> Value {
    let mut body = first_turn(model, false);
    let messages = body["messages"].as_array_mut().unwrap();
    messages.push(
        json!({"role": "assistant", "content": null, "tool_calls": [{"id": call_id,
        "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}]}),
    );
    messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": "rain"}));
    body
}

fn oslo() -> Scenario {
    Scenario::ToolCall {
        name: "weather".into(),
        arguments: json!({"city": "Oslo"}),
    }
}

#[tokio::test]
async fn claudes_thinking_goes_back_with_its_tool_calls() {
    let h = Harness::with(&["claude-sonnet-5", "claude-haiku-4.5"], |_| {}).await;
    for stream in [false, true] {
        h.fake
            .script("claude-sonnet-5", [oslo(), Scenario::reply("Rainy.")]);
        let resp = h.chat(&first_turn("claude-sonnet-5", stream)).await;
        assert_eq!(resp.status(), 200);
        let call_id = if stream {
            let chunks = done_chunks(&resp.text().await.unwrap());
            chunks
                .iter()
                .find_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["id"].as_str())
                .unwrap()
                .to_owned()
        } else {
            let answer: Value = resp.json().await.unwrap();
            // The client never sees the thinking.
            assert!(
                answer["choices"][0]["message"]["content"].is_null(),
                "{answer}"
            );
            answer["choices"][0]["message"]["tool_calls"][0]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let resp = h.chat(&second_turn("claude-sonnet-5", &call_id)).await;
        assert_eq!(
            resp.status(),
            200,
            "stream {stream}: {}",
            resp.text().await.unwrap()
        );
        let sent = h.fake.requests().last().unwrap().body.clone();
        assert_eq!(
            sent["messages"][1]["content"][0]["type"], "thinking",
            "{sent}"
        );
        assert_eq!(sent["messages"][1]["content"][1]["id"], call_id.as_str());
    }
    h.stop().await;
}

/// The Anthropic Messages ingress: a client that sends its history with the thinking blocks
/// (as Anthropic's SDKs do) is not refused, and the model gets its own thinking back.
#[tokio::test]
async fn the_messages_ingress_takes_thinking_blocks_in_history() {
    let h = Harness::with(&["claude-sonnet-5"], |_| {}).await;
    h.fake
        .script("claude-sonnet-5", [oslo(), Scenario::reply("Rainy.")]);
    let tools = json!([{"name": "weather", "input_schema": {"type": "object"}}]);
    let first = json!({"model": "claude-sonnet-5", "max_tokens": 300, "tools": tools,
        "messages": [{"role": "user", "content": "Weather in Oslo?"}]});
    let resp = h.post_json("/v1/messages", &first).await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    let call = answer["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap()
        .clone();
    let second = json!({"model": "claude-sonnet-5", "max_tokens": 300, "tools": tools,
    "messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "", "signature": "from the client"}, call]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call["id"], "content": "rain"}]},
    ]});
    let resp = h.post_json("/v1/messages", &second).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let sent = h.fake.requests().last().unwrap().body.clone();
    let given = &sent["messages"][1]["content"][0];
    assert_eq!(given["type"], "thinking");
    assert_ne!(
        given["signature"], "from the client",
        "the model's own, kept by the gateway"
    );
    h.stop().await;
}

/// `auto` keeps a tool loop on the model that made its calls, even where routing alone would
/// choose another; a new user turn is routed afresh; `tool_loop_affinity = false` turns it off.
#[tokio::test]
async fn auto_keeps_a_tool_loop_on_the_model_that_made_its_calls() {
    for affinity in [true, false] {
        let h = Harness::with(&["claude-sonnet-5", "gpt-4o-mini"], |c| {
            c.router.tool_loop_affinity = affinity;
        })
        .await;
        h.fake.script("claude-sonnet-5", [oslo()]);
        let mut first = first_turn("auto", false);
        first["router"] = json!({"candidates": ["claude-sonnet-5"]});
        let answer: Value = h.chat(&first).await.json().await.unwrap();
        let call_id = answer["choices"][0]["message"]["tool_calls"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        // Cost decides alone here: routing would pick gpt-4o-mini.
        let frugal = json!({"willingness_to_pay": 0.0001});
        let mut next = second_turn("auto", &call_id);
        next["router"] = frugal.clone();
        assert_eq!(h.chat(&next).await.status(), 200);
        let expected = if affinity {
            "claude-sonnet-5"
        } else {
            "gpt-4o-mini"
        };
        assert_eq!(
            h.fake.requests().last().unwrap().model.as_deref(),
            Some(expected)
        );
        let mut later = next.clone();
        later["messages"]
            .as_array_mut()
            .unwrap()
            .push(json!({"role": "assistant", "content": "Rain in Oslo."}));
        later["messages"]
            .as_array_mut()
            .unwrap()
            .push(json!({"role": "user", "content": "And tomorrow?"}));
        assert_eq!(h.chat(&later).await.status(), 200);
        assert_eq!(
            h.fake.requests().last().unwrap().model.as_deref(),
            Some("gpt-4o-mini")
        );
        let rows = h.rows().await;
        let reasons: Vec<String> = rows
            .iter()
            .map(|r| {
                serde_json::to_value(r.decision.as_ref().unwrap().reason)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            reasons.iter().filter(|r| *r == "tool_loop").count(),
            usize::from(affinity),
            "{reasons:?}"
        );
        let kept = h.gw.metrics().counter_value(
            "switchyard_tool_loop_requests_total",
            &[("model", "claude-sonnet-5")],
        );
        assert_eq!(kept, f64::from(u8::from(affinity)));
        h.stop().await;
    }
}

/// Two replicas on one Redis, as behind a load balancer: the turn answering a call reaches the
/// replica that did not relay it. It still gives Claude its thinking back (the fake refuses
/// the turn otherwise) and keeps the loop on the model that made the call.
#[tokio::test]
async fn a_loop_whose_turns_land_on_two_replicas_keeps_its_thinking_and_its_model() {
    let Some(redis) = testkit::redis::RedisServer::start() else {
        return;
    };
    let fake = testkit::FakeProvider::start().await;
    let mut replicas = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::e2e_harness::config(
            dir.path(),
            crate::e2e_harness::all_providers(&fake),
            &["claude-sonnet-5", "gpt-4o-mini"],
            |c| {
                c.redis = Some(crate::common::redis(redis.url(), "loops:"));
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        replicas.push(gateway::spawn(cfg, listener, None).await.unwrap());
        dirs.push(dir);
    }
    let client = reqwest::Client::new();
    let chat = |replica: usize, body: Value| {
        let url = format!(
            "http://{}/v1/chat/completions",
            replicas[replica].local_addr()
        );
        client.post(url).json(&body).send()
    };
    fake.script("claude-sonnet-5", [oslo(), Scenario::reply("Rainy.")]);
    let mut first = first_turn("auto", false);
    first["router"] = json!({"candidates": ["claude-sonnet-5"]});
    let answer: Value = chat(0, first).await.unwrap().json().await.unwrap();
    let call_id = answer["choices"][0]["message"]["tool_calls"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Replica 0 wrote the record before the answer reached the client: no wait.
    // On replica 1, cost alone would pick gpt-4o-mini.
    let mut next = second_turn("auto", &call_id);
    next["router"] = json!({"willingness_to_pay": 0.0001});
    let resp = chat(1, next).await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let sent = fake.requests().last().unwrap().clone();
    assert_eq!(sent.model.as_deref(), Some("claude-sonnet-5"));
    assert_eq!(
        sent.body["messages"][1]["content"][0]["type"], "thinking",
        "{}",
        sent.body
    );
    for gw in replicas {
        gw.shutdown().await.unwrap();
    }
}

/// What Claude thought before its tool calls goes back only with requests of the client key
/// the answer was relayed for: another tenant on the same gateway who sends the same call id
/// gets no thinking into its request (Anthropic then refuses the turn, as it would have).
#[tokio::test]
async fn a_calls_thinking_goes_back_only_to_the_key_it_was_relayed_for() {
    let dir = tempfile::tempdir().unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let keys: Vec<String> = {
        let mut store = gateway::auth::KeyStore::open(&dir.path().join("outcomes.sqlite")).unwrap();
        ["tenant-a", "tenant-b"]
            .into_iter()
            .map(|name| {
                let new = gateway::auth::NewKey {
                    name: name.to_owned(),
                    ..gateway::auth::NewKey::default()
                };
                store.create(&new, now_ms).unwrap().1.expose().clone()
            })
            .collect()
    };
    let fake = testkit::FakeProvider::start().await;
    let cfg = crate::e2e_harness::config(
        dir.path(),
        crate::e2e_harness::all_providers(&fake),
        &["claude-sonnet-5"],
        |_| {},
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = gateway::spawn(cfg, listener, None).await.unwrap();
    let client = reqwest::Client::new();
    let chat = |key: &str, body: Value| {
        client
            .post(format!("http://{}/v1/chat/completions", gw.local_addr()))
            .bearer_auth(key)
            .json(&body)
            .send()
    };
    fake.script("claude-sonnet-5", [oslo(), Scenario::reply("Rainy.")]);
    let answer: Value = chat(&keys[0], first_turn("claude-sonnet-5", false))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let call_id = answer["choices"][0]["message"]["tool_calls"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let thinking_sent = || {
        let sent = fake.requests().last().unwrap().body.clone();
        sent["messages"][1]["content"][0]["type"] == "thinking"
    };
    let other = chat(&keys[1], second_turn("claude-sonnet-5", &call_id))
        .await
        .unwrap();
    assert!(!other.status().is_success(), "{}", other.status());
    assert!(
        !thinking_sent(),
        "another tenant's request got the thinking"
    );
    let own = chat(&keys[0], second_turn("claude-sonnet-5", &call_id))
        .await
        .unwrap();
    assert_eq!(own.status(), 200, "{}", own.text().await.unwrap());
    assert!(thinking_sent());
    gw.shutdown().await.unwrap();
}
