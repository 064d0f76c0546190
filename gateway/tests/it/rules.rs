//! `[[rules]]` over loopback: pin by header, deny by client key, allow-list by user, a rule
//! that leaves no candidate, on chat completions, messages, responses and `/v1/route` alike;
//! the rule's name on the outcome row and in /metrics.

use gateway::auth::{KeyStore, NewKey};
use gateway::config::{GatewayConfig, HeaderMatchConfig, MatchConfig, RuleConfig, WhenConfig};
use router_core::{ModelId, OutcomeStatus};
use serde_json::{json, Value};
use testkit::FakeProvider;

use crate::e2e_harness::{all_providers, chat_body, config, header, openai_error, Harness};

fn equals(v: &str) -> MatchConfig {
    MatchConfig {
        equals: Some(v.to_owned()),
        glob: None,
        regex: None,
    }
}

fn rule(name: &str, when: WhenConfig) -> RuleConfig {
    RuleConfig {
        name: Some(name.to_owned()),
        when,
        pin: None,
        allow: None,
        deny: None,
    }
}

fn ids(names: &[&str]) -> Vec<ModelId> {
    names.iter().map(|n| ModelId::new(*n)).collect()
}

/// The rules every test here runs with, in this order.
fn rules() -> Vec<RuleConfig> {
    let research = RuleConfig {
        pin: Some(ModelId::new("gpt-4o")),
        ..rule(
            "research",
            WhenConfig {
                header: Some(HeaderMatchConfig {
                    name: "X-Team".to_owned(),
                    equals: Some("research".to_owned()),
                    glob: None,
                    regex: None,
                }),
                ..WhenConfig::default()
            },
        )
    };
    let ci = RuleConfig {
        deny: Some(ids(&["gpt-4o"])),
        ..rule(
            "ci-no-4o",
            WhenConfig {
                key: Some(equals("ci")),
                ..WhenConfig::default()
            },
        )
    };
    let interns = RuleConfig {
        allow: Some(ids(&["gpt-4o-mini"])),
        ..rule(
            "interns",
            WhenConfig {
                user: Some(MatchConfig {
                    equals: None,
                    glob: Some("*@interns.example.com".to_owned()),
                    regex: None,
                }),
                ..WhenConfig::default()
            },
        )
    };
    let claude_only = RuleConfig {
        allow: Some(ids(&["claude-haiku-4.5"])),
        ..rule(
            "claude-only",
            WhenConfig {
                user: Some(equals("claude-fan")),
                ..WhenConfig::default()
            },
        )
    };
    vec![research, ci, interns, claude_only]
}

async fn harness() -> Harness {
    Harness::with(&["gpt-4o-mini", "gpt-4o"], |c: &mut GatewayConfig| {
        c.rules = rules()
    })
    .await
}

#[tokio::test]
async fn a_header_rule_pins_auto_on_every_ingress() {
    let h = harness().await;
    let with_team = |path: &str, body: Value| {
        h.client
            .post(h.url(path))
            .header("x-team", "research")
            .json(&body)
            .send()
    };
    let resp = with_team("/v1/chat/completions", chat_body("auto", false, "hi"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o");
    let body = json!({"model": "auto", "max_tokens": 20,
                      "messages": [{"role": "user", "content": "hi"}]});
    let resp = with_team("/v1/messages", body).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o");
    let resp = with_team("/v1/responses", json!({"model": "auto", "input": "hi"}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o");
    let routed: Value = with_team("/v1/route", json!({"prompt": "hi"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(routed["chosen"], "gpt-4o");
    assert_eq!(routed["rule"], "research");

    // A named model is the client's choice: pin rules are skipped for it.
    let resp = with_team(
        "/v1/chat/completions",
        chat_body("gpt-4o-mini", false, "hi"),
    )
    .await
    .unwrap();
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    // Without the header no rule fires.
    let resp = h.chat(&chat_body("auto", false, "hi")).await;
    assert_eq!(resp.status(), 200);

    let rows = h.rows().await;
    let fired: Vec<Option<&str>> = rows.iter().map(|r| r.rule.as_deref()).collect();
    assert_eq!(fired.iter().filter(|r| **r == Some("research")).count(), 3);
    assert_eq!(fired.iter().filter(|r| r.is_none()).count(), 2);
    // A pinned row is not the policy's choice: no routing constraints for off-policy eval.
    assert!(rows
        .iter()
        .filter(|r| r.rule.is_some())
        .all(|r| r.constraints.is_none()));
    let matched = h.gw.metrics().counter_value(
        "switchyard_rule_matches_total",
        &[("rule", "research"), ("action", "pin")],
    );
    assert_eq!(matched, 4.0, "three served requests and one /v1/route");
    h.stop().await;
}

#[tokio::test]
async fn a_user_rule_restricts_auto_and_refuses_other_named_models() {
    let h = harness().await;
    for _ in 0..5 {
        let mut body = chat_body("auto", false, "prove the Riemann hypothesis");
        body["user"] = json!("ann@interns.example.com");
        let resp = h.chat(&body).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    }
    let resp = h
        .post_json(
            "/v1/responses",
            &json!({"model": "gpt-4o", "input": "hi", "user": "bob@interns.example.com"}),
        )
        .await;
    let err = openai_error(resp, 403).await;
    assert_eq!(err["code"], "model_not_allowed");
    let msg = err["message"].as_str().unwrap();
    assert!(msg.contains("interns") && msg.contains("gpt-4o"), "{msg}");
    assert_eq!(h.fake.calls("gpt-4o"), 0);
    let rows = h.rows().await;
    let refused = rows
        .iter()
        .find(|r| r.status == OutcomeStatus::Rejected)
        .unwrap();
    assert_eq!(refused.rule.as_deref(), Some("interns"));
    h.stop().await;
}

#[tokio::test]
async fn a_rule_leaving_no_candidate_is_a_clear_403() {
    let h = harness().await;
    let mut body = chat_body("auto", false, "hi");
    body["user"] = json!("claude-fan");
    let resp = h.chat(&body).await;
    let err = openai_error(resp, 403).await;
    assert_eq!(err["code"], "model_not_allowed");
    let msg = err["message"].as_str().unwrap();
    assert!(
        msg.contains("claude-only") && msg.contains("no live candidate"),
        "{msg}"
    );
    let resp = h
        .post_json("/v1/route", &json!({"prompt": "hi", "user": "claude-fan"}))
        .await;
    assert_eq!(openai_error(resp, 403).await["code"], "model_not_allowed");
    h.stop().await;
}

#[tokio::test]
async fn a_key_rule_denies_a_model_to_that_key() {
    let dir = tempfile::tempdir().unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut secrets = Vec::new();
    {
        let mut store = KeyStore::open(&dir.path().join("outcomes.sqlite")).unwrap();
        for name in ["ci", "dev"] {
            let new = NewKey {
                name: name.to_owned(),
                ..NewKey::default()
            };
            let (_, key) = store.create(&new, now_ms).unwrap();
            secrets.push(key.expose().clone());
        }
    }
    let fake = FakeProvider::start().await;
    let cfg = config(
        dir.path(),
        all_providers(&fake),
        &["gpt-4o-mini", "gpt-4o"],
        |c| c.rules = rules(),
    );
    let h = Harness::start(fake, cfg, None, dir).await;
    let chat = |key: &str, model: &str| {
        h.client
            .post(h.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&chat_body(model, false, "hi"))
            .send()
    };
    let (ci, dev) = (&secrets[0], &secrets[1]);
    let err = openai_error(chat(ci, "gpt-4o").await.unwrap(), 403).await;
    assert!(
        err["message"].as_str().unwrap().contains("ci-no-4o"),
        "{err}"
    );
    for _ in 0..5 {
        let resp = chat(ci, "auto").await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    }
    let resp = chat(dev, "gpt-4o").await.unwrap();
    assert_eq!(resp.status(), 200, "the rule is the ci key's only");
    assert_eq!(h.fake.calls("gpt-4o"), 1);
    h.stop().await;
}

#[tokio::test]
async fn a_cached_answer_never_bypasses_a_rule() {
    // One header rule per model, so that one of them pins away from the router's choice.
    let pin_on_team = |team: &str, model: &str| RuleConfig {
        pin: Some(ModelId::new(model)),
        ..rule(
            team,
            WhenConfig {
                header: Some(HeaderMatchConfig {
                    name: "X-Team".to_owned(),
                    equals: Some(team.to_owned()),
                    glob: None,
                    regex: None,
                }),
                ..WhenConfig::default()
            },
        )
    };
    let h = Harness::with(&["gpt-4o-mini", "gpt-4o"], |c: &mut GatewayConfig| {
        c.rules = vec![
            pin_on_team("mini", "gpt-4o-mini"),
            pin_on_team("full", "gpt-4o"),
        ];
        c.cache.enabled = true;
    })
    .await;
    let ask = |team: Option<&'static str>| {
        let mut req = h.client.post(h.url("/v1/chat/completions")).json(&json!({
            "model": "auto", "temperature": 0,
            "messages": [{"role": "user", "content": "the same question"}]
        }));
        if let Some(team) = team {
            req = req.header("x-team", team);
        }
        req.send()
    };
    let first = ask(None).await.unwrap();
    assert_eq!(first.status(), 200);
    let routed = header(&first, "x-switchyard-model").to_owned();
    assert_eq!(
        header(&ask(None).await.unwrap(), "x-switchyard-cache"),
        "hit"
    );
    let (team, other) = if routed == "gpt-4o" {
        ("mini", "gpt-4o-mini")
    } else {
        ("full", "gpt-4o")
    };
    // The same body under a rule pinning another model is not answered from the entry
    // stored without it.
    let pinned = ask(Some(team)).await.unwrap();
    assert_eq!(pinned.status(), 200);
    assert_eq!(header(&pinned, "x-switchyard-model"), other);
    assert_eq!(header(&pinned, "x-switchyard-cache"), "miss");
    // Under the rule, its own entry.
    let again = ask(Some(team)).await.unwrap();
    assert_eq!(header(&again, "x-switchyard-cache"), "hit");
    assert_eq!(header(&again, "x-switchyard-model"), other);
}
