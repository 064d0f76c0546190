//! Issue 13: two `switchyard serve` replicas behind one address share one PostgreSQL outcome
//! log. Load goes through both, one is killed with SIGKILL mid-load, the other keeps serving,
//! and every answer a client saw acknowledged (from either replica) has its row in the shared
//! log: a row is committed on the server before its answer is sent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use testkit::postgres::PostgresServer;
use testkit::FakeProvider;

/// Concurrent clients, alternating between the replicas.
const CLIENTS: usize = 16;
/// Acknowledged answers before replica 0 is killed.
const KILL_AFTER: usize = 300;
/// Acknowledged answers by replica 1 after the kill.
const AFTER_KILL: usize = 100;

/// A running `switchyard serve`, killed (SIGKILL) when dropped.
struct Replica {
    child: Child,
    base: String,
}

impl Replica {
    fn start(config: &std::path::Path) -> Replica {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["serve", "--priors-only", "--config"])
            .arg(config)
            .env("SWITCHYARD_REPLICA_TEST_KEY", "sk-replica-test")
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("switchyard serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("switchyard listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        Replica { child, base }
    }

    fn kill(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(
    dir: &std::path::Path,
    name: &str,
    fake: &FakeProvider,
    postgres: &str,
) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"
[server]
bind = "127.0.0.1:0"

[[providers]]
name = "openai"
kind = "openai"
base_url = "{}"
api_key_env = "SWITCHYARD_REPLICA_TEST_KEY"

[router]
candidates = ["gpt-4o-mini"]

[log]
sqlite = "{}"
postgres = "{postgres}"
"#,
            fake.openai_base_url(),
            dir.join(format!("{name}.sqlite")).display(),
        ),
    )
    .unwrap();
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
            Replica::start(&config(dir.path(), "a", &fake, &url)),
            Replica::start(&config(dir.path(), "b", &fake, &url)),
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
                    let Ok(resp) = client
                        .post(format!("{}/v1/chat/completions", bases[replica]))
                        .json(&body)
                        .send()
                        .await
                    else {
                        continue; // the killed replica: the balancer retries elsewhere
                    };
                    if resp.status() != 200 {
                        continue;
                    }
                    let id = resp.headers()["x-switchyard-request-id"]
                        .to_str()
                        .unwrap()
                        .to_owned();
                    // Acknowledged once its body arrived whole.
                    if resp.bytes().await.is_err() {
                        continue;
                    }
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
