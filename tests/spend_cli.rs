//! `switchyard spend` before the gateway ever logged a request: a fresh database (or one that
//! holds only the keys `switchyard keys create` made) is an empty report, and a path that
//! does not exist is an error naming it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{switchyard, text};

#[test]
fn spend_on_a_log_without_outcomes_is_an_empty_report() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("fresh.sqlite");
    std::fs::write(&empty, b"").unwrap();
    let keys_only = dir.path().join("keys.sqlite");
    let keys_only_s = keys_only.to_str().unwrap();
    let created = switchyard(&["keys", "create", "--name", "team-a", "--db", keys_only_s]);
    assert!(created.status.success(), "{}", text(&created.stderr));

    for db in [empty.to_str().unwrap(), keys_only_s] {
        for by in ["key", "model", "day"] {
            let table = switchyard(&["spend", "--db", db, "--by", by]);
            let out = text(&table.stdout);
            assert!(
                table.status.success(),
                "{db} --by {by}: {}",
                text(&table.stderr)
            );
            let lines: Vec<&str> = out.lines().collect();
            assert_eq!(lines.len(), 2, "a header and a zero total: {out}");
            assert!(lines[1].starts_with("total"), "{out}");
            assert!(lines[1].trim_end().ends_with("0.000000"), "{out}");
        }
        let json = switchyard(&["spend", "--db", db, "--json"]);
        assert!(json.status.success(), "{}", text(&json.stderr));
        assert_eq!(text(&json.stdout), "", "no groups, no lines");
    }
}

#[test]
fn spend_on_a_missing_database_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-log.sqlite");
    let run = switchyard(&["spend", "--db", missing.to_str().unwrap()]);
    assert!(!run.status.success());
    let err = text(&run.stderr);
    assert!(err.contains("no-such-log.sqlite"), "{err}");
    assert!(
        err.contains("--db"),
        "the error says how to point at the log: {err}"
    );
    assert!(!missing.exists(), "spend must not create the file");
}
