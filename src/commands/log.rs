use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct LogArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Write every logged outcome (feedback joined) as canonical JSONL, one `Outcome` per line:
    /// the input of `switchyard train --from-log`.
    Export {
        /// The gateway's outcome log: its SQLite file, or the `postgres://` URL of `[log]
        /// postgres`.
        #[arg(long, default_value = ".switchyard/outcomes.sqlite")]
        db: String,
        /// Output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Delete outcomes older than --older-than, or the oldest ones until the log is under
    /// --max-bytes, with their labels and judge calls, in small batches so that a running
    /// gateway keeps writing; each batch is appended to --archive first (JSON lines, as
    /// `export` writes them). The deleted rows' spend stays counted (budgets, `spend`).
    #[command(group(clap::ArgGroup::new("limit").required(true).multiple(true).args(["older_than", "max_bytes"])))]
    Prune {
        /// The gateway's outcome log: its SQLite file, or the `postgres://` URL of `[log]
        /// postgres`.
        #[arg(long, default_value = ".switchyard/outcomes.sqlite")]
        db: String,
        /// Keep this many days (`90` or `90d`; at least 1). Pruned rows' spend still counts
        /// in client-key budgets and `switchyard spend`.
        #[arg(long, value_parser = parse_days)]
        older_than: Option<u64>,
        /// Bring the log to at most 90 % of this many bytes by deleting the oldest outcomes
        /// (as `[log] retention_max_bytes`): a SQLite file's used pages (the file keeps its
        /// length; SQLite reuses the freed pages), or on PostgreSQL the estimated live data
        /// (rows × the mean stored size of the newest rows, with heap and index overhead).
        #[arg(long)]
        max_bytes: Option<u64>,
        /// Append the deleted rows here first (created if missing).
        #[arg(long)]
        archive: Option<PathBuf>,
        /// Only count what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `90` or `90d`: whole days, at least [`outcome_log::MIN_RETENTION_DAYS`].
fn parse_days(s: &str) -> Result<u64, String> {
    let days: u64 = s
        .trim()
        .trim_end_matches('d')
        .parse()
        .map_err(|_| format!("`{s}`: expected a number of days such as 90 or 90d"))?;
    if days < outcome_log::MIN_RETENTION_DAYS {
        return Err(format!(
            "{days} days: keep at least {} (0 would delete every row as it is written)",
            outcome_log::MIN_RETENTION_DAYS
        ));
    }
    Ok(days)
}

pub fn run(args: LogArgs) -> anyhow::Result<()> {
    match args.action {
        Action::Export { db, out } => {
            let db = existing_log(&db)?;
            let n = match out {
                Some(path) => export_to_file(&db, &path)?,
                None => {
                    let mut w = std::io::BufWriter::new(std::io::stdout().lock());
                    let n = outcome_log::export_jsonl(&db, &mut w)?;
                    w.flush()?;
                    n
                }
            };
            eprintln!("exported {n} outcome(s) from {db}");
        }
        Action::Prune {
            db,
            older_than,
            max_bytes,
            archive,
            dry_run,
        } => {
            let db = existing_log(&db)?;
            let said = |report: outcome_log::PruneReport, why: String| {
                eprintln!(
                    "{} {} outcome(s), {} label(s) and {} judge call(s) {why} from {}{}",
                    if dry_run { "would delete" } else { "deleted" },
                    report.outcomes,
                    report.feedback,
                    report.judge_calls,
                    db,
                    match (&archive, dry_run) {
                        (Some(path), false) => format!(" (archived to {})", path.display()),
                        _ => String::new(),
                    }
                );
            };
            if let Some(days) = older_than {
                let report = outcome_log::prune_older_than(&db, days, archive.as_deref(), dry_run)?;
                said(report, format!("older than {days} days"));
            }
            if let Some(max) = max_bytes {
                let size = outcome_log::prune_to_size(&db, max, archive.as_deref(), dry_run)?;
                said(
                    size.pruned,
                    format!(
                        "to bring {} used bytes under {max}{}",
                        size.before_bytes,
                        if dry_run {
                            String::new()
                        } else {
                            format!(" ({} after)", size.after_bytes)
                        }
                    ),
                );
                if size.still_over {
                    anyhow::bail!(
                        "{}: still {} bytes with no outcome left to delete (labels, client keys and judge calls remain); choose a larger --max-bytes",
                        db,
                        size.after_bytes
                    );
                }
            }
        }
    }
    Ok(())
}

/// Exports into `path` through a `.partial` sibling renamed over it once complete, so that a
/// failed or interrupted export leaves the previous file whole: `train --from-log` would
/// otherwise stop at a torn line, or quietly train on fewer rows.
fn export_to_file(db: &outcome_log::Location, path: &Path) -> anyhow::Result<usize> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    let partial = path.with_file_name(name);
    let written = (|| -> anyhow::Result<usize> {
        let file = std::fs::File::create(&partial)
            .with_context(|| format!("creating {}", partial.display()))?;
        let mut w = std::io::BufWriter::new(file);
        let n = outcome_log::export_jsonl(db, &mut w)?;
        let file = w
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        file.sync_all()?;
        std::fs::rename(&partial, path)?;
        Ok(n)
    })();
    if written.is_err() {
        // Best effort: the error being returned is the one that matters.
        let _ = std::fs::remove_file(&partial);
    }
    written.with_context(|| format!("exporting to --out {} (left unchanged)", path.display()))
}

/// `--db` as a log: a `postgres://` URL, or a SQLite file that must exist.
fn existing_log(db: &str) -> anyhow::Result<outcome_log::Location> {
    let at = outcome_log::Location::parse(db);
    if let outcome_log::Location::Sqlite(path) = &at {
        if !path.is_file() {
            anyhow::bail!(
                "{}: no outcome log there; pass --db with the path of `[log] sqlite` (or the URL of `[log] postgres`) from your gateway config",
                path.display()
            );
        }
    }
    Ok(at)
}
