//! Prompt-cache marks on requests to Claude (`[[providers]] prompt_cache`): where the gateway
//! puts them, that the fake (which refuses marks Anthropic refuses) takes them, and that a
//! provider with the setting off gets none.

use gateway::config::GatewayConfig;
use gateway::upstream::ProviderKind;
use serde_json::{json, Value};
use testkit::{cache_mark_paths as marks, Wire};

use crate::e2e_harness::{all_providers, Harness, KEY, KEY_ENV};

fn conversation() -> Value {
    json!({"model": "claude-haiku-4.5", "max_tokens": 64, "messages": [
        {"role": "system", "content": "You are a careful assistant."},
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4."},
        {"role": "user", "content": [{"type": "text", "text": "And 3 + 3?"}]}
    ]})
}

async fn sent_for(h: &Harness, body: &Value) -> Value {
    let resp = h.chat(body).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let sent = h.fake.requests().pop().unwrap();
    assert_eq!(sent.wire, Wire::Anthropic);
    sent.body
}

#[tokio::test]
async fn claude_requests_carry_cache_marks_on_the_shared_prefix_and_the_conversation() {
    let h = Harness::with(&["claude-haiku-4.5"], |_| {}).await;
    let sent = sent_for(&h, &conversation()).await;
    assert_eq!(
        marks(&sent),
        [
            ".messages[0].content[0]",
            ".messages[2].content[0]",
            ".system[0]"
        ],
        "{sent}"
    );
    assert_eq!(sent["system"][0]["text"], "You are a careful assistant.");
    assert_eq!(sent["messages"][2]["content"][0]["text"], "And 3 + 3?");

    // One question: only the system prompt, which every request of the application shares.
    let one = json!({"model": "claude-haiku-4.5", "max_tokens": 64, "messages": [
        {"role": "system", "content": "You are a careful assistant."},
        {"role": "user", "content": "What is 2 + 2?"}]});
    let sent = sent_for(&h, &one).await;
    assert_eq!(marks(&sent), [".system[0]"], "{sent}");

    // No system prompt: the last tool definition holds the prefix's mark.
    let tools = json!({"model": "claude-haiku-4.5", "max_tokens": 64,
        "messages": [{"role": "user", "content": "Weather?"}],
        "tools": [
            {"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}},
            {"type": "function", "function": {"name": "b", "parameters": {"type": "object"}}}]});
    let sent = sent_for(&h, &tools).await;
    assert_eq!(marks(&sent), [".tools[1]"], "{sent}");
}

#[tokio::test]
async fn a_provider_with_prompt_cache_off_gets_no_marks() {
    let fake = testkit::FakeProvider::start().await;
    let mut providers = all_providers(&fake);
    for p in &mut providers {
        if p.kind == ProviderKind::Anthropic {
            p.prompt_cache = Some(false);
        }
    }
    let h = Harness::custom(fake, providers, &["claude-haiku-4.5"], |_| {}).await;
    let sent = sent_for(&h, &conversation()).await;
    assert!(marks(&sent).is_empty(), "{sent}");
    assert_eq!(sent["system"], "You are a careful assistant.");
}

#[test]
fn prompt_cache_on_a_provider_that_caches_by_itself_is_refused() {
    let mut raw = GatewayConfig::default();
    let fake_url = "http://127.0.0.1:9";
    raw.providers = vec![crate::e2e_harness::provider(
        "openai",
        ProviderKind::Openai,
        fake_url,
    )];
    raw.providers[0].prompt_cache = Some(true);
    let err = gateway::Config::resolve(raw, &|k| (k == KEY_ENV).then(|| KEY.to_owned()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("providers[0].prompt_cache"), "{err}");
    assert!(err.contains("anthropic"), "{err}");
}
