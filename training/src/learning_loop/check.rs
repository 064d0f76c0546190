//! Off-policy estimates of a candidate router on held-out logged requests, checked against the
//! replayed truth: the benchmark recorded every model's answer, so the candidate's exact value
//! on those prompts is known.

use std::collections::HashMap;

use evals::ope::{evaluate_policy, gate, Estimate, Gate, GateEstimator, OpeConfig, OpeReport};
use router_core::{Constraints, Embedder, Exploration, Objective, QualityPredictor};
use serde::{Deserialize, Serialize};

use super::LoopData;
use crate::from_log::{ope_steps, BanditSample, CrossFit, OpeSetup, RewardModel};
use crate::Error;

/// The candidate and how it would be deployed.
#[derive(Clone, Copy)]
pub struct EstimateCheck<'a> {
    /// The refitted router.
    pub candidate: &'a dyn QualityPredictor,
    /// The task classifier it is deployed with (task priors for models it does not know).
    pub tasks: Option<&'a classifier::predictors::TaskClassifier>,
    /// The objective for rows that logged none.
    pub objective: Objective,
    /// The exploration it will be deployed with: the estimate is of the policy as deployed,
    /// so that the next round's realised quality is a second, independent check.
    pub exploration: &'a Exploration,
    /// Importance-weight clipping (`None`: unclipped, unbiased).
    pub clip: Option<f64>,
    /// Also judge the candidate with a deployment gate on utility (`quality − λ·cost`, λ from
    /// `objective`; 0 for `Cheapest`) with this estimator.
    pub gate: Option<GateEstimator>,
    /// The doubly robust estimator's reward model in `report` and the gate.
    pub reward_model: RewardModel<'a>,
}

/// The estimates and the truth they estimate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checked {
    /// Held-out requests the estimate used.
    pub n: usize,
    /// IPS, SNIPS and DR estimates of quality and cost, and the logging policy's means.
    pub report: OpeReport,
    /// The candidate's exact expected quality on these prompts: `mean Σ_a π(a|x) score(x, a)`.
    pub truth_quality: f64,
    /// The candidate's exact expected cost on these prompts (USD per request).
    pub truth_cost: f64,
    /// The deployment gate's verdict, when one was asked for.
    pub gate: Option<Gate>,
    /// The doubly robust quality estimate under each reward model (`candidate`, `cross-fit`),
    /// whichever `report` used, so that their coverage can be compared on the same refits.
    #[serde(default)]
    pub dr_by_reward_model: Vec<(String, Estimate)>,
}

impl Checked {
    /// Whether each quality estimator's 95 % interval covers the truth: (IPS, SNIPS, DR).
    pub fn covered(&self) -> (bool, bool, bool) {
        let c = |e: &Estimate| e.ci_low <= self.truth_quality && self.truth_quality <= e.ci_high;
        let r = &self.report.reward;
        (c(&r.ips), c(&r.snips), c(&r.dr))
    }

    /// Whether the doubly robust interval under reward model `name` covers the truth (`None`:
    /// not computed).
    pub fn dr_covered_with(&self, name: &str) -> Option<bool> {
        self.dr_by_reward_model
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.ci_low <= self.truth_quality && self.truth_quality <= e.ci_high)
    }
}

/// Estimates `check.candidate` on `held_out` (bandit samples of requests kept out of its
/// fit) and computes the replayed truth; `rows` maps request ids to table rows. `None` when no
/// held-out request is usable (all failed over, or none held out).
pub fn check_estimate(
    data: &LoopData,
    held_out: &[BanditSample],
    rows: &HashMap<String, usize>,
    embedder: &dyn Embedder,
    check: &EstimateCheck<'_>,
) -> Result<Option<Checked>, Error> {
    // The loop's gateway serves the embedded catalog.
    let catalog = models::Catalog::embedded().ok();
    let setup = OpeSetup {
        catalog: &data.entries,
        candidate: check.candidate,
        tasks: check.tasks,
        reward_model: check.reward_model,
        // Every row the gateway writes carries the constraints it applied.
        constraints: &Constraints::default(),
        objective: check.objective,
        exploration: check.exploration,
        anchor_catalog: catalog.as_ref(),
    };
    let log = ope_steps(held_out, embedder, &setup)?;
    if log.steps.is_empty() {
        return Ok(None);
    }
    let mut truth_quality = 0.0;
    let mut truth_cost = 0.0;
    for (step, id) in log.steps.iter().zip(&log.request_ids) {
        let row = *rows.get(id).ok_or_else(|| Error::Experiment {
            reason: format!("logged request {id} was not sent by this loop"),
        })?;
        for (a, p) in step.target_probs.iter().enumerate() {
            if *p > 0.0 {
                truth_quality += p * data.score(row, a).unwrap_or(0.0);
                truth_cost += p * data.cost(row, a).unwrap_or(0.0);
            }
        }
    }
    let n = log.steps.len();
    let config = OpeConfig {
        clip: check.clip,
        ..Default::default()
    };
    let report = evaluate_policy(&log.steps, &config)?;
    // The same steps under both reward models (the prompts are embedded once: the loop's
    // embedder memoises); only the DR column differs between them.
    let mut dr_by_reward_model = Vec::new();
    for other in [
        RewardModel::Candidate,
        RewardModel::CrossFitted(CrossFit::default()),
    ] {
        let dr = if other.name() == check.reward_model.name() {
            report.reward.dr
        } else {
            let alt = ope_steps(
                held_out,
                embedder,
                &OpeSetup {
                    reward_model: other,
                    ..setup
                },
            )?;
            evaluate_policy(&alt.steps, &config)?.reward.dr
        };
        dr_by_reward_model.push((other.name().to_owned(), dr));
    }
    let lambda = check.objective.lambda();
    let gate = match check.gate {
        Some(estimator) => Some(gate(
            &log.steps,
            lambda,
            estimator,
            evals::ope::GateLimits::default(),
            &config,
        )?),
        None => None,
    };
    Ok(Some(Checked {
        n,
        report,
        truth_quality: truth_quality / n as f64,
        truth_cost: truth_cost / n as f64,
        gate,
        dr_by_reward_model,
    }))
}
