//! Retention by size on PostgreSQL: the same rule as the SQLite file's (`crate::retention`,
//! the size module): over the cap, the oldest outcomes are pruned (archived first, their spend
//! kept in `pruned_spend`) until the log is back under 90 % of it.
//!
//! What "the log's size" means differs. SQLite's pages in use are exact and cheap to read;
//! PostgreSQL reports no cheap live size: a table's files keep their length after a delete (the
//! space is reused once autovacuum has run), so their length would stay over the cap and every
//! pass would prune again. The cap applies instead to the **live data**, estimated per table
//! as its row count times the mean stored size of its newest 1,000 rows
//! (`pg_column_size`), plus each row's heap and index overhead. The estimate drops as soon as
//! rows are deleted, so a pass stops where it should. The files then stay near the size the cap
//! allows plus what autovacuum has not yet reclaimed; set the cap below the disk the database
//! may use, as with SQLite.

use postgres::Client;

use crate::location::PgUrl;
use crate::retention::{prune_until_under, Archive, PruneReport, SizeReport, SizedLog};
use crate::Error;

/// Rows whose sizes are averaged per table: the newest, so the mean follows today's rows.
const SAMPLE: i64 = 1000;

/// Per table: its name, the column its newest rows sort by, and the stored bytes of one row
/// with the row's overhead: the heap tuple's line pointer (4 bytes; `pg_column_size` of the
/// row already counts its header) and one index entry per index (an 8-byte index tuple
/// header, a 4-byte line pointer and the key).
const TABLES: &[(&str, &str, &str)] = &[
    (
        "outcomes",
        "timestamp_ms",
        // Indexes: the primary key (request_id), timestamp_ms, (key_id, timestamp_ms).
        "pg_column_size(t.*) + 4 + 3 * 12 + pg_column_size(t.request_id) + 8 \
         + COALESCE(pg_column_size(t.key_id), 0) + 8",
    ),
    (
        "feedback",
        "id",
        // Indexes: the primary key (id), request_id.
        "pg_column_size(t.*) + 4 + 2 * 12 + 8 + pg_column_size(t.request_id)",
    ),
    (
        "judge_calls",
        "id",
        // Indexes: the primary key (id), timestamp_ms, request_id.
        "pg_column_size(t.*) + 4 + 3 * 12 + 8 + 8 + pg_column_size(t.request_id)",
    ),
    (
        "pruned_spend",
        "day_ms",
        // Indexes: the primary key (day_ms, key_id, model), (key_id, day_ms).
        "pg_column_size(t.*) + 4 + 2 * 12 + 2 * (8 + pg_column_size(t.key_id)) \
         + pg_column_size(t.model)",
    ),
];

/// Estimated bytes of the log's live data (see the module docs); tables that do not exist
/// count 0.
pub fn used_bytes(client: &mut Client) -> Result<u64, postgres::Error> {
    let mut total = 0.0;
    for (table, newest, row_bytes) in TABLES {
        let exists: bool = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[table])?
            .get(0);
        if !exists {
            continue;
        }
        let row = client.query_one(
            &format!(
                "SELECT (SELECT count(*) FROM {table}),
                        (SELECT COALESCE(avg({row_bytes}), 0)::float8
                         FROM (SELECT * FROM {table} ORDER BY {newest} DESC LIMIT $1) t)"
            ),
            &[&SAMPLE],
        )?;
        let (rows, mean): (i64, f64) = (row.get(0), row.get(1));
        total += rows as f64 * mean;
    }
    Ok(total.max(0.0) as u64)
}

/// The database as a [`SizedLog`]: its estimated live data, pruned as by age.
struct Database<'a> {
    url: &'a PgUrl,
    client: Client,
    archive: Archive<'a>,
}

impl SizedLog for Database<'_> {
    fn used(&mut self) -> Result<u64, Error> {
        used_bytes(&mut self.client).map_err(Error::pg(self.url))
    }

    fn outcome_rows(&mut self) -> Result<i64, Error> {
        self.client
            .query_one("SELECT count(*) FROM outcomes", &[])
            .map(|r| r.get(0))
            .map_err(Error::pg(self.url))
    }

    fn oldest_timestamp_after(&mut self, older: i64) -> Result<i64, Error> {
        self.client
            .query_one(
                "SELECT timestamp_ms FROM outcomes ORDER BY timestamp_ms LIMIT 1 OFFSET $1",
                &[&older],
            )
            .map(|r| r.get(0))
            .map_err(Error::pg(self.url))
    }

    fn prune(&mut self, before_ms: u64, dry_run: bool) -> Result<PruneReport, Error> {
        let archive = self.archive.writer(dry_run)?;
        super::prune(self.url, before_ms, archive, dry_run)
    }
}

/// Prunes the oldest outcomes until the log's estimated live data is at most 90 % of
/// `max_bytes` (the rule of [`prune_until_under`]), archiving each batch to `archive` first.
pub(crate) fn prune_to_size(
    url: &PgUrl,
    max_bytes: u64,
    archive: Archive<'_>,
    dry_run: bool,
) -> Result<SizeReport, Error> {
    let mut db = Database {
        url,
        client: crate::pg::connect(url)?,
        archive,
    };
    prune_until_under(&mut db, max_bytes, dry_run)
}
