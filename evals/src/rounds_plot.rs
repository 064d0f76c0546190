//! The learning loop's per-round plot as SVG: realised quality against the oracle and the best
//! single model, regret, and cost per request, with each router's off-policy estimate (made
//! before it was deployed) and the replayed truth of that estimate.

use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Width and height of the SVG in pixels.
const SIZE: (u32, u32) = (1500, 520);

/// An off-policy estimate with its 95 % interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The estimate.
    pub value: f64,
    /// Lower end of the 95 % interval.
    pub low: f64,
    /// Upper end of the 95 % interval.
    pub high: f64,
}

/// What one round of the loop measured, as the plot shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundPoint {
    /// Round number, from 0.
    pub round: usize,
    /// Mean realised quality of the routed requests.
    pub quality: f64,
    /// Mean quality of the per-prompt best model on the same prompts.
    pub oracle: f64,
    /// Mean quality of the best single model on the same prompts.
    pub best_single: f64,
    /// Mean cost per request in USD.
    pub cost: f64,
    /// Mean cost per request of the oracle (cheapest best model per prompt).
    pub oracle_cost: f64,
    /// The off-policy estimate of this round's router, made on the previous round's held-out
    /// log before it was deployed (none for round 0).
    pub estimate: Option<Interval>,
    /// The replayed truth of that estimate: the router's exact value on those held-out prompts.
    pub truth: Option<f64>,
}

type DrawResult<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A plotted series: its legend label, colour and value per round.
type Series = (&'static str, RGBColor, fn(&RoundPoint) -> f64);

/// Writes the three-panel plot of `points` to `path` (SVG).
pub fn plot_rounds_svg(points: &[RoundPoint], title: &str, path: &Path) -> Result<()> {
    draw(points, title, path).map_err(|e| Error::Plot {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

fn range(values: impl Iterator<Item = f64>, floor_zero: bool) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let lo = if floor_zero { lo.min(0.0) } else { lo };
    let pad = ((hi - lo) * 0.08).max(1e-6);
    (lo - pad, hi + pad)
}

/// The frame shared by the three panels.
struct Panel<'p> {
    caption: &'p str,
    y_desc: &'p str,
    y_range: (f64, f64),
    y_label_area: u32,
    y_format: fn(&f64) -> String,
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Builds a panel with its caption, axes and mesh; rounds on the x axis.
fn panel<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    p: &Panel<'_>,
    rounds: usize,
) -> DrawResult<Chart<'a, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .caption(p.caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(p.y_label_area)
        .build_cartesian_2d(-0.3..(rounds as f64 - 0.7), p.y_range.0..p.y_range.1)?;
    chart
        .configure_mesh()
        .x_desc("round")
        .y_desc(p.y_desc)
        .x_labels(rounds)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&p.y_format)
        .draw()?;
    Ok(chart)
}

/// Draws one series as a line with a legend entry, optionally with a dot per round.
fn line(
    chart: &mut Chart<'_, '_>,
    points: &[RoundPoint],
    (label, color, value): Series,
    dots: bool,
) -> DrawResult<()> {
    let xy = |p: &RoundPoint| (p.round as f64, value(p));
    chart
        .draw_series(LineSeries::new(
            points.iter().map(xy),
            color.stroke_width(2),
        ))?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
    if dots {
        chart.draw_series(points.iter().map(|p| Circle::new(xy(p), 3, color.filled())))?;
    }
    Ok(())
}

fn draw(points: &[RoundPoint], title: &str, path: &Path) -> DrawResult<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    let panels = root.split_evenly((1, 3));
    let last = points.iter().map(|p| p.round).max().unwrap_or(0);
    let x = |p: &RoundPoint| p.round as f64;

    // Panel 1: quality, with the estimate made before each round and its replayed truth.
    let q_values = points.iter().flat_map(|p| {
        let mut v = vec![p.quality, p.oracle, p.best_single];
        if let Some(e) = p.estimate {
            v.extend([e.low, e.high]);
        }
        v.extend(p.truth);
        v
    });
    let (q_lo, q_hi) = range(q_values, false);
    let rounds = last + 1;
    let mut chart = panel(
        &panels[0],
        &Panel {
            caption: "quality per round",
            y_desc: "mean quality",
            y_range: (q_lo, q_hi),
            y_label_area: 56,
            y_format: |q| format!("{q:.2}"),
        },
        rounds,
    )?;
    let lines: [Series; 3] = [
        ("router (realised)", BLUE, |p| p.quality),
        ("oracle", RED, |p| p.oracle),
        ("best single model", BLACK, |p| p.best_single),
    ];
    for series in lines {
        line(&mut chart, points, series, true)?;
    }
    let green = RGBColor(0, 140, 60);
    chart
        .draw_series(
            points
                .iter()
                .filter_map(|p| p.estimate.map(|e| (x(p) - 0.08, e)))
                .flat_map(|(xc, e)| {
                    // An interval bar with caps (plotters' ErrorBar needs a feature not built here).
                    let style = green.stroke_width(2);
                    [
                        PathElement::new(vec![(xc, e.low), (xc, e.high)], style),
                        PathElement::new(vec![(xc - 0.04, e.low), (xc + 0.04, e.low)], style),
                        PathElement::new(vec![(xc - 0.04, e.high), (xc + 0.04, e.high)], style),
                        PathElement::new(vec![(xc - 0.06, e.value), (xc + 0.06, e.value)], style),
                    ]
                }),
        )?
        .label("DR estimate before deploying (95 %)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y - 6), (x, y + 6)], green));
    chart
        .draw_series(points.iter().filter_map(|p| {
            p.truth
                .map(|t| Cross::new((x(p) - 0.08, t), 5, MAGENTA.stroke_width(2)))
        }))?
        .label("replayed truth of the estimate")
        .legend(|(x, y)| Cross::new((x + 9, y), 5, MAGENTA));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;

    // Panel 2: regret against the oracle.
    let (r_lo, r_hi) = range(points.iter().map(|p| p.oracle - p.quality), true);
    let mut chart = panel(
        &panels[1],
        &Panel {
            caption: "regret against the oracle",
            y_desc: "oracle − realised quality",
            y_range: (r_lo, r_hi),
            y_label_area: 56,
            y_format: |q| format!("{q:.2}"),
        },
        rounds,
    )?;
    line(
        &mut chart,
        points,
        ("regret", BLUE, |p| p.oracle - p.quality),
        true,
    )?;

    // Panel 3: cost per request, the router's and the oracle's.
    let (c_lo, c_hi) = range(points.iter().flat_map(|p| [p.cost, p.oracle_cost]), true);
    let mut chart = panel(
        &panels[2],
        &Panel {
            caption: "cost per request (USD)",
            y_desc: "mean USD per request",
            y_range: (c_lo, c_hi),
            y_label_area: 72,
            y_format: |c| format!("{c:.1e}"),
        },
        rounds,
    )?;
    let costs: [Series; 2] = [
        ("router", BLUE, |p| p.cost),
        ("oracle", RED, |p| p.oracle_cost),
    ];
    for series in costs {
        line(&mut chart, points, series, false)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_svg_with_every_series() {
        let points: Vec<RoundPoint> = (0..3)
            .map(|r| RoundPoint {
                round: r,
                quality: 0.6 + 0.05 * r as f64,
                oracle: 0.9,
                best_single: 0.8,
                cost: 1e-3,
                oracle_cost: 5e-4,
                estimate: (r > 0).then_some(Interval {
                    value: 0.7,
                    low: 0.6,
                    high: 0.8,
                }),
                truth: (r > 0).then_some(0.72),
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rounds.svg");
        plot_rounds_svg(&points, "loop", &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        for label in [
            "quality per round",
            "regret against the oracle",
            "cost per request (USD)",
            "replayed truth of the estimate",
            "best single model",
        ] {
            assert!(svg.contains(label), "missing {label}");
        }
    }

    #[test]
    fn one_round_without_estimates_still_plots() {
        let points = [RoundPoint {
            round: 0,
            quality: f64::NAN,
            oracle: 1.0,
            best_single: 1.0,
            cost: 0.0,
            oracle_cost: 0.0,
            estimate: None,
            truth: None,
        }];
        let dir = tempfile::tempdir().unwrap();
        plot_rounds_svg(&points, "cold", &dir.path().join("r.svg")).unwrap();
    }
}
