//! Finishing and writing a fitted router artifact: the manifest records which encoder the fit
//! saw and what it was fitted on, and the folder holds the predictor's files with, beside them,
//! the routing adapter it was trained with. `switchyard train` and the learning loop's refits
//! both write artifacts this way, so that a folder never pairs a predictor with another fit's
//! adapter (a stale one would change every embedding the gateway serves it).

use std::path::{Path, PathBuf};

use classifier::adapter::ADAPTER_FILE;
use classifier::predictors::{Artifact, EncoderSettings, ModelPriors, TrainingSet};
use classifier::RoutingAdapter;
use router_core::policy::{MeanEstimate, TieBreak};

use crate::Error;

/// Records in `artifact`'s manifest the encoder the fit saw (its fingerprint and settings) and,
/// under `metrics`, each `(key, value)` of `entries` (the training data's description, the
/// guard's report, the adapter's fit).
pub fn stamp(
    artifact: &mut Artifact,
    encoder_sha256: String,
    encoder: Option<EncoderSettings>,
    entries: impl IntoIterator<Item = (&'static str, serde_json::Value)>,
) {
    let manifest = artifact.manifest_mut();
    manifest.encoder_sha256 = encoder_sha256;
    manifest.encoder = encoder;
    if !manifest.metrics.is_object() {
        manifest.metrics = serde_json::Value::Object(serde_json::Map::new());
    }
    if let serde_json::Value::Object(metrics) = &mut manifest.metrics {
        for (key, value) in entries {
            metrics.insert(key.to_owned(), value);
        }
    }
}

/// The uncertainty-aware tie-break for an artifact fitted on `set`: every model with quality
/// labels, with its training means (the fixed policy's estimates: mean quality, typical output
/// tokens), and `margin`.
pub fn tie_break(set: &TrainingSet, margin: f64) -> TieBreak {
    let priors = ModelPriors::from_training_set(set);
    let means = set
        .models
        .iter()
        .zip(priors.estimates())
        .zip(&priors.quality_labelled)
        .filter(|(_, &labelled)| labelled)
        .map(|((model, estimate), _)| MeanEstimate {
            model: model.clone(),
            quality: estimate.quality.clamp(0.0, 1.0),
            output_tokens: estimate.output_tokens.max(0.0),
        })
        .collect();
    TieBreak { margin, means }
}

/// Writes `artifact` into `dir` (created if missing) with `adapter` beside it; without one,
/// an adapter left in `dir` by an earlier fit is removed.
pub fn save(
    artifact: &Artifact,
    dir: &Path,
    adapter: Option<&RoutingAdapter>,
) -> Result<(), Error> {
    artifact.save(dir)?;
    let path = dir.join(ADAPTER_FILE);
    match adapter {
        Some(adapter) => adapter.save(&path).map_err(|e| Error::Experiment {
            reason: format!("writing {}: {e}", path.display()),
        }),
        None if path.exists() => {
            std::fs::remove_file(&path).map_err(|source| Error::Io { path, source })
        }
        None => Ok(()),
    }
}

/// Writes `artifact` (with `adapter` beside it) to `out`, replacing whatever is there whole:
/// it is saved into a sibling staging folder, loaded back, and only then renamed into place,
/// so an interrupted or failed save (a full disk, Ctrl-C) never leaves `out` holding the old
/// manifest next to new weights, or a truncated file a gateway would serve. Returns the
/// artifact as loaded from `out`.
pub fn save_replacing(
    artifact: &Artifact,
    out: &Path,
    adapter: Option<&RoutingAdapter>,
) -> Result<Artifact, Error> {
    let staging = staging_dir(out, "staging")?;
    refuse_foreign(out)?;
    clear(&staging)?;
    let saved = save(artifact, &staging, adapter).and_then(|()| put_in_place(&staging, out));
    if saved.is_err() {
        // Best effort: the error that matters is the one being returned.
        let _ = std::fs::remove_dir_all(&staging);
    }
    saved
}

/// Refuses to replace an `out` that is not an artifact folder (checked again before any fit by
/// `train`, so a long fit is not wasted): a file, or a folder with other
/// things in it and no manifest (`--out artifacts` instead of `--out artifacts/my-router`
/// would otherwise delete every router in it).
pub fn refuse_foreign(out: &Path) -> Result<(), Error> {
    let Ok(meta) = std::fs::symlink_metadata(out) else {
        return Ok(());
    };
    let empty = || {
        std::fs::read_dir(out)
            .map(|mut entries| entries.next().is_none())
            .unwrap_or(false)
    };
    if meta.is_dir() && (out.join(classifier::predictors::MANIFEST_FILE).is_file() || empty()) {
        return Ok(());
    }
    Err(io(out)(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "exists and is not an artifact folder (no manifest.json), so it is left alone; name a new folder, or an artifact folder to replace",
    )))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Removes `dir` if it exists (a staging folder left by a killed run of the same pid).
fn clear(dir: &Path) -> Result<(), Error> {
    match std::fs::symlink_metadata(dir) {
        Ok(_) => std::fs::remove_dir_all(dir).map_err(io(dir)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(dir)(e)),
    }
}

/// A hidden sibling of `out` that no other run uses (same folder, so a rename moves it).
pub(crate) fn staging_dir(out: &Path, tag: &str) -> Result<PathBuf, Error> {
    let Some(name) = out.file_name() else {
        // Staged beside its final place and renamed into it, the folder needs a name.
        return Err(io(out)(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "name the artifact folder itself (e.g. artifacts/my-router), not `.`, `..` or `/`",
        )));
    };
    let name = name.to_string_lossy();
    Ok(out.with_file_name(format!(".{name}.{tag}-{}", std::process::id())))
}

/// Moves the staged artifact to `out` once it loads, replacing what is there. The old folder
/// is first renamed aside and put back if the second rename fails, so `out` is only ever
/// missing for the instant between the two renames.
pub(crate) fn put_in_place(staging: &Path, out: &Path) -> Result<Artifact, Error> {
    // Every writer comes through here: none may replace a folder that is not an artifact.
    refuse_foreign(out)?;
    // Refuse to put in place anything that does not load.
    Artifact::load(staging)?;
    if std::fs::symlink_metadata(out).is_ok() {
        let old = staging_dir(out, "old")?;
        clear(&old)?;
        std::fs::rename(out, &old).map_err(io(out))?;
        if let Err(e) = std::fs::rename(staging, out) {
            let _ = std::fs::rename(&old, out);
            return Err(io(out)(e));
        }
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    } else {
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::rename(staging, out).map_err(io(out))?;
    }
    Ok(Artifact::load(out)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic;

    #[test]
    fn a_refit_without_an_adapter_removes_the_last_fits_and_the_manifest_keeps_its_records() {
        let set = synthetic::planted(&synthetic::PlantedConfig {
            rows: 40,
            ..synthetic::PlantedConfig::default()
        })
        .set;
        let mut artifact = crate::fit_predictor_with(
            classifier::predictors::PredictorKind::Linear,
            &set,
            &crate::experiment::PredictorConfigs::default(),
            1,
            crate::FitOptions::default(),
            None,
        )
        .unwrap();
        stamp(
            &mut artifact,
            "enc".to_owned(),
            None,
            [("data", serde_json::json!({"prompts": 40}))],
        );
        assert_eq!(artifact.manifest().encoder_sha256, "enc");
        assert_eq!(artifact.manifest().metrics["data"]["prompts"], 40);

        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(ADAPTER_FILE);
        std::fs::write(&stale, b"an earlier fit's adapter").unwrap();
        save(&artifact, dir.path(), None).unwrap();
        assert!(!stale.exists(), "the stale adapter is gone");
        let back = Artifact::load(dir.path()).unwrap();
        assert_eq!(back.manifest().metrics["data"]["prompts"], 40);
    }

    fn linear(rows: usize) -> Artifact {
        let set = synthetic::planted(&synthetic::PlantedConfig {
            rows,
            ..synthetic::PlantedConfig::default()
        })
        .set;
        crate::fit_predictor_with(
            classifier::predictors::PredictorKind::Linear,
            &set,
            &crate::experiment::PredictorConfigs::default(),
            1,
            crate::FitOptions::default(),
            None,
        )
        .unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn save_replacing_replaces_the_folder_whole_and_stages_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("router");
        save_replacing(&linear(40), &out, None).unwrap();
        std::fs::write(out.join("stray.txt"), b"left by the last fit").unwrap();
        let mut second = linear(30);
        stamp(&mut second, "second".into(), None, []);
        let back = save_replacing(&second, &out, None).unwrap();
        assert_eq!(back.manifest().encoder_sha256, "second");
        assert!(
            !out.join("stray.txt").exists(),
            "the old folder is gone whole"
        );
        assert_eq!(names(dir.path()), ["router"], "nothing staged is left");
    }

    #[test]
    fn a_save_that_does_not_load_back_leaves_the_old_artifact_intact() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("router");
        let mut old = linear(40);
        stamp(&mut old, "old".into(), None, []);
        save_replacing(&old, &out, None).unwrap();
        // A manifest naming one model more than the weights hold saves but does not load.
        let mut broken = linear(30);
        broken
            .manifest_mut()
            .models
            .push(router_core::ModelId::new("extra"));
        let err = save_replacing(&broken, &out, None).unwrap_err();
        assert!(err.to_string().contains("expected"), "{err}");
        let kept = Artifact::load(&out).unwrap();
        assert_eq!(kept.manifest().encoder_sha256, "old");
        assert_eq!(
            names(dir.path()),
            ["router"],
            "the staging folder is removed"
        );
    }

    #[test]
    fn an_out_path_without_a_name_is_refused_naming_it() {
        let err = save_replacing(&linear(30), Path::new("/"), None).unwrap_err();
        assert!(
            err.to_string().contains("name the artifact folder"),
            "{err}"
        );
    }
}
