use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use outcome_log::Location;

use super::keys::{shown, DbArgs};

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
        #[command(flatten)]
        db: DbArgs,
        /// Output file; `-` (or none): stdout. A regular file, or a path not there yet, is
        /// replaced whole once the export is complete (written beside it as `NAME.partial`,
        /// then renamed), so a failed export leaves the previous file as it was. Anything else,
        /// a symlink, FIFO or device (`/dev/stdout`, `/dev/null`, `>(gzip > x.gz)`), is written
        /// in place, as a shell's `>` would, and never replaced.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Delete outcomes older than --older-than, or the oldest ones until the log is under
    /// --max-bytes, with their labels and judge calls, in small batches so that a running
    /// gateway keeps writing; each batch is appended to --archive first (JSON lines, as
    /// `export` writes them). The deleted rows' spend stays counted (budgets, `spend`). Says
    /// how many rows it will delete before it deletes them; --dry-run stops there.
    #[command(group(clap::ArgGroup::new("limit").required(true).multiple(true).args(["older_than", "max_bytes"])))]
    Prune {
        #[command(flatten)]
        db: DbArgs,
        /// Keep this many days (`90` or `90d`; at least 1). Pruned rows' spend still counts
        /// in client-key budgets and `switchyard spend`.
        #[arg(long, value_parser = parse_days, allow_hyphen_values = true)]
        older_than: Option<u64>,
        /// Bring the log to at most 90 % of this size by deleting the oldest outcomes (as
        /// `[log] retention_max_bytes`, and with its floor of 16 MiB): bytes, or with a unit
        /// (`512MiB`, `10GiB`, `2GB`). A SQLite file's used pages (the file keeps its length;
        /// SQLite reuses the freed pages), or on PostgreSQL the estimated live data (rows × the
        /// mean stored size of the newest rows, with heap and index overhead).
        #[arg(long, value_parser = parse_max_bytes, allow_hyphen_values = true)]
        max_bytes: Option<u64>,
        /// Append the deleted rows here first (created if missing).
        #[arg(long)]
        archive: Option<PathBuf>,
        /// Only say what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `--max-bytes`: a size in bytes, or with a unit (`KiB`, `MiB`, `GiB`, `TiB`, or the decimal
/// `KB`, `MB`, `GB`, `TB`; case does not matter), at least the floor `[log]
/// retention_max_bytes` has ([`gateway::config::MIN_RETENTION_BYTES`]): a units slip (1024
/// meant as MiB) or a 0 would otherwise delete every outcome, labels included.
fn parse_max_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => u64::MAX,
    };
    let bytes = number
        .parse::<u64>()
        .ok()
        .filter(|_| scale != u64::MAX)
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| {
            format!("`{s}`: expected a whole number of bytes, or one with a unit such as 512MiB, 10GiB or 2GB")
        })?;
    let floor = gateway::config::MIN_RETENTION_BYTES;
    if bytes < floor {
        return Err(format!(
            "{bytes} bytes is below the floor of {floor} bytes (16 MiB) that `[log] retention_max_bytes` also has: a smaller cap would delete nearly every outcome, labels included; the value is in bytes (write 1024MiB or 1GiB for those units)"
        ));
    }
    Ok(bytes)
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
            let config = db.gateway_config()?;
            let at = db.existing_log(&config)?;
            let n = match out.filter(|p| p.as_os_str() != "-") {
                Some(path) => export_to_path(&at, &path)?,
                None => {
                    // A reader that stops early (`| head`) is noted by `Stdout` for `main`.
                    let mut w = std::io::BufWriter::new(super::output::Stdout::lock());
                    let n = outcome_log::export_jsonl(&at, &mut w)?;
                    w.flush()?;
                    n
                }
            };
            eprintln!("exported {n} outcome(s) from {}", shown(&at));
        }
        Action::Prune {
            db,
            older_than,
            max_bytes,
            archive,
            dry_run,
        } => {
            let config = db.gateway_config()?;
            let at = db.existing_log(&config)?;
            let shown_at = shown(&at);
            let said = |verb: &str, report: outcome_log::PruneReport, why: &str| {
                eprintln!(
                    "{verb} {} outcome(s), {} label(s) and {} judge call(s) {why} from {shown_at}{}",
                    report.outcomes,
                    report.feedback,
                    report.judge_calls,
                    match (&archive, verb) {
                        (Some(path), "deleted") => format!(" (archived to {})", path.display()),
                        (Some(path), "will delete" | "will delete about") => {
                            format!(" (archiving them to {} first)", path.display())
                        }
                        _ => String::new(),
                    }
                );
            };
            if let Some(days) = older_than {
                let why = format!("older than {days} days");
                // Counted first, and said before anything is deleted (cron keeps the line).
                let plan = outcome_log::prune_older_than(&at, days, None, true)?;
                if dry_run || plan.outcomes == 0 {
                    said(if dry_run { "would delete" } else { "deleted" }, plan, &why);
                } else {
                    said("will delete", plan, &why);
                    let report =
                        outcome_log::prune_older_than(&at, days, archive.as_deref(), false)?;
                    said("deleted", report, &why);
                }
            }
            if let Some(max) = max_bytes {
                let plan = outcome_log::prune_to_size(&at, max, None, true)?;
                let why = format!("to bring {} used bytes under {max}", plan.before_bytes);
                let size = if dry_run || plan.pruned.outcomes == 0 {
                    said(
                        if dry_run { "would delete" } else { "deleted" },
                        plan.pruned,
                        &why,
                    );
                    plan
                } else {
                    // One pass's estimate: the prune re-measures and may take a few more.
                    said("will delete about", plan.pruned, &why);
                    let size = outcome_log::prune_to_size(&at, max, archive.as_deref(), false)?;
                    said(
                        "deleted",
                        size.pruned,
                        &format!("{why} ({} after)", size.after_bytes),
                    );
                    size
                };
                if size.still_over {
                    anyhow::bail!(
                        "{shown_at}: still {} bytes with no outcome left to delete (labels, client keys and judge calls remain); choose a larger --max-bytes",
                        size.after_bytes
                    );
                }
            }
        }
    }
    Ok(())
}

/// Exports into `path`: a regular file (or a new path) is replaced whole
/// ([`export_replacing`]); anything else is written in place ([`export_in_place`]), never
/// replaced by a regular file: a symlink (`/dev/stdout`), a FIFO, a character device
/// (`/dev/null`), `/dev/fd/N` of a process substitution. Replacing those broke the system's
/// `/dev/stdout` when run as root, and sent the data nowhere the operator asked.
fn export_to_path(db: &Location, path: &Path) -> anyhow::Result<usize> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => export_replacing(db, path),
        Ok(_) => export_in_place(db, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => export_replacing(db, path),
        Err(e) => Err(e).with_context(|| format!("--out {}", path.display())),
    }
}

/// Streams the export into `path` as it is, following a symlink, as a shell's `>` would. The
/// file is opened (and a symlinked regular file truncated) only when the first row is
/// written, or at the end of an empty export, so an export that fails before its first row
/// (an unreadable database) leaves it untouched.
fn export_in_place(db: &Location, path: &Path) -> anyhow::Result<usize> {
    let mut w = std::io::BufWriter::new(InPlace { path, file: None });
    let written = (|| -> anyhow::Result<usize> {
        let n = outcome_log::export_jsonl(db, &mut w)?;
        w.flush()?;
        let file = w.get_mut().open()?;
        // A symlinked regular file is synced as the renamed one is; a FIFO or device has
        // nothing to sync (and refuses it).
        if file.metadata()?.file_type().is_file() {
            file.sync_all()?;
        }
        Ok(n)
    })();
    written.with_context(|| {
        format!(
            "exporting to --out {} (written in place: it is not a regular file)",
            path.display()
        )
    })
}

/// The target of [`export_in_place`], opened on first use.
struct InPlace<'a> {
    path: &'a Path,
    file: Option<std::fs::File>,
}

impl InPlace<'_> {
    fn open(&mut self) -> std::io::Result<&mut std::fs::File> {
        if self.file.is_none() {
            self.file = Some(
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(self.path)?,
            );
        }
        self.file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("the export target is not open"))
    }
}

impl Write for InPlace<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.open()?.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

/// Exports into `path`, a regular file or a new path, through a `.partial` sibling renamed
/// over it once complete, so that a failed or interrupted export leaves the previous file
/// whole: `train --from-log` would otherwise stop at a torn line, or quietly train on fewer
/// rows.
fn export_replacing(db: &Location, path: &Path) -> anyhow::Result<usize> {
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
