//! Issue 13, shared limits: two gateways on port 0 share one real `redis-server` and one
//! client key, so the key's limits (RPM, TPM, budget) hold across both; with Redis down a
//! gateway falls back to its own counters (`on_unavailable = "local"`) or answers 503
//! (`"refuse"`), and recovers when Redis comes back. Skips loudly when `redis-server` is not
//! installed.

use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use gateway::auth::{AuthClock, Budget, KeyStore, NewKey, Period};
use gateway::config::{OnUnavailable, RedisConfig};
use gateway::upstream::ProviderKind;
use gateway::RunningGateway;
use serde_json::{json, Value};
use testkit::redis::RedisServer;
use testkit::{FakeProvider, Scenario, Usage};

use crate::e2e_harness::{config, provider};

/// 2026-12-03 12:00 UTC.
const T0_MS: u64 = 1_796_299_200_000;

struct Replicas {
    fake: FakeProvider,
    gws: Vec<RunningGateway>,
    client: reqwest::Client,
    key: String,
    key_id: String,
    _dirs: Vec<tempfile::TempDir>,
}

/// `replicas` gateways, each with its own copy of one key database (the same key id and
/// hash, as replicas of one deployment would have), all on `redis`.
async fn start(
    redis: &RedisServer,
    new: NewKey,
    on_unavailable: OnUnavailable,
    replicas: usize,
) -> Replicas {
    start_with(redis, new, on_unavailable, replicas, |_| {}).await
}

/// [`start`] with more settings applied to every replica's config.
async fn start_with(
    redis: &RedisServer,
    new: NewKey,
    on_unavailable: OnUnavailable,
    replicas: usize,
    more: impl Fn(&mut gateway::config::GatewayConfig),
) -> Replicas {
    // One manual clock for all, as if their NTP clocks agreed exactly.
    let clocks = vec![AuthClock::manual(T0_MS); replicas];
    start_clocked(redis, new, on_unavailable, clocks, more).await
}

/// [`start_with`], one replica per clock: a replica started later has a clock whose wall time
/// is later and whose monotonic time starts at zero.
async fn start_clocked(
    redis: &RedisServer,
    new: NewKey,
    on_unavailable: OnUnavailable,
    clocks: Vec<AuthClock>,
    more: impl Fn(&mut gateway::config::GatewayConfig),
) -> Replicas {
    let replicas = clocks.len();
    let first = tempfile::tempdir().unwrap();
    let db = first.path().join("outcomes.sqlite");
    let (key_id, key) = {
        let mut store = KeyStore::open(&db).unwrap();
        let (record, key) = store.create(&new, T0_MS).unwrap();
        (record.id, key.expose().clone())
    };
    let mut dirs = vec![first];
    for _ in 1..replicas {
        let dir = tempfile::tempdir().unwrap();
        copy_db(dirs[0].path(), dir.path());
        dirs.push(dir);
    }
    let fake = FakeProvider::start().await;
    let mut gws = Vec::new();
    for (dir, clock) in dirs.iter().zip(clocks) {
        let cfg = config(
            dir.path(),
            vec![provider(
                "openai",
                ProviderKind::Openai,
                &fake.openai_base_url(),
            )],
            &["gpt-4o-mini"],
            |c| {
                c.redis = Some(RedisConfig {
                    on_unavailable,
                    ..crate::common::redis(redis.url(), "it:")
                });
                more(c);
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        gws.push(
            gateway::spawn_with_clock(cfg, listener, None, clock)
                .await
                .unwrap(),
        );
    }
    Replicas {
        fake,
        gws,
        client: reqwest::Client::new(),
        key,
        key_id,
        _dirs: dirs,
    }
}

fn rpm(n: u32) -> NewKey {
    NewKey {
        name: "app".to_owned(),
        rpm: NonZeroU32::new(n),
        ..NewKey::default()
    }
}

fn copy_db(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

impl Replicas {
    async fn chat(&self, replica: usize) -> reqwest::Response {
        self.client
            .post(format!(
                "http://{}/v1/chat/completions",
                self.gws[replica].local_addr()
            ))
            .bearer_auth(&self.key)
            .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap()
    }

    /// One chat on `replica` once it is idle again: how the cache served it, its request id
    /// and the answer's text.
    async fn ask(&self, replica: usize) -> (String, String, String) {
        let resp = self.chat(replica).await;
        assert_eq!(resp.status(), 200);
        let header = |name: &str| resp.headers()[name].to_str().unwrap().to_owned();
        let (served, id) = (
            header("x-switchyard-cache"),
            header("x-switchyard-request-id"),
        );
        let answer: Value = resp.json().await.unwrap();
        let text = answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned();
        self.gws[replica].wait_idle().await;
        (served, id, text)
    }

    async fn metrics(&self, replica: usize) -> String {
        self.client
            .get(format!("http://{}/metrics", self.gws[replica].local_addr()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn issue_13_two_gateways_on_one_redis_admit_one_rpm_limit() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let h = start(&redis, rpm(5), OnUnavailable::Refuse, 2).await;
    let mut statuses = Vec::new();
    for i in 0..12 {
        statuses.push(h.chat(i % 2).await.status().as_u16());
    }
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((admitted, limited), (5, 7), "{statuses:?}");
}

#[tokio::test]
async fn issue_13_redis_down_refuse_answers_503_and_recovers() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let h = start(&redis, rpm(100), OnUnavailable::Refuse, 1).await;
    assert_eq!(h.chat(0).await.status(), 200);

    redis.stop();
    let resp = h.chat(0).await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "limits_unavailable");
    assert_eq!(body["error"]["type"], "server_error");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("unavailable"));

    redis.restart().unwrap();
    // The gateway reconnects on a backoff timer: nothing to await but its next success, so
    // poll with a bound.
    let mut status = 0;
    for _ in 0..100 {
        status = h.chat(0).await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 200, "no recovery within 5 s of Redis coming back");
    assert!(h
        .metrics(0)
        .await
        .contains("switchyard_redis_unavailable_total{op=\"requests\",action=\"refused\"}"));
}

#[tokio::test]
async fn issue_13_redis_down_local_counts_in_process() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let h = start(&redis, rpm(2), OnUnavailable::Local, 1).await;
    assert_eq!(h.chat(0).await.status(), 200);
    redis.stop();
    // The replica's own limiter has seen none of the shared traffic: a full burst of 2.
    assert_eq!(h.chat(0).await.status(), 200);
    assert_eq!(h.chat(0).await.status(), 200);
    assert_eq!(h.chat(0).await.status(), 429);
    let metrics = h.metrics(0).await;
    assert!(
        metrics.contains("switchyard_redis_unavailable_total{op=\"requests\",action=\"local\"} 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn issue_13_two_gateways_on_one_redis_spend_one_budget() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    // Less than any request costs: the first one admitted spends it all. Per process, each
    // replica would admit one.
    let key = NewKey {
        name: "app".to_owned(),
        budget: Some(Budget {
            limit_usd: 1e-9,
            period: Period::Day,
        }),
        ..NewKey::default()
    };
    let h = start(&redis, key, OnUnavailable::Refuse, 2).await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let resp = h.chat(i % 2).await;
        statuses.push(resp.status().as_u16());
        if resp.status() == 429 {
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"]["code"], "insufficient_quota");
        }
        h.gws[i % 2].wait_idle().await;
    }
    assert_eq!(statuses, [200, 429, 429, 429, 429, 429]);
}

/// Every answer of the fake uses 400 + 1000 tokens: 0.00066 USD of gpt-4o-mini.
fn big_answers(fake: &FakeProvider) {
    fake.always(
        "gpt-4o-mini",
        Scenario::Ok {
            reply: Some("fine".to_owned()),
            usage: Some(Usage {
                input_tokens: 400,
                output_tokens: 1000,
            }),
        },
    );
}

#[tokio::test]
async fn issue_13_a_budget_settled_on_one_gateway_is_spent_on_the_other() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let budget = Budget {
        limit_usd: 0.001,
        period: Period::Day,
    };
    let key = NewKey {
        name: "app".to_owned(),
        budget: Some(budget),
        ..NewKey::default()
    };
    let h = start(&redis, key, OnUnavailable::Refuse, 2).await;
    big_answers(&h.fake);
    assert_eq!(h.chat(0).await.status(), 200);
    h.gws[0].wait_idle().await;
    // 0.00066 of 0.001 spent, seen from both replicas: one more is admitted...
    for gw in &h.gws {
        let (spent, reserved) = gw.state().auth.usage(&h.key_id, budget).await;
        assert!((spent - 0.00066).abs() < 1e-9, "{spent}");
        assert_eq!(reserved, 0.0);
    }
    assert_eq!(h.chat(1).await.status(), 200);
    h.gws[1].wait_idle().await;
    // ...then the key is out on both until the next UTC day.
    assert_eq!(h.chat(0).await.status(), 429);
    assert_eq!(h.chat(1).await.status(), 429);
    let (spent, _) = h.gws[0].state().auth.usage(&h.key_id, budget).await;
    assert!((spent - 0.00132).abs() < 1e-9, "{spent}");
}

#[tokio::test]
async fn issue_13_tokens_used_on_one_gateway_are_missing_on_the_other() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let key = NewKey {
        name: "app".to_owned(),
        tpm: NonZeroU32::new(1000),
        ..NewKey::default()
    };
    let h = start(&redis, key, OnUnavailable::Refuse, 2).await;
    big_answers(&h.fake);
    // The estimate is small, the answer 1,400 tokens: the shared bucket goes into debt.
    assert_eq!(h.chat(0).await.status(), 200);
    h.gws[0].wait_idle().await;
    let resp = h.chat(1).await;
    assert_eq!(resp.status(), 429);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "tokens");
}

#[tokio::test]
async fn issue_13_redis_down_refuse_in_the_handler_checks_too() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    // No RPM: the middleware never asks Redis; the chat handler's token take does.
    let key = NewKey {
        name: "app".to_owned(),
        tpm: NonZeroU32::new(100_000),
        ..NewKey::default()
    };
    let h = start(&redis, key, OnUnavailable::Refuse, 1).await;
    assert_eq!(h.chat(0).await.status(), 200);
    redis.stop();
    let resp = h.chat(0).await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "limits_unavailable");
    let metrics = h.metrics(0).await;
    assert!(
        metrics.contains("switchyard_key_rejections_total{reason=\"limits_unavailable\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchyard_redis_unavailable_total{op=\"tokens\",action=\"refused\"} 1"),
        "{metrics}"
    );
}

/// `[cache] shared`: an answer stored by one replica is served by the other from Redis, with
/// no second upstream call; without `shared` each replica calls upstream once.
#[tokio::test]
async fn issue_13_a_cached_answer_is_served_by_every_replica() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    for shared in [true, false] {
        let h = start_with(&redis, rpm(1000), OnUnavailable::Local, 2, |c| {
            c.cache.enabled = true;
            // `chat` sends no temperature or seed: cache it anyway.
            c.cache.deterministic_only = false;
            c.cache.shared = shared;
        })
        .await;
        let mut served = Vec::new();
        for replica in [0, 1, 1] {
            let resp = h.chat(replica).await;
            assert_eq!(resp.status(), 200);
            served.push(
                resp.headers()["x-switchyard-cache"]
                    .to_str()
                    .unwrap()
                    .to_owned(),
            );
            let answer: Value = resp.json().await.unwrap();
            assert!(answer["choices"][0]["message"]["content"].is_string());
            h.gws[replica].wait_idle().await;
        }
        if shared {
            assert_eq!(served, ["miss", "hit", "hit"]);
            assert_eq!(h.fake.calls("gpt-4o-mini"), 1);
        } else {
            assert_eq!(served, ["miss", "miss", "hit"]);
            assert_eq!(h.fake.calls("gpt-4o-mini"), 2);
        }
    }
}

/// An answer a replica reads from Redis lives only for what is left of its TTL, even on a
/// replica started after it was stored. Before, its age was taken off the replica's time since
/// start, which saturated at zero: replica B, started with the answer 59 min 50 s old (TTL
/// 1 h), kept serving it from memory for almost another hour.
#[tokio::test]
async fn a_shared_answer_read_by_a_replica_started_later_expires_on_time() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let ttl = Duration::from_secs(3600);
    let late = ttl - Duration::from_secs(10);
    let (a, b) = (
        AuthClock::manual(T0_MS),
        AuthClock::manual(T0_MS + u64::try_from(late.as_millis()).unwrap()),
    );
    let h = start_clocked(
        &redis,
        rpm(1000),
        OnUnavailable::Local,
        vec![a, b.clone()],
        |c| {
            c.cache.enabled = true;
            c.cache.deterministic_only = false;
            c.cache.shared = true;
            c.cache.ttl = ttl;
        },
    )
    .await;
    let mut served = Vec::new();
    for (replica, advance_b) in [(0, 0), (1, 0), (1, 5), (1, 30)] {
        b.advance(Duration::from_secs(advance_b));
        let resp = h.chat(replica).await;
        assert_eq!(resp.status(), 200);
        served.push(
            resp.headers()["x-switchyard-cache"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        h.gws[replica].wait_idle().await;
    }
    // From Redis with 10 s left, from memory 5 s later, and gone 30 s later.
    assert_eq!(served, ["miss", "hit", "hit", "miss"]);
    assert_eq!(h.fake.calls("gpt-4o-mini"), 2);
}

/// A cached answer that a stop sequence ended still names it when another replica serves it
/// from Redis (`/v1/messages` reports `stop_reason: "stop_sequence"` and the sequence; the
/// gateway cuts gpt-5's answers itself, so it knows which matched). Before, the Redis copy
/// dropped it and the second replica said `end_turn`.
#[tokio::test]
async fn a_shared_cached_answer_keeps_the_stop_sequence_that_ended_it() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let h = start_with(&redis, rpm(1000), OnUnavailable::Local, 2, |c| {
        c.cache.enabled = true;
        c.cache.deterministic_only = false;
        c.cache.shared = true;
        c.router.candidates = Some(vec![router_core::ModelId::new("gpt-5")]);
    })
    .await;
    h.fake.script(
        "gpt-5",
        [Scenario::reply("The answer is 42. END and a tail")],
    );
    let body = json!({
        "model": "gpt-5",
        "max_tokens": 64,
        "stop_sequences": ["STOP", "END"],
        "messages": [{"role": "user", "content": "What is 6 times 7?"}],
    });
    for (replica, cache) in [(0, "miss"), (1, "hit")] {
        let resp = h
            .client
            .post(format!(
                "http://{}/v1/messages",
                h.gws[replica].local_addr()
            ))
            .bearer_auth(&h.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-switchyard-cache"], cache);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(
            v["content"][0]["text"], "The answer is 42. ",
            "replica {replica}"
        );
        assert_eq!(v["stop_reason"], "stop_sequence", "replica {replica}: {v}");
        assert_eq!(v["stop_sequence"], "END", "replica {replica}: {v}");
        h.gws[replica].wait_idle().await;
    }
    assert_eq!(h.fake.calls("gpt-5"), 1);
}

/// A spent budget stays spent when Redis goes away (the replica's own ledger counted what it
/// settled through Redis) and when Redis comes back empty (the shared spend is re-seeded from
/// what the replica knows): before, each outage or Redis restart handed every key its budget
/// back.
#[tokio::test]
async fn a_spent_budget_stays_spent_when_redis_goes_away_or_comes_back_empty() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let budget = Budget {
        limit_usd: 0.001,
        period: Period::Day,
    };
    let key = NewKey {
        name: "app".to_owned(),
        budget: Some(budget),
        ..NewKey::default()
    };
    let h = start(&redis, key, OnUnavailable::Local, 1).await;
    big_answers(&h.fake);
    // 0.00066 each: the second is admitted at 0.00066 of 0.001, then the key is out.
    for want in [200, 200, 429] {
        assert_eq!(h.chat(0).await.status(), want);
        h.gws[0].wait_idle().await;
    }
    redis.stop();
    assert_eq!(
        h.chat(0).await.status(),
        429,
        "Redis down: the local ledger"
    );
    redis.restart().unwrap();
    for _ in 0..3 {
        assert_eq!(h.chat(0).await.status(), 429, "Redis back, empty");
        h.gws[0].wait_idle().await;
    }
    let (spent, _) = h.gws[0].state().auth.usage(&h.key_id, budget).await;
    assert!((spent - 0.00132).abs() < 1e-9, "re-seeded: {spent}");
}

/// Three replicas sharing answers through Redis (`[cache] shared`), whose model answers
/// "Sydney", then "Canberra".
async fn shared_cache_replicas(redis: &RedisServer) -> Replicas {
    let h = start_with(redis, rpm(1000), OnUnavailable::Local, 3, |c| {
        c.cache.enabled = true;
        c.cache.deterministic_only = false;
        c.cache.shared = true;
    })
    .await;
    h.fake.script(
        "gpt-4o-mini",
        [Scenario::reply("Sydney"), Scenario::reply("Canberra")],
    );
    h
}

/// `[cache] shared` and a bad label: the replica that replayed the answer deletes it from
/// Redis too, so that no replica fetches it again; a late bad label on the answer it replaced
/// does not delete the fresh one stored since.
#[tokio::test]
async fn a_bad_label_takes_a_shared_answer_out_of_redis_but_not_its_successor() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let h = shared_cache_replicas(&redis).await;
    let h = &h;
    let ask = |replica: usize| h.ask(replica);
    let label = |replica: usize, request_id: String| async move {
        let resp = h
            .client
            .post(format!(
                "http://{}/v1/feedback",
                h.gws[replica].local_addr()
            ))
            .bearer_auth(&h.key)
            .json(&json!({"request_id": request_id, "metric": "correct", "score": 0.0}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
    };
    let (served, source, text) = ask(0).await;
    assert_eq!((served.as_str(), text.as_str()), ("miss", "Sydney"));
    let (served, replay, text) = ask(1).await;
    assert_eq!((served.as_str(), text.as_str()), ("hit", "Sydney"));

    // Labelled on the replica that replayed it: gone from Redis, so a third replica calls.
    label(1, replay).await;
    let (served, _, text) = ask(2).await;
    assert_eq!((served.as_str(), text.as_str()), ("miss", "Canberra"));
    let (served, _, text) = ask(1).await;
    assert_eq!((served.as_str(), text.as_str()), ("hit", "Canberra"));

    // A late bad label on the first answer, on the replica that made it: its memory copy
    // goes, and the fresh answer in Redis stays.
    label(0, source).await;
    let (served, _, text) = ask(0).await;
    assert_eq!((served.as_str(), text.as_str()), ("hit", "Canberra"));
    assert_eq!(h.fake.calls("gpt-4o-mini"), 2);
}

/// How many replicas follow the cache's evictions channel (the gateway subscribes in the
/// background after it starts).
async fn eviction_followers(redis: &RedisServer) -> i64 {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let channels: Vec<String> = redis::cmd("PUBSUB")
        .arg("CHANNELS")
        .arg("*cache:evictions")
        .query_async(&mut conn)
        .await
        .unwrap();
    let Some(channel) = channels.first() else {
        return 0;
    };
    let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(&mut conn)
        .await
        .unwrap();
    counts.first().map_or(0, |(_, n)| *n)
}

/// `[cache] shared` and a bad label on the replica that replayed an answer: the other replicas
/// holding a copy in memory (the one that made it, one that read it from Redis) drop it too,
/// instead of serving it for the rest of its TTL.
#[tokio::test]
async fn a_bad_label_takes_the_copies_other_replicas_hold_out() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let h = shared_cache_replicas(&redis).await;
    for _ in 0..250 {
        if eviction_followers(&redis).await >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(eviction_followers(&redis).await, 3);
    let h = &h;
    let ask = |replica: usize| h.ask(replica);
    let (served, _, text) = ask(0).await;
    assert_eq!((served.as_str(), text.as_str()), ("miss", "Sydney"));
    let (served, replay, text) = ask(1).await;
    assert_eq!((served.as_str(), text.as_str()), ("hit", "Sydney"));
    let (served, _, text) = ask(2).await;
    assert_eq!((served.as_str(), text.as_str()), ("hit", "Sydney"));

    let resp = h
        .client
        .post(format!("http://{}/v1/feedback", h.gws[1].local_addr()))
        .bearer_auth(&h.key)
        .json(&json!({"request_id": replay, "metric": "correct", "score": 0.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let dropped = "switchyard_response_cache_evicted_total{via=\"replica\"} 1";
    for replica in [0, 2] {
        let mut seen = String::new();
        for _ in 0..250 {
            seen = h.metrics(replica).await;
            if seen.contains(dropped) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(seen.contains(dropped), "replica {replica}: {seen}");
    }
    let labelled = h.metrics(1).await;
    assert!(
        labelled.contains("switchyard_response_cache_evicted_total{via=\"label\"} 1"),
        "{labelled}"
    );

    // Gone everywhere: the replica that made it calls upstream again, and the others get the
    // new answer through Redis.
    let (served, _, text) = ask(0).await;
    assert_eq!((served.as_str(), text.as_str()), ("miss", "Canberra"));
    let (served, _, text) = ask(2).await;
    assert_eq!((served.as_str(), text.as_str()), ("hit", "Canberra"));
    assert_eq!(h.fake.calls("gpt-4o-mini"), 2);
}

/// The eviction subscription's liveness check (`cache::broadcast`) pings a subscribed
/// connection and takes any reply as alive: a real Redis answers it, on the connection the
/// messages also arrive on.
#[tokio::test]
async fn a_subscribed_connection_answers_the_liveness_ping() {
    use futures::StreamExt;
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let client = redis::Client::open(redis.url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe("it:cache:evictions").await.unwrap();
    let (mut sink, mut messages) = pubsub.split();
    let reply = tokio::time::timeout(Duration::from_secs(2), sink.ping::<redis::Value>())
        .await
        .unwrap();
    assert!(reply.is_ok(), "{reply:?}");
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = redis::cmd("PUBLISH")
        .arg("it:cache:evictions")
        .arg("hello")
        .query_async(&mut conn)
        .await
        .unwrap();
    let message = tokio::time::timeout(Duration::from_secs(2), messages.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.get_payload_bytes(), b"hello");
}
