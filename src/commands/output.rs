//! Standard output for the commands' tables, JSON lines, reports and keys.
//!
//! `println!` panics when stdout's reader has gone (`switchyard keys list | head -1`: exit 101
//! with a backtrace). Every command writes through [`outln!`] and [`out!`] instead (or, for a
//! stream handed to a library, through [`Stdout`]), which return the write's error and note a
//! broken pipe ([`stdout_closed`]), which `main` turns into a quiet exit in one place.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Writes a line to stdout like `println!`, returning `anyhow::Result<()>` (use it with `?`).
macro_rules! outln {
    () => {
        $crate::commands::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::commands::output::line(format_args!($($arg)*))
    };
}

/// Writes to stdout like `print!` (and flushes), returning `anyhow::Result<()>`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::commands::output::text(format_args!($($arg)*))
    };
}

/// Stdout's reader closed it before the command finished writing (a pipe into `head`). Not a
/// failure of the command: `main` exits quietly, with status 0 (see there).
#[derive(Debug, Clone, Copy)]
pub struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stdout was closed by its reader")
    }
}

impl std::error::Error for StdoutClosed {}

/// `e`, from a write to stdout, as the command's error: [`StdoutClosed`] for a broken pipe.
pub fn stdout_error(e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        CLOSED.store(true, Ordering::Relaxed);
        anyhow::Error::new(StdoutClosed)
    } else {
        anyhow::Error::new(e).context("writing to stdout")
    }
}

/// What [`outln!`] runs.
pub fn line(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{args}").map_err(stdout_error)
}

/// What [`out!`] runs: stdout is line-buffered, so it flushes to see the write's error now.
pub fn text(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

/// Set once a write to stdout found its reader gone; what `main` checks, whatever type the
/// error reached it wrapped in.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether a write to stdout (through this module) found its reader gone.
pub fn stdout_closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// Stdout as a writer for streams written by library code (an export, embeddings, scores),
/// whose errors come back wrapped in other types: a broken pipe is noted for
/// [`stdout_closed`], so that `main` can tell it from a real failure (a PostgreSQL socket's
/// broken pipe is one, and must not exit quietly).
pub struct Stdout(io::StdoutLock<'static>);

impl Stdout {
    /// Locks stdout.
    pub fn lock() -> Stdout {
        Stdout(io::stdout().lock())
    }
}

fn note(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        CLOSED.store(true, Ordering::Relaxed);
    }
    e
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(note)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(note)
    }
}
