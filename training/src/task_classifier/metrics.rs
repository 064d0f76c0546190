//! Held-out quality of a task classifier: accuracy, per-task precision and recall, NLL and
//! expected calibration error (the priors use the probabilities, not just the argmax).

use classifier::predictors::softmax;
use router_core::Task;
use serde::Serialize;

use super::fit::nll;

/// One task's row of the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskRow {
    /// The task.
    pub task: Task,
    /// Held-out examples of it.
    pub support: usize,
    /// Share of predictions of this task that were right.
    pub precision: f64,
    /// Share of its examples predicted as it.
    pub recall: f64,
}

/// Metrics on one labelled set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskMetrics {
    /// Examples.
    pub n: usize,
    /// Share classified right.
    pub accuracy: f64,
    /// Mean per-task recall (every task weighs the same).
    pub balanced_accuracy: f64,
    /// Mean negative log-likelihood of the true task.
    pub nll: f64,
    /// Expected calibration error of the top probability, 10 equal-width bins.
    pub ece: f64,
    /// Per task.
    pub per_task: Vec<TaskRow>,
    /// `confusion[true][predicted]`, in the order of `per_task`.
    pub confusion: Vec<Vec<usize>>,
}

impl TaskMetrics {
    /// Scores `logits` (one row per example, classes in `tasks` order) against `classes` at
    /// temperature `t`.
    pub(crate) fn compute(tasks: &[Task], logits: &[Vec<f32>], classes: &[usize], t: f32) -> Self {
        let k = tasks.len();
        let mut confusion = vec![vec![0usize; k]; k];
        let mut bins = [(0usize, 0.0f64, 0.0f64); 10];
        for (z, &c) in logits.iter().zip(classes) {
            let p = softmax(z, t);
            let (pred, top) = super::fit::argmax(&p);
            confusion[c][pred] += 1;
            let bin = ((f64::from(top) * 10.0) as usize).min(9);
            bins[bin].0 += 1;
            bins[bin].1 += f64::from(top);
            bins[bin].2 += f64::from(u8::from(pred == c));
        }
        let n = classes.len();
        let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
        let per_task: Vec<TaskRow> = (0..k)
            .map(|i| {
                let support: usize = confusion[i].iter().sum();
                let predicted: usize = (0..k).map(|j| confusion[j][i]).sum();
                TaskRow {
                    task: tasks[i],
                    support,
                    precision: ratio(confusion[i][i], predicted),
                    recall: ratio(confusion[i][i], support),
                }
            })
            .collect();
        let with_support: Vec<&TaskRow> = per_task.iter().filter(|r| r.support > 0).collect();
        let balanced_accuracy =
            with_support.iter().map(|r| r.recall).sum::<f64>() / with_support.len().max(1) as f64;
        let ece = bins
            .iter()
            .filter(|b| b.0 > 0)
            .map(|&(count, conf, acc)| {
                (count as f64 / n.max(1) as f64) * ((conf - acc) / count as f64).abs()
            })
            .sum();
        Self {
            n,
            accuracy: ratio(correct, n),
            balanced_accuracy,
            nll: nll(logits, classes, t),
            ece,
            per_task,
            confusion,
        }
    }

    /// A markdown table of the per-task rows and the totals.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from("| task | support | precision | recall |\n|---|---:|---:|---:|\n");
        for r in &self.per_task {
            s.push_str(&format!(
                "| {} | {} | {:.3} | {:.3} |\n",
                r.task, r.support, r.precision, r.recall
            ));
        }
        s.push_str(&format!(
            "\naccuracy {:.3}, balanced accuracy {:.3}, NLL {:.3}, ECE {:.3} (n = {})\n",
            self.accuracy, self.balanced_accuracy, self.nll, self.ece, self.n
        ));
        s
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}
