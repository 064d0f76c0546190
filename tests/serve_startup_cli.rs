//! `switchyard serve` at start-up: a `[[providers]]` entry whose `api_key_env` names an unset
//! or empty variable is warned about, one line naming the provider, the variable and the
//! models it leaves out, instead of its models silently leaving `auto`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Command, Stdio};

#[test]
fn a_provider_whose_key_variable_is_unset_is_warned_about_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prov.toml");
    let db = dir.path().join("outcomes.sqlite");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
bind = "127.0.0.1:0"

[[providers]]
name = "openai"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "SY_TEST_OPENAI_KEY"

[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "http://127.0.0.1:9"
api_key_env = "SY_TEST_ANTHROPIC_KEYY"

[[providers]]
name = "google"
kind = "gemini"
base_url = "http://127.0.0.1:9"
api_key_env = "SY_TEST_GEMINI_KEY"

[log]
sqlite = "{}"
"#,
            db.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--priors-only", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .env("SY_TEST_OPENAI_KEY", "sk-test")
        .env("SY_TEST_GEMINI_KEY", "")
        .env_remove("SY_TEST_ANTHROPIC_KEYY")
        .env("RUST_LOG", "warn")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    assert!(
        line.starts_with("switchyard listening on "),
        "serve did not start: {line:?} {err}"
    );
    let warned: Vec<&str> = err.lines().filter(|l| l.contains("providers[")).collect();
    assert_eq!(warned.len(), 2, "one line per provider: {err}");
    assert!(
        warned[0].contains("providers[1] (anthropic): $SY_TEST_ANTHROPIC_KEYY is not set or empty"),
        "{err}"
    );
    assert!(warned[0].contains("claude-"), "its models: {err}");
    assert!(
        warned[1].contains("providers[2] (google): $SY_TEST_GEMINI_KEY is not set or empty"),
        "{err}"
    );
    assert!(warned[1].contains("gemini-"), "its models: {err}");
    assert!(warned.iter().all(|l| l.contains("WARN")), "{err}");
    // Stderr is a pipe here, as under journald or `kubectl logs`: no colour escapes.
    assert!(
        !err.contains('\u{1b}'),
        "escape codes in piped logs: {err:?}"
    );
    assert!(
        !err.contains("SY_TEST_OPENAI_KEY"),
        "a live provider: {err}"
    );
}
