//! `switchyard`: the one command-line entry point. Argument parsing and dispatch only; the work
//! lives in the crates.

mod commands;

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
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
