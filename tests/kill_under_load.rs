//! Issue 11, defect 9: `kill -9` of a real `switchyard serve` under load loses no acknowledged
//! outcome row. Every 200 the clients saw before the kill must have its row in the SQLite log,
//! because a row is group-committed to the WAL before its answer is sent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/serve.rs"]
mod serve;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde_json::json;
use serve::{chat, write_config, Replica, Sent};
use testkit::FakeProvider;

/// Concurrent clients.
const CLIENTS: usize = 16;
/// Acknowledged answers before the kill.
const KILL_AFTER: usize = 400;

#[test]
fn issue_11_kill_9_under_load_loses_no_acknowledged_row() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let fake = FakeProvider::start().await;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("outcomes.sqlite");
        let config = dir.path().join("gateway.toml");
        write_config(
            &config,
            &fake.openai_base_url(),
            "SWITCHYARD_KILL_TEST_KEY",
            &format!("sqlite = \"{}\"", db.display()),
            "",
        );
        let mut gateway = Replica::start(&config, &[("SWITCHYARD_KILL_TEST_KEY", "sk-kill-test")]);
        let base = gateway.base.clone();

        let acked: Arc<Mutex<Vec<String>>> = Arc::default();
        let enough = Arc::new(tokio::sync::Notify::new());
        let client = reqwest::Client::new();
        let mut tasks = Vec::new();
        for i in 0..CLIENTS {
            let (client, base, acked) = (client.clone(), base.clone(), Arc::clone(&acked));
            let enough = Arc::clone(&enough);
            tasks.push(tokio::spawn(async move {
                for n in 0.. {
                    let body = json!({"model": "auto", "messages": [
                        {"role": "user", "content": format!("client {i} request {n}")}]});
                    let id = match chat(&client, &base, None, &body).await {
                        Sent::Acked(id) => id,
                        // No answer: the gateway was killed.
                        Sent::Not(0) => return,
                        Sent::Not(status) => panic!("the gateway answered {status} under load"),
                    };
                    let count = {
                        let mut acked = acked.lock().unwrap();
                        acked.push(id);
                        acked.len()
                    };
                    if count == KILL_AFTER {
                        enough.notify_one();
                    }
                }
            }));
        }
        tokio::time::timeout(std::time::Duration::from_secs(300), enough.notified())
            .await
            .expect("the gateway answers under load");
        gateway.kill();
        for t in tasks {
            t.await.unwrap();
        }
        let acked = acked.lock().unwrap().clone();
        let stored: HashSet<String> = gateway::read_outcomes(&db)
            .unwrap()
            .into_iter()
            .map(|o| o.request_id)
            .collect();
        let missing: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
        assert!(acked.len() >= KILL_AFTER);
        assert!(
            missing.is_empty(),
            "{} of {} acknowledged rows lost: {:?}",
            missing.len(),
            acked.len(),
            &missing[..missing.len().min(5)]
        );
        fake.shutdown().await;
    });
}
