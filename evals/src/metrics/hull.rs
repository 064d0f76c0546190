//! RouterBench's non-decreasing convex hull (NDCH) of a router's cost–quality points, and the
//! piecewise-linear curve `R̃(c)` it defines.
//!
//! Any two operating points of a router can be mixed by a coin flip per prompt, which realises
//! every point of the segment between them; and paying more for less quality is never
//! necessary. So the achievable curve is the *upper* convex hull of the points, cut at its
//! highest-quality vertex and continued flat to the right of it (Hu et al. 2024, §3,
//! arXiv:2403.12031; reference code `withmartian/routerbench` `evaluation/AIQ.py`
//! @30e0925, `get_non_descreasing_convex_hull_of`).
//!
//! Left of the cheapest vertex `R̃` is undefined: the router cannot spend that little.

use crate::input::Point;

/// The NDCH vertices, ascending in cost and non-decreasing in quality. Non-finite points are
/// ignored; an empty input gives an empty hull.
pub fn non_decreasing_hull(points: &[Point]) -> Vec<Point> {
    let mut pts: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| p.cost.is_finite() && p.quality.is_finite())
        .collect();
    // Ascending cost; at equal cost the best quality first, so dedup keeps it.
    pts.sort_by(|a, b| {
        a.cost
            .total_cmp(&b.cost)
            .then(b.quality.total_cmp(&a.quality))
    });
    pts.dedup_by(|later, kept| later.cost == kept.cost);

    // Andrew's monotone chain, upper half: drop the middle vertex while it is not strictly
    // above the chord of its neighbours (collinear vertices add nothing to the curve).
    let mut hull: Vec<Point> = Vec::with_capacity(pts.len());
    for p in pts {
        while hull.len() >= 2 {
            let (o, a) = (hull[hull.len() - 2], hull[hull.len() - 1]);
            let cross = (a.cost - o.cost) * (p.quality - o.quality)
                - (a.quality - o.quality) * (p.cost - o.cost);
            if cross >= 0.0 {
                hull.pop();
            } else {
                break;
            }
        }
        hull.push(p);
    }
    // The upper hull is concave: it rises to its maximum, then falls. Keep the rise.
    let mut best = 0;
    for (i, p) in hull.iter().enumerate() {
        if p.quality > hull[best].quality {
            best = i;
        }
    }
    hull.truncate(best + 1);
    hull
}

/// `R̃(c)`: linear between vertices, flat after the last; `None` below the first vertex's cost
/// or for an empty hull.
pub fn hull_value(hull: &[Point], cost: f64) -> Option<f64> {
    let first = hull.first()?;
    if cost < first.cost {
        return None;
    }
    for w in hull.windows(2) {
        let (a, b) = (w[0], w[1]);
        if cost <= b.cost {
            let t = (cost - a.cost) / (b.cost - a.cost);
            return Some(a.quality + t * (b.quality - a.quality));
        }
    }
    hull.last().map(|p| p.quality)
}

/// `∫_lo^hi R̃(c) dc`, counting zero where `R̃` is undefined (below the hull's cheapest vertex),
/// as RouterBench's reference code does by integrating only from the router's first point.
pub fn hull_area(hull: &[Point], lo: f64, hi: f64) -> f64 {
    let Some(last) = hull.last() else {
        return 0.0;
    };
    if hi <= lo {
        return 0.0;
    }
    let mut area = 0.0;
    // Linear pieces between vertices, clipped to [lo, hi]; trapezoids are exact on lines.
    for w in hull.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (s, e) = (a.cost.max(lo), b.cost.min(hi));
        if e > s {
            let at =
                |c: f64| a.quality + (c - a.cost) / (b.cost - a.cost) * (b.quality - a.quality);
            area += (e - s) * (at(s) + at(e)) / 2.0;
        }
    }
    // The flat tail right of the last vertex.
    let s = last.cost.max(lo);
    if hi > s {
        area += (hi - s) * last.quality;
    }
    area
}

/// The least cost at which `R̃(c) ≥ target`, or `None` if the curve never reaches it.
pub fn min_cost_reaching(hull: &[Point], target: f64) -> Option<f64> {
    let first = hull.first()?;
    if first.quality >= target {
        return Some(first.cost);
    }
    for w in hull.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b.quality >= target {
            let t = (target - a.quality) / (b.quality - a.quality);
            return Some(a.cost + t * (b.cost - a.cost));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn p(cost: f64, quality: f64) -> Point {
        Point { cost, quality }
    }

    #[test]
    fn hull_drops_interior_dominated_and_collinear_points() {
        // Dyadic values so that the collinearity test is exact.
        let pts = [
            p(1.0, 0.25), // below the chord (0,0.25)–(2,0.75): interior
            p(0.0, 0.25),
            p(2.0, 0.75),
            p(3.0, 0.875),
            p(4.0, 0.9375), // on the chord (3,0.875)–(5,1): adds nothing
            p(5.0, 1.0),
            p(6.0, 0.5),   // more cost, less quality: cut
            p(0.0, 0.125), // same cost as (0,0.25), worse
        ];
        let h = non_decreasing_hull(&pts);
        assert_eq!(
            h,
            vec![p(0.0, 0.25), p(2.0, 0.75), p(3.0, 0.875), p(5.0, 1.0)]
        );
    }

    #[test]
    fn cheapest_point_starts_the_hull_even_when_good() {
        let h = non_decreasing_hull(&[p(1.0, 0.9), p(2.0, 0.5), p(3.0, 0.95)]);
        assert_eq!(h, vec![p(1.0, 0.9), p(3.0, 0.95)]);
        let h = non_decreasing_hull(&[p(1.0, 0.9), p(2.0, 0.5)]);
        assert_eq!(h, vec![p(1.0, 0.9)]);
    }

    #[test]
    fn value_area_and_crossing_by_hand() {
        let h = vec![p(1.0, 0.2), p(3.0, 0.6), p(5.0, 0.7)];
        assert_eq!(hull_value(&h, 0.5), None);
        assert_eq!(hull_value(&h, 2.0), Some(0.4));
        assert_eq!(hull_value(&h, 9.0), Some(0.7));
        // [1,3]: (0.2+0.6)/2·2 = 0.8; [3,5]: 1.3; [5,6]: 0.7 → 2.8.
        assert!((hull_area(&h, 1.0, 6.0) - 2.8).abs() < 1e-12);
        // Below the first vertex counts zero: same area from 0.
        assert!((hull_area(&h, 0.0, 6.0) - 2.8).abs() < 1e-12);
        // Clipped: [2,4] = (0.4+0.6)/2 + (0.6+0.65)/2 = 0.5 + 0.625.
        assert!((hull_area(&h, 2.0, 4.0) - 1.125).abs() < 1e-12);
        assert_eq!(min_cost_reaching(&h, 0.1), Some(1.0));
        assert!((min_cost_reaching(&h, 0.4).unwrap() - 2.0).abs() < 1e-12);
        assert_eq!(min_cost_reaching(&h, 0.71), None);
    }
}
