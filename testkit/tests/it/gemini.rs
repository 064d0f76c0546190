use serde_json::{json, Value};
use testkit::{FakeProvider, Scenario, Wire, REDACTED};

use crate::{client, sse_events};

fn body() -> Value {
    json!({
        "systemInstruction": {"parts": [{"text": "be terse"}]},
        "contents": [{"role": "user", "parts": [{"text": "name a colour"}]}],
    })
}

#[tokio::test]
async fn generate_content_with_header_key() {
    let fake = FakeProvider::start().await;
    fake.script("gemini-x", [Scenario::reply("blue")]);
    let res = client()
        .post(format!(
            "{}/v1beta/models/gemini-x:generateContent",
            fake.base_url()
        ))
        .header("x-goog-api-key", "g-key")
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let candidate = &body["candidates"][0];
    assert_eq!(candidate["content"]["parts"][0]["text"], "blue");
    assert_eq!(candidate["content"]["role"], "model");
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(
        body["usageMetadata"],
        json!({"promptTokenCount": 5, "candidatesTokenCount": 1, "totalTokenCount": 6})
    );
    let log = fake.requests();
    assert_eq!(log[0].wire, Wire::Gemini);
    assert_eq!(log[0].model.as_deref(), Some("gemini-x"));
    assert_eq!(log[0].header("x-goog-api-key"), Some(REDACTED));
    fake.shutdown().await;
}

#[tokio::test]
async fn stream_generate_content_sse_with_query_key() {
    let fake = FakeProvider::start().await;
    fake.script("gemini-x", [Scenario::reply("red and green")]);
    let res = client()
        .post(format!(
            "{}/v1beta/models/gemini-x:streamGenerateContent?alt=sse&key=g-secret",
            fake.base_url()
        ))
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let events = sse_events(&res.text().await.unwrap());
    assert!(events.iter().all(|e| e.event.is_none()));
    let chunks: Vec<Value> = events.iter().map(|e| e.json()).collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(text, "red and green");
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 3);
    assert_eq!(last["usageMetadata"]["totalTokenCount"], 8);
    let log = fake.requests();
    assert!(log[0].stream);
    assert_eq!(log[0].query.as_deref(), Some("alt=sse&key=*****"));
    fake.shutdown().await;
}

#[tokio::test]
async fn missing_key_and_missing_alt_are_rejected() {
    let fake = FakeProvider::start().await;
    let url = format!("{}/v1beta/models/gemini-x:generateContent", fake.base_url());
    let res = client().post(&url).json(&body()).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["status"], "PERMISSION_DENIED");

    let res = client()
        .post(format!(
            "{}/v1beta/models/gemini-x:streamGenerateContent?key=k",
            fake.base_url()
        ))
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = client()
        .post(format!(
            "{}/v1beta/models/gemini-x:embed?key=k",
            fake.base_url()
        ))
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    fake.shutdown().await;
}

/// Gemini 2.5 refuses a function-calling config without function declarations; the fake
/// does too, and takes it beside them.
#[tokio::test]
async fn tool_config_without_declarations_is_refused() {
    let fake = FakeProvider::start().await;
    let url = format!("{}/v1beta/models/gemini-x:generateContent", fake.base_url());
    let config = json!({"functionCallingConfig": {"mode": "AUTO"}});
    let mut lone = body();
    lone["toolConfig"] = config.clone();
    let mut empty = lone.clone();
    empty["tools"] = json!([{"functionDeclarations": []}]);
    for refused in [lone, empty] {
        let res = client()
            .post(&url)
            .header("x-goog-api-key", "g-key")
            .json(&refused)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(
            err["error"]["message"],
            "Function calling config is set without function_declarations."
        );
    }
    let mut declared = body();
    declared["toolConfig"] = config;
    declared["tools"] = json!([{"functionDeclarations": [{"name": "f"}]}]);
    let res = client()
        .post(&url)
        .header("x-goog-api-key", "g-key")
        .json(&declared)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    fake.shutdown().await;
}

/// Google answers 400 to a thinking level beside a budget, and to a level on Gemini 2.5; the
/// fake does too, and takes each alone where the model has it.
#[tokio::test]
async fn a_thinking_level_beside_a_budget_or_before_gemini_3_is_refused() {
    let fake = FakeProvider::start().await;
    let send = |model: &str, thinking: Value| {
        let url = format!("{}/v1beta/models/{model}:generateContent", fake.base_url());
        let mut b = body();
        b["generationConfig"] = json!({ "thinkingConfig": thinking });
        client()
            .post(url)
            .header("x-goog-api-key", "g-key")
            .json(&b)
            .send()
    };
    let both = json!({"thinkingLevel": "low", "thinkingBudget": 1024});
    for (model, thinking, status, says) in [
        (
            "gemini-3-pro-preview",
            both.clone(),
            400,
            "only one of thinking budget",
        ),
        ("gemini-2.5-flash", both, 400, "only one of thinking budget"),
        (
            "gemini-2.5-flash",
            json!({"thinkingLevel": "low"}),
            400,
            "use thinking budget",
        ),
        ("gemini-2.5-flash", json!({"thinkingBudget": 0}), 200, ""),
        (
            "gemini-3-pro-preview",
            json!({"thinkingLevel": "high"}),
            200,
            "",
        ),
    ] {
        let res = send(model, thinking.clone()).await.unwrap();
        assert_eq!(res.status(), status, "{model} {thinking}");
        let answer: Value = res.json().await.unwrap();
        if status == 400 {
            assert_eq!(answer["error"]["status"], "INVALID_ARGUMENT");
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(message.contains(says), "{model} {thinking}: {message}");
        }
    }
    fake.shutdown().await;
}
