//! `tool_choice: allowed_tools` end to end: the real gateway on loopback in front of the testkit
//! fake. OpenAI's own API gets the choice as sent; Anthropic, Gemini and other servers speaking
//! OpenAI's dialect get `tools` cut to the allowed functions and the plain mode, which their
//! adapters used to drop (the model could call any tool, or none where it had to call one).

use serde_json::{json, Value};

use crate::e2e_harness::{openai_error, Harness};

const MODELS: [&str; 4] = [
    "gpt-4o-mini",
    "mistral-small-3.2",
    "claude-haiku-4.5",
    "gemini-2.5-flash",
];

/// Every dialect on one fake, and Mistral as a server speaking OpenAI's dialect.
async fn harness() -> Harness {
    Harness::with_mistral(&MODELS).await
}

fn tool(name: &str) -> Value {
    json!({"type": "function", "function": {"name": name, "parameters": {"type": "object"}}})
}

/// Three tools, two of them allowed in `mode`.
fn body(model: &str, mode: &str) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": "Look something up"}],
        "tools": [tool("look"), tool("list"), tool("write")],
        "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": [
            {"type": "function", "function": {"name": "look"}},
            {"type": "function", "function": {"name": "list"}}
        ]}}
    })
}

fn last_sent(h: &Harness) -> Value {
    h.fake.requests().last().expect("a request").body.clone()
}

fn names(tools: &Value, path: &[&str]) -> Vec<String> {
    tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            path.iter()
                .fold(t, |v, k| &v[*k])
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn every_upstream_is_limited_to_the_allowed_tools_as_it_can_take_it() {
    let h = harness().await;
    for mode in ["required", "auto"] {
        for model in MODELS {
            let resp = h.chat(&body(model, mode)).await;
            assert_eq!(
                resp.status(),
                200,
                "{model} {mode}: {}",
                resp.text().await.unwrap()
            );
            let sent = last_sent(&h);
            match model {
                // OpenAI's own API takes the form: the tools list stays whole.
                "gpt-4o-mini" => {
                    assert_eq!(sent["tool_choice"]["type"], "allowed_tools", "{sent}");
                    assert_eq!(sent["tool_choice"]["allowed_tools"]["mode"], mode);
                    assert_eq!(names(&sent["tools"], &["function", "name"]).len(), 3);
                }
                "mistral-small-3.2" => {
                    assert_eq!(sent["tool_choice"], mode, "{sent}");
                    assert_eq!(
                        names(&sent["tools"], &["function", "name"]),
                        ["look", "list"]
                    );
                }
                "claude-haiku-4.5" => {
                    let kind = if mode == "required" { "any" } else { "auto" };
                    assert_eq!(sent["tool_choice"]["type"], kind, "{sent}");
                    assert_eq!(names(&sent["tools"], &["name"]), ["look", "list"]);
                }
                _ => {
                    let mode_sent = if mode == "required" { "ANY" } else { "AUTO" };
                    let config = &sent["toolConfig"]["functionCallingConfig"];
                    assert_eq!(config["mode"], mode_sent, "{sent}");
                    let declared = &sent["tools"][0]["functionDeclarations"];
                    assert_eq!(names(declared, &["name"]), ["look", "list"]);
                }
            }
        }
    }
    h.stop().await;
}

#[tokio::test]
async fn a_malformed_allowed_tools_or_an_unknown_name_is_a_400_naming_the_field() {
    let h = harness().await;
    let mut bad_mode = body("claude-haiku-4.5", "any");
    let err = openai_error(h.chat(&bad_mode).await, 400).await;
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("tool_choice.allowed_tools.mode"),
        "{err}"
    );
    bad_mode["tool_choice"]["allowed_tools"]["mode"] = json!("auto");
    bad_mode["tool_choice"]["allowed_tools"]["tools"][1]["function"]["name"] = json!("delete");
    let err = openai_error(h.chat(&bad_mode).await, 400).await;
    let message = err["message"].as_str().unwrap();
    assert!(
        message.contains("tool_choice.allowed_tools.tools[1]") && message.contains("delete"),
        "{err}"
    );
    // None allowed: a required call would reach the upstream with no tool to call.
    bad_mode["tool_choice"]["allowed_tools"]["tools"] = json!([]);
    let err = openai_error(h.chat(&bad_mode).await, 400).await;
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("tool_choice.allowed_tools.tools"),
        "{err}"
    );
    assert!(h.fake.requests().is_empty(), "nothing reached a vendor");
    h.stop().await;
}

#[tokio::test]
async fn responses_clients_send_allowed_tools_in_their_shape_and_get_it_echoed() {
    let h = harness().await;
    let request = json!({
        "model": "claude-haiku-4.5",
        "input": "Look something up",
        "tools": [
            {"type": "function", "name": "look", "parameters": {"type": "object"}},
            {"type": "function", "name": "write", "parameters": {"type": "object"}}
        ],
        "tool_choice": {"type": "allowed_tools", "mode": "required",
                        "tools": [{"type": "function", "name": "look"}]}
    });
    let resp = h.post_json("/v1/responses", &request).await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(
        answer["tool_choice"],
        json!({"type": "allowed_tools", "mode": "required",
               "tools": [{"type": "function", "name": "look"}]})
    );
    let sent = last_sent(&h);
    assert_eq!(sent["tool_choice"]["type"], "any", "{sent}");
    assert_eq!(names(&sent["tools"], &["name"]), ["look"]);

    let mut unknown = request.clone();
    unknown["tool_choice"]["tools"][0]["name"] = json!("delete");
    let err = openai_error(h.post_json("/v1/responses", &unknown).await, 400).await;
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("tool_choice.tools[0]"),
        "{err}"
    );
    let mut bad_mode = request;
    bad_mode["tool_choice"]["mode"] = json!("none");
    let err = openai_error(h.post_json("/v1/responses", &bad_mode).await, 400).await;
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("tool_choice.mode"),
        "{err}"
    );
    h.stop().await;
}
