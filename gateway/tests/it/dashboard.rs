//! Issue 12, the dashboard, over loopback against the testkit fake: `/dashboard/data` counts
//! what was sent (requests, spend per key, a static fallback, a cache hit, the counterfactual
//! costs at catalog prices), needs the admin key (or a local gateway without keys), refuses bad
//! parameters in OpenAI's shape, and serves hostile logged text as JSON data only; the page is
//! static, with a CSP that allows no inline script. The browser side is
//! `scripts/dashboard_check.sh` (headless Chromium).

use gateway::auth::{KeyStore, NewKey};
use gateway::config::{GatewayConfig, Privacy};
use gateway::upstream::ProviderKind;
use gateway::RunningGateway;
use router_core::{ModelId, Outcome};
use serde_json::{json, Value};
use testkit::FakeProvider;

use crate::e2e_harness::{config, provider};

const ADMIN: &str = "sy-admin-dashboard-test";
const HOSTILE: &str = "<script>alert(\"x\")</script><img src=x onerror=alert(1)>";

struct Board {
    fake: FakeProvider,
    gw: RunningGateway,
    client: reqwest::Client,
    /// `(id, secret)` of each created key.
    keys: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

/// A static fallback row, as the gateway writes one when the encoder is too late: the
/// dashboard must count it, and a live gateway cannot be made late on cue.
fn fallback_row(now_ms: u64) -> Outcome {
    serde_json::from_value(json!({
        "schema_version": 1, "request_id": "req_fallback", "timestamp_ms": now_ms - 1000,
        "prompt": {"kind": "none"}, "requested_model": "auto",
        "decision": {"chosen": "gpt-4o-mini", "ranked": [], "reason": "static_fallback", "propensity": 1.0},
        "propensity": 1.0, "model": "gpt-4o-mini", "upstream_model": null, "status": "ok",
        "attempts": [], "ttft_ms": null, "latency_ms": 5.0, "input_tokens": 10,
        "output_tokens": 20, "cost_usd": 0.0001,
    }))
    .unwrap()
}

/// A gateway over a log holding `keys` and the fallback row, then `tweak`ed.
async fn start(keys: &[&str], tweak: impl FnOnce(&mut GatewayConfig)) -> Board {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outcomes.sqlite");
    let mut created = Vec::new();
    {
        let mut store = KeyStore::open(&db).unwrap();
        for name in keys {
            let new = NewKey {
                name: (*name).to_owned(),
                ..NewKey::default()
            };
            let (record, key) = store.create(&new, 0).unwrap();
            created.push((record.id, key.expose().clone()));
        }
        let mut log = outcome_log::open(&db, false).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        outcome_log::write_batch(&mut log, &[fallback_row(now)]).unwrap();
    }
    let fake = FakeProvider::start().await;
    let cfg = config(
        dir.path(),
        vec![provider(
            "openai",
            ProviderKind::Openai,
            &fake.openai_base_url(),
        )],
        &["gpt-4o-mini", "gpt-4o"],
        tweak,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = gateway::spawn(cfg, listener, None).await.unwrap();
    Board {
        fake,
        gw,
        client: reqwest::Client::new(),
        keys: created,
        _dir: dir,
    }
}

fn admin_sha256() -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(ADMIN.as_bytes()))
}

impl Board {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gw.local_addr())
    }

    async fn chat(&self, key: &str, model: &str, prompt: &str, temperature: f64) {
        let r = self
            .client
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&json!({
                "model": model,
                "temperature": temperature,
                "messages": [{"role": "user", "content": prompt}],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    async fn data(&self, query: &str, admin: Option<&str>) -> (u16, Value) {
        let mut req = self
            .client
            .get(self.url(&format!("/dashboard/data{query}")));
        if let Some(key) = admin {
            req = req.bearer_auth(key);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn rows(&self) -> Vec<Outcome> {
        self.gw.wait_idle().await;
        self.gw.outcome_log().flush().await;
        gateway::read_outcomes(self.gw.outcome_log().location()).unwrap()
    }

    async fn stop(self) {
        self.gw.shutdown().await.unwrap();
        self.fake.shutdown().await;
    }
}

#[tokio::test]
async fn issue_12_dashboard_data_counts_what_was_sent() {
    let h = start(&["team-a", HOSTILE], |raw| {
        raw.admin.key_sha256 = Some(admin_sha256());
        raw.cache.enabled = true;
        raw.log.privacy = Privacy::Full;
    })
    .await;
    let (team, hostile) = (h.keys[0].1.clone(), h.keys[1].1.clone());
    h.chat(&team, "auto", "Write a haiku about routers.", 0.7)
        .await;
    h.chat(&team, "auto", "What is the capital of Peru?", 0.7)
        .await;
    // The second identical deterministic request is a cache hit.
    h.chat(&team, "gpt-4o-mini", "What is 6 times 7?", 0.0)
        .await;
    h.chat(&team, "gpt-4o-mini", "What is 6 times 7?", 0.0)
        .await;
    h.chat(&hostile, "gpt-4o", HOSTILE, 0.7).await;
    let rows = h.rows().await;
    assert_eq!(rows.len(), 6);

    // The admin key and nothing else.
    let (status, body) = h.data("", None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "authentication_error");
    assert_eq!(
        h.data("", Some(&team)).await.0,
        401,
        "a client key is no admin key"
    );
    let (status, d) = h.data("?window=1h", Some(ADMIN)).await;
    assert_eq!(status, 200, "{d}");

    let t = &d["totals"];
    assert_eq!(t["requests"], 6);
    assert_eq!(t["ok"], 6);
    // Two `auto` requests and the fallback row were routed; one of the three fell back.
    assert_eq!(t["routed"], 3);
    assert_eq!(t["static_fallbacks"], 1);
    assert!((t["fallback_share"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(
        (
            &t["cache_exact"],
            &t["cache_semantic"],
            &t["cache_coalesced"]
        ),
        (&json!(1), &json!(0), &json!(0))
    );
    let logged: f64 = rows.iter().filter_map(|r| r.cost_usd).sum();
    assert!((t["cost_usd"].as_f64().unwrap() - logged).abs() < 1e-12);
    assert_eq!(
        d["latency"]["count"], 5,
        "answered by a model, the hit left out"
    );

    // Spend per key: the team's four requests (one a free hit), the hostile key's one, the
    // fallback row without a key; the hostile name comes back as a plain JSON string.
    let keys = d["keys"].as_array().unwrap();
    let of = |id: &str| keys.iter().find(|k| k["key_id"] == id).unwrap();
    let team_row = of(&h.keys[0].0);
    assert_eq!(team_row["requests"], 4);
    assert_eq!(team_row["name"], "team-a");
    let team_cost: f64 = rows
        .iter()
        .filter(|r| r.key_id.as_deref() == Some(&h.keys[0].0))
        .filter_map(|r| r.cost_usd)
        .sum();
    assert!((team_row["cost_usd"].as_f64().unwrap() - team_cost).abs() < 1e-12);
    assert_eq!(of(&h.keys[1].0)["name"], HOSTILE);
    assert!(keys.iter().any(|k| k["key_id"].is_null()));

    // The counterfactuals: the same tokens at the catalog prices of the best and the cheapest
    // candidate.
    let c = &d["counterfactual"];
    let (input, output) = rows
        .iter()
        .filter(|r| r.input_tokens.is_some() || r.output_tokens.is_some())
        .fold((0u64, 0u64), |(i, o), r| {
            (
                i + u64::from(r.input_tokens.unwrap_or(0)),
                o + u64::from(r.output_tokens.unwrap_or(0)),
            )
        });
    assert_eq!(
        (c["input_tokens"].as_u64(), c["output_tokens"].as_u64()),
        (Some(input), Some(output))
    );
    assert_eq!(c["requests"], 5);
    let catalog = models::Catalog::embedded().unwrap();
    let price = |m: &str| {
        catalog
            .get(&ModelId::new(m))
            .unwrap()
            .spec
            .cost_usd(input as f64, output as f64)
    };
    assert_eq!(c["best"]["model"], "gpt-4o");
    assert_eq!(c["cheapest"]["model"], "gpt-4o-mini");
    assert!((c["best"]["cost_usd"].as_f64().unwrap() - price("gpt-4o")).abs() < 1e-12);
    assert!((c["cheapest"]["cost_usd"].as_f64().unwrap() - price("gpt-4o-mini")).abs() < 1e-12);

    // The mix adds up to the successful requests; the hit is its own series.
    let series = d["mix"]["series"].as_array().unwrap();
    let total: u64 = series
        .iter()
        .flat_map(|s| s["requests"].as_array().unwrap().iter())
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(total, 6);
    assert!(series.iter().any(|s| s["model"] == "cache"));

    // The last requests, newest first, the prompt text as logged (privacy full).
    let recent = d["recent"].as_array().unwrap();
    assert_eq!(recent.len(), 6);
    let newest = &recent[0];
    assert_eq!(newest["prompt"]["kind"], "full");
    assert_eq!(newest["prompt"]["text"], HOSTILE);
    assert_eq!(newest["key_name"], HOSTILE);
    assert_eq!(newest["model"], "gpt-4o");
    assert!(recent.iter().any(|r| r["cache"] == "exact"));
    assert!(recent.iter().any(|r| r["reason"] == "static_fallback"));
    h.stop().await;
}

#[tokio::test]
async fn issue_12_dashboard_refuses_bad_parameters_and_serves_a_static_page_under_a_strict_csp() {
    let h = start(&[], |raw| raw.admin.key_sha256 = Some(admin_sha256())).await;
    for (query, needle) in [
        ("?window=soon", "window"),
        ("?window=0s", "window"),
        ("?buckets=1000", "buckets"),
        ("?limit=5", "limit"),
    ] {
        let (status, body) = h.data(query, Some(ADMIN)).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{query}: {body}"
        );
    }

    let page = h.client.get(h.url("/dashboard")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "require-trusted-types-for 'script'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let html = page.text().await.unwrap();
    // Every script comes from the gateway itself; nothing is inline, nothing external.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains("<script src=\"/dashboard/app.js\""));
    assert!(!html.contains("http://") && !html.contains("https://"));
    let js = h
        .client
        .get(h.url("/dashboard/app.js"))
        .send()
        .await
        .unwrap();
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let js = js.text().await.unwrap();
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!js.contains(sink), "app.js uses {sink}");
    }
    h.stop().await;
}

#[tokio::test]
async fn issue_12_without_an_admin_key_only_a_local_gateway_without_client_keys_serves_data() {
    // Loopback, no keys: whoever can reach it may use it anyway. Prompts follow the default
    // privacy (hashed): the hash, never the text.
    let open = start(&[], |_| {}).await;
    let r = open
        .client
        .post(open.url("/v1/chat/completions"))
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "secret plans"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    open.rows().await;
    let (status, d) = open.data("", None).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["privacy"], "hashed");
    let newest = &d["recent"][0];
    assert_eq!(newest["prompt"]["kind"], "hashed");
    assert!(!d.to_string().contains("secret plans"));
    open.stop().await;

    // With a client key the gateway is not open, and without [admin] the data is off.
    let keyed = start(&["team-a"], |_| {}).await;
    let (status, body) = keyed.data("", None).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = keyed.data("", Some(&keyed.keys[0].1.clone())).await;
    assert_eq!(status, 404);
    // The page itself is public: it holds no data.
    let page = keyed
        .client
        .get(keyed.url("/dashboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    keyed.stop().await;
}

/// With `[log] postgres` the data comes from the database, counted as over the file.
#[tokio::test]
async fn the_dashboard_reads_a_postgres_log() {
    let Some(pg) = testkit::postgres::PostgresServer::start() else {
        return;
    };
    let url = outcome_log::PgUrl::new(pg.fresh_database());
    let h = start(&[], |raw| {
        raw.admin.key_sha256 = Some(admin_sha256());
        raw.cache.enabled = true;
        raw.log.postgres = Some(url);
    })
    .await;
    for (model, prompt) in [
        ("auto", "Write a haiku about routers."),
        ("gpt-4o-mini", "What is 6 times 7?"),
        ("gpt-4o-mini", "What is 6 times 7?"),
    ] {
        let r = h
            .client
            .post(h.url("/v1/chat/completions"))
            .json(&json!({
                "model": model,
                "temperature": 0.0,
                "messages": [{"role": "user", "content": prompt}],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let rows = h.rows().await;
    assert_eq!(rows.len(), 3, "the rows are in PostgreSQL");

    let (status, d) = h.data("?window=1h", Some(ADMIN)).await;
    assert_eq!(status, 200, "{d}");
    let t = &d["totals"];
    assert_eq!(
        (&t["requests"], &t["ok"], &t["routed"]),
        (&json!(3), &json!(3), &json!(1))
    );
    assert_eq!(t["cache_exact"], 1);
    let logged: f64 = rows.iter().filter_map(|r| r.cost_usd).sum();
    assert!((t["cost_usd"].as_f64().unwrap() - logged).abs() < 1e-12);
    assert_eq!(d["latency"]["count"], 2, "the hit left out");
    assert!(d["keys"][0]["key_id"].is_null());
    let recent = d["recent"].as_array().unwrap();
    assert_eq!(recent.len(), 3);
    assert_eq!(recent[0]["cache"], "exact");
    h.stop().await;
    drop(pg);
}
