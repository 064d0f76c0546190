//! Issue 13: two `switchyard serve` replicas behind one address share one PostgreSQL outcome
//! log (and its client keys) and one Redis (the keys' limits and budgets). Load goes through
//! both, one is killed with SIGKILL mid-load, the other keeps serving, and
//! - every answer a client saw acknowledged (from either replica) has its row in the shared
//!   log: a row is committed on the server before its answer is sent;
//! - one budget held across both: the spend logged for the key stays within its limit plus
//!   the reservations that can be in flight (one per client).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/serve.rs"]
mod serve;

use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use serve::{chat, write_config, Replica, Sent};
use testkit::postgres::PostgresServer;
use testkit::FakeProvider;

/// Concurrent clients, alternating between the replicas.
const CLIENTS: usize = 16;
/// Acknowledged answers before replica 0 is killed.
const KILL_AFTER: usize = 300;
/// Acknowledged answers by replica 1 after the kill.
const AFTER_KILL: usize = 100;
/// The provider key both replicas read.
const ENV: &[(&str, &str)] = &[("SWITCHYARD_REPLICA_TEST_KEY", "sk-replica-test")];

fn config(
    dir: &std::path::Path,
    name: &str,
    fake: &FakeProvider,
    postgres: &str,
    redis: Option<&str>,
) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let redis = redis
        .map(|url| {
            format!("\n[redis]\nurl = \"{url}\"\ntimeout = \"2s\"\non_unavailable = \"refuse\"\n")
        })
        .unwrap_or_default();
    let log = format!(
        "sqlite = \"{}\"\npostgres = \"{postgres}\"",
        dir.join(format!("{name}.sqlite")).display()
    );
    write_config(
        &path,
        &fake.openai_base_url(),
        "SWITCHYARD_REPLICA_TEST_KEY",
        &log,
        &redis,
    );
    path
}

#[test]
fn issue_13_kill_9_of_one_replica_loses_no_acknowledged_row_of_either() {
    let Some(pg) = PostgresServer::start() else {
        return;
    };
    let url = pg.fresh_database();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let fake = FakeProvider::start().await;
        let dir = tempfile::tempdir().unwrap();
        let mut replicas = [
            Replica::start(&config(dir.path(), "a", &fake, &url, None), ENV),
            Replica::start(&config(dir.path(), "b", &fake, &url, None), ENV),
        ];
        let bases = [replicas[0].base.clone(), replicas[1].base.clone()];

        let acked: Arc<Mutex<Vec<String>>> = Arc::default();
        let after_kill = Arc::new(AtomicUsize::new(0));
        let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let enough = Arc::new(tokio::sync::Notify::new());
        let done = Arc::new(tokio::sync::Notify::new());
        let client = reqwest::Client::new();
        let mut tasks = Vec::new();
        for i in 0..CLIENTS {
            let (client, bases, acked) = (client.clone(), bases.clone(), Arc::clone(&acked));
            let (enough, done) = (Arc::clone(&enough), Arc::clone(&done));
            let (after_kill, killed) = (Arc::clone(&after_kill), Arc::clone(&killed));
            tasks.push(tokio::spawn(async move {
                for n in 0.. {
                    // Round robin, as a load balancer would; after the kill, the survivor.
                    let replica = if killed.load(Ordering::SeqCst) {
                        1
                    } else {
                        (i + n) % 2
                    };
                    let body = json!({"model": "auto", "messages": [
                        {"role": "user", "content": format!("client {i} request {n}")}]});
                    // Not acknowledged (the killed replica refused or cut it): the balancer
                    // sends the next request elsewhere.
                    let Sent::Acked(id) = chat(&client, &bases[replica], None, &body).await else {
                        continue;
                    };
                    let count = {
                        let mut acked = acked.lock().unwrap();
                        acked.push(id);
                        acked.len()
                    };
                    if count == KILL_AFTER {
                        enough.notify_one();
                    }
                    if killed.load(Ordering::SeqCst)
                        && replica == 1
                        && after_kill.fetch_add(1, Ordering::SeqCst) + 1 >= AFTER_KILL
                    {
                        done.notify_one();
                        return;
                    }
                }
            }));
        }
        tokio::time::timeout(Duration::from_secs(300), enough.notified())
            .await
            .expect("both replicas answer under load");
        replicas[0].kill();
        killed.store(true, Ordering::SeqCst);
        tokio::time::timeout(Duration::from_secs(300), done.notified())
            .await
            .expect("the surviving replica keeps answering");
        for t in tasks {
            // Clients still mid-request finish on the survivor.
            let _ = tokio::time::timeout(Duration::from_secs(60), t).await;
        }
        replicas[1].kill();
        let acked = acked.lock().unwrap().clone();
        let stored: HashSet<String> = gateway::read_outcomes(outcome_log::Location::parse(&url))
            .unwrap()
            .into_iter()
            .map(|o| o.request_id)
            .collect();
        let missing: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
        assert!(acked.len() >= KILL_AFTER + AFTER_KILL);
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

/// USD per answer at the scripted usage (400 in, 1,000 out on gpt-4o-mini's catalog price).
const COST: f64 = 0.000_66;
/// The key's daily budget: about 30 answers.
const BUDGET_USD: f64 = 0.02;

#[test]
fn issue_13_two_replicas_spend_one_budget_and_a_killed_one_loses_no_row() {
    let Some(pg) = PostgresServer::start() else {
        return;
    };
    let Some(redis) = testkit::redis::RedisServer::start() else {
        return;
    };
    let url = pg.fresh_database();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let fake = FakeProvider::start().await;
        fake.always(
            "gpt-4o-mini",
            testkit::Scenario::Ok {
                reply: Some("fine".to_owned()),
                usage: Some(testkit::Usage {
                    input_tokens: 400,
                    output_tokens: 1000,
                }),
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let configs = [
            config(dir.path(), "a", &fake, &url, Some(&redis.url())),
            config(dir.path(), "b", &fake, &url, Some(&redis.url())),
        ];
        // The key is made once, in PostgreSQL, by the CLI: both replicas load it from there.
        let made = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args([
                "keys",
                "create",
                "--name",
                "team",
                "--period",
                "day",
                "--budget-usd",
            ])
            .arg(BUDGET_USD.to_string())
            .arg("--config")
            .arg(&configs[0])
            .env("SWITCHYARD_REPLICA_TEST_KEY", "sk-replica-test")
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let key = String::from_utf8(made.stdout).unwrap().trim().to_owned();
        assert!(key.starts_with("sy-"), "{key}");
        let mut replicas = [
            Replica::start(&configs[0], ENV),
            Replica::start(&configs[1], ENV),
        ];
        let bases = [replicas[0].base.clone(), replicas[1].base.clone()];

        let acked: Arc<Mutex<Vec<String>>> = Arc::default();
        let over_budget = Arc::new(AtomicUsize::new(0));
        let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let halfway = Arc::new(tokio::sync::Notify::new());
        let client = reqwest::Client::new();
        let mut tasks = Vec::new();
        for i in 0..CLIENTS {
            let (client, bases, acked, key) = (
                client.clone(),
                bases.clone(),
                Arc::clone(&acked),
                key.clone(),
            );
            let (halfway, killed, over_budget) = (
                Arc::clone(&halfway),
                Arc::clone(&killed),
                Arc::clone(&over_budget),
            );
            tasks.push(tokio::spawn(async move {
                for n in 0..200 {
                    let replica = if killed.load(Ordering::SeqCst) {
                        1
                    } else {
                        (i + n) % 2
                    };
                    let body = json!({"model": "gpt-4o-mini", "max_tokens": 1000, "messages": [
                        {"role": "user", "content": format!("client {i} request {n}")}]});
                    let id = match chat(&client, &bases[replica], Some(&key), &body).await {
                        Sent::Acked(id) => id,
                        Sent::Not(429) => {
                            // Out of budget: this client is done.
                            over_budget.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                        Sent::Not(_) => continue,
                    };
                    let count = {
                        let mut acked = acked.lock().unwrap();
                        acked.push(id);
                        acked.len()
                    };
                    if count == 12 {
                        halfway.notify_one();
                    }
                }
            }));
        }
        tokio::time::timeout(Duration::from_secs(120), halfway.notified())
            .await
            .expect("both replicas answer");
        replicas[0].kill();
        killed.store(true, Ordering::SeqCst);
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(120), t)
                .await
                .expect("every client ends at the budget")
                .unwrap();
        }
        replicas[1].kill();
        let acked = acked.lock().unwrap().clone();
        let rows = gateway::read_outcomes(outcome_log::Location::parse(&url)).unwrap();
        let stored: HashSet<&str> = rows.iter().map(|o| o.request_id.as_str()).collect();
        let missing = acked
            .iter()
            .filter(|id| !stored.contains(id.as_str()))
            .count();
        assert_eq!(
            missing,
            0,
            "{missing} of {} acknowledged rows lost",
            acked.len()
        );
        // One budget across both replicas: what the key was charged stays within the limit
        // plus one reservation per client in flight (each at most the answer's cost here).
        let spent: f64 = rows
            .iter()
            .filter(|o| o.key_id.is_some())
            .filter_map(|o| o.cost_usd)
            .sum();
        eprintln!(
            "two replicas, one budget: {} answers, {spent:.5} USD charged of {BUDGET_USD} USD",
            acked.len()
        );
        assert_eq!(
            over_budget.load(Ordering::SeqCst),
            CLIENTS,
            "every client reached the budget"
        );
        assert!(
            spent <= BUDGET_USD + CLIENTS as f64 * COST + 1e-9,
            "spent {spent} USD of a {BUDGET_USD} USD budget"
        );
        // Two replicas each enforcing the whole budget alone could have spent up to twice it.
        assert!(acked.len() as f64 * COST <= BUDGET_USD + CLIENTS as f64 * COST + 1e-9);
        fake.shutdown().await;
    });
}
