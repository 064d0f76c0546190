#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use classifier::predictors::PredictorKind;
use datasets::{Cell, OutcomeTable, PromptRow};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use router_core::{
    BoxError, Constraints, Embedder, Exploration, Feedback, LatencyPrior, ModelId, ModelSpec,
    Objective, Outcome, OutcomeStatus, PromptRecord, ProviderId, OUTCOME_SCHEMA_VERSION,
};

use super::*;
use crate::experiment::PredictorConfigs;
use crate::from_log::{bandit_samples, SampleConfig};
use crate::replay::ReplayIndex;

const DIM: usize = 6;

/// Prompts start with their topic word; topics map to orthogonal directions.
struct TopicEmbedder {
    calls: AtomicUsize,
}

impl Embedder for TopicEmbedder {
    fn dim(&self) -> usize {
        DIM
    }
    fn fingerprint(&self) -> &str {
        "topic-embedder"
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BoxError> {
        self.calls.fetch_add(texts.len(), Ordering::SeqCst);
        Ok(texts
            .iter()
            .map(|t| {
                let topic: usize = t[1..2].parse().unwrap_or(0);
                let mut v = vec![0.0f32; DIM];
                v[topic % DIM] = 1.0;
                v
            })
            .collect())
    }
}

fn spec(id: &str, usd: f64) -> ModelSpec {
    ModelSpec {
        id: ModelId::new(id),
        provider: ProviderId::new("p"),
        input_usd_per_mtok: usd,
        output_usd_per_mtok: usd,
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
    }
}

/// `cheap` solves topics 0–2, `strong` everything; topic 3 rows miss `cheap`'s cell.
fn data(n: usize) -> LoopData {
    let mut t = OutcomeTable::new("synthetic", vec!["cheap".into(), "strong".into()]);
    for i in 0..n {
        let topic = i % 6;
        let cell = |score: f64| Cell {
            input_tokens: Some(100),
            output_tokens: Some(100),
            ..Cell::from_score(score)
        };
        t.rows.push(PromptRow {
            id: format!("p{i}"),
            text: format!("t{topic} question {i}"),
            task: None,
            split: None,
            cells: vec![
                (topic != 3).then(|| cell(if topic < 3 { 1.0 } else { 0.0 })),
                Some(cell(1.0)),
            ],
        });
    }
    let index = ReplayIndex::new(t, &|_| None);
    let entries = [spec("cheap", 1.0), spec("strong", 30.0)]
        .into_iter()
        .map(|s| models::CatalogEntry::from_spec(s, 0.5, 100.0))
        .collect();
    LoopData::new(index, entries).unwrap()
}

#[test]
fn prompts_need_every_models_score_and_follow_the_seed() {
    let d = data(60);
    let a = d.prompts(1, 100, false);
    assert_eq!(a.len(), 50, "topic-3 rows lack `cheap`");
    assert!(a.iter().all(|&r| r % 6 != 3));
    assert_eq!(a, d.prompts(1, 100, false));
    assert_ne!(a, d.prompts(2, 100, false));
    assert_eq!(d.prompts(1, 7, false), a[..7].to_vec());
    // No row carries a split here: the test split is empty.
    assert!(d.prompts(1, 100, true).is_empty());
    let mask = LoopData::holdout_mask(40, 0.25, 9);
    assert_eq!(mask.iter().filter(|h| **h).count(), 10);
    assert_eq!(mask, LoopData::holdout_mask(40, 0.25, 9));
    assert_eq!(LoopData::holdout_mask(3, 0.0, 9), vec![false; 3]);
    assert!(LoopData::new(ReplayIndex::new(OutcomeTable::default(), &|_| None), vec![]).is_err());
}

#[test]
fn labels_are_drawn_among_the_requests_not_held_out() {
    // n = 100, a quarter held out, a fifth of the rest labelled: 15 labels to train on in
    // every round, whatever the seed, on top of the 25 held-out requests (always labelled).
    assert_eq!(LoopData::trainable_labels(100, 0.25, 0.2), 15);
    for seed in 0..50 {
        let held = LoopData::holdout_mask(100, 0.25, seed);
        let labelled = LoopData::label_mask(&held, 0.2, seed ^ 0x001a_be15);
        assert!(
            held.iter().zip(&labelled).all(|(h, l)| !h || *l),
            "seed {seed}"
        );
        let trainable = labelled
            .iter()
            .zip(&held)
            .filter(|(l, h)| **l && !**h)
            .count();
        assert_eq!(trainable, 15, "seed {seed}");
        assert_eq!(
            labelled,
            LoopData::label_mask(&held, 0.2, seed ^ 0x001a_be15)
        );
    }
    // The smallest round `switchyard loop` accepts with these shares still has one.
    assert_eq!(LoopData::trainable_labels(4, 0.25, 0.25), 1);
    for seed in 0..50 {
        let held = LoopData::holdout_mask(4, 0.25, seed);
        let labelled = LoopData::label_mask(&held, 0.25, seed);
        assert_eq!(
            labelled
                .iter()
                .zip(&held)
                .filter(|(l, h)| **l && !**h)
                .count(),
            1
        );
    }
    // A share of 1 labels everything; 0 only the held-out requests.
    let held = LoopData::holdout_mask(10, 0.3, 1);
    assert_eq!(LoopData::label_mask(&held, 1.0, 2), vec![true; 10]);
    assert_eq!(LoopData::label_mask(&held, 0.0, 2), held);
    assert_eq!(LoopData::trainable_labels(10, 0.6, 0.1), 0);
}

#[test]
fn round_stats_score_served_answers_against_every_model() {
    let d = data(6);
    let served = |row: usize, model: Option<&str>, held_out: bool| Served {
        row,
        request_id: format!("r{row}"),
        model: model.map(ModelId::new),
        cost_usd: 0.01,
        held_out,
    };
    // Row 4 (topic 4): cheap scores 0. Row 0: both 1. Row 5 fails.
    let s = d.round_stats(
        2,
        "kNN",
        &[
            served(0, Some("cheap"), false),
            served(4, Some("cheap"), true),
            served(5, None, false),
        ],
    );
    assert_eq!((s.round, s.requests, s.failed, s.held_out), (2, 3, 1, 1));
    assert!((s.quality - 1.0 / 3.0).abs() < 1e-12);
    assert!((s.oracle - 1.0).abs() < 1e-12);
    assert!((s.regret - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(s.best_single_model, "strong");
    assert!((s.best_single - 1.0).abs() < 1e-12);
    assert!((s.shares["cheap"] - 2.0 / 3.0).abs() < 1e-12);
    // The oracle takes the cheap model where it is as good: 200 tokens at $1/M on row 0,
    // $30/M on rows 4 and 5.
    let expected = (200.0 * 1.0 + 2.0 * 200.0 * 30.0) / 1e6 / 3.0;
    assert!(
        (s.oracle_cost - expected).abs() < 1e-12,
        "{}",
        s.oracle_cost
    );
}

#[test]
fn memo_embeds_each_text_once() {
    let inner = TopicEmbedder {
        calls: AtomicUsize::new(0),
    };
    let memo = MemoEmbedder::new(&inner);
    let a = memo.embed(&["t1 a", "t2 b", "t1 a"]).unwrap();
    let b = memo.embed(&["t2 b", "t4 c"]).unwrap();
    assert_eq!(inner.calls.load(Ordering::SeqCst), 3);
    assert_eq!(a[0], a[2]);
    assert_eq!(a[1], b[0]);
    assert_eq!(memo.len(), 3);
    assert_eq!(memo.fingerprint(), "topic-embedder");
}

/// A uniformly random logging policy over both models, as the gateway would log it.
fn log(d: &LoopData, rows: &[usize], seed: u64) -> (Vec<Outcome>, HashMap<String, usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ids = HashMap::new();
    let outcomes = rows
        .iter()
        .enumerate()
        .map(|(i, &row)| {
            let a = rng.gen_range(0..2);
            let request_id = format!("req{seed}-{i}");
            ids.insert(request_id.clone(), row);
            Outcome {
                schema_version: OUTCOME_SCHEMA_VERSION,
                request_id,
                timestamp_ms: i as u64,
                prompt: PromptRecord::Full {
                    text: d.index.table().rows[row].text.clone(),
                },
                requested_model: "auto".into(),
                decision: None,
                constraints: Some(Constraints {
                    candidates: Some(d.models.clone()),
                    ..Constraints::default()
                }),
                objective: Some(Objective::Utility { lambda: 100.0 }),
                propensity: Some(0.5),
                model: Some(d.models[a].clone()),
                upstream_model: None,
                status: OutcomeStatus::Ok,
                attempts: Vec::new(),
                ttft_ms: None,
                latency_ms: 1.0,
                input_tokens: Some(100),
                output_tokens: Some(100),
                cost_usd: d.cost(row, a),
                feedback: vec![Feedback::human("correct", d.score(row, a).unwrap())],
                key_id: None,
                cache_hit: None,
                guardrails: None,
                arm: None,
                rule: None,
            }
        })
        .collect();
    (outcomes, ids)
}

#[test]
fn refit_learns_from_the_log_and_its_estimate_matches_the_replayed_truth() {
    let d = data(1200);
    let rows = d.prompts(3, 1000, false);
    let (outcomes, ids) = log(&d, &rows, 3);
    // `decision: None` marks a named-model request; mark every row as the router's own draw.
    let mut outcomes = outcomes;
    for o in &mut outcomes {
        let chosen = o.model.clone().unwrap();
        o.decision = Some(router_core::RouteDecision {
            chosen,
            ranked: Vec::new(),
            reason: router_core::DecisionReason::Exploration,
            propensity: 0.5,
            tasks: None,
            difficulty: None,
            routing: None,
            tie_break: None,
            input_tokens: None,
        });
    }
    let (samples, _) = bandit_samples(&outcomes, &SampleConfig::default());
    assert_eq!(samples.len(), 1000);
    let held: HashSet<String> = samples
        .iter()
        .skip(600)
        .map(|s| s.request_id.clone())
        .collect();
    let embedder = TopicEmbedder {
        calls: AtomicUsize::new(0),
    };
    let config = RefitConfig {
        kind: PredictorKind::Knn,
        configs: PredictorConfigs::default(),
        seed: 0,
        encoder: None,
        adapter: None,
        task_priors: None,
    };
    let fitted = refit(&samples, &held, &d.models, &embedder, &config, None).unwrap();
    // Warm-starting from an artifact of another encoder is refused.
    let other = TopicEmbedder {
        calls: AtomicUsize::new(0),
    };
    let mut foreign = fitted.artifact.clone();
    foreign.manifest_mut().encoder_sha256 = "another-encoder".into();
    let err = refit(&samples, &held, &d.models, &other, &config, Some(&foreign))
        .err()
        .unwrap();
    assert!(err.to_string().contains("another-encoder"), "{err}");
    // From its own kind and encoder, the warm refit keeps the artifact's points and adds these.
    let warm = refit(
        &samples,
        &held,
        &d.models,
        &embedder,
        &config,
        Some(&fitted.artifact),
    )
    .unwrap();
    assert_eq!(warm.artifact.manifest().kind, PredictorKind::Knn);
    assert_eq!(fitted.held_out, 400);
    assert_eq!(fitted.labelled_cells, 600);
    assert_eq!(fitted.artifact.manifest().encoder_sha256, "topic-embedder");

    let held_samples: Vec<_> = samples
        .iter()
        .filter(|s| held.contains(&s.request_id))
        .cloned()
        .collect();
    let exploration = Exploration::Off;
    let check = EstimateCheck {
        candidate: &fitted.artifact,
        tasks: None,
        objective: Objective::Utility { lambda: 100.0 },
        exploration: &exploration,
        clip: None,
        gate: Some(evals::ope::GateEstimator::Snips),
        reward_model: crate::from_log::RewardModel::Candidate,
    };
    let c = check_estimate(&d, &held_samples, &ids, &embedder, &check)
        .unwrap()
        .unwrap();
    assert_eq!(c.n, 400);
    // The refit learned that cheap is as good on topics 0–2 and useless on 4–5: it routes
    // everything right, so the truth is 1 and the logging policy's mean is lower.
    assert!((c.truth_quality - 1.0).abs() < 1e-9, "{}", c.truth_quality);
    assert!(c.report.logged_reward.value < 0.9);
    let (ips, snips, dr) = c.covered();
    assert!(ips && snips && dr, "{c:#?}");
    // λ = 100 per USD: the perfect router also costs less than uniform logging, so it passes.
    let g = c.gate.unwrap();
    assert!(g.pass, "{g:?}");
    assert_eq!(g.lambda, 100.0);
    // Cost truth: cheap on 3/5 of the topics, strong on 2/5, 200 tokens each.
    let expected_cost = (0.6 * 200.0 + 0.4 * 200.0 * 30.0) / 1e6;
    assert!(
        (c.truth_cost - expected_cost).abs() < 2e-4,
        "{}",
        c.truth_cost
    );

    let report = LoopReport {
        settings: LoopSettings {
            data: "synthetic".into(),
            models: vec!["cheap".into(), "strong".into()],
            per_round: 1000,
            holdout: 0.4,
            label_share: 1.0,
            exploration: "uniform".into(),
            predictor: "knn".into(),
            start: "uniform".into(),
            seed: 3,
            gate: "snips".into(),
            reward_model: "cross-fit".into(),
            lambda: 100.0,
        },
        rounds: vec![
            d.round_stats(0, "uniform", &[]),
            d.round_stats(1, "kNN", &[]),
        ],
        checks: vec![None, Some(c)],
    };
    let md = report.to_markdown();
    assert!(md.contains("| 1 | 400 | "), "{md}");
    assert!(md.contains("| 1.000 | "), "{md}");
    let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    assert_eq!(json["checks"][1]["n"], 400);
    assert!(report.points()[1].truth.is_some());
}
