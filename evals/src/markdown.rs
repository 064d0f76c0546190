//! Markdown rendering of a [`Report`]: one table of routers and baselines, one of single models.

use std::fmt::Write as _;

use crate::{
    baselines::ZERO_ROUTER_LABEL,
    metrics::{fixed_points::FixedPoints, routellm::RouteLlmMetrics},
    Report,
};

/// USD with three significant digits, so that fractions of a cent stay readable.
pub(crate) fn usd(c: f64) -> String {
    if c == 0.0 || !c.is_finite() {
        return format!("${c}");
    }
    let decimals = (2 - c.abs().log10().floor() as i32).max(2) as usize;
    format!("${c:.decimals$}")
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String, none: &str) -> String {
    v.map(f).unwrap_or_else(|| none.to_owned())
}

fn row(out: &mut String, name: &str, aiq: f64, fp: &FixedPoints, rl: Option<&RouteLlmMetrics>) {
    let reach = match (fp.cost_to_reach_best_usd, fp.cost_to_reach_best_pct) {
        (Some(c), Some(p)) => format!("{} ({p:.1}%)", usd(c)),
        (Some(c), None) => usd(c),
        _ => "not reached".to_owned(),
    };
    let q = opt(fp.quality_at_best_cost, |v| format!("{v:.4}"), "n/a");
    let (apgr, c50, c80) = match rl {
        Some(m) => (
            format!("{:.4}", m.apgr),
            opt(m.cpt50_pct, |v| format!("{v:.1}%"), "never"),
            opt(m.cpt80_pct, |v| format!("{v:.1}%"), "never"),
        ),
        None => ("–".into(), "–".into(), "–".into()),
    };
    let name = name.replace('|', "\\|");
    let _ = writeln!(
        out,
        "| {name} | {aiq:.4} | {reach} | {q} | {apgr} | {c50} | {c80} |"
    );
}

impl Report {
    /// The report as Markdown tables.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let best = &self.zero_router.fixed_points;
        let _ = writeln!(
            out,
            "{} prompts, {} models; AIQ averages over mean cost {} – {} per prompt. \
             Best single model: `{}` (quality {:.4}, {} per prompt).\n",
            self.n_prompts,
            self.models.len(),
            usd(self.cost_range.min),
            usd(self.cost_range.max),
            self.best_single,
            best.best_single_quality,
            usd(best.best_single_cost),
        );
        out.push_str(
            "| router | AIQ | cost to reach best single | quality at best single's cost | APGR | CPT(50%) | CPT(80%) |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for r in &self.routers {
            row(
                &mut out,
                &r.name,
                r.aiq,
                &r.fixed_points,
                r.routellm.as_ref(),
            );
        }
        for r in &self.routers {
            let _ = writeln!(
                out,
                "| random at {}'s call shares | {:.4} | | | | | |",
                r.name.replace('|', "\\|"),
                r.random_matched_aiq
            );
        }
        let z = &self.zero_router;
        row(
            &mut out,
            ZERO_ROUTER_LABEL,
            z.aiq,
            &z.fixed_points,
            z.routellm.as_ref(),
        );
        let o = &self.oracle;
        row(
            &mut out,
            &o.name,
            o.aiq,
            &o.fixed_points,
            o.routellm.as_ref(),
        );

        if !self.paired_vs_zero.is_empty() {
            out.push_str(
                "\n| router | ΔAIQ vs zero router | 95 % interval (paired bootstrap over prompts) | ECE |\n| --- | ---: | --- | ---: |\n",
            );
            for d in &self.paired_vs_zero {
                let ece = self
                    .routers
                    .iter()
                    .find(|r| r.name == d.router)
                    .and_then(|r| r.calibration.as_ref())
                    .map_or("–".to_owned(), |c| format!("{:.4}", c.ece));
                let _ = writeln!(
                    out,
                    "| {} | {:+.4} | [{:+.4}, {:+.4}] | {ece} |",
                    d.router.replace('|', "\\|"),
                    d.delta,
                    d.low,
                    d.high
                );
            }
        }
        if !self.paired_vs_zero_cross_fit.is_empty() {
            out.push_str(
                "\nCross-fitted (the hull's vertices chosen on the other half of the prompts, so \
                 that estimates that know nothing gain nothing; slightly conservative):\n\n\
                 | router | cross-fitted AIQ | ΔAIQ vs zero router | 95 % interval |\n| --- | ---: | ---: | --- |\n",
            );
            for d in &self.paired_vs_zero_cross_fit {
                let aiq = self
                    .routers
                    .iter()
                    .find(|r| r.name == d.router)
                    .and_then(|r| r.aiq_cross_fit)
                    .map_or("–".to_owned(), |v| format!("{v:.4}"));
                let _ = writeln!(
                    out,
                    "| {} | {aiq} | {:+.4} | [{:+.4}, {:+.4}] |",
                    d.router.replace('|', "\\|"),
                    d.delta,
                    d.low,
                    d.high
                );
            }
        }

        out.push_str("\n| model | mean cost per prompt | mean quality |\n| --- | ---: | ---: |\n");
        for m in &self.single_models {
            let _ = writeln!(
                out,
                "| `{}` | {} | {:.4} |",
                m.model,
                usd(m.cost),
                m.quality
            );
        }
        let p = &self.oracle_point;
        let _ = writeln!(
            out,
            "| oracle (per-prompt best) | {} | {:.4} |",
            usd(p.cost),
            p.quality
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::usd;

    #[test]
    fn usd_keeps_three_significant_digits() {
        assert_eq!(usd(12.5), "$12.50");
        assert_eq!(usd(0.5), "$0.500");
        assert_eq!(usd(0.000_123_4), "$0.000123");
        assert_eq!(usd(0.0), "$0");
    }
}
