//! Reading outcome logs: the gateway's SQLite database or its JSONL export.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use router_core::{Feedback, FeedbackSource, Outcome};
use rusqlite::{Connection, OpenFlags};

use super::FromLogError;

/// Reads every outcome, oldest first for databases and in file order for JSONL, with feedback
/// attached. The format follows the extension: `.db`, `.sqlite`, `.sqlite3` are the gateway's
/// database (opened read-only, so a running gateway may keep writing); `.jsonl` is one
/// `Outcome` JSON object per line (blank lines are skipped).
pub fn load_outcomes(path: &Path) -> Result<Vec<Outcome>, FromLogError> {
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

fn load_sqlite(path: &Path) -> Result<Vec<Outcome>, FromLogError> {
    // A read-only open of a missing file fails with SQLite's vague "unable to open database
    // file"; check first so the error says the file is not there.
    if !path.exists() {
        return Err(FromLogError::Read {
            path: path.to_owned(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let db = |source| FromLogError::Sqlite {
        path: path.to_owned(),
        source,
    };
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(db)?;
    let feedback = read_feedback(&conn).map_err(db)?;
    let mut stmt = conn
        .prepare("SELECT request_id, record FROM outcomes ORDER BY timestamp_ms, request_id")
        .map_err(db)?;
    let mut rows = stmt.query([]).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        let request_id: String = row.get(0).map_err(db)?;
        let record: String = row.get(1).map_err(db)?;
        let mut outcome: Outcome =
            serde_json::from_str(&record).map_err(|source| FromLogError::RecordInvalid {
                path: path.to_owned(),
                request_id: request_id.clone(),
                source,
            })?;
        if let Some(labels) = feedback.get(&request_id) {
            outcome.feedback.extend(labels.iter().cloned());
        }
        out.push(outcome);
    }
    Ok(out)
}

/// All feedback rows by request id, in insertion order; empty when the table is absent (an
/// older or foreign database).
fn read_feedback(conn: &Connection) -> Result<HashMap<String, Vec<Feedback>>, rusqlite::Error> {
    let exists: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'feedback'",
        [],
        |r| r.get(0),
    )?;
    let mut map: HashMap<String, Vec<Feedback>> = HashMap::new();
    if exists == 0 {
        return Ok(map);
    }
    // Logs written before the judge have no `source` column: every label there is human.
    let has_source: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('feedback') WHERE name = 'source'",
        [],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(if has_source {
        "SELECT request_id, metric, score, source FROM feedback ORDER BY id"
    } else {
        "SELECT request_id, metric, score, 'human' FROM feedback ORDER BY id"
    })?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            Feedback {
                metric: r.get(1)?,
                score: r.get(2)?,
                source: FeedbackSource::from_stored(&r.get::<_, String>(3)?),
            },
        ))
    })?;
    for row in rows {
        let (id, fb) = row?;
        map.entry(id).or_default().push(fb);
    }
    Ok(map)
}
