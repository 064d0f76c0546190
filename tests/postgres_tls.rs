//! Issue 13: `sslmode=require` reaches a PostgreSQL that requires TLS, verifying its
//! certificate against the roots the client trusts (here a throw-away CA through
//! `SSL_CERT_FILE`), and refuses a server whose certificate it cannot verify.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use testkit::postgres::PostgresServer;

fn export(url: &str, ca: Option<&std::path::Path>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(["log", "export", "--db", url])
        .env("RUST_LOG", "warn");
    match ca {
        Some(ca) => cmd.env("SSL_CERT_FILE", ca),
        // Trust nothing: an empty bundle.
        None => cmd.env("SSL_CERT_FILE", "/dev/null"),
    };
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn issue_13_sslmode_require_verifies_the_server() {
    let Some((pg, ca)) = PostgresServer::start_tls() else {
        return;
    };
    let url = pg.fresh_database();
    // Make the log's tables (a plain-text connection, as the server allows both).
    let w = outcome_log::PgWriter::open(
        &outcome_log::PgUrl::new(url.clone()),
        outcome_log::pg::Session {
            fsync: false,
            statement_timeout: None,
        },
    )
    .unwrap();
    drop(w);
    let tls_url = format!("{url}?sslmode=require");
    let ok = export(&tls_url, Some(&ca));
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stderr).contains("exported 0 outcome(s)"));
    let refused = export(&tls_url, None);
    assert!(!refused.status.success());
    let err = text(&refused.stderr);
    assert!(
        err.contains("sslmode=require") || err.contains("certificate"),
        "{err}"
    );
}
