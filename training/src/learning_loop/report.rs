//! The loop's report: per-round figures and, for every refitted router, the off-policy estimate
//! made before it was deployed next to the replayed truth. Markdown, JSON and SVG.

use std::fmt::Write as _;
use std::path::Path;

use evals::{plot_rounds_svg, Interval, RoundPoint};
use serde::{Deserialize, Serialize};

use super::{Checked, RoundStats};
use crate::Error;

/// How the loop was run, for the report's header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopSettings {
    /// The replayed data.
    pub data: String,
    /// The models routed between.
    pub models: Vec<String>,
    /// Requests per round.
    pub per_round: usize,
    /// Share of each round's requests held out of the next refit.
    pub holdout: f64,
    /// Share of the other requests that got feedback (1: all; held-out ones always do).
    #[serde(default = "all_labelled")]
    pub label_share: f64,
    /// The gateway's exploration, as configured.
    pub exploration: String,
    /// The predictor refitted each round.
    pub predictor: String,
    /// The router of round 0.
    pub start: String,
    /// Seed of the prompt order, exploration and fitting.
    pub seed: u64,
    /// The deployment gate (`off`, or the estimator it trusts).
    pub gate: String,
    /// The doubly robust estimator's reward model (`cross-fit` or `candidate`).
    #[serde(default = "candidate_reward_model")]
    pub reward_model: String,
    /// Quality points per USD of the routing objective (utility = quality − λ·cost).
    pub lambda: f64,
}

fn all_labelled() -> f64 {
    1.0
}

/// Reports written before the reward model was a choice used the candidate's.
fn candidate_reward_model() -> String {
    "candidate".to_owned()
}

/// Everything the loop measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopReport {
    /// How it was run.
    pub settings: LoopSettings,
    /// One entry per round.
    pub rounds: Vec<RoundStats>,
    /// `checks[r]`: the estimate of round `r`'s router, made on round `r − 1`'s held-out
    /// requests before it was deployed (`None` for round 0 and when nothing was held out),
    /// with its replayed truth. One more entry than rounds when the last refit was checked.
    pub checks: Vec<Option<Checked>>,
}

impl LoopReport {
    /// The report as pretty JSON.
    pub fn to_json(&self) -> Result<String, Error> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Experiment {
            reason: format!("serialising the loop report: {e}"),
        })
    }

    /// The per-round points the plot draws.
    pub fn points(&self) -> Vec<RoundPoint> {
        self.rounds
            .iter()
            .map(|r| {
                let check = self.checks.get(r.round).and_then(Option::as_ref);
                RoundPoint {
                    round: r.round,
                    quality: r.quality,
                    oracle: r.oracle,
                    best_single: r.best_single,
                    cost: r.cost,
                    oracle_cost: r.oracle_cost,
                    estimate: check.map(|c| Interval {
                        value: c.report.reward.dr.value,
                        low: c.report.reward.dr.ci_low,
                        high: c.report.reward.dr.ci_high,
                    }),
                    truth: check.map(|c| c.truth_quality),
                }
            })
            .collect()
    }

    /// Writes the three-panel SVG plot.
    pub fn plot_svg(&self, path: &Path) -> Result<(), Error> {
        let title = format!(
            "Learning loop on {} ({} requests per round, {})",
            self.settings.data, self.settings.per_round, self.settings.exploration
        );
        Ok(plot_rounds_svg(&self.points(), &title, path)?)
    }

    /// The per-round table and the estimate-versus-truth table, in markdown.
    pub fn to_markdown(&self) -> String {
        let s = &self.settings;
        let mut md = String::new();
        let _ = writeln!(
            md,
            "Learning loop on `{}`: {} models ({}), {} requests per round, exploration {}, \
             {} refitted each round on the log minus {:.0} % of the last round held out, \
             {:.0} % of the rest labelled; \
             round 0 routed by {}; deployment gate {} (DR's reward model: {}); seed {}. Utility = quality − λ·cost \
             with λ = {} quality points per USD, the objective the router maximises.\n",
            s.data,
            s.models.len(),
            s.models.join(", "),
            s.per_round,
            s.exploration,
            s.predictor,
            s.holdout * 100.0,
            s.label_share * 100.0,
            s.start,
            s.gate,
            s.reward_model,
            s.seed,
            s.lambda
        );
        md.push_str(
            "| round | router | requests | quality | oracle | best single | regret | \
             cost USD/req | oracle cost | utility | shares | DR estimate before deploying | \
             replayed truth |\n\
             |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|\n",
        );
        for r in &self.rounds {
            // Models that served nothing are left out: with many models the cell gets long.
            let shares: Vec<String> = r
                .shares
                .iter()
                .filter(|(_, v)| **v > 0.0)
                .map(|(m, v)| format!("{} {:.0}%", short(m), v * 100.0))
                .collect();
            let check = self.checks.get(r.round).and_then(Option::as_ref);
            let (estimate, truth) = check.map_or(("–".to_owned(), "–".to_owned()), |c| {
                let dr = &c.report.reward.dr;
                (
                    format!("{:.3} [{:.3}, {:.3}]", dr.value, dr.ci_low, dr.ci_high),
                    format!("{:.3}", c.truth_quality),
                )
            });
            let _ = writeln!(
                md,
                "| {} | {} | {}{} | {:.3} | {:.3} | {:.3} | {:.3} | {:.6} | {:.6} | {:.3} | {} | {} | {} |",
                r.round,
                r.router,
                r.requests,
                if r.failed > 0 {
                    format!(" ({} failed)", r.failed)
                } else {
                    String::new()
                },
                r.quality,
                r.oracle,
                r.best_single,
                r.regret,
                r.cost,
                r.oracle_cost,
                r.quality - s.lambda * r.cost,
                shares.join(", "),
                estimate,
                truth
            );
        }
        md.push_str(
            "\nEach refitted router estimated off-policy on the previous round's held-out \
             requests before deployment, against its replayed truth on the same prompts:\n\n\
             | router of round | held-out n | effective n | truth | IPS [95 %] | SNIPS [95 %] | \
             DR [95 %] | covered (IPS/SNIPS/DR) | DR, candidate / cross-fit reward model [95 %] | \
             cost truth | cost DR [95 %] | utility truth vs logged | gate |\n\
             |---:|---:|---:|---:|---|---|---|---|---|---:|---|---|---|\n",
        );
        let iv = |e: &evals::ope::Estimate| {
            format!("{:.3} [{:.3}, {:.3}]", e.value, e.ci_low, e.ci_high)
        };
        let yes = |b: bool| if b { "yes" } else { "no" };
        for (round, check) in self.checks.iter().enumerate() {
            let Some(c) = check else { continue };
            let (ips, snips, dr) = c.covered();
            let cost_dr = &c.report.cost.dr;
            let _ = writeln!(
                md,
                "| {round} | {} | {:.0} | {:.3} | {} | {} | {} | {}/{}/{} | {} | {:.6} | {:.6} [{:.6}, {:.6}] | {:.3} vs {:.3} | {} |",
                c.n,
                c.report.reward.ips.effective_sample_size,
                c.truth_quality,
                iv(&c.report.reward.ips),
                iv(&c.report.reward.snips),
                iv(&c.report.reward.dr),
                yes(ips),
                yes(snips),
                yes(dr),
                by_reward_model(c),
                c.truth_cost,
                cost_dr.value,
                cost_dr.ci_low,
                cost_dr.ci_high,
                c.truth_quality - s.lambda * c.truth_cost,
                c.report.logged_reward.value - s.lambda * c.report.logged_cost.value,
                c.gate.map_or("–".to_owned(), |g| format!(
                    "{} (utility {:.3} [{:.3}, {:.3}] vs {:.3}, effective n {:.0}, support {:.0} %)",
                    if g.pass { "pass" } else { "held back" },
                    g.candidate.value,
                    g.candidate.ci_low,
                    g.candidate.ci_high,
                    g.logged.value,
                    g.candidate.effective_sample_size,
                    100.0 * g.support
                ))
            );
        }
        md
    }
}

/// Each reward model's DR interval and whether it covers the truth.
fn by_reward_model(c: &Checked) -> String {
    let cells: Vec<String> = c
        .dr_by_reward_model
        .iter()
        .map(|(name, e)| {
            let covered = c.dr_covered_with(name).unwrap_or(false);
            format!(
                "{name} {:.3} [{:.3}, {:.3}] {}",
                e.value,
                e.ci_low,
                e.ci_high,
                if covered { "✓" } else { "✗" }
            )
        })
        .collect();
    if cells.is_empty() {
        "–".to_owned()
    } else {
        cells.join(" / ")
    }
}

/// A model id without its organisation prefix, for narrow table cells.
fn short(model: &str) -> &str {
    model.rsplit('/').next().unwrap_or(model)
}
