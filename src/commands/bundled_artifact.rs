//! The default router artifact, embedded in the binary. `serve`, `route` and `score` route with
//! it wherever they run (a container, a service manager's working directory, an installed
//! binary), not only from a checkout whose `artifacts/default-router` lies in the working
//! directory. It is unpacked once per content hash under `.switchyard/artifacts/`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

/// The artifact in a checkout, relative to the working directory; preferred when present, so
/// that a retrained default is used before it is rebuilt into the binary.
pub const CHECKOUT_DIR: &str = "artifacts/default-router";

/// Where the embedded copy is unpacked, relative to the working directory (beside the encoder
/// weights of `switchyard model fetch`).
pub const UNPACK_ROOT: &str = ".switchyard/artifacts";

macro_rules! bundled {
    ($($path:literal),* $(,)?) => {
        [$(($path, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/artifacts/default-router/", $path)) as &[u8])),*]
    };
}

/// Every file of `artifacts/default-router`, by its path inside the folder (a test checks that
/// the list matches the folder, so a retrained artifact with other files cannot ship half).
const FILES: [(&str, &[u8]); 8] = bundled!(
    "manifest.json",
    "weights.safetensors",
    "base-0/manifest.json",
    "base-0/weights.safetensors",
    "base-1/manifest.json",
    "base-1/weights.safetensors",
    "base-2/manifest.json",
    "base-2/weights.safetensors",
);

/// sha256 over every file's path and bytes, hex: names the unpacked folder.
fn digest() -> String {
    let mut h = Sha256::new();
    for (path, bytes) in FILES {
        h.update((path.len() as u64).to_le_bytes());
        h.update(path.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The default artifact's folder: [`CHECKOUT_DIR`] when the working directory holds it, else
/// the embedded copy unpacked under [`UNPACK_ROOT`] (or, where the working directory is not
/// writable, under the system's temporary folder).
pub fn resolve() -> anyhow::Result<PathBuf> {
    let checkout = Path::new(CHECKOUT_DIR);
    if checkout.join("manifest.json").is_file() {
        return Ok(checkout.to_owned());
    }
    unpack(Path::new(UNPACK_ROOT)).or_else(|first| {
        unpack(&std::env::temp_dir().join("switchyard-artifacts")).map_err(|_| first)
    })
}

/// Unpacks the embedded artifact into `root/default-router-<hash>` unless an intact copy is
/// already there, and returns that folder. The files are written to a temporary folder beside
/// it and renamed into place, so a reader never sees half an artifact and two processes
/// starting at once both end up with the same complete one.
pub fn unpack(root: &Path) -> anyhow::Result<PathBuf> {
    let dir = root.join(format!("default-router-{}", &digest()[..16]));
    if intact(&dir) {
        return Ok(dir);
    }
    std::fs::create_dir_all(root).with_context(|| {
        format!(
            "creating {} for the bundled router artifact",
            root.display()
        )
    })?;
    let staging = tempfile::Builder::new()
        .prefix(".default-router-")
        .tempdir_in(root)
        .with_context(|| format!("creating a staging folder in {}", root.display()))?;
    for (path, bytes) in FILES {
        let file = staging.path().join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&file, bytes).with_context(|| format!("writing {}", file.display()))?;
    }
    if dir.exists() {
        // A damaged copy (edited, or cut short by a full disk): replace it.
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("removing the damaged copy {}", dir.display()))?;
    }
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, &dir) {
        let _ = std::fs::remove_dir_all(&staged);
        // Another process may have put an intact copy in place first.
        if !intact(&dir) {
            return Err(e).with_context(|| {
                format!("moving the bundled router artifact into {}", dir.display())
            });
        }
    }
    Ok(dir)
}

/// Whether `dir` holds every embedded file with exactly its bytes.
fn intact(dir: &Path) -> bool {
    FILES
        .iter()
        .all(|(path, bytes)| std::fs::read(dir.join(path)).is_ok_and(|b| b == *bytes))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn files_under(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type().unwrap().is_dir() {
                files_under(&entry.path(), &format!("{name}/"), out);
            } else {
                out.push(name);
            }
        }
    }

    #[test]
    fn the_embedded_files_are_the_artifact_folder() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join(CHECKOUT_DIR);
        let mut on_disk = Vec::new();
        files_under(&folder, "", &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "src/commands/bundled_artifact.rs must list every file of {CHECKOUT_DIR}"
        );
    }

    #[test]
    fn unpacked_once_loadable_and_repaired_when_damaged() {
        let root = tempfile::tempdir().unwrap();
        let dir = unpack(root.path()).unwrap();
        let artifact = classifier::predictors::Artifact::load(&dir).unwrap();
        let checkout = classifier::predictors::Artifact::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join(CHECKOUT_DIR),
        )
        .unwrap();
        assert_eq!(artifact.manifest().models, checkout.manifest().models);
        // A second start finds it in place.
        assert_eq!(unpack(root.path()).unwrap(), dir);
        // A damaged copy is replaced.
        std::fs::write(dir.join("base-1/weights.safetensors"), b"cut short").unwrap();
        assert_eq!(unpack(root.path()).unwrap(), dir);
        assert!(intact(&dir));
        // Nothing is left behind but the one folder.
        let entries: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }
}
