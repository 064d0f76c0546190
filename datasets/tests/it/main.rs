//! Integration tests of the `datasets` crate: committed fixtures, malformed files, and the
//! real shared datasets when present.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fixtures;
mod malformed;
mod real_data;

use std::path::PathBuf;

/// `datasets/tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}
