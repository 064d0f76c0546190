//! `switchyard train` on benchmark outcomes, start to finish once the prompts are embedded: the
//! token states an adapter needs, the guard's nested validation, the routing adapter, the fit
//! and the provenance stamp. The CLI parses flags, loads and embeds the data, draws what an
//! [`Observer`] is told and writes the artifact; every decision in between is made here.

use classifier::predictors::{Artifact, EncoderSettings};
use classifier::RoutingAdapter;
use router_core::RoutingMode;

use super::{fit_stamped, Provenance, TrainPlan};
use crate::adapter::{AdapterConfig, AdapterReport};
use crate::experiment::{self, ExperimentData, GuardConfig, GuardReport, PredictorConfigs};
use crate::{Error, Progress};

/// The steps of a benchmark fit, in order; each one that runs reports progress under its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The encoder's last-layer token states of every prompt (only with an adapter).
    TokenStates,
    /// The guard's nested validation.
    Validating,
    /// Fitting the routing adapter on all rows.
    Adapter,
    /// Fitting the predictor (or the fixed policy) on all rows.
    Fitting,
}

/// What the caller is told while a fit runs: progress per stage, and the two decisions a user
/// must see (which router the guard kept, whether the adapter was worth keeping).
pub trait Observer {
    /// Progress within `stage`.
    fn progress(&mut self, stage: Stage, progress: &Progress);
    /// `stage` ended (successfully or not).
    fn finished(&mut self, stage: Stage);
    /// The guard's verdict, before anything is fitted on all rows.
    fn guard(&mut self, report: &GuardReport);
    /// The adapter fitted on all rows: `kept` is `None` where it did not lower the
    /// validation loss enough and the artifact uses the standard embedding.
    fn adapter(
        &mut self,
        kept: Option<&RoutingAdapter>,
        fit: &AdapterReport,
        config: &AdapterConfig,
    );
}

/// Everything a benchmark fit decides with, besides its data.
pub struct BenchmarkFit {
    /// The predictor kind and warm start (the guard may replace the kind).
    pub plan: TrainPlan,
    /// Fitting settings of every predictor.
    pub configs: PredictorConfigs,
    /// Seed of initialisation and minibatch order.
    pub seed: u64,
    /// The guard's nested validation; `None` ships the planned predictor unchecked.
    pub guard: Option<GuardConfig>,
    /// A routing adapter to fit first; `None` fits on the standard embedding.
    pub adapter: Option<AdapterConfig>,
    /// The uncertainty-aware tie-break margin; 0 leaves it off.
    pub tie_margin: f64,
    /// The encoder settings the data was embedded with (the adapter's digest is added here).
    pub encoder: EncoderSettings,
    /// The encoder's fingerprint.
    pub fingerprint: String,
    /// Where the rows came from, for the manifest's `data` record.
    pub source: serde_json::Value,
}

/// A fitted, stamped artifact with what must be written beside it.
pub struct Trained {
    /// The artifact, stamped with its provenance.
    pub artifact: Artifact,
    /// The routing adapter the artifact was fitted with, to save beside it.
    pub adapter: Option<RoutingAdapter>,
    /// The training rows, for the caller's summary.
    pub prompts: usize,
}

/// A failed fit, with the stage it failed in (so the CLI can name the flag that skips it).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct StageError {
    /// Where it failed.
    pub stage: Stage,
    /// Why (boxed: the error enum is large, and this is the cold path).
    #[source]
    pub error: Box<Error>,
}

fn at(stage: Stage) -> impl Fn(Error) -> StageError {
    move |error| StageError {
        stage,
        error: Box::new(error),
    }
}

/// Runs `job` on `data` (every row trains). `encoder` computes the token states an adapter
/// needs and is required with one.
pub fn fit_benchmarks(
    mut job: BenchmarkFit,
    mut data: ExperimentData,
    table: &datasets::OutcomeTable,
    encoder: Option<&classifier::Encoder>,
    observer: &mut dyn Observer,
) -> Result<Trained, StageError> {
    let rows: Vec<usize> = (0..data.len()).collect();
    if let Some(config) = &job.adapter {
        let encoder = encoder.ok_or_else(|| {
            at(Stage::TokenStates)(Error::Config {
                field: "adapter",
                reason: "a routing adapter needs the encoder for the prompts' token states".into(),
            })
        })?;
        let states = staged(observer, Stage::TokenStates, |progress| {
            experiment::token_states(table, encoder, Some(progress))
        })?;
        data.token_states = states;
        // The guard runs on the plain embeddings and token states: it fits an adapter inside
        // each of its folds, so no validation prompt helps fit the adapter it validates.
        if let Some(guard) = &mut job.guard {
            guard.adapter = Some(config.clone());
        }
    }
    let guard = match &job.guard {
        Some(config) => {
            let report = staged(observer, Stage::Validating, |progress| {
                experiment::guard(&data, config, &job.configs, job.seed, Some(progress))
            })?;
            observer.guard(&report);
            if let Some(kind) = report.chosen {
                job.plan.kind = kind;
            }
            Some(report)
        }
        None => None,
    };
    let mut fingerprint = job.fingerprint.clone();
    let mut adapter = None;
    let mut adapter_fit = None;
    if let Some(config) = &job.adapter {
        let (adapted, kept, fit) = staged(observer, Stage::Adapter, |progress| {
            crate::adapter::adapt(&data, &rows, config, job.seed, &mut Some(progress))
        })?;
        observer.adapter(kept.as_ref(), &fit, config);
        data = adapted;
        data.token_states = Vec::new();
        if let Some(kept) = &kept {
            fingerprint = classifier::adapted_fingerprint(&fingerprint, &kept.digest());
            job.encoder.adapter = Some(kept.digest());
            adapter_fit = Some(fit);
        }
        adapter = kept;
    }
    let set = data.training_set(&rows);
    let mut records = Vec::new();
    if let Some(g) = &guard {
        records.push(("guard", to_value(g)?));
    }
    if let Some(fit) = &adapter_fit {
        records.push(("adapter", to_value(fit)?));
    }
    let routing = guard.as_ref().map_or(RoutingMode::Learned, |g| g.routing);
    let artifact = staged(observer, Stage::Fitting, |progress| {
        fit_stamped(
            &job.plan,
            &set,
            &job.configs,
            job.seed,
            routing,
            Provenance {
                encoder_sha256: fingerprint,
                encoder: job.encoder.clone(),
                records,
                tie_margin: job.tie_margin,
            },
            job.source.clone(),
            Some(progress),
        )
    })?;
    Ok(Trained {
        artifact,
        adapter,
        prompts: set.len(),
    })
}

/// Runs one stage, routing its progress to `observer` and telling it when the stage ends.
fn staged<T>(
    observer: &mut dyn Observer,
    stage: Stage,
    work: impl FnOnce(&mut dyn FnMut(&Progress)) -> Result<T, Error>,
) -> Result<T, StageError> {
    let result = {
        let mut progress = |p: &Progress| observer.progress(stage, p);
        work(&mut progress)
    };
    observer.finished(stage);
    result.map_err(at(stage))
}

fn to_value<T: serde::Serialize>(record: &T) -> Result<serde_json::Value, StageError> {
    serde_json::to_value(record).map_err(|e| {
        at(Stage::Fitting)(Error::Experiment {
            reason: format!("recording the fit in the manifest: {e}"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use classifier::predictors::PredictorKind;

    #[derive(Default)]
    struct Seen {
        stages: Vec<Stage>,
        finished: Vec<Stage>,
        guard: Option<RoutingMode>,
    }

    impl Observer for Seen {
        fn progress(&mut self, stage: Stage, _: &Progress) {
            if self.stages.last() != Some(&stage) {
                self.stages.push(stage);
            }
        }
        fn finished(&mut self, stage: Stage) {
            self.finished.push(stage);
        }
        fn guard(&mut self, report: &GuardReport) {
            self.guard = Some(report.routing);
        }
        fn adapter(&mut self, _: Option<&RoutingAdapter>, _: &AdapterReport, _: &AdapterConfig) {}
    }

    fn job(guard: Option<GuardConfig>) -> BenchmarkFit {
        BenchmarkFit {
            plan: TrainPlan {
                kind: PredictorKind::Linear,
                weights: None,
                warm_start: None,
            },
            configs: PredictorConfigs::default(),
            seed: 0,
            guard,
            adapter: None,
            tie_margin: 0.0,
            encoder: EncoderSettings {
                max_tokens: 128,
                extra_layers: Vec::new(),
                adapter: None,
                prompt_features: false,
            },
            fingerprint: "enc".into(),
            source: serde_json::json!({ "source": "planted" }),
        }
    }

    /// The experiment tests' planted table: the strong model is right everywhere, the cheap one
    /// on one of two well-separated directions.
    fn planted(n: usize) -> (ExperimentData, datasets::OutcomeTable) {
        let (table, x) = crate::experiment::tests::table_and_embeddings(n);
        let data = ExperimentData::from_table(&table, x, &|_| None).unwrap();
        (data, table)
    }

    #[test]
    fn the_guard_runs_before_the_fit_and_its_report_is_in_the_manifest() {
        let (data, table) = planted(240);
        let guard = GuardConfig {
            candidates: vec![PredictorKind::Knn],
            // The planted clusters are tight: every prompt has a near-duplicate.
            decontaminate: None,
            ..GuardConfig::default()
        };
        let mut seen = Seen::default();
        let trained = fit_benchmarks(job(Some(guard)), data, &table, None, &mut seen).unwrap();
        assert_eq!(seen.finished, vec![Stage::Validating, Stage::Fitting]);
        assert_eq!(
            seen.guard,
            Some(RoutingMode::Learned),
            "the guard keeps knn here"
        );
        let m = trained.artifact.manifest();
        assert_eq!(
            (m.kind, m.routing),
            (PredictorKind::Knn, RoutingMode::Learned)
        );
        assert!(m.metrics.get("guard").is_some(), "{}", m.metrics);
        assert_eq!(m.metrics["data"]["source"]["source"], "planted");
        assert_eq!(m.metrics["data"]["prompts"], 240);
        assert_eq!(m.encoder_sha256, "enc");
        assert_eq!(trained.prompts, 240);
        assert!(trained.adapter.is_none());
    }

    #[test]
    fn without_a_guard_the_planned_kind_is_fitted_and_an_adapter_needs_the_encoder() {
        let (data, table) = planted(60);
        let mut seen = Seen::default();
        let trained = fit_benchmarks(job(None), data.clone(), &table, None, &mut seen).unwrap();
        assert_eq!(seen.finished, vec![Stage::Fitting]);
        assert_eq!(trained.artifact.manifest().kind, PredictorKind::Linear);
        assert_eq!(trained.artifact.manifest().routing, RoutingMode::Learned);

        let mut with_adapter = job(None);
        with_adapter.adapter = Some(AdapterConfig::default());
        let err = fit_benchmarks(with_adapter, data, &table, None, &mut Seen::default())
            .err()
            .expect("an adapter without an encoder is refused");
        assert_eq!(err.stage, Stage::TokenStates);
        assert!(err.to_string().contains("token states"), "{err}");
    }
}
