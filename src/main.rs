//! `switchyard`: the one command-line entry point. Argument parsing and dispatch only; the work
//! lives in the crates.

mod commands;

use std::io::Write as _;

use clap::Parser;

/// mimalloc instead of glibc's malloc: the gateway's hot path allocates many small, short-lived
/// buffers (request and response JSON, headers, the outcome row), and glibc's allocator was a
/// tenth of a pinned request's CPU (docs/performance.md, "Pinned hot path").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = commands::Cli::parse();
    commands::init_tracing(cli.verbose);
    match commands::dispatch(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // Stdout's reader stopped reading (`switchyard keys list | head -1`): the one place a
        // broken pipe is handled. Exit quietly with status 0, as ripgrep does, rather than the
        // 141 of a process killed by SIGPIPE: the reader chose to stop, nothing failed here,
        // and a 141 would fail `set -o pipefail` scripts and cron jobs for taking one line.
        Err(_) if commands::stdout_closed() => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // Not `eprintln!`, which panics when stderr is a closed pipe too.
            let _ = writeln!(std::io::stderr(), "error: {}", chain(&err));
            std::process::ExitCode::FAILURE
        }
    }
}

/// `err` and its causes joined by `: `, each cause once: many error types already put their
/// source's message in their own (`cannot read config file x: No such file ...`), so a cause
/// whose text the line so far already holds is left out rather than printed again.
fn chain(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}
