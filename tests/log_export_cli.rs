//! `switchyard log export --out`: a regular file (or a new path) is replaced whole once the
//! export is complete, but a symlink or a FIFO is written in place and stays what it was (the
//! `.partial` + rename used to replace them with a regular file: run as root with `--out
//! /dev/stdout`, that replaced the system's `/dev/stdout`). `--out -` is stdout. Everything
//! here lives in a temporary folder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use router_core::Outcome;

mod common;

use common::{switchyard, text};

/// A log of three outcomes in `dir`.
fn log(dir: &Path) -> String {
    let db = dir.join("outcomes.sqlite");
    let mut conn = outcome_log::open(&db, false).unwrap();
    let rows: Vec<Outcome> = (0..3)
        .map(|i| Outcome::answered(format!("r{i}"), 1_700_000_000_000 + i, "gpt-4o-mini"))
        .collect();
    outcome_log::write_batch(&mut conn, &rows).unwrap();
    db.to_str().unwrap().to_owned()
}

fn export(db: &str, out: &Path) -> std::process::Output {
    switchyard(&["log", "export", "--db", db, "--out", out.to_str().unwrap()])
}

#[test]
fn a_symlink_is_written_through_and_stays_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let db = log(dir.path());
    let target = dir.path().join("target.jsonl");
    std::fs::write(&target, "precious\n").unwrap();
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    let run = export(&db, &link);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "--out replaced the symlink with a file"
    );
    let written = std::fs::read_to_string(&target).unwrap();
    assert_eq!(written.lines().count(), 3, "{written}");
    assert!(!written.contains("precious"), "{written}");
    assert!(written.contains("\"request_id\":\"r0\""), "{written}");
    assert!(!dir.path().join("link.jsonl.partial").exists());

    // An export that fails before its first row leaves the file behind the link untouched.
    let bad = dir.path().join("bad.sqlite");
    std::fs::write(&bad, b"not a SQLite database").unwrap();
    std::fs::write(&target, "precious\n").unwrap();
    let failed = export(bad.to_str().unwrap(), &link);
    assert!(!failed.status.success());
    let err = text(&failed.stderr);
    assert!(err.contains("link.jsonl"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn a_fifo_gets_the_rows_and_stays_a_fifo() {
    use std::os::unix::fs::FileTypeExt as _;
    let dir = tempfile::tempdir().unwrap();
    let db = log(dir.path());
    let fifo = dir.path().join("rows.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    // The reader, as `(cat ff | wc -c) &` would be; killed if no writer ever comes.
    let mut reader = Command::new("cat")
        .arg(&fifo)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();

    let run = export(&db, &fifo);
    let deadline = Instant::now() + Duration::from_secs(20);
    while reader.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let finished = reader.try_wait().unwrap().is_some();
    if !finished {
        reader.kill().unwrap();
        reader.wait().unwrap();
    }
    let mut got = String::new();
    reader
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut got)
        .unwrap();
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(finished, "the FIFO's reader got no writer");
    assert_eq!(got.lines().count(), 3, "{got}");
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo(),
        "--out replaced the FIFO with a file"
    );
}

#[test]
fn a_regular_file_is_replaced_whole_and_a_dash_is_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let db = log(dir.path());
    let out = dir.path().join("train.jsonl");
    std::fs::write(&out, "the previous export\n").unwrap();
    let run = export(&db, &out);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 3);
    assert!(!dir.path().join("train.jsonl.partial").exists());

    // Run in the temporary folder: a `-` taken as a file name would land there.
    let dash = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["log", "export", "--db", &db, "--out", "-"])
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(dash.status.success(), "{}", text(&dash.stderr));
    assert_eq!(text(&dash.stdout).lines().count(), 3);
    assert!(!dir.path().join("-").exists());
    assert!(
        text(&dash.stderr).contains("exported 3 outcome(s)"),
        "{}",
        text(&dash.stderr)
    );
}
