use classifier::predictors::PredictorKind;
use datasets::{Cell, OutcomeTable, PromptRow, Split};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

/// Two task families on two directions of the plane (plus noise in 6 more dimensions): the
/// cheap model is right on `easy`, the expensive one on both. Every fifth row lacks the cheap
/// model's cell; a quarter of the pairs of rows are the source's test split.
fn table_and_embeddings(n: usize) -> (OutcomeTable, Vec<Vec<f32>>) {
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
    let md = report.to_markdown();
    assert!(md.contains("| knn |"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    assert_eq!(json["runs"][0]["report"]["schema_version"], 1);
}
