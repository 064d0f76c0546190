//! The writer's side on PostgreSQL: a group of outcome rows in one statement, feedback labels
//! with the first-label-wins rules, judge accounting rows. One [`PgWriter`] per gateway
//! writer thread, its statements prepared once.

use std::collections::HashMap;

use postgres::{Client, Statement};
use router_core::{Feedback, Outcome};

use super::Session;
use crate::judge_calls::JudgeCall;
use crate::location::PgUrl;
use crate::write::{label_verdict, status_name, storable_json, FeedbackVerdict};
use crate::Error;

/// Every row of a group goes in as arrays, one element per row: one round trip per group
/// however large. A request id seen again replaces the stored row, as SQLite's
/// `INSERT OR REPLACE` does.
const INSERT_OUTCOMES: &str = "INSERT INTO outcomes
        (request_id, timestamp_ms, model, status, cost_usd, latency_ms, record, key_id)
    SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::float8[],
                         $6::float8[], $7::text[], $8::text[])
    ON CONFLICT (request_id) DO UPDATE SET
        timestamp_ms = EXCLUDED.timestamp_ms, model = EXCLUDED.model,
        status = EXCLUDED.status, cost_usd = EXCLUDED.cost_usd,
        latency_ms = EXCLUDED.latency_ms, record = EXCLUDED.record, key_id = EXCLUDED.key_id";

/// A connection that writes the log, reconnecting when the server went away.
pub struct PgWriter {
    client: Client,
    url: PgUrl,
    session: Session,
    insert: Statement,
}

impl std::fmt::Debug for PgWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgWriter").field("url", &self.url).finish()
    }
}

impl PgWriter {
    /// Connects, migrates and prepares.
    pub fn open(url: &PgUrl, session: Session) -> Result<PgWriter, Error> {
        super::off_runtime(|| {
            let mut client = super::open(url, session)?;
            let insert = client.prepare(INSERT_OUTCOMES).map_err(Error::pg(url))?;
            Ok(PgWriter {
                client,
                url: url.clone(),
                session,
                insert,
            })
        })
    }

    /// The database.
    pub fn url(&self) -> &PgUrl {
        &self.url
    }

    /// Reconnects when the connection is closed (the server restarted, a proxy dropped it):
    /// the write that found it closed failed, the next one goes through a new connection.
    fn reconnect_if_closed(&mut self) -> Result<(), Error> {
        if self.client.is_closed() {
            *self = PgWriter::open(&self.url, self.session)?;
            tracing::info!(url = %self.url, "Outcome log reconnected to PostgreSQL.");
        }
        Ok(())
    }

    /// Writes `rows` in one statement. Returns, per row, whether it was stored (a row whose
    /// JSON would not read back is refused, as on SQLite).
    pub fn write_batch(&mut self, rows: &[Outcome]) -> Result<Vec<bool>, Error> {
        self.reconnect_if_closed()?;
        let mut stored = Vec::with_capacity(rows.len());
        // The last row of each request id wins: one statement may not update a row twice.
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
        let mut records = Vec::with_capacity(rows.len());
        for (i, o) in rows.iter().enumerate() {
            let record = storable_json(o);
            if record.is_none() {
                tracing::error!(request_id = %o.request_id, "Outcome row has a non-finite number; not stored.");
            } else {
                last.insert(o.request_id.as_str(), i);
            }
            stored.push(record.is_some());
            records.push(record);
        }
        let mut cols = Columns::default();
        for (i, (o, record)) in rows.iter().zip(records).enumerate() {
            match record {
                Some(record) if last.get(o.request_id.as_str()) == Some(&i) => cols.push(o, record),
                _ => {}
            }
        }
        if cols.ids.is_empty() {
            return Ok(stored);
        }
        self.client
            .execute(
                &self.insert,
                &[
                    &cols.ids,
                    &cols.timestamps,
                    &cols.models,
                    &cols.statuses,
                    &cols.costs,
                    &cols.latencies,
                    &cols.records,
                    &cols.keys,
                ],
            )
            .map_err(Error::pg(&self.url))?;
        Ok(stored)
    }

    /// Stores a label under the same rules as [`crate::add_feedback`]. The outcome row is
    /// locked for the check, so two gateways labelling one request at once take turns.
    pub fn add_feedback(
        &mut self,
        request_id: &str,
        key_id: Option<&str>,
        fb: &Feedback,
        timestamp_ms: u64,
    ) -> Result<FeedbackVerdict, Error> {
        self.reconnect_if_closed()?;
        let err = Error::pg(&self.url);
        let mut tx = self.client.transaction().map_err(&err)?;
        let verdict = label_in(&mut tx, &err, request_id, key_id, fb, timestamp_ms)?;
        tx.commit().map_err(&err)?;
        Ok(verdict)
    }

    /// Stores a judged request's label (setting the call's result from what storing it gave)
    /// and its accounting row in one transaction, as `crate::write::add_judged` does.
    pub fn add_judged(
        &mut self,
        call: &mut JudgeCall,
        label: Option<&Feedback>,
    ) -> Result<(), Error> {
        self.reconnect_if_closed()?;
        let err = Error::pg(&self.url);
        let mut tx = self.client.transaction().map_err(&err)?;
        if let Some(fb) = label {
            let verdict = label_in(&mut tx, &err, &call.request_id, None, fb, call.timestamp_ms)?;
            call.result = crate::JudgeResult::of_label(verdict);
        }
        insert_call(&mut tx, call).map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(())
    }

    /// Stores one judged request's accounting row.
    pub fn insert_judge_call(&mut self, call: &JudgeCall) -> Result<(), Error> {
        self.reconnect_if_closed()?;
        insert_call(&mut self.client, call).map_err(Error::pg(&self.url))?;
        Ok(())
    }

    /// The connection, for readers sharing it (tests, retention).
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// [`PgWriter::add_feedback`] inside the caller's transaction.
fn label_in(
    tx: &mut postgres::Transaction<'_>,
    err: &impl Fn(postgres::Error) -> Error,
    request_id: &str,
    key_id: Option<&str>,
    fb: &Feedback,
    timestamp_ms: u64,
) -> Result<FeedbackVerdict, Error> {
    let known = tx
        .query_opt(
            "SELECT 1 FROM outcomes WHERE request_id = $1 AND ($2::text IS NULL OR key_id = $2)
             FOR UPDATE",
            &[&request_id, &key_id],
        )
        .map_err(err)?
        .is_some();
    if !known {
        return Ok(FeedbackVerdict::UnknownRequest);
    }
    let existing = tx
        .query_opt(
            "SELECT score, source FROM feedback WHERE request_id = $1 AND metric = $2
             ORDER BY id LIMIT 1",
            &[&request_id, &fb.metric],
        )
        .map_err(err)?
        .map(|r| (r.get::<_, f64>(0), r.get::<_, String>(1)));
    let verdict = label_verdict(existing, fb);
    match verdict {
        FeedbackVerdict::AlreadyLabelled { .. } => return Ok(verdict),
        FeedbackVerdict::ReplacedJudge { .. } => {
            tx.execute(
                "DELETE FROM feedback WHERE request_id = $1 AND metric = $2 AND source <> 'human'",
                &[&request_id, &fb.metric],
            )
            .map_err(err)?;
        }
        _ => {}
    }
    tx.execute(
        "INSERT INTO feedback (request_id, metric, score, timestamp_ms, source)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &request_id,
            &fb.metric,
            &fb.score,
            &i64::try_from(timestamp_ms).unwrap_or(i64::MAX),
            &fb.source.as_str(),
        ],
    )
    .map_err(err)?;
    Ok(verdict)
}

/// Stores one judged request's accounting row on `client` (a connection or a transaction).
fn insert_call(
    client: &mut impl postgres::GenericClient,
    call: &JudgeCall,
) -> Result<u64, postgres::Error> {
    let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
    client.execute(
        "INSERT INTO judge_calls (request_id, timestamp_ms, judge_model, method, result,
         score, cost_usd, input_tokens, output_tokens, latency_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &call.request_id,
            &i64::try_from(call.timestamp_ms).unwrap_or(i64::MAX),
            &call.judge_model.as_ref().map(|m| m.as_str()),
            &call.method,
            &call.result.as_str(),
            &call.score.filter(|s| s.is_finite()),
            &finite(call.cost_usd),
            &i64::from(call.input_tokens),
            &i64::from(call.output_tokens),
            &finite(call.latency_ms),
        ],
    )
}

/// The group's columns, as the arrays [`INSERT_OUTCOMES`] unnests.
#[derive(Default)]
struct Columns<'a> {
    ids: Vec<&'a str>,
    timestamps: Vec<i64>,
    models: Vec<Option<&'a str>>,
    statuses: Vec<String>,
    costs: Vec<Option<f64>>,
    latencies: Vec<f64>,
    records: Vec<String>,
    keys: Vec<Option<&'a str>>,
}

impl<'a> Columns<'a> {
    fn push(&mut self, o: &'a Outcome, record: String) {
        self.ids.push(&o.request_id);
        self.timestamps
            .push(i64::try_from(o.timestamp_ms).unwrap_or(i64::MAX));
        self.models.push(o.model.as_ref().map(|m| m.as_str()));
        self.statuses.push(status_name(o));
        // The record already turned non-finite numbers into `null`; the columns do too.
        self.costs.push(o.cost_usd.filter(|c| c.is_finite()));
        self.latencies.push(o.latency_ms);
        self.records.push(record);
        self.keys.push(o.key_id.as_deref());
    }
}
