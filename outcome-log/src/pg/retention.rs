//! Retention by age on PostgreSQL: the same batches, archive-before-delete order and
//! `pruned_spend` bookkeeping as `crate::retention`. Each batch is one transaction that
//! locks only its own rows (`FOR UPDATE SKIP LOCKED`), so gateways keep writing meanwhile
//! and two gateways pruning at once share the work instead of waiting on each other.

use std::io::Write;

use router_core::Outcome;

use crate::location::PgUrl;

mod size;
use crate::retention::{judge_cutoff, PruneReport, DEFAULT_PRUNE_BATCH};
use crate::Error;
pub(crate) use size::prune_to_size;
pub use size::used_bytes;

/// Adds a batch's rows to their `pruned_spend` buckets before they are deleted.
const LEDGER_UPSERT: &str = "INSERT INTO pruned_spend
        (day_ms, key_id, model, requests, ok, input_tokens, output_tokens, cost_usd)
    SELECT (timestamp_ms / 86400000) * 86400000, COALESCE(key_id, ''), COALESCE(model, ''),
           COUNT(*), SUM((status = 'ok')::int),
           SUM(COALESCE((record::jsonb ->> 'input_tokens')::int8, 0)),
           SUM(COALESCE((record::jsonb ->> 'output_tokens')::int8, 0)),
           SUM(COALESCE(cost_usd, 0))
    FROM outcomes WHERE request_id = ANY($1)
    GROUP BY 1, 2, 3
    ON CONFLICT (day_ms, key_id, model) DO UPDATE SET
        requests = pruned_spend.requests + EXCLUDED.requests,
        ok = pruned_spend.ok + EXCLUDED.ok,
        input_tokens = pruned_spend.input_tokens + EXCLUDED.input_tokens,
        output_tokens = pruned_spend.output_tokens + EXCLUDED.output_tokens,
        cost_usd = pruned_spend.cost_usd + EXCLUDED.cost_usd";

/// Deletes every outcome logged before `before_ms` with its labels (and judge calls before
/// the judge's cutoff), [`DEFAULT_PRUNE_BATCH`] rows per transaction, each batch written to
/// `archive` first. `dry_run` only counts.
pub fn prune(
    url: &PgUrl,
    before_ms: u64,
    mut archive: Option<&mut dyn Write>,
    dry_run: bool,
) -> Result<PruneReport, Error> {
    let mut client = super::open(
        url,
        super::Session {
            fsync: true,
            statement_timeout: None,
        },
    )?;
    let client = &mut client;
    let err = Error::pg(url);
    let cutoff = i64::try_from(before_ms).unwrap_or(i64::MAX);
    let judge_cutoff = judge_cutoff(cutoff);
    if dry_run {
        let one = |c: &mut postgres::Client, sql: &str, v: i64| {
            c.query_one(sql, &[&v]).map(|r| r.get::<_, i64>(0) as usize)
        };
        return Ok(PruneReport {
            outcomes: one(
                client,
                "SELECT COUNT(*) FROM outcomes WHERE timestamp_ms < $1",
                cutoff,
            )
            .map_err(&err)?,
            feedback: one(
                client,
                "SELECT COUNT(*) FROM feedback WHERE request_id IN
                 (SELECT request_id FROM outcomes WHERE timestamp_ms < $1)",
                cutoff,
            )
            .map_err(&err)?,
            judge_calls: one(
                client,
                "SELECT COUNT(*) FROM judge_calls WHERE timestamp_ms < $1",
                judge_cutoff,
            )
            .map_err(&err)?,
        });
    }
    let mut report = PruneReport::default();
    let batch = i64::try_from(DEFAULT_PRUNE_BATCH).unwrap_or(500);
    loop {
        let mut tx = client.transaction().map_err(&err)?;
        let rows = tx
            .query(
                "SELECT request_id, record FROM outcomes WHERE timestamp_ms < $1
                 ORDER BY timestamp_ms, request_id LIMIT $2 FOR UPDATE SKIP LOCKED",
                &[&cutoff, &batch],
            )
            .map_err(&err)?;
        if rows.is_empty() {
            tx.commit().map_err(&err)?;
            break;
        }
        let ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        if let Some(out) = archive.as_deref_mut() {
            let labels = tx
                .query(
                    "SELECT request_id, metric, score, source FROM feedback
                     WHERE request_id = ANY($1) ORDER BY id",
                    &[&ids],
                )
                .map_err(&err)?;
            for row in &rows {
                let (id, record): (String, String) = (row.get(0), row.get(1));
                let line = match serde_json::from_str::<Outcome>(&record) {
                    Ok(mut o) => {
                        o.feedback.extend(
                            labels
                                .iter()
                                .filter(|l| l.get::<_, String>(0) == id)
                                .map(|l| router_core::Feedback {
                                    metric: l.get(1),
                                    score: l.get(2),
                                    source: router_core::FeedbackSource::from_stored(
                                        &l.get::<_, String>(3),
                                    ),
                                }),
                        );
                        serde_json::to_string(&o).unwrap_or(record)
                    }
                    Err(_) => record,
                };
                out.write_all(line.as_bytes())
                    .and_then(|_| out.write_all(b"\n"))
                    .map_err(|source| Error::ExportWrite { source })?;
            }
            out.flush()
                .map_err(|source| Error::ExportWrite { source })?;
        }
        tx.execute(LEDGER_UPSERT, &[&ids]).map_err(&err)?;
        report.feedback += tx
            .execute("DELETE FROM feedback WHERE request_id = ANY($1)", &[&ids])
            .map_err(&err)? as usize;
        report.outcomes += tx
            .execute("DELETE FROM outcomes WHERE request_id = ANY($1)", &[&ids])
            .map_err(&err)? as usize;
        tx.commit().map_err(&err)?;
        if rows.len() < DEFAULT_PRUNE_BATCH {
            break;
        }
    }
    report.judge_calls += client
        .execute(
            "DELETE FROM judge_calls WHERE timestamp_ms < $1",
            &[&judge_cutoff],
        )
        .map_err(&err)? as usize;
    Ok(report)
}
