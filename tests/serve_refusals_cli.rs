//! `switchyard serve` refusing to start, with an error that says what to fix:
//! - a second `serve` on a SQLite outcome log another `serve` holds (names the file, the
//!   holder's pid, one gateway per file, PostgreSQL for replicas), while `keys`, `spend` and
//!   `log export` keep working beside the running one, and a lock left by a killed `serve`
//!   does not block the next;
//! - a `[router] artifact` (or `--artifact`) that cannot be loaded: the setting, the path, what
//!   is wrong and the fix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A config serving on any free port with a provider nobody answers (`--priors-only` needs
/// no more), logging to `outcomes.sqlite` in `dir`, with `extra` appended.
fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("switchyard.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[server]
bind = "127.0.0.1:0"

[[providers]]
name = "openai"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "SY_REFUSALS_TEST_KEY"

[log]
sqlite = "{}"
{extra}"#,
            dir.join("outcomes.sqlite").display()
        ),
    )
    .unwrap();
    path
}

fn switchyard(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.current_dir(dir)
        .env("SY_REFUSALS_TEST_KEY", "sk-test")
        .env("RUST_LOG", "error");
    cmd
}

/// A running `serve`, killed (SIGKILL) when dropped.
struct Serving(Child);

impl Serving {
    fn start(dir: &Path, config: &Path) -> Serving {
        let mut child = switchyard(dir)
            .args(["serve", "--priors-only", "--config"])
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("switchyard listening on "), "{line:?}");
        Serving(child)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `switchyard ARGS` in `dir` to its end.
fn run(dir: &Path, args: &[&str]) -> Output {
    switchyard(dir).args(args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_second_serve_on_one_sqlite_log_is_refused_and_the_cli_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let db = dir.path().join("outcomes.sqlite");
    let db_s = db.to_str().unwrap();
    let first = Serving::start(dir.path(), &config);

    let second = switchyard(dir.path())
        .args(["serve", "--priors-only", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let err = stderr(&second);
    assert!(!second.status.success(), "the second serve started: {err}");
    assert!(
        err.contains(&format!("outcome log {db_s} is in use")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "another `switchyard serve` (pid {})",
            first.0.id()
        )),
        "{err}"
    );
    assert!(err.contains("one gateway per SQLite file"), "{err}");
    assert!(err.contains("[log] postgres"), "{err}");

    // Beside the running gateway: keys are created, listed and revoked; readers read.
    for args in [
        vec!["keys", "create", "--db", db_s, "--name", "team-a"],
        vec!["keys", "list", "--db", db_s],
        vec!["keys", "revoke", "--db", db_s, "team-a"],
        vec!["spend", "--db", db_s],
        vec!["log", "export", "--db", db_s],
    ] {
        let out = run(dir.path(), &args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }

    // Killed, as by a crash: its lock file stays, and blocks nobody.
    drop(first);
    assert!(dir.path().join("outcomes.sqlite.serve.lock").exists());
    let _next = Serving::start(dir.path(), &config);
}

/// `serve` with `[router] artifact = "{artifact}"` (and `flags`); its error text.
fn refused_with(dir: &Path, artifact: &str, flags: &[&str]) -> String {
    let config = write_config(dir, &format!("\n[router]\nartifact = \"{artifact}\"\n"));
    let out = switchyard(dir)
        .arg("serve")
        .arg("--config")
        .arg(&config)
        // A folder without weights: nothing is downloaded, the artifact is looked at first.
        .args(["--encoder-dir", "no-encoder-here"])
        .args(flags)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success(), "serve started: {err}");
    err
}

#[test]
fn a_bad_router_artifact_names_the_setting_the_path_the_problem_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    let cwd = dir.path().display().to_string();

    let err = refused_with(dir.path(), "routers/mine", &[]);
    assert!(
        err.contains(&format!(
            "[router] artifact = \"routers/mine\" in {}",
            config.display()
        )),
        "{err}"
    );
    assert!(err.contains("no such folder"), "{err}");
    assert!(
        err.contains(&format!("relative to the working directory {cwd}")),
        "{err}"
    );
    assert!(err.contains("switchyard train --out routers/mine"), "{err}");
    assert!(err.contains("remove the line"), "{err}");

    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let err = refused_with(dir.path(), "empty", &[]);
    assert!(err.contains("[router] artifact = \"empty\""), "{err}");
    assert!(
        err.contains("not a router artifact: the folder holds no manifest.json"),
        "{err}"
    );

    // A manifest the loader refuses: its own words, under the setting's name.
    std::fs::create_dir(dir.path().join("broken")).unwrap();
    std::fs::write(dir.path().join("broken/manifest.json"), "{ not json").unwrap();
    let err = refused_with(dir.path(), "broken", &[]);
    assert!(err.contains("[router] artifact = \"broken\""), "{err}");
    assert!(err.contains("manifest.json"), "{err}");
    assert!(err.contains("switchyard train --out"), "{err}");

    // The flag overrides the file: then the flag is what to fix.
    let err = refused_with(dir.path(), "empty", &["--artifact", "elsewhere"]);
    assert!(err.contains("--artifact elsewhere"), "{err}");
    assert!(err.contains("no such folder"), "{err}");
    assert!(!err.contains("[router] artifact ="), "{err}");
}
