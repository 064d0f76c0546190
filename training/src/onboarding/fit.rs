//! Fitting a new model from scored probes: one ability per task, shrunk toward the catalog.
//!
//! Per task `t`, the probes' scores `y_i ∈ [0, 1]` are read as an item response model with the
//! probe's known difficulty `d_i` (a logit offset against its task, from the recorded outcomes
//! of other models on the same prompt; 0 when unknown):
//!
//! ```text
//! P(success on probe i) = σ(θ_t − d_i),   θ_t ~ N(logit(prior_t), prior_sd²)
//! ```
//!
//! `θ_t` is the maximum a posteriori estimate (Newton's method on a concave objective), and the
//! task's estimate is `σ(θ_t)`: a probe of average difficulty. With no probes it is the
//! catalog's score exactly; with many it follows the probes. Knowing each probe's difficulty
//! is what makes this better than a mean: a model that solves the hard probes is credited
//! more than one that solves only the easy ones.

use router_core::{ModelPrior, OnboardedTask, Task};
use serde::{Deserialize, Serialize};

/// How strongly the catalog's prior holds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitConfig {
    /// Standard deviation of the prior on the task's logit ability. 1.0 lets about 5–10
    /// probes move an estimate halfway from the catalog's score to what they showed: the
    /// catalog's scores are for benchmark settings, not the user's account and prompts, so
    /// the probes should win quickly.
    pub prior_sd: f64,
    /// Fewest answered probes of a task for its mean completion length to replace the
    /// catalog's.
    pub min_token_probes: u32,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            prior_sd: 1.0,
            min_token_probes: 3,
        }
    }
}

/// One answered and scored probe (or logged answer with a label).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoredProbe {
    /// The probe's task.
    pub task: Task,
    /// How much it counts: 1 for a probe of this task; `P(task | prompt)` for a logged prompt
    /// spread over the tasks it may be.
    pub weight: f64,
    /// Its score in `[0, 1]`.
    pub score: f64,
    /// Its difficulty against its task, in logits (positive: harder); 0 when unknown.
    pub difficulty: f64,
    /// Completion tokens of the answer, when the provider reported them.
    pub output_tokens: Option<u32>,
}

/// Logits are kept inside ±8 (P between 0.0003 and 0.9997): a catalog score of 0 or 1, or
/// a run of perfect probes, must not send the estimate to infinity.
const LOGIT_BOUND: f64 = 8.0;

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The MAP ability of one task: `prior` the catalog's score, `probes` that task's probes.
pub fn task_ability(prior: f64, probes: &[ScoredProbe], prior_sd: f64) -> f64 {
    task_posterior(prior, probes, prior_sd).0
}

/// The MAP ability of one task and its posterior standard deviation, both in logits: the
/// Laplace approximation `1 / sqrt(prior precision + Σ w·σ(θ − d)(1 − σ(θ − d)))` at the
/// maximum, so each probe narrows it by the information it carries about `θ` (most from
/// probes the model is as likely to fail as to pass).
pub fn task_posterior(prior: f64, probes: &[ScoredProbe], prior_sd: f64) -> (f64, f64) {
    let mu = logit(prior);
    let precision = 1.0 / (prior_sd * prior_sd).max(1e-6);
    // The log posterior: a Gaussian prior plus Bernoulli log-likelihoods (soft scores count
    // as fractional successes).
    let objective = |theta: f64| {
        let mut f = -0.5 * precision * (theta - mu).powi(2);
        for p in probes {
            let z = theta - p.difficulty;
            // log σ(z) and log(1 − σ(z)) without overflow.
            let log_s = -softplus(-z);
            let log_not = -softplus(z);
            f += p.weight * (p.score * log_s + (1.0 - p.score) * log_not);
        }
        f
    };
    let mut theta = mu;
    let mut value = objective(theta);
    // Strictly concave, so Newton's method converges from the prior mean; halving a step
    // until the objective rises keeps it from overshooting where the curvature at the start
    // is small (probes far from the prior's logit, e.g. easy prompts answered wrongly).
    for _ in 0..100 {
        let mut grad = -(theta - mu) * precision;
        let mut hess = -precision;
        for p in probes {
            let s = sigmoid(theta - p.difficulty);
            grad += p.weight * (p.score - s);
            hess -= p.weight * s * (1.0 - s);
        }
        let mut step = grad / hess;
        let mut next = (theta - step).clamp(-LOGIT_BOUND, LOGIT_BOUND);
        let mut next_value = objective(next);
        while next_value < value && step.abs() > 1e-12 {
            step *= 0.5;
            next = (theta - step).clamp(-LOGIT_BOUND, LOGIT_BOUND);
            next_value = objective(next);
        }
        let moved = (next - theta).abs();
        theta = next;
        value = next_value.max(value);
        if moved < 1e-10 {
            break;
        }
    }
    let information = precision
        + probes
            .iter()
            .map(|p| {
                let s = sigmoid(theta - p.difficulty);
                p.weight * s * (1.0 - s)
            })
            .sum::<f64>();
    (theta, 1.0 / information.sqrt())
}

fn softplus(x: f64) -> f64 {
    if x > 30.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}

/// Fits every task with at least one probe's worth of weight: the estimate, the weighted mean
/// and, with enough answers, the mean completion length. Tasks with less keep the catalog's
/// score (they are left out). Probes whose score, weight or difficulty is not a finite number
/// (or whose weight is not positive) are ignored.
pub fn fit_tasks(
    prior: &ModelPrior,
    probes: &[ScoredProbe],
    config: &FitConfig,
) -> Vec<OnboardedTask> {
    Task::ALL
        .iter()
        .filter_map(|&task| {
            let mine: Vec<ScoredProbe> = probes
                .iter()
                .filter(|p| {
                    p.task == task && p.score.is_finite() && p.weight.is_finite() && p.weight > 0.0
                })
                .map(|p| ScoredProbe {
                    score: p.score.clamp(0.0, 1.0),
                    difficulty: if p.difficulty.is_finite() {
                        p.difficulty.clamp(-LOGIT_BOUND, LOGIT_BOUND)
                    } else {
                        0.0
                    },
                    ..*p
                })
                .collect();
            let weight: f64 = mine.iter().map(|p| p.weight).sum();
            if weight < 1.0 - 1e-9 {
                return None;
            }
            let prior_score = prior.task_scores.get(task).unwrap_or(prior.quality);
            let (theta, sd_logit) = task_posterior(prior_score, &mine, config.prior_sd);
            let estimate = sigmoid(theta);
            let mean_score = mine.iter().map(|p| p.weight * p.score).sum::<f64>() / weight;
            let (token_weight, token_sum) = mine
                .iter()
                .filter_map(|p| p.output_tokens.map(|t| (p.weight, p.weight * f64::from(t))))
                .fold((0.0, 0.0), |(w, s), (pw, pt)| (w + pw, s + pt));
            let output_tokens = (token_weight >= f64::from(config.min_token_probes.max(1)) - 1e-9)
                .then(|| token_sum / token_weight);
            Some(OnboardedTask {
                task,
                // Whole probes: a logged prompt counts by its task probability.
                probes: weight.round() as u32,
                mean_score,
                prior: prior_score,
                estimate,
                // On the quality scale by the delta method: the logistic curve's slope at
                // the estimate times the ability's spread.
                sd: Some(estimate * (1.0 - estimate) * sd_logit),
                output_tokens,
            })
        })
        .collect()
}

/// A catalog prior for tests: flat quality 0.5, 100 output tokens, maths scored `math`.
#[cfg(test)]
pub(crate) fn maths_prior(math: f64) -> ModelPrior {
    let mut task_scores = router_core::TaskScores::default();
    task_scores
        .set(Task::Math, math)
        .expect("a score in [0, 1]");
    ModelPrior {
        quality: 0.5,
        output_tokens: 100.0,
        task_scores,
        task_tokens: router_core::TaskTokens::default(),
        onboarded: false,
        task_sd: router_core::TaskScores::default(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use router_core::{TaskScores, TaskTokens};

    use super::*;

    fn prior(math: f64) -> ModelPrior {
        let mut task_scores = TaskScores::default();
        task_scores.set(Task::Math, math).unwrap();
        ModelPrior {
            quality: 0.6,
            output_tokens: 200.0,
            task_scores,
            task_tokens: TaskTokens::default(),
            onboarded: false,
            task_sd: TaskScores::default(),
        }
    }

    fn probe(task: Task, score: f64, difficulty: f64) -> ScoredProbe {
        ScoredProbe {
            task,
            weight: 1.0,
            score,
            difficulty,
            output_tokens: Some(100),
        }
    }

    #[test]
    fn no_probes_keep_the_prior_and_many_follow_the_data() {
        assert!((sigmoid(task_ability(0.7, &[], 1.0)) - 0.7).abs() < 1e-9);
        let all_wrong: Vec<ScoredProbe> = (0..200).map(|_| probe(Task::Math, 0.0, 0.0)).collect();
        assert!(sigmoid(task_ability(0.9, &all_wrong, 1.0)) < 0.05);
        let mixed: Vec<ScoredProbe> = (0..400)
            .map(|i| probe(Task::Math, if i % 4 == 0 { 0.0 } else { 1.0 }, 0.0))
            .collect();
        let est = sigmoid(task_ability(0.2, &mixed, 1.0));
        assert!((est - 0.75).abs() < 0.02, "{est}");
    }

    #[test]
    fn a_few_probes_move_the_estimate_part_of_the_way() {
        let five_right: Vec<ScoredProbe> = (0..5).map(|_| probe(Task::Math, 1.0, 0.0)).collect();
        let est = sigmoid(task_ability(0.5, &five_right, 1.0));
        assert!(est > 0.7 && est < 0.95, "{est}");
        // A tighter prior holds more.
        assert!(sigmoid(task_ability(0.5, &five_right, 0.3)) < est);
    }

    #[test]
    fn half_right_on_hard_probes_is_a_higher_ability_than_half_right_on_easy_ones() {
        let half = |difficulty: f64| -> Vec<ScoredProbe> {
            (0..10)
                .map(|i| probe(Task::Math, if i < 5 { 1.0 } else { 0.0 }, difficulty))
                .collect()
        };
        let on_hard = task_ability(0.5, &half(1.5), 1.0);
        let on_easy = task_ability(0.5, &half(-1.5), 1.0);
        assert!(on_hard > 0.9 && on_easy < -0.9, "{on_hard} {on_easy}");
    }

    /// Probes far from the prior's logit (very easy ones, half of them failed) give a flat
    /// start where a full Newton step overshoots to the bound and back: the fit must still
    /// land on the posterior's maximum.
    #[test]
    fn probes_far_from_the_prior_converge_to_the_maximum() {
        let probes: Vec<ScoredProbe> = (0..40)
            .map(|i| probe(Task::Math, if i % 2 == 0 { 1.0 } else { 0.0 }, -4.0))
            .collect();
        let theta = task_ability(0.5, &probes, 1.0);
        let grad = -theta
            + probes
                .iter()
                .map(|p| p.weight * (p.score - sigmoid(theta - p.difficulty)))
                .sum::<f64>();
        assert!(grad.abs() < 1e-6, "{theta} {grad}");
        assert!(theta < -3.0 && theta > -4.0, "{theta}");
    }

    #[test]
    fn tasks_are_fitted_separately_with_tokens_and_bad_numbers_are_ignored() {
        let mut probes = vec![
            probe(Task::Math, 1.0, 0.0),
            probe(Task::Math, 1.0, f64::NAN),
            probe(Task::Math, 1.0, 0.0),
            probe(Task::Coding, 0.0, 0.0),
            probe(Task::Coding, f64::NAN, 0.0),
        ];
        probes[3].output_tokens = None;
        let fitted = fit_tasks(&prior(0.5), &probes, &FitConfig::default());
        assert_eq!(fitted.len(), 2);
        let math = &fitted[0];
        assert_eq!((math.task, math.probes, math.prior), (Task::Math, 3, 0.5));
        assert_eq!(math.mean_score, 1.0);
        assert!(math.estimate > 0.5 && math.estimate < 1.0);
        assert_eq!(math.output_tokens, Some(100.0));
        let coding = &fitted[1];
        // No catalog score for coding: the flat prior stands in.
        assert_eq!(
            (coding.task, coding.probes, coding.prior),
            (Task::Coding, 1, 0.6)
        );
        assert!(coding.estimate < 0.6);
        assert_eq!(coding.output_tokens, None);
    }

    /// The posterior spread is honest: with abilities drawn from the fit's own prior and
    /// probes of mixed difficulty answered by chance, the true ability lies within 1.96
    /// spreads of the estimate about 95 % of the time, for few probes and for many; and the
    /// spread narrows as probes accumulate.
    #[test]
    fn the_posterior_spread_covers_the_true_ability_and_narrows_with_probes() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let normal = |rng: &mut rand_chacha::ChaCha8Rng| {
            // Box–Muller: enough for a test.
            let (u, v): (f64, f64) = (rng.gen::<f64>().max(1e-12), rng.gen());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let prior_score = 0.7;
        let mut mean_sd = Vec::new();
        for n in [5usize, 30, 120] {
            let trials = 1500;
            let (mut covered, mut sd_sum) = (0, 0.0);
            for _ in 0..trials {
                let truth = logit(prior_score) + normal(&mut rng);
                let probes: Vec<ScoredProbe> = (0..n)
                    .map(|_| {
                        let difficulty = normal(&mut rng);
                        let right = rng.gen::<f64>() < sigmoid(truth - difficulty);
                        probe(Task::Math, if right { 1.0 } else { 0.0 }, difficulty)
                    })
                    .collect();
                let (theta, sd) = task_posterior(prior_score, &probes, 1.0);
                covered += usize::from((theta - truth).abs() <= 1.96 * sd);
                sd_sum += sd;
            }
            let coverage = covered as f64 / trials as f64;
            assert!((0.92..=0.975).contains(&coverage), "{n} probes: {coverage}");
            mean_sd.push(sd_sum / trials as f64);
        }
        assert!(
            mean_sd[0] > mean_sd[1] && mean_sd[1] > mean_sd[2],
            "{mean_sd:?}"
        );
        // What the routing policy gets: the spread on the quality scale.
        let probes: Vec<ScoredProbe> = (0..30)
            .map(|i| probe(Task::Math, if i % 5 == 0 { 0.0 } else { 1.0 }, 0.0))
            .collect();
        let fitted = fit_tasks(&prior(0.7), &probes, &FitConfig::default());
        let (theta, sd) = task_posterior(0.7, &probes, 1.0);
        let q = sigmoid(theta);
        assert_eq!(fitted[0].sd, Some(q * (1.0 - q) * sd));
        assert!(fitted[0].sd.unwrap() > 0.03 && fitted[0].sd.unwrap() < 0.1);
    }

    #[test]
    fn extreme_priors_and_scores_stay_finite() {
        let right: Vec<ScoredProbe> = (0..1000).map(|_| probe(Task::Math, 1.0, -8.0)).collect();
        for p in [0.0, 1.0, 0.5] {
            let t = task_ability(p, &right, 1e-9);
            assert!(t.is_finite() && t.abs() <= LOGIT_BOUND);
            let t = task_ability(p, &right, 1e9);
            assert!(t.is_finite() && t.abs() <= LOGIT_BOUND);
        }
    }
}
