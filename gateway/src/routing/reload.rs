//! Hot reload of the router's predictor artifact: [`reload_artifact`], called on SIGHUP by
//! `switchyard serve` and by `POST /admin/reload` ([`crate::http::admin`]).
//!
//! The new artifact is read off the async runtime, checked against the running gateway (the
//! encoder it was trained with, its embedding length, every model it predicts known to the
//! catalog) and only then swapped in with [`classifier::Service::set_predictor`]: encoder
//! batches already running finish with the old predictor, later ones use the new one, and a
//! refused artifact changes nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use classifier::predictors::{Artifact, Manifest, PredictorError};
use router_core::ModelId;

use crate::state::AppState;

/// A successful reload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReloadReport {
    /// The artifact directory now serving.
    pub path: PathBuf,
    /// The predictor kind (`knn`, `linear`, `mlp`, `mf`).
    pub kind: &'static str,
    /// The models it predicts, in prediction order.
    pub models: Vec<ModelId>,
    /// The artifact directory it replaced.
    pub previous: Option<PathBuf>,
}

/// Why a reload was refused; the old predictor keeps serving in every case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The gateway routes on catalog priors without an encoder service.
    #[error("the gateway runs on catalog priors without an encoder; start the gateway with an artifact to enable reload")]
    NoClassifier,
    /// No path was given and none is configured.
    #[error(
        "no artifact path given and `[router] artifact` is not set; pass {{\"artifact\": \"DIR\"}}"
    )]
    NoArtifactPath,
    /// The artifact could not be read (missing directory or file, bad manifest or weights).
    #[error("cannot load artifact {}: {source}", path.display())]
    Load {
        /// The artifact directory.
        path: PathBuf,
        /// The predictor error.
        source: Box<PredictorError>,
    },
    /// The artifact was trained on embeddings of another encoder.
    #[error("artifact {} was trained with encoder {artifact:?} but this gateway runs encoder {encoder}; {fix}", path.display())]
    EncoderMismatch {
        /// The artifact directory.
        path: PathBuf,
        /// The manifest's `encoder_sha256`.
        artifact: String,
        /// The running encoder's fingerprint.
        encoder: String,
        /// What to do about it.
        fix: &'static str,
    },
    /// The artifact expects embeddings of another length.
    #[error("artifact {} expects {artifact}-dimensional embeddings but the encoder produces {encoder}", path.display())]
    DimensionMismatch {
        /// The artifact directory.
        path: PathBuf,
        /// The manifest's `embedding_dim`.
        artifact: usize,
        /// The encoder's dimension.
        encoder: usize,
    },
    /// The artifact's prompts were cut to another token budget than the running encoder's.
    #[error("artifact {} was trained on prompts cut to {artifact} tokens but this gateway's encoder cuts at {encoder}; the encoder takes its settings from the artifact the gateway starts with, so restart `switchyard serve` with this artifact (or retrain with --max-tokens {encoder})", path.display())]
    TokenBudgetMismatch {
        /// The artifact directory.
        path: PathBuf,
        /// The artifact's token budget.
        artifact: usize,
        /// The running encoder's.
        encoder: usize,
    },
    /// The artifact predicts models the catalog does not know by id.
    #[error("artifact {} predicts models that are not catalog ids: {}; add them to the `[catalog] path` file or retrain with catalog ids", path.display(), list(models))]
    UnknownModels {
        /// The artifact directory.
        path: PathBuf,
        /// The unknown ids.
        models: Vec<ModelId>,
    },
    /// The loading task died (a bug).
    #[error("loading artifact {} failed: {message}", path.display())]
    LoaderFailed {
        /// The artifact directory.
        path: PathBuf,
        /// The join error.
        message: String,
    },
}

fn list(models: &[ModelId]) -> String {
    models
        .iter()
        .map(|m| format!("`{m}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl ReloadError {
    /// A stable, low-cardinality label (metric label and API error code).
    pub fn label(&self) -> &'static str {
        match self {
            ReloadError::NoClassifier => "no_classifier",
            ReloadError::NoArtifactPath => "no_artifact_path",
            ReloadError::Load { .. } => "load_failed",
            ReloadError::EncoderMismatch { .. } => "encoder_mismatch",
            ReloadError::DimensionMismatch { .. } => "dimension_mismatch",
            ReloadError::TokenBudgetMismatch { .. } => "token_budget_mismatch",
            ReloadError::UnknownModels { .. } => "unknown_models",
            ReloadError::LoaderFailed { .. } => "loader_failed",
        }
    }

    /// The artifact directory the refusal is about, when one was resolved.
    pub fn path(&self) -> Option<&Path> {
        match self {
            ReloadError::NoClassifier | ReloadError::NoArtifactPath => None,
            ReloadError::Load { path, .. }
            | ReloadError::EncoderMismatch { path, .. }
            | ReloadError::DimensionMismatch { path, .. }
            | ReloadError::TokenBudgetMismatch { path, .. }
            | ReloadError::UnknownModels { path, .. }
            | ReloadError::LoaderFailed { path, .. } => Some(path),
        }
    }
}

/// Loads the artifact at `path` (default: the one serving now, else `[router] artifact`),
/// checks it and swaps it in. Refusals are logged at WARN naming the directory and the reason,
/// successes at INFO; both count in `switchyard_router_reloads_total{result}`. Concurrent
/// reloads run one after the other.
pub async fn reload_artifact(
    state: &AppState,
    path: Option<&Path>,
) -> Result<ReloadReport, ReloadError> {
    let result = reload_inner(state, path).await;
    match &result {
        Ok(report) => {
            state.metrics.router_reload("ok");
            let models: Vec<&str> = report.models.iter().map(|m| m.as_str()).collect();
            tracing::info!(
                artifact = %report.path.display(),
                kind = report.kind,
                models = ?models,
                previous = ?report.previous,
                "Router artifact reloaded."
            );
        }
        Err(e) => {
            state.metrics.router_reload(e.label());
            let artifact = e.path().or(path).map(|p| p.display().to_string());
            tracing::warn!(
                artifact = artifact.as_deref().unwrap_or("none"),
                reason = e.label(),
                error = %e,
                "Router artifact reload refused; the previous predictor keeps serving."
            );
        }
    }
    result
}

async fn reload_inner(state: &AppState, path: Option<&Path>) -> Result<ReloadReport, ReloadError> {
    let mut active = state.active_artifact.lock().await;
    let Some(service) = state.router.classifier() else {
        return Err(ReloadError::NoClassifier);
    };
    let path = match path {
        Some(p) => p.to_owned(),
        None => active.clone().ok_or(ReloadError::NoArtifactPath)?,
    };
    let artifact = load_off_runtime(&path)
        .await?
        .map_err(|source| ReloadError::Load {
            path: path.clone(),
            source: Box::new(source),
        })?;
    check_manifest(
        artifact.manifest(),
        &path,
        &RunningEncoder::of_service(service),
        &state.catalog,
    )?;
    let kind = artifact.manifest().kind.as_str();
    let models = artifact.manifest().models.clone();
    service.set_predictor(Some(Arc::new(artifact)));
    // A stored `auto` answer came from the old predictor's choice: serving it on would hide
    // the new one. Its key holds the old fit's generation (`cache::key::Namespace`), so no
    // replica finds it any more (shared entries lapse with their TTL); this replica's copies
    // go now to free their memory. Dropping pinned answers too keeps this simple; reloads
    // are rare.
    if let Some(cache) = &state.cache {
        cache.clear();
    }
    let previous = active.replace(path.clone());
    Ok(ReloadReport {
        path,
        kind,
        models,
        previous,
    })
}

/// Reads the artifact on a short-lived thread of its own: it is file I/O that can take a
/// while on a big kNN, reloads are rare, and the runtime's blocking pool is reserved (see the
/// crate's clippy.toml).
async fn load_off_runtime(path: &Path) -> Result<Result<Artifact, PredictorError>, ReloadError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let dir = path.to_owned();
    let failed = |message: String| ReloadError::LoaderFailed {
        path: path.to_owned(),
        message,
    };
    std::thread::Builder::new()
        .name("switchyard-reload".to_owned())
        .spawn(move || {
            // The receiver is gone only if the reload was abandoned; nothing to report then.
            let _ = tx.send(Artifact::load(&dir));
        })
        .map_err(|e| failed(format!("cannot start the loader thread: {e}")))?;
    rx.await
        .map_err(|_| failed("the loader thread ended without an answer".to_owned()))
}

/// What an artifact must match in the encoder that serves it.
#[derive(Clone, Copy, Debug)]
pub struct RunningEncoder<'a> {
    /// [`router_core::Embedder::fingerprint`]: the weights, and any extra pooled layers.
    pub fingerprint: &'a str,
    /// Embedding length.
    pub dim: usize,
    /// Token budget per prompt.
    pub max_tokens: usize,
}

impl<'a> RunningEncoder<'a> {
    /// The encoder a service runs.
    pub fn of_service(service: &'a classifier::Service) -> Self {
        Self {
            fingerprint: service.encoder_fingerprint(),
            dim: service.embedding_dim(),
            max_tokens: service.max_tokens(),
        }
    }

    /// A loaded encoder.
    pub fn of_encoder(encoder: &'a classifier::Encoder) -> Self {
        Self {
            fingerprint: router_core::Embedder::fingerprint(encoder),
            dim: encoder.dim(),
            max_tokens: encoder.config().max_tokens,
        }
    }
}

/// The checks an artifact must pass before it may serve: trained with the running encoder
/// (an artifact that does not name its encoder is refused too: its vectors could come from
/// anywhere), of the encoder's dimension and token budget (a prompt longer than the budget
/// must be cut as the training prompts were), and predicting only catalog ids (the router
/// matches predictions to candidates by id, so an alias or unknown id would silently be
/// ignored).
pub fn check_manifest(
    manifest: &Manifest,
    path: &Path,
    encoder: &RunningEncoder<'_>,
    catalog: &models::Catalog,
) -> Result<(), ReloadError> {
    if manifest.encoder_sha256 != encoder.fingerprint {
        // Pooled layers, an adapter and prompt statistics change the fingerprint, and the
        // encoder takes them from the artifact it starts with: a restart serves such an
        // artifact, where retraining would not help.
        let set_at_start = manifest.encoder.as_ref().is_some_and(|s| {
            !s.extra_layers.is_empty() || s.adapter.is_some() || s.prompt_features
        });
        return Err(ReloadError::EncoderMismatch {
            path: path.to_owned(),
            artifact: manifest.encoder_sha256.clone(),
            encoder: encoder.fingerprint.to_owned(),
            fix: if set_at_start {
                "its encoder settings (extra layers, routing adapter or prompt statistics) are taken when the gateway starts, so restart `switchyard serve` with this artifact"
            } else {
                "retrain it with this encoder (`switchyard train`)"
            },
        });
    }
    if manifest.embedding_dim != encoder.dim {
        return Err(ReloadError::DimensionMismatch {
            path: path.to_owned(),
            artifact: manifest.embedding_dim,
            encoder: encoder.dim,
        });
    }
    let wanted = manifest
        .encoder_config(path)
        .map_err(|source| ReloadError::Load {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
    if wanted.max_tokens != encoder.max_tokens {
        return Err(ReloadError::TokenBudgetMismatch {
            path: path.to_owned(),
            artifact: wanted.max_tokens,
            encoder: encoder.max_tokens,
        });
    }
    let unknown: Vec<ModelId> = manifest
        .models
        .iter()
        .filter(|m| catalog.get(m).map_or(true, |e| e.spec.id != **m))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(ReloadError::UnknownModels {
            path: path.to_owned(),
            models: unknown,
        });
    }
    Ok(())
}
