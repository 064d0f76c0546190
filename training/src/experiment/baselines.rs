//! Routers a person could write by hand from the training table, scored next to the learned
//! ones: the per-task rule and the λ-optimal fixed policy.
//!
//! Both are expressed as predictions so that the λ-sweep applies unchanged: a prompt's
//! predicted quality and cost of model `m` are `m`'s mean realised quality and cost on the
//! training prompts of the prompt's task family (per-task rule) or on all training prompts
//! (fixed policy). `argmax_m q̂ − λ·ĉ` then picks, at each λ, each task's best model on the
//! training split, or the single best model on it.

use evals::RouterScores;

use super::ExperimentData;

/// Name of the per-task rule in reports.
pub const PER_TASK_LABEL: &str = "per-task rule";
/// Name of the λ-optimal fixed policy in reports.
pub const FIXED_POLICY_LABEL: &str = "fixed policy (train)";

/// Mean realised (quality, cost) per model over the labelled cells of `rows`; `None` per model
/// without any.
fn means(
    data: &ExperimentData,
    rows: impl Iterator<Item = usize> + Clone,
) -> Vec<Option<(f64, f64)>> {
    (0..data.models.len())
        .map(|j| {
            let (mut n, mut q, mut nc, mut c) = (0usize, 0.0, 0usize, 0.0);
            for i in rows.clone() {
                if let Some(v) = data.quality[i][j] {
                    n += 1;
                    q += v;
                }
                if let Some(v) = data.cost[i][j] {
                    nc += 1;
                    c += v;
                }
            }
            (n > 0).then(|| (q / n as f64, if nc > 0 { c / nc as f64 } else { 0.0 }))
        })
        .collect()
}

/// Predicted quality and cost per model.
pub type Means = (Vec<f64>, Vec<f64>);

fn fill(own: &[Option<(f64, f64)>], fallback: &[(f64, f64)]) -> Means {
    own.iter()
        .zip(fallback)
        .map(|(o, f)| o.unwrap_or(*f))
        .unzip()
}

/// Per model, the mean realised quality and cost over the labelled cells of `train` (0 for a
/// model without any): the fixed policy's estimates.
pub fn training_means(data: &ExperimentData, train: &[usize]) -> Means {
    means(data, train.iter().copied())
        .into_iter()
        .map(|m| m.unwrap_or((0.0, 0.0)))
        .unzip()
}

/// The λ-optimal fixed policy's scores on `test`: every prompt gets the training means.
pub fn fixed_policy_scores(data: &ExperimentData, train: &[usize], test: &[usize]) -> RouterScores {
    let (q, c) = training_means(data, train);
    RouterScores {
        name: FIXED_POLICY_LABEL.to_owned(),
        quality: vec![q; test.len()],
        cost: vec![c; test.len()],
        tie: None,
    }
}

/// The per-task rule's scores on `test`: each prompt gets the training means of its task
/// family (falling back to all training prompts for a family, or a model, not seen there).
pub fn per_task_scores(data: &ExperimentData, train: &[usize], test: &[usize]) -> RouterScores {
    let global: Vec<(f64, f64)> = means(data, train.iter().copied())
        .into_iter()
        .map(|m| m.unwrap_or((0.0, 0.0)))
        .collect();
    let mut families: Vec<(Option<&str>, Means)> = Vec::new();
    let mut quality = Vec::with_capacity(test.len());
    let mut cost = Vec::with_capacity(test.len());
    for &i in test {
        let family = data.task_family(i);
        let k = match families.iter().position(|(f, _)| *f == family) {
            Some(k) => k,
            None => {
                let own = match family {
                    Some(f) => means(
                        data,
                        train
                            .iter()
                            .copied()
                            .filter(move |&t| data.task_family(t) == Some(f)),
                    ),
                    None => vec![None; global.len()],
                };
                families.push((family, fill(&own, &global)));
                families.len() - 1
            }
        };
        let (q, c) = &families[k].1;
        quality.push(q.clone());
        cost.push(c.clone());
    }
    RouterScores {
        name: PER_TASK_LABEL.to_owned(),
        quality,
        cost,
        tie: None,
    }
}

/// Two diagnostic routers from a learned one and the per-task rule: the learned quality with
/// the rule's cost, and the rule's quality with the learned cost. Where a learned router
/// trails the rule, they say which of its two estimates loses the difference.
pub fn hybrid_scores(learned: &RouterScores, per_task: &RouterScores) -> [RouterScores; 2] {
    [
        RouterScores {
            name: format!("{} quality + task cost", learned.name),
            quality: learned.quality.clone(),
            cost: per_task.cost.clone(),
            tie: None,
        },
        RouterScores {
            name: format!("task quality + {} cost", learned.name),
            quality: per_task.quality.clone(),
            cost: learned.cost.clone(),
            tie: None,
        },
    ]
}

/// `learned` with the uncertainty-aware tie-break ([`evals::TieBreak`]): at each λ a prompt
/// stays with the training means' λ-optimal model unless `learned`'s estimates gain more than
/// `margin` by leaving it. Named `{learned} tie {margin}`.
pub fn tie_break_scores(learned: &RouterScores, means: &Means, margin: f64) -> RouterScores {
    RouterScores {
        name: format!("{} tie {margin}", learned.name),
        tie: Some(evals::TieBreak {
            mean_quality: means.0.clone(),
            mean_cost: means.1.clone(),
            margin,
        }),
        ..learned.clone()
    }
}
