//! Logged outcomes to bandit samples, and bandit samples to a masked training set.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use classifier::predictors::TrainingSet;
use router_core::{
    Constraints, DecisionReason, Embedder, Feedback, FeedbackSource, ModelId, Objective, Outcome,
    OutcomeStatus, PromptRecord,
};

use super::FromLogError;

/// Which outcomes become samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SampleConfig {
    /// The feedback metric used as the reward. `None`: each row's first feedback metric (use
    /// this only when a deployment posts a single metric), a human label's before a judge's.
    /// The latest score of the metric wins when it was posted more than once, and a human
    /// label (`/v1/feedback`) always wins over the gateway judge's.
    pub metric: Option<String>,
}

/// One served, labelled request.
#[derive(Clone, Debug, PartialEq)]
pub struct BanditSample {
    /// The gateway's request id.
    pub request_id: String,
    /// The prompt text as the encoder saw it.
    pub text: String,
    /// The model whose answer was labelled (the one that served the request).
    pub model: ModelId,
    /// The feedback score in `[0, 1]`.
    pub reward: f64,
    /// Probability with which the router picked its first choice ([`BanditSample::chosen`]);
    /// 1 for requests that named a model themselves or that a rule pinned.
    pub propensity: f64,
    /// The router's first choice; `None` when the routing policy did not decide the request:
    /// the client named the model, or a `[[rules]]` pin sent it to a fixed one
    /// ([`decided_by_router`]).
    pub chosen: Option<ModelId>,
    /// Prompt tokens, when logged.
    pub input_tokens: Option<u32>,
    /// The prompt-token estimate the router priced its candidates with, when the decision
    /// logged it ([`router_core::RouteDecision::input_tokens`]).
    pub routed_input_tokens: Option<u32>,
    /// Completion tokens, when logged.
    pub output_tokens: Option<u32>,
    /// Realised cost in USD, when logged.
    pub cost_usd: Option<f64>,
    /// The constraints the router applied, when logged.
    pub constraints: Option<Constraints>,
    /// The objective the router applied, when logged.
    pub objective: Option<Objective>,
}

impl BanditSample {
    /// Whether the router chose the model and the model served it: only such samples are
    /// draws from the logging policy that off-policy estimators may reweight.
    pub fn is_on_router_choice(&self) -> bool {
        self.chosen.as_ref() == Some(&self.model)
    }
}

/// Outcomes left out by [`bandit_samples`], by reason (each row counts once, for the first
/// reason that applies, in field order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Outcomes read.
    pub total: usize,
    /// Answered from the gateway's response cache: no model was called for them, so their
    /// cost (0) and propensity say nothing about the policy's choice. An exact replay's labels
    /// count for the request that made the answer, chosen among with that request's own by
    /// the rule of one row (a human's before the judge's, the latest).
    pub cached: usize,
    /// Not answered (status other than `ok`) or no serving model recorded.
    pub not_served: usize,
    /// Continued a tool loop on the model that made its calls (`reason: tool_loop`): the
    /// router did not choose it, so it says nothing about the policy's choice.
    pub tool_loop: usize,
    /// No feedback for the metric.
    pub no_feedback: usize,
    /// The prompt was logged hashed or not at all (privacy `hashed` / `none`).
    pub no_prompt_text: usize,
    /// The score is NaN or outside `[0, 1]`.
    pub bad_score: usize,
    /// The propensity is missing-but-routed, NaN or outside `(0, 1]`.
    pub bad_propensity: usize,
    /// Not a skip: samples kept whose reward is the gateway judge's label (no human label for
    /// the metric), reported beside the skips so that a refit says how much it learns from
    /// the judge.
    pub judge_labelled: usize,
    /// Not a skip: samples kept whose reward is a label given to an exact replay of their
    /// answer from the response cache (the request itself has none for the metric).
    pub replay_labelled: usize,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} outcomes read; skipped {} answered from the cache, {} not served, {} without feedback, {} without prompt text, {} with a bad score, {} with a bad propensity",
            self.total, self.cached, self.not_served, self.no_feedback, self.no_prompt_text, self.bad_score, self.bad_propensity
        )?;
        if self.tool_loop > 0 {
            write!(f, ", {} continuing a tool loop", self.tool_loop)?;
        }
        if self.judge_labelled > 0 {
            write!(f, "; {} samples labelled by the judge", self.judge_labelled)?;
        }
        if self.replay_labelled > 0 {
            write!(
                f,
                "; {} samples labelled through a cached replay of their answer",
                self.replay_labelled
            )?;
        }
        Ok(())
    }
}

/// The label `config` reads as `o`'s reward: its metric's latest score, a human label's
/// before the judge's; `None` when the row has no label of that metric.
pub fn reward_label<'a>(o: &'a Outcome, config: &SampleConfig) -> Option<&'a Feedback> {
    label_among(&o.feedback, config).and_then(|i| o.feedback.get(i))
}

/// [`reward_label`] over a list of labels: the index of the one that counts.
fn label_among(feedback: &[Feedback], config: &SampleConfig) -> Option<usize> {
    let human = |f: &Feedback| f.source == FeedbackSource::Human;
    let metric = config.metric.as_deref().or_else(|| {
        feedback
            .iter()
            .find(|f| human(f))
            .or_else(|| feedback.first())
            .map(|f| f.metric.as_str())
    })?;
    let of_metric = || {
        feedback
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, f)| f.metric == metric)
    };
    of_metric()
        .find(|(_, f)| human(f))
        .or_else(|| of_metric().next())
        .map(|(i, _)| i)
}

/// The labels clients gave exact replays of each stored answer (cache hits that were not a
/// rewording), by the request that made the answer: the same answer to the same request, so
/// a label on a replay is a label of that request's answer. A semantic hit's label is not:
/// its question was another one.
fn replay_labels(outcomes: &[Outcome]) -> HashMap<&str, Vec<Feedback>> {
    let mut labels: HashMap<&str, Vec<Feedback>> = HashMap::new();
    for o in outcomes {
        if let Some(hit) = o.cache_hit.as_ref().filter(|h| h.similarity.is_none()) {
            labels
                .entry(hit.source_request_id.as_str())
                .or_default()
                .extend(o.feedback.iter().cloned());
        }
    }
    labels
}

/// Whether the routing policy decided `o`: an `auto` request that no rule pinned.
///
/// The gateway writes a decision for every served request, pinned ones included (the model,
/// propensity 1: failover and the dashboard read it), so a decision alone does not say the
/// router chose. A request that named its model logs that model as `requested_model`. A
/// `[[rules]]` pin turns an `auto` request into a fixed model and logs `requested_model =
/// "auto"` with the rule's name, but without the constraints and objective the gateway writes
/// for every `auto` request its router decided (those were logged before rules existed, so
/// no older row names a rule). Neither is a draw from the routing policy: off-policy
/// estimators must not reweight them, nor count them in the logged policy's mean. They
/// stay training samples (the label is about the served model's answer all the same).
pub fn decided_by_router(o: &Outcome) -> bool {
    o.requested_model == AUTO && !(o.rule.is_some() && o.constraints.is_none())
}

/// The `model` of a request the router decides (`gateway::http::chat::AUTO`).
const AUTO: &str = "auto";

/// Turns outcomes into bandit samples, in input order, and counts what it skipped.
pub fn bandit_samples(outcomes: &[Outcome], config: &SampleConfig) -> (Vec<BanditSample>, Skipped) {
    let mut skipped = Skipped {
        total: outcomes.len(),
        ..Skipped::default()
    };
    let mut samples = Vec::new();
    let replays = replay_labels(outcomes);
    for o in outcomes {
        if o.cache_hit.is_some() {
            skipped.cached += 1;
            continue;
        }
        let model = match (&o.model, o.status) {
            (Some(m), OutcomeStatus::Ok) => m.clone(),
            _ => {
                skipped.not_served += 1;
                continue;
            }
        };
        if o.decision
            .as_ref()
            .is_some_and(|d| d.reason == DecisionReason::ToolLoop)
        {
            skipped.tool_loop += 1;
            continue;
        }
        // The request's labels and those given to exact replays of its answer, chosen among
        // by the same rule (a human's before the judge's, the latest).
        let labels: Cow<'_, [Feedback]> = match replays.get(o.request_id.as_str()) {
            Some(replayed) => Cow::Owned([o.feedback.as_slice(), replayed].concat()),
            None => Cow::Borrowed(&o.feedback),
        };
        let Some((at, label)) =
            label_among(&labels, config).and_then(|i| Some((i, labels.get(i)?)))
        else {
            skipped.no_feedback += 1;
            continue;
        };
        if at >= o.feedback.len() {
            skipped.replay_labelled += 1;
        }
        let score = label.score;
        let PromptRecord::Full { text } = &o.prompt else {
            skipped.no_prompt_text += 1;
            continue;
        };
        if !(0.0..=1.0).contains(&score) {
            skipped.bad_score += 1;
            continue;
        }
        let chosen = o
            .decision
            .as_ref()
            .filter(|_| decided_by_router(o))
            .map(|d| d.chosen.clone());
        // The outcome's own field is what the gateway recorded at request time; the decision's
        // copy is the same number unless a later step (failover) rewrote the record.
        let propensity = o
            .propensity
            .or_else(|| o.decision.as_ref().map(|d| d.propensity))
            .unwrap_or(1.0);
        if !(propensity > 0.0 && propensity <= 1.0) {
            skipped.bad_propensity += 1;
            continue;
        }
        if label.source == FeedbackSource::Judge {
            skipped.judge_labelled += 1;
        }
        samples.push(BanditSample {
            request_id: o.request_id.clone(),
            text: text.clone(),
            model,
            reward: score,
            propensity,
            chosen,
            input_tokens: o.input_tokens,
            routed_input_tokens: o.decision.as_ref().and_then(|d| d.input_tokens),
            output_tokens: o.output_tokens,
            cost_usd: o.cost_usd,
            constraints: o.constraints.clone(),
            objective: o.objective,
        });
    }
    (samples, skipped)
}

/// A training set built from bandit feedback.
#[derive(Clone, Debug, PartialEq)]
pub struct BanditTrainingSet {
    /// One row per distinct prompt text (first-seen order); a cell is labelled only for the
    /// models that served that prompt (the mean score when served several times).
    pub set: TrainingSet,
    /// Inverse-propensity weights per cell, same shape as `set.quality` (`None` where
    /// unlabelled): the mean of `1/propensity` over the cell's samples, clipped at the
    /// `ips_clip` given. The masked, unweighted loss is the default (see
    /// `docs/learning-loop.md`); `CellWeights::from_cells` turns these into loss weights for
    /// `fit_predictor_with` (`train --from-log --weighting ips`).
    pub ips_weights: Vec<Vec<Option<f32>>>,
    /// Samples dropped because their model is not among the set's columns.
    pub unknown_model: usize,
}

/// Builds the masked training set: embeds every distinct prompt once (in batches of 64) and
/// labels the served model's quality and output-token cells.
///
/// Columns are `models` when given (samples of other models are dropped and counted), else
/// every served model in sorted order.
pub fn bandit_training_set(
    samples: &[BanditSample],
    embedder: &dyn Embedder,
    models: Option<&[ModelId]>,
    ips_clip: Option<f64>,
) -> Result<BanditTrainingSet, FromLogError> {
    let models: Vec<ModelId> = match models {
        Some(m) => m.to_vec(),
        None => {
            let mut m: Vec<ModelId> = samples.iter().map(|s| s.model.clone()).collect();
            m.sort();
            m.dedup();
            m
        }
    };
    let column: HashMap<&ModelId, usize> = models.iter().enumerate().map(|(i, m)| (m, i)).collect();
    let mut row_of: HashMap<&str, usize> = HashMap::new();
    let mut texts: Vec<&str> = Vec::new();
    // Per cell: (sum of scores, count, sum of inverse propensities, sum of tokens, token count).
    let mut cells: Vec<Vec<[f64; 5]>> = Vec::new();
    let mut unknown_model = 0;
    for s in samples {
        let Some(&col) = column.get(&s.model) else {
            unknown_model += 1;
            continue;
        };
        let row = *row_of.entry(s.text.as_str()).or_insert_with(|| {
            texts.push(s.text.as_str());
            cells.push(vec![[0.0; 5]; models.len()]);
            texts.len() - 1
        });
        let cell = &mut cells[row][col];
        cell[0] += s.reward;
        cell[1] += 1.0;
        let w = 1.0 / s.propensity;
        cell[2] += ips_clip.filter(|c| *c > 0.0).map_or(w, |c| w.min(c));
        if let Some(t) = s.output_tokens {
            cell[3] += f64::from(t);
            cell[4] += 1.0;
        }
    }
    if texts.is_empty() {
        return Err(FromLogError::NoSamples {
            skipped: format!(
                "{} samples, {unknown_model} of them for models outside the columns",
                samples.len()
            ),
        });
    }
    let x = embed_all(embedder, &texts)?;
    let mean = |sum: f64, n: f64| (n > 0.0).then(|| (sum / n) as f32);
    let set = TrainingSet {
        models,
        x,
        quality: cells
            .iter()
            .map(|r| r.iter().map(|c| mean(c[0], c[1])).collect())
            .collect(),
        output_tokens: cells
            .iter()
            .map(|r| r.iter().map(|c| mean(c[3], c[4])).collect())
            .collect(),
        // Logged traffic carries no dataset task labels.
        tasks: Vec::new(),
    };
    set.validate()?;
    Ok(BanditTrainingSet {
        set,
        ips_weights: cells
            .iter()
            .map(|r| r.iter().map(|c| mean(c[2], c[1])).collect())
            .collect(),
        unknown_model,
    })
}

/// Stacks `extra`'s rows under `base`'s, over the union of their models (`base`'s columns
/// first, then `extra`'s new ones); cells a set has no column for are `None`. Use it to mix
/// logged traffic with a benchmark set embedded by the same encoder.
pub fn merge_training_sets(
    base: &TrainingSet,
    extra: &TrainingSet,
) -> Result<TrainingSet, FromLogError> {
    if !base.is_empty() && !extra.is_empty() && base.dim() != extra.dim() {
        return Err(FromLogError::DimensionMismatch {
            left: base.dim(),
            right: extra.dim(),
        });
    }
    let mut models = base.models.clone();
    for m in &extra.models {
        if !models.contains(m) {
            models.push(m.clone());
        }
    }
    let remap = |set: &TrainingSet, table: &[Vec<Option<f32>>]| -> Vec<Vec<Option<f32>>> {
        let cols: Vec<Option<usize>> = models
            .iter()
            .map(|m| set.models.iter().position(|s| s == m))
            .collect();
        table
            .iter()
            .map(|row| {
                cols.iter()
                    .map(|c| c.and_then(|c| row.get(c).copied().flatten()))
                    .collect()
            })
            .collect()
    };
    let mut quality = remap(base, &base.quality);
    quality.extend(remap(extra, &extra.quality));
    let mut output_tokens = remap(base, &base.output_tokens);
    output_tokens.extend(remap(extra, &extra.output_tokens));
    let mut x = base.x.clone();
    x.extend(extra.x.iter().cloned());
    // Task labels survive the merge when either side has them; the other side's rows are
    // unlabelled.
    let tasks = if base.tasks.is_empty() && extra.tasks.is_empty() {
        Vec::new()
    } else {
        let labels = |s: &TrainingSet| -> Vec<Option<String>> {
            if s.tasks.is_empty() {
                vec![None; s.len()]
            } else {
                s.tasks.clone()
            }
        };
        let mut t = labels(base);
        t.extend(labels(extra));
        t
    };
    let merged = TrainingSet {
        models,
        x,
        quality,
        output_tokens,
        tasks,
    };
    merged.validate()?;
    Ok(merged)
}

/// Embeds `texts` in batches, checking the count.
pub(super) fn embed_all(
    embedder: &dyn Embedder,
    texts: &[&str],
) -> Result<Vec<Vec<f32>>, FromLogError> {
    let mut out = Vec::with_capacity(texts.len());
    for batch in texts.chunks(64) {
        let vectors = embedder.embed(batch).map_err(|e| FromLogError::Embed {
            reason: e.to_string(),
        })?;
        if vectors.len() != batch.len() {
            return Err(FromLogError::Embed {
                reason: format!(
                    "the embedder returned {} vectors for {} prompts",
                    vectors.len(),
                    batch.len()
                ),
            });
        }
        out.extend(vectors);
    }
    Ok(out)
}
