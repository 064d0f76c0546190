//! Which setting named the router artifact `serve` (and `route`) load: `--artifact`,
//! `[router] artifact` in the config file, or the bundled default. An artifact that cannot be
//! loaded is reported as that setting's fault, with the path, what is wrong and the fix: the
//! loader alone says only which file it could not read, which leaves an operator looking for
//! where that path came from.

use std::path::{Path, PathBuf};

use classifier::predictors::MANIFEST_FILE;

/// Where the artifact's path came from.
#[derive(Clone, Debug)]
pub enum NamedBy {
    /// `--artifact`.
    Flag,
    /// `[router] artifact`, in this config file.
    Config(Option<PathBuf>),
    /// Neither: the bundled default.
    Bundled,
}

/// The artifact to load and the setting that named it.
#[derive(Clone, Debug)]
pub struct ArtifactSetting {
    /// The artifact's folder.
    pub dir: PathBuf,
    /// Where it came from.
    pub named_by: NamedBy,
}

impl ArtifactSetting {
    /// The checks that need no loading: the folder exists and holds a manifest. Run before
    /// anything slow (the encoder weights' first download, loading the encoder), so that a
    /// mistyped path fails at once.
    pub fn check(&self) -> anyhow::Result<()> {
        let problem = match std::fs::metadata(&self.dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "no such folder".to_owned(),
            Err(e) => format!("cannot read it: {e}"),
            Ok(m) if !m.is_dir() => {
                "not a folder (a router artifact is the folder `switchyard train` writes)"
                    .to_owned()
            }
            Ok(_) if !self.dir.join(MANIFEST_FILE).is_file() => {
                format!("not a router artifact: the folder holds no {MANIFEST_FILE}")
            }
            Ok(_) => return Ok(()),
        };
        Err(self.error(&problem))
    }

    /// `err`, a failed start, restated as this setting's fault when it is the artifact's
    /// (the loader refused it, or it cannot predict with the encoder); else unchanged.
    pub fn explain(&self, err: anyhow::Error) -> anyhow::Error {
        let problem = match err.downcast_ref::<gateway::Error>() {
            Some(gateway::Error::ArtifactLoad { source, .. }) => source.to_string(),
            Some(e @ gateway::Error::ArtifactUnusable { .. }) => e.to_string(),
            _ => return err,
        };
        self.error(&problem)
    }

    fn error(&self, problem: &str) -> anyhow::Error {
        let dir = self.dir.display();
        let at = relative_note(&self.dir);
        anyhow::anyhow!(match &self.named_by {
            NamedBy::Config(file) => format!(
                "[router] artifact = \"{dir}\"{}: {problem}{at}. Point it at a folder written by `switchyard train --out DIR` (`switchyard train --out {dir}` writes one there), or remove the line to route with the bundled default artifact",
                file.as_ref()
                    .map(|f| format!(" in {}", f.display()))
                    .unwrap_or_default()
            ),
            NamedBy::Flag => format!(
                "--artifact {dir}: {problem}{at}. Pass a folder written by `switchyard train --out DIR`, or leave --artifact out to use `[router] artifact` or the bundled default artifact"
            ),
            NamedBy::Bundled => format!(
                "the bundled router artifact {dir}: {problem}{at}. Set `[router] artifact` to a folder written by `switchyard train --out DIR`, or pass --priors-only to route on catalog priors"
            ),
        })
    }
}

/// ` (the path is relative to the working directory DIR)` for a relative path: the usual
/// surprise is a service started from another directory than the one the config was written
/// in.
fn relative_note(dir: &Path) -> String {
    if dir.is_absolute() {
        return String::new();
    }
    match std::env::current_dir() {
        Ok(cwd) => format!(
            " (the path is relative to the working directory {})",
            cwd.display()
        ),
        Err(_) => " (the path is relative to the working directory)".to_owned(),
    }
}
