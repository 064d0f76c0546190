//! A key created while the gateway runs (`switchyard keys create` writes the table from
//! another process) works on its very first request: an unknown key makes the gateway re-read
//! the table before refusing. Before, the gateway learned of it only at its next once-a-second
//! poll and answered 401 until then. The re-reads are single-flight and rate-limited, so a
//! burst of random keys costs a bounded number of table reads.

use std::time::{Duration, Instant};

use gateway::auth::{KeyStore, NewKey};
use gateway::RunningGateway;
use serde_json::{json, Value};
use testkit::FakeProvider;

use crate::e2e_harness::mini_config;

const READS: &str = "switchyard_key_table_reads_total";

fn named(name: &str) -> NewKey {
    NewKey {
        name: name.to_owned(),
        ..NewKey::default()
    }
}

/// A gateway over a table that already holds one key (so that keys are required).
async fn start(dir: &std::path::Path, fake: &FakeProvider) -> RunningGateway {
    KeyStore::open(&dir.join("outcomes.sqlite"))
        .unwrap()
        .create(&named("existing"), 1)
        .unwrap();
    let cfg = mini_config(dir, fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    gateway::spawn(cfg, listener, None).await.unwrap()
}

async fn chat_as(client: &reqwest::Client, gw: &RunningGateway, key: &str) -> reqwest::Response {
    client
        .post(format!("http://{}/v1/chat/completions", gw.local_addr()))
        .bearer_auth(key)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_key_created_while_serving_works_on_its_first_request() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeProvider::start().await;
    let gw = start(dir.path(), &fake).await;
    let client = reqwest::Client::new();
    // Past the start-up load, as an operator runs `keys create` against a running gateway.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // What `switchyard keys create` does: its own connection to the same file. Several in
    // turn: the table's digest is negative about half the time, and a version read as
    // unsigned once took every negative digest for the same table.
    for i in 0..8 {
        let (_, key) = KeyStore::open(&dir.path().join("outcomes.sqlite"))
            .unwrap()
            .create(&named(&format!("fresh-{i}")), 2)
            .unwrap();
        let resp = chat_as(&client, &gw, key.expose()).await;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "new key {i} is refused: {body}");
    }
    assert!(
        gw.metrics()
            .counter_value(READS, &[("trigger", "unknown_key")])
            >= 1.0
    );

    // A key nobody created is still refused, in OpenAI's error shape.
    let resp = chat_as(&client, &gw, "sy-nobody-made-this").await;
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key", "{body}");
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_burst_of_unknown_keys_causes_a_bounded_number_of_table_reads() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeProvider::start().await;
    let gw = start(dir.path(), &fake).await;
    let client = reqwest::Client::new();
    let before = gw
        .metrics()
        .counter_value(READS, &[("trigger", "unknown_key")]);

    const BURST: usize = 200;
    let keys: Vec<String> = (0..BURST).map(|i| format!("sy-random-{i:04}")).collect();
    let started = Instant::now();
    let statuses = futures::future::join_all(keys.iter().map(|k| chat_as(&client, &gw, k))).await;
    let elapsed = started.elapsed();
    assert!(statuses.iter().all(|r| r.status().as_u16() == 401));

    let reads = gw
        .metrics()
        .counter_value(READS, &[("trigger", "unknown_key")])
        - before;
    // One read may start at once, then at most one per 200 ms: without the limit this would
    // be one read per request.
    let bound = 1.0 + (elapsed.as_secs_f64() / 0.2).ceil();
    assert!(reads >= 1.0, "unknown keys never caused a re-read");
    assert!(
        reads <= bound,
        "{reads} table reads for {BURST} unknown keys in {elapsed:?} (at most {bound})"
    );
    assert!(
        reads < BURST as f64 / 4.0,
        "{reads} reads for {BURST} requests"
    );
    gw.shutdown().await.unwrap();
}
