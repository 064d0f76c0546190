//! Live onboarding: the probe set sent to the user's own models through their providers,
//! scored, and fitted into per-task estimates ([`router_core::OnboardedModel`]).
//!
//! The provider calls are behind the [`ProbeClient`] seam (the CLI implements it with the
//! gateway's provider layer, the tests with a fake provider on loopback), so that this module
//! holds the whole procedure and none of the HTTP:
//!
//! 1. [`plan`]: which probes each model gets (probes that only a judge can score are left out
//!    when no judge is configured) and [`estimate_cost`], the expected and worst-case spend.
//! 2. [`run`]: the requests, `concurrency` at a time, each answer scored at once (a reference
//!    check, else the judge) and handed to the caller's sink, which appends it to the answers
//!    file, so an interrupted run resumes where it stopped ([`AnswerRecord`], [`done_pairs`]).
//!    A spend cap stops it.
//! 3. [`fit`]: each model's answers into an [`OnboardedModel`] ([`super::fit`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;

use futures::stream::{self, StreamExt};
use models::CatalogEntry;
use router_core::{
    BoxError, LatencyPrior, ModelId, ModelPrior, OnboardedModel, Task, TaskDistribution,
};
use serde::{Deserialize, Serialize};

use super::fit::{fit_tasks, FitConfig, ScoredProbe};
use super::latency::fit_latency;
use super::probes::Probe;
use crate::Error;

/// A model's answer to one probe.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// The answer text.
    pub text: String,
    /// Prompt tokens the provider counted.
    pub input_tokens: u32,
    /// Completion tokens (reasoning included) the provider counted.
    pub output_tokens: u32,
    /// What it cost, in USD (catalog prices × usage).
    pub cost_usd: f64,
    /// Wall time of the call, in milliseconds.
    pub latency_ms: f64,
}

/// The judge's score of one answer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Judged {
    /// The score in `[0, 1]`; `None` when the judge replied without a readable score.
    pub score: Option<f64>,
    /// What judging cost, in USD.
    pub cost_usd: f64,
}

/// How probes reach the models: the CLI's implementation calls the configured providers.
pub trait ProbeClient: Sync {
    /// Sends `prompt` as one user message to `model` and returns its answer.
    fn ask(
        &self,
        model: &ModelId,
        prompt: &str,
    ) -> impl Future<Output = Result<Reply, BoxError>> + Send;

    /// Scores `reply` to `prompt` with the configured judge; `guide` is what the probe tells
    /// the judge to check (a coding task's tests).
    fn judge(
        &self,
        prompt: &str,
        reply: &str,
        guide: Option<&str>,
    ) -> impl Future<Output = Result<Judged, BoxError>> + Send;

    /// Whether a judge is configured (probes only a judge can score are skipped otherwise).
    fn has_judge(&self) -> bool;
}

/// One line of the answers file: what one model answered to one probe and how it scored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnswerRecord {
    /// The model.
    pub model: ModelId,
    /// The probe's id.
    pub probe_id: String,
    /// The probe's task.
    pub task: Task,
    /// The probe file this probe came from.
    pub probe_set_sha256: String,
    /// The answer, cut to [`REPLY_KEEP_CHARS`] characters (kept for audit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// Prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u32>,
    /// Completion tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u32>,
    /// Cost of the answer and its judging, in USD.
    pub cost_usd: f64,
    /// Wall time of the answer, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// The score in `[0, 1]`, when the answer was scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// `reference` or `judge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scored_by: Option<String>,
    /// What went wrong, when the model did not answer or the judge did not score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How much of each answer the answers file keeps.
pub const REPLY_KEEP_CHARS: usize = 4000;

/// The (model, probe id) pairs of `records` that are finished for `probe_set_sha256`: scored
/// answers. Failed ones are tried again on a resumed run.
pub fn done_pairs(records: &[AnswerRecord], probe_set_sha256: &str) -> HashSet<(ModelId, String)> {
    records
        .iter()
        .filter(|r| r.probe_set_sha256 == probe_set_sha256 && r.score.is_some())
        .map(|r| (r.model.clone(), r.probe_id.clone()))
        .collect()
}

/// The work: each model with the probes it gets.
#[derive(Clone, Debug)]
pub struct Plan<'a> {
    /// Models in the order given.
    pub models: Vec<ModelId>,
    /// The probes every model gets.
    pub probes: Vec<&'a Probe>,
    /// Probes left out because only a judge can score them and none is configured.
    pub skipped_for_judge: usize,
    /// The probe file's SHA-256.
    pub probe_set_sha256: String,
}

/// Builds the plan: `probes` for every model of `models`, without the ones only a judge can
/// score when `has_judge` is false.
pub fn plan<'a>(
    models: Vec<ModelId>,
    probes: Vec<&'a Probe>,
    has_judge: bool,
    probe_set_sha256: String,
) -> Plan<'a> {
    let before = probes.len();
    let probes: Vec<&Probe> = probes
        .into_iter()
        .filter(|p| has_judge || !p.reference.needs_judge())
        .collect();
    Plan {
        models,
        skipped_for_judge: before - probes.len(),
        probes,
        probe_set_sha256,
    }
}

/// What one model's probes should cost.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostEstimate {
    /// The model.
    pub model: ModelId,
    /// Requests to send.
    pub requests: usize,
    /// Expected USD: prompt tokens from the probes' length, completion tokens from the
    /// catalog's per-task lengths (capped at `max_tokens`), judging included.
    pub expected_usd: f64,
    /// USD if every answer ran to `max_tokens` and every judge reply to its limit.
    pub worst_usd: f64,
}

/// A judge's prices and limits, for [`estimate_cost`].
#[derive(Clone, Copy, Debug)]
pub struct JudgePricing<'a> {
    /// The judge model's catalog entry.
    pub entry: &'a CatalogEntry,
    /// Most tokens a verdict may take.
    pub max_tokens: u32,
}

/// Prompt tokens of a text: about four characters each, plus the chat framing.
fn prompt_tokens(text: &str) -> f64 {
    text.chars().count() as f64 / 4.0 + 8.0
}

/// The expected and worst-case spend of `plan` for each model (`entries` in the plan's
/// order), answers capped at `max_tokens`.
pub fn estimate_cost(
    plan: &Plan<'_>,
    entries: &[&CatalogEntry],
    max_tokens: u32,
    judge: Option<JudgePricing<'_>>,
) -> Vec<CostEstimate> {
    // A verdict is a short JSON object; the rubric adds a few hundred prompt tokens.
    const VERDICT_TOKENS: f64 = 40.0;
    const RUBRIC_TOKENS: f64 = 250.0;
    entries
        .iter()
        .map(|entry| {
            let prior: ModelPrior = entry.prior();
            let mut expected = 0.0;
            let mut worst = 0.0;
            for p in &plan.probes {
                let input = prompt_tokens(&p.prompt);
                let tasks = TaskDistribution::certain(p.task);
                let (estimate, _) = prior.estimate(Some(&tasks));
                let out = estimate.output_tokens.min(f64::from(max_tokens));
                expected += entry.spec.predicted_cost_usd(input, out);
                worst += entry.spec.predicted_cost_usd(input, f64::from(max_tokens));
                if let (true, Some(j)) = (p.reference.needs_judge(), judge) {
                    let judge_in = input + out + RUBRIC_TOKENS;
                    expected += j.entry.spec.predicted_cost_usd(judge_in, VERDICT_TOKENS);
                    let worst_in = input + f64::from(max_tokens) + RUBRIC_TOKENS;
                    worst += j
                        .entry
                        .spec
                        .predicted_cost_usd(worst_in, f64::from(j.max_tokens));
                }
            }
            CostEstimate {
                model: entry.spec.id.clone(),
                requests: plan.probes.len(),
                expected_usd: expected,
                worst_usd: worst,
            }
        })
        .collect()
}

/// How [`run`] runs.
#[derive(Clone, Copy, Debug)]
pub struct RunSettings {
    /// Requests in flight at once (across models).
    pub concurrency: usize,
    /// Stop sending once this much has been spent, in USD (answers already in flight still
    /// land and count).
    pub max_cost_usd: Option<f64>,
}

/// Where a run stands, after each answer.
#[derive(Clone, Debug, PartialEq)]
pub struct RunProgress {
    /// Answers received (or failed) so far in this run.
    pub done: usize,
    /// Requests this run sends in all.
    pub total: usize,
    /// USD spent in this run.
    pub spent_usd: f64,
    /// Failed requests in this run.
    pub errors: usize,
    /// The answer just received.
    pub last: AnswerRecord,
}

/// What a run did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunSummary {
    /// Requests sent in this run.
    pub sent: usize,
    /// Of those, failed ones.
    pub errors: usize,
    /// Pairs already done by an earlier run, not sent again.
    pub resumed: usize,
    /// USD spent in this run.
    pub spent_usd: f64,
    /// Whether the spend cap stopped the run before every request was sent.
    pub stopped_at_cap: bool,
}

/// Sends every (model, probe) pair of `plan` not in `done`, scores each answer, and hands
/// each record to `sink` as it lands (the CLI appends it to the answers file before
/// anything else happens, so nothing paid for is lost). `progress` sees every record.
pub async fn run<C: ProbeClient>(
    plan: &Plan<'_>,
    client: &C,
    settings: RunSettings,
    done: &HashSet<(ModelId, String)>,
    mut sink: impl FnMut(&AnswerRecord) -> Result<(), BoxError>,
    mut progress: impl FnMut(&RunProgress),
) -> Result<RunSummary, Error> {
    let mut work: Vec<(&ModelId, &Probe)> = Vec::new();
    let mut resumed = 0;
    // Interleave models probe by probe, so that a run stopped early has every model on the
    // same probes rather than one model finished and another untouched.
    for p in &plan.probes {
        for m in &plan.models {
            if done.contains(&(m.clone(), p.id.clone())) {
                resumed += 1;
            } else {
                work.push((m, p));
            }
        }
    }
    let total = work.len();
    let mut summary = RunSummary {
        sent: 0,
        errors: 0,
        resumed,
        spent_usd: 0.0,
        stopped_at_cap: false,
    };
    let sha = plan.probe_set_sha256.as_str();
    let cap = settings.max_cost_usd;
    let spent = std::sync::Mutex::new(0.0_f64);
    let over_cap = || cap.is_some_and(|c| *spent.lock().unwrap_or_else(|e| e.into_inner()) >= c);
    let mut answers = stream::iter(work.into_iter().map(|(model, probe)| {
        let over = over_cap();
        async move {
            if over {
                return None;
            }
            Some(answer(client, model, probe, sha).await)
        }
    }))
    .buffer_unordered(settings.concurrency.max(1));
    while let Some(record) = answers.next().await {
        let Some(record) = record else {
            summary.stopped_at_cap = true;
            continue;
        };
        summary.sent += 1;
        if record.error.is_some() {
            summary.errors += 1;
        }
        summary.spent_usd += record.cost_usd;
        *spent.lock().unwrap_or_else(|e| e.into_inner()) = summary.spent_usd;
        sink(&record).map_err(|e| Error::Onboarding {
            reason: format!("saving an answer, so the run stopped there: {e}"),
        })?;
        progress(&RunProgress {
            done: summary.sent,
            total,
            spent_usd: summary.spent_usd,
            errors: summary.errors,
            last: record,
        });
    }
    Ok(summary)
}

/// Asks, then scores: by the probe's reference when it has one, else by the judge.
async fn answer<C: ProbeClient>(
    client: &C,
    model: &ModelId,
    probe: &Probe,
    probe_set_sha256: &str,
) -> AnswerRecord {
    let mut record = AnswerRecord {
        model: model.clone(),
        probe_id: probe.id.clone(),
        task: probe.task,
        probe_set_sha256: probe_set_sha256.to_owned(),
        reply: None,
        input_tokens: None,
        output_tokens: None,
        cost_usd: 0.0,
        latency_ms: None,
        score: None,
        scored_by: None,
        error: None,
    };
    let reply = match client.ask(model, &probe.prompt).await {
        Ok(r) => r,
        Err(e) => {
            record.error = Some(format!("answer: {e}"));
            return record;
        }
    };
    record.input_tokens = Some(reply.input_tokens);
    record.output_tokens = Some(reply.output_tokens);
    record.cost_usd = finite_cost(reply.cost_usd);
    record.latency_ms = Some(reply.latency_ms);
    match probe.reference.score(&reply.text) {
        Some(score) => {
            record.score = Some(score);
            record.scored_by = Some("reference".into());
        }
        None => {
            let guide = match &probe.reference {
                router_core::reference::Reference::Judge { guide } => guide.as_deref(),
                _ => None,
            };
            match client.judge(&probe.prompt, &reply.text, guide).await {
                Ok(j) => {
                    // A reply without a readable verdict was still paid for.
                    record.cost_usd += finite_cost(j.cost_usd);
                    match j.score.filter(|s| s.is_finite()) {
                        Some(score) => {
                            record.score = Some(score.clamp(0.0, 1.0));
                            record.scored_by = Some("judge".into());
                        }
                        None => {
                            record.error = Some("judge: the reply held no readable score".into())
                        }
                    }
                }
                Err(e) => record.error = Some(format!("judge: {e}")),
            }
        }
    }
    record.reply = Some(reply.text.chars().take(REPLY_KEEP_CHARS).collect());
    record
}

/// `(completion tokens, wall time)` of every answer that has both (scored or not: a reply
/// the judge could not score was still timed).
fn timed(records: &[&AnswerRecord]) -> Vec<(u32, f64)> {
    records
        .iter()
        .filter_map(|r| Some((r.output_tokens?, r.latency_ms?)))
        .collect()
}

fn finite_cost(usd: f64) -> f64 {
    if usd.is_finite() && usd > 0.0 {
        usd
    } else {
        0.0
    }
}

/// Fewest scored probes a model needs to be fitted: below this the estimate is mostly the
/// catalog's prior and calling it onboarded would overstate what is known.
pub const MIN_SCORED_PROBES: usize = 10;

/// A model to fit, with what the catalog says of it.
#[derive(Clone, Debug)]
pub struct ModelToFit {
    /// The catalog id.
    pub model: ModelId,
    /// The catalog's quality and length priors.
    pub prior: ModelPrior,
    /// The catalog's latency prior (its speed is kept when the probes cannot measure one).
    pub latency: LatencyPrior,
}

/// Fits each model of `models` from its scored answers in `records` (the probe set
/// `probe_set_sha256`; `probes` by id for their difficulty), and its latency from their wall
/// times ([`fit_latency`]). A model with fewer than [`MIN_SCORED_PROBES`] scored answers is an
/// error naming it.
pub fn fit(
    models: &[ModelToFit],
    records: &[AnswerRecord],
    probes: &HashMap<&str, &Probe>,
    probe_set_sha256: &str,
    onboarded_at: &str,
    config: &FitConfig,
) -> Result<Vec<OnboardedModel>, Error> {
    // The last record of a pair wins (a resumed run's retry after an error).
    let mut latest: BTreeMap<(&ModelId, &str), &AnswerRecord> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| r.probe_set_sha256 == probe_set_sha256)
    {
        latest.insert((&r.model, r.probe_id.as_str()), r);
    }
    models
        .iter()
        .map(|ModelToFit {
                  model,
                  prior,
                  latency,
              }| {
            let mine: Vec<&AnswerRecord> = latest
                .iter()
                .filter(|((m, _), _)| *m == model)
                .map(|(_, r)| *r)
                .collect();
            let scored: Vec<ScoredProbe> = mine
                .iter()
                .filter_map(|r| {
                    let score = r.score?;
                    let difficulty = probes
                        .get(r.probe_id.as_str())
                        .and_then(|p| p.difficulty)
                        .unwrap_or(0.0);
                    Some(ScoredProbe {
                        task: r.task,
                        weight: 1.0,
                        score,
                        difficulty,
                        output_tokens: r.output_tokens,
                    })
                })
                .collect();
            if scored.len() < MIN_SCORED_PROBES {
                return Err(Error::Onboarding {
                    reason: format!(
                        "`{model}` has {} scored answers (at least {MIN_SCORED_PROBES} are needed); \
                         see the errors in the answers file, fix the provider or judge, and run again \
                         (answered probes are not sent twice)",
                        scored.len()
                    ),
                });
            }
            Ok(OnboardedModel {
                model: model.clone(),
                onboarded_at: onboarded_at.to_owned(),
                probe_set_sha256: probe_set_sha256.to_owned(),
                requests: u32::try_from(mine.len()).unwrap_or(u32::MAX),
                errors: u32::try_from(mine.iter().filter(|r| r.error.is_some()).count())
                    .unwrap_or(u32::MAX),
                cost_usd: records
                    .iter()
                    .filter(|r| r.model == *model && r.probe_set_sha256 == probe_set_sha256)
                    .map(|r| r.cost_usd)
                    .sum(),
                tasks: fit_tasks(prior, &scored, config),
                latency: fit_latency(&timed(&mine), *latency),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use router_core::reference::Reference;

    use super::*;

    fn probe(id: &str, task: Task, reference: Reference) -> Probe {
        Probe {
            id: id.into(),
            source: "test".into(),
            licence: "MIT".into(),
            source_task: "t".into(),
            task,
            prompt: format!("prompt {id}"),
            reference,
            difficulty: None,
            recorded_models: None,
        }
    }

    fn record(model: &str, probe: &str, task: Task, score: Option<f64>) -> AnswerRecord {
        AnswerRecord {
            model: ModelId::new(model),
            probe_id: probe.into(),
            task,
            probe_set_sha256: "set".into(),
            reply: None,
            input_tokens: Some(10),
            output_tokens: Some(50),
            cost_usd: 0.001,
            latency_ms: Some(5.0),
            score,
            scored_by: score.map(|_| "reference".into()),
            error: score.is_none().then(|| "answer: 500".into()),
        }
    }

    fn to_fit() -> ModelToFit {
        ModelToFit {
            model: ModelId::new("m"),
            prior: crate::onboarding::fit::maths_prior(0.5),
            latency: LatencyPrior {
                ttft_ms: 800.0,
                tokens_per_s: 60.0,
            },
        }
    }

    #[test]
    fn probes_only_a_judge_can_score_are_left_out_without_one() {
        let a = probe("a", Task::Math, Reference::Number { answer: "1".into() });
        let b = probe("b", Task::Coding, Reference::Judge { guide: None });
        let without = plan(vec![ModelId::new("m")], vec![&a, &b], false, "s".into());
        assert_eq!((without.probes.len(), without.skipped_for_judge), (1, 1));
        let with = plan(vec![ModelId::new("m")], vec![&a, &b], true, "s".into());
        assert_eq!((with.probes.len(), with.skipped_for_judge), (2, 0));
    }

    #[test]
    fn only_scored_answers_of_the_same_probe_set_count_as_done() {
        let mut other = record("m", "p2", Task::Math, Some(1.0));
        other.probe_set_sha256 = "another".into();
        let records = vec![
            record("m", "p1", Task::Math, Some(1.0)),
            record("m", "p3", Task::Math, None),
            other,
        ];
        let done = done_pairs(&records, "set");
        assert_eq!(done.len(), 1);
        assert!(done.contains(&(ModelId::new("m"), "p1".into())));
    }

    #[test]
    fn fitting_uses_the_last_answer_of_a_pair_and_counts_every_cost() {
        let probes: Vec<Probe> = (0..12)
            .map(|i| {
                probe(
                    &format!("p{i}"),
                    Task::Math,
                    Reference::Number { answer: "1".into() },
                )
            })
            .collect();
        let by_id: HashMap<&str, &Probe> = probes.iter().map(|p| (p.id.as_str(), p)).collect();
        let mut records: Vec<AnswerRecord> = (0..12)
            .map(|i| record("m", &format!("p{i}"), Task::Math, Some(1.0)))
            .collect();
        // p0 failed first, then was answered on a resumed run: one request, two costs.
        records.insert(0, record("m", "p0", Task::Math, None));
        let fitted = fit(
            &[to_fit()],
            &records,
            &by_id,
            "set",
            "2026-12-03T00:00:00Z",
            &FitConfig::default(),
        )
        .unwrap();
        let m = &fitted[0];
        assert_eq!((m.requests, m.errors), (12, 0));
        assert!((m.cost_usd - 0.013).abs() < 1e-12);
        let math = &m.tasks[0];
        assert_eq!(
            (math.task, math.probes, math.mean_score),
            (Task::Math, 12, 1.0)
        );
        assert!(math.estimate > 0.85, "{}", math.estimate);
        assert_eq!(math.output_tokens, Some(50.0));
        // Every answer was 50 tokens: the catalog's speed stays, the fixed cost is measured
        // (5 ms, less than 50 tokens take at 60 tokens/s, so floored at 0).
        assert_eq!(
            m.latency,
            Some(LatencyPrior {
                ttft_ms: 0.0,
                tokens_per_s: 60.0
            })
        );
    }

    /// Answers every prompt with `reply`; the judge replies with `verdict` at a fixed price.
    struct Scripted {
        verdict: Option<f64>,
    }

    impl ProbeClient for Scripted {
        async fn ask(&self, _model: &ModelId, _prompt: &str) -> Result<Reply, BoxError> {
            Ok(Reply {
                text: "def f(): pass".into(),
                input_tokens: 20,
                output_tokens: 30,
                cost_usd: 0.002,
                latency_ms: 400.0,
            })
        }

        async fn judge(
            &self,
            _prompt: &str,
            _reply: &str,
            _guide: Option<&str>,
        ) -> Result<Judged, BoxError> {
            Ok(Judged {
                score: self.verdict,
                cost_usd: 0.001,
            })
        }

        fn has_judge(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_judge_reply_without_a_score_is_an_error_that_still_costs() {
        let p = probe("c", Task::Coding, Reference::Judge { guide: None });
        let m = ModelId::new("m");
        let garbage =
            futures::executor::block_on(answer(&Scripted { verdict: None }, &m, &p, "set"));
        assert_eq!(garbage.score, None);
        assert!(garbage
            .error
            .as_deref()
            .unwrap()
            .contains("no readable score"));
        assert!(
            (garbage.cost_usd - 0.003).abs() < 1e-12,
            "{}",
            garbage.cost_usd
        );
        assert_eq!(garbage.latency_ms, Some(400.0));
        let scored =
            futures::executor::block_on(answer(&Scripted { verdict: Some(0.8) }, &m, &p, "set"));
        assert_eq!(scored.score, Some(0.8));
        assert_eq!(scored.scored_by.as_deref(), Some("judge"));
        assert!((scored.cost_usd - 0.003).abs() < 1e-12);
    }

    #[test]
    fn a_model_with_too_few_scored_answers_is_refused_by_name() {
        let records: Vec<AnswerRecord> = (0..MIN_SCORED_PROBES)
            .map(|i| record("m", &format!("p{i}"), Task::Math, (i > 0).then_some(1.0)))
            .collect();
        let err = fit(
            &[to_fit()],
            &records,
            &HashMap::new(),
            "set",
            "now",
            &FitConfig::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("`m` has 9 scored answers"),
            "{err}"
        );
    }
}
