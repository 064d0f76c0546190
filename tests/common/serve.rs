//! A real `switchyard serve` for the tests that kill it: started from a config file, its
//! address read from its first stdout line, killed with SIGKILL when asked or dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Writes to `path` a gateway config that serves `gpt-4o-mini` from the OpenAI-dialect fake
/// at `base_url` (its key read from `key_env`), with `log` as the body of its `[log]` section
/// and `extra` (more sections) after it.
pub fn write_config(path: &Path, base_url: &str, key_env: &str, log: &str, extra: &str) {
    std::fs::write(
        path,
        format!(
            r#"
[server]
bind = "127.0.0.1:0"

[[providers]]
name = "openai"
kind = "openai"
base_url = "{base_url}"
api_key_env = "{key_env}"

[router]
candidates = ["gpt-4o-mini"]

[log]
{log}
{extra}"#
        ),
    )
    .expect("the test config is written");
}

/// A running `switchyard serve --priors-only`.
pub struct Replica {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Replica {
    /// Starts it with `config` and the environment `env` (provider keys).
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Replica {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["serve", "--priors-only", "--config"])
            .arg(config)
            .envs(env.iter().copied())
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("switchyard serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped"))
            .read_line(&mut line)
            .expect("switchyard serve prints its address");
        let base = line
            .trim()
            .strip_prefix("switchyard listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        Replica { child, base }
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one chat request came to.
pub enum Sent {
    /// Answered 200 and its body arrived whole: acknowledged, with its request id.
    Acked(String),
    /// Answered with this status (or 0: no answer, connection refused or cut).
    Not(u16),
}

/// Posts `body` to `{base}/v1/chat/completions` (with `key` as bearer, when given) and says
/// whether the answer was acknowledged: a 200 whose body arrived whole.
pub async fn chat(
    client: &reqwest::Client,
    base: &str,
    key: Option<&str>,
    body: &serde_json::Value,
) -> Sent {
    let mut req = client
        .post(format!("{base}/v1/chat/completions"))
        .json(body);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let Ok(resp) = req.send().await else {
        return Sent::Not(0);
    };
    if resp.status() != 200 {
        return Sent::Not(resp.status().as_u16());
    }
    let id = resp.headers()["x-switchyard-request-id"]
        .to_str()
        .expect("an ASCII request id")
        .to_owned();
    match resp.bytes().await {
        Ok(_) => Sent::Acked(id),
        Err(_) => Sent::Not(0),
    }
}
