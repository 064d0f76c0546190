//! `switchyard spend`: requests, tokens and cost per client key (or model, or day) from the
//! outcome log.

use anyhow::Context;
use gateway::auth::budget::{parse_utc_date, utc_minute};
use gateway::auth::Period;
use outcome_log::spend::{pruned_straddling, spend_report, SpendBy};

use super::keys::DbArgs;

#[derive(Debug, clap::Args)]
pub struct SpendArgs {
    #[command(flatten)]
    db: DbArgs,
    /// What to group by.
    #[arg(long, default_value = "key", value_parser = ["key", "model", "day"])]
    by: String,
    /// Only requests from then on: `today`, `month` (UTC starts), a date `YYYY-MM-DD`, or an
    /// age such as `24h`, `7d`, `30m`. Default: the whole log.
    #[arg(long, allow_hyphen_values = true)]
    since: Option<String>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Parses `--since` into Unix milliseconds.
fn parse_since(s: &str, now: u64) -> anyhow::Result<u64> {
    let s = s.trim();
    match s {
        "today" => return Ok(Period::Day.start_ms(now)),
        "month" => return Ok(Period::Month.start_ms(now)),
        _ => {}
    }
    if let Some(ms) = parse_utc_date(s) {
        return Ok(ms);
    }
    let unit_ms = match s.chars().last() {
        Some('d') => 86_400_000,
        Some('h') => 3_600_000,
        Some('m') => 60_000,
        _ => 0,
    };
    let n: Option<u64> = s
        .get(..s.len().saturating_sub(1))
        .and_then(|n| n.parse().ok());
    match (n, unit_ms) {
        (Some(n), u) if u > 0 => Ok(now.saturating_sub(n.saturating_mul(u))),
        _ => anyhow::bail!(
            "--since `{s}`: use today, month, a date like 2026-12-01, or an age like 24h, 7d, 30m"
        ),
    }
}

pub fn run(args: SpendArgs) -> anyhow::Result<()> {
    let config = args.db.gateway_config()?;
    let db = args.db.existing_log(&config)?;
    let since = args
        .since
        .as_deref()
        .map(|s| parse_since(s, now_ms()))
        .transpose()?;
    let by = match args.by.as_str() {
        "model" => SpendBy::Model,
        "day" => SpendBy::Day,
        _ => SpendBy::Key,
    };
    let rows = spend_report(&db, by, since).with_context(|| format!("reading {db}"))?;
    if let Some(since) = since {
        // Pruned rows are kept as per-day sums: a day that began before --since is left out
        // whole, and a size cap prunes recent rows too. Said on stderr, so --json stays clean.
        if let Some(p) = pruned_straddling(&db, since).with_context(|| format!("reading {db}"))? {
            eprintln!(
                "note: {} request(s), {:.6} USD, were pruned from the UTC day of {} that --since \
                 starts inside; pruned rows are kept only as whole days, so they are not counted \
                 (--since today includes them)",
                p.requests,
                p.cost_usd,
                utc_minute(p.day_ms).get(..10).unwrap_or_default()
            );
        }
    }
    if args.json {
        for r in &rows {
            outln!("{}", serde_json::to_string(r)?)?;
        }
        return Ok(());
    }
    let none = match by {
        SpendBy::Key => "(no key)",
        SpendBy::Model | SpendBy::Day => "(none)",
    };
    outln!(
        "{:<22} {:<16} {:>9} {:>9} {:>12} {:>12} {:>12}",
        args.by.to_uppercase(),
        if by == SpendBy::Key { "NAME" } else { "" },
        "REQUESTS",
        "OK",
        "INPUT TOK",
        "OUTPUT TOK",
        "COST USD"
    )?;
    let mut total = (0u64, 0u64, 0u64, 0u64, 0.0f64);
    for r in &rows {
        outln!(
            "{:<22} {:<16} {:>9} {:>9} {:>12} {:>12} {:>12.6}",
            r.group.as_deref().unwrap_or(none),
            r.name.as_deref().unwrap_or(""),
            r.requests,
            r.ok,
            r.input_tokens,
            r.output_tokens,
            r.cost_usd
        )?;
        total = (
            total.0 + r.requests,
            total.1 + r.ok,
            total.2 + r.input_tokens,
            total.3 + r.output_tokens,
            total.4 + r.cost_usd,
        );
    }
    outln!(
        "{:<22} {:<16} {:>9} {:>9} {:>12} {:>12} {:>12.6}",
        "total",
        "",
        total.0,
        total.1,
        total.2,
        total.3,
        total.4
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_forms() {
        let now = 1_796_269_800_000; // 2026-12-03 03:50 UTC
        assert_eq!(parse_since("today", now).ok(), Some(1_796_256_000_000));
        assert_eq!(parse_since("month", now).ok(), Some(1_796_083_200_000));
        assert_eq!(parse_since("2026-12-01", now).ok(), Some(1_796_083_200_000));
        assert_eq!(parse_since("24h", now).ok(), Some(now - 86_400_000));
        assert_eq!(parse_since("7d", now).ok(), Some(now - 7 * 86_400_000));
        assert!(parse_since("soon", now).is_err());
        assert!(parse_since("d", now).is_err());
    }
}
