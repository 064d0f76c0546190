//! Writing onboarded models into a router artifact.
//!
//! The new artifact is the source artifact copied file by file (weights, stacked bases, the
//! routing adapter: everything, byte for byte) with one change to `manifest.json`: its
//! `onboarded` list, where a model onboarded again replaces its earlier entry. It is written
//! beside the destination and moved into place only once it loads, so a gateway reloading the
//! destination never sees half an artifact.

use std::path::{Path, PathBuf};

use classifier::predictors::Artifact;
use router_core::OnboardedModel;

use crate::Error;

const MANIFEST_FILE: &str = "manifest.json";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(io(&path))?.is_dir() {
            copy_dir(&path, &target)?;
        } else {
            std::fs::copy(&path, &target).map_err(io(&path))?;
        }
    }
    Ok(())
}

/// A sibling of `out` that no other run uses.
fn staging_dir(out: &Path, tag: &str) -> PathBuf {
    let name = out
        .file_name()
        .map_or_else(|| "artifact".into(), |n| n.to_string_lossy().into_owned());
    out.with_file_name(format!(".{name}.{tag}-{}", std::process::id()))
}

/// Writes the artifact at `source` with `fitted` added to its onboarded models into `out`
/// (which may be `source` itself), and returns the new artifact as loaded back.
pub fn write_onboarded(
    source: &Path,
    out: &Path,
    fitted: &[OnboardedModel],
) -> Result<Artifact, Error> {
    let staging = staging_dir(out, "staging");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    }
    copy_dir(source, &staging)?;
    let manifest_path = staging.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest_path).map_err(io(&manifest_path))?;
    let mut manifest: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::Onboarding {
            reason: format!("{}: {e}", source.join(MANIFEST_FILE).display()),
        })?;
    let mut onboarded: Vec<OnboardedModel> = match manifest.get("onboarded") {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| Error::Onboarding {
            reason: format!(
                "{}: field `onboarded`: {e}",
                source.join(MANIFEST_FILE).display()
            ),
        })?,
        None => Vec::new(),
    };
    onboarded.retain(|o| !fitted.iter().any(|f| f.model == o.model));
    onboarded.extend(fitted.iter().cloned());
    let serialised = |e: serde_json::Error| Error::Onboarding {
        reason: format!("serialising the manifest: {e}"),
    };
    manifest["onboarded"] = serde_json::to_value(&onboarded).map_err(serialised)?;
    let text = serde_json::to_string_pretty(&manifest).map_err(serialised)?;
    std::fs::write(&manifest_path, text + "\n").map_err(io(&manifest_path))?;
    // Refuse to put in place anything that does not load.
    Artifact::load(&staging)?;
    if out.exists() {
        let old = staging_dir(out, "old");
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(io(&old))?;
        }
        std::fs::rename(out, &old).map_err(io(out))?;
        std::fs::rename(&staging, out).map_err(io(out))?;
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    } else {
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::rename(&staging, out).map_err(io(out))?;
    }
    Ok(Artifact::load(out)?)
}
