//! Issue 12, the exact-match response cache, over loopback against the testkit fake: a repeated
//! deterministic request is answered once upstream; keys never share entries; sampled requests
//! are not cached by default; `x-switchyard-cache` opt-outs; TTL on the gateway's manual
//! clock; cached answers replayed as SSE (OpenAI and Anthropic) and streamed answers stored;
//! failures never stored; hits logged at cost 0, counted in `/metrics`, and never charged to a
//! key's budget.

use std::time::Duration;

use gateway::auth::{AuthClock, Budget, KeyStore, NewKey, Period};
use gateway::config::GatewayConfig;
use gateway::upstream::ProviderKind;
use gateway::RunningGateway;
use router_core::{Outcome, OutcomeStatus};
use serde_json::{json, Value};
use testkit::{FakeProvider, Scenario};

use crate::e2e_harness::{config, done_chunks, header, provider, sse_data, streamed_text};

/// 2026-12-03 12:00 UTC.
const T0_MS: u64 = 1_796_299_200_000;
const MODEL: &str = "gpt-4o-mini";

pub(crate) struct Cached {
    pub(crate) fake: FakeProvider,
    pub(crate) gw: RunningGateway,
    clock: AuthClock,
    pub(crate) client: reqwest::Client,
    /// `(id, secret)` of each created key.
    keys: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

/// A gateway with `[cache] enabled = true` (then `tweak`), the OpenAI and Anthropic dialects
/// on one fake, `keys` created first, on a manual clock.
pub(crate) async fn start(keys: &[NewKey], tweak: impl FnOnce(&mut GatewayConfig)) -> Cached {
    let dir = tempfile::tempdir().unwrap();
    let mut created = Vec::new();
    {
        let mut store = KeyStore::open(&dir.path().join("outcomes.sqlite")).unwrap();
        for k in keys {
            let (record, key) = store.create(k, T0_MS).unwrap();
            created.push((record.id, key.expose().clone()));
        }
    }
    let fake = FakeProvider::start().await;
    let providers = vec![
        provider("openai", ProviderKind::Openai, &fake.openai_base_url()),
        provider("anthropic", ProviderKind::Anthropic, &fake.base_url()),
    ];
    let cfg = config(dir.path(), providers, &[MODEL], |raw| {
        raw.cache.enabled = true;
        tweak(raw);
    });
    let clock = AuthClock::manual(T0_MS);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = gateway::spawn_with_clock(cfg, listener, None, clock.clone())
        .await
        .unwrap();
    Cached {
        fake,
        gw,
        clock,
        client: reqwest::Client::new(),
        keys: created,
        _dir: dir,
    }
}

impl Cached {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gw.local_addr())
    }

    /// `POST path` with a raw JSON body and extra headers.
    async fn post(&self, path: &str, body: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut req = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    pub(crate) async fn chat(&self, body: &Value, headers: &[(&str, &str)]) -> reqwest::Response {
        self.post("/v1/chat/completions", &body.to_string(), headers)
            .await
    }

    async fn rows(&self) -> Vec<Outcome> {
        self.gw.wait_idle().await;
        self.gw.outcome_log().flush().await;
        gateway::read_outcomes(self.gw.outcome_log().location()).unwrap()
    }

    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.gw.metrics().counter_value(name, labels)
    }

    pub(crate) async fn stop(self) {
        self.gw.shutdown().await.unwrap();
        self.fake.shutdown().await;
    }
}

pub(crate) fn body(prompt: &str, temperature: f64) -> Value {
    json!({
        "model": MODEL,
        "temperature": temperature,
        "messages": [{"role": "user", "content": prompt}],
    })
}

pub(crate) fn cache_header(resp: &reqwest::Response) -> String {
    header(resp, "x-switchyard-cache").to_owned()
}

pub(crate) async fn content(resp: reqwest::Response) -> String {
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_repeated_deterministic_request_is_answered_once_upstream() {
    let h = start(&[], |_| {}).await;
    h.fake
        .script(MODEL, [Scenario::reply("the one upstream answer")]);
    let first = h.chat(&body("What is 2+2?", 0.0), &[]).await;
    assert_eq!(cache_header(&first), "miss");
    let first_id = header(&first, "x-switchyard-request-id").to_owned();
    let first_text = content(first).await;

    // The same request with its fields in another order.
    let reordered = r#"{"messages":[{"content":"What is 2+2?","role":"user"}],"temperature":0,"model":"gpt-4o-mini"}"#;
    let second = h.post("/v1/chat/completions", reordered, &[]).await;
    assert_eq!(cache_header(&second), "hit");
    assert_eq!(header(&second, "x-switchyard-model"), MODEL);
    assert_eq!(header(&second, "x-switchyard-cost-usd"), "0.00000000");
    let second_id = header(&second, "x-switchyard-request-id").to_owned();
    assert_ne!(first_id, second_id, "a hit is a request of its own");
    assert_eq!(content(second).await, first_text);
    assert_eq!(first_text, "the one upstream answer");
    assert_eq!(h.fake.calls(MODEL), 1, "the fake saw exactly one call");

    let rows = h.rows().await;
    assert_eq!(rows.len(), 2);
    let miss = rows.iter().find(|r| r.request_id == first_id).unwrap();
    let hit = rows.iter().find(|r| r.request_id == second_id).unwrap();
    let paid = miss.cost_usd.unwrap();
    assert!(paid > 0.0 && miss.cache_hit.is_none());
    assert_eq!(hit.status, OutcomeStatus::Ok);
    assert_eq!(hit.cost_usd, Some(0.0));
    assert!(hit.attempts.is_empty() && hit.decision.is_none());
    let saved = hit.cache_hit.as_ref().unwrap();
    assert_eq!(saved.source_request_id, first_id);
    assert_eq!(saved.saved_usd, paid);

    let total = "switchyard_response_cache_total";
    assert_eq!(h.counter(total, &[("result", "hit")]), 1.0);
    assert_eq!(h.counter(total, &[("result", "miss")]), 1.0);
    assert_eq!(
        h.counter("switchyard_response_cache_saved_usd_total", &[]),
        paid
    );
    let text = h
        .client
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("switchyard_response_cache_total{result=\"hit\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("switchyard_response_cache_entries 1"),
        "{text}"
    );
    assert!(text.contains("# TYPE switchyard_response_cache_bytes gauge"));
    h.stop().await;
}

#[tokio::test]
async fn client_keys_never_share_entries_and_hits_are_not_charged() {
    let tiny = Budget {
        limit_usd: 1e-9,
        period: Period::Day,
    };
    let keys = [
        NewKey {
            name: "a".to_owned(),
            budget: Some(tiny),
            ..NewKey::default()
        },
        NewKey {
            name: "b".to_owned(),
            ..NewKey::default()
        },
    ];
    let h = start(&keys, |_| {}).await;
    let (a_id, a) = h.keys[0].clone();
    let (_, b) = h.keys[1].clone();
    let auth = |k: &str| format!("Bearer {k}");
    let q = body("Name a colour.", 0.0);

    let miss = h.chat(&q, &[("authorization", &auth(&a))]).await;
    assert_eq!(cache_header(&miss), "miss");
    let spent = h.gw.state().auth.ledger().usage(&a_id, tiny);
    assert!(spent.0 > 1e-9, "the miss was charged: {spent:?}");

    // Key a's budget is now spent: a new prompt is refused, the cached one is still served,
    // and serving it charges nothing.
    let refused = h
        .chat(
            &body("Another prompt.", 0.0),
            &[("authorization", &auth(&a))],
        )
        .await;
    assert_eq!(refused.status(), 429);
    let hit = h.chat(&q, &[("authorization", &auth(&a))]).await;
    assert_eq!(hit.status(), 200);
    assert_eq!(cache_header(&hit), "hit");
    assert_eq!(
        h.gw.state().auth.ledger().usage(&a_id, tiny),
        spent,
        "a hit is not charged"
    );

    let other_key = h.chat(&q, &[("authorization", &auth(&b))]).await;
    assert_eq!(other_key.status(), 200);
    assert_eq!(
        cache_header(&other_key),
        "miss",
        "key b cannot read key a's entry"
    );
    assert_eq!(h.fake.calls(MODEL), 2);

    let rows = h.rows().await;
    let hit_row = rows.iter().find(|r| r.cache_hit.is_some()).unwrap();
    assert_eq!(hit_row.key_id.as_deref(), Some(a_id.as_str()));
    h.stop().await;
}

#[tokio::test]
async fn sampled_requests_are_not_cached_unless_seeded_or_configured() {
    let h = start(&[], |_| {}).await;
    let sampled = body("Write a haiku.", 0.7);
    for _ in 0..2 {
        let r = h.chat(&sampled, &[]).await;
        assert_eq!(r.status(), 200);
        assert_eq!(cache_header(&r), "bypass");
    }
    assert_eq!(h.fake.calls(MODEL), 2);

    let mut seeded = sampled.clone();
    seeded["seed"] = json!(42);
    assert_eq!(cache_header(&h.chat(&seeded, &[]).await), "miss");
    assert_eq!(cache_header(&h.chat(&seeded, &[]).await), "hit");
    assert_eq!(h.fake.calls(MODEL), 3);
    h.stop().await;

    let everything = start(&[], |raw| raw.cache.deterministic_only = false).await;
    assert_eq!(cache_header(&everything.chat(&sampled, &[]).await), "miss");
    assert_eq!(cache_header(&everything.chat(&sampled, &[]).await), "hit");
    everything.stop().await;
}

#[tokio::test]
async fn opt_out_headers_skip_reading_and_storing() {
    let h = start(&[], |_| {}).await;
    h.fake.script(
        MODEL,
        [
            Scenario::reply("private 1"),
            Scenario::reply("private 2"),
            Scenario::reply("v1"),
            Scenario::reply("v2"),
        ],
    );
    let private = body("My secret prompt.", 0.0);
    let no_store = [("x-switchyard-cache", "no-store")];
    let r = h.chat(&private, &no_store).await;
    assert_eq!(cache_header(&r), "bypass");
    assert_eq!(content(r).await, "private 1");
    let r = h.chat(&private, &[]).await;
    assert_eq!(cache_header(&r), "miss", "no-store stored nothing");
    assert_eq!(content(r).await, "private 2");

    let q = body("Refresh me.", 0.0);
    assert_eq!(content(h.chat(&q, &[]).await).await, "v1");
    // no-cache: not read, but the fresh answer replaces the stored one.
    let refresh = h.chat(&q, &[("x-switchyard-cache", "no-cache")]).await;
    assert_eq!(cache_header(&refresh), "bypass");
    assert_eq!(content(refresh).await, "v2");
    let r = h.chat(&q, &[]).await;
    assert_eq!(cache_header(&r), "hit");
    assert_eq!(content(r).await, "v2");
    assert_eq!(h.fake.calls(MODEL), 4);

    let bad = h.chat(&q, &[("x-switchyard-cache", "never")]).await;
    assert_eq!(bad.status(), 400);
    let err: Value = bad.json().await.unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("x-switchyard-cache"),
        "{err}"
    );
    h.stop().await;
}

#[tokio::test]
async fn entries_expire_after_the_ttl_on_the_gateway_clock() {
    let h = start(&[], |raw| raw.cache.ttl = Duration::from_secs(60)).await;
    let q = body("Tick?", 0.0);
    assert_eq!(cache_header(&h.chat(&q, &[]).await), "miss");
    h.clock.advance(Duration::from_secs(59));
    assert_eq!(cache_header(&h.chat(&q, &[]).await), "hit");
    h.clock.advance(Duration::from_secs(1));
    assert_eq!(cache_header(&h.chat(&q, &[]).await), "miss", "expired");
    assert_eq!(h.fake.calls(MODEL), 2);
    h.stop().await;
}

#[tokio::test]
async fn cached_answers_replay_as_valid_streams_and_streams_are_stored() {
    let h = start(&[], |_| {}).await;
    h.fake.script(MODEL, [Scenario::reply("stored once")]);
    let q = body("Stream me.", 0.0);
    assert_eq!(content(h.chat(&q, &[]).await).await, "stored once");

    let mut streamed = q.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let r = h.chat(&streamed, &[]).await;
    assert_eq!(cache_header(&r), "hit");
    assert!(header(&r, "content-type").starts_with("text/event-stream"));
    let chunks = done_chunks(&r.text().await.unwrap());
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    assert_eq!(streamed_text(&chunks), "stored once");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str());
    assert_eq!(finish, Some("stop"));
    let usage = &chunks.last().unwrap()["usage"];
    assert!(usage["completion_tokens"].as_u64().unwrap() > 0, "{usage}");

    // Without include_usage there is no usage chunk.
    streamed.as_object_mut().unwrap().remove("stream_options");
    let chunks = done_chunks(&h.chat(&streamed, &[]).await.text().await.unwrap());
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "{chunks:?}"
    );

    // A streamed miss is stored once it completed, and then serves a plain request.
    let mut other = body("Stream first.", 0.0);
    other["stream"] = json!(true);
    let r = h.chat(&other, &[]).await;
    assert_eq!(cache_header(&r), "miss");
    let live_text = streamed_text(&done_chunks(&r.text().await.unwrap()));
    other["stream"] = json!(false);
    let r = h.chat(&other, &[]).await;
    assert_eq!(cache_header(&r), "hit");
    assert_eq!(content(r).await, live_text);
    assert_eq!(h.fake.calls(MODEL), 2);
    h.stop().await;
}

#[tokio::test]
async fn messages_share_the_cache_in_anthropics_shape() {
    let h = start(&[], |_| {}).await;
    h.fake.script(MODEL, [Scenario::reply("bonjour")]);
    let q = json!({"model": MODEL, "max_tokens": 64, "temperature": 0,
                   "messages": [{"role": "user", "content": "Say hello in French."}]});
    let first = h.post("/v1/messages", &q.to_string(), &[]).await;
    assert_eq!(cache_header(&first), "miss");
    let second = h.post("/v1/messages", &q.to_string(), &[]).await;
    assert_eq!(cache_header(&second), "hit");
    let v: Value = second.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["content"][0]["text"], "bonjour");

    let mut streamed = q.clone();
    streamed["stream"] = json!(true);
    let r = h.post("/v1/messages", &streamed.to_string(), &[]).await;
    assert_eq!(cache_header(&r), "hit");
    let text = r.text().await.unwrap();
    let events: Vec<Value> = sse_data(&text)
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(events.first().unwrap()["type"], "message_start");
    assert_eq!(events.last().unwrap()["type"], "message_stop");
    assert!(
        events.iter().any(|e| e["delta"]["text"] == "bonjour"),
        "{text}"
    );
    assert_eq!(h.fake.calls(MODEL), 1);
    h.stop().await;
}

#[tokio::test]
async fn failed_or_cut_answers_are_never_stored() {
    let h = start(&[], |raw| raw.retries.max_attempts = 1).await;
    h.fake.script(MODEL, [Scenario::status(500)]);
    let q = body("Fail first.", 0.0);
    let failed = h.chat(&q, &[]).await;
    assert!(failed.status().is_server_error(), "{}", failed.status());
    let r = h.chat(&q, &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(cache_header(&r), "miss", "the failure was not stored");

    h.fake.script(MODEL, [Scenario::Disconnect]);
    let mut streamed = body("Cut me off.", 0.0);
    streamed["stream"] = json!(true);
    let cut = h.chat(&streamed, &[]).await.text().await.unwrap();
    assert_ne!(sse_data(&cut).last().map(String::as_str), Some("[DONE]"));
    let r = h.chat(&streamed, &[]).await;
    assert_eq!(cache_header(&r), "miss", "the cut stream was not stored");
    done_chunks(&r.text().await.unwrap());
    assert_eq!(cache_header(&h.chat(&streamed, &[]).await), "hit");
    h.stop().await;
}

/// Polls `cond` every 5 ms for up to 10 s (state reached by other tasks, not a timing target).
async fn until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..2000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn identical_requests_in_flight_share_one_upstream_call() {
    let h = std::sync::Arc::new(start(&[], |_| {}).await);
    let release = testkit::Release::new();
    h.fake.script(
        MODEL,
        [
            Scenario::held(&release, "the shared answer"),
            Scenario::status(500),
            Scenario::reply("after a failure, each its own"),
            Scenario::reply("after a failure, each its own"),
        ],
    );
    let ask = |h: std::sync::Arc<Cached>, stream: bool| async move {
        let mut b = body("What is the tallest mountain?", 0.0);
        b["stream"] = json!(stream);
        let resp = h.chat(&b, &[]).await;
        let served = cache_header(&resp);
        let text = if stream {
            streamed_text(&done_chunks(&resp.text().await.unwrap()))
        } else {
            content(resp).await
        };
        (served, text)
    };
    let tasks = tokio_util::task::TaskTracker::new();
    let leader = tasks.spawn(ask(h.clone(), false));
    until("the leader's upstream call", || h.fake.calls(MODEL) == 1).await;
    let followers: Vec<_> = [false, true]
        .into_iter()
        .map(|stream| tasks.spawn(ask(h.clone(), stream)))
        .collect();
    until("both followers waiting", || {
        h.counter("switchyard_response_cache_waits_total", &[]) == 2.0
    })
    .await;
    release.open();
    assert_eq!(
        leader.await.unwrap(),
        ("miss".to_owned(), "the shared answer".to_owned())
    );
    for f in followers {
        assert_eq!(
            f.await.unwrap(),
            ("coalesced".to_owned(), "the shared answer".to_owned())
        );
    }
    assert_eq!(
        h.fake.calls(MODEL),
        1,
        "one upstream call for three requests"
    );
    let total = "switchyard_response_cache_total";
    assert_eq!(h.counter(total, &[("result", "coalesced")]), 2.0);
    assert_eq!(h.counter(total, &[("result", "miss")]), 1.0);
    let rows = h.rows().await;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows.iter().filter(|r| r.cache_hit.is_some()).count(), 2);
    // The rows say how they were served (the dashboard tells coalesced from exact hits).
    assert!(rows
        .iter()
        .filter_map(|r| r.cache_hit.as_ref())
        .all(|hit| hit.coalesced));

    std::sync::Arc::try_unwrap(h).ok().unwrap().stop().await;
}

#[tokio::test]
async fn followers_of_a_failed_leader_call_upstream_themselves() {
    // One attempt of at most 2 s: the held leader times out while its followers wait.
    let h = std::sync::Arc::new(
        start(&[], |raw| {
            raw.timeouts.attempt = Duration::from_secs(2);
            raw.retries.max_attempts = 1;
        })
        .await,
    );
    let release = testkit::Release::new();
    h.fake.script(
        MODEL,
        [
            Scenario::held(&release, "too late"),
            Scenario::reply("own answer"),
            Scenario::reply("own answer"),
        ],
    );
    let ask = |h: std::sync::Arc<Cached>| async move {
        let resp = h.chat(&body("What is the deepest lake?", 0.0), &[]).await;
        // Error answers carry no cache header.
        let served = resp
            .headers()
            .get("x-switchyard-cache")
            .map(|v| v.to_str().unwrap().to_owned());
        (resp.status().as_u16(), served)
    };
    let tasks = tokio_util::task::TaskTracker::new();
    let leader = tasks.spawn(ask(h.clone()));
    until("the leader's upstream call", || h.fake.calls(MODEL) == 1).await;
    let followers: Vec<_> = (0..2).map(|_| tasks.spawn(ask(h.clone()))).collect();
    until("both followers waiting", || {
        h.counter("switchyard_response_cache_waits_total", &[]) == 2.0
    })
    .await;
    let (status, _) = leader.await.unwrap();
    assert!(status >= 500, "the leader timed out: {status}");
    for f in followers {
        assert_eq!(f.await.unwrap(), (200, Some("miss".to_owned())));
    }
    assert_eq!(h.fake.calls(MODEL), 3, "each follower made its own call");
    release.open();
    std::sync::Arc::try_unwrap(h).ok().unwrap().stop().await;
}

/// Opens a raw connection, sends a streamed request for `prompt` and never reads the answer:
/// a client that keeps its connection open but stopped reading. The socket is returned so that
/// it stays open.
async fn stalled_stream(h: &Cached, prompt: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut b = body(prompt, 0.0);
    b["stream"] = json!(true);
    let b = b.to_string();
    // A small receive window: the gateway's side fills up sooner.
    let raw = tokio::net::TcpSocket::new_v4().unwrap();
    raw.set_recv_buffer_size(4096).unwrap();
    let mut socket = raw.connect(h.gw.local_addr()).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        b.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(b.as_bytes()).await.unwrap();
    until("the stalled stream's upstream call", || {
        h.fake.calls(MODEL) == 1
    })
    .await;
    socket
}

/// Far more than the socket buffers and the relay's channel hold, under a raised size limit:
/// the relay ends up waiting for a client that does not read.
fn huge_stream(raw: &mut GatewayConfig) {
    raw.server.upstream_response_limit_bytes = 1 << 30;
}
const HUGE: Scenario = Scenario::Huge { bytes: 512 << 20 };

#[tokio::test]
async fn shutdown_ends_a_stream_whose_client_stopped_reading() {
    let grace = Duration::from_millis(300);
    let h = start(&[], |raw| {
        huge_stream(raw);
        raw.server.shutdown_grace = grace;
        raw.server.idle_timeout = Duration::from_secs(3600);
    })
    .await;
    h.fake.script(MODEL, [HUGE]);
    let _socket = stalled_stream(&h, "Recite everything.").await;
    // Time for the socket buffers and the relay's channel to fill: the relay is then waiting
    // for the client, not for the upstream, when the shutdown begins.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let path = h.gw.outcome_log().location().to_owned();
    // The connections get 2 s after the grace to send their last bytes.
    tokio::time::timeout(grace + Duration::from_secs(5), h.gw.shutdown())
        .await
        .expect("shutdown is bounded by the grace period")
        .unwrap();
    let rows = gateway::read_outcomes(&path).unwrap();
    assert_eq!(rows.len(), 1);
    // Ended by the shutdown (not by the connection's drop, which reads as a client gone).
    assert_eq!(rows[0].status, OutcomeStatus::StreamInterrupted);
    assert_eq!(
        rows[0].attempts.last().unwrap().error.as_deref(),
        Some("shutdown")
    );
    h.fake.shutdown().await;
}

#[tokio::test]
async fn a_stream_whose_client_stopped_reading_ends_at_its_deadline() {
    let h = start(&[], |raw| {
        huge_stream(raw);
        raw.timeouts.total = Duration::from_secs(2);
        raw.circuit_breaker.failures_to_open = 1;
        raw.server.shutdown_grace = Duration::from_millis(300);
        raw.server.idle_timeout = Duration::from_secs(3600);
    })
    .await;
    h.fake
        .script(MODEL, [HUGE, Scenario::reply("an answer of its own")]);
    let _socket = stalled_stream(&h, "Recite it all.").await;
    // The stream's row is written once its deadline passed, though its client still holds
    // the connection open.
    let rows = tokio::time::timeout(Duration::from_secs(10), h.rows())
        .await
        .expect("the stalled stream ended at its deadline");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, OutcomeStatus::StreamInterrupted);
    assert_eq!(
        rows[0].attempts.last().unwrap().error.as_deref(),
        Some("timeout")
    );
    // The stalled client's fault: the serving provider's breaker (opened by one failure
    // here) did not count it.
    assert_eq!(
        h.counter("switchyard_circuit_opened_total", &[("provider", "openai")]),
        0.0
    );
    // An identical request no longer waits behind it, and its model is still served.
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        h.chat(&body("Recite it all.", 0.0), &[]),
    )
    .await
    .expect("not parked behind the stalled stream");
    assert_eq!(content(resp).await, "an answer of its own");
    h.stop().await;
}

#[tokio::test]
async fn a_follower_of_a_long_stream_keeps_time_for_its_own_call() {
    // The leader's stream outlives the follower's whole request deadline.
    let h = start(&[], |raw| {
        raw.timeouts.request = Duration::from_secs(3);
        raw.timeouts.attempt = Duration::from_secs(1);
        raw.timeouts.ttft = Duration::from_secs(1);
        raw.timeouts.total = Duration::from_secs(60);
        raw.timeouts.idle = Duration::from_secs(60);
        raw.server.shutdown_grace = Duration::from_millis(300);
    })
    .await;
    h.fake.script(
        MODEL,
        [
            Scenario::StallAfterFirstChunk,
            Scenario::reply("own answer"),
        ],
    );
    let mut streamed = body("What is the longest river?", 0.0);
    streamed["stream"] = json!(true);
    // Committed (200, first token sent), then silent; the response is kept so that its
    // client does not go.
    let leader = h.chat(&streamed, &[]).await;
    assert_eq!(leader.status(), 200);
    let started = std::time::Instant::now();
    let follower = h.chat(&body("What is the longest river?", 0.0), &[]).await;
    assert_eq!(h.counter("switchyard_response_cache_waits_total", &[]), 1.0);
    assert_eq!(
        follower.status(),
        200,
        "the follower had time for its own call"
    );
    assert_eq!(cache_header(&follower), "miss");
    assert_eq!(content(follower).await, "own answer");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(h.fake.calls(MODEL), 2);
    drop(leader);
    h.stop().await;
}

/// Review F2: a pinned request that failed over to another model is answered, but that
/// answer is not stored under the pinned model's key (after the outage the pinned model
/// answers again); a streamed one neither.
#[tokio::test]
async fn a_failover_answer_is_not_stored_under_the_requested_model() {
    let h = start(&[], |raw| {
        raw.router.candidates = Some(vec![
            router_core::ModelId::new(MODEL),
            router_core::ModelId::new("gpt-4o"),
        ]);
        raw.retries.max_attempts = 2;
    })
    .await;
    for stream in [false, true] {
        h.fake.script(MODEL, [Scenario::status(500)]);
        let mut q = body(&format!("Which model am I? stream={stream}"), 0.0);
        q["stream"] = json!(stream);
        let r = h.chat(&q, &[]).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-switchyard-model"), "gpt-4o", "failed over");
        assert_eq!(cache_header(&r), "miss");
        let _ = r.bytes().await.unwrap();
        h.gw.wait_idle().await;
        // The pinned model is back: it answers, not the stored fallback.
        let r = h.chat(&q, &[]).await;
        assert_eq!(header(&r, "x-switchyard-model"), MODEL, "stream={stream}");
        assert_eq!(cache_header(&r), "miss", "stream={stream}");
        let _ = r.bytes().await.unwrap();
        h.gw.wait_idle().await;
        // Its own answer is stored.
        let r = h.chat(&q, &[]).await;
        assert_eq!(cache_header(&r), "hit", "stream={stream}");
        assert_eq!(header(&r, "x-switchyard-model"), MODEL);
        let _ = r.bytes().await.unwrap();
    }
    h.stop().await;
}

/// Review F3: the shared (Redis) tier outlives a config change; an answer stored under one
/// config (here without answer masking) is not served under another (with it), which masks
/// its own answer.
#[tokio::test]
async fn answers_stored_under_another_config_are_not_served() {
    let Some(redis) = testkit::redis::RedisServer::start() else {
        return;
    };
    let shared = |masked: bool| {
        let url = redis.url();
        move |raw: &mut GatewayConfig| {
            raw.redis = Some(crate::common::redis(url, "cachefp:"));
            raw.cache.shared = true;
            if masked {
                raw.guardrails = Some(toml::from_str("enabled = true\nresponses = true").unwrap());
            }
        }
    };
    let email = "jane.doe@example.com";
    let plain = start(&[], shared(false)).await;
    plain
        .fake
        .script(MODEL, [Scenario::reply(format!("Write to {email}."))]);
    let q = body("Who do I write to?", 0.0);
    let r = plain.chat(&q, &[]).await;
    assert_eq!(cache_header(&r), "miss");
    assert_eq!(content(r).await, format!("Write to {email}."));
    plain.gw.wait_idle().await;

    // Another replica on the same config reads it from Redis.
    let same = start(&[], shared(false)).await;
    let r = same.chat(&q, &[]).await;
    assert_eq!(cache_header(&r), "hit");
    let _ = r.bytes().await.unwrap();

    let masking = start(&[], shared(true)).await;
    masking
        .fake
        .script(MODEL, [Scenario::reply(format!("Write to {email}."))]);
    let r = masking.chat(&q, &[]).await;
    assert_eq!(
        cache_header(&r),
        "miss",
        "another config, another namespace"
    );
    assert_eq!(content(r).await, "Write to [EMAIL].");
    for h in [plain, same, masking] {
        h.stop().await;
    }
}

/// A raw OpenAI completion whose one choice says `text` (or nothing) and ends with `finish`.
fn raw_completion(text: Option<&str>, finish: Option<&str>) -> Scenario {
    Scenario::Raw {
        code: 200,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: json!({
            "id": "chatcmpl-raw", "object": "chat.completion", "created": 1,
            "model": MODEL,
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        })
        .to_string(),
    }
}

/// Review F4: a provider-blocked, abnormal, unfinished or empty answer is relayed but not
/// stored, so the client's retry goes upstream again.
#[tokio::test]
async fn blocked_empty_or_abnormal_answers_are_not_stored() {
    let h = start(&[], |_| {}).await;
    for (i, scenario) in [
        raw_completion(Some("I cannot recite that."), Some("content_filter")),
        raw_completion(Some("partial"), Some("recitation")),
        raw_completion(Some("no reason"), None),
        raw_completion(None, Some("length")),
        raw_completion(Some(""), Some("stop")),
    ]
    .into_iter()
    .enumerate()
    {
        h.fake.script(MODEL, [scenario.clone()]);
        let q = body(&format!("Blocked {i}?"), 0.0);
        let r = h.chat(&q, &[]).await;
        assert_eq!(r.status(), 200, "{scenario:?}");
        assert_eq!(cache_header(&r), "miss");
        let _ = r.bytes().await.unwrap();
        h.gw.wait_idle().await;
        let r = h.chat(&q, &[]).await;
        assert_eq!(cache_header(&r), "miss", "not stored: {scenario:?}");
        let _ = r.bytes().await.unwrap();
    }
    // A normal answer cut at its length limit is still stored.
    h.fake.script(
        MODEL,
        [raw_completion(Some("cut at the limit"), Some("length"))],
    );
    let q = body("Long answer?", 0.0);
    assert_eq!(cache_header(&h.chat(&q, &[]).await), "miss");
    h.gw.wait_idle().await;
    assert_eq!(cache_header(&h.chat(&q, &[]).await), "hit");
    h.stop().await;
}

/// Review F5: a streamed request with `logprobs` can never be stored, so it neither reads
/// nor writes (and never waits behind an identical one).
#[tokio::test]
async fn streamed_logprobs_requests_bypass_the_cache() {
    let h = start(&[], |_| {}).await;
    let mut q = body("With logprobs.", 0.0);
    q["stream"] = json!(true);
    q["logprobs"] = json!(true);
    for _ in 0..2 {
        let r = h.chat(&q, &[]).await;
        assert_eq!(r.status(), 200);
        assert_eq!(cache_header(&r), "bypass");
        done_chunks(&r.text().await.unwrap());
    }
    // Not streamed, the same request is cached (the completion carries its logprobs).
    q["stream"] = json!(false);
    assert_eq!(cache_header(&h.chat(&q, &[]).await), "miss");
    assert_eq!(cache_header(&h.chat(&q, &[]).await), "hit");
    h.stop().await;
}
