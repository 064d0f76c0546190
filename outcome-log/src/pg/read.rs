//! Reading the log back from PostgreSQL: the same rows, order and labels as the SQLite
//! readers in `crate::read`, `crate::spend` and `crate::judge_calls`.

use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;
use router_core::{Feedback, FeedbackSource, Outcome};

use crate::judge_calls::JudgeCallRow;
use crate::location::PgUrl;
use crate::read::OnBadRecord;
use crate::spend::{SpendBy, SpendRow};
use crate::Error;

/// Whether the database has the log's tables (a reader never creates them).
pub(super) fn has_log(client: &mut Client, url: &PgUrl) -> Result<bool, Error> {
    has_table(client, url, "outcomes")
}

/// Whether `table` exists (`client_keys` is made by the gateway, not the log's migrations).
pub(super) fn has_table(client: &mut Client, url: &PgUrl, table: &str) -> Result<bool, Error> {
    client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .map(|r| r.get(0))
        .map_err(Error::pg(url))
}

/// Calls `f` with every outcome, oldest first (by timestamp, then request id), its labels
/// attached in the order they were stored. Rows stream from the server: one pass, memory
/// bounded by one request's labels.
pub fn for_each_outcome(
    url: &PgUrl,
    on_bad: OnBadRecord,
    mut f: impl FnMut(Outcome) -> Result<(), Error>,
) -> Result<(), Error> {
    // The driver reads on its own thread (see `off_runtime`) and hands rows over a short
    // queue, so that `f` (which may write to stdout, not `Send`) stays on the caller's.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Outcome, Error>>(256);
    std::thread::scope(|s| {
        let reader = s.spawn(move || {
            let sent = stream(url, on_bad, &mut |o| {
                tx.send(Ok(o)).map_err(|_| Error::ExportWrite {
                    source: std::io::Error::other("the reader stopped"),
                })
            });
            if let Err(e) = sent {
                let _ = tx.send(Err(e));
            }
        });
        let mut result = Ok(());
        for item in rx.iter() {
            if let Err(e) = item.and_then(&mut f) {
                result = Err(e);
                break;
            }
        }
        // Dropping the receiver stops the reader at its next row.
        drop(rx);
        match reader.join() {
            Ok(()) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

fn stream(
    url: &PgUrl,
    on_bad: OnBadRecord,
    f: &mut dyn FnMut(Outcome) -> Result<(), Error>,
) -> Result<(), Error> {
    let err = Error::pg(url);
    let mut client = super::connect(url)?;
    if !has_log(&mut client, url)? {
        return Err(Error::PgNoLog { url: url.clone() });
    }
    let mut tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .map_err(&err)?;
    let mut rows = tx
        .query_raw(
            "SELECT o.request_id, o.record, f.metric, f.score, f.source
             FROM outcomes o LEFT JOIN feedback f ON f.request_id = o.request_id
             ORDER BY o.timestamp_ms, o.request_id, f.id",
            std::iter::empty::<&str>(),
        )
        .map_err(&err)?;
    // The outcome being assembled: labels of one request arrive on consecutive rows.
    let mut current: Option<(String, Option<Outcome>)> = None;
    while let Some(row) = rows.next().map_err(&err)? {
        let request_id: String = row.get(0);
        if current.as_ref().map(|(id, _)| id) != Some(&request_id) {
            if let Some((_, Some(done))) = current.take() {
                f(done)?;
            }
            let record: String = row.get(1);
            let outcome = match serde_json::from_str::<Outcome>(&record) {
                Ok(o) => Some(o),
                Err(source) if on_bad == OnBadRecord::Fail => {
                    return Err(Error::PgRecordInvalid {
                        url: url.clone(),
                        request_id,
                        source,
                    })
                }
                Err(e) => {
                    tracing::warn!(url = %url, request_id = %request_id, error = %e, "Skipped an unreadable outcome row.");
                    None
                }
            };
            current = Some((request_id, outcome));
        }
        if let (Some((_, Some(outcome))), Some(metric)) =
            (current.as_mut(), row.get::<_, Option<String>>(2))
        {
            outcome.feedback.push(Feedback {
                metric,
                score: row.get(3),
                source: FeedbackSource::from_stored(&row.get::<_, String>(4)),
            });
        }
    }
    if let Some((_, Some(done))) = current {
        f(done)?;
    }
    Ok(())
}

/// USD charged to `key_id` since `since_ms`, pruned rows included (see
/// [`crate::key_spend_since`]); 0 for a database without the log.
fn key_spend_since_here(url: &PgUrl, key_id: &str, since_ms: u64) -> Result<f64, Error> {
    let mut client = super::connect(url)?;
    if !has_log(&mut client, url)? {
        return Ok(0.0);
    }
    let since = i64::try_from(since_ms).unwrap_or(i64::MAX);
    client
        .query_one(
            "SELECT (SELECT COALESCE(SUM(cost_usd), 0) FROM outcomes
                     WHERE key_id = $1 AND timestamp_ms >= $2)
                  + (SELECT COALESCE(SUM(cost_usd), 0) FROM pruned_spend
                     WHERE key_id = $1 AND day_ms >= $2)",
            &[&key_id, &since],
        )
        .map(|r| r.get::<_, f64>(0))
        .map_err(Error::pg(url))
}

/// USD the judge spent since `since_ms`; 0 for a database without the log.
fn judge_spend_since_here(url: &PgUrl, since_ms: u64) -> Result<f64, Error> {
    let mut client = super::connect(url)?;
    if !has_log(&mut client, url)? {
        return Ok(0.0);
    }
    client
        .query_one(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM judge_calls WHERE timestamp_ms >= $1",
            &[&i64::try_from(since_ms).unwrap_or(i64::MAX)],
        )
        .map(|r| r.get::<_, f64>(0))
        .map_err(Error::pg(url))
}

/// Every judge call, oldest first.
fn read_judge_calls_here(url: &PgUrl) -> Result<Vec<JudgeCallRow>, Error> {
    let mut client = super::connect(url)?;
    if !has_log(&mut client, url)? {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT request_id, judge_model, method, result, score, cost_usd FROM judge_calls
             ORDER BY id",
            &[],
        )
        .map_err(Error::pg(url))?;
    Ok(rows
        .iter()
        .map(|r| JudgeCallRow {
            request_id: r.get(0),
            judge_model: r.get(1),
            method: r.get(2),
            result: r.get(3),
            score: r.get(4),
            cost_usd: r.get(5),
        })
        .collect())
}

/// [`crate::spend::pruned_straddling`] on PostgreSQL.
pub fn pruned_straddling(
    url: &PgUrl,
    since_ms: u64,
) -> Result<Option<crate::spend::PrunedStraddle>, Error> {
    super::off_runtime(|| pruned_straddling_here(url, since_ms))
}

fn pruned_straddling_here(
    url: &PgUrl,
    since_ms: u64,
) -> Result<Option<crate::spend::PrunedStraddle>, Error> {
    let mut client = super::connect(url)?;
    if !has_log(&mut client, url)? {
        return Ok(None);
    }
    let since = i64::try_from(since_ms).unwrap_or(i64::MAX);
    let row = client
        .query_opt(
            "SELECT day_ms, SUM(requests)::int8, SUM(cost_usd)::float8 FROM pruned_spend
             WHERE day_ms < $1 AND day_ms > $1 - $2 GROUP BY day_ms",
            &[&since, &crate::spend::DAY_MS],
        )
        .map_err(Error::pg(url))?;
    Ok(row.map(|r| crate::spend::PrunedStraddle {
        day_ms: u64::try_from(r.get::<_, i64>(0)).unwrap_or(0),
        requests: u64::try_from(r.get::<_, i64>(1)).unwrap_or(0),
        cost_usd: r.get(2),
    }))
}

/// [`crate::spend_report`] on PostgreSQL: requests, tokens and cost grouped `by`, pruned days
/// included, largest cost first.
fn spend_report_here(
    url: &PgUrl,
    by: SpendBy,
    since_ms: Option<u64>,
) -> Result<Vec<SpendRow>, Error> {
    let mut client = super::connect(url)?;
    if !has_log(&mut client, url)? {
        return Ok(Vec::new());
    }
    let (group, pruned_group) = match by {
        SpendBy::Key => ("key_id", "NULLIF(key_id, '')"),
        SpendBy::Model => ("model", "NULLIF(model, '')"),
        SpendBy::Day => (
            "to_char(to_timestamp(timestamp_ms / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            "to_char(to_timestamp(day_ms / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        ),
    };
    let names = if by == SpendBy::Key && has_table(&mut client, url, "client_keys")? {
        "(SELECT name FROM client_keys k WHERE k.id = g)"
    } else {
        "NULL::text"
    };
    let sql = format!(
        "SELECT g, {names}, SUM(n)::int8, SUM(ok)::int8, SUM(i)::int8, SUM(o)::int8, SUM(c)::float8
         FROM (
            SELECT {group} AS g, 1 AS n, (status = 'ok')::int AS ok,
                   COALESCE((record::jsonb ->> 'input_tokens')::int8, 0) AS i,
                   COALESCE((record::jsonb ->> 'output_tokens')::int8, 0) AS o,
                   COALESCE(cost_usd, 0) AS c
            FROM outcomes WHERE timestamp_ms >= $1
            UNION ALL
            SELECT {pruned_group}, requests, ok, input_tokens, output_tokens, cost_usd
            FROM pruned_spend WHERE day_ms >= $1
         ) t GROUP BY g ORDER BY 7 DESC, g"
    );
    let since = i64::try_from(since_ms.unwrap_or(0)).unwrap_or(i64::MAX);
    let count = |v: i64| u64::try_from(v).unwrap_or(0);
    let rows = client.query(&sql, &[&since]).map_err(Error::pg(url))?;
    Ok(rows
        .iter()
        .map(|r| SpendRow {
            group: r.get(0),
            name: r.get(1),
            requests: count(r.get(2)),
            ok: count(r.get(3)),
            input_tokens: count(r.get(4)),
            output_tokens: count(r.get(5)),
            cost_usd: r.get(6),
        })
        .collect())
}

/// USD charged to `key_id` since `since_ms`, pruned rows included (see
/// [`crate::key_spend_since`]); 0 for a database without the log.
pub fn key_spend_since(url: &PgUrl, key_id: &str, since_ms: u64) -> Result<f64, Error> {
    super::off_runtime(|| key_spend_since_here(url, key_id, since_ms))
}

/// USD the judge spent since `since_ms`; 0 for a database without the log.
pub fn judge_spend_since(url: &PgUrl, since_ms: u64) -> Result<f64, Error> {
    super::off_runtime(|| judge_spend_since_here(url, since_ms))
}

/// Every judge call, oldest first.
pub fn read_judge_calls(url: &PgUrl) -> Result<Vec<JudgeCallRow>, Error> {
    super::off_runtime(|| read_judge_calls_here(url))
}

/// [`crate::spend_report`] on PostgreSQL: requests, tokens and cost grouped `by`, pruned days
/// included, largest cost first.
pub fn spend_report(
    url: &PgUrl,
    by: SpendBy,
    since_ms: Option<u64>,
) -> Result<Vec<SpendRow>, Error> {
    super::off_runtime(|| spend_report_here(url, by, since_ms))
}
