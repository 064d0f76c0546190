//! Issue 12, guardrails per client key, over loopback against the testkit fake: a key without
//! a profile gets the global `[guardrails]`, a `strict` key's profile blocks what the global
//! policy masks, a `trusted` key's profile turns them off, and a key naming a profile the config
//! no longer defines is refused (500, not retried) without calling the upstream.

use gateway::auth::{KeyStore, NewKey};
use gateway::config::{GatewayConfig, GuardrailsConfig, Privacy};
use gateway::http::keys::{new_key, KeyRequest};
use gateway::upstream::ProviderKind;
use serde_json::Value;

use crate::e2e_harness::{chat_body, config, provider};

const EMAIL: &str = "jane.doe@example.com";

const GUARDRAILS: &str = r#"
enabled = true
[profiles.strict]
enabled = true
email = "block"
[profiles.trusted]
enabled = false
"#;

fn with_guardrails(raw: &mut GatewayConfig) {
    raw.log.privacy = Privacy::Full;
    raw.guardrails = Some(toml::from_str::<GuardrailsConfig>(GUARDRAILS).unwrap());
}

fn key(name: &str, profile: Option<&str>) -> NewKey {
    NewKey {
        name: name.to_owned(),
        guardrails: profile.map(str::to_owned),
        ..NewKey::default()
    }
}

#[tokio::test]
async fn each_key_is_screened_with_its_own_profile() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outcomes.sqlite");
    let mut secrets = Vec::new();
    {
        let mut store = KeyStore::open(&db).unwrap();
        for (name, profile) in [
            ("plain", None),
            ("strict", Some("strict")),
            ("trusted", Some("trusted")),
            // Made before the config lost its profile (the store does not know the config).
            ("orphan", Some("gone")),
        ] {
            let (_, secret) = store.create(&key(name, profile), 1).unwrap();
            secrets.push((name, secret.expose().clone()));
        }
    }
    let fake = testkit::FakeProvider::start().await;
    let cfg = config(
        dir.path(),
        vec![provider(
            "openai",
            ProviderKind::Openai,
            &fake.openai_base_url(),
        )],
        &["gpt-4o-mini"],
        with_guardrails,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = gateway::spawn(cfg, listener, None).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://{}/v1/chat/completions", gw.local_addr());
    let body = chat_body("gpt-4o-mini", false, &format!("Write to {EMAIL} today."));
    let mut answers = Vec::new();
    for (name, secret) in &secrets {
        let resp = client
            .post(&url)
            .bearer_auth(secret)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let retry = resp
            .headers()
            .get("x-should-retry")
            .map(|v| v.to_str().unwrap().to_owned());
        let v: Value = resp.json().await.unwrap();
        answers.push((*name, status, retry, v));
    }
    let upstream: Vec<String> = fake.requests().iter().map(|r| r.body.to_string()).collect();
    // plain and trusted reached the upstream; strict and orphan did not.
    assert_eq!(upstream.len(), 2, "{upstream:?}");
    assert!(upstream[0].contains("[EMAIL]") && !upstream[0].contains(EMAIL));
    assert!(upstream[1].contains(EMAIL), "the trusted profile is off");

    let (_, status, _, v) = &answers[0];
    assert_eq!(*status, 200, "{v}");
    let (_, status, _, v) = &answers[1];
    assert_eq!(
        (*status, v["error"]["code"].as_str()),
        (400, Some("guardrail_blocked"))
    );
    let (_, status, _, v) = &answers[2];
    assert_eq!(*status, 200, "{v}");
    let (_, status, retry, v) = &answers[3];
    assert_eq!(*status, 500, "{v}");
    assert_eq!(v["error"]["code"], "guardrail_profile_missing");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[guardrails.profiles.gone]"),
        "{v}"
    );
    assert_eq!(retry.as_deref(), Some("false"));

    // Creating a key with a profile the config lacks is refused up front, naming the ones
    // it has.
    let err = new_key(
        &gw.state().config,
        KeyRequest {
            name: "x".to_owned(),
            guardrails: Some("gone".to_owned()),
            ..KeyRequest::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("guardrails") && err.contains("strict, trusted"),
        "{err}"
    );
    gw.shutdown().await.unwrap();
}
