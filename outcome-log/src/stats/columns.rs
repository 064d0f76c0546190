//! The column layout both backends' queries share: the counts query's and the recent rows'
//! columns, read in one place from either driver's row.

use super::assemble::{count, BucketRow, RecentFields};
use super::{Counts, Priced};

/// One result row of either driver, read by column index.
pub(crate) trait Columns {
    type Error;
    fn text(&self, k: usize) -> Result<Option<String>, Self::Error>;
    fn int(&self, k: usize) -> Result<Option<i64>, Self::Error>;
    fn float(&self, k: usize) -> Result<Option<f64>, Self::Error>;
    fn flag(&self, k: usize) -> Result<bool, Self::Error>;
}

/// A row of the counts query: `b`, `COUNT(*)`, then the sums in [`Counts`]' order and, last,
/// the rows the percentiles are taken over. A sum over no rows (`NULL`) reads as 0.
pub(crate) fn bucket_row<R: Columns>(r: &R) -> Result<BucketRow, R::Error> {
    let c = |k: usize| -> Result<u64, R::Error> { Ok(count(r.int(k)?)) };
    let usd = |k: usize| -> Result<f64, R::Error> { Ok(r.float(k)?.unwrap_or(0.0)) };
    Ok(BucketRow {
        bucket: r.int(0)?,
        counts: Counts {
            requests: c(1)?,
            ok: c(2)?,
            routed: c(3)?,
            static_fallbacks: c(4)?,
            failovers: c(5)?,
            cache_exact: c(6)?,
            cache_semantic: c(7)?,
            cache_coalesced: c(8)?,
            cache_saved_usd: usd(9)?,
            cost_usd: usd(10)?,
            priced: Priced {
                requests: c(11)?,
                input_tokens: c(12)?,
                output_tokens: c(13)?,
                cost_usd: usd(14)?,
            },
        },
        answered: c(15)?,
    })
}

/// A row of the recent query, its columns in [`RecentFields`]' order.
pub(crate) fn recent_fields<R: Columns>(r: &R) -> Result<RecentFields, R::Error> {
    Ok(RecentFields {
        request_id: r.text(0)?.unwrap_or_default(),
        timestamp_ms: r.int(1)?,
        key_id: r.text(2)?,
        requested_model: r.text(3)?,
        chosen: r.text(4)?,
        reason: r.text(5)?,
        model: r.text(6)?,
        attempts: r.int(7)?,
        status: r.text(8)?.unwrap_or_default(),
        hit: r.flag(9)?,
        semantic: r.flag(10)?,
        coalesced: r.flag(11)?,
        latency_ms: r.float(12)?.unwrap_or(0.0),
        cost_usd: r.float(13)?,
        input_tokens: r.int(14)?,
        output_tokens: r.int(15)?,
        prompt_kind: r.text(16)?,
        prompt_text: r.text(17)?,
        prompt_sha256: r.text(18)?,
    })
}
