//! Client keys: who may call `/v1/*`, how fast, for how much, and with which models.
//!
//! - [`store`]: the `client_keys` table (SHA-256 of each key, never the key) next to the
//!   outcome log; `switchyard keys` and `/admin/keys` write it.
//! - [`Auth`]: the running gateway's view of it: a map from key hash to [`LiveKey`], refreshed
//!   when another process (the CLI) commits to the table (`refresh`: every second, and at
//!   once when a request presents a key it does not know), plus the spend [`budget::Ledger`].
//! - [`require_key`]: the middleware in front of `/v1/*`. With any key configured (revoked ones
//!   count, so revoking the last key does not open the gateway) a request needs
//!   `Authorization: Bearer <key>` or `x-api-key: <key>`; the request-per-minute limit is
//!   taken here. The body-dependent checks (model allow-list, tokens per minute, budget) run in
//!   the chat handler through [`KeyUse`], which also settles the real cost when the request
//!   ends.
//! - [`limits`]: RPM (governor) and TPM (token bucket) on an injectable [`AuthClock`].
//! - [`shared`]: the same limits and budgets in Redis, shared by every replica (`[redis]`);
//!   the in-process ones stay as the fallback while Redis is down.

pub mod budget;
mod key_use;
pub mod limits;
mod refresh;
pub mod shared;
pub mod store;

use outcome_log::Location;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio_util::task::TaskTracker;

pub use budget::{Budget, Ledger, Period};
pub use key_use::KeyUse;
pub use limits::AuthClock;
pub use shared::{SharedCounters, SharedError};
pub use store::{KeyRecord, KeyStore, KeyStoreError, NewKey};

use crate::http::error::ApiError;
use crate::metrics::Metrics;
use crate::state::AppState;
use limits::{RequestLimit, TokenLimit};
use refresh::Refresh;

/// A key the gateway accepts, with its rate-limit state.
#[derive(Debug)]
pub struct LiveKey {
    /// The stored settings.
    pub record: KeyRecord,
    rpm: Option<Arc<RequestLimit>>,
    tpm: Option<Arc<TokenLimit>>,
}

impl LiveKey {
    fn new(record: KeyRecord, clock: &AuthClock) -> Self {
        LiveKey {
            rpm: record
                .rpm
                .map(|n| Arc::new(RequestLimit::new(n, clock.clone()))),
            tpm: record
                .tpm
                .map(|n| Arc::new(TokenLimit::new(n, clock.clone()))),
            record,
        }
    }

    /// Whether a reload may keep this key's rate state (same id and limits).
    fn same_limits(&self, other: &KeyRecord) -> bool {
        self.record.id == other.id && self.record.rpm == other.rpm && self.record.tpm == other.tpm
    }
}

#[derive(Debug, Default)]
struct Table {
    by_hash: HashMap<[u8; 32], Arc<LiveKey>>,
    /// Any key row exists, revoked or not.
    configured: bool,
}

/// The client-key state of a running gateway; cheap to clone.
#[derive(Clone, Debug)]
pub struct Auth(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    db: Option<Location>,
    table: RwLock<Arc<Table>>,
    ledger: Arc<Ledger>,
    clock: AuthClock,
    /// [`KeyStore::data_version`] at the last load.
    seen_version: AtomicI64,
    /// Serialises reloads.
    reload: Mutex<()>,
    /// The Redis counters (`[redis]`); `None`: everything counts in process.
    shared: Option<Arc<SharedCounters>>,
    /// Work a request leaves behind (shared settlements); the gateway waits for it.
    tracker: TaskTracker,
    /// Asks the refresh thread to re-read the table for an unknown key; `None` without a
    /// database.
    refresh: Option<Refresh>,
    /// Counts the refresh thread's reads of the table.
    metrics: Arc<Metrics>,
}

impl Auth {
    /// No keys: every request passes (a gateway without a database, e.g. in unit tests).
    pub fn disabled(clock: AuthClock) -> Auth {
        Auth(Arc::new(Inner {
            db: None,
            table: RwLock::new(Arc::new(Table::default())),
            ledger: Arc::new(Ledger::new(clock.clone())),
            clock,
            seen_version: AtomicI64::new(0),
            reload: Mutex::new(()),
            shared: None,
            tracker: TaskTracker::new(),
            refresh: None,
            metrics: Arc::new(Metrics::new()),
        }))
    }

    /// Loads the keys of `db` (the outcome log's database: its SQLite file or PostgreSQL),
    /// seeds each budget with the spend already logged in its period, and starts the thread
    /// that picks up changes made by other processes (the CLI, other replicas). Blocking:
    /// call at start-up.
    pub fn open(db: impl Into<Location>, clock: AuthClock) -> Result<Auth, KeyStoreError> {
        Auth::open_with(db, clock, None, Arc::new(Metrics::new()))
    }

    /// [`Auth::open`] with the limits and budgets kept in Redis by `shared` (the in-process
    /// ones remain the fallback), counting its reads of the key table in `metrics`. Call
    /// [`Auth::seed_shared`] next.
    pub fn open_with(
        db: impl Into<Location>,
        clock: AuthClock,
        shared: Option<Arc<SharedCounters>>,
        metrics: Arc<Metrics>,
    ) -> Result<Auth, KeyStoreError> {
        let db: Location = db.into();
        let store = KeyStore::open_at(&db)?;
        let tracker = shared
            .as_ref()
            .map_or_else(TaskTracker::new, |s| s.tracker().clone());
        let (refresh, worker) = Refresh::new();
        let auth = Auth(Arc::new(Inner {
            db: Some(db.clone()),
            table: RwLock::new(Arc::new(Table::default())),
            ledger: Arc::new(Ledger::new(clock.clone())),
            clock,
            seen_version: AtomicI64::new(0),
            reload: Mutex::new(()),
            shared,
            tracker,
            refresh: Some(refresh),
            metrics,
        }));
        auth.reload_from(&store)?;
        for key in auth.keys() {
            if let Some(b) = key.record.budget {
                let start = b.period.start_ms(auth.0.clock.unix_ms());
                match crate::outcome::spend::key_spend_since(&db, &key.record.id, start) {
                    Ok(spent) => auth.0.ledger.seed(&key.record.id, start, spent),
                    Err(e) => tracing::warn!(
                        key_id = %key.record.id,
                        error = %e,
                        "Could not read the key's logged spend; its budget starts from zero."
                    ),
                }
            }
        }
        let weak = Arc::downgrade(&auth.0);
        // Should the thread not start, the worker is dropped with the closure and requests
        // with unknown keys stop waiting for it at once.
        let spawned = std::thread::Builder::new()
            .name("switchyard-keys".to_owned())
            .spawn(move || worker.run(weak, store));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "Key refresh thread did not start; key changes need a restart.");
        }
        Ok(auth)
    }

    /// Seeds the shared budgets with the spend the outcome log holds for the current periods,
    /// where Redis has none yet (another replica may have counted more since it wrote its
    /// rows). Without `[redis]` it does nothing.
    pub async fn seed_shared(&self) {
        let Some(shared) = &self.0.shared else {
            return;
        };
        for key in self.keys() {
            let Some(b) = key.record.budget else {
                continue;
            };
            let start = b.period.start_ms(self.0.clock.unix_ms());
            let (spent, _) = self.0.ledger.usage(&key.record.id, b);
            if let Err(e) = shared.seed(&key.record.id, b.period, start, spent).await {
                // One timeout per key would hold the start for minutes with many keys; the
                // others would most likely fail the same way.
                shared.note_seed_failure(&e);
                tracing::warn!(
                    error = %e,
                    "Budgets not seeded in Redis; shared spend starts from what Redis holds."
                );
                return;
            }
        }
    }

    /// The tracker of the work requests leave behind (shared settlements): the gateway's
    /// request tracker, so that shutdown and `wait_idle` wait for it.
    pub fn tracker(&self) -> &TaskTracker {
        &self.0.tracker
    }

    /// The Redis counters, when `[redis]` is set.
    pub fn shared(&self) -> Option<&Arc<SharedCounters>> {
        self.0.shared.as_ref()
    }

    /// Whether any key exists (then every `/v1/*` call needs one).
    pub fn configured(&self) -> bool {
        self.table().configured
    }

    /// The clock of rate windows and budget periods.
    pub fn clock(&self) -> &AuthClock {
        &self.0.clock
    }

    /// The spend ledger.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.0.ledger
    }

    /// `(spent, reserved)` of `key_id` in the current period of `budget`: from Redis with
    /// `[redis]` (this replica's ledger while Redis is unreachable), else from the ledger.
    pub async fn usage(&self, key_id: &str, budget: Budget) -> (f64, f64) {
        if let Some(shared) = &self.0.shared {
            match shared.usage(key_id, budget).await {
                Ok(usage) => return usage,
                Err(e) => {
                    tracing::warn!(key_id, error = %e, "Shared spend unreadable; showing this replica's.")
                }
            }
        }
        self.0.ledger.usage(key_id, budget)
    }

    /// The key database, when there is one.
    pub fn db(&self) -> Option<&Location> {
        self.0.db.as_ref()
    }

    fn table(&self) -> Arc<Table> {
        match self.0.table.read() {
            Ok(t) => Arc::clone(&t),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The active keys.
    pub fn keys(&self) -> Vec<Arc<LiveKey>> {
        self.table().by_hash.values().cloned().collect()
    }

    /// The active key presented as `secret`, if any.
    pub fn lookup(&self, secret: &str) -> Option<Arc<LiveKey>> {
        self.table().by_hash.get(&store::digest(secret)).cloned()
    }

    /// The middleware's check of a presented key: hash and lookup, then the key's
    /// requests-per-minute limit. A key not found is looked up once more after a fresh read
    /// of the table (shared with every other request waiting for one, and rate-limited), so
    /// that a key created a moment ago by `switchyard keys create` works at once.
    pub async fn authenticate(&self, secret: &str) -> Result<Caller, ApiError> {
        let key = match self.lookup(secret) {
            Some(key) => key,
            None => {
                if let Some(refresh) = &self.0.refresh {
                    refresh.reread().await;
                }
                self.lookup(secret)
                    .ok_or(ApiError::InvalidApiKey("invalid or revoked API key"))?
            }
        };
        if let (Some(rpm), Some(n)) = (&key.rpm, key.record.rpm) {
            let verdict = match &self.0.shared {
                Some(shared) => match shared.check_requests(&key.record.id, n).await {
                    Ok(verdict) => verdict,
                    Err(e) => {
                        shared.unavailable("requests", &e)?;
                        rpm.check()
                    }
                },
                None => rpm.check(),
            };
            verdict.map_err(|wait| ApiError::KeyRateLimited {
                limit: "requests",
                message: format!(
                    "rate limit of {} requests per minute reached for key `{}`",
                    key.record.rpm.map_or(0, |n| n.get()),
                    key.record.name
                ),
                retry_after: wait,
            })?;
        }
        Ok(Caller {
            key,
            ledger: Arc::clone(&self.0.ledger),
            shared: self.0.shared.clone(),
        })
    }

    /// Re-reads the table now (after an admin API change). Blocking.
    pub fn reload(&self) -> Result<(), KeyStoreError> {
        match &self.0.db {
            Some(db) => self.reload_from(&KeyStore::open_at(db)?),
            None => Ok(()),
        }
    }

    fn reload_from(&self, store: &KeyStore) -> Result<(), KeyStoreError> {
        let _serial = self.0.reload.lock();
        // One read: the version stored is the one of the rows loaded.
        let loaded = store.load()?;
        let version = loaded.version;
        let rows = loaded.keys;
        let old = self.table();
        let by_id: HashMap<&str, &Arc<LiveKey>> = old
            .by_hash
            .values()
            .map(|k| (k.record.id.as_str(), k))
            .collect();
        // Any row makes keys required, one that does not read back too: counting only the
        // readable ones turned authentication off when every row was unreadable.
        let mut table = Table {
            by_hash: HashMap::with_capacity(rows.len()),
            configured: !rows.is_empty() || loaded.unreadable > 0,
        };
        for (record, hash) in rows {
            if record.revoked_ms.is_some() {
                continue;
            }
            // A key whose limits did not change keeps its rate windows across reloads.
            let live = match by_id.get(record.id.as_str()) {
                Some(k) if k.record == record => Arc::clone(k),
                Some(k) if k.same_limits(&record) => Arc::new(LiveKey {
                    record,
                    rpm: k.rpm.clone(),
                    tpm: k.tpm.clone(),
                }),
                _ => Arc::new(LiveKey::new(record, &self.0.clock)),
            };
            table.by_hash.insert(hash, live);
        }
        if let Ok(mut t) = self.0.table.write() {
            *t = Arc::new(table);
        }
        // The digest as it is: a conversion to unsigned had sent every negative digest (half
        // of them) to 0, so two different tables could look unchanged and a key created or
        // revoked was missed until a later change.
        self.0.seen_version.store(version, Ordering::SeqCst);
        Ok(())
    }
}

/// The key a request authenticated with (a request extension set by [`require_key`]).
#[derive(Clone, Debug)]
pub struct Caller {
    key: Arc<LiveKey>,
    ledger: Arc<Ledger>,
    shared: Option<Arc<SharedCounters>>,
}

impl Caller {
    /// The key's settings.
    pub fn record(&self) -> &KeyRecord {
        &self.key.record
    }
}

/// The `switchyard_key_rejections_total` reason of a refusal by a key check: the check's own
/// `reason` (`rate_limit_tokens`, `budget`, …), or `limits_unavailable` when it was Redis that
/// did not answer (`[redis] on_unavailable = "refuse"`).
pub fn rejection_reason(error: &ApiError, reason: &'static str) -> &'static str {
    match error {
        ApiError::LimitsUnavailable => "limits_unavailable",
        _ => reason,
    }
}

/// The token of `Authorization: Bearer <token>`; the scheme name is case-insensitive (RFC 9110
/// §11.1), so `bearer` and `BEARER` count too.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// The key presented on a request: `Authorization: Bearer <key>` (any case of `Bearer`) or
/// `x-api-key: <key>`.
pub(crate) fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if headers.contains_key(header::AUTHORIZATION) {
        return bearer(headers);
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Middleware in front of `/v1/*`: authenticates the key and takes its request-per-minute
/// limit. Without any key configured it lets everything through.
pub async fn require_key(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let auth = &state.auth;
    if !auth.configured() {
        return next.run(req).await;
    }
    let Some(given) = presented_key(req.headers()) else {
        return ApiError::InvalidApiKey(
            "missing API key: send `Authorization: Bearer <key>` or `x-api-key: <key>`",
        )
        .into_response();
    };
    match auth.authenticate(given).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => {
            state.metrics.key_rejected(match &e {
                ApiError::KeyRateLimited { .. } => "rate_limit_requests",
                _ => rejection_reason(&e, "invalid_key"),
            });
            e.into_response()
        }
    }
}

/// [`require_key`] for `/v1/feedback`, which the admin key may call too (`Authorization:
/// Bearer <admin key>`), for instance from a review tool labelling any client's requests. An
/// admin request carries no [`Caller`].
pub async fn require_key_or_admin(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if state.auth.configured() && crate::http::admin::authorize(&state, req.headers()).is_ok() {
        return next.run(req).await;
    }
    require_key(State(state), req, next).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn keys_come_from_bearer_or_x_api_key() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h), None);
        h.insert("x-api-key", HeaderValue::from_static("sy-a"));
        assert_eq!(presented_key(&h), Some("sy-a"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  sy-b "),
        );
        assert_eq!(presented_key(&h), Some("sy-b"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(presented_key(&h), None);
        assert_eq!(crate::outcome::record::truncated("héllo", 2), "h");
    }
}
