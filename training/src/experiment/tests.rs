use classifier::predictors::PredictorKind;
use datasets::{Cell, OutcomeTable, PromptRow, Split};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

/// Two task families on two directions of the plane (plus noise in 6 more dimensions): the
/// cheap model is right on `easy`, the expensive one on both. Every fifth row lacks the cheap
/// model's cell; a quarter of the pairs of rows are the source's test split.
pub(crate) fn table_and_embeddings(n: usize) -> (OutcomeTable, Vec<Vec<f32>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut table = OutcomeTable::new("synthetic", vec!["cheap".into(), "strong".into()]);
    let mut x = Vec::new();
    for i in 0..n {
        let easy = i % 2 == 0;
        let mut v: Vec<f32> = (0..8).map(|_| rng.gen_range(-0.2..0.2)).collect();
        v[usize::from(!easy)] += 1.0;
        let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        x.push(v.iter().map(|a| a / norm).collect());
        let cell = |score: f64, cost: f64| Cell {
            cost_usd: Some(cost),
            output_tokens: Some(10),
            ..Cell::from_score(score)
        };
        let cheap = (i % 5 != 4).then(|| cell(if easy { 1.0 } else { 0.0 }, 0.001));
        table.rows.push(PromptRow {
            id: format!("p{i}"),
            text: format!("prompt number {i}"),
            task: Some(if easy { "easy/a".into() } else { "hard".into() }),
            split: Some(if (i / 2) % 4 < 3 {
                Split::Train
            } else {
                Split::Test
            }),
            cells: vec![cheap, Some(cell(1.0, 0.01))],
        });
    }
    (table, x)
}

fn data(n: usize) -> ExperimentData {
    let (table, x) = table_and_embeddings(n);
    ExperimentData::from_table(&table, x, &|_| None).unwrap()
}

#[test]
fn random_split_is_seeded_disjoint_and_tests_only_complete_rows() {
    let d = data(100);
    let a = random_split(&d, 0.2, 1);
    assert_eq!(a, random_split(&d, 0.2, 1));
    assert_ne!(a.test, random_split(&d, 0.2, 2).test);
    assert_eq!(a.train.len(), 80);
    assert_eq!(a.test.len() + a.incomplete_dropped, 20);
    assert!(a
        .test
        .iter()
        .all(|&i| d.is_complete(i) && !a.train.contains(&i)));
}

#[test]
fn own_split_follows_the_source_and_fails_without_one() {
    let mut d = data(40);
    let f = own_split(&d).unwrap();
    assert!(f.train.iter().all(|&i| (i / 2) % 4 < 3));
    assert!(f.test.iter().all(|&i| (i / 2) % 4 == 3));
    d.splits.iter_mut().for_each(|s| *s = None);
    let e = own_split(&d).unwrap_err().to_string();
    assert!(e.contains("--split random"), "{e}");
}

#[test]
fn leave_one_task_out_holds_out_each_family() {
    let d = data(40);
    let folds = loto_splits(&d, None).unwrap();
    let labels: Vec<&str> = folds.iter().map(|f| f.label.as_str()).collect();
    assert_eq!(labels, ["easy", "hard"]);
    for f in &folds {
        assert!(f
            .test
            .iter()
            .all(|&i| d.task_family(i) == Some(f.label.as_str())));
        assert!(f
            .train
            .iter()
            .all(|&i| d.task_family(i) != Some(f.label.as_str())));
    }
    assert_eq!(loto_splits(&d, Some("hard")).unwrap().len(), 1);
    assert!(loto_splits(&d, Some("gpqa")).is_err());
}

/// Labels that differ only in case (`Hard`, `hard`: sources merged or labelled by hand) are
/// one task: leave-one-task-out must not train on the held-out task under its other spelling.
#[test]
fn task_labels_differing_in_case_are_one_family() {
    let (mut table, x) = table_and_embeddings(40);
    for (i, row) in table.rows.iter_mut().enumerate() {
        if row.task.as_deref() == Some("hard") && i % 4 == 1 {
            row.task = Some("Hard".into());
        }
    }
    let d = ExperimentData::from_table(&table, x, &|_| None).unwrap();
    let folds = loto_splits(&d, None).unwrap();
    let labels: Vec<&str> = folds.iter().map(|f| f.label.as_str()).collect();
    assert_eq!(labels, ["easy", "hard"]);
    assert_eq!(folds[1].test.len() + folds[1].incomplete_dropped, 20);
    assert_eq!(loto_splits(&d, Some("HARD")).unwrap().len(), 1);
}

#[test]
fn decontamination_drops_near_duplicates_only() {
    let x = vec![
        vec![1.0, 0.0],
        vec![0.0, 1.0],
        vec![0.999, 0.0447],
        vec![0.6, 0.8],
    ];
    let (kept, dropped) = decontaminate(&x, &[0, 1], &[2, 3], 0.95);
    assert_eq!((kept, dropped), (vec![3], 1));
    let (kept, dropped) = decontaminate(&x, &[0, 1], &[2, 3], 1.01);
    assert_eq!((kept, dropped), (vec![2, 3], 0));
}

#[test]
fn incomplete_rows_train_but_are_never_tested() {
    let d = data(20);
    assert!(!d.is_complete(4));
    let set = d.training_set(&[4]);
    assert_eq!(set.quality[0], vec![None, Some(1.0)]);
    assert!(d.eval_set(&[4]).is_err());
    assert!(d.eval_set(&[0, 1]).is_ok());
}

/// Data without costs leaves every row incomplete: the error says so per model and names the
/// fix, instead of only "0 test prompts left (after N incomplete …)".
#[test]
fn a_fold_left_empty_by_missing_costs_says_which_and_how_to_fix_it() {
    let mut d = data(40);
    for row in &mut d.cost {
        row[0] = None;
    }
    let config = ExperimentConfig {
        predictors: vec![PredictorKind::Knn],
        seeds: vec![0],
        ..ExperimentConfig::default()
    };
    let err = run(&d, &config, None).unwrap_err().to_string();
    let model = d.models[0].as_str();
    assert!(
        err.contains(&format!("rows without a cost: {model} (40)")) && err.contains("--price"),
        "{err}"
    );
}

/// Test prompts that all have a copy among the training prompts (sources that share
/// prompts) are all dropped as near-duplicates: the error names that cause and the flag, not
/// missing cells the test never lacked.
#[test]
fn a_fold_left_empty_by_near_copies_says_so() {
    let mut d = data(40);
    let first = d.x[0].clone();
    for row in &mut d.x {
        row.clone_from(&first);
    }
    // Every cell known: nothing is missing but distinct prompts.
    for cell in d.quality.iter_mut().chain(d.cost.iter_mut()).flatten() {
        cell.get_or_insert(0.5);
    }
    let config = ExperimentConfig {
        predictors: vec![PredictorKind::Knn],
        seeds: vec![0],
        ..ExperimentConfig::default()
    };
    let err = run(&d, &config, None).unwrap_err().to_string();
    assert!(
        err.contains("near-duplicates are test prompts with a copy")
            && err.contains("--no-decontaminate")
            && !err.contains("rows without"),
        "{err}"
    );
}

#[test]
fn knn_routes_the_planted_split_better_than_the_zero_router() {
    let d = data(200);
    let config = ExperimentConfig {
        predictors: vec![PredictorKind::Knn],
        split: SplitKind::Own,
        seeds: vec![0, 1],
        // The planted clusters are tight: every test prompt has a near-duplicate.
        decontaminate: None,
        ..ExperimentConfig::default()
    };
    let mut calls = 0;
    let mut count = |_: &Progress| calls += 1;
    let report = run(&d, &config, Some(&mut count)).unwrap();
    assert!(calls > 0);
    assert_eq!(report.runs.len(), 2);
    assert_eq!(report.cost_model, CostModel::TrainMean);
    let rep = &report.runs[0].report;
    let knn = &rep.routers[0];
    assert!(
        knn.aiq > rep.zero_router.aiq + 0.05,
        "{} vs {}",
        knn.aiq,
        rep.zero_router.aiq
    );
    let apgr = knn.routellm.as_ref().map(|m| m.apgr).unwrap();
    // Half the prompts need the strong model: 0.75 is the best any router can do.
    assert!(apgr > 0.7, "APGR {apgr}");
    // The per-task rule is scored next to the learned router; here the task says everything.
    let rule = rep
        .routers
        .iter()
        .find(|r| r.name == PER_TASK_LABEL)
        .unwrap();
    assert!(rule.aiq > rep.zero_router.aiq + 0.05);
    // Paired intervals: knn vs zero above 0, per run and combined over the seeds.
    let vs_zero = &rep.paired_vs_zero[0];
    assert_eq!(vs_zero.router, "knn");
    assert!(vs_zero.above_zero(), "{vs_zero:?}");
    assert_eq!(
        report.runs[0].paired_vs_per_task[0].baseline,
        PER_TASK_LABEL
    );
    assert_eq!(report.folds.len(), 1);
    let combined = &report.folds[0].combined;
    let knn_zero = combined
        .iter()
        .find(|d| d.router == "knn" && d.baseline == evals::ZERO_ROUTER_LABEL)
        .unwrap();
    assert!(knn_zero.above_zero() && knn_zero.low <= knn_zero.delta);
    // A router that knows the planted split keeps its gain once cross-fitted.
    let knn_zero_cf = report.folds[0]
        .combined_cross_fit
        .iter()
        .find(|d| d.router == "knn" && d.baseline == evals::ZERO_ROUTER_LABEL)
        .unwrap();
    assert!(knn_zero_cf.above_zero(), "{knn_zero_cf:?}");
    assert!(report.to_markdown().contains("cross-fitted AIQ"));
    assert!(knn.calibration.as_ref().is_some_and(|c| c.ece < 0.2));
    let md = report.to_markdown();
    assert!(md.contains("| knn |"), "{md}");
    assert!(md.contains("per-task rule"), "{md}");
    assert!(md.contains("ECE"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    assert_eq!(json["runs"][0]["report"]["schema_version"], 1);
    assert_eq!(json["schema_version"], EXPERIMENT_SCHEMA_VERSION);
    assert!(json["folds"][0]["combined"].is_array());
}

#[test]
fn per_task_rule_and_fixed_policy_are_training_means() {
    let d = data(40);
    let train: Vec<usize> = (0..30).collect();
    let test = [30, 31];
    let rule = per_task_scores(&d, &train, &test);
    // Row 30 is `easy` (cheap right), row 31 `hard` (cheap wrong); strong is always right.
    assert_eq!(rule.quality[0], vec![1.0, 1.0]);
    assert_eq!(rule.quality[1], vec![0.0, 1.0]);
    assert!((rule.cost[0][0] - 0.001).abs() < 1e-12 && (rule.cost[1][1] - 0.01).abs() < 1e-12);
    let fixed = fixed_policy_scores(&d, &train, &test);
    assert_eq!(fixed.quality[0], fixed.quality[1]);
    assert!(
        (fixed.quality[0][0] - 0.5).abs() < 0.1,
        "{:?}",
        fixed.quality[0]
    );
}

#[test]
fn source_split_trains_on_the_other_sources_over_shared_models() {
    let mut d = data(80);
    d.sources = (0..d.len())
        .map(|i| {
            Some(if i < 40 {
                "a".to_owned()
            } else {
                "b".to_owned()
            })
        })
        .collect();
    let folds = source_splits(&d, None).unwrap();
    assert_eq!(folds.len(), 2);
    for (sub, f) in &folds {
        assert_eq!(sub.models.len(), 2);
        assert!(f
            .test
            .iter()
            .all(|&i| sub.sources[i].as_deref() == Some(f.label.as_str())));
        assert!(f
            .train
            .iter()
            .all(|&i| sub.sources[i].as_deref() != Some(f.label.as_str())));
    }
    let config = ExperimentConfig {
        predictors: vec![PredictorKind::Knn],
        split: SplitKind::Source,
        seeds: vec![0],
        decontaminate: None,
        ..ExperimentConfig::default()
    };
    let report = run(&d, &config, None).unwrap();
    let labels: Vec<&str> = report.folds.iter().map(|f| f.fold.as_str()).collect();
    assert_eq!(labels, ["a", "b"]);
    assert_eq!(report.cost_model, CostModel::TrainMean);

    // A third model, unpriced, that only source `a` ran: no fold keeps it, and every fold's
    // models are priced, so the report must say cost came from prices × tokens.
    let mut priced = d.clone();
    priced.prices = vec![Some((0.1, 0.2)), Some((1.0, 2.0)), None];
    priced.models.push(router_core::ModelId::new("only-in-a"));
    for i in 0..priced.len() {
        let ran = i < 40;
        priced.quality[i].push(ran.then_some(1.0));
        priced.cost[i].push(ran.then_some(0.5));
        priced.output_tokens[i].push(ran.then_some(10.0));
    }
    let report = run(&priced, &config, None).unwrap();
    assert_eq!(report.cost_model, CostModel::PricesTimesTokens);
    assert!(report.unpriced_models.is_empty());
    d.sources.iter_mut().for_each(|s| *s = Some("a".into()));
    let e = source_splits(&d, None).unwrap_err().to_string();
    assert!(e.contains("two or more"), "{e}");
}

#[test]
fn guard_keeps_a_predictor_that_wins_and_falls_back_when_none_does() {
    let d = data(300);
    let config = GuardConfig {
        candidates: vec![PredictorKind::Knn],
        // The planted clusters are tight: every prompt has a near-duplicate.
        decontaminate: None,
        ..GuardConfig::default()
    };
    let report = guard(&d, &config, &PredictorConfigs::default(), 0, None).unwrap();
    assert_eq!(report.chosen, Some(PredictorKind::Knn), "{report:?}");
    assert_eq!(report.routing, router_core::RoutingMode::Learned);
    assert!(report.validation_prompts > 200);

    // The same gain judged against a margin above its lower bound: the fixed policy ships.
    let bound = report.candidates[0]
        .vs_fixed_policy
        .as_ref()
        .unwrap()
        .lower_one_sided;
    assert!(bound > DEFAULT_MIN_GAIN, "{bound}");
    let strict = GuardConfig {
        min_gain: bound + 1e-3,
        ..config.clone()
    };
    let held = guard(&d, &strict, &PredictorConfigs::default(), 0, None).unwrap();
    assert_eq!(held.chosen, None, "{held:?}");
    assert_eq!(held.routing, router_core::RoutingMode::FixedPolicy);
    assert!(
        held.reason.contains(&format!("{:+.4}", bound + 1e-3)),
        "{}",
        held.reason
    );

    // Embeddings that say nothing about the labels: random directions.
    let mut noise = d.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for v in &mut noise.x {
        let w: Vec<f32> = (0..v.len()).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let n = w.iter().map(|a| a * a).sum::<f32>().sqrt();
        *v = w.iter().map(|a| a / n).collect();
    }
    noise.tasks.iter_mut().for_each(|t| *t = None);
    let report = guard(&noise, &config, &PredictorConfigs::default(), 0, None).unwrap();
    assert_eq!(report.chosen, None, "{report:?}");
    assert_eq!(report.routing, router_core::RoutingMode::FixedPolicy);

    let rows: Vec<usize> = (0..noise.len()).collect();
    let artifact = fixed_policy_artifact(&noise.training_set(&rows)).unwrap();
    assert_eq!(
        artifact.manifest().routing,
        router_core::RoutingMode::FixedPolicy
    );
    let a = artifact.try_predict(&noise.x[0]).unwrap();
    let b = artifact.try_predict(&noise.x[1]).unwrap();
    assert_eq!(a, b);
    assert!((a[1].quality - 1.0).abs() < 1e-6);
}

#[test]
fn guarded_router_is_what_the_guard_picks_on_the_training_rows() {
    let d = data(200);
    let config = ExperimentConfig {
        predictors: vec![PredictorKind::Knn],
        split: SplitKind::Own,
        seeds: vec![0],
        decontaminate: None,
        guard: Some(GuardConfig {
            candidates: vec![PredictorKind::Knn],
            // The planted clusters are tight: every prompt has a near-duplicate.
            decontaminate: None,
            ..GuardConfig::default()
        }),
        ..ExperimentConfig::default()
    };
    let report = run(&d, &config, None).unwrap();
    let run0 = &report.runs[0];
    let guard = run0.guard.as_ref().unwrap();
    // The planted signal is strong: the guard keeps knn, so `guarded` scores as knn.
    assert_eq!(guard.chosen, Some(PredictorKind::Knn));
    let by_name = |n: &str| run0.report.routers.iter().find(|r| r.name == n).unwrap();
    assert_eq!(by_name(GUARDED_LABEL).aiq, by_name("knn").aiq);
    // The per-task rule stays last, and the report says what the guard chose.
    assert_eq!(run0.report.routers.last().unwrap().name, PER_TASK_LABEL);
    assert!(report
        .to_markdown()
        .contains("seed 0: knn beats the fixed policy"));
}

#[test]
fn guard_by_task_validates_on_families_the_candidates_never_saw() {
    // Two families, each one side of the planted split: a predictor fitted on one family has
    // never seen the other's cheap-model failures, so by task it cannot show a gain, while
    // random folds (every family on both sides) keep knn.
    let d = data(300);
    let by_task = GuardConfig {
        candidates: vec![PredictorKind::Knn],
        by_task: true,
        // The planted clusters are tight: every prompt has a near-duplicate.
        decontaminate: None,
        ..GuardConfig::default()
    };
    let report = guard(&d, &by_task, &PredictorConfigs::default(), 0, None).unwrap();
    assert_eq!(report.folds, 2, "one fold per family");
    assert_eq!(report.chosen, None, "{report:?}");
    let random = GuardConfig {
        by_task: false,
        ..by_task
    };
    let report = guard(&d, &random, &PredictorConfigs::default(), 0, None).unwrap();
    assert_eq!(report.chosen, Some(PredictorKind::Knn));
}

#[test]
fn import_sources_samples_per_source_and_names_what_fails() {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/routellm-gsm8k");
    let source = |name: &str, path: std::path::PathBuf| SourceSpec {
        name: name.into(),
        path,
    };
    let spec = ImportSpec {
        sources: vec![source("gsm8k", fixture.clone())],
        exclude_tasks: Vec::new(),
        max_prompts: Some(50),
        sample_seed: 1,
        same_models: Vec::new(),
    };
    let mut notes = Vec::new();
    let (table, sources) = import_sources(&spec, &mut |l| notes.push(l)).unwrap();
    assert_eq!((table.len(), sources.len()), (50, 50));
    assert!(sources.iter().all(|s| s == "gsm8k"));
    assert!(
        notes.iter().any(|n| n.starts_with("sampled 50 prompts")),
        "{notes:?}"
    );

    let missing = ImportSpec {
        sources: vec![source("x", fixture.join("nope.csv"))],
        ..spec.clone()
    };
    let err = import_sources(&missing, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope.csv"), "{err}");
    // An --exclude-task that matches nothing (a typo of `gpqa` would keep rows that must not
    // be published) is refused, naming it and the tasks there are.
    let typo = ImportSpec {
        exclude_tasks: vec!["gsm8k".into(), "no-such-task".into()],
        ..spec.clone()
    };
    let err = import_sources(&typo, &mut |_| {}).unwrap_err().to_string();
    assert!(
        err.contains("--exclude-task no-such-task matched no prompt"),
        "{err}"
    );
    assert!(err.contains("task families are: gsm8k"), "{err}");
    let nothing = ImportSpec {
        exclude_tasks: vec!["gsm8k".into()],
        ..spec
    };
    let err = import_sources(&nothing, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("no prompts left"), "{err}");
    // The same source twice (here once through `..`) would merge every row twice.
    let twice = ImportSpec {
        sources: vec![
            source("gsm8k", fixture.clone()),
            source("again", fixture.join("../routellm-gsm8k")),
        ],
        exclude_tasks: Vec::new(),
        max_prompts: None,
        sample_seed: 1,
        same_models: Vec::new(),
    };
    let err = import_sources(&twice, &mut |_| {}).unwrap_err().to_string();
    assert!(
        err.contains("--data again and --data gsm8k are the same data"),
        "{err}"
    );
    assert!(err.contains("routellm-gsm8k"), "{err}");
}

#[test]
fn same_model_mapping_merges_two_names_of_one_model_into_one_column() {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/routellm-gsm8k");
    let source = |name: &str| SourceSpec {
        name: name.into(),
        path: fixture.clone(),
    };
    let mixtral = "mistralai/Mixtral-8x7B-Instruct-v0.1";
    // The same file twice, the second time with a local name for Mixtral (as RouterBench
    // names it): unmapped, the merge has three models; mapped, two.
    let (first, _) = import_sources(
        &ImportSpec {
            sources: vec![source("a")],
            max_prompts: Some(20),
            ..ImportSpec::default()
        },
        &mut |_| {},
    )
    .unwrap();
    assert!(first.models.iter().any(|m| m == mixtral));
    let renamed_dir = tempfile::tempdir().unwrap();
    let csv = std::fs::read_to_string(fixture.join("gsm8k_responses.csv")).unwrap();
    std::fs::write(
        renamed_dir.path().join("gsm8k_responses.csv"),
        csv.replace(mixtral, "mistralai/mixtral-8x7b-chat"),
    )
    .unwrap();
    let two = |same_models: Vec<(String, String)>| ImportSpec {
        sources: vec![
            source("a"),
            SourceSpec {
                name: "b".into(),
                path: renamed_dir.path().to_owned(),
            },
        ],
        max_prompts: Some(20),
        same_models,
        ..ImportSpec::default()
    };
    let (unmapped, _) = import_sources(&two(Vec::new()), &mut |_| {}).unwrap();
    assert_eq!(unmapped.models.len(), 3, "{:?}", unmapped.models);
    let mut notes = Vec::new();
    let mapping = vec![("mistralai/mixtral-8x7b-chat".to_owned(), mixtral.to_owned())];
    let (mapped, _) = import_sources(&two(mapping), &mut |l| notes.push(l)).unwrap();
    assert_eq!(mapped.models.len(), 2, "{:?}", mapped.models);
    assert!(mapped
        .rows
        .iter()
        .all(|r| r.cells.iter().all(Option::is_some)));
    assert!(notes.iter().any(|n| n.contains("counted as")), "{notes:?}");
    // A source holding both names as separate models is refused.
    let both = vec![(mixtral.to_owned(), "gpt-4-1106-preview".to_owned())];
    let err = import_sources(&two(both), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("both as separate models"), "{err}");
    // An alias that no source has (a typo) is refused, naming it and the models there are.
    let typo = vec![(
        "mistralai/mixtral-8x7b-chatt".to_owned(),
        mixtral.to_owned(),
    )];
    let err = import_sources(&two(typo), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--same-model mistralai/mixtral-8x7b-chatt="),
        "{err}"
    );
    assert!(err.contains("the models are: "), "{err}");
    assert!(
        err.contains("mistralai/mixtral-8x7b-chat,")
            || err.ends_with("mistralai/mixtral-8x7b-chat"),
        "{err}"
    );
}

#[test]
fn compare_to_adds_seed_combined_intervals_against_the_chosen_router() {
    let d = data(200);
    let config = ExperimentConfig {
        predictors: vec![PredictorKind::Knn, PredictorKind::Linear],
        split: SplitKind::Own,
        seeds: vec![0, 1],
        decontaminate: None,
        compare_to: Some("knn".into()),
        ..ExperimentConfig::default()
    };
    let report = run(&d, &config, None).unwrap();
    let combined = &report.folds[0].combined;
    let vs_knn: Vec<_> = combined.iter().filter(|c| c.baseline == "knn").collect();
    // Every other router (linear and the per-task rule), never knn against itself.
    let routers: Vec<&str> = vs_knn.iter().map(|c| c.router.as_str()).collect();
    assert_eq!(routers, vec!["linear", PER_TASK_LABEL], "{combined:?}");
    // The seed-combined difference is the mean of the runs' AIQ differences.
    let aiq = |run: &RunReport, name: &str| {
        run.report
            .routers
            .iter()
            .find(|r| r.name == name)
            .unwrap()
            .aiq
    };
    let mean = report
        .runs
        .iter()
        .map(|r| aiq(r, "linear") - aiq(r, "knn"))
        .sum::<f64>()
        / 2.0;
    assert!((vs_knn[0].delta - mean).abs() < 1e-12);
    assert!(vs_knn[0].low <= vs_knn[0].high);
    assert!(report.to_markdown().contains("| linear | knn |"));
    // Without it, only the two standard baselines.
    let plain = run(
        &d,
        &ExperimentConfig {
            compare_to: None,
            ..config
        },
        None,
    )
    .unwrap();
    assert!(plain.folds[0]
        .combined
        .iter()
        .all(|c| c.baseline == evals::ZERO_ROUTER_LABEL || c.baseline == PER_TASK_LABEL));
}

#[test]
fn an_adapter_is_fitted_per_run_and_per_guard_fold_from_token_states() {
    let mut d = data(160);
    let config = ExperimentConfig {
        predictors: vec![PredictorKind::Linear],
        split: SplitKind::Own,
        seeds: vec![0],
        decontaminate: None,
        guard: Some(GuardConfig {
            candidates: vec![PredictorKind::Linear],
            adapter: Some(crate::adapter::AdapterConfig {
                max_epochs: 2,
                ..crate::adapter::AdapterConfig::default()
            }),
            // The planted clusters are tight: every prompt has a near-duplicate.
            decontaminate: None,
            ..GuardConfig::default()
        }),
        adapter: Some(crate::adapter::AdapterConfig {
            max_epochs: 2,
            ..crate::adapter::AdapterConfig::default()
        }),
        ..ExperimentConfig::default()
    };
    // Without token states the run says what is missing.
    let e = run(&d, &config, None).unwrap_err().to_string();
    assert!(e.contains("token states") && e.contains("0 of 160"), "{e}");

    // Three tokens per prompt, the first carrying the prompt's planted direction.
    let h = classifier::EMBEDDING_DIM;
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    d.token_states =
        d.x.iter()
            .map(|v| {
                let mut s: Vec<f32> = (0..3 * h).map(|_| rng.gen_range(-0.5..0.5)).collect();
                s.iter_mut().zip(v).for_each(|(a, b)| *a += 3.0 * b);
                std::sync::Arc::from(s)
            })
            .collect();
    let mut fitted = Vec::new();
    let mut progress = |p: &Progress| {
        if p.message.contains("adapter:") {
            fitted.push(p.message.split(" adapter:").next().unwrap_or("").to_owned());
        }
    };
    let report = run(&d, &config, Some(&mut progress)).unwrap();
    let run0 = &report.runs[0];
    assert_eq!(run0.fit_seconds[0].0, "adapter");
    assert!(run0.guard.is_some());
    // The report says how the run's adapter fitted and whether the predictors got it.
    let fit = run0.adapter.as_ref().unwrap();
    assert!(fit.fit.best_val_loss <= fit.fit.start_val_loss);
    assert!(report
        .to_markdown()
        .contains("The routing adapter per seed"));
    // One adapter for the run, one per guard validation fold.
    fitted.dedup();
    assert!(fitted.iter().any(|f| f == "own seed 0"), "{fitted:?}");
    assert!(
        fitted
            .iter()
            .filter(|f| f.contains("validation fold"))
            .count()
            >= 2,
        "{fitted:?}"
    );
}

#[test]
fn hybrids_swap_one_estimate_for_the_per_task_rules_and_keep_the_rule_last() {
    let learned = evals::RouterScores {
        name: "mf".to_owned(),
        quality: vec![vec![0.9, 0.1]],
        cost: vec![vec![3.0, 1.0]],
        tie: None,
    };
    let rule = evals::RouterScores {
        name: PER_TASK_LABEL.to_owned(),
        quality: vec![vec![0.5, 0.5]],
        cost: vec![vec![2.0, 2.0]],
        tie: None,
    };
    let [q, c] = hybrid_scores(&learned, &rule);
    assert_eq!(q.name, "mf quality + task cost");
    assert_eq!((&q.quality, &q.cost), (&learned.quality, &rule.cost));
    assert_eq!(c.name, "task quality + mf cost");
    assert_eq!((&c.quality, &c.cost), (&rule.quality, &learned.cost));

    let config = ExperimentConfig {
        predictors: vec![PredictorKind::Knn],
        split: SplitKind::Own,
        seeds: vec![0],
        decontaminate: None,
        hybrids: true,
        ..ExperimentConfig::default()
    };
    let report = run(&data(200), &config, None).unwrap();
    let names: Vec<&str> = report.runs[0]
        .report
        .routers
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "knn",
            "knn quality + task cost",
            "task quality + knn cost",
            PER_TASK_LABEL
        ]
    );
    // Every router but the rule is compared with it.
    assert_eq!(report.runs[0].paired_vs_per_task.len(), 3);
}

/// A model whose only labels or costs are on test rows cannot be learned: the run is refused,
/// naming it, instead of routing to it as if it cost nothing.
#[test]
fn a_model_the_training_rows_never_cost_is_refused_by_name() {
    let (mut table, x) = table_and_embeddings(40);
    for row in &mut table.rows {
        if row.split == Some(Split::Train) {
            if let Some(c) = row.cells[1].as_mut() {
                c.cost_usd = None;
            }
        }
    }
    let d = ExperimentData::from_table(&table, x, &|_| None).unwrap();
    assert_eq!(
        d.unlearnable_models(&own_split(&d).unwrap().train),
        [&router_core::ModelId::new("strong")]
    );
    let config = ExperimentConfig {
        predictors: vec![PredictorKind::Knn],
        split: SplitKind::Own,
        seeds: vec![0],
        decontaminate: None,
        ..ExperimentConfig::default()
    };
    let e = run(&d, &config, None).unwrap_err().to_string();
    assert!(e.contains("strong") && e.contains("--price"), "{e}");
}

/// Repeated prompts with labels that are noise: only memorising helps, and only on copies. The
/// guard must not validate a prompt against its own copy in the fitting folds (it then picked
/// kNN, which loses to the fixed policy on new prompts); without the copies left out, it does.
#[test]
fn the_guard_does_not_validate_a_prompt_against_its_own_copy() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut table = OutcomeTable::new("copies", vec!["cheap".into(), "strong".into()]);
    let mut x = Vec::new();
    for i in 0..600 {
        let w: Vec<f32> = (0..32).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let n = w.iter().map(|a| a * a).sum::<f32>().sqrt();
        let v: Vec<f32> = w.iter().map(|a| a / n).collect();
        let cell = |score: f64, cost: f64| Cell {
            cost_usd: Some(cost),
            output_tokens: Some(10),
            ..Cell::from_score(score)
        };
        let cells = vec![
            Some(cell(f64::from(rng.gen_bool(0.5)), 0.001)),
            Some(cell(f64::from(rng.gen_bool(0.6)), 0.01)),
        ];
        for copy in 0..2 {
            table.rows.push(PromptRow {
                id: format!("p{i}-{copy}"),
                text: format!("prompt {i}"),
                task: None,
                split: Some(Split::Train),
                cells: cells.clone(),
            });
            x.push(v.clone());
        }
    }
    let d = ExperimentData::from_table(&table, x, &|_| None).unwrap();
    let config = GuardConfig {
        candidates: vec![PredictorKind::Knn],
        ..GuardConfig::default()
    };
    let report = guard(&d, &config, &PredictorConfigs::default(), 0, None).unwrap();
    assert_eq!(report.chosen, None, "{report:?}");
    assert!(report.decontaminated_dropped > 600, "{report:?}");
    let leaky = GuardConfig {
        decontaminate: None,
        ..config
    };
    let report = guard(&d, &leaky, &PredictorConfigs::default(), 0, None).unwrap();
    assert_eq!(report.chosen, Some(PredictorKind::Knn), "{report:?}");
}
