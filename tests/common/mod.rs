//! Running the built `switchyard` binary from the CLI tests.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `switchyard ARGS` with warnings-only logging and waits for it.
pub fn switchyard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the switchyard binary runs")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `manifest.json` of the artifact in `dir`, parsed.
// Every test binary compiles this module on its own; not all of them read manifests.
#[allow(dead_code)]
pub fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}
