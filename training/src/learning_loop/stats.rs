//! The loop's data: which models compete, which prompts are sent, and what each round's served
//! answers were worth against the recorded answers of every model.

use std::collections::BTreeMap;

use models::CatalogEntry;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use router_core::ModelId;
use serde::{Deserialize, Serialize};

use crate::replay::ReplayIndex;
use crate::Error;

/// The action models, their catalog entries and the recorded outcomes.
pub struct LoopData {
    /// The replayed table, indexed.
    pub index: ReplayIndex,
    /// The models the router chooses between (catalog ids, table columns).
    pub models: Vec<ModelId>,
    /// Their catalog entries (specs and priors), in the same order.
    pub entries: Vec<CatalogEntry>,
}

/// One request the loop sent and what the gateway answered.
#[derive(Clone, Debug, PartialEq)]
pub struct Served {
    /// The table row of the prompt.
    pub row: usize,
    /// The gateway's request id.
    pub request_id: String,
    /// The model that answered; `None` when the request failed.
    pub model: Option<ModelId>,
    /// The cost the gateway reported (USD).
    pub cost_usd: f64,
    /// Kept out of the refit, to check the off-policy estimate on.
    pub held_out: bool,
}

/// What one round measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundStats {
    /// Round number, from 0.
    pub round: usize,
    /// Which router served the round.
    pub router: String,
    /// Requests sent.
    pub requests: usize,
    /// Requests that got no answer.
    pub failed: usize,
    /// Mean recorded score of the served answers (failures count 0).
    pub quality: f64,
    /// Mean of the best recorded score per prompt over the action models.
    pub oracle: f64,
    /// Mean score of the best single model on these prompts.
    pub best_single: f64,
    /// That model.
    pub best_single_model: String,
    /// `oracle − quality`.
    pub regret: f64,
    /// Mean cost per request (USD), as the gateway priced it.
    pub cost: f64,
    /// Mean cost per request of the oracle (the cheapest model reaching the best score).
    pub oracle_cost: f64,
    /// Share of requests each model served.
    pub shares: BTreeMap<String, f64>,
    /// Requests held out of the next refit.
    pub held_out: usize,
}

impl LoopData {
    /// Indexes the table for `entries`; every model must be a column of the table.
    pub fn new(index: ReplayIndex, entries: Vec<CatalogEntry>) -> Result<Self, Error> {
        if entries.len() < 2 {
            return Err(Error::Experiment {
                reason: format!(
                    "the loop needs at least two models to route between, got {}",
                    entries.len()
                ),
            });
        }
        for e in &entries {
            if index.model_column(e.spec.id.as_str()).is_none() {
                return Err(Error::Experiment {
                    reason: format!(
                        "model `{}` has no column in {}; its columns are {:?}",
                        e.spec.id,
                        index.table().source,
                        index.table().models
                    ),
                });
            }
        }
        Ok(Self {
            index,
            models: entries.iter().map(|e| e.spec.id.clone()).collect(),
            entries,
        })
    }

    /// Up to `limit` rows on which every action model has a recorded outcome, in a seeded
    /// random order (the oracle and the replayed truth need every model's score). With
    /// `test_only`, only rows of the dataset's own test split: a router trained on its train
    /// split can then start the loop without having seen its prompts.
    pub fn prompts(&self, seed: u64, limit: usize, test_only: bool) -> Vec<usize> {
        let table = self.index.table();
        let mut rows: Vec<usize> = (0..table.rows.len())
            .filter(|&r| !test_only || table.rows[r].split == Some(datasets::Split::Test))
            .filter(|&r| (0..self.models.len()).all(|a| self.score(r, a).is_some()))
            .collect();
        rows.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        rows.truncate(limit);
        rows
    }

    /// Which of `n` requests to hold out: `round(n × fraction)` of them, drawn at random with
    /// `seed` (deterministic).
    pub fn holdout_mask(n: usize, fraction: f64, seed: u64) -> Vec<bool> {
        let k = ((n as f64 * fraction.clamp(0.0, 1.0)).round() as usize).min(n);
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let mut mask = vec![false; n];
        for &i in &order[..k] {
            mask[i] = true;
        }
        mask
    }

    /// Which of a round's requests get feedback, given which are held out (`held_out`): every
    /// held-out request (the off-policy check of the next refit needs its outcome, and no
    /// refit ever trains on it), and a seeded sample of [`LoopData::trainable_labels`] of the
    /// others, the share `share` of the requests a refit may learn from. Drawing the sample
    /// among all requests instead would let it fall on held-out ones, so the refits would
    /// learn from fewer labels than `share` says, none at all in a small round.
    pub fn label_mask(held_out: &[bool], share: f64, seed: u64) -> Vec<bool> {
        let others: Vec<usize> = (0..held_out.len()).filter(|&i| !held_out[i]).collect();
        let sampled = Self::holdout_mask(others.len(), share, seed);
        let mut labelled = held_out.to_vec();
        for (&i, s) in others.iter().zip(sampled) {
            labelled[i] |= s;
        }
        labelled
    }

    /// How many of `n` requests [`LoopData::label_mask`] labels outside the `round(n ×
    /// holdout)` held out: the labels a round adds to the refits' training set (fewer only
    /// when some of those requests fail).
    pub fn trainable_labels(n: usize, holdout: f64, share: f64) -> usize {
        let count = |n: usize, f: f64| ((n as f64 * f.clamp(0.0, 1.0)).round() as usize).min(n);
        count(n - count(n, holdout), share)
    }

    /// The recorded score of action `a` on `row`.
    pub fn score(&self, row: usize, a: usize) -> Option<f64> {
        self.index
            .recorded(self.models[a].as_str(), row)
            .ok()
            .map(|r| r.score)
    }

    /// What action `a` costs on `row` as the gateway prices it: catalog prices × the usage the
    /// replay server reports.
    pub fn cost(&self, row: usize, a: usize) -> Option<f64> {
        self.index
            .recorded(self.models[a].as_str(), row)
            .ok()
            .map(|r| {
                self.entries[a]
                    .spec
                    .cost_usd(f64::from(r.prompt_tokens), f64::from(r.completion_tokens))
            })
    }

    /// The action index of `model`.
    pub fn action(&self, model: &ModelId) -> Option<usize> {
        self.models.iter().position(|m| m == model)
    }

    /// Scores a round's served requests against every model's recorded outcome.
    pub fn round_stats(&self, round: usize, router: &str, served: &[Served]) -> RoundStats {
        let n = served.len().max(1) as f64;
        let k = self.models.len();
        let mut quality = 0.0;
        let mut oracle = 0.0;
        let mut oracle_cost = 0.0;
        let mut cost = 0.0;
        let mut per_model = vec![0.0; k];
        let mut counts = vec![0usize; k];
        let mut failed = 0;
        for s in served {
            let scores: Vec<f64> = (0..k)
                .map(|a| self.score(s.row, a).unwrap_or(0.0))
                .collect();
            let best = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            oracle += best;
            oracle_cost += (0..k)
                .filter(|&a| scores[a] >= best)
                .filter_map(|a| self.cost(s.row, a))
                .fold(f64::INFINITY, f64::min);
            for (total, score) in per_model.iter_mut().zip(&scores) {
                *total += score;
            }
            match s.model.as_ref().and_then(|m| self.action(m)) {
                Some(a) => {
                    quality += scores[a];
                    counts[a] += 1;
                }
                None => failed += 1,
            }
            cost += s.cost_usd;
        }
        let (best_a, best_total) =
            per_model
                .iter()
                .copied()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |b, (a, t)| if t > b.1 { (a, t) } else { b },
                );
        RoundStats {
            round,
            router: router.to_owned(),
            requests: served.len(),
            failed,
            quality: quality / n,
            oracle: oracle / n,
            best_single: best_total.max(0.0) / n,
            best_single_model: self.models[best_a].to_string(),
            regret: (oracle - quality) / n,
            cost: cost / n,
            oracle_cost: oracle_cost / n,
            shares: self
                .models
                .iter()
                .zip(&counts)
                .map(|(m, &c)| (m.to_string(), c as f64 / n))
                .collect(),
            held_out: served.iter().filter(|s| s.held_out).count(),
        }
    }
}
