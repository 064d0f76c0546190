//! The learning loop, round after round: send a round of traffic through the serving gateway,
//! refit on its log (minus every round's held-out requests), estimate the refit off-policy on
//! the round's held-out requests, check the estimate against the replayed truth, and deploy it
//! (through a deployment gate when one is set).
//!
//! The serving side is behind two seams so that this crate never depends on the gateway: the
//! traffic goes through the gateway's public HTTP API ([`LoopClient`]), and the deployment
//! through [`Deploy`], which the binary implements with the gateway's own reload.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::Path;

use classifier::predictors::{Artifact, TaskClassifier};
use evals::ope::GateEstimator;
use router_core::{BoxError, Exploration, Objective};

use super::{
    check_estimate, refit, Checked, EstimateCheck, LoopClient, LoopData, LoopReport, LoopSettings,
    MemoEmbedder, RefitConfig, RoundStats,
};
use crate::from_log::{bandit_samples, load_outcomes, RewardModel, SampleConfig};
use crate::Error;

/// Puts a router into service and makes a round's log readable: what the loop needs of the
/// serving gateway besides its HTTP API.
pub trait Deploy {
    /// Waits until every request answered so far is committed to the outcome log.
    fn flush(&self) -> impl Future<Output = Result<(), BoxError>> + Send;
    /// Swaps the router in the artifact folder `artifact` in; an error means it was refused
    /// and the previous router keeps serving.
    fn deploy(&self, artifact: &Path) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// How the loop runs (what `switchyard loop`'s flags set).
pub struct LoopConfig<'a> {
    /// The prompts to send, in order: round `r` sends `rows[r·per_round .. (r+1)·per_round]`.
    pub rows: &'a [usize],
    /// Rounds of traffic; a refit follows each.
    pub rounds: usize,
    /// Requests per round.
    pub per_round: usize,
    /// Share of each round kept out of every refit, to check the next refit's estimate on.
    pub holdout: f64,
    /// Share of the other requests whose recorded score is posted as feedback (1: all), as a
    /// judge sampling traffic would label them: the labels the refits learn from. Held-out
    /// requests are always labelled, since the off-policy check needs their outcomes, and
    /// never trained on, in their round or later ([`LoopData::label_mask`]).
    pub label_share: f64,
    /// Seeds the held-out draws (the refits' seed is in `refit`).
    pub seed: u64,
    /// The outcome log the gateway writes.
    pub db: &'a Path,
    /// Folder of the refitted routers (`router-1`, `router-2`, …).
    pub out: &'a Path,
    /// The metric the feedback is posted under.
    pub metric: &'a str,
    /// How each refit is fitted.
    pub refit: RefitConfig,
    /// Refits continue from this artifact instead of from scratch.
    pub warm_start: Option<&'a Artifact>,
    /// The objective the gateway routes with (estimates and gate use it).
    pub objective: Objective,
    /// The exploration the gateway serves with (a refit is estimated as deployed).
    pub exploration: &'a Exploration,
    /// The task classifier the gateway serves with (task priors for unknown models).
    pub tasks: Option<&'a TaskClassifier>,
    /// Deploy a refit only when this gate passes it (`None`: always deploy).
    pub gate: Option<GateEstimator>,
    /// The doubly robust estimator's reward model (estimates and a `dr` gate use it).
    pub reward_model: RewardModel<'a>,
    /// Name of the round-0 router, for the report.
    pub start_name: String,
}

/// What happened, as it happens (the binary prints these).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum LoopEvent<'a> {
    /// A round was served.
    Served(&'a RoundStats),
    /// A refit was estimated and deployed.
    Deployed {
        /// Its folder.
        artifact: &'a Path,
    },
    /// The gate held a refit back; the previous router keeps serving.
    HeldBack {
        /// The round.
        round: usize,
        /// The refit's folder.
        artifact: &'a Path,
        /// The router still serving.
        serving: &'a str,
    },
}

/// Runs the loop and returns its report. CPU-bound refits run with
/// [`tokio::task::block_in_place`]: call it on a multi-threaded runtime.
pub async fn run_loop<D: Deploy>(
    data: &LoopData,
    config: &LoopConfig<'_>,
    settings: LoopSettings,
    client: &LoopClient,
    deploy: &D,
    embedder: &MemoEmbedder<'_>,
    mut on_event: impl FnMut(LoopEvent<'_>),
) -> Result<LoopReport, Error> {
    let needed = config.rounds * config.per_round;
    if config.rows.len() < needed {
        return Err(Error::Loop {
            reason: format!(
                "{} prompts for {} rounds of {}",
                config.rows.len(),
                config.rounds,
                config.per_round
            ),
        });
    }
    let mut report = LoopReport {
        settings,
        rounds: Vec::new(),
        checks: vec![None],
    };
    let mut ids: HashMap<String, usize> = HashMap::new();
    // Every round's held-out requests: labelled for their round's check, so a later refit
    // reading the whole log would otherwise train on them, on more labels than
    // `label_share` grants and on the requests later checks' rounds are compared against.
    let mut held_ever: HashSet<String> = HashSet::new();
    let mut router_name = config.start_name.clone();
    for round in 0..config.rounds {
        let slice = &config.rows[round * config.per_round..(round + 1) * config.per_round];
        let mask = LoopData::holdout_mask(slice.len(), config.holdout, config.seed + round as u64);
        let labelled = LoopData::label_mask(
            &mask,
            config.label_share,
            (config.seed + round as u64) ^ 0x001a_be15,
        );
        let served = client
            .send_round(data, slice, &mask, &labelled, config.metric)
            .await?;
        deploy.flush().await.map_err(|e| Error::Loop {
            reason: format!("flushing the outcome log: {e}"),
        })?;
        let stats = data.round_stats(round, &router_name, &served);
        on_event(LoopEvent::Served(&stats));
        report.rounds.push(stats);
        ids.extend(served.iter().map(|s| (s.request_id.clone(), s.row)));
        let held: HashSet<String> = served
            .iter()
            .filter(|s| s.held_out)
            .map(|s| s.request_id.clone())
            .collect();
        held_ever.extend(held.iter().cloned());

        let artifact_dir = config.out.join(format!("router-{}", round + 1));
        let check = tokio::task::block_in_place(|| {
            refit_and_check(
                data,
                config,
                &HeldOut {
                    ever: &held_ever,
                    round: &held,
                },
                &ids,
                embedder,
                &artifact_dir,
            )
        })?;
        // Without a usable held-out estimate the gate has nothing to go on: keep serving.
        let deploy_it =
            config.gate.is_none() || check.as_ref().and_then(|c| c.gate).is_some_and(|g| g.pass);
        report.checks.push(check);
        if round + 1 < config.rounds {
            if deploy_it {
                deploy
                    .deploy(&artifact_dir)
                    .await
                    .map_err(|e| Error::Loop {
                        reason: format!("deploying {}: {e}", artifact_dir.display()),
                    })?;
                on_event(LoopEvent::Deployed {
                    artifact: &artifact_dir,
                });
                router_name = format!("{} refit on rounds 0–{round}", config.refit.kind.as_str());
            } else {
                on_event(LoopEvent::HeldBack {
                    round,
                    artifact: &artifact_dir,
                    serving: &router_name,
                });
            }
        }
    }
    Ok(report)
}

/// The request ids held out so far.
struct HeldOut<'a> {
    /// In any round: no refit trains on them.
    ever: &'a HashSet<String>,
    /// In the round just served: the refit is estimated on them.
    round: &'a HashSet<String>,
}

/// Refits on the log minus every held-out request, saves the artifact to `dir` and estimates
/// it on the round's held-out requests.
fn refit_and_check(
    data: &LoopData,
    config: &LoopConfig<'_>,
    held: &HeldOut<'_>,
    ids: &HashMap<String, usize>,
    embedder: &MemoEmbedder<'_>,
    dir: &Path,
) -> Result<Option<Checked>, Error> {
    let outcomes = load_outcomes(config.db)?;
    let metric = SampleConfig {
        metric: Some(config.metric.to_owned()),
    };
    let (samples, skipped) = bandit_samples(&outcomes, &metric);
    tracing::debug!(samples = samples.len(), %skipped, "Loop log read.");
    let fitted = refit(
        &samples,
        held.ever,
        &data.models,
        embedder,
        &config.refit,
        config.warm_start,
    )?;
    crate::artifact_files::save(&fitted.artifact, dir, config.refit.adapter.as_ref())?;
    let held_samples: Vec<_> = samples
        .into_iter()
        .filter(|s| held.round.contains(&s.request_id))
        .collect();
    let check = EstimateCheck {
        candidate: &fitted.artifact,
        tasks: config.tasks,
        objective: config.objective,
        exploration: config.exploration,
        clip: None,
        gate: config.gate,
        reward_model: config.reward_model,
    };
    check_estimate(data, &held_samples, ids, embedder, &check)
}
