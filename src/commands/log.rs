use std::io::Write;
use std::path::PathBuf;

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
        /// The gateway's SQLite outcome log.
        #[arg(long, default_value = ".switchyard/outcomes.sqlite")]
        db: PathBuf,
        /// Output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub fn run(args: LogArgs) -> anyhow::Result<()> {
    match args.action {
        Action::Export { db, out } => {
            if !db.is_file() {
                anyhow::bail!(
                    "{}: no outcome log there; pass --db with the path of `[log] sqlite` from your gateway config",
                    db.display()
                );
            }
            let n = match out {
                Some(path) => {
                    let file = std::fs::File::create(&path)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    let mut w = std::io::BufWriter::new(file);
                    let n = outcome_log::export_jsonl(&db, &mut w)?;
                    w.flush()?;
                    n
                }
                None => {
                    let mut w = std::io::BufWriter::new(std::io::stdout().lock());
                    let n = outcome_log::export_jsonl(&db, &mut w)?;
                    w.flush()?;
                    n
                }
            };
            eprintln!("exported {n} outcome(s) from {}", db.display());
        }
    }
    Ok(())
}
