//! `switchyard keys`: create, list and revoke client keys in the gateway's database.

use std::path::PathBuf;

use anyhow::Context;
use gateway::auth::budget::utc_minute;
use gateway::auth::KeyStore;

#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(subcommand)]
    action: Action,
}

/// Where the key table is: the outcome log's SQLite database.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArgs {
    /// Gateway config whose `[log] postgres` or `[log] sqlite` holds the keys (its catalog also resolves
    /// `--models`).
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

    /// The outcome log: `--db` (a file or a `postgres://` URL), else the config's `[log]
    /// postgres` or `[log] sqlite`.
    pub fn log(&self, config: &gateway::Config) -> outcome_log::Location {
        match self.db.as_deref().and_then(|p| p.to_str()) {
            Some(db) => outcome_log::Location::parse(db),
            None => config.log.location(),
        }
    }
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Create a key and print it once on stdout (store it now: only its SHA-256 is kept).
    Create {
        /// A name for the key (unique among active keys), e.g. the team or app using it.
        #[arg(long)]
        name: String,
        /// Spend limit in USD per --period; requests past it get 429 insufficient_quota.
        #[arg(long)]
        budget_usd: Option<f64>,
        /// The budget period, day or month (UTC; default month).
        #[arg(long, value_parser = ["day", "month"])]
        period: Option<String>,
        /// Requests per minute; more get 429 with Retry-After.
        #[arg(long)]
        rpm: Option<u32>,
        /// Tokens (prompt + completion) per minute; more get 429 with Retry-After.
        #[arg(long)]
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

fn open(db: &outcome_log::Location) -> anyhow::Result<KeyStore> {
    KeyStore::open_at(db).with_context(|| format!("opening the key table in {db}"))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub fn run(args: KeysArgs) -> anyhow::Result<()> {
    let config = args.db.gateway_config()?;
    let db = args.db.log(&config);
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
                gateway::auth::KeyStoreError::Invalid { field, message } => {
                    anyhow::anyhow!("--{}: {message}", field.replace('_', "-"))
                }
                other => other.into(),
            })?;
            let (record, key) = open(&db)?.create(&new, now_ms())?;
            println!("{}", key.expose());
            eprintln!(
                "created key {} ({}) in {}; this is the only time it is shown",
                record.id, record.name, db
            );
        }
        Action::List { json } => {
            let keys = open(&db)?.list()?;
            if json {
                for k in &keys {
                    println!("{}", serde_json::to_string(k)?);
                }
                return Ok(());
            }
            println!(
                "{:<20} {:<16} {:<16} {:<8} {:>14} {:>6} {:>8} {:<12} MODELS",
                "ID", "NAME", "CREATED (UTC)", "STATUS", "BUDGET USD", "RPM", "TPM", "GUARDRAILS"
            );
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
                println!(
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
                );
            }
            if keys.is_empty() {
                eprintln!(
                    "no keys in {}; without keys the gateway serves only on loopback",
                    db
                );
            }
        }
        Action::Revoke { key } => {
            let record = open(&db)?.revoke(&key, now_ms())?;
            eprintln!("revoked key {} ({})", record.id, record.name);
        }
    }
    Ok(())
}
