//! The cost–quality plot of a [`Report`] as SVG: every router's sweep and hull, random routing at
//! its call shares, the zero router, the oracle and the single models.

use std::path::Path;

use plotters::prelude::*;

use crate::{baselines::ZERO_ROUTER_LABEL, input::Point, Error, Report, Result};

/// Width and height of the SVG in pixels.
const SIZE: (u32, u32) = (1100, 760);

/// Maps cost to the x axis: log10 when the costs span more than a factor of 20 (LLM prices do),
/// linear otherwise. Plotting log10 on a linear axis keeps one chart type for both cases.
#[derive(Clone, Copy)]
struct XAxis {
    log: bool,
}

impl XAxis {
    fn x(self, cost: f64) -> f64 {
        if self.log {
            cost.max(f64::MIN_POSITIVE).log10()
        } else {
            cost
        }
    }

    fn cost(self, x: f64) -> f64 {
        if self.log {
            10f64.powf(x)
        } else {
            x
        }
    }
}

impl Report {
    /// Writes the cost–quality plot to `path` (SVG).
    pub fn plot_svg(&self, path: &Path) -> Result<()> {
        draw(self, path).map_err(|e| Error::Plot {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Every cost–quality point the plot shows.
    fn plotted_points(&self) -> Vec<Point> {
        let mut pts: Vec<Point> = self
            .single_models
            .iter()
            .map(|m| Point {
                cost: m.cost,
                quality: m.quality,
            })
            .collect();
        for r in self.routers.iter().chain(std::iter::once(&self.oracle)) {
            pts.extend(r.sweep.iter().map(|s| s.point()));
            pts.extend(r.random_matched.iter().copied());
        }
        pts.retain(|p| p.cost.is_finite() && p.quality.is_finite());
        pts
    }
}

type DrawResult<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A hull drawn to the right edge, since the curve stays flat after its last vertex. On a log
/// axis each segment (linear in cost) is drawn through intermediate points so it bends as it
/// should instead of looking straight.
fn hull_line(hull: &[Point], ax: XAxis, x_max: f64) -> Vec<(f64, f64)> {
    const STEPS: usize = 16;
    let mut line: Vec<(f64, f64)> = Vec::new();
    for (i, p) in hull.iter().enumerate() {
        if ax.log && i > 0 {
            let a = hull[i - 1];
            for k in 1..STEPS {
                let t = k as f64 / STEPS as f64;
                let cost = a.cost + t * (p.cost - a.cost);
                line.push((ax.x(cost), a.quality + t * (p.quality - a.quality)));
            }
        }
        line.push((ax.x(p.cost), p.quality));
    }
    if let Some(&(x, q)) = line.last() {
        if x < x_max {
            line.push((x_max, q));
        }
    }
    line
}

fn draw(report: &Report, path: &Path) -> DrawResult<()> {
    let pts = report.plotted_points();
    let min_pos = pts
        .iter()
        .map(|p| p.cost)
        .filter(|&c| c > 0.0)
        .fold(f64::INFINITY, f64::min);
    let max_cost = pts.iter().map(|p| p.cost).fold(0.0, f64::max);
    let has_zero = pts.iter().any(|p| p.cost <= 0.0);
    let ax = XAxis {
        log: !has_zero && min_pos.is_finite() && max_cost / min_pos > 20.0,
    };
    let xs = pts.iter().map(|p| ax.x(p.cost));
    let (x_lo, x_hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    let x_pad = ((x_hi - x_lo) * 0.04).max(1e-9);
    let (x_lo, x_hi) = (x_lo - x_pad, x_hi + x_pad);
    let (q_lo, q_hi) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.quality), hi.max(p.quality))
        });
    let q_pad = ((q_hi - q_lo) * 0.06).max(0.01);

    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Cost–quality ({} prompts)", report.n_prompts),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(x_lo..x_hi, (q_lo - q_pad)..(q_hi + q_pad))?;
    let x_desc = if ax.log {
        "mean cost per prompt (USD, log scale)"
    } else {
        "mean cost per prompt (USD)"
    };
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("mean quality")
        .x_label_formatter(&|x| format!("{:.2e}", ax.cost(*x)))
        .y_label_formatter(&|q| format!("{q:.2}"))
        .draw()?;

    let curves = report.routers.iter().enumerate();
    for (i, r) in curves {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                hull_line(&r.hull, ax, x_hi),
                color.stroke_width(2),
            ))?
            .label(format!("{} (AIQ {:.3})", r.name, r.aiq))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart.draw_series(
            r.sweep
                .iter()
                .map(|s| Circle::new((ax.x(s.cost), s.quality), 2, color.filled())),
        )?;
        let faded = color.mix(0.45);
        chart
            .draw_series(
                r.random_matched
                    .iter()
                    .map(|p| Cross::new((ax.x(p.cost), p.quality), 3, faded)),
            )?
            .label(format!(
                "random at {}'s shares (AIQ {:.3})",
                r.name, r.random_matched_aiq
            ))
            .legend(move |(x, y)| Cross::new((x + 9, y), 3, faded));
    }

    let zero = &report.zero_router;
    chart
        .draw_series(LineSeries::new(
            hull_line(&zero.hull, ax, x_hi),
            BLACK.stroke_width(1),
        ))?
        .label(format!("{ZERO_ROUTER_LABEL} (AIQ {:.3})", zero.aiq))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK));

    let oracle = &report.oracle;
    chart
        .draw_series(LineSeries::new(
            hull_line(&oracle.hull, ax, x_hi),
            RED.mix(0.7).stroke_width(1),
        ))?
        .label(format!("{} (AIQ {:.3})", oracle.name, oracle.aiq))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.mix(0.7)));
    let op = &report.oracle_point;
    chart.draw_series(std::iter::once(Circle::new(
        (ax.x(op.cost), op.quality),
        5,
        RED.filled(),
    )))?;

    chart
        .draw_series(report.single_models.iter().map(|m| {
            EmptyElement::at((ax.x(m.cost), m.quality))
                + TriangleMarker::new((0, 0), 6, BLACK.filled())
                + Text::new(m.model.to_string(), (8, -14), ("sans-serif", 13))
        }))?
        .label("single models")
        .legend(|(x, y)| TriangleMarker::new((x + 9, y), 5, BLACK.filled()));

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()?;
    root.present()?;
    Ok(())
}
