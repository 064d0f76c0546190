//! `switchyard model verify` and `model fetch` check `config.json` against its pinned SHA-256
//! like the weights and the tokenizer: a broken or edited one fails `verify`, naming the file
//! and the fix with the folder's `--dir`, and `fetch` replaces it (it used to say "verified"
//! and "already present" while every load refused the file, advising that same fetch).
//!
//! Needs the encoder weights in the checkout (`switchyard model fetch`; `scripts/test.sh`
//! fetches them): skipped without them. The fetch reads from a Hugging Face cache made in a
//! temporary `HOME` out of those files (hf-hub's own cache layout), so it needs no network.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::{switchyard, text};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const FILES: [&str; 4] = [
    "model.safetensors",
    "tokenizer.json",
    "config.json",
    "README.md",
];

/// The weights of `source` in `dir`: the large files as symlinks (verify follows them), the
/// small ones copied.
fn copy_weights(source: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for name in FILES {
        if name == "model.safetensors" {
            std::os::unix::fs::symlink(source.join(name), dir.join(name)).unwrap();
        } else {
            std::fs::copy(source.join(name), dir.join(name)).unwrap();
        }
    }
}

fn model(args: &[&str], home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("model")
        .args(args)
        .env("HOME", home)
        .env_remove("HF_HOME")
        .env_remove("HF_ENDPOINT")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn a_corrupt_config_json_fails_verify_and_fetch_replaces_it() {
    let weights = repo().join(".switchyard/encoder/all-MiniLM-L6-v2");
    if !weights.join("model.safetensors").exists() {
        eprintln!(
            "skipped: no encoder weights in {} (run `switchyard model fetch`)",
            weights.display()
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("enccfg");
    copy_weights(&weights, &dir);
    let home = tmp.path().join("home");
    let good = std::fs::read(weights.join("config.json")).unwrap();

    let ok = switchyard(&["model", "verify", "--dir", dir.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));

    let other_eps = String::from_utf8(good.clone())
        .unwrap()
        .replace("1e-12", "0.5")
        .into_bytes();
    // Not JSON, torn, and well-formed but not the model's (another layer_norm_eps).
    for bytes in [b"{\n".to_vec(), good[..good.len() - 1].to_vec(), other_eps] {
        std::fs::write(dir.join("config.json"), &bytes).unwrap();
        let out = model(&["verify", "--dir", dir.to_str().unwrap()], &home);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("config.json"), "{err}");
        assert!(
            err.contains(&format!("switchyard model fetch --dir {}", dir.display())),
            "the fix names the folder: {err}"
        );
    }

    // A Hugging Face cache at the pinned revision, as hf-hub lays it out.
    let revision = classifier::weights::HF_REVISION;
    let cache = home.join(".cache/huggingface/hub/models--sentence-transformers--all-MiniLM-L6-v2");
    std::fs::create_dir_all(cache.join("refs")).unwrap();
    std::fs::write(cache.join("refs").join(revision), revision).unwrap();
    copy_weights(&weights, &cache.join("snapshots").join(revision));

    let fetched = model(
        &["fetch", "--dir", dir.to_str().unwrap(), "--source", "hf"],
        &home,
    );
    let err = text(&fetched.stderr);
    assert!(fetched.status.success(), "{err}");
    assert!(!err.contains("already present"), "{err}");
    assert_eq!(std::fs::read(dir.join("config.json")).unwrap(), good);
    let ok = model(&["verify", "--dir", dir.to_str().unwrap()], &home);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    // The checkout's weights were not touched through the symlink fetch replaced.
    assert_eq!(
        classifier::weights::sha256_file(&weights.join("model.safetensors")).unwrap(),
        classifier::weights::MODEL_SHA256
    );
}
