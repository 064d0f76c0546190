//! `switchyard keys`, `spend` and `log` against real SQLite files in temporary folders:
//! - read-only commands (`keys list`, `keys revoke`, `spend`) create no database at a
//!   mistaken path, and say where they looked, how a relative `[log] sqlite` resolved (against
//!   the working directory, as `serve` resolves it) and what to pass instead;
//! - `keys list` leaves another application's SQLite file as it was;
//! - a `--db` that is not UTF-8 is used as given, not replaced by the default;
//! - `keys create` says when it made a new database;
//! - a reader that closes stdout early (`| head`) ends the command quietly with status 0;
//! - revoking a revoked key says so and succeeds; invisible characters in a name are refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use router_core::Outcome;

mod common;

use common::{switchyard, text};

/// Runs `switchyard ARGS` in `cwd`.
fn run_in(cwd: &Path, args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn os(args: &[&str]) -> Vec<std::ffi::OsString> {
    args.iter().map(std::ffi::OsString::from).collect()
}

fn sy(cwd: &Path, args: &[&str]) -> Output {
    let args = os(args);
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    run_in(cwd, &refs)
}

#[test]
fn read_only_commands_create_no_database_and_name_the_path_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let missing = cwd.join("missing.sqlite");
    for args in [
        vec!["keys", "list", "--db", "missing.sqlite"],
        vec!["keys", "list", "--db", "missing.sqlite", "--json"],
        vec!["keys", "revoke", "team-a", "--db", "missing.sqlite"],
        vec!["spend", "--db", "missing.sqlite"],
        vec!["log", "export", "--db", "missing.sqlite"],
    ] {
        let out = sy(cwd, &args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        // The absolute path, the fix, and how the relative path was resolved.
        assert!(
            err.contains(&missing.display().to_string()),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("--db") && err.contains("--config"),
            "{args:?}: {err}"
        );
        assert!(err.contains("working directory"), "{args:?}: {err}");
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
    }

    // A config whose relative `[log] sqlite` resolves against the working directory (as
    // `serve` resolves it), here another folder than the config's: named, nothing created.
    let etc = cwd.join("etc");
    std::fs::create_dir(&etc).unwrap();
    let config = etc.join("switchyard.toml");
    std::fs::write(&config, "[log]\nsqlite = \"db1.sqlite\"\n").unwrap();
    let home = cwd.join("home");
    std::fs::create_dir(&home).unwrap();
    let config_s = config.to_str().unwrap();
    for args in [
        vec!["keys", "list", "--config", config_s],
        vec!["spend", "--config", config_s],
        vec!["log", "prune", "--config", config_s, "--older-than", "90"],
    ] {
        let out = sy(&home, &args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(&home.join("db1.sqlite").display().to_string()),
            "{args:?}: {err}"
        );
        assert!(err.contains("switchyard.toml"), "{args:?}: {err}");
        assert!(err.contains("WorkingDirectory"), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read_dir(&home).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(&etc).unwrap().count(), 1);

    // From the working directory `serve` would have, the same config finds the log.
    let created = sy(
        cwd,
        &["keys", "create", "--config", config_s, "--name", "a"],
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    let listed = sy(cwd, &["keys", "list", "--config", config_s, "--json"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert!(text(&listed.stdout).contains("\"name\":\"a\""));
    assert!(cwd.join("db1.sqlite").is_file());
}

#[test]
fn keys_create_says_when_it_made_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let first = sy(dir.path(), &["keys", "create", "--name", "a"]);
    let err = text(&first.stderr);
    assert!(first.status.success(), "{err}");
    let db = dir.path().join(".switchyard/outcomes.sqlite");
    assert!(err.contains(&db.display().to_string()), "{err}");
    assert!(err.contains("did not exist"), "{err}");
    let second = sy(dir.path(), &["keys", "create", "--name", "b"]);
    assert!(second.status.success());
    assert!(!text(&second.stderr).contains("did not exist"));
}

#[test]
fn keys_list_leaves_another_applications_sqlite_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other_app.sqlite");
    another_apps_file(&other);
    let before = std::fs::read(&other).unwrap();
    let out = sy(
        dir.path(),
        &["keys", "list", "--db", other.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no keys in"));
    assert_eq!(std::fs::read(&other).unwrap(), before, "the file changed");
    assert!(!dir.path().join("other_app.sqlite-wal").exists());
}

/// Another application's SQLite file: a rollback journal (not WAL) and one table of its own.
/// Made through the outcome log's connection (the crate this test can reach SQLite through),
/// with the log's own tables dropped again.
fn another_apps_file(path: &Path) {
    let conn = outcome_log::open(path, false).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for t in tables {
        conn.execute_batch(&format!("DROP TABLE \"{t}\"")).unwrap();
    }
    conn.execute_batch(
        "CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('x'); PRAGMA journal_mode = DELETE; VACUUM;",
    )
    .unwrap();
}

#[test]
fn a_db_path_that_is_not_utf8_is_used_as_given() {
    use std::os::unix::ffi::OsStrExt as _;
    let dir = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"bad\xff.sqlite");
    let args: Vec<&std::ffi::OsStr> = ["keys", "create", "--name", "nonutf", "--db"]
        .iter()
        .map(std::ffi::OsStr::new)
        .chain([name])
        .collect();
    let out = run_in(dir.path(), &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join(name).is_file());
    assert!(
        !dir.path().join(".switchyard").exists(),
        "fell back to the default database"
    );
}

/// Enough rows that the output is far beyond a pipe's buffer, so that the command is still
/// writing when its reader goes.
fn big_log(dir: &Path) -> String {
    let db = dir.join("outcomes.sqlite");
    let mut conn = outcome_log::open(&db, false).unwrap();
    // One outcome per day over 3,000 days: `spend --by day` prints a line each.
    let rows: Vec<Outcome> = (0..3_000u64)
        .map(|i| Outcome {
            cost_usd: Some(0.001),
            ..Outcome::answered(
                format!("r{i}"),
                1_500_000_000_000 + i * 86_400_000,
                "gpt-4o-mini",
            )
        })
        .collect();
    outcome_log::write_batch(&mut conn, &rows).unwrap();
    drop(conn);
    let mut store = gateway::auth::KeyStore::open(&db).unwrap();
    for i in 0..1_500 {
        let new = gateway::auth::NewKey {
            name: format!("team-{i:04}-with-a-longer-name"),
            ..Default::default()
        };
        store.create(&new, 1_000 + i).unwrap();
    }
    db.to_str().unwrap().to_owned()
}

/// Reads `bytes` bytes of the command's stdout, closes it (as `| head -c` does), and returns
/// the exit status and stderr.
fn head(args: &[&str], bytes: usize) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = vec![0u8; bytes];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap().code(), err)
}

#[test]
fn a_reader_that_stops_early_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let db = big_log(dir.path());
    for args in [
        vec!["keys", "list", "--db", &db],
        vec!["keys", "list", "--db", &db, "--json"],
        vec!["spend", "--db", &db, "--by", "day"],
        vec!["spend", "--db", &db, "--by", "day", "--json"],
        vec!["log", "export", "--db", &db],
    ] {
        let (code, err) = head(&args, 10);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("error"), "{args:?}: {err}");
    }
}

#[test]
fn revoking_a_revoked_key_says_so_and_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let created = sy(
        cwd,
        &["keys", "create", "--db", "k.sqlite", "--name", "team-a"],
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    let first = sy(cwd, &["keys", "revoke", "--db", "k.sqlite", "team-a"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let err = text(&first.stderr);
    let id = err
        .split_whitespace()
        .find(|w| w.starts_with("key_"))
        .unwrap()
        .to_owned();
    for again in ["team-a", id.as_str()] {
        let out = sy(cwd, &["keys", "revoke", "--db", "k.sqlite", again]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{again}: {err}");
        assert!(err.contains("already revoked at"), "{again}: {err}");
        assert!(
            err.contains(&id) && err.contains("team-a"),
            "{again}: {err}"
        );
    }
    let nobody = sy(cwd, &["keys", "revoke", "--db", "k.sqlite", "nobody"]);
    assert_eq!(nobody.status.code(), Some(1));
    assert!(text(&nobody.stderr).contains("no key with id or name `nobody`"));
}

#[test]
fn key_names_with_invisible_or_bidi_characters_are_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.sqlite");
    for (name, code) in [
        ("a\u{200B}b", "U+200B"),
        ("a\u{202E}b", "U+202E"),
        ("a\u{2060}b", "U+2060"),
    ] {
        let out = switchyard(&[
            "keys",
            "create",
            "--db",
            db.to_str().unwrap(),
            "--name",
            name,
        ]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("--name") && err.contains(code), "{err}");
    }
}
