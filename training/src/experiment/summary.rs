//! Per-fold summaries of an experiment's runs, and the report's Markdown and JSON.

use std::fmt::Write as _;

use evals::{PairedDiff, Report, SeedSummary, ZERO_ROUTER_LABEL};

use super::{CostModel, ExperimentReport, FoldSummary, RunReport, PER_TASK_LABEL};
use crate::Error;

/// One [`FoldSummary`] per fold label, in order of first appearance.
pub(super) fn summarise_folds(runs: &[RunReport], compare_to: Option<&str>) -> Vec<FoldSummary> {
    let mut labels: Vec<&str> = Vec::new();
    for r in runs {
        if !labels.contains(&r.fold.as_str()) {
            labels.push(&r.fold);
        }
    }
    labels
        .into_iter()
        .map(|label| {
            let fold: Vec<&RunReport> = runs.iter().filter(|r| r.fold == label).collect();
            let reports: Vec<Report> = fold.iter().map(|r| r.report.clone()).collect();
            FoldSummary {
                fold: label.to_owned(),
                summary: SeedSummary::from_reports(&reports),
                combined: combined(&fold, compare_to, Aiq::Plain),
                combined_cross_fit: combined(&fold, compare_to, Aiq::CrossFit),
            }
        })
        .collect()
}

/// Which AIQ a comparison reads.
#[derive(Clone, Copy)]
enum Aiq {
    /// RouterBench's.
    Plain,
    /// Cross-fitted (`evals::metrics::cross_fit`).
    CrossFit,
}

impl Aiq {
    /// The value and its replicates, where present.
    fn of<'a>(
        self,
        aiq: f64,
        reps: &'a [f64],
        cf: Option<f64>,
        cf_reps: &'a [f64],
    ) -> Option<(f64, &'a [f64])> {
        match self {
            Aiq::Plain => Some((aiq, reps)),
            Aiq::CrossFit => cf.map(|v| (v, cf_reps)),
        }
    }
}

/// Per router, the seed-averaged difference to the zero router, to the per-task rule and to
/// `compare_to` when given, with the interval of the seed-averaged bootstrap replicates.
fn combined(runs: &[&RunReport], compare_to: Option<&str>, which: Aiq) -> Vec<PairedDiff> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    let mut baselines = vec![ZERO_ROUTER_LABEL, PER_TASK_LABEL];
    baselines.extend(compare_to.filter(|c| !baselines.contains(c)));
    let mut out = Vec::new();
    for r in &first.report.routers {
        for &baseline in &baselines {
            if r.name == baseline {
                continue;
            }
            let mut delta = 0.0;
            let mut reps: Vec<f64> = Vec::new();
            let mut n = 0usize;
            for run in runs {
                let rep = &run.report;
                let Some(a) = rep.routers.iter().find(|x| x.name == r.name) else {
                    continue;
                };
                let z = &rep.zero_router;
                let b = if baseline == ZERO_ROUTER_LABEL {
                    which.of(
                        z.aiq,
                        &z.aiq_replicates,
                        z.aiq_cross_fit,
                        &z.aiq_cross_fit_replicates,
                    )
                } else {
                    match rep.routers.iter().find(|x| x.name == baseline) {
                        Some(b) => which.of(
                            b.aiq,
                            &b.aiq_replicates,
                            b.aiq_cross_fit,
                            &b.aiq_cross_fit_replicates,
                        ),
                        None => continue,
                    }
                };
                let a = which.of(
                    a.aiq,
                    &a.aiq_replicates,
                    a.aiq_cross_fit,
                    &a.aiq_cross_fit_replicates,
                );
                let (Some((a_aiq, a_reps)), Some((b_aiq, b_reps))) = (a, b) else {
                    continue;
                };
                if a_reps.is_empty() || a_reps.len() != b_reps.len() {
                    continue;
                }
                if reps.is_empty() {
                    reps = vec![0.0; b_reps.len()];
                }
                if reps.len() != b_reps.len() {
                    continue;
                }
                delta += a_aiq - b_aiq;
                for (k, (x, y)) in a_reps.iter().zip(b_reps).enumerate() {
                    reps[k] += x - y;
                }
                n += 1;
            }
            if n > 0 {
                reps.iter_mut().for_each(|v| *v /= n as f64);
                out.push(PairedDiff::from_replicates(
                    &r.name,
                    baseline,
                    delta / n as f64,
                    reps,
                ));
            }
        }
    }
    out
}

/// A table of paired differences, one row each.
fn diffs_table(out: &mut String, diffs: &[PairedDiff]) {
    out.push_str(
        "| router | vs | ΔAIQ | 95 % interval | above 0 |\n| --- | --- | ---: | --- | --- |\n",
    );
    for d in diffs {
        let _ = writeln!(
            out,
            "| {} | {} | {:+.4} | [{:+.4}, {:+.4}] | {} |",
            d.router,
            d.baseline,
            d.delta,
            d.low,
            d.high,
            if d.above_zero() { "yes" } else { "no" }
        );
    }
}

impl ExperimentReport {
    /// Markdown: the split and data, then per fold the seed-combined paired differences, the
    /// mean ± sd table and one line per run, then the first run's reliability tables.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "**{}**: {} prompts × {} models; split `{}`; predicted cost: {}; decontamination: {}; intervals: paired bootstrap over test prompts ({} replicates).\n\n",
            self.source,
            self.rows,
            self.models.len(),
            self.split.as_str(),
            match self.cost_model {
                CostModel::PricesTimesTokens => "catalog prices × (prompt tokens, predicted output tokens)".to_owned(),
                CostModel::TrainMean => format!(
                    "each model's mean training cost (no catalog price for {})",
                    self.unpriced_models.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
                ),
            },
            match self.decontaminate {
                Some(t) => format!("test prompts with cosine ≥ {t} to a training prompt dropped"),
                None => "off".into(),
            },
            self.bootstrap_resamples,
        );
        for fold in &self.folds {
            let _ = writeln!(out, "### Fold `{}`\n", fold.fold);
            out.push_str(
                "Seed-averaged paired differences (95 % interval from the seeds' averaged bootstrap replicates):\n\n",
            );
            diffs_table(&mut out, &fold.combined);
            if !fold.combined_cross_fit.is_empty() {
                out.push_str(
                    "\nThe same with cross-fitted AIQ (the hull's vertices chosen on the other half of the test prompts, so that estimates that know nothing about a prompt gain nothing; slightly conservative):\n\n",
                );
                diffs_table(&mut out, &fold.combined_cross_fit);
            }
            out.push('\n');
            out.push_str(&fold.summary.to_markdown());
            out.push_str(
                "\n| seed | train | test | dropped (incomplete) | dropped (near-duplicate) | best single (quality, $/prompt) | AIQ per router (zero router, oracle) | ΔAIQ vs zero [95 %] | ΔAIQ vs per-task rule [95 %] |\n| ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- |\n",
            );
            for r in self.runs.iter().filter(|r| r.fold == fold.fold) {
                run_row(&mut out, r);
            }
            let guarded: Vec<&RunReport> = self
                .runs
                .iter()
                .filter(|r| r.fold == fold.fold && r.guard.is_some())
                .collect();
            if !guarded.is_empty() {
                out.push_str(
                    "
The guard's choice per seed (nested validation on the training rows):

",
                );
                for r in guarded {
                    if let Some(g) = &r.guard {
                        let _ = writeln!(
                            out,
                            "- seed {}: {} ({} validation prompts; {} left out as near-copies of their fold's training rows)",
                            r.seed, g.reason, g.validation_prompts, g.decontaminated_dropped
                        );
                    }
                }
            }
            let adapted: Vec<&RunReport> = self
                .runs
                .iter()
                .filter(|r| r.fold == fold.fold && r.adapter.is_some())
                .collect();
            if !adapted.is_empty() {
                out.push_str("\nThe routing adapter per seed (validation log loss on the training rows):\n\n");
                for r in adapted {
                    if let Some(a) = &r.adapter {
                        let _ = writeln!(
                            out,
                            "- seed {}: {:.4} → {:.4} (epoch {} of {}); {}",
                            r.seed,
                            a.fit.start_val_loss,
                            a.fit.best_val_loss,
                            a.fit.best_epoch,
                            a.fit.epochs,
                            if a.kept {
                                "kept"
                            } else {
                                "not kept: the predictors got the standard embedding"
                            }
                        );
                    }
                }
            }
            if let Some(r) = self.runs.iter().find(|r| r.fold == fold.fold) {
                for router in &r.report.routers {
                    if let Some(c) = &router.calibration {
                        let _ = writeln!(
                            out,
                            "\nReliability of `{}` (seed {}; all prompt × model cells):\n",
                            router.name, r.seed
                        );
                        out.push_str(&c.to_markdown());
                    }
                }
            }
            out.push('\n');
        }
        out
    }

    /// The report as pretty-printed JSON (schema: `docs/eval-json.md`).
    pub fn to_json(&self) -> Result<String, Error> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Experiment {
            reason: format!("serialising the report: {e}"),
        })
    }
}

fn diffs(ds: &[PairedDiff]) -> String {
    ds.iter()
        .map(|d| {
            format!(
                "{} {:+.4} [{:+.4}, {:+.4}]",
                d.router, d.delta, d.low, d.high
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn run_row(out: &mut String, r: &RunReport) {
    let rep = &r.report;
    let best = rep
        .single_models
        .iter()
        .find(|s| s.model == rep.best_single);
    let aiqs: Vec<String> = rep
        .routers
        .iter()
        .map(|x| format!("{} {:.4}", x.name, x.aiq))
        .collect();
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} {} | {} (zero {:.4}, oracle {:.4}) | {} | {} |",
        r.seed,
        r.train_rows,
        r.test_rows,
        r.test_incomplete_dropped,
        r.decontaminated_dropped,
        rep.best_single,
        best.map_or(String::new(), |b| format!(
            "({:.3}, {:.6})",
            b.quality, b.cost
        )),
        aiqs.join(", "),
        rep.zero_router.aiq,
        rep.oracle.aiq,
        diffs(&rep.paired_vs_zero),
        diffs(&r.paired_vs_per_task),
    );
}
