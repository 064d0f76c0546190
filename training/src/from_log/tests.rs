use std::io::Write;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use router_core::exploration::{explore, Exploration};
use router_core::policy::{route, Prediction};
use router_core::{
    BoxError, Constraints, Embedder, Feedback, FeedbackSource, LatencyPrior, ModelId, ModelSpec,
    Objective, Outcome, OutcomeStatus, PromptRecord, ProviderId,
};

use super::*;
use crate::{fit_knn, KnnConfig};

const TOPICS: usize = 6;
const DIM: usize = 8;

/// Hashes the prompt's first word (its topic) to a direction and the whole text to a little
/// noise: prompts of one topic cluster, as sentence embeddings of similar prompts do.
struct HashEmbedder;

fn hash(text: &str) -> u64 {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Embedder for HashEmbedder {
    fn dim(&self) -> usize {
        DIM
    }
    fn fingerprint(&self) -> &str {
        "hash-embedder"
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BoxError> {
        Ok(texts
            .iter()
            .map(|t| {
                let topic = t.split_whitespace().next().unwrap_or("");
                let mut rng = ChaCha8Rng::seed_from_u64(hash(topic));
                let mut noise = ChaCha8Rng::seed_from_u64(hash(t));
                let v: Vec<f32> = (0..DIM)
                    .map(|_| rng.gen_range(-1.0f32..1.0) + 0.05 * noise.gen_range(-1.0f32..1.0))
                    .collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter().map(|x| x / norm).collect()
            })
            .collect())
    }
}

fn entries() -> Vec<models::CatalogEntry> {
    catalog()
        .into_iter()
        .map(|spec| models::CatalogEntry::from_spec(spec, 0.5, 100.0))
        .collect()
}

fn catalog() -> Vec<ModelSpec> {
    ["small", "medium", "large"]
        .iter()
        .enumerate()
        .map(|(i, id)| ModelSpec {
            id: ModelId::new(*id),
            provider: ProviderId::new("p"),
            input_usd_per_mtok: [0.1, 1.0, 5.0][i],
            output_usd_per_mtok: [0.4, 4.0, 20.0][i],
            context_window: 8192,
            capabilities: Default::default(),
            latency: LatencyPrior {
                ttft_ms: 100.0,
                tokens_per_s: 100.0,
            },
            token_ratio: 1.0,
            cache_read: None,
            cache_write: None,
            price_tiers: Vec::new(),
        })
        .collect()
}

/// True success probability: each model is best on two of the six topics.
fn truth(topic: usize, model: usize) -> f64 {
    if topic / 2 == model {
        0.9
    } else {
        0.3
    }
}

fn outcome(i: usize, text: &str, model: &str, score: Option<f64>) -> Outcome {
    Outcome {
        prompt: PromptRecord::Full { text: text.into() },
        requested_model: model.into(),
        latency_ms: 120.0,
        input_tokens: Some(40),
        output_tokens: Some(100),
        feedback: score
            .map(|score| Feedback::human("correct", score))
            .into_iter()
            .collect(),
        ..Outcome::answered(format!("r{i:05}"), i as u64, model)
    }
}

/// `n` routed requests logged by an ε-greedy router over constant predictions (its greedy
/// choice is the cheapest model), with Bernoulli feedback; returns the outcomes and topics.
fn routed_log(n: usize, seed: u64) -> (Vec<Outcome>, Vec<usize>) {
    let specs = catalog();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let exploration = Exploration::EpsilonGreedy {
        epsilon: 0.6,
        top_k: 3,
    };
    let preds: Vec<Prediction<'_>> = specs
        .iter()
        .map(|spec| Prediction {
            spec,
            quality: 0.5,
            output_tokens: 100.0,
            source: router_core::EstimateSource::Trained,
            latency: spec.latency,
            spread: None,
        })
        .collect();
    let greedy = route(&preds, 40, &Constraints::default(), Objective::default()).unwrap();
    let mut outcomes = Vec::new();
    let mut topics = Vec::new();
    for i in 0..n {
        let topic = rng.gen_range(0..TOPICS);
        let text = format!("topic{topic} question {}", rng.gen_range(0..40));
        let d = explore(greedy.clone(), &exploration, rng.gen());
        let m = specs.iter().position(|s| s.id == d.chosen).unwrap();
        let score = f64::from(u8::from(rng.gen::<f64>() < truth(topic, m)));
        let mut o = outcome(i, &text, d.chosen.as_str(), Some(score));
        o.requested_model = "auto".into();
        o.propensity = Some(d.propensity);
        o.cost_usd = Some(specs[m].cost_usd(40.0, 100.0));
        o.decision = Some(d);
        outcomes.push(o);
        topics.push(topic);
    }
    (outcomes, topics)
}

/// One row for each skip reason, after the routed rows.
fn with_odd_rows(mut outcomes: Vec<Outcome>) -> Vec<Outcome> {
    let n = outcomes.len();
    let mut hashed = outcome(n, "secret", "small", Some(1.0));
    hashed.prompt = PromptRecord::Hashed {
        sha256: "ab".into(),
    };
    let unlabelled = outcome(n + 1, "topic1 question 1", "small", None);
    let mut failed = outcome(n + 2, "topic1 question 2", "small", Some(1.0));
    failed.status = OutcomeStatus::UpstreamError;
    let mut other_metric = outcome(n + 3, "topic2 question 3", "large", None);
    other_metric
        .feedback
        .push(Feedback::human("thumbs_up", 1.0));
    let explicit = outcome(n + 4, "topic3 question 4", "medium", Some(0.5));
    // A tool loop kept on its model: labelled, but not the router's choice.
    let mut kept = outcome(n + 5, "topic3 question 5", "large", Some(1.0));
    let mut decision = outcomes[0].decision.clone().unwrap();
    decision.chosen = ModelId::new("large");
    decision.reason = router_core::DecisionReason::ToolLoop;
    decision.propensity = 1.0;
    kept.decision = Some(decision);
    outcomes.extend([hashed, unlabelled, failed, other_metric, explicit, kept]);
    outcomes
}

fn write_jsonl(outcomes: &[Outcome], path: &std::path::Path) {
    let mut f = std::fs::File::create(path).unwrap();
    for o in outcomes {
        serde_json::to_writer(&mut f, o).unwrap();
        f.write_all(b"\n").unwrap();
    }
}

#[test]
fn jsonl_log_to_masked_training_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    let (routed, _) = routed_log(300, 1);
    let outcomes = with_odd_rows(routed);
    write_jsonl(&outcomes, &path);
    let loaded = load_outcomes(&path).unwrap();
    assert_eq!(loaded, outcomes);

    let config = SampleConfig {
        metric: Some("correct".into()),
    };
    let (samples, skipped) = bandit_samples(&loaded, &config);
    assert_eq!(skipped.total, 306);
    assert_eq!(skipped.not_served, 1);
    assert_eq!(skipped.tool_loop, 1);
    assert_eq!(skipped.no_feedback, 2);
    assert_eq!(skipped.no_prompt_text, 1);
    assert_eq!(samples.len(), 301);
    // The explicit request has propensity 1 and no router choice.
    let explicit = samples.last().unwrap();
    assert_eq!((explicit.propensity, explicit.chosen.clone()), (1.0, None));
    assert!(samples[..300].iter().all(BanditSample::is_on_router_choice));
    assert!(samples[..300]
        .iter()
        .all(|s| (s.propensity - 0.6).abs() < 1e-9 || (s.propensity - 0.2).abs() < 1e-9));

    let bandit = bandit_training_set(&samples, &HashEmbedder, None, Some(4.0)).unwrap();
    let set = &bandit.set;
    let mut distinct: Vec<&str> = samples.iter().map(|s| s.text.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(set.len(), distinct.len());
    assert_eq!(set.dim(), DIM);
    assert_eq!(
        set.models,
        vec![
            ModelId::new("large"),
            ModelId::new("medium"),
            ModelId::new("small")
        ]
    );
    // A cell is labelled exactly when that model served that prompt.
    assert!(set
        .quality
        .iter()
        .all(|row| row.iter().any(Option::is_some)));
    let labelled: usize = set.quality.iter().flatten().flatten().count();
    let pairs: std::collections::BTreeSet<(&str, &ModelId)> = samples
        .iter()
        .map(|s| (s.text.as_str(), &s.model))
        .collect();
    assert_eq!(labelled, pairs.len());
    assert_eq!(
        set.output_tokens.iter().flatten().flatten().count(),
        pairs.len()
    );
    // IPS weights: 1/0.6 or 1/0.2 = 5 clipped at 4 (means of those), only on labelled cells.
    for (q, w) in set.quality.iter().zip(&bandit.ips_weights) {
        for (q, w) in q.iter().zip(w) {
            assert_eq!(q.is_some(), w.is_some());
            if let Some(w) = w {
                // The explicit request has propensity 1.
                assert!((1.0 - 1e-5..=4.0 + 1e-5).contains(&f64::from(*w)));
            }
        }
    }

    // Restricting the columns drops the other models' samples.
    let only_small = [ModelId::new("small")];
    let small = bandit_training_set(&samples, &HashEmbedder, Some(&only_small), None).unwrap();
    assert_eq!(small.set.models.len(), 1);
    assert!(small.unknown_model > 0);
}

#[test]
fn sqlite_log_reads_like_the_export() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite");
    let (routed, _) = routed_log(20, 2);
    let outcomes = with_odd_rows(routed);
    {
        // The oldest layout the `outcome-log` crate migrates from; feedback lives in its own
        // table and is joined on read.
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE outcomes (request_id TEXT PRIMARY KEY, timestamp_ms INTEGER NOT NULL,
                model TEXT, status TEXT NOT NULL, cost_usd REAL, latency_ms REAL NOT NULL,
                record TEXT NOT NULL);
             CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL,
                metric TEXT NOT NULL, score REAL NOT NULL, timestamp_ms INTEGER NOT NULL);",
        )
        .unwrap();
        for o in outcomes.iter().rev() {
            let mut bare = o.clone();
            bare.feedback.clear();
            conn.execute(
                "INSERT INTO outcomes VALUES (?1, ?2, ?3, 'ok', ?4, ?5, ?6)",
                rusqlite::params![
                    o.request_id,
                    o.timestamp_ms as i64,
                    o.model.as_ref().map(|m| m.as_str()),
                    o.cost_usd,
                    o.latency_ms,
                    serde_json::to_string(&bare).unwrap()
                ],
            )
            .unwrap();
            for f in &o.feedback {
                conn.execute(
                    "INSERT INTO feedback (request_id, metric, score, timestamp_ms) VALUES (?1, ?2, ?3, 0)",
                    rusqlite::params![o.request_id, f.metric, f.score],
                )
                .unwrap();
            }
        }
    }
    let loaded = load_outcomes(&db).unwrap();
    assert_eq!(loaded, outcomes);
}

#[test]
fn load_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    let (routed, _) = routed_log(2, 3);
    write_jsonl(&routed, &bad);
    let mut f = std::fs::OpenOptions::new().append(true).open(&bad).unwrap();
    f.write_all(b"{\"not\": \"an outcome\"}\n").unwrap();
    let err = load_outcomes(&bad).unwrap_err().to_string();
    assert!(err.contains("bad.jsonl:3"), "{err}");
    let err = load_outcomes(&dir.path().join("log.csv")).unwrap_err();
    assert!(matches!(err, FromLogError::UnknownFormat { .. }));
    let err = load_outcomes(&dir.path().join("missing.db")).unwrap_err();
    assert!(matches!(err, FromLogError::Read { .. }), "{err}");
}

#[test]
fn merge_takes_the_union_of_models() {
    let (routed, _) = routed_log(100, 4);
    let (samples, _) = bandit_samples(&routed, &SampleConfig::default());
    let small = [ModelId::new("small"), ModelId::new("medium")];
    let a = bandit_training_set(&samples, &HashEmbedder, Some(&small), None).unwrap();
    let large = [ModelId::new("large")];
    let b = bandit_training_set(&samples, &HashEmbedder, Some(&large), None).unwrap();
    let merged = merge_training_sets(&a.set, &b.set).unwrap();
    assert_eq!(merged.models.len(), 3);
    assert_eq!(merged.len(), a.set.len() + b.set.len());
    assert!(merged.quality[..a.set.len()].iter().all(|r| r[2].is_none()));
    assert!(merged.quality[a.set.len()..]
        .iter()
        .all(|r| r[0].is_none() && r[1].is_none()));
}

#[test]
fn ope_pipeline_estimates_a_refitted_router() {
    let specs = entries();
    // Fit on one day's traffic, evaluate on the next: estimating on the fitting data would
    // reward the candidate for its own noise-fitting (winner's curse).
    let (train_log, _) = routed_log(1500, 5);
    let (train, _) = bandit_samples(&train_log, &SampleConfig::default());
    let bandit = bandit_training_set(&train, &HashEmbedder, None, None).unwrap();
    let candidate = fit_knn(&bandit.set, &KnnConfig { k: 20 }, None).unwrap();
    let (outcomes, topics) = routed_log(1500, 6);
    let (samples, _) = bandit_samples(&outcomes, &SampleConfig::default());

    let constraints = Constraints::default();
    let exploration = Exploration::Off;
    let setup = OpeSetup {
        catalog: &specs,
        candidate: &candidate,
        tasks: None,
        reward_model: RewardModel::Candidate,
        constraints: &constraints,
        // Quality first: a cent is worth a whole quality point.
        objective: Objective::Utility { lambda: 1.0 },
        exploration: &exploration,
        anchor_catalog: None,
    };
    let log = ope_steps(&samples, &HashEmbedder, &setup).unwrap();
    assert_eq!(log.steps.len(), 1500);
    assert_eq!(log.skipped, OpeSkipped::default());
    assert!(log
        .steps
        .iter()
        .all(|s| s.target_probs.iter().filter(|p| **p == 1.0).count() == 1));

    // The truth on these prompts: the candidate's choice's success probability.
    let true_value = log
        .steps
        .iter()
        .zip(&topics)
        .map(|(s, &t)| {
            s.target_probs
                .iter()
                .enumerate()
                .map(|(a, p)| p * truth(t, a))
                .sum::<f64>()
        })
        .sum::<f64>()
        / 1500.0;
    let report =
        evals::ope::evaluate_policy(&log.steps, &evals::ope::OpeConfig::default()).unwrap();
    println!("truth {true_value:.3}, report {report:#?}");
    // The refitted router learned the best model per topic (0.9 everywhere).
    assert!(true_value > 0.85, "truth {true_value}");
    // One seed: the interval coverage rates themselves are tested in evals::ope.
    for e in [report.reward.ips, report.reward.snips, report.reward.dr] {
        assert!((e.value - true_value).abs() < 0.05, "{e:?} vs {true_value}");
        assert!(
            e.ci_low <= true_value && true_value <= e.ci_high,
            "{e:?} vs {true_value}"
        );
    }
    // The logging router mostly served the cheap model: the candidate looks better.
    assert!(report.reward.dr.value > report.logged_reward.ci_high);
}

#[test]
fn ope_reroutes_each_row_under_its_logged_constraints() {
    let specs = entries();
    let (train_log, _) = routed_log(600, 7);
    let (train, _) = bandit_samples(&train_log, &SampleConfig::default());
    let bandit = bandit_training_set(&train, &HashEmbedder, None, None).unwrap();
    let candidate = fit_knn(&bandit.set, &KnnConfig { k: 20 }, None).unwrap();
    // Half the callers allowed only the small model; the rest logged nothing (older rows).
    let (mut outcomes, _) = routed_log(200, 8);
    let only_small = Constraints {
        candidates: Some(vec![ModelId::new("small")]),
        ..Constraints::default()
    };
    for o in outcomes.iter_mut().step_by(2) {
        o.constraints = Some(only_small.clone());
        o.objective = Some(Objective::Utility { lambda: 1.0 });
    }
    let jsonl = tempfile::tempdir().unwrap();
    let path = jsonl.path().join("log.jsonl");
    write_jsonl(&outcomes, &path);
    let reread = load_outcomes(&path).unwrap();
    assert_eq!(reread[0].constraints.as_ref(), Some(&only_small));
    assert_eq!(reread[1].constraints, None);

    let (samples, _) = bandit_samples(&reread, &SampleConfig::default());
    let exploration = Exploration::Off;
    let setup = OpeSetup {
        catalog: &specs,
        candidate: &candidate,
        tasks: None,
        reward_model: RewardModel::Candidate,
        constraints: &Constraints::default(),
        objective: Objective::Utility { lambda: 1.0 },
        exploration: &exploration,
        anchor_catalog: None,
    };
    let log = ope_steps(&samples, &HashEmbedder, &setup).unwrap();
    let by_id: std::collections::HashMap<&str, &evals::ope::LoggedStep> = log
        .request_ids
        .iter()
        .map(String::as_str)
        .zip(&log.steps)
        .collect();
    let mut unconstrained_not_small = 0;
    for (i, o) in reread.iter().enumerate() {
        let Some(step) = by_id.get(o.request_id.as_str()) else {
            continue;
        };
        if i % 2 == 0 {
            assert_eq!(step.target_probs, vec![1.0, 0.0, 0.0], "row {i}");
        } else if step.target_probs[0] < 1.0 {
            unconstrained_not_small += 1;
        }
    }
    // Without the allow-list the candidate sends most prompts elsewhere.
    assert!(unconstrained_not_small > 30, "{unconstrained_not_small}");
}

/// `model`'s answer to a request the routing policy did not decide, as the gateway logs it
/// (`gateway/src/http/chat.rs`): the client named `model` (`rule: None`), or a `[[rules]]` pin
/// sent an `auto` request to it. Either way the decision names the served model at
/// propensity 1 without the other candidates' estimates, and no constraints or objective are
/// logged.
fn pinned(i: usize, model: &str, rule: Option<&str>, template: &Outcome) -> Outcome {
    let mut o = outcome(
        i,
        &format!("topic{} pinned {i}", i % TOPICS),
        model,
        Some(1.0),
    );
    let mut decision = template.decision.clone().unwrap();
    decision.chosen = ModelId::new(model);
    decision.ranked.clear();
    decision.reason = router_core::DecisionReason::BestFeasible;
    decision.propensity = 1.0;
    o.decision = Some(decision);
    o.propensity = Some(1.0);
    o.cost_usd = Some(1e-3);
    if let Some(rule) = rule {
        o.requested_model = "auto".into();
        o.rule = Some(rule.into());
    }
    o
}

#[test]
fn pinned_requests_are_not_draws_of_the_routing_policy() {
    let specs = entries();
    let (train_log, _) = routed_log(600, 9);
    let (train, _) = bandit_samples(&train_log, &SampleConfig::default());
    let bandit = bandit_training_set(&train, &HashEmbedder, None, None).unwrap();
    let candidate = fit_knn(&bandit.set, &KnnConfig { k: 20 }, None).unwrap();
    let (routed, _) = routed_log(300, 10);
    let exploration = Exploration::Off;
    let setup = OpeSetup {
        catalog: &specs,
        candidate: &candidate,
        tasks: None,
        reward_model: RewardModel::Candidate,
        constraints: &Constraints::default(),
        objective: Objective::Utility { lambda: 1.0 },
        exploration: &exploration,
        anchor_catalog: None,
    };
    let (samples, _) = bandit_samples(&routed, &SampleConfig::default());
    let alone = ope_steps(&samples, &HashEmbedder, &setup).unwrap();
    assert_eq!(alone.steps.len(), 300);

    // Clients naming the expensive model, and a rule pinning `auto` requests to it, all
    // answered well: were they the policy's draws at propensity 1, they would pull every
    // estimate and the logged mean towards it.
    let mut mixed = routed.clone();
    for k in 0..40 {
        mixed.push(pinned(1000 + k, "large", None, &routed[0]));
        mixed.push(pinned(2000 + k, "large", Some("research"), &routed[0]));
    }
    // A restricting rule (allow or deny) leaves the choice to the router, which logs the
    // constraints it applied: that request stays a draw of the policy.
    let mut narrowed = routed[1].clone();
    narrowed.rule = Some("interns".into());
    narrowed.constraints = Some(Constraints::default());
    assert!(decided_by_router(&narrowed));
    assert!(!decided_by_router(&mixed[300]) && !decided_by_router(&mixed[301]));

    let (samples, skipped) = bandit_samples(&mixed, &SampleConfig::default());
    // Still training samples: the label is about the answer of the model that served.
    assert_eq!(samples.len(), 380, "{skipped}");
    for s in &samples[300..] {
        assert_eq!(
            (s.chosen.as_ref(), s.propensity),
            (None, 1.0),
            "{}",
            s.request_id
        );
        assert!(!s.is_on_router_choice());
    }
    let log = ope_steps(&samples, &HashEmbedder, &setup).unwrap();
    assert_eq!(log.skipped.not_router_choice, 80, "{}", log.skipped);
    assert_eq!(
        log.steps, alone.steps,
        "the pinned rows moved the estimates"
    );
    assert_eq!(log.request_ids, alone.request_ids);
}

#[test]
fn utility_steps_score_each_row_at_the_lambda_it_logged() {
    let specs = entries();
    let (train_log, _) = routed_log(600, 11);
    let (train, _) = bandit_samples(&train_log, &SampleConfig::default());
    let bandit = bandit_training_set(&train, &HashEmbedder, None, None).unwrap();
    let candidate = fit_knn(&bandit.set, &KnnConfig { k: 20 }, None).unwrap();
    // Half the rows were routed at λ = 100, the rest logged no objective (older rows).
    let (mut outcomes, _) = routed_log(100, 12);
    for o in outcomes.iter_mut().step_by(2) {
        o.objective = Some(Objective::Utility { lambda: 100.0 });
    }
    let (samples, _) = bandit_samples(&outcomes, &SampleConfig::default());
    let exploration = Exploration::Off;
    let setup = OpeSetup {
        catalog: &specs,
        candidate: &candidate,
        tasks: None,
        reward_model: RewardModel::Candidate,
        constraints: &Constraints::default(),
        objective: Objective::Utility { lambda: 2.0 },
        exploration: &exploration,
        anchor_catalog: None,
    };
    let log = ope_steps(&samples, &HashEmbedder, &setup).unwrap();
    assert_eq!(log.lambdas.len(), log.steps.len());
    let utility = log.utility_steps();
    for (i, ((step, u), lambda)) in log.steps.iter().zip(&utility).zip(&log.lambdas).enumerate() {
        let want = if i % 2 == 0 { 100.0 } else { 2.0 };
        assert_eq!(*lambda, want, "step {i}");
        assert!((u.reward - (step.reward - want * step.cost)).abs() < 1e-12);
        for ((r, c), ur) in step
            .reward_model
            .iter()
            .zip(&step.cost_model)
            .zip(&u.reward_model)
        {
            assert!((ur - (r - want * c)).abs() < 1e-12);
        }
        assert_eq!(
            (&u.target_probs, u.propensity, u.logged_action),
            (&step.target_probs, step.propensity, step.logged_action)
        );
    }
}

#[test]
fn issue_14_human_labels_win_over_judge_labels_when_sampling() {
    let (mut routed, _) = routed_log(3, 5);
    routed.truncate(3);
    for o in &mut routed {
        o.feedback.clear();
    }
    // Judge then human on the same metric: the human score is the reward.
    routed[0].feedback = vec![
        Feedback::judge("correct", 0.9),
        Feedback::human("correct", 0.1),
    ];
    // Only a judge label: it is the reward, like any feedback.
    routed[1].feedback = vec![Feedback::judge("correct", 0.7)];
    // No metric asked for: a human label's metric is preferred to the judge's.
    routed[2].feedback = vec![
        Feedback::judge("correct", 0.2),
        Feedback::human("thumbs_up", 1.0),
    ];
    let (by_metric, _) = bandit_samples(
        &routed[..2],
        &SampleConfig {
            metric: Some("correct".into()),
        },
    );
    let rewards: Vec<f64> = by_metric.iter().map(|s| s.reward).collect();
    assert_eq!(rewards, [0.1, 0.7]);
    let (_, counts) = bandit_samples(
        &routed[..2],
        &SampleConfig {
            metric: Some("correct".into()),
        },
    );
    assert_eq!(counts.judge_labelled, 1);
    assert!(counts
        .to_string()
        .ends_with("1 samples labelled by the judge"));
    let (first_metric, _) = bandit_samples(&routed[2..], &SampleConfig::default());
    assert_eq!(first_metric[0].reward, 1.0);
}

#[test]
fn issue_14_sqlite_feedback_source_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite");
    let (mut routed, _) = routed_log(2, 6);
    routed.truncate(1);
    routed[0].feedback = vec![Feedback::judge("correct", 0.6)];
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE outcomes (request_id TEXT PRIMARY KEY, timestamp_ms INTEGER NOT NULL,
                model TEXT, status TEXT NOT NULL, cost_usd REAL, latency_ms REAL NOT NULL,
                record TEXT NOT NULL);
             CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL,
                metric TEXT NOT NULL, score REAL NOT NULL, timestamp_ms INTEGER NOT NULL,
                source TEXT NOT NULL DEFAULT 'human');",
        )
        .unwrap();
        let o = &routed[0];
        let mut bare = o.clone();
        bare.feedback.clear();
        conn.execute(
            "INSERT INTO outcomes VALUES (?1, 0, NULL, 'ok', NULL, 1.0, ?2)",
            rusqlite::params![o.request_id, serde_json::to_string(&bare).unwrap()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO feedback (request_id, metric, score, timestamp_ms, source) VALUES (?1, 'correct', 0.6, 0, 'judge')",
            [&o.request_id],
        )
        .unwrap();
    }
    let loaded = load_outcomes(&db).unwrap();
    assert_eq!(loaded, routed);
    assert_eq!(loaded[0].feedback[0].source, FeedbackSource::Judge);
}

#[test]
fn answers_from_the_response_cache_are_not_training_samples() {
    let mut hit = outcome(0, "what is 2 + 2?", "gpt-4o-mini", Some(1.0));
    hit.cost_usd = Some(0.0);
    hit.cache_hit = Some(router_core::CacheHit {
        source_request_id: "req_source".into(),
        saved_usd: 0.002,
        similarity: None,
        coalesced: false,
    });
    let served = outcome(1, "what is 3 + 3?", "gpt-4o-mini", Some(1.0));
    let (samples, skipped) = bandit_samples(&[hit, served], &SampleConfig::default());
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].text, "what is 3 + 3?");
    assert_eq!((skipped.total, skipped.cached), (2, 1));
    assert!(
        skipped.to_string().contains("1 answered from the cache"),
        "{skipped}"
    );
}

fn replay_of(i: usize, source: &Outcome, score: f64, similarity: Option<f64>) -> Outcome {
    let mut hit = outcome(i, "what is 2 + 2?", "gpt-4o-mini", Some(score));
    hit.cost_usd = Some(0.0);
    hit.cache_hit = Some(router_core::CacheHit {
        source_request_id: source.request_id.clone(),
        saved_usd: 0.002,
        similarity,
        coalesced: false,
    });
    hit
}

#[test]
fn a_label_on_an_exact_replay_counts_for_the_request_that_made_the_answer() {
    // The request that made the answer has no label; a client marked an exact replay wrong.
    let source = outcome(0, "what is 2 + 2?", "gpt-4o-mini", None);
    let replay = replay_of(1, &source, 0.0, None);
    let (samples, skipped) = bandit_samples(&[source.clone(), replay], &SampleConfig::default());
    assert_eq!(samples.len(), 1);
    assert_eq!(
        (samples[0].request_id.as_str(), samples[0].reward),
        (source.request_id.as_str(), 0.0)
    );
    assert_eq!((skipped.cached, skipped.replay_labelled), (1, 1));
    assert!(skipped
        .to_string()
        .contains("1 samples labelled through a cached replay"));

    // A reworded request's label is about another question: not inherited.
    let semantic = replay_of(1, &source, 0.0, Some(0.93));
    let (samples, skipped) = bandit_samples(&[source.clone(), semantic], &SampleConfig::default());
    assert!(samples.is_empty());
    assert_eq!(skipped.no_feedback, 1);

    // A client's label on the replay wins over the judge's on the request, as on one row.
    let mut judged = source.clone();
    judged.feedback = vec![Feedback::judge("correct", 0.9)];
    let replay = replay_of(1, &judged, 0.2, None);
    let (samples, skipped) = bandit_samples(&[judged.clone(), replay], &SampleConfig::default());
    assert_eq!(samples[0].reward, 0.2);
    assert_eq!((skipped.replay_labelled, skipped.judge_labelled), (1, 0));
    // Two clients' labels on the same answer: the later one (a replay's comes after the
    // request that made the answer), as for a label posted twice.
    let mut labelled = source;
    labelled.feedback = vec![Feedback::human("correct", 1.0)];
    let replay = replay_of(1, &labelled, 0.0, None);
    let (samples, _) = bandit_samples(&[labelled.clone(), replay], &SampleConfig::default());
    assert_eq!(samples[0].reward, 0.0);
    // A replay without a label leaves the request's own.
    let mut bare = replay_of(1, &labelled, 0.0, None);
    bare.feedback.clear();
    let (samples, skipped) = bandit_samples(&[labelled, bare], &SampleConfig::default());
    assert_eq!((samples[0].reward, skipped.replay_labelled), (1.0, 0));
}

fn in_arm(mut o: Outcome, experiment: &str, arm: &str) -> Outcome {
    o.arm = Some(router_core::ArmAssignment {
        experiment: experiment.into(),
        arm: arm.into(),
        unit: "user".into(),
    });
    o
}

#[test]
fn arm_rows_read_one_experiment_and_default_to_the_newest() {
    let log = vec![
        in_arm(outcome(0, "a", "m", Some(1.0)), "old", "control"),
        outcome(1, "b", "m", Some(1.0)),
        in_arm(outcome(2, "c", "m", Some(0.5)), "new", "control"),
        in_arm(outcome(3, "d", "m", None), "new", "candidate"),
        in_arm(outcome(4, "e", "m", Some(7.0)), "new", "candidate"),
    ];
    let config = SampleConfig::default();
    let rows = arm_rows(&log, None, &config).unwrap();
    assert_eq!(rows.experiment, "new");
    assert_eq!((rows.outside, rows.other_experiments), (1, 1));
    assert_eq!(rows.observations.len(), 3);
    assert_eq!(rows.observations[0].quality, Some(0.5));
    // No label, and a label outside [0, 1]: both unlabelled, the bad one counted.
    assert_eq!(rows.observations[1].quality, None);
    assert_eq!(rows.observations[2].quality, None);
    assert_eq!(rows.bad_labels, 1);
    let old = arm_rows(&log, Some("old"), &config).unwrap();
    assert_eq!(old.observations.len(), 1);
    assert!(arm_rows(&log[1..2], None, &config).is_none());
    // The trade-offs the experiment's rows were routed under, each once, ascending.
    assert!(rows.lambdas.is_empty());
    let mut logged = log.clone();
    for (o, lambda) in logged[2..].iter_mut().zip([100.0, 5.0, 100.0]) {
        o.objective = Some(Objective::Utility { lambda });
    }
    logged[0].objective = Some(Objective::Cheapest);
    assert_eq!(
        arm_rows(&logged, None, &config).unwrap().lambdas,
        [5.0, 100.0]
    );
    assert_eq!(
        arm_rows(&logged, Some("old"), &config).unwrap().lambdas,
        [0.0]
    );
}

/// The kNN refit's routing, with every estimate 0.3 too high: the same choices, a flattering
/// reward model.
struct Flattering<'a>(&'a dyn router_core::QualityPredictor);

impl router_core::QualityPredictor for Flattering<'_> {
    fn models(&self) -> &[ModelId] {
        self.0.models()
    }
    fn predict(&self, embedding: &[f32]) -> Vec<router_core::ModelEstimate> {
        self.0
            .predict(embedding)
            .into_iter()
            .map(|mut e| {
                e.quality = (e.quality + 0.3).min(1.0);
                e
            })
            .collect()
    }
}

#[test]
fn a_cross_fitted_reward_model_learns_from_the_log_not_from_the_candidate() {
    let specs = entries();
    let (train_log, _) = routed_log(1500, 5);
    let (train, _) = bandit_samples(&train_log, &SampleConfig::default());
    let bandit = bandit_training_set(&train, &HashEmbedder, None, None).unwrap();
    let knn = fit_knn(&bandit.set, &KnnConfig { k: 20 }, None).unwrap();
    let candidate = Flattering(&knn);
    let (outcomes, topics) = routed_log(1500, 6);
    let (samples, _) = bandit_samples(&outcomes, &SampleConfig::default());
    let constraints = Constraints::default();
    let exploration = Exploration::Off;
    let setup = |reward_model| OpeSetup {
        catalog: &specs,
        candidate: &candidate,
        tasks: None,
        reward_model,
        constraints: &constraints,
        objective: Objective::Utility { lambda: 1.0 },
        exploration: &exploration,
        anchor_catalog: None,
    };
    let dr = |reward_model| {
        let log = ope_steps(&samples, &HashEmbedder, &setup(reward_model)).unwrap();
        let truth = log
            .steps
            .iter()
            .zip(&topics)
            .map(|(s, &t)| (0..3).map(|a| s.target_probs[a] * truth(t, a)).sum::<f64>())
            .sum::<f64>()
            / log.steps.len() as f64;
        let report =
            evals::ope::evaluate_policy(&log.steps, &evals::ope::OpeConfig::default()).unwrap();
        (report.reward.dr, truth, log)
    };
    let (own, true_value, own_log) = dr(RewardModel::Candidate);
    let (fitted, _, fitted_log) = dr(RewardModel::CrossFitted(CrossFit::default()));
    // Same steps and choices; only the reward model differs.
    assert_eq!(own_log.request_ids, fitted_log.request_ids);
    assert!(own_log.steps[0].reward_model.iter().all(|q| *q >= 0.6));
    // The cross-fitted model learned each topic's models from the log: close to the truth.
    let (t0, first) = (topics[0], &fitted_log.steps[0].reward_model);
    for (a, q) in first.iter().enumerate() {
        assert!((q - truth(t0, a)).abs() < 0.15, "topic {t0}: {first:?}");
    }
    for e in [own, fitted] {
        assert!(
            e.ci_low <= true_value && true_value <= e.ci_high,
            "{e:?} vs {true_value}"
        );
    }
    // Every action is logged with a known propensity, so both are unbiased here; the
    // candidate's flattery shows only where the log does not cover its choices (the loop's
    // reports measure that).
    assert!(
        (fitted.value - true_value).abs() < 0.03,
        "{fitted:?} vs {true_value}"
    );
}

/// The modelled cost of every action is the policy's own pricing of the logged request:
/// each of its `n` answers billed, output capped at its limit. Before, a five-answer request's
/// alternatives were priced as one answer while its logged cost counted five.
#[test]
fn modelled_costs_count_the_logged_answers_and_output_limit() {
    let specs = entries();
    let (train_log, _) = routed_log(300, 11);
    let (train, _) = bandit_samples(&train_log, &SampleConfig::default());
    let bandit = bandit_training_set(&train, &HashEmbedder, None, None).unwrap();
    let candidate = fit_knn(&bandit.set, &KnnConfig { k: 20 }, None).unwrap();
    let exploration = Exploration::Off;
    let costs = |constraints: Option<Constraints>| {
        let (mut outcomes, _) = routed_log(40, 12);
        for o in &mut outcomes {
            o.constraints = constraints.clone();
        }
        let (samples, _) = bandit_samples(&outcomes, &SampleConfig::default());
        let setup = OpeSetup {
            catalog: &specs,
            candidate: &candidate,
            tasks: None,
            reward_model: RewardModel::Candidate,
            constraints: &Constraints::default(),
            objective: Objective::Utility { lambda: 2.0 },
            exploration: &exploration,
            anchor_catalog: None,
        };
        let log = ope_steps(&samples, &HashEmbedder, &setup).unwrap();
        log.steps
            .iter()
            .map(|s| s.cost_model.clone())
            .collect::<Vec<_>>()
    };
    let one = costs(Some(Constraints::default()));
    let five = costs(Some(Constraints {
        choices: 5,
        ..Constraints::default()
    }));
    let capped = costs(Some(Constraints {
        output_limit: Some(1),
        ..Constraints::default()
    }));
    assert!(!one.is_empty());
    for ((a, b), c) in one
        .iter()
        .flatten()
        .zip(five.iter().flatten())
        .zip(capped.iter().flatten())
    {
        assert!(b > a, "five answers cost more than one: {b} vs {a}");
        assert!(c < a, "one output token costs less: {c} vs {a}");
    }
}
