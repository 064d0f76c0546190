//! Questions about a database's layout. Readers open the log read-only and so never migrate
//! it: they ask what an older file has and read around what it lacks.

use rusqlite::Connection;

/// Whether `table` exists: a fresh SQLite file (or one with only `client_keys`, made by
/// `switchyard keys create` before the gateway ran) has no outcome tables yet.
pub(crate) fn has_table(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [table],
        |r| r.get(0),
    )
}

/// Whether `table` has `column` (false when the table is absent).
pub(crate) fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |r| r.get(0),
    )
}
