//! The `client_keys` table, in the outcome log's database (the SQLite file, or the PostgreSQL
//! database of `[log] postgres`, so that every replica sees the same keys): one row per key
//! with its SHA-256 (never the key), name, limits and revocation time.
//!
//! Keys are 256 random bits, so a plain SHA-256 is enough to store them: nothing can be
//! guessed from the hash, and the check on the hot path is one hash and one map lookup (a slow
//! password hash only pays off for low-entropy secrets).

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use outcome_log::{Location, PgUrl};
use rand::RngCore as _;
use router_core::ModelId;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::budget::{Budget, Period};
use crate::secret::Secret;

/// The prefix of every client key.
pub const KEY_PREFIX: &str = "sy-";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS client_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    sha256      TEXT NOT NULL UNIQUE,
    created_ms  INTEGER NOT NULL,
    revoked_ms  INTEGER,
    budget_usd  REAL,
    period      TEXT,
    rpm         INTEGER,
    tpm         INTEGER,
    models      TEXT,
    guardrails  TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS client_keys_active_name
    ON client_keys(name) WHERE revoked_ms IS NULL;
";

/// The same table in PostgreSQL's types.
const PG_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS client_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    sha256      TEXT NOT NULL UNIQUE,
    created_ms  BIGINT NOT NULL,
    revoked_ms  BIGINT,
    budget_usd  DOUBLE PRECISION,
    period      TEXT,
    rpm         BIGINT,
    tpm         BIGINT,
    models      TEXT,
    guardrails  TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS client_keys_active_name
    ON client_keys(name) WHERE revoked_ms IS NULL;
";

// Statements both backends run: `$N` placeholders, each first used in order, bind by position
// in SQLite as in PostgreSQL.
const INSERT_KEY: &str = "INSERT INTO client_keys
     (id, name, sha256, created_ms, budget_usd, period, rpm, tpm, models, guardrails)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
const ACTIVE_ID: &str =
    "SELECT id FROM client_keys WHERE revoked_ms IS NULL AND (id = $1 OR name = $1)";
const REVOKE: &str = "UPDATE client_keys SET revoked_ms = $1 WHERE id = $2";
const LOAD: &str = "SELECT id, name, sha256, created_ms, revoked_ms, budget_usd, period, rpm, tpm,
        models, guardrails
 FROM client_keys ORDER BY created_ms, id";

/// A stored row as either backend reads it, before its fields are checked.
type RawKey = (
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<f64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

/// A failure of the key table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyStoreError {
    /// The database could not be opened or queried.
    #[error("key database {path}: {source}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// PostgreSQL refused the connection or a statement.
    #[error("key database {url}: {message}")]
    Pg {
        /// The database (password masked).
        url: PgUrl,
        /// The server's or driver's message.
        message: String,
    },
    /// The folder of the database could not be created.
    #[error("key database folder {path}: {source}")]
    Dir {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An active key already has this name.
    #[error("an active key is already named `{0}`; pick another name or revoke it first")]
    NameTaken(String),
    /// No key has this id or name.
    #[error("no key with id or name `{0}`; `switchyard keys list` shows them")]
    NotFound(String),
    /// A field of a new key is out of range.
    #[error("{field}: {message}")]
    Invalid {
        /// The field (`name`, `budget_usd`, ...).
        field: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A stored row is unreadable (edited by hand?).
    #[error("key `{id}` in {at} has an unreadable {field}")]
    Corrupt {
        /// The database.
        at: Location,
        /// The key id.
        id: String,
        /// The column.
        field: &'static str,
    },
}

/// A stored key: everything but the secret.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyRecord {
    /// The public id (`key_` + 16 hex digits), written on outcome rows.
    pub id: String,
    /// The operator's name for it.
    pub name: String,
    /// Unix ms of creation.
    pub created_ms: u64,
    /// Unix ms of revocation; revoked keys are refused.
    pub revoked_ms: Option<u64>,
    /// Spend limit per period.
    pub budget: Option<Budget>,
    /// Requests per minute.
    pub rpm: Option<NonZeroU32>,
    /// Tokens (prompt + completion) per minute.
    pub tpm: Option<NonZeroU32>,
    /// Models the key may use (catalog ids); `None`: all.
    pub models: Option<Vec<ModelId>>,
    /// The `[guardrails.profiles.NAME]` its requests are screened with; `None`: the global
    /// `[guardrails]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guardrails: Option<String>,
}

impl KeyRecord {
    /// Whether the key may call `model`.
    pub fn allows(&self, model: &ModelId) -> bool {
        self.models.as_ref().is_none_or(|m| m.contains(model))
    }
}

/// The settings of a key to create.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewKey {
    /// The name (unique among active keys).
    pub name: String,
    /// Spend limit per period.
    pub budget: Option<Budget>,
    /// Requests per minute.
    pub rpm: Option<NonZeroU32>,
    /// Tokens per minute.
    pub tpm: Option<NonZeroU32>,
    /// Allowed models (already resolved to catalog ids).
    pub models: Option<Vec<ModelId>>,
    /// A guardrails profile name (checked against the config by the caller).
    pub guardrails: Option<String>,
}

impl NewKey {
    /// Checks the fields a client or the CLI gave.
    pub fn validate(&self) -> Result<(), KeyStoreError> {
        let name = self.name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(KeyStoreError::Invalid {
                field: "name",
                message: "must be 1 to 64 printable characters".to_owned(),
            });
        }
        // Names are shown in `keys list`, the dashboard and logs: a character one cannot see
        // (zero-width, a bidirectional override that reorders the text after it) would let two
        // active keys look alike, or a name pass for another.
        if let Some(c) = name.chars().find(|&c| unseen(c)) {
            return Err(KeyStoreError::Invalid {
                field: "name",
                message: format!(
                    "`{}` contains U+{:04X}, a control, invisible or bidirectional-control character; use 1 to 64 visible characters (letters, digits, punctuation, spaces)",
                    name.escape_debug(),
                    u32::from(c)
                ),
            });
        }
        // Revocation takes an id or a name: a name shaped like an id could make
        // `keys revoke key_…` revoke another key than the one meant.
        if name.starts_with("key_") {
            return Err(KeyStoreError::Invalid {
                field: "name",
                message: format!(
                    "`{name}` starts with `key_`, as key ids do; choose a name that doesn't"
                ),
            });
        }
        if let Some(b) = self.budget {
            if !(b.limit_usd.is_finite() && b.limit_usd > 0.0 && b.limit_usd <= 1e9) {
                return Err(KeyStoreError::Invalid {
                    field: "budget_usd",
                    message: format!(
                        "{} must be a positive number of USD, at most 1e9",
                        b.limit_usd
                    ),
                });
            }
        }
        if let Some(g) = &self.guardrails {
            if !crate::config::is_profile_name(g) {
                return Err(KeyStoreError::Invalid {
                    field: "guardrails",
                    message: format!(
                        "`{g}`: a profile name is 1 to 64 ASCII letters, digits, `-`, `_` or `.`"
                    ),
                });
            }
        }
        if let Some(m) = &self.models {
            if m.is_empty() || m.len() > 1000 {
                return Err(KeyStoreError::Invalid {
                    field: "models",
                    message: "list 1 to 1000 catalog models, or leave it out to allow all"
                        .to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// Whether a key name may not hold `c`: control characters (Unicode Cc), format characters
/// (Cf: zero-width spaces and joiners, bidirectional marks, embeddings, overrides and isolates,
/// the byte order mark, tag characters), line and paragraph separators (Zl, Zp), whitespace
/// other than the ASCII space (a no-break space looks like one), and the fillers that render
/// as nothing (the combining grapheme joiner, the Hangul fillers).
fn unseen(c: char) -> bool {
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(
            u32::from(c),
            0x00AD
                | 0x034F
                | 0x0600..=0x0605
                | 0x061C
                | 0x06DD
                | 0x070F
                | 0x0890..=0x0891
                | 0x08E2
                | 0x115F..=0x1160
                | 0x180E
                | 0x200B..=0x200F
                | 0x2028..=0x202E
                | 0x2060..=0x2064
                | 0x2066..=0x206F
                | 0x3164
                | 0xFEFF
                | 0xFFA0
                | 0xFFF9..=0xFFFB
                | 0x110BD
                | 0x110CD
                | 0x13430..=0x1343F
                | 0x1BCA0..=0x1BCA3
                | 0x1D173..=0x1D17A
                | 0xE0001
                | 0xE0020..=0xE007F
        )
}

/// The server's own message (the driver's `Display` says only "db error").
fn pg_error(url: &PgUrl, e: &postgres::Error) -> KeyStoreError {
    KeyStoreError::Pg {
        url: url.clone(),
        message: match e.as_db_error() {
            Some(db) => db.message().to_owned(),
            None => e.to_string(),
        },
    }
}

/// Adds the `guardrails` column to a key table made before per-key guardrails existed (its
/// keys keep the global policy).
fn add_guardrails_column(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool = conn.query_row(
        "SELECT count(*) FROM pragma_table_info('client_keys') WHERE name = 'guardrails'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !has {
        conn.execute_batch("ALTER TABLE client_keys ADD COLUMN guardrails TEXT")?;
    }
    Ok(())
}

/// The SHA-256 of a presented key.
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A fresh key: `sy-` and 256 random bits in unpadded base64url (43 characters).
fn generate() -> Secret<String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret::new(format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

fn new_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("key_{}", hex::encode(bytes))
}

/// [`KeyStore::data_version`] of `rows`.
fn digest_of(rows: &[RawKey]) -> i64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    // Debug text covers every column, floats included (which `Hash` does not).
    format!("{rows:?}").hash(&mut hasher);
    i64::from_ne_bytes(hasher.finish().to_ne_bytes())
}

/// The key table as read: the rows that read back, with their key hashes, and how many did
/// not.
#[derive(Debug)]
pub struct Loaded {
    /// Every row that reads back, revoked ones included.
    pub keys: Vec<(KeyRecord, [u8; 32])>,
    /// Rows left out because a field does not read back (a hand edit, a newer version's row):
    /// they grant nothing, but they are keys, so the gateway still requires one.
    pub unreadable: usize,
    /// [`KeyStore::data_version`] of exactly these rows.
    pub version: i64,
}

/// An open key table.
#[derive(Debug)]
pub struct KeyStore {
    conn: Conn,
    at: Location,
    /// Whether the `client_keys` table exists: false only for a SQLite file opened by
    /// [`KeyStore::open_existing`] without one (it reads as no keys; `create` makes it).
    table: bool,
}

#[derive(Debug)]
enum Conn {
    Sqlite(Connection),
    /// Behind a lock because the driver needs `&mut` for every query and the store's reads
    /// take `&self`.
    Postgres(Box<Mutex<PgClient>>),
}

/// The blocking PostgreSQL client (its `Debug` would print nothing useful).
struct PgClient(postgres::Client);

impl std::fmt::Debug for PgClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("postgres::Client")
    }
}

impl KeyStore {
    /// Opens the key table where the outcome log is: the SQLite file or the PostgreSQL
    /// database (creating the table).
    pub fn open_at(at: &Location) -> Result<KeyStore, KeyStoreError> {
        match at {
            Location::Sqlite(path) => KeyStore::open(path),
            Location::Postgres(url) => {
                let client = outcome_log::pg::off_runtime(|| {
                    let mut c = outcome_log::pg::connect(url).map_err(|e| KeyStoreError::Pg {
                        url: url.clone(),
                        message: e.to_string(),
                    })?;
                    // Quiet: `IF NOT EXISTS` logs a NOTICE per existing object otherwise.
                    c.batch_execute("SET client_min_messages = warning;")
                        .and_then(|()| c.batch_execute(PG_SCHEMA))
                        .map_err(|e| pg_error(url, &e))?;
                    Ok::<_, KeyStoreError>(c)
                })?;
                Ok(KeyStore {
                    conn: Conn::Postgres(Box::new(Mutex::new(PgClient(client)))),
                    at: at.clone(),
                    table: true,
                })
            }
        }
    }

    /// Where the table is.
    pub fn location(&self) -> &Location {
        &self.at
    }

    /// Runs `f` on the PostgreSQL connection, off any runtime thread (the blocking driver
    /// refuses to run on one). `None` on SQLite.
    fn pg<T: Send>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error> + Send,
    ) -> Option<Result<T, KeyStoreError>> {
        let (Conn::Postgres(client), Location::Postgres(url)) = (&self.conn, &self.at) else {
            return None;
        };
        let mut guard = client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A connection the server closed (a restart, a failover, a proxy's idle cut) stays
        // closed: reconnect, or the key refresh would never see another change (a revoked key
        // kept working until the gateway restarted).
        if guard.0.is_closed() {
            match outcome_log::pg::off_runtime(|| outcome_log::pg::connect(url)) {
                Ok(fresh) => guard.0 = fresh,
                Err(e) => {
                    return Some(Err(KeyStoreError::Pg {
                        url: url.clone(),
                        message: e.to_string(),
                    }))
                }
            }
        }
        let client = &mut guard.0;
        Some(outcome_log::pg::off_runtime(|| f(client)).map_err(|e| pg_error(url, &e)))
    }

    fn sqlite(&self) -> Option<&Connection> {
        match &self.conn {
            Conn::Sqlite(c) => Some(c),
            Conn::Postgres(_) => None,
        }
    }

    /// Opens `path` (creating the database, its folder and the table).
    pub fn open(path: &Path) -> Result<KeyStore, KeyStoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| KeyStoreError::Dir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let db = |source| KeyStoreError::Db {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(db)?;
        // The gateway's outcome writer holds the same file; wait for its commits.
        conn.busy_timeout(Duration::from_secs(5)).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .and_then(|_| conn.execute_batch(SCHEMA))
            .and_then(|_| add_guardrails_column(&conn))
            .map_err(db)?;
        Ok(KeyStore {
            conn: Conn::Sqlite(conn),
            at: Location::Sqlite(path.to_owned()),
            table: true,
        })
    }

    /// Opens the key table of a database that already exists, creating nothing: no file, no
    /// folder, no table, no change of journal mode. For the commands that only read or revoke
    /// (`switchyard keys list`, `keys revoke`): run at a mistaken path they must not leave an
    /// empty database behind (which `switchyard spend` would then read as a log without
    /// spend), nor change another application's SQLite file. A file without the table reads
    /// as no keys. On PostgreSQL this is [`KeyStore::open_at`] (the database is the server's;
    /// nothing is created but the table).
    pub fn open_existing(at: &Location) -> Result<KeyStore, KeyStoreError> {
        let Location::Sqlite(path) = at else {
            return KeyStore::open_at(at);
        };
        let db = |source| KeyStoreError::Db {
            path: path.to_owned(),
            source,
        };
        // Without SQLITE_OPEN_CREATE: a missing file is an error, not a new database.
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
            | rusqlite::OpenFlags::SQLITE_OPEN_URI
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(db)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(db)?;
        let table: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'client_keys'",
                [],
                |r| r.get::<_, i64>(0).map(|n| n > 0),
            )
            .map_err(db)?;
        if table {
            // The table's own migration, as the gateway runs it at start-up.
            add_guardrails_column(&conn).map_err(db)?;
        }
        Ok(KeyStore {
            conn: Conn::Sqlite(conn),
            at: at.clone(),
            table,
        })
    }

    fn db(&self, source: rusqlite::Error) -> KeyStoreError {
        KeyStoreError::Db {
            path: match &self.at {
                Location::Sqlite(p) => p.clone(),
                Location::Postgres(u) => PathBuf::from(u.to_string()),
            },
            source,
        }
    }

    /// A number that changes when the key table changes (by any connection: the CLI, another
    /// replica, a hand edit): the gateway polls it to pick up those changes. It is a digest of
    /// the table's rows, not `PRAGMA data_version`, because the table shares its file with the
    /// outcome log, which commits on every request: the file's version would change every poll
    /// and every key would be reloaded once a second under traffic. Counting rows and
    /// revocations, as before, missed a hand-edited limit (a key's `rpm`, budget or models)
    /// until the next create or revoke.
    pub fn data_version(&self) -> Result<i64, KeyStoreError> {
        Ok(digest_of(&self.raw()?))
    }

    /// Creates a key; returns its record and the key itself (shown once, never stored).
    pub fn create(
        &mut self,
        new: &NewKey,
        now_ms: u64,
    ) -> Result<(KeyRecord, Secret<String>), KeyStoreError> {
        new.validate()?;
        let name = new.name.trim().to_owned();
        let key = generate();
        let record = KeyRecord {
            id: new_id(),
            name: name.clone(),
            created_ms: now_ms,
            revoked_ms: None,
            budget: new.budget,
            rpm: new.rpm,
            tpm: new.tpm,
            models: new.models.clone(),
            guardrails: new.guardrails.clone(),
        };
        let models = match &record.models {
            Some(m) => Some(
                serde_json::to_string(m).map_err(|_| KeyStoreError::Invalid {
                    field: "models",
                    message: "cannot be stored".to_owned(),
                })?,
            ),
            None => None,
        };
        let sha = hex::encode(digest(key.expose()));
        let created = i64::try_from(now_ms).unwrap_or(i64::MAX);
        let limit_usd = record.budget.map(|b| b.limit_usd);
        let period = record.budget.map(|b| b.period.as_str());
        let rpm = record.rpm.map(|n| i64::from(n.get()));
        let tpm = record.tpm.map(|n| i64::from(n.get()));
        // `Err(())` inside: the name is taken (the active-name index refused the row).
        if let Some(inserted) = self.pg(|c| {
            let inserted = c.execute(
                INSERT_KEY,
                &[
                    &record.id,
                    &record.name,
                    &sha,
                    &created,
                    &limit_usd,
                    &period,
                    &rpm,
                    &tpm,
                    &models,
                    &record.guardrails,
                ],
            );
            match inserted {
                Ok(_) => Ok(Ok(())),
                Err(e)
                    if e.as_db_error().and_then(|d| d.constraint())
                        == Some("client_keys_active_name") =>
                {
                    Ok(Err(()))
                }
                Err(e) => Err(e),
            }
        }) {
            return match inserted? {
                Ok(()) => Ok((record, key)),
                Err(()) => Err(KeyStoreError::NameTaken(name)),
            };
        }
        if !self.table {
            let conn = self
                .sqlite()
                .ok_or(KeyStoreError::NotFound(String::new()))?;
            conn.execute_batch(SCHEMA).map_err(|e| self.db(e))?;
            self.table = true;
        }
        let conn = self
            .sqlite()
            .ok_or(KeyStoreError::NotFound(String::new()))?;
        let inserted = conn.execute(
            INSERT_KEY,
            params![
                record.id,
                record.name,
                sha,
                created,
                limit_usd,
                period,
                rpm,
                tpm,
                models,
                record.guardrails,
            ],
        );
        match inserted {
            Ok(_) => Ok((record, key)),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(KeyStoreError::NameTaken(name))
            }
            Err(e) => Err(self.db(e)),
        }
    }

    /// Revokes the active key with this id or name; returns its record.
    pub fn revoke(&mut self, id_or_name: &str, now_ms: u64) -> Result<KeyRecord, KeyStoreError> {
        let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
        let id = match self.pg(|c| {
            let mut tx = c.transaction()?;
            let id: Option<String> = tx.query_opt(ACTIVE_ID, &[&id_or_name])?.map(|r| r.get(0));
            if let Some(id) = &id {
                tx.execute(REVOKE, &[&now, id])?;
            }
            tx.commit()?;
            Ok(id)
        }) {
            Some(id) => id?,
            None if !self.table => None,
            None => {
                let conn = self
                    .sqlite()
                    .ok_or(KeyStoreError::NotFound(String::new()))?;
                let id: Option<String> = conn
                    .query_row(ACTIVE_ID, [id_or_name], |r| r.get(0))
                    .optional()
                    .map_err(|e| self.db(e))?;
                if let Some(id) = &id {
                    conn.execute(REVOKE, params![now, id])
                        .map_err(|e| self.db(e))?;
                }
                id
            }
        };
        let Some(id) = id else {
            return Err(KeyStoreError::NotFound(id_or_name.to_owned()));
        };
        self.list()?
            .into_iter()
            .find(|k| k.id == id)
            .ok_or(KeyStoreError::NotFound(id))
    }

    /// Every key, revoked ones included, oldest first.
    pub fn list(&self) -> Result<Vec<KeyRecord>, KeyStoreError> {
        Ok(self.load()?.keys.into_iter().map(|(r, _)| r).collect())
    }

    /// Every key with its SHA-256, oldest first.
    pub fn load(&self) -> Result<Loaded, KeyStoreError> {
        self.decode(self.raw()?)
    }

    /// Every row as stored, oldest first.
    fn raw(&self) -> Result<Vec<RawKey>, KeyStoreError> {
        let rows = match self.pg(|c| {
            c.query(LOAD, &[]).map(|rows| {
                rows.iter()
                    .map(|r| {
                        (
                            r.get(0),
                            r.get(1),
                            r.get(2),
                            r.get(3),
                            r.get(4),
                            r.get(5),
                            r.get(6),
                            r.get(7),
                            r.get(8),
                            r.get(9),
                            r.get(10),
                        )
                    })
                    .collect::<Vec<RawKey>>()
            })
        }) {
            Some(rows) => rows?,
            None => self.load_sqlite()?,
        };
        Ok(rows)
    }

    fn load_sqlite(&self) -> Result<Vec<RawKey>, KeyStoreError> {
        if !self.table {
            return Ok(Vec::new());
        }
        let conn = self
            .sqlite()
            .ok_or(KeyStoreError::NotFound(String::new()))?;
        let mut stmt = conn.prepare(LOAD).map_err(|e| self.db(e))?;
        stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<f64>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<i64>>(7)?,
                r.get::<_, Option<i64>>(8)?,
                r.get::<_, Option<String>>(9)?,
                r.get::<_, Option<String>>(10)?,
            ))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| self.db(e))
    }

    /// Checks every stored field of `rows`. A row that does not read back (a hand edit, a
    /// newer version's row) is left out with a warning naming it and its field: it grants
    /// nothing, and the other rows, their revocations above all, still take effect. Failing
    /// the whole load instead kept the last table in a running gateway, revoked keys included.
    fn decode(&self, rows: Vec<RawKey>) -> Result<Loaded, KeyStoreError> {
        let mut out = Loaded {
            keys: Vec::with_capacity(rows.len()),
            unreadable: 0,
            version: digest_of(&rows),
        };
        for row in rows {
            match self.decode_row(row) {
                Ok(key) => out.keys.push(key),
                Err(e) => {
                    out.unreadable += 1;
                    tracing::warn!(error = %e, "Skipping a client key row that does not read back; it authenticates nothing.")
                }
            }
        }
        Ok(out)
    }

    /// One row of [`Self::decode`].
    fn decode_row(&self, row: RawKey) -> Result<(KeyRecord, [u8; 32]), KeyStoreError> {
        let (id, name, sha, created, revoked, budget, period, rpm, tpm, models, guardrails) = row;
        let corrupt = |field| KeyStoreError::Corrupt {
            at: self.at.clone(),
            id: id.clone(),
            field,
        };
        let mut hash = [0u8; 32];
        hex::decode_to_slice(&sha, &mut hash).map_err(|_| corrupt("sha256"))?;
        let budget = match (budget, period) {
            (Some(limit_usd), Some(p)) => Some(Budget {
                limit_usd,
                period: Period::parse(&p).ok_or_else(|| corrupt("period"))?,
            }),
            (None, None) => None,
            _ => return Err(corrupt("budget_usd")),
        };
        let limit = |v: Option<i64>, field| match v {
            None => Ok(None),
            Some(n) => u32::try_from(n)
                .ok()
                .and_then(NonZeroU32::new)
                .map(Some)
                .ok_or_else(|| corrupt(field)),
        };
        let models = match models {
            None => None,
            Some(m) => {
                Some(serde_json::from_str::<Vec<ModelId>>(&m).map_err(|_| corrupt("models"))?)
            }
        };
        Ok((
            KeyRecord {
                id: id.clone(),
                name,
                created_ms: u64::try_from(created).unwrap_or(0),
                revoked_ms: revoked.map(|r| u64::try_from(r).unwrap_or(0)),
                budget,
                rpm: limit(rpm, "rpm")?,
                tpm: limit(tpm, "tpm")?,
                models,
                guardrails,
            },
            hash,
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// A row that does not read back grants nothing and does not stop the others, or their
    /// revocations, from loading (it used to fail the whole load, and a running gateway then
    /// kept its last table, revoked keys included).
    #[test]
    fn a_row_that_does_not_read_back_is_skipped_and_revocations_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let mut store = KeyStore::open(&path).unwrap();
        let new = |name: &str| NewKey {
            name: name.to_owned(),
            budget: None,
            rpm: None,
            tpm: None,
            models: None,
            guardrails: None,
        };
        let (kept, _) = store.create(&new("kept"), 1).unwrap();
        let (gone, _) = store.create(&new("gone"), 1).unwrap();
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute(
                "INSERT INTO client_keys (id, name, sha256, created_ms, budget_usd, period)
                 VALUES ('key_handmade', 'handmade', ?1, 1, 1.0, 'week')",
                [hex::encode([7u8; 32])],
            )
            .unwrap();
        let revoked = store.revoke("gone", 2).unwrap();
        assert_eq!(revoked.revoked_ms, Some(2));
        let loaded = store.load().unwrap().keys;
        let mut ids: Vec<(&str, Option<u64>)> = loaded
            .iter()
            .map(|(k, _)| (k.id.as_str(), k.revoked_ms))
            .collect();
        ids.sort_unstable();
        let mut want = [(kept.id.as_str(), None), (gone.id.as_str(), Some(2))];
        want.sort_unstable();
        assert_eq!(ids, want);
    }

    /// A name shaped like a key id is refused: `revoke` takes an id or a name, and `key_…`
    /// could then name another key than the one meant.
    #[test]
    fn a_name_shaped_like_a_key_id_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = KeyStore::open(&dir.path().join("db.sqlite")).unwrap();
        let named = |name: &str| NewKey {
            name: name.to_owned(),
            ..NewKey::default()
        };
        let err = store.create(&named(" key_1a2b"), 1).unwrap_err();
        assert!(
            matches!(err, KeyStoreError::Invalid { field: "name", .. }),
            "{err}"
        );
        store.create(&named("monkey_1"), 1).unwrap();
    }

    #[test]
    fn the_key_version_moves_on_key_changes_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let mut store = KeyStore::open(&path).unwrap();
        let v0 = store.data_version().unwrap();
        // Another connection writing another table of the same file (the outcome log does on
        // every request) is not a key change.
        let other = rusqlite::Connection::open(&path).unwrap();
        other
            .execute_batch("CREATE TABLE other (x); INSERT INTO other VALUES (1);")
            .unwrap();
        assert_eq!(store.data_version().unwrap(), v0);
        let new = NewKey {
            name: "a".to_owned(),
            budget: None,
            rpm: None,
            tpm: None,
            models: None,
            guardrails: None,
        };
        store.create(&new, 1).unwrap();
        let v1 = store.data_version().unwrap();
        assert_ne!(v1, v0);
        store.revoke("a", 2).unwrap();
        let v2 = store.data_version().unwrap();
        assert_ne!(v2, v1);
        // A hand edit of a key's limits is a change too (before, only creates and revocations
        // were, so a running gateway kept the old limit until the next one).
        let (b, _) = store
            .create(
                &NewKey {
                    name: "b".to_owned(),
                    ..new
                },
                3,
            )
            .unwrap();
        let v3 = store.data_version().unwrap();
        other
            .execute("UPDATE client_keys SET rpm = 5 WHERE id = ?1", [&b.id])
            .unwrap();
        assert_ne!(store.data_version().unwrap(), v3);
        assert_ne!(v3, v2);
    }

    #[test]
    fn create_list_revoke_round_trip_and_only_the_hash_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let mut store = KeyStore::open(&path).unwrap();
        let new = NewKey {
            name: "ci".to_owned(),
            budget: Some(Budget {
                limit_usd: 2.5,
                period: Period::Month,
            }),
            rpm: NonZeroU32::new(60),
            tpm: None,
            models: Some(vec![ModelId::new("gpt-4o-mini")]),
            guardrails: Some("strict".to_owned()),
        };
        let (record, key) = store.create(&new, 1_000).unwrap();
        let key = key.expose().clone();
        assert!(key.starts_with(KEY_PREFIX) && key.len() == 3 + 43, "{key}");
        assert!(record.id.starts_with("key_"));
        let loaded = store.load().unwrap().keys;
        assert_eq!(loaded, vec![(record.clone(), digest(&key))]);
        let raw = std::fs::read(&path).unwrap();
        let wal = std::fs::read(path.with_extension("sqlite-wal")).unwrap_or_default();
        for bytes in [raw, wal] {
            assert!(!bytes.windows(key.len()).any(|w| w == key.as_bytes()));
        }
        assert!(matches!(
            store.create(&new, 2_000),
            Err(KeyStoreError::NameTaken(_))
        ));
        let revoked = store.revoke("ci", 3_000).unwrap();
        assert_eq!(revoked.revoked_ms, Some(3_000));
        // The name is free again once revoked.
        let (again, _) = store.create(&new, 4_000).unwrap();
        assert_ne!(again.id, record.id);
        assert_eq!(store.list().unwrap().len(), 2);
        assert!(matches!(
            store.revoke("nope", 5_000),
            Err(KeyStoreError::NotFound(_))
        ));
    }

    #[test]
    fn a_key_table_from_before_guardrails_gains_the_column_and_keeps_its_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE client_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL,
               sha256 TEXT NOT NULL UNIQUE, created_ms INTEGER NOT NULL, revoked_ms INTEGER,
               budget_usd REAL, period TEXT, rpm INTEGER, tpm INTEGER, models TEXT);
             INSERT INTO client_keys (id, name, sha256, created_ms)
               VALUES ('key_1', 'old', '00000000000000000000000000000000000000000000000000000000000000aa', 1);",
        )
        .unwrap();
        drop(old);
        let mut store = KeyStore::open(&path).unwrap();
        let keys = store.list().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].guardrails, None);
        let new = NewKey {
            name: "new".to_owned(),
            guardrails: Some("off".to_owned()),
            ..NewKey::default()
        };
        store.create(&new, 2).unwrap();
        assert_eq!(store.list().unwrap()[1].guardrails.as_deref(), Some("off"));
        // Opening again does not add it twice.
        drop(store);
        KeyStore::open(&path).unwrap();
    }

    #[test]
    fn bad_settings_name_the_field() {
        let bad = NewKey {
            name: " ".to_owned(),
            ..NewKey::default()
        };
        assert!(bad.validate().unwrap_err().to_string().starts_with("name"));
        let bad = NewKey {
            name: "x".to_owned(),
            budget: Some(Budget {
                limit_usd: f64::NAN,
                period: Period::Day,
            }),
            ..NewKey::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("budget_usd"));
    }

    /// Names that look like another (a zero-width space inside, a right-to-left override, a
    /// no-break space) are refused naming the field and the character; visible Unicode is not.
    #[test]
    fn a_name_with_invisible_or_bidi_characters_is_refused() {
        let named = |name: &str| NewKey {
            name: name.to_owned(),
            ..NewKey::default()
        };
        for (name, code) in [
            ("a\u{200B}b", "U+200B"),
            ("a\u{202E}b", "U+202E"),
            ("a\u{2066}b", "U+2066"),
            ("a\u{FEFF}b", "U+FEFF"),
            ("a\u{00A0}b", "U+00A0"),
            ("a\u{2028}b", "U+2028"),
            ("a\u{E0041}b", "U+E0041"),
            ("a\tb", "U+0009"),
        ] {
            let err = named(name).validate().unwrap_err().to_string();
            assert!(err.starts_with("name: "), "{name:?}: {err}");
            assert!(err.contains(code), "{name:?}: {err}");
        }
        for ok in ["team a", "équipe-ß", "チーム", "ops 🚀", "ops ❤\u{FE0F}"] {
            assert!(named(ok).validate().is_ok(), "{ok:?}");
        }
    }

    /// `open_existing` (what `keys list` and `keys revoke` use) creates nothing: a missing file
    /// is an error and stays missing, and another application's SQLite file keeps its tables
    /// and journal mode while reading as no keys.
    #[test]
    fn open_existing_creates_no_file_table_or_journal_change() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("sub").join("none.sqlite");
        assert!(KeyStore::open_existing(&Location::Sqlite(missing.clone())).is_err());
        assert!(!missing.exists() && !dir.path().join("sub").exists());

        let other = dir.path().join("other_app.sqlite");
        let conn = rusqlite::Connection::open(&other).unwrap();
        conn.execute_batch("CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('x');")
            .unwrap();
        drop(conn);
        let mut store = KeyStore::open_existing(&Location::Sqlite(other.clone())).unwrap();
        assert!(store.list().unwrap().is_empty());
        assert!(matches!(
            store.revoke("team", 1),
            Err(KeyStoreError::NotFound(_))
        ));
        drop(store);
        let conn = rusqlite::Connection::open(&other).unwrap();
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(tables, ["notes"]);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete");
    }

    /// The same table in PostgreSQL: shared by every replica, the same rules.
    #[test]
    fn keys_live_in_postgres_too() {
        let Some(pg) = testkit::postgres::PostgresServer::start() else {
            return;
        };
        let at = Location::parse(&pg.fresh_database());
        let mut store = KeyStore::open_at(&at).unwrap();
        let other = KeyStore::open_at(&at).unwrap();
        let v0 = other.data_version().unwrap();
        let new = NewKey {
            name: "team".to_owned(),
            budget: Some(Budget {
                limit_usd: 1.5,
                period: Period::Day,
            }),
            rpm: NonZeroU32::new(10),
            tpm: NonZeroU32::new(1000),
            models: Some(vec![ModelId::new("gpt-4o-mini")]),
            guardrails: None,
        };
        let (record, key) = store.create(&new, 1_000).unwrap();
        // Another replica's connection sees the key and the change.
        assert_eq!(
            other.load().unwrap().keys,
            vec![(record.clone(), digest(key.expose()))]
        );
        let v1 = other.data_version().unwrap();
        assert_ne!(v1, v0);
        assert!(matches!(
            store.create(&new, 2_000),
            Err(KeyStoreError::NameTaken(_))
        ));
        let revoked = store.revoke("team", 3_000).unwrap();
        assert_eq!(revoked.revoked_ms, Some(3_000));
        assert_ne!(other.data_version().unwrap(), v1);
        assert!(matches!(
            store.revoke("team", 4_000),
            Err(KeyStoreError::NotFound(_))
        ));
        // The name is free again once revoked.
        store.create(&new, 5_000).unwrap();
        assert_eq!(other.list().unwrap().len(), 2);
        // The server closes the watching replica's connection (a restart, a failover, a
        // proxy's idle cut): it reconnects and sees the next revocation. Before, the closed
        // connection stayed closed and a revoked key kept working until a restart.
        store
            .pg(|c| {
                c.batch_execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE pid <> pg_backend_pid() AND datname = current_database()",
                )
            })
            .unwrap()
            .unwrap();
        let before = (0..3).find_map(|_| other.data_version().ok()).unwrap();
        store.revoke("team", 6_000).unwrap();
        assert_ne!(other.data_version().unwrap(), before);
        assert!(other
            .load()
            .unwrap()
            .keys
            .iter()
            .all(|(k, _)| k.revoked_ms.is_some()));
    }
}
