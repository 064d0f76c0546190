//! Reading outcome logs: the gateway's SQLite database or its JSONL export.

use std::io::BufRead;
use std::path::Path;

use outcome_log::OnBadRecord;
use router_core::Outcome;

use super::FromLogError;

/// Reads every outcome, oldest first for databases and in file order for JSONL, with feedback
/// attached. A `postgres://` URL reads the gateways' PostgreSQL log. Otherwise the format
/// follows the extension: `.db`, `.sqlite`, `.sqlite3` are the gateway's database (opened
/// read-only, so a running gateway may keep writing); `.jsonl` is one `Outcome` JSON object
/// per line (blank lines are skipped).
pub fn load_outcomes(path: &Path) -> Result<Vec<Outcome>, FromLogError> {
    if let Some(url) = path.to_str().filter(|s| outcome_log::PgUrl::is_url(s)) {
        let at = outcome_log::Location::Postgres(outcome_log::PgUrl::new(url));
        return outcome_log::read::read_outcomes_with(at, OnBadRecord::Fail)
            .map_err(|e| FromLogError::Postgres(e.to_string()));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("db" | "sqlite" | "sqlite3") => load_sqlite(path),
        Some("jsonl" | "ndjson") => load_jsonl(path),
        _ => Err(FromLogError::UnknownFormat {
            path: path.to_owned(),
        }),
    }
}

fn load_jsonl(path: &Path) -> Result<Vec<Outcome>, FromLogError> {
    let read = |source| FromLogError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(read)?;
        if line.trim().is_empty() {
            continue;
        }
        let outcome = serde_json::from_str(&line).map_err(|source| FromLogError::JsonLine {
            path: path.to_owned(),
            line: i + 1,
            source,
        })?;
        out.push(outcome);
    }
    Ok(out)
}

/// The gateway's database, through the `outcome-log` crate's reader. Training stops at an
/// unreadable row (naming it) rather than learning from a silently thinner log.
fn load_sqlite(path: &Path) -> Result<Vec<Outcome>, FromLogError> {
    outcome_log::read::read_outcomes_with(path, OnBadRecord::Fail).map_err(|e| match e {
        outcome_log::Error::Missing { path } => FromLogError::Read {
            path,
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        },
        outcome_log::Error::Sqlite { path, source } => FromLogError::Sqlite { path, source },
        outcome_log::Error::RecordInvalid {
            path,
            request_id,
            source,
        } => FromLogError::RecordInvalid {
            path,
            request_id,
            source,
        },
        // A read never creates folders or writes; keep any other error's message whole.
        other => FromLogError::Read {
            path: path.to_owned(),
            source: std::io::Error::other(other.to_string()),
        },
    })
}
