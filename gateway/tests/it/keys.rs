//! Issue 11, client keys and exposure rules, over loopback against the testkit fake: 401
//! without a valid key, 429 with Retry-After over RPM/TPM (on a manual clock, never sleeping),
//! 429 `insufficient_quota` over budget (streams charged too), 403 outside the key's models,
//! the admin API, the key id on every row, `spend`, and the exposure rules (non-loopback bind,
//! 415, CORS, Host check).

use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use gateway::auth::{AuthClock, Budget, KeyStore, NewKey, Period};
use gateway::config::GatewayConfig;
use gateway::outcome::spend::{spend_report, SpendBy};
use gateway::upstream::ProviderKind;
use gateway::RunningGateway;
use router_core::ModelId;
use serde_json::{json, Value};
use testkit::{FakeProvider, Scenario, Usage};

use crate::e2e_harness::{config, mini_config, provider};

/// 2026-12-03 12:00 UTC: budget periods are computed from it.
const T0_MS: u64 = 1_796_299_200_000;

struct Keyed {
    fake: FakeProvider,
    gw: RunningGateway,
    clock: AuthClock,
    client: reqwest::Client,
    dir: tempfile::TempDir,
}

fn db(dir: &Path) -> std::path::PathBuf {
    dir.join("outcomes.sqlite")
}

/// Creates `keys` in a fresh database, then starts a gateway on a manual clock over it.
async fn start(
    keys: &[NewKey],
    tweak: impl FnOnce(&mut GatewayConfig),
) -> (Keyed, Vec<(String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let mut created = Vec::new();
    {
        let mut store = KeyStore::open(&db(dir.path())).unwrap();
        for k in keys {
            let (record, key) = store.create(k, T0_MS).unwrap();
            created.push((record.id, key.expose().clone()));
        }
    }
    let fake = FakeProvider::start().await;
    let cfg = config(
        dir.path(),
        crate::e2e_harness::all_providers(&fake),
        &["gpt-4o-mini", "gpt-4o"],
        tweak,
    );
    let clock = AuthClock::manual(T0_MS);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = gateway::spawn_with_clock(cfg, listener, None, clock.clone())
        .await
        .unwrap();
    let h = Keyed {
        fake,
        gw,
        clock,
        client: reqwest::Client::new(),
        dir,
    };
    (h, created)
}

/// A gateway with one key limited to `tpm` tokens per minute, and that key.
async fn with_tokens_per_minute(tpm: u32) -> (Keyed, String) {
    let key = NewKey {
        tpm: NonZeroU32::new(tpm),
        ..named("tokens")
    };
    let (h, mut keys) = start(&[key], |_| {}).await;
    (h, keys.remove(0).1)
}

fn named(name: &str) -> NewKey {
    NewKey {
        name: name.to_owned(),
        ..NewKey::default()
    }
}

impl Keyed {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gw.local_addr())
    }

    async fn chat_as(&self, key: Option<&str>, body: &Value) -> reqwest::Response {
        let mut req = self
            .client
            .post(self.url("/v1/chat/completions"))
            .json(body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req.send().await.unwrap()
    }

    async fn rows(&self) -> Vec<router_core::Outcome> {
        self.gw.wait_idle().await;
        self.gw.outcome_log().flush().await;
        gateway::read_outcomes(self.gw.outcome_log().location()).unwrap()
    }
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello there"}]})
}

/// The OpenAI-shaped error of `resp`, after checking its status.
async fn error_of(resp: reqwest::Response, status: u16) -> (reqwest::header::HeaderMap, Value) {
    assert_eq!(resp.status().as_u16(), status);
    let headers = resp.headers().clone();
    let body: Value = resp.json().await.unwrap();
    (headers, body["error"].clone())
}

#[tokio::test]
async fn issue_11_without_a_valid_key_v1_answers_401_and_rows_carry_the_key_id() {
    let (h, keys) = start(&[named("app"), named("gone")], |_| {}).await;
    let (app_id, app_key) = &keys[0];

    let (headers, err) = error_of(h.chat_as(None, &chat("gpt-4o-mini")).await, 401).await;
    assert_eq!(err["code"], "invalid_api_key");
    assert_eq!(err["type"], "invalid_request_error");
    assert_eq!(headers["www-authenticate"], "Bearer");
    let (_, err) = error_of(h.chat_as(Some("sy-wrong"), &chat("gpt-4o-mini")).await, 401).await;
    assert_eq!(err["code"], "invalid_api_key");
    assert!(
        !err.to_string().contains("sy-wrong"),
        "the key is not echoed"
    );
    for path in ["/v1/models"] {
        let r = h.client.get(h.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
    }
    // Health stays open for probes.
    let r = h.client.get(h.url("/health")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);

    let ok = h.chat_as(Some(app_key), &chat("gpt-4o-mini")).await;
    assert_eq!(ok.status().as_u16(), 200);
    // Anthropic-style clients send x-api-key.
    let ok = h
        .client
        .post(h.url("/v1/chat/completions"))
        .header("x-api-key", app_key)
        .json(&chat("gpt-4o-mini"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(
        h.fake.calls("gpt-4o-mini"),
        2,
        "refused requests never reach upstream"
    );

    // Revoked (here through the table, as `switchyard keys revoke` does): refused.
    KeyStore::open(&db(h.dir.path()))
        .unwrap()
        .revoke("gone", T0_MS)
        .unwrap();
    h.gw.state().auth.reload().unwrap();
    let (_, err) = error_of(h.chat_as(Some(&keys[1].1), &chat("gpt-4o-mini")).await, 401).await;
    assert_eq!(err["code"], "invalid_api_key");

    let rows = h.rows().await;
    assert_eq!(rows.len(), 2, "401s are refused before a row is built");
    assert!(rows
        .iter()
        .all(|r| r.key_id.as_deref() == Some(app_id.as_str())));
    let raw = std::fs::read(db(h.dir.path())).unwrap();
    assert!(!raw.windows(app_key.len()).any(|w| w == app_key.as_bytes()));
}

/// A key row that does not read back (a hand edit: a budget removed but its period left)
/// grants nothing, and still makes keys required: counting only the readable rows turned
/// authentication off, so every request passed without a key.
#[tokio::test]
async fn an_unreadable_key_row_keeps_keys_required() {
    let (h, keys) = start(&[named("solo")], |_| {}).await;
    rusqlite::Connection::open(db(h.dir.path()))
        .unwrap()
        .execute(
            "UPDATE client_keys SET budget_usd = NULL, period = 'week'",
            [],
        )
        .unwrap();
    h.gw.state().auth.reload().unwrap();
    for key in [None, Some(keys[0].1.as_str())] {
        let (_, err) = error_of(h.chat_as(key, &chat("gpt-4o-mini")).await, 401).await;
        assert_eq!(err["code"], "invalid_api_key");
    }
    assert_eq!(h.fake.calls("gpt-4o-mini"), 0);
}

#[tokio::test]
async fn issue_11_requests_per_minute_answer_429_with_retry_after_on_the_injected_clock() {
    let key = NewKey {
        rpm: NonZeroU32::new(2),
        ..named("slow")
    };
    let (h, keys) = start(&[key], |_| {}).await;
    let k = &keys[0].1;
    for _ in 0..2 {
        assert_eq!(h.chat_as(Some(k), &chat("gpt-4o-mini")).await.status(), 200);
    }
    let (headers, err) = error_of(h.chat_as(Some(k), &chat("gpt-4o-mini")).await, 429).await;
    assert_eq!(err["code"], "rate_limit_exceeded");
    assert_eq!(err["type"], "requests");
    assert_eq!(headers["retry-after"], "30");
    h.clock.advance(Duration::from_secs(30));
    assert_eq!(h.chat_as(Some(k), &chat("gpt-4o-mini")).await.status(), 200);
    assert_eq!(
        h.gw.metrics().counter_value(
            "switchyard_key_rejections_total",
            &[("reason", "rate_limit_requests")]
        ),
        1.0
    );
}

#[tokio::test]
async fn issue_11_tokens_per_minute_count_max_tokens_and_refill_with_the_clock() {
    let (h, k) = with_tokens_per_minute(1000).await;
    let k = &k;
    let mut body = chat("gpt-4o-mini");
    body["max_tokens"] = json!(900);
    assert_eq!(h.chat_as(Some(k), &body).await.status(), 200);
    // The first answer used only a few tokens, so most of its hold came back; a request that
    // still needs more than is left waits.
    body["max_tokens"] = json!(999);
    let (headers, err) = error_of(h.chat_as(Some(k), &body).await, 429).await;
    assert_eq!(err["type"], "tokens");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    h.clock.advance(Duration::from_secs(wait));
    assert_eq!(h.chat_as(Some(k), &body).await.status(), 200);
}

#[tokio::test]
async fn issue_11_a_spent_budget_answers_429_insufficient_quota_and_streams_are_charged() {
    let key = NewKey {
        budget: Some(Budget {
            limit_usd: 0.001,
            period: Period::Day,
        }),
        ..named("capped")
    };
    let (h, keys) = start(&[key], |_| {}).await;
    let (id, k) = (&keys[0].0, &keys[0].1);
    // Each answer costs 400 + 1000 tokens of gpt-4o-mini: 0.00066 USD.
    h.fake.always(
        "gpt-4o-mini",
        Scenario::Ok {
            reply: Some("fine".to_owned()),
            usage: Some(Usage {
                input_tokens: 400,
                output_tokens: 1000,
            }),
        },
    );
    let mut stream = chat("gpt-4o-mini");
    stream["stream"] = json!(true);
    stream["stream_options"] = json!({"include_usage": true});
    let r = h.chat_as(Some(k), &stream).await;
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("[DONE]"));
    h.gw.wait_idle().await;
    let budget = Budget {
        limit_usd: 0.001,
        period: Period::Day,
    };
    let (spent, reserved) = h.gw.state().auth.ledger().usage(id, budget);
    assert!(
        (spent - 0.00066).abs() < 1e-9,
        "stream charged its real cost: {spent}"
    );
    assert_eq!(reserved, 0.0);
    // 0.00066 of 0.001 spent: one more is admitted (it overshoots by at most its own cost)...
    assert_eq!(h.chat_as(Some(k), &chat("gpt-4o-mini")).await.status(), 200);
    // ...then the key is out until the next UTC day.
    let (headers, err) = error_of(h.chat_as(Some(k), &chat("gpt-4o-mini")).await, 429).await;
    assert_eq!(err["code"], "insufficient_quota");
    assert_eq!(err["type"], "insufficient_quota");
    assert_eq!(headers["x-should-retry"], "false");
    assert!(err["message"].as_str().unwrap().contains("capped"));
    h.clock.advance(Duration::from_secs(12 * 3600));
    assert_eq!(h.chat_as(Some(k), &chat("gpt-4o-mini")).await.status(), 200);

    let rows = h.rows().await;
    assert_eq!(rows.len(), 4, "the refused request has a row too");
    assert_eq!(
        rows.iter()
            .filter(|r| r.status == router_core::OutcomeStatus::Rejected)
            .count(),
        1
    );
    let report = spend_report(db(h.dir.path()), SpendBy::Key, None).unwrap();
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].group.as_deref(), Some(id.as_str()));
    assert_eq!(report[0].name.as_deref(), Some("capped"));
    assert_eq!(report[0].requests, 4);
    assert!((report[0].cost_usd - 3.0 * 0.00066).abs() < 1e-9);
}

#[tokio::test]
async fn issue_11_budgets_survive_a_restart_from_the_logged_spend() {
    let key = NewKey {
        budget: Some(Budget {
            limit_usd: 0.0005,
            period: Period::Month,
        }),
        ..named("restart")
    };
    let (h, keys) = start(&[key], |_| {}).await;
    h.fake.always(
        "gpt-4o-mini",
        Scenario::Ok {
            reply: None,
            usage: Some(Usage {
                input_tokens: 400,
                output_tokens: 1000,
            }),
        },
    );
    let k = keys[0].1.clone();
    assert_eq!(
        h.chat_as(Some(&k), &chat("gpt-4o-mini")).await.status(),
        200
    );
    let Keyed { fake, gw, dir, .. } = h;
    gw.shutdown().await.unwrap();
    // Same database, new process state: the month's spend is read back from the log.
    let cfg = mini_config(dir.path(), &fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = gateway::spawn_with_clock(cfg, listener, None, AuthClock::manual(T0_MS + 60_000))
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .post(format!("http://{}/v1/chat/completions", gw.local_addr()))
        .bearer_auth(&k)
        .json(&chat("gpt-4o-mini"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn issue_11_models_outside_the_key_list_answer_403_and_auto_routes_inside_it() {
    let key = NewKey {
        models: Some(vec![ModelId::new("gpt-4o-mini")]),
        ..named("mini-only")
    };
    let (h, keys) = start(&[key], |_| {}).await;
    let k = &keys[0].1;
    let (_, err) = error_of(h.chat_as(Some(k), &chat("gpt-4o")).await, 403).await;
    assert_eq!(err["code"], "model_not_allowed");
    assert!(err["message"].as_str().unwrap().contains("gpt-4o-mini"));
    for _ in 0..3 {
        let r = h.chat_as(Some(k), &chat("auto")).await;
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["x-switchyard-model"], "gpt-4o-mini");
    }
    assert_eq!(h.fake.calls("gpt-4o"), 0);
    let models: Value = h
        .client
        .get(h.url("/v1/models"))
        .bearer_auth(k)
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
    assert_eq!(ids, ["auto", "gpt-4o-mini"]);
    // `/v1/route` shows the decision this key would be served: its models only.
    let route = |body: Value| {
        h.client
            .post(h.url("/v1/route"))
            .bearer_auth(k)
            .json(&body)
            .send()
    };
    let decision: Value = route(json!({"prompt": "hello there"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(decision["chosen"], "gpt-4o-mini", "{decision}");
    assert_eq!(
        decision["failover_order"],
        json!(["gpt-4o-mini"]),
        "{decision}"
    );
    let (_, err) = error_of(
        route(json!({"prompt": "hello there", "model": "gpt-4o"}))
            .await
            .unwrap(),
        403,
    )
    .await;
    assert_eq!(err["code"], "model_not_allowed");
}

#[tokio::test]
async fn issue_11_admin_api_creates_lists_and_revokes_keys_with_the_admin_key_only() {
    let admin = "sy-admin-test-key";
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(admin.as_bytes()))
    };
    let (h, _) = start(&[], |c| c.admin.key_sha256 = Some(hash)).await;
    // No key yet: /v1 is open (loopback bind).
    assert_eq!(h.chat_as(None, &chat("gpt-4o-mini")).await.status(), 200);

    let create = json!({"name": "team-a", "budget_usd": 5, "period": "day", "rpm": 10, "models": ["gpt-4o-mini"]});
    let r = h
        .client
        .post(h.url("/admin/keys"))
        .json(&create)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // The scheme name is case-insensitive (RFC 9110), as for client keys.
    let r = h
        .client
        .get(h.url("/admin/keys"))
        .header("authorization", format!("bearer {admin}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = h
        .client
        .post(h.url("/admin/keys"))
        .bearer_auth(admin)
        .json(&create)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let created: Value = r.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sy-"));
    assert_eq!(created["budget"]["period"], "day");

    // From now on /v1 needs a key, and the client key is no admin key.
    assert_eq!(h.chat_as(None, &chat("gpt-4o-mini")).await.status(), 401);
    assert_eq!(
        h.chat_as(Some(&key), &chat("gpt-4o-mini")).await.status(),
        200
    );
    let r = h
        .client
        .get(h.url("/admin/keys"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    let bad = h
        .client
        .post(h.url("/admin/keys"))
        .bearer_auth(admin)
        .json(&json!({"name": "x", "models": ["gpt-9000"]}))
        .send()
        .await
        .unwrap();
    let (_, err) = error_of(bad, 400).await;
    assert!(err["message"].as_str().unwrap().contains("gpt-9000"));

    let list: Value = h
        .client
        .get(h.url("/admin/keys"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&key), "listings never show keys");
    assert!(list["data"][0]["spent_usd"].as_f64().unwrap() > 0.0);

    let r = h
        .client
        .delete(h.url("/admin/keys/team-a"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        h.chat_as(Some(&key), &chat("gpt-4o-mini")).await.status(),
        401
    );
    // Revoking the last key does not open the gateway again.
    assert_eq!(h.chat_as(None, &chat("gpt-4o-mini")).await.status(), 401);
    // A key that is not there is a 404 and a name in use a 409, as REST clients expect
    // (both were 400 `invalid_request`).
    let r = h
        .client
        .delete(h.url("/admin/keys/team-a"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    let (_, err) = error_of(r, 404).await;
    assert_eq!(err["code"], "key_not_found");
    let again = json!({"name": "team-b"});
    for status in [201, 409] {
        let r = h
            .client
            .post(h.url("/admin/keys"))
            .bearer_auth(admin)
            .json(&again)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status);
    }
}

/// Embeddings models are not in the catalog, yet `/v1/embeddings` checks the key's model
/// list: the list must be able to name them, or a key with a list could never embed.
#[tokio::test]
async fn a_key_model_list_can_grant_embeddings_models() {
    let admin = "sy-admin-test-key";
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(admin.as_bytes()))
    };
    let (h, _) = start(&[], |c| c.admin.key_sha256 = Some(hash)).await;
    let create = |body: Value| {
        h.client
            .post(h.url("/admin/keys"))
            .bearer_auth(admin)
            .json(&body)
            .send()
    };
    let r = create(json!({"name": "app", "models": ["gpt-4o-mini", " text-embedding-3-small"]}))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let created: Value = r.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let embed = |model: &str| {
        h.client
            .post(h.url("/v1/embeddings"))
            .bearer_auth(&key)
            .json(&json!({"model": model, "input": "hello"}))
            .send()
    };
    let r = embed("text-embedding-3-small").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, err) = error_of(embed("text-embedding-3-large").await.unwrap(), 403).await;
    assert_eq!(err["code"], "model_not_allowed");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("gpt-4o-mini, text-embedding-3-small"),
        "{err}"
    );
    // The chat models of the list still apply as before.
    assert_eq!(
        h.chat_as(Some(&key), &chat("gpt-4o-mini")).await.status(),
        200
    );
    let (_, err) = error_of(h.chat_as(Some(&key), &chat("gpt-4o")).await, 403).await;
    assert_eq!(err["code"], "model_not_allowed");
    // A name that is neither a catalog nor an embeddings model is still refused.
    let (_, err) = error_of(
        create(json!({"name": "bad", "models": ["text-embedding-9"]}))
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("text-embedding-9"),
        "{err}"
    );
}

#[tokio::test]
async fn issue_11_a_non_loopback_bind_needs_keys_or_an_explicit_opt_out() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeProvider::start().await;
    let providers = || {
        vec![provider(
            "openai",
            ProviderKind::Openai,
            &fake.openai_base_url(),
        )]
    };
    let bind_all = || async { tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap() };

    let cfg = config(dir.path(), providers(), &["gpt-4o-mini"], |_| {});
    let err = gateway::spawn(cfg, bind_all().await, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("allow_unauthenticated"), "{err}");

    let cfg = config(dir.path(), providers(), &["gpt-4o-mini"], |c| {
        c.server.allow_unauthenticated = true
    });
    let gw = gateway::spawn(cfg, bind_all().await, None).await.unwrap();
    gw.shutdown().await.unwrap();

    KeyStore::open(&db(dir.path()))
        .unwrap()
        .create(&named("k"), T0_MS)
        .unwrap();
    let cfg = config(dir.path(), providers(), &["gpt-4o-mini"], |_| {});
    let gw = gateway::spawn(cfg, bind_all().await, None).await.unwrap();
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn issue_11_posts_need_json_cors_is_off_unless_configured_and_hosts_are_checked() {
    let (h, _) = start(&[], |c| {
        c.server.cors_origins = vec!["https://app.example.com".to_owned()]
    })
    .await;
    let body = chat("gpt-4o-mini").to_string();
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let r = h
            .client
            .post(h.url("/v1/chat/completions"))
            .header("content-type", ct)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let (_, err) = error_of(r, 415).await;
        assert_eq!(err["code"], "unsupported_media_type", "{ct}");
    }
    let r = h
        .client
        .post(h.url("/v1/feedback"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415, "no content type at all");
    assert_eq!(h.fake.calls("gpt-4o-mini"), 0);

    // CORS: the configured origin gets a preflight answer, another gets none.
    let preflight = |origin: &'static str| {
        h.client
            .request(reqwest::Method::OPTIONS, h.url("/v1/chat/completions"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let ok = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // DNS rebinding: a loopback gateway answers only to loopback names.
    let r = h
        .client
        .get(h.url("/v1/models"))
        .header("host", "evil.example:8080")
        .send()
        .await
        .unwrap();
    let (_, err) = error_of(r, 403).await;
    assert_eq!(err["code"], "host_not_allowed");
    let port = h.gw.local_addr().port();
    let r = h
        .client
        .get(h.url("/v1/models"))
        .header("host", format!("localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn issue_11_without_cors_config_no_cors_headers_are_sent() {
    let (h, _) = start(&[], |_| {}).await;
    let r = h
        .client
        .request(reqwest::Method::OPTIONS, h.url("/v1/chat/completions"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = h
        .client
        .get(h.url("/v1/models"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn issue_11_logs_written_before_keys_still_read_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(dir.path());
    {
        // The schema as it was before client keys: no key_id column, no key in the record.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE outcomes (request_id TEXT PRIMARY KEY, timestamp_ms INTEGER NOT NULL,
             model TEXT, status TEXT NOT NULL, cost_usd REAL, latency_ms REAL NOT NULL,
             record TEXT NOT NULL);",
        )
        .unwrap();
        let record = json!({"schema_version": 1, "request_id": "req_old", "timestamp_ms": 5,
            "prompt": {"kind": "none"}, "requested_model": "auto", "decision": null,
            "propensity": null, "model": "gpt-4o-mini", "upstream_model": null, "status": "ok",
            "attempts": [], "ttft_ms": null, "latency_ms": 3.0, "input_tokens": 10,
            "output_tokens": 20, "cost_usd": 0.5});
        conn.execute(
            "INSERT INTO outcomes VALUES ('req_old', 5, 'gpt-4o-mini', 'ok', 0.5, 3.0, ?1)",
            [record.to_string()],
        )
        .unwrap();
    }
    let report = spend_report(&path, SpendBy::Key, None).unwrap();
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].group, None);
    assert_eq!(report[0].input_tokens, 10);
    // Opening it with the gateway migrates it; the old row still reads.
    let (h, keys) = {
        let fake = FakeProvider::start().await;
        let mut store = KeyStore::open(&path).unwrap();
        let (record, key) = store.create(&named("new"), T0_MS).unwrap();
        let cfg = mini_config(dir.path(), &fake);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gw = gateway::spawn(cfg, listener, None).await.unwrap();
        ((fake, gw), (record.id, key.expose().clone()))
    };
    let (_fake, gw) = h;
    let r = reqwest::Client::new()
        .post(format!("http://{}/v1/chat/completions", gw.local_addr()))
        .bearer_auth(&keys.1)
        .json(&chat("gpt-4o-mini"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    gw.shutdown().await.unwrap();
    let rows = gateway::read_outcomes(&path).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].key_id, None);
    assert_eq!(rows[1].key_id.as_deref(), Some(keys.0.as_str()));
    let report = spend_report(&path, SpendBy::Key, None).unwrap();
    assert_eq!(report.len(), 2);
    assert!(report.iter().any(|r| r.name.as_deref() == Some("new")));
}

/// A key's tokens-per-minute limit counts the prompt as the model reading it does: Claude
/// 5.x's tokenizer counts about 30 % more than the gateway's estimate, so the same request
/// fits the limit for gpt-4o-mini and not for Claude Sonnet 5 (refused before routing).
#[tokio::test]
async fn tokens_per_minute_count_the_prompt_in_the_models_own_tokens() {
    let (h, k) = with_tokens_per_minute(1000).await;
    let k = &k;
    // A short answer first: the bucket is no longer full (a full one admits any request).
    assert_eq!(h.chat_as(Some(k), &chat("gpt-4o-mini")).await.status(), 200);
    // About 750 tokens by the gateway's estimate (4 characters a token), plus 100 to answer.
    let prompt = "word ".repeat(600);
    let body = |model: &str| {
        json!({"model": model, "max_tokens": 100,
            "messages": [{"role": "user", "content": prompt}]})
    };
    let (_, err) = error_of(h.chat_as(Some(k), &body("claude-sonnet-5")).await, 429).await;
    assert_eq!(err["type"], "tokens");
    let message = err["message"].as_str().unwrap();
    let needs: u32 = message
        .split("needs about ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{message}"));
    assert!(
        (1050..1120).contains(&needs),
        "1.3 times the prompt, plus 100: {message}"
    );
    assert_eq!(h.chat_as(Some(k), &body("gpt-4o-mini")).await.status(), 200);
}

/// A request that takes its tokens and then gets no answer (every attempt failed) gives them
/// back: a failing upstream does not use up a key's tokens per minute.
#[tokio::test]
async fn tokens_taken_by_a_request_no_upstream_answered_are_given_back() {
    let (h, k) = with_tokens_per_minute(1000).await;
    let k = &k;
    let mut body = chat("gpt-4o-mini");
    body["max_tokens"] = json!(600);
    // A short answer first: the bucket is no longer full (a full one admits any request).
    assert_eq!(h.chat_as(Some(k), &chat("gpt-4o-mini")).await.status(), 200);
    // The model and every model it fails over to.
    let models = ["gpt-4o-mini", "gpt-4o", "gpt-5.4-nano"];
    for m in models {
        h.fake.always(m, Scenario::status(500));
    }
    let failed = h.chat_as(Some(k), &body).await;
    assert!(failed.status().is_server_error(), "{}", failed.status());
    // Without the refund the 600 held by the failed request would leave too little for this.
    for m in models {
        h.fake.always(m, Scenario::reply("fine"));
    }
    assert_eq!(h.chat_as(Some(k), &body).await.status(), 200);
}

/// A request for `n` answers is written, and billed, `n` times over: its budget hold counts
/// every answer, so a key cannot pass its budget many times over with `n` (it could: 30
/// concurrent `n = 128` requests spent 43 times a key's budget).
#[tokio::test]
async fn a_request_for_several_answers_holds_the_budget_of_all_of_them() {
    let budget = Budget {
        limit_usd: 0.003,
        period: Period::Day,
    };
    let key = NewKey {
        budget: Some(budget),
        ..named("choices")
    };
    let (h, keys) = start(&[key], |_| {}).await;
    let (id, k) = (&keys[0].0, &keys[0].1);
    // 100 tokens on the dearest model of the failover order hold about 0.001 USD: one answer
    // holds a third of the budget, eight more than all of it.
    for (n, second) in [(1, 200), (8, 429)] {
        let release = testkit::Release::new();
        h.fake.script(
            "gpt-4o-mini",
            [Scenario::held(&release, "first"), Scenario::reply("second")],
        );
        let mut first = chat("gpt-4o-mini");
        first["n"] = json!(n);
        first["max_tokens"] = json!(100);
        let while_held = async {
            while h.gw.state().auth.ledger().usage(id, budget).1 == 0.0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let reserved = h.gw.state().auth.ledger().usage(id, budget).1;
            let r = h.chat_as(Some(k), &chat("gpt-4o-mini")).await;
            release.open();
            (reserved, r.status().as_u16())
        };
        let (held, (reserved, status)) = tokio::join!(h.chat_as(Some(k), &first), while_held);
        assert_eq!(held.status().as_u16(), 200, "n = {n}");
        assert_eq!(status, second, "n = {n}: {reserved} reserved");
        h.gw.wait_idle().await;
        h.clock.advance(Duration::from_secs(24 * 3600));
    }
}

/// A request without a valid key is refused before its body is read (a keyless client could
/// otherwise make the gateway buffer `body_limit_bytes` per connection for the whole body
/// timeout), and a declared length past the limit is refused before a byte of it is read.
#[tokio::test]
async fn no_body_is_read_for_a_request_without_a_key_or_past_the_limit() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (h, keys) = start(&[named("reader")], |c| {
        c.server.body_read_timeout = Duration::from_secs(60);
        c.server.body_limit_bytes = 1000;
    })
    .await;
    let addr = h.gw.local_addr();
    let answer = |head: String| async move {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(head.as_bytes()).await.unwrap();
        let mut out = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut out))
            .await
            .expect("answered without waiting for the body")
            .unwrap();
        String::from_utf8_lossy(&out[..n]).into_owned()
    };
    let partial = |auth: &str, length: usize| {
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\ncontent-type: application/json\r\n{auth}content-length: {length}\r\n\r\n{{\"model\":"
        )
    };
    let keyless = answer(partial("", 500)).await;
    assert!(keyless.starts_with("HTTP/1.1 401"), "{keyless}");
    let auth = format!("authorization: Bearer {}\r\n", keys[0].1);
    let too_long = answer(partial(&auth, 5000)).await;
    assert!(too_long.starts_with("HTTP/1.1 413"), "{too_long}");
}
