//! What round 0 starts from: the router (catalog priors or a saved artifact), the encoder it
//! was trained with, the classifier service and task classifier the gateway serves with, and
//! the predictor every refit fits.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use classifier::predictors::{Artifact, PredictorKind, TaskClassifier};
use router_core::QualityPredictor;
use training::learning_loop::{LoopData, TaskPriorInputs};
use training::onboarding::fit::FitConfig;

use super::LoopArgs;

/// The round-0 router and everything encoded, served and refitted the way it was trained.
pub(super) struct Start {
    /// The `--start` artifact; `None` starts from the catalog's priors.
    pub artifact: Option<Artifact>,
    /// How the report names it.
    pub name: String,
    /// The encoder's settings (token budget, extra layers) as the artifact's training used them.
    pub encoder_config: classifier::EncoderConfig,
    /// The artifact's routing adapter, when it carries one.
    pub adapter: Option<classifier::RoutingAdapter>,
    /// The encoder, with the adapter and prompt statistics applied.
    pub encoder: Arc<classifier::Encoder>,
    /// The predictor every refit fits.
    pub kind: PredictorKind,
    /// The bundled task classifier, when it matches the encoder.
    pub tasks: Option<Arc<TaskClassifier>>,
}

impl Start {
    /// Loads the `--start` router and its encoder, and settles the refits' predictor.
    pub fn load(args: &LoopArgs, catalog: &models::Catalog) -> anyhow::Result<Self> {
        let (artifact, name) = start_router(&args.start)?;
        let dir = Path::new(&args.start);
        let context = || format!("--start {}", args.start);
        // The loop encodes as the --start artifact's training did (as `serve` would), so that
        // its refits can replace it.
        let encoder_config = match &artifact {
            Some(a) => a.manifest().encoder_config(dir).with_context(context)?,
            None => args.encoder.config(classifier::ExtraLayers::NONE),
        };
        let adapter = match &artifact {
            Some(a) => a.manifest().load_adapter(dir).with_context(context)?,
            None => None,
        };
        let mut encoder = args.encoder.load_with(encoder_config)?;
        if let Some(adapter) = &adapter {
            encoder = encoder.with_adapter(adapter.clone());
        }
        if artifact
            .as_ref()
            .is_some_and(|a| a.manifest().prompt_features())
        {
            encoder = encoder.with_prompt_features();
        }
        let encoder = Arc::new(encoder);
        if let Some(a) = &artifact {
            // The same checks a hot reload makes: encoder, embedding size, token budget,
            // catalog models.
            gateway::routing::reload::check_manifest(
                a.manifest(),
                dir,
                &gateway::routing::reload::RunningEncoder::of_encoder(&encoder),
                catalog,
            )
            .with_context(context)?;
        }
        let kind = refit_kind(artifact.as_ref(), args.predictor, args.warm)?;
        // Served and evaluated with the same task classifier, as `switchyard serve` would. It
        // reads the first 384 values, the standard embedding, whatever extra layers or adapter
        // follow them: hence the plain weights' fingerprint.
        let tasks = TaskClassifier::bundled_for(
            classifier::weights::MODEL_SHA256,
            classifier::EMBEDDING_DIM,
        )
        .map(Arc::new)
        .map_err(|e| {
            tracing::warn!(error = %e, "No task classifier: unknown models route on flat priors.")
        })
        .ok();
        Ok(Start {
            artifact,
            name,
            encoder_config,
            adapter,
            encoder,
            kind,
            tasks,
        })
    }

    /// The classifier service the loop's gateway routes with: this encoder, the start router
    /// as its predictor, and the task classifier.
    pub fn service(&self) -> anyhow::Result<classifier::Service> {
        let predictor = self
            .artifact
            .clone()
            .map(|a| Arc::new(a) as Arc<dyn QualityPredictor>);
        let service = classifier::Service::start(
            self.encoder.clone(),
            predictor,
            classifier::ServiceConfig {
                max_tokens: self.encoder_config.max_tokens,
                ..classifier::ServiceConfig::default()
            },
        )?;
        service.set_task_classifier(self.tasks.clone());
        Ok(service)
    }

    /// What a `task-priors` refit moves from: the task classifier and every action model's
    /// catalog prior. `None` for the other predictors.
    pub fn task_priors(
        &self,
        data: &LoopData,
        catalog: &models::Catalog,
    ) -> anyhow::Result<Option<TaskPriorInputs>> {
        match (self.kind, &self.tasks) {
            (PredictorKind::TaskPriors, Some(tasks)) => Ok(Some(TaskPriorInputs {
                tasks: Arc::clone(tasks),
                priors: data
                    .entries
                    .iter()
                    .map(|e| (e.spec.id.clone(), e.prior()))
                    .collect(),
                fit: FitConfig::default(),
                // The start artifact's models as the gateway finds them in the catalog: the
                // anchors of its difficulty link.
                anchors: self
                    .artifact
                    .iter()
                    .flat_map(|a| a.manifest().models.iter())
                    .filter_map(|m| catalog.find(m.as_str()).map(|e| (m.clone(), e.prior())))
                    .collect(),
            })),
            (PredictorKind::TaskPriors, None) => anyhow::bail!(
                "--predictor task-priors needs the bundled task classifier, which does not match this encoder"
            ),
            _ => Ok(None),
        }
    }

    /// The encoder settings every refit's manifest records.
    pub fn encoder_settings(&self) -> classifier::predictors::EncoderSettings {
        classifier::predictors::EncoderSettings {
            adapter: self
                .adapter
                .as_ref()
                .map(classifier::RoutingAdapter::digest),
            prompt_features: self.encoder.prompt_features(),
            ..classifier::predictors::EncoderSettings::of(&self.encoder_config)
        }
    }
}

/// The round-0 router: none (catalog priors) or a saved artifact.
fn start_router(start: &str) -> anyhow::Result<(Option<Artifact>, String)> {
    if start == "priors" {
        return Ok((None, "catalog priors".to_owned()));
    }
    let artifact = Artifact::load(Path::new(start))
        .with_context(|| format!("--start {start}: loading the router artifact"))?;
    Ok((Some(artifact), format!("artifact {start}")))
}

/// The predictor every refit fits: `--predictor` (default kNN), or with `--warm` the start
/// artifact's own kind, which a different `--predictor` contradicts, except `task-priors`:
/// that keeps the start artifact and refits the priors of the models it does not know.
fn refit_kind(
    start: Option<&Artifact>,
    predictor: Option<PredictorKind>,
    warm: bool,
) -> anyhow::Result<PredictorKind> {
    Ok(match (start, predictor, warm) {
        (None, _, true) => anyhow::bail!("--warm continues from the --start artifact; pass --start DIR"),
        (Some(_), Some(PredictorKind::TaskPriors), true) => PredictorKind::TaskPriors,
        (Some(a), Some(k), true) if a.manifest().kind != k => anyhow::bail!(
            "--warm: the --start artifact is a {} predictor but --predictor is {}; drop --predictor",
            a.manifest().kind.as_str(),
            k.as_str()
        ),
        (Some(a), None, true) => a.manifest().kind,
        (_, k, _) => k.unwrap_or(PredictorKind::Knn),
    })
}
