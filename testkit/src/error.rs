//! The crate's one error type.

use std::net::SocketAddr;

/// What can go wrong starting the fake.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listener could not bind.
    #[error("Cannot bind the fake provider to {addr}: {source}. Pick a free port or use port 0.")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A bundled `.jsonl` fixture line is not JSON (the crate was edited badly).
    #[error("Fixture testkit/fixtures/{file} line {line} is not valid JSON: {source}. Each line must be one JSON chunk.")]
    FixtureInvalid {
        /// The fixture file name.
        file: &'static str,
        /// The 1-based line number.
        line: usize,
        /// The JSON error.
        source: serde_json::Error,
    },
}
