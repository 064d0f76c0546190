//! Logged outcomes to A/B arm observations (`switchyard eval --from-log --arms`).

use evals::ab::ArmObservation;
use router_core::{DecisionReason, Outcome, OutcomeStatus};

use super::samples::{reward_label, SampleConfig};

/// The rows of one experiment, ready for [`evals::ab::compare`].
#[derive(Clone, Debug, PartialEq)]
pub struct ArmRows {
    /// The experiment read.
    pub experiment: String,
    /// One observation per request of it.
    pub observations: Vec<ArmObservation>,
    /// Rows of other experiments, left out.
    pub other_experiments: usize,
    /// Rows outside any experiment (pinned requests, cache hits, rows before it began).
    pub outside: usize,
    /// Labels outside `[0, 1]` or NaN, read as unlabelled.
    pub bad_labels: usize,
    /// The distinct λ (quality points per USD; 0 for `cheapest`) of the objectives the
    /// experiment's rows were routed under, ascending; rows that logged none add nothing.
    /// A comparison in utility must score it at the λ its arms optimised.
    pub lambdas: Vec<f64>,
}

/// The observations of `experiment` (default: the experiment of the log's newest row that
/// has one). `None` when no row names an arm.
pub fn arm_rows(
    outcomes: &[Outcome],
    experiment: Option<&str>,
    config: &SampleConfig,
) -> Option<ArmRows> {
    let experiment = match experiment {
        Some(e) => e.to_owned(),
        None => outcomes
            .iter()
            .filter_map(|o| o.arm.as_ref())
            .next_back()?
            .experiment
            .clone(),
    };
    let mut rows = ArmRows {
        experiment,
        observations: Vec::new(),
        other_experiments: 0,
        outside: 0,
        bad_labels: 0,
        lambdas: Vec::new(),
    };
    for o in outcomes {
        let Some(arm) = &o.arm else {
            rows.outside += 1;
            continue;
        };
        if arm.experiment != rows.experiment {
            rows.other_experiments += 1;
            continue;
        }
        let score = reward_label(o, config).map(|f| f.score);
        let quality = score.filter(|s| (0.0..=1.0).contains(s));
        if score.is_some() && quality.is_none() {
            rows.bad_labels += 1;
        }
        rows.observations.push(ArmObservation {
            arm: arm.arm.clone(),
            quality,
            cost_usd: o.cost_usd.filter(|c| c.is_finite()).unwrap_or(0.0),
            latency_ms: o.latency_ms,
            static_fallback: o
                .decision
                .as_ref()
                .is_some_and(|d| d.reason == DecisionReason::StaticFallback),
            failed: o.status != OutcomeStatus::Ok,
        });
        if let Some(lambda) = o.objective.map(|ob| ob.lambda()) {
            if !rows.lambdas.iter().any(|l| l.total_cmp(&lambda).is_eq()) {
                rows.lambdas.push(lambda);
            }
        }
    }
    rows.lambdas.sort_by(f64::total_cmp);
    Some(rows)
}
