//! The outcome log on PostgreSQL, for several gateways sharing one log (`[log] postgres`).
//! The same tables and the same rules as the SQLite file: one row per request in
//! `outcomes`, labels in `feedback` (first label wins, a person's over the judge's), the
//! judge's accounting in `judge_calls`, pruned spend in `pruned_spend`.
//!
//! Durability: a row is acknowledged after its transaction commits on the server. With
//! `[log] fsync = false` (the default) the gateway's sessions run with
//! `synchronous_commit = off`: the commit is in the server's WAL buffers, so it survives the
//! gateway being killed (what the SQLite default promises too) but not the database server
//! crashing within a fraction of a second; `fsync = true` keeps PostgreSQL's default (`on`),
//! which waits for the WAL flush. The blocking driver (`postgres`) runs on the writer's own
//! thread and in the CLI, never on a runtime worker. It runs its own small runtime per
//! connection, which refuses to start on a thread already driving one (the gateway's start-up
//! and the CLI's async commands are such threads), so every call made outside the writer
//! thread goes through [`off_runtime`].

mod migrations;
pub mod read;
pub mod retention;
pub mod stats;
pub mod write;

use std::time::Duration;

use postgres::{Client, NoTls};

pub use migrations::{migrate, SCHEMA_VERSION as PG_SCHEMA_VERSION};

use crate::location::PgUrl;
use crate::Error;

/// How a writer's session commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    /// Wait for the server's WAL flush on every commit (`synchronous_commit = on`).
    pub fsync: bool,
    /// The longest a statement may run (`statement_timeout`); `None`: no limit.
    pub statement_timeout: Option<Duration>,
}

/// Connects (see [`connect`] for TLS) and migrates the database to [`PG_SCHEMA_VERSION`].
///
/// A connection attempt waits at most the statement timeout (unless the URL sets its own
/// `connect_timeout`): a writer reconnecting to an unreachable server must not stall longer
/// than an answer waits for its row.
pub fn open(url: &PgUrl, session: Session) -> Result<Client, Error> {
    let mut client = connect_within(url, session.statement_timeout)?;
    // `client_min_messages`: the migrations' `CREATE … IF NOT EXISTS` would otherwise log a
    // NOTICE per existing table at every start.
    let mut settings = format!(
        "SET client_min_messages = warning; SET synchronous_commit = {};",
        if session.fsync { "on" } else { "off" }
    );
    if let Some(t) = session.statement_timeout {
        settings.push_str(&format!(
            " SET statement_timeout = {};",
            t.as_millis().max(1)
        ));
    }
    client.batch_execute(&settings).map_err(Error::pg(url))?;
    match migrate(&mut client).map_err(Error::pg(url))? {
        migrations::Migrated::From(_) => Ok(client),
        migrations::Migrated::TooNew(found) => Err(Error::PgTooNew {
            url: url.clone(),
            found,
            supported: migrations::SCHEMA_VERSION,
        }),
    }
}

/// Runs `f` where the blocking driver may run: in place on a plain thread, else on a fresh
/// thread it waits for (the driver cannot be used on a thread that drives a tokio runtime).
/// The thread start (tens of microseconds) is paid only by calls from async code.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    // A plain thread (the writer, the key refresher, a CLI command) runs it in place.
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Connects without migrating (readers: a reader never changes the layout).
///
/// TLS when the URL asks for it with `sslmode=require`: rustls, verifying the server's
/// certificate and name against the system's roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` add a
/// private CA), so it is what libpq calls `verify-full`. Any other `sslmode` connects in
/// plain text: the driver's default `prefer` would try TLS first, and a local server with a
/// self-signed certificate (Debian's default cluster) would then fail verification instead of
/// falling back.
pub fn connect(url: &PgUrl) -> Result<Client, Error> {
    connect_within(url, None)
}

/// [`connect`], giving up after `timeout` when the URL sets no `connect_timeout`.
fn connect_within(url: &PgUrl, timeout: Option<Duration>) -> Result<Client, Error> {
    let mut config: postgres::Config = url.secret().parse().map_err(Error::pg(url))?;
    if let (Some(t), None) = (timeout, config.get_connect_timeout()) {
        config.connect_timeout(t);
    }
    if config.get_ssl_mode() != postgres::config::SslMode::Require {
        return config.connect(NoTls).map_err(Error::pg(url));
    }
    let tls = tls_config().map_err(|message| Error::PgTls {
        url: url.clone(),
        message,
    })?;
    config
        .connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
        .map_err(Error::pg(url))
}

/// A rustls client verifying against the system's root certificates.
fn tls_config() -> Result<rustls::ClientConfig, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(format!(
            "sslmode=require, but no root certificate was found to verify the server with ({}); install ca-certificates or point SSL_CERT_FILE at the server's CA",
            found
                .errors
                .first()
                .map_or_else(|| "the system store is empty".to_owned(), ToString::to_string)
        ));
    }
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|b| b.with_root_certificates(roots).with_no_client_auth())
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
