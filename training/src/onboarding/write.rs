//! Writing onboarded models into a router artifact.
//!
//! The new artifact is the source artifact copied file by file (weights, stacked bases, the
//! routing adapter: everything, byte for byte) with one change to `manifest.json`: its
//! `onboarded` list, where a model onboarded again replaces its earlier entry. It is written
//! beside the destination and moved into place only once it loads, so a gateway reloading the
//! destination never sees half an artifact.

use std::path::Path;

use classifier::predictors::{Artifact, Manifest, PredictorKind, TaskPriorsPredictor};
use router_core::OnboardedModel;

use crate::artifact_files::{put_in_place, staging_dir};
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

/// Writes the artifact at `source` with `fitted` added to its onboarded models into `out`
/// (which may be `source` itself), and returns the new artifact as loaded back. Without a
/// source (a gateway routing on catalog priors alone) the new artifact is a `task_priors` one
/// holding only the fits.
pub fn write_onboarded(
    source: Option<&Path>,
    out: &Path,
    fitted: &[OnboardedModel],
) -> Result<Artifact, Error> {
    let staging = staging_dir(out, "staging")?;
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    }
    let Some(source) = source else {
        let mut manifest = Manifest::new(
            PredictorKind::TaskPriors,
            Vec::new(),
            classifier::EMBEDDING_DIM,
            String::new(),
            serde_json::json!({}),
        );
        manifest.onboarded = fitted.to_vec();
        TaskPriorsPredictor::new(manifest).save(&staging)?;
        return put_in_place(&staging, out);
    };
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
    // A new artifact, so a new creation time: a gateway tells routers apart by it (its
    // answer cache keys `auto` answers by it), and with the old one kept, answers the previous
    // router chose stayed reachable after a reload.
    manifest["created_at"] = serde_json::Value::String(classifier::predictors::now_rfc3339());
    let text = serde_json::to_string_pretty(&manifest).map_err(serialised)?;
    std::fs::write(&manifest_path, text + "\n").map_err(io(&manifest_path))?;
    put_in_place(&staging, out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use router_core::{ModelId, OnboardedTask, QualityPredictor, Task};

    use super::*;

    fn fit(model: &str, estimate: f64) -> OnboardedModel {
        OnboardedModel {
            model: ModelId::new(model),
            onboarded_at: "2026-12-03T00:00:00Z".into(),
            probe_set_sha256: "p".into(),
            requests: 20,
            errors: 0,
            cost_usd: 0.01,
            latency: None,
            tasks: vec![OnboardedTask {
                task: Task::Math,
                probes: 20,
                mean_score: estimate,
                prior: 0.5,
                estimate,
                sd: Some(0.05),
                output_tokens: None,
            }],
        }
    }

    #[test]
    fn without_a_source_the_fits_become_a_task_priors_artifact_and_a_rerun_replaces_one() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("router");
        let first = write_onboarded(None, &out, &[fit("a", 0.9), fit("b", 0.4)]).unwrap();
        assert_eq!(first.manifest().kind, PredictorKind::TaskPriors);
        assert!(first.models().is_empty());
        // Onboarding `a` again into the same folder replaces its fit and keeps `b`'s.
        let second = write_onboarded(Some(&out), &out, &[fit("a", 0.2)]).unwrap();
        let estimate = |m: &str| second.onboarded(&ModelId::new(m)).unwrap().tasks[0].estimate;
        assert_eq!((estimate("a"), estimate("b")), (0.2, 0.4));
        assert_eq!(second.manifest().onboarded.len(), 2);
        // Written again, it is a new router: a new creation time, so a gateway's cache does not
        // take it for the old one after a reload.
        let manifest = out.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&manifest).unwrap();
        let created = &second.manifest().created_at;
        std::fs::write(
            &manifest,
            text.replace(created.as_str(), "2026-01-01T00:00:00Z"),
        )
        .unwrap();
        let third = write_onboarded(Some(&out), &out, &[fit("b", 0.5)]).unwrap();
        assert_ne!(third.manifest().created_at, "2026-01-01T00:00:00Z");
        // Nothing staged is left behind.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["router".to_owned()]);
    }
}
