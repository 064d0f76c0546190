//! `switchyard keys`: create, list and revoke client keys in the gateway's database.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use gateway::auth::budget::utc_minute;
use gateway::auth::{KeyStore, KeyStoreError};
use outcome_log::Location;

#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(subcommand)]
    action: Action,
}

/// Where the database is: the outcome log (its SQLite file or PostgreSQL database), which
/// also holds the client keys. Shared by `keys`, `spend` and `log`.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArgs {
    /// Gateway config whose `[log] postgres` or `[log] sqlite` is the database (for `keys
    /// create`, its catalog also resolves `--models`). A relative `[log] sqlite` resolves
    /// against the working directory, as `switchyard serve` resolves it.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// The database, overriding the config's: a SQLite file or a `postgres://` URL (default:
    /// the config's `[log] postgres`, else its `[log] sqlite`, .switchyard/outcomes.sqlite).
    #[arg(long, global = true)]
    pub db: Option<PathBuf>,
}

impl DbArgs {
    /// The validated gateway config (defaults without `--config`).
    pub fn gateway_config(&self) -> anyhow::Result<gateway::Config> {
        gateway::Config::load(self.config.as_deref()).with_context(|| match &self.config {
            Some(p) => format!("loading {}", p.display()),
            None => "loading the default gateway config".to_owned(),
        })
    }

    /// The outcome log: `--db` (a file or a `postgres://` URL; a path that is not UTF-8 is a
    /// file, taken as it is), else the config's `[log] postgres` or `[log] sqlite`.
    pub fn log(&self, config: &gateway::Config) -> Location {
        match self.db.as_deref() {
            Some(path) => match path.to_str() {
                Some(db) => Location::parse(db),
                None => Location::Sqlite(path.to_owned()),
            },
            None => config.log.location(),
        }
    }

    /// Where [`DbArgs::log`] came from, for messages.
    fn origin(&self) -> String {
        match (&self.db, &self.config) {
            (Some(_), _) => "--db".to_owned(),
            (None, Some(config)) => format!("`[log] sqlite` of {}", config.display()),
            (None, None) => "the default `[log] sqlite`".to_owned(),
        }
    }

    /// [`DbArgs::log`] for the commands that read an existing log (`keys list`, `keys
    /// revoke`, `spend`, `log export`, `log prune`): a SQLite file that is not there is an
    /// error naming its absolute path, where the path came from and the fix, and nothing is
    /// created.
    pub fn existing_log(&self, config: &gateway::Config) -> anyhow::Result<Location> {
        let at = self.log(config);
        if let Location::Sqlite(path) = &at {
            if !path.is_file() {
                anyhow::bail!(
                    "no outcome log at {} (from {}); pass --db with the path of the gateway's `[log] sqlite` (or the URL of its `[log] postgres`), or --config with its config file{}",
                    absolute(path).display(),
                    self.origin(),
                    relative_note(path)
                );
            }
        }
        Ok(at)
    }
}

/// `path` against the working directory, as SQLite opens it and `serve` resolves `[log]
/// sqlite`.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// A database for messages: a SQLite file by its absolute path.
pub fn shown(at: &Location) -> String {
    match at {
        Location::Sqlite(path) => absolute(path).display().to_string(),
        Location::Postgres(_) => at.to_string(),
    }
}

/// For a relative path: how it was resolved, and how to reach the gateway's file.
fn relative_note(path: &Path) -> String {
    if path.is_absolute() {
        return String::new();
    }
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| "unknown".to_owned());
    format!(
        " (a relative path resolves against the working directory, here {cwd}, as `switchyard serve` resolves it: run this from the gateway's working directory, systemd's WorkingDirectory=, or use an absolute path)"
    )
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Create a key and print it once on stdout (store it now: only its SHA-256 is kept).
    Create {
        /// A name for the key (unique among active keys), e.g. the team or app using it.
        #[arg(long)]
        name: String,
        /// Spend limit in USD per --period; requests past it get 429 insufficient_quota.
        #[arg(long, allow_hyphen_values = true)]
        budget_usd: Option<f64>,
        /// The budget period, day or month (UTC; default month).
        #[arg(long, value_parser = ["day", "month"])]
        period: Option<String>,
        /// Requests per minute; more get 429 with Retry-After.
        #[arg(long, allow_hyphen_values = true)]
        rpm: Option<u32>,
        /// Tokens (prompt + completion) per minute; more get 429 with Retry-After.
        #[arg(long, allow_hyphen_values = true)]
        tpm: Option<u32>,
        /// Comma-separated catalog models (or `[[embeddings]]` models) the key may use (default:
        /// all); `auto` routes among them, others get 403.
        #[arg(long, value_delimiter = ',')]
        models: Option<Vec<String>>,
        /// Screen the key's requests with this `[guardrails.profiles.NAME]` of the config
        /// instead of the global `[guardrails]` (e.g. a stricter policy for an external app).
        #[arg(long)]
        guardrails: Option<String>,
    },
    /// List every key (revoked ones included); never shows the keys themselves.
    List {
        /// One JSON object per key instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id or name; a running gateway refuses it within a second.
    Revoke {
        /// The key's id (`key_…`) or name.
        key: String,
    },
}

fn open(db: &Location) -> anyhow::Result<KeyStore> {
    KeyStore::open_at(db).with_context(|| format!("opening the key table in {}", shown(db)))
}

/// For the commands that only read or revoke: creates nothing ([`KeyStore::open_existing`]).
fn open_existing(db: &Location) -> anyhow::Result<KeyStore> {
    KeyStore::open_existing(db).with_context(|| format!("opening the key table in {}", shown(db)))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub fn run(args: KeysArgs) -> anyhow::Result<()> {
    let config = args.db.gateway_config()?;
    match args.action {
        Action::Create {
            name,
            budget_usd,
            period,
            rpm,
            tpm,
            models,
            guardrails,
        } => {
            let new = gateway::http::keys::new_key(
                &config,
                gateway::http::keys::KeyRequest {
                    name,
                    budget_usd,
                    period,
                    rpm,
                    tpm,
                    models,
                    guardrails,
                },
            )
            .map_err(|e| match e {
                // The shared checks name the API's fields; here they are flags.
                KeyStoreError::Invalid { field, message } => anyhow::anyhow!(
                    "--{}: {}",
                    field.replace('_', "-"),
                    message.replace("budget_usd", "--budget-usd")
                ),
                other => other.into(),
            })?;
            let db = args.db.log(&config);
            // `create` is how a first key is made before the gateway ever ran, so it may create
            // the database; when it does, it says so (a mistaken path is the likely cause).
            let new_file = match &db {
                Location::Sqlite(path) => !path.exists(),
                Location::Postgres(_) => false,
            };
            let (record, key) = open(&db)?.create(&new, now_ms())?;
            // Not `outln!`: a key that cannot be shown is lost, which is a failure, not a
            // reader that stopped early.
            writeln!(std::io::stdout(), "{}", key.expose()).with_context(|| {
                format!(
                    "key {} ({}) was created but could not be printed; revoke it (`switchyard keys revoke {}`) and create another",
                    record.id, record.name, record.id
                )
            })?;
            eprintln!(
                "created key {} ({}) in {}; this is the only time it is shown",
                record.id,
                record.name,
                shown(&db)
            );
            if let (true, Location::Sqlite(path)) = (new_file, &db) {
                eprintln!(
                    "note: {} did not exist and is a new database holding only this key: a gateway whose `[log] sqlite` is another file will refuse the key{}",
                    absolute(path).display(),
                    relative_note(path)
                );
            }
        }
        Action::List { json } => {
            let db = args.db.existing_log(&config)?;
            let keys = open_existing(&db)?.list()?;
            if json {
                for k in &keys {
                    outln!("{}", serde_json::to_string(k)?)?;
                }
                return Ok(());
            }
            outln!(
                "{:<20} {:<16} {:<16} {:<8} {:>14} {:>6} {:>8} {:<12} MODELS",
                "ID",
                "NAME",
                "CREATED (UTC)",
                "STATUS",
                "BUDGET USD",
                "RPM",
                "TPM",
                "GUARDRAILS"
            )?;
            for k in &keys {
                let budget = k
                    .budget
                    .map(|b| format!("{:.2}/{}", b.limit_usd, b.period.as_str()))
                    .unwrap_or_else(|| "-".to_owned());
                let n = |v: Option<std::num::NonZeroU32>| {
                    v.map_or_else(|| "-".to_owned(), |n| n.to_string())
                };
                let models = k
                    .models
                    .as_ref()
                    .map(|m| m.iter().map(|id| id.as_str()).collect::<Vec<_>>().join(","))
                    .unwrap_or_else(|| "all".to_owned());
                outln!(
                    "{:<20} {:<16} {:<16} {:<8} {:>14} {:>6} {:>8} {:<12} {}",
                    k.id,
                    k.name,
                    utc_minute(k.created_ms),
                    if k.revoked_ms.is_some() {
                        "revoked"
                    } else {
                        "active"
                    },
                    budget,
                    n(k.rpm),
                    n(k.tpm),
                    k.guardrails.as_deref().unwrap_or("default"),
                    models
                )?;
            }
            if keys.is_empty() {
                eprintln!(
                    "no keys in {}; without keys the gateway serves only on loopback",
                    shown(&db)
                );
            }
        }
        Action::Revoke { key } => {
            let db = args.db.existing_log(&config)?;
            let mut store = open_existing(&db)?;
            match store.revoke(&key, now_ms()) {
                Ok(record) => eprintln!("revoked key {} ({})", record.id, record.name),
                // Revoking a key that is already revoked succeeds (exit 0) and says so: the key
                // is refused either way, so a clean-up script that revokes twice has nothing
                // left to do, and "no such key" would be false (`keys list` shows it).
                Err(KeyStoreError::NotFound(_)) => {
                    let revoked = store
                        .list()?
                        .into_iter()
                        .filter(|k| k.id == key || k.name == key)
                        .filter_map(|k| k.revoked_ms.map(|at| (at, k)))
                        .max_by_key(|(at, _)| *at);
                    match revoked {
                        Some((at, k)) => eprintln!(
                            "key {} ({}) was already revoked at {} UTC; nothing to do",
                            k.id,
                            k.name,
                            utc_minute(at)
                        ),
                        None => anyhow::bail!(
                            "no key with id or name `{key}` in {}; `switchyard keys list` shows them",
                            shown(&db)
                        ),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}
