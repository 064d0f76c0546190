use datasets::{OutcomeTable, PromptRow};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use router_core::Task;

use super::*;

fn row(text: &str, task: &str) -> PromptRow {
    PromptRow {
        id: text.to_owned(),
        text: text.to_owned(),
        task: Some(task.to_owned()),
        split: None,
        cells: Vec::new(),
    }
}

#[test]
fn examples_map_labels_and_drop_unknown_ones() {
    let mut t = OutcomeTable::new("llmrouter", Vec::new());
    t.rows.push(row("Write a function to add.", "mbpp"));
    t.rows.push(row("A GPQA question", "gpqa"));
    t.rows.push(row("Unlabelled", "mmlu"));
    let ex = examples(&t, LabelSource::LlmRouter);
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].task, Task::Coding);
    assert_eq!(ex[0].label, "mbpp");
}

fn example(task: Task, label: &str, i: usize) -> TaskExample {
    TaskExample {
        text: format!("{label} {i}"),
        source: LabelSource::RouterArena,
        label: label.to_owned(),
        task,
    }
}

#[test]
fn select_dedupes_and_caps_labels_and_tasks_evenly() {
    let mut ex: Vec<TaskExample> = (0..50).map(|i| example(Task::Knowledge, "a", i)).collect();
    ex.extend((0..5).map(|i| example(Task::Knowledge, "b", i)));
    ex.push(example(Task::Knowledge, "a", 0)); // duplicate text
    let config = TaskTrainConfig {
        max_per_label: 30,
        max_per_task: 20,
        ..Default::default()
    };
    let s = select(&ex, &config);
    assert_eq!(s.len(), 20);
    // Round-robin: the small label gives all five, the big one the rest.
    assert_eq!(s.iter().filter(|e| e.label == "b").count(), 5);
    assert_eq!(select(&ex, &config), s, "reproducible");
}

/// Unit vectors scattered around one direction per task.
fn clustered(n_per: usize, dim: usize, seed: u64) -> (Vec<TaskExample>, Vec<Vec<f32>>) {
    let tasks = [Task::Math, Task::Coding, Task::Writing];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ex = Vec::new();
    let mut emb = Vec::new();
    for (c, t) in tasks.iter().enumerate() {
        for i in 0..n_per {
            let mut v: Vec<f32> = (0..dim).map(|_| rng.gen_range(-0.3..0.3)).collect();
            v[c] += 1.0;
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            emb.push(v.into_iter().map(|x| x / norm).collect());
            ex.push(example(*t, t.as_str(), i));
        }
    }
    (ex, emb)
}

#[test]
fn fit_learns_clustered_tasks_and_reports_held_out_metrics() {
    let (ex, emb) = clustered(60, 16, 1);
    let encoder = EncoderInfo {
        fingerprint: "f".into(),
        max_tokens: 128,
    };
    let config = TaskTrainConfig {
        epochs: 150,
        ..Default::default()
    };
    let fitted = fit_task_classifier(&ex, &emb, &encoder, &config).unwrap();
    let r = &fitted.report;
    assert!(r.test.accuracy > 0.9, "{}", r.test.to_markdown());
    assert_eq!(r.counts[&Task::Math], [42, 9, 9]);
    assert!(r.temperature > 0.0);
    assert!(r.test.nll <= r.test_uncalibrated.nll + 0.05);
    let c = &fitted.classifier;
    assert_eq!(
        c.file().tasks,
        vec![Task::Math, Task::Coding, Task::Writing]
    );
    let p = c.try_predict(&emb[0]).unwrap();
    assert_eq!(p.top(), Task::Math);
    assert_eq!(p.get(Task::Knowledge), 0.0);
    assert!(c.check_encoder("f", 16).is_ok());
}

#[test]
fn one_task_is_not_enough() {
    let (ex, emb) = clustered(30, 8, 2);
    let only_math: Vec<usize> = (0..ex.len())
        .filter(|&i| ex[i].task == Task::Math)
        .collect();
    let ex: Vec<TaskExample> = only_math.iter().map(|&i| ex[i].clone()).collect();
    let emb: Vec<Vec<f32>> = only_math.iter().map(|&i| emb[i].clone()).collect();
    let encoder = EncoderInfo {
        fingerprint: "f".into(),
        max_tokens: 128,
    };
    let err = fit_task_classifier(&ex, &emb, &encoder, &TaskTrainConfig::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("at least two tasks"), "{err}");
}
