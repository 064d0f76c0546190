//! Aggregation over repeated runs (seeds, splits): mean ± sample standard deviation of every
//! headline metric, per router.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::{
    baselines::ZERO_ROUTER_LABEL,
    metrics::{fixed_points::FixedPoints, routellm::RouteLlmMetrics},
    PairedDiff, Report,
};

/// Mean and sample standard deviation (n − 1 denominator; 0 for a single run) of the runs in
/// which the metric was defined.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanSd {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation.
    pub sd: f64,
    /// Runs that contributed.
    pub n: usize,
}

impl MeanSd {
    /// Mean ± sd of `values`; `None` when empty.
    pub fn of(values: &[f64]) -> Option<Self> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(Self { mean, sd, n })
    }
}

/// One router's metrics across runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouterSummary {
    /// The router's name (runs are matched by name).
    pub name: String,
    /// Runs in which the router appeared.
    pub runs: usize,
    /// AIQ.
    pub aiq: Option<MeanSd>,
    /// Cost to reach the best single model (USD), over the runs that reached it.
    pub cost_to_reach_best_usd: Option<MeanSd>,
    /// The same as % of the best single model's cost.
    pub cost_to_reach_best_pct: Option<MeanSd>,
    /// Runs in which the best single model's quality was reached.
    pub reached_best: usize,
    /// Quality at the best single model's cost.
    pub quality_at_best_cost: Option<MeanSd>,
    /// RouteLLM APGR (two-model sets).
    pub apgr: Option<MeanSd>,
    /// CPT(50 %), in % strong calls.
    pub cpt50_pct: Option<MeanSd>,
    /// CPT(80 %), in % strong calls.
    pub cpt80_pct: Option<MeanSd>,
    /// AIQ minus the zero router's in the same run (paired).
    #[serde(default)]
    pub delta_vs_zero: Option<MeanSd>,
    /// Runs whose 95 % bootstrap interval of that difference lies wholly above 0.
    #[serde(default)]
    pub delta_vs_zero_above: usize,
    /// Expected calibration error of predicted P(correct).
    #[serde(default)]
    pub ece: Option<MeanSd>,
}

/// Per-router summaries over several reports, in order of first appearance, followed by the
/// zero router and the oracle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedSummary {
    /// Number of reports aggregated.
    pub runs: usize,
    /// One entry per router name.
    pub routers: Vec<RouterSummary>,
}

#[derive(Default)]
struct Acc {
    runs: usize,
    aiq: Vec<f64>,
    reach_usd: Vec<f64>,
    reach_pct: Vec<f64>,
    q_at_best: Vec<f64>,
    apgr: Vec<f64>,
    cpt50: Vec<f64>,
    cpt80: Vec<f64>,
    delta: Vec<f64>,
    above: usize,
    ece: Vec<f64>,
}

impl Acc {
    fn add(&mut self, aiq: f64, fp: &FixedPoints, rl: Option<&RouteLlmMetrics>) {
        self.runs += 1;
        self.aiq.push(aiq);
        self.reach_usd.extend(fp.cost_to_reach_best_usd);
        self.reach_pct.extend(fp.cost_to_reach_best_pct);
        self.q_at_best.extend(fp.quality_at_best_cost);
        if let Some(m) = rl {
            self.apgr.push(m.apgr);
            self.cpt50.extend(m.cpt50_pct);
            self.cpt80.extend(m.cpt80_pct);
        }
    }

    fn finish(self, name: String) -> RouterSummary {
        RouterSummary {
            name,
            runs: self.runs,
            aiq: MeanSd::of(&self.aiq),
            reached_best: self.reach_usd.len(),
            cost_to_reach_best_usd: MeanSd::of(&self.reach_usd),
            cost_to_reach_best_pct: MeanSd::of(&self.reach_pct),
            quality_at_best_cost: MeanSd::of(&self.q_at_best),
            apgr: MeanSd::of(&self.apgr),
            cpt50_pct: MeanSd::of(&self.cpt50),
            cpt80_pct: MeanSd::of(&self.cpt80),
            delta_vs_zero: MeanSd::of(&self.delta),
            delta_vs_zero_above: self.above,
            ece: MeanSd::of(&self.ece),
        }
    }
}

impl SeedSummary {
    /// Aggregates `reports` (one per seed or split).
    pub fn from_reports(reports: &[Report]) -> Self {
        let mut accs: Vec<(String, Acc)> = Vec::new();
        let mut slot = |name: &str| -> usize {
            match accs.iter().position(|(n, _)| n == name) {
                Some(i) => i,
                None => {
                    accs.push((name.to_owned(), Acc::default()));
                    accs.len() - 1
                }
            }
        };
        let mut order = Vec::new();
        let mut extras = Vec::new();
        for rep in reports {
            for r in &rep.routers {
                let i = slot(&r.name);
                order.push((i, r.aiq, r.fixed_points.clone(), r.routellm.clone()));
                let paired = rep.paired_vs_zero.iter().find(|d| d.router == r.name);
                extras.push((
                    i,
                    r.aiq - rep.zero_router.aiq,
                    paired.is_some_and(PairedDiff::above_zero),
                    r.calibration.as_ref().map(|c| c.ece),
                ));
            }
        }
        for rep in reports {
            let z = &rep.zero_router;
            let i = slot(ZERO_ROUTER_LABEL);
            order.push((i, z.aiq, z.fixed_points.clone(), z.routellm.clone()));
        }
        for rep in reports {
            let o = &rep.oracle;
            let i = slot(&o.name);
            order.push((i, o.aiq, o.fixed_points.clone(), o.routellm.clone()));
        }
        for (i, aiq, fp, rl) in order {
            accs[i].1.add(aiq, &fp, rl.as_ref());
        }
        // Routers only (the zero router and the oracle have no paired row or calibration).
        for (i, delta, above, ece) in extras {
            let acc = &mut accs[i].1;
            acc.delta.push(delta);
            acc.above += usize::from(above);
            acc.ece.extend(ece);
        }
        Self {
            runs: reports.len(),
            routers: accs.into_iter().map(|(n, a)| a.finish(n)).collect(),
        }
    }

    /// A Markdown table of `mean ± sd` per metric.
    pub fn to_markdown(&self) -> String {
        let f = |m: Option<MeanSd>, unit: &str| cell(m, unit, self.runs);
        let mut out = format!(
            "{} runs (mean ± sd). ΔAIQ is paired with the zero router in the same run; \"95 % CI > 0\" counts runs whose bootstrap interval over test prompts lies above 0. \"Reached best single\" counts runs that matched its quality at ≤ 100 % of its cost without calling it for every prompt.\n\n| router | AIQ | ΔAIQ vs zero router | 95 % CI > 0 | reached best single | cost to reach best (% of its cost) | quality at best single's cost | ECE | APGR | CPT(50%) | CPT(80%) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
            self.runs
        );
        for r in &self.routers {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {}/{} | {} | {} | {} | {} | {} | {} |",
                r.name.replace('|', "\\|"),
                f(r.aiq, ""),
                f(r.delta_vs_zero, ""),
                if r.delta_vs_zero.is_some() {
                    format!("{}/{}", r.delta_vs_zero_above, r.runs)
                } else {
                    "–".to_owned()
                },
                r.reached_best,
                r.runs,
                f(r.cost_to_reach_best_pct, "%"),
                f(r.quality_at_best_cost, ""),
                f(r.ece, ""),
                f(r.apgr, ""),
                f(r.cpt50_pct, "%"),
                f(r.cpt80_pct, "%"),
            );
        }
        out
    }
}

/// One table cell: `mean ± sd`, or, where one of several runs defined the metric, its value
/// and how many runs it rests on (a lone value has no spread: "± 0.0000" read as an exact
/// agreement between runs).
fn cell(m: Option<MeanSd>, unit: &str, runs: usize) -> String {
    match m {
        Some(m) if m.n < 2 && runs > 1 => format!("{:.4}{unit} (1 of {runs} runs)", m.mean),
        Some(m) if m.n < 2 => format!("{:.4}{unit}", m.mean),
        Some(m) => format!("{:.4} ± {:.4}{unit}", m.mean, m.sd),
        None => "–".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_value_from_one_run_shows_no_spread() {
        let one = MeanSd::of(&[0.5]);
        assert_eq!(cell(one, "%", 3), "0.5000% (1 of 3 runs)");
        assert_eq!(cell(one, "", 1), "0.5000");
        assert_eq!(cell(MeanSd::of(&[1.0, 3.0]), "", 3), "2.0000 ± 1.4142");
        assert_eq!(cell(None, "", 3), "–");
    }

    #[test]
    fn mean_sd_by_hand() {
        let m = MeanSd::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((m.mean, m.sd, m.n), (2.0, 1.0, 3));
        assert_eq!(MeanSd::of(&[5.0]).unwrap().sd, 0.0);
        assert_eq!(MeanSd::of(&[]), None);
    }
}
