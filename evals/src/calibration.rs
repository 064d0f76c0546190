//! Calibration of predicted P(correct): expected calibration error and a reliability table.
//!
//! Every (prompt, model) cell counts once: its prediction (clamped to `[0, 1]`) falls in one of
//! `bins` equal-width bins; a bin's gap is `|mean predicted − mean realised|`, and the ECE is
//! the cell-weighted mean gap (Guo et al. 2017, "On Calibration of Modern Neural Networks",
//! eq. 3, with binary or fractional outcomes). Routing only needs the predictions' order per
//! prompt, but a calibrated P(correct) is what makes `q − λ·cost` mean what it says.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::{EvalSet, RouterScores};

/// Number of equal-width bins of [`Calibration::of`].
pub const CALIBRATION_BINS: usize = 10;

/// One bin of the reliability table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Lower edge of the predicted value.
    pub low: f64,
    /// Upper edge.
    pub high: f64,
    /// Cells whose prediction fell here.
    pub count: usize,
    /// Their mean prediction.
    pub mean_predicted: f64,
    /// Their mean realised quality.
    pub mean_realised: f64,
}

/// A router's calibration on one test set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Expected calibration error (cell-weighted mean gap over bins).
    pub ece: f64,
    /// The bins, low to high (empty bins included, with count 0).
    pub bins: Vec<CalibrationBin>,
}

impl Calibration {
    /// The calibration of `scores`' quality predictions against `set`'s realised quality, in
    /// `bins` equal-width bins (at least 1); `None` without cells.
    pub fn of(set: &EvalSet, scores: &RouterScores, bins: usize) -> Option<Self> {
        let bins = bins.max(1);
        let mut acc = vec![(0usize, 0.0f64, 0.0f64); bins];
        for (pred_row, real_row) in scores.quality.iter().zip(&set.quality) {
            for (&p, &r) in pred_row.iter().zip(real_row) {
                let p = if p.is_finite() {
                    p.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let b = ((p * bins as f64) as usize).min(bins - 1);
                acc[b].0 += 1;
                acc[b].1 += p;
                acc[b].2 += r;
            }
        }
        let total: usize = acc.iter().map(|a| a.0).sum();
        if total == 0 {
            return None;
        }
        let mut ece = 0.0;
        let bins: Vec<CalibrationBin> = acc
            .iter()
            .enumerate()
            .map(|(k, &(count, sp, sr))| {
                let (mp, mr) = if count > 0 {
                    (sp / count as f64, sr / count as f64)
                } else {
                    (0.0, 0.0)
                };
                ece += count as f64 / total as f64 * (mp - mr).abs();
                CalibrationBin {
                    low: k as f64 / bins as f64,
                    high: (k + 1) as f64 / bins as f64,
                    count,
                    mean_predicted: mp,
                    mean_realised: mr,
                }
            })
            .collect();
        Some(Self { ece, bins })
    }

    /// A Markdown reliability table (non-empty bins), with a bar of the realised rate.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "ECE {:.4}.\n\n| predicted | cells | mean predicted | mean realised | realised |\n| --- | ---: | ---: | ---: | --- |\n",
            self.ece
        );
        for b in self.bins.iter().filter(|b| b.count > 0) {
            let bar = "#".repeat((b.mean_realised * 20.0).round().clamp(0.0, 20.0) as usize);
            let _ = writeln!(
                out,
                "| {:.1}–{:.1} | {} | {:.3} | {:.3} | `{bar:<20}` |",
                b.low, b.high, b.count, b.mean_predicted, b.mean_realised
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use router_core::ModelId;

    #[test]
    fn ece_by_hand() {
        let set = EvalSet::new(
            vec![ModelId::new("a")],
            vec![vec![1.0], vec![0.0], vec![1.0], vec![1.0]],
            vec![vec![1.0]; 4],
        )
        .unwrap();
        let scores = RouterScores {
            name: "r".into(),
            // Two cells at 0.25 (realised 1, 0 → 0.5), two at 0.95 (realised 1, 1).
            quality: vec![vec![0.25], vec![0.25], vec![0.95], vec![1.7]],
            cost: vec![vec![1.0]; 4],
            tie: None,
        };
        let c = Calibration::of(&set, &scores, 10).unwrap();
        // Bin 2: |0.25 − 0.5| = 0.25 (half the cells); bin 9: |(0.95 + 1.0)/2 − 1| = 0.025.
        assert!(
            (c.ece - (0.5 * 0.25 + 0.5 * 0.025)).abs() < 1e-12,
            "{}",
            c.ece
        );
        assert_eq!(c.bins.len(), 10);
        assert_eq!(c.bins[2].count, 2);
        assert!(c.to_markdown().contains("| 0.2–0.3 | 2 |"));
        // A perfectly calibrated router.
        let exact = RouterScores::oracle(&set);
        assert_eq!(Calibration::of(&set, &exact, 10).unwrap().ece, 0.0);
    }
}
