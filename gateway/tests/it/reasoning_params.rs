//! Requests fitted to reasoning models: an `auto` request carrying sampling parameters and
//! `max_tokens` (as many SDKs send by default) must not fail with a 400 because the router
//! chose a model whose API refuses them.

use serde_json::{json, Value};

use crate::e2e_harness::Harness;

/// A chat body with the parameters reasoning models refuse.
fn tuned_body(model: &str, only: Option<&str>) -> Value {
    let mut body = json!({
        "model": model,
        "messages": [{"role": "user", "content": "Name a prime above 10."}],
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 64,
        "presence_penalty": 0.1,
        "logprobs": true,
        "stop": ["Observation:"],
    });
    if let Some(m) = only {
        body["router"] = json!({"candidates": [m]});
    }
    body
}

/// The body the fake received last.
fn last_sent(h: &Harness) -> Value {
    h.fake.requests().last().expect("a request").body.clone()
}

#[tokio::test]
async fn reasoning_models_get_only_the_parameters_they_accept() {
    let h = Harness::with(&["gpt-4o-mini", "gpt-5", "claude-sonnet-5"], |_| {}).await;

    // `auto` chose gpt-5 (the only candidate allowed): the limit is sent as
    // `max_completion_tokens`, the sampling parameters are left out, and it answers.
    let mut body = tuned_body("auto", Some("gpt-5"));
    body["reasoning_effort"] = json!("high");
    let resp = h.chat(&body).await;
    assert_eq!(resp.status(), 200);
    let sent = last_sent(&h);
    assert_eq!(sent["model"], "gpt-5");
    assert_eq!(
        sent["reasoning_effort"], "high",
        "a reasoning model keeps it"
    );
    assert_eq!(sent["max_completion_tokens"], 64);
    for refused in [
        "max_tokens",
        "stop",
        "temperature",
        "top_p",
        "presence_penalty",
        "logprobs",
    ] {
        assert!(sent.get(refused).is_none(), "{refused} sent: {sent}");
    }

    // A model that takes them gets the request as the client wrote it, less the reasoning
    // knobs OpenAI's models without reasoning refuse.
    let mut body = tuned_body("gpt-4o-mini", None);
    body["reasoning_effort"] = json!("high");
    let resp = h.chat(&body).await;
    assert_eq!(resp.status(), 200);
    let sent = last_sent(&h);
    assert!(sent.get("reasoning_effort").is_none(), "{sent}");
    assert_eq!(sent["temperature"], 0.2);
    assert_eq!(sent["top_p"], 0.9);
    assert_eq!(sent["max_tokens"], 64);
    assert_eq!(sent["presence_penalty"], 0.1);
    assert_eq!(sent["stop"][0], "Observation:");
    assert!(sent.get("max_completion_tokens").is_none());

    // Anthropic's 5.x models refuse non-default sampling too; `max_tokens` is their own field.
    let resp = h.chat(&tuned_body("claude-sonnet-5", None)).await;
    assert_eq!(resp.status(), 200);
    let sent = last_sent(&h);
    assert_eq!(sent["max_tokens"], 64);
    assert!(sent.get("temperature").is_none(), "{sent}");
    assert!(sent.get("top_p").is_none(), "{sent}");

    // Operators see how often a model's requests were fitted.
    let fitted = |m: &str| {
        h.gw.metrics()
            .counter_value("switchyard_requests_fitted_total", &[("model", m)])
    };
    assert_eq!(
        (
            fitted("gpt-5"),
            fitted("gpt-4o-mini"),
            fitted("claude-sonnet-5")
        ),
        (1.0, 1.0, 1.0)
    );
    h.stop().await;
}

/// Request shapes some APIs refuse (a trailing assistant message to continue, a forced tool
/// call): `auto` routes such a request to a model that takes it; a request naming the model
/// still goes to it (its provider decides).
#[tokio::test]
async fn auto_never_chooses_a_model_that_refuses_the_request_shape() {
    let h = Harness::with(&["claude-sonnet-5.5", "gpt-4o-mini"], |_| {}).await;
    let only_claude_first = |extra: Value| {
        let mut body = json!({
            "model": "auto",
            "messages": [{"role": "user", "content": "Continue the list: apples, pears,"}],
            // Cheapest first would be gpt-4o-mini; ask for quality so that Claude wins when
            // it may.
            "router": {"min_quality": 0.85},
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let resp = h.chat(&only_claude_first(json!({}))).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(last_sent(&h)["model"], "claude-sonnet-5-5");

    // Prefill: the conversation ends with the assistant's start.
    let prefill = only_claude_first(json!({"messages": [
        {"role": "user", "content": "Continue the list: apples, pears,"},
        {"role": "assistant", "content": "plums,"},
    ]}));
    let resp = h.chat(&prefill).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(last_sent(&h)["model"], "gpt-4o-mini");

    // A forced tool call.
    let tool =
        json!({"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}});
    for choice in [
        json!("required"),
        json!({"type": "function", "function": {"name": "add"}}),
    ] {
        let forced = only_claude_first(json!({"tools": [tool.clone()], "tool_choice": choice}));
        let resp = h.chat(&forced).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(last_sent(&h)["model"], "gpt-4o-mini");
    }
    // `auto` tool choice is fine.
    let free = only_claude_first(json!({"tools": [tool], "tool_choice": "auto"}));
    assert_eq!(h.chat(&free).await.status(), 200);
    assert_eq!(last_sent(&h)["model"], "claude-sonnet-5-5");

    // Named, the request reaches the model.
    let mut named = prefill.clone();
    named["model"] = json!("claude-sonnet-5.5");
    assert_eq!(h.chat(&named).await.status(), 200);
    assert_eq!(last_sent(&h)["model"], "claude-sonnet-5-5");
    h.stop().await;
}

/// Each vendor's API refuses some other vendors' tool-call ids (Mistral takes only nine
/// letters or digits, Anthropic no `.` or `:`, as in Kimi's `functions.name:0`, OpenAI
/// nothing over 40 characters): a conversation whose tool calls another model made reaches
/// each with the ids it refuses replaced consistently, and the others as written.
#[tokio::test]
async fn every_vendor_gets_tool_call_ids_it_accepts() {
    let h = Harness::with_mistral(&["mistral-small-3.2", "gpt-4o-mini"]).await;
    let tool = json!({"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}});
    let body = json!({
        "model": "mistral-small-3.2",
        "tools": [tool],
        "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_5f2a9c1e7b3d4a6f8e0b", "type": "function",
                 "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}},
                {"id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
                 "function": {"name": "weather", "arguments": "{\"city\":\"Bergen\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_5f2a9c1e7b3d4a6f8e0b", "content": "rainy"},
            {"role": "tool", "tool_call_id": "toolu_01A09q90qw90lq917835lq9", "content": "windy"},
            {"role": "user", "content": "And tomorrow?"}
        ]
    });
    assert_eq!(h.chat(&body).await.status(), 200);
    let sent = last_sent(&h);
    let calls: Vec<String> = sent["messages"][1]["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let results = [
        sent["messages"][2]["tool_call_id"].as_str().unwrap(),
        sent["messages"][3]["tool_call_id"].as_str().unwrap(),
    ];
    assert_eq!(calls, results, "calls and results still match");
    assert_ne!(calls[0], calls[1]);
    for id in &calls {
        assert!(
            id.len() == 9 && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "{id}"
        );
    }
    // OpenAI takes both as written.
    let mut same = body.clone();
    same["model"] = json!("gpt-4o-mini");
    assert_eq!(h.chat(&same).await.status(), 200);
    assert_eq!(
        last_sent(&h)["messages"][1]["tool_calls"][0]["id"],
        "call_5f2a9c1e7b3d4a6f8e0b"
    );

    // Kimi's ids and one too long for OpenAI.
    let kimi = "functions.weather:0";
    let long = "call_0123456789012345678901234567890123456789";
    let mut other = body.clone();
    other["messages"][1]["tool_calls"][0]["id"] = json!(kimi);
    other["messages"][2]["tool_call_id"] = json!(kimi);
    other["messages"][1]["tool_calls"][1]["id"] = json!(long);
    other["messages"][3]["tool_call_id"] = json!(long);
    other["model"] = json!("claude-haiku-4.5");
    assert_eq!(h.chat(&other).await.status(), 200);
    let sent = last_sent(&h);
    let uses: Vec<&Value> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["content"].as_array().into_iter().flatten())
        .collect();
    let id_of = |kind: &str, field: &str| -> Vec<String> {
        uses.iter()
            .filter(|b| b["type"] == kind)
            .map(|b| b[field].as_str().unwrap().to_owned())
            .collect()
    };
    let (calls, results) = (id_of("tool_use", "id"), id_of("tool_result", "tool_use_id"));
    assert_eq!(calls, results, "{sent}");
    assert_ne!(calls[0], kimi);
    assert_eq!(calls[1], long, "Anthropic takes the long one");
    assert!(calls[0]
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));

    other["model"] = json!("gpt-4o-mini");
    assert_eq!(h.chat(&other).await.status(), 200);
    let sent = last_sent(&h);
    let call_ids: Vec<&str> = sent["messages"][1]["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(call_ids[0], kimi, "OpenAI takes Kimi's id");
    assert!(call_ids[1].len() <= 40);
    assert_eq!(sent["messages"][3]["tool_call_id"], call_ids[1]);
    h.stop().await;
}

/// A client's `reasoning_effort` reaches each reasoning model as the nearest value it takes,
/// and a model running without reasoning (`none`) keeps `temperature` and `top_p`.
#[tokio::test]
async fn reasoning_effort_is_sent_as_the_nearest_value_the_model_takes() {
    let h = Harness::with(&["gpt-6.1-sol", "gpt-5", "gpt-5.4", "gpt-6-luna"], |_| {}).await;
    let send = |model: &str, effort: Option<&str>| {
        let mut body = tuned_body(model, None);
        if let Some(e) = effort {
            body["reasoning_effort"] = json!(e);
        }
        body
    };
    for (model, asked, sent) in [
        ("gpt-6.1-sol", "none", "low"),
        ("gpt-6.1-sol", "max", "max"),
        ("gpt-5", "none", "minimal"),
        ("gpt-5", "xhigh", "high"),
        ("gpt-6-luna", "max", "max"),
    ] {
        assert_eq!(h.chat(&send(model, Some(asked))).await.status(), 200);
        let body = last_sent(&h);
        // GPT-6.x goes through the Responses API, which nests the effort.
        let effort = match body.get("reasoning") {
            Some(r) => &r["effort"],
            None => &body["reasoning_effort"],
        };
        assert_eq!(effort, sent, "{model} asked {asked}");
        assert!(body.get("temperature").is_none(), "{model}: {body}");
    }
    // GPT-5.4 runs at `none` by default: it keeps the sampling parameters, still gets its
    // limit as `max_completion_tokens`, and loses them again once asked to reason.
    assert_eq!(h.chat(&send("gpt-5.4", None)).await.status(), 200);
    let body = last_sent(&h);
    assert_eq!(
        (body["temperature"].clone(), body["top_p"].clone()),
        (json!(0.2), json!(0.9))
    );
    assert_eq!(body["stop"][0], "Observation:", "kept without reasoning");
    assert_eq!(body["max_completion_tokens"], 64);
    assert!(body.get("max_tokens").is_none() && body.get("presence_penalty").is_none());
    assert_eq!(h.chat(&send("gpt-5.4", Some("high"))).await.status(), 200);
    assert!(last_sent(&h).get("temperature").is_none());
    // Asked for `none`, GPT-6 Luna keeps them too.
    assert_eq!(
        h.chat(&send("gpt-6-luna", Some("none"))).await.status(),
        200
    );
    assert_eq!(last_sent(&h)["temperature"], 0.2);
    h.stop().await;
}

/// A ReAct loop's `stop` reaches no OpenAI reasoning model (they refuse it while they reason),
/// so the gateway cuts the answer itself: the model's invented observation never reaches the
/// agent, streamed or not, and the choice finishes with `stop`.
#[tokio::test]
async fn stop_is_kept_by_the_gateway_for_models_that_refuse_it() {
    let h = Harness::with(&["gpt-5", "gpt-4o-mini"], |_| {}).await;
    let reply = "Thought: I should look it up. Action: search Observation: it is 42 Final: 42";
    for stream in [false, true] {
        h.fake.script("gpt-5", [testkit::Scenario::reply(reply)]);
        let mut body = crate::e2e_harness::chat_body("gpt-5", stream, "What is the answer?");
        body["stop"] = json!(["Observation:", "\n\nHuman:"]);
        let resp = h.chat(&body).await;
        assert_eq!(resp.status(), 200);
        assert!(last_sent(&h).get("stop").is_none(), "not sent to gpt-5");
        let (text, finish) = if stream {
            let chunks = crate::e2e_harness::done_chunks(&resp.text().await.unwrap());
            let finish = chunks
                .iter()
                .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
                .collect::<Vec<_>>();
            assert_eq!(finish.len(), 1, "one finish: {chunks:?}");
            (
                crate::e2e_harness::streamed_text(&chunks),
                finish[0].to_owned(),
            )
        } else {
            let answer: Value = resp.json().await.unwrap();
            let choice = &answer["choices"][0];
            (
                choice["message"]["content"].as_str().unwrap().to_owned(),
                choice["finish_reason"].as_str().unwrap().to_owned(),
            )
        };
        assert_eq!(
            text, "Thought: I should look it up. Action: search ",
            "stream {stream}"
        );
        assert_eq!(finish, "stop");
    }
    // A client that asked for the usage gets it although the upstream's never came (the
    // stream ended at the cut): the row's counts.
    h.fake.script("gpt-5", [testkit::Scenario::reply(reply)]);
    let mut body = crate::e2e_harness::chat_body("gpt-5", true, "What is the answer?");
    body["stop"] = json!("Observation:");
    body["stream_options"] = json!({"include_usage": true});
    let chunks = crate::e2e_harness::done_chunks(&h.chat(&body).await.text().await.unwrap());
    let usage = chunks.last().unwrap()["usage"].clone();
    assert!(
        usage["completion_tokens"].as_u64().unwrap() > 0,
        "{chunks:?}"
    );
    // A model that was sent `stop` is not cut again: what it answered stands. The fake stops
    // at the sequence as the API does and, asked as vLLM is (`include_stop_str_in_output`),
    // keeps the sequence in the text, which a second cut would remove.
    h.fake
        .script("gpt-4o-mini", [testkit::Scenario::reply(reply)]);
    let mut body = crate::e2e_harness::chat_body("gpt-4o-mini", false, "What is the answer?");
    body["stop"] = json!(["Observation:"]);
    body["include_stop_str_in_output"] = json!(true);
    let answer: Value = h.chat(&body).await.json().await.unwrap();
    assert_eq!(last_sent(&h)["stop"][0], "Observation:");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Thought: I should look it up. Action: search Observation:"
    );
    // More stop sequences than the gateway matches is a 400 naming the field.
    let mut body = crate::e2e_harness::chat_body("gpt-5", false, "hi");
    body["stop"] = json!(vec!["x"; 17]);
    let resp = h.chat(&body).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("stop"));
    h.stop().await;
}
