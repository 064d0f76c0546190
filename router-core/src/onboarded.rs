//! Models fitted from live probes (`switchyard onboard --live`): per-task estimates measured on
//! the user's own provider accounts, carried in a router artifact's manifest.
//!
//! A model the artifact's predictor was not trained on routes on its catalog prior (per-task
//! scores from public benchmark results). Onboarding sends it a probe set with reference
//! answers, and the fitted [`OnboardedModel`] replaces those catalog scores (and, where
//! measured, the per-task completion lengths) with estimates shrunk from the catalog prior
//! toward what the probes showed. The policy then treats it like a prior, shifted by the
//! prompt's difficulty, but its candidates say `onboarded` ([`crate::EstimateSource`]).

use serde::{Deserialize, Serialize};

use crate::policy::ModelPrior;
use crate::{LatencyPrior, ModelId, Task, TaskScores, TaskTokens};

/// What onboarding measured for one task of one model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnboardedTask {
    /// The task.
    pub task: Task,
    /// Probes of this task that were answered and scored.
    pub probes: u32,
    /// Their mean score in `[0, 1]` (a reference check or the judge).
    pub mean_score: f64,
    /// The catalog's score for this task before onboarding (or its flat prior).
    pub prior: f64,
    /// The fitted estimate in `[0, 1]`: what routing uses.
    pub estimate: f64,
    /// The estimate's posterior standard deviation, in quality points (the fit's Laplace
    /// approximation: it narrows as probes accumulate). Thompson sampling explores the model
    /// by it; absent in fits written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sd: Option<f64>,
    /// Mean completion tokens of the answered probes (reasoning included), when at least a
    /// few were measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<f64>,
}

/// One model fitted from live probes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnboardedModel {
    /// The catalog id.
    pub model: ModelId,
    /// When it was fitted (RFC 3339, UTC).
    pub onboarded_at: String,
    /// SHA-256 of the probe file the answers came from.
    pub probe_set_sha256: String,
    /// Requests sent, answered or not.
    pub requests: u32,
    /// Requests that failed (no answer, no score).
    pub errors: u32,
    /// What the probes (and their judging) cost, in USD.
    pub cost_usd: f64,
    /// Per-task measurements and estimates; tasks without probes keep the catalog's score.
    pub tasks: Vec<OnboardedTask>,
    /// Latency measured on the probes (fixed cost per call and decoding speed, on the user's
    /// own account), when enough answers were timed; the policy uses it instead of the
    /// catalog's latency prior.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyPrior>,
}

/// Why an onboarded entry cannot be used.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("onboarded model `{model}`: {problem}")]
pub struct InvalidOnboarded {
    /// The model.
    pub model: ModelId,
    /// What is wrong.
    pub problem: String,
}

impl OnboardedModel {
    /// The prior the policy uses for this model: the catalog's `catalog` with every probed
    /// task's score replaced by its estimate (and its completion length by the measured one),
    /// the flat quality recomputed as the mean over tasks, and `onboarded` set.
    pub fn prior(&self, catalog: &ModelPrior) -> ModelPrior {
        let mut task_scores: TaskScores = catalog.task_scores;
        let mut task_tokens: TaskTokens = catalog.task_tokens;
        let mut task_sd = TaskScores::default();
        for t in &self.tasks {
            // Validated on load; a bad value here keeps the catalog's figure.
            let _ = task_scores.set(t.task, t.estimate);
            if let Some(sd) = t.sd {
                let _ = task_sd.set(t.task, sd);
            }
            if let Some(tokens) = t.output_tokens {
                let _ = task_tokens.set(t.task, tokens);
            }
        }
        let quality = if self.tasks.is_empty() {
            catalog.quality
        } else {
            let sum: f64 = Task::ALL
                .iter()
                .map(|&t| task_scores.get(t).unwrap_or(catalog.quality))
                .sum();
            sum / Task::ALL.len() as f64
        };
        ModelPrior {
            quality,
            output_tokens: catalog.output_tokens,
            task_scores,
            task_tokens,
            onboarded: true,
            task_sd,
        }
    }

    /// Checks that every number is usable: estimates and scores in `[0, 1]`, token counts
    /// finite and non-negative, each task at most once.
    pub fn validate(&self) -> Result<(), InvalidOnboarded> {
        let bad = |problem: String| InvalidOnboarded {
            model: self.model.clone(),
            problem,
        };
        let mut seen = Vec::new();
        for t in &self.tasks {
            if seen.contains(&t.task) {
                return Err(bad(format!("task `{}` appears twice", t.task.as_str())));
            }
            seen.push(t.task);
            for (name, v) in [
                ("estimate", t.estimate),
                ("mean_score", t.mean_score),
                ("prior", t.prior),
                ("sd", t.sd.unwrap_or(0.0)),
            ] {
                if !(0.0..=1.0).contains(&v) {
                    return Err(bad(format!(
                        "task `{}`: {name} {v} is outside [0, 1]",
                        t.task.as_str()
                    )));
                }
            }
            if let Some(tokens) = t.output_tokens {
                if !tokens.is_finite() || tokens < 0.0 {
                    return Err(bad(format!(
                        "task `{}`: output_tokens {tokens} is not a finite number >= 0",
                        t.task.as_str()
                    )));
                }
            }
        }
        if !self.cost_usd.is_finite() || self.cost_usd < 0.0 {
            return Err(bad(format!("cost_usd {} is not >= 0", self.cost_usd)));
        }
        if let Some(l) = self.latency {
            if !l.ttft_ms.is_finite() || l.ttft_ms < 0.0 {
                return Err(bad(format!("latency.ttft_ms {} is not >= 0", l.ttft_ms)));
            }
            if !l.tokens_per_s.is_finite() || l.tokens_per_s <= 0.0 {
                return Err(bad(format!(
                    "latency.tokens_per_s {} is not > 0",
                    l.tokens_per_s
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn catalog_prior() -> ModelPrior {
        let mut task_scores = TaskScores::default();
        task_scores.set(Task::Math, 0.8).unwrap();
        task_scores.set(Task::Coding, 0.6).unwrap();
        let mut task_tokens = TaskTokens::default();
        task_tokens.set(Task::Coding, 900.0).unwrap();
        ModelPrior {
            quality: 0.7,
            output_tokens: 300.0,
            task_scores,
            task_tokens,
            onboarded: false,
            task_sd: TaskScores::default(),
        }
    }

    fn task(task: Task, estimate: f64, tokens: Option<f64>) -> OnboardedTask {
        OnboardedTask {
            task,
            probes: 20,
            mean_score: estimate,
            prior: 0.5,
            estimate,
            sd: None,
            output_tokens: tokens,
        }
    }

    fn model(tasks: Vec<OnboardedTask>) -> OnboardedModel {
        OnboardedModel {
            model: ModelId::new("m"),
            onboarded_at: "2026-12-03T00:00:00Z".into(),
            probe_set_sha256: "ab".into(),
            requests: 40,
            errors: 0,
            cost_usd: 0.01,
            tasks,
            latency: None,
        }
    }

    #[test]
    fn probed_tasks_replace_the_catalog_and_the_rest_keep_it() {
        let m = model(vec![
            task(Task::Math, 0.95, Some(120.0)),
            task(Task::Writing, 0.4, None),
        ]);
        let p = m.prior(&catalog_prior());
        assert!(p.onboarded);
        assert_eq!(p.task_scores.get(Task::Math), Some(0.95));
        assert_eq!(p.task_scores.get(Task::Writing), Some(0.4));
        assert_eq!(p.task_scores.get(Task::Coding), Some(0.6));
        assert_eq!(p.task_tokens.get(Task::Math), Some(120.0));
        assert_eq!(p.task_tokens.get(Task::Coding), Some(900.0));
        // Mean over the seven tasks, missing ones at the catalog's flat 0.7.
        let expected = (0.95 + 0.4 + 0.6 + 4.0 * 0.7) / 7.0;
        assert!((p.quality - expected).abs() < 1e-12);
        assert_eq!(p.output_tokens, 300.0);
    }

    #[test]
    fn bad_numbers_and_repeated_tasks_are_refused() {
        assert!(model(vec![task(Task::Math, 0.5, None)]).validate().is_ok());
        let err = model(vec![task(Task::Math, 1.5, None)])
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("estimate 1.5"), "{err}");
        let err = model(vec![task(Task::Math, f64::NAN, None)])
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        let err = model(vec![task(Task::Math, 0.5, Some(-1.0))])
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("output_tokens"), "{err}");
        let err = model(vec![
            task(Task::Math, 0.5, None),
            task(Task::Math, 0.6, None),
        ])
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
        for (ttft_ms, tokens_per_s, field) in [
            (-1.0, 50.0, "ttft_ms"),
            (f64::INFINITY, 50.0, "ttft_ms"),
            (100.0, 0.0, "tokens_per_s"),
            (100.0, f64::NAN, "tokens_per_s"),
        ] {
            let mut m = model(vec![task(Task::Math, 0.5, None)]);
            m.latency = Some(LatencyPrior {
                ttft_ms,
                tokens_per_s,
            });
            let err = m.validate().unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        }
    }
}
