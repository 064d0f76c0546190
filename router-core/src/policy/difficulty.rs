//! Prompt difficulty carried from the trained predictor to models it does not know.
//!
//! A task prior says how well a model does on a task's *typical* prompt; a sentiment label and
//! a research-level proof can both be "classification" or "reasoning" to the task classifier.
//! The trained predictor sees more: its estimates for the models it knows (the *anchors*) rise
//! and fall with the prompt. [`DifficultyLink::shift`] measures how far, in logits, the anchors'
//! estimates sit above or below their own task priors on this prompt, minus the artifact's
//! per-task level (its scale against the catalog's), times `kappa` (fitted by
//! leave-one-anchor-out on the artifact's training sources; `scripts/prompt_difficulty.py`).
//! [`apply`] moves an unknown model's prior by that shift: a one-parameter item response
//! adjustment, the same for every model, so the models' order by prior is kept and only the
//! gaps between them grow or shrink with the prompt.

use serde::{Deserialize, Serialize};

use super::decide::ModelPrior;
use crate::{ModelId, Task, TaskDistribution, TASK_COUNT};

/// Probabilities are clipped to `[EPS, 1 - EPS]` before taking logits.
const EPS: f64 = 1e-3;
/// The shift is bounded: a broken predictor must not push every prior to 0 or 1.
const MAX_SHIFT: f64 = 4.0;

/// How an artifact's view of difficulty maps onto catalog priors (stored in its manifest).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DifficultyLink {
    /// Weight of the measured shift (0 turns the link off).
    pub kappa: f64,
    /// Per task, the mean raw shift over the reference prompts: the artifact's level against
    /// the catalog's, removed so that only the prompt's own difficulty remains.
    pub offsets: std::collections::BTreeMap<Task, f64>,
}

/// A model the trained predictor knows and the catalog scores per task.
#[derive(Clone, Copy, Debug)]
pub struct Anchor {
    /// The model's catalog prior.
    pub prior: ModelPrior,
    /// The trained predictor's estimate of its quality on this prompt.
    pub trained_quality: f64,
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(EPS, 1.0 - EPS);
    (p / (1.0 - p)).ln()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl DifficultyLink {
    /// The prompt's shift in logits, or `None` when no anchor has task scores, the link is
    /// off, or any input is not a number.
    pub fn shift(&self, anchors: &[Anchor], tasks: &TaskDistribution) -> Option<f64> {
        if !(self.kappa.is_finite() && self.kappa > 0.0) {
            return None;
        }
        let mut sum = 0.0;
        let mut n = 0usize;
        for a in anchors {
            if a.prior.task_scores.is_empty() || !a.trained_quality.is_finite() {
                continue;
            }
            let prior = a.prior.task_scores.expected(tasks, a.prior.quality);
            sum += logit(a.trained_quality) - logit(prior);
            n += 1;
        }
        if n == 0 {
            return None;
        }
        let level: f64 = Task::ALL
            .into_iter()
            .map(|t| tasks.get(t) * self.offsets.get(&t).copied().unwrap_or(0.0))
            .sum();
        let shift = self.kappa * (sum / n as f64 - level);
        shift
            .is_finite()
            .then(|| shift.clamp(-MAX_SHIFT, MAX_SHIFT))
    }

    /// [`DifficultyLink::shift`] from a trained predictor's estimates: every estimated model
    /// whose prior `prior_of` finds is an anchor (one without task scores counts for nothing).
    /// The gateway, off-policy evaluation and the task-priors refit all read a prompt's
    /// difficulty through this.
    pub fn shift_from<'a>(
        &self,
        trained: impl IntoIterator<Item = (&'a ModelId, f64)>,
        prior_of: impl Fn(&ModelId) -> Option<ModelPrior>,
        tasks: &TaskDistribution,
    ) -> Option<f64> {
        let anchors: Vec<Anchor> = trained
            .into_iter()
            .filter_map(|(id, quality)| {
                Some(Anchor {
                    prior: prior_of(id)?,
                    trained_quality: quality,
                })
            })
            .collect();
        self.shift(&anchors, tasks)
    }
}

/// A prior quality moved by `shift` logits.
pub fn apply(quality: f64, shift: f64) -> f64 {
    sigmoid(logit(quality) + shift)
}

const _: () = assert!(TASK_COUNT == Task::ALL.len());

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{TaskScores, TaskTokens};

    fn prior(score: f64) -> ModelPrior {
        let mut task_scores = TaskScores::default();
        task_scores.set(Task::Classification, score).unwrap();
        ModelPrior {
            quality: score,
            output_tokens: 100.0,
            task_scores,
            task_tokens: TaskTokens::default(),
            onboarded: false,
            task_sd: TaskScores::default(),
        }
    }

    fn link(kappa: f64, offset: f64) -> DifficultyLink {
        DifficultyLink {
            kappa,
            offsets: [(Task::Classification, offset)].into(),
        }
    }

    #[test]
    fn anchors_above_their_priors_make_the_prompt_easier_for_everyone() {
        let tasks = TaskDistribution::certain(Task::Classification);
        let anchors = [
            Anchor {
                prior: prior(0.5),
                trained_quality: 0.9,
            },
            Anchor {
                prior: prior(0.6),
                trained_quality: 0.95,
            },
        ];
        let s = link(1.0, 0.0).shift(&anchors, &tasks).unwrap();
        assert!(s > 1.5, "{s}");
        let (weak, strong) = (apply(0.6, s), apply(0.8, s));
        assert!(weak > 0.9 && strong > weak, "{weak} {strong}");
        // The gap between a weak and a strong model shrinks on an easy prompt.
        assert!(strong - weak < 0.2);
    }

    #[test]
    fn the_artifact_level_is_removed_and_kappa_scales() {
        let tasks = TaskDistribution::certain(Task::Classification);
        let anchors = [Anchor {
            prior: prior(0.5),
            trained_quality: 0.731_058_6,
        }];
        // logit(0.731) = 1: an offset of 1 says that is this artifact's usual level.
        assert!(link(1.0, 1.0).shift(&anchors, &tasks).unwrap().abs() < 1e-6);
        let half = link(0.5, 0.0).shift(&anchors, &tasks).unwrap();
        assert!((half - 0.5).abs() < 1e-6, "{half}");
    }

    #[test]
    fn no_usable_anchor_or_a_zero_kappa_means_no_shift_and_bad_numbers_are_bounded() {
        let tasks = TaskDistribution::certain(Task::Classification);
        assert_eq!(link(1.0, 0.0).shift(&[], &tasks), None);
        let bare = ModelPrior {
            task_scores: TaskScores::default(),
            ..prior(0.5)
        };
        let a = [Anchor {
            prior: bare,
            trained_quality: 0.9,
        }];
        assert_eq!(link(1.0, 0.0).shift(&a, &tasks), None);
        let a = [Anchor {
            prior: prior(0.5),
            trained_quality: f64::NAN,
        }];
        assert_eq!(link(1.0, 0.0).shift(&a, &tasks), None);
        let a = [Anchor {
            prior: prior(0.001),
            trained_quality: 1.0,
        }];
        assert_eq!(link(0.0, 0.0).shift(&a, &tasks), None);
        assert_eq!(link(50.0, 0.0).shift(&a, &tasks), Some(MAX_SHIFT));
    }
}
