//! Fitting the softmax regression and its temperature.
//!
//! Full-batch Adam on the class-weighted cross-entropy plus an L2 penalty on the weights (not
//! the biases). The data are a few thousand 384-d unit vectors and seven classes, so a full
//! pass is a few tens of millions of multiply-adds: a few hundred passes take seconds, and
//! full batches make the fit deterministic.

use classifier::predictors::softmax;

/// One labelled example as the fit sees it.
pub(crate) struct Labelled<'a> {
    pub(crate) x: &'a [f32],
    pub(crate) class: usize,
    pub(crate) weight: f32,
}

/// Weights `k × d` (row-major) and biases `k`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Linear {
    pub(crate) k: usize,
    pub(crate) d: usize,
    pub(crate) w: Vec<f32>,
    pub(crate) b: Vec<f32>,
}

impl Linear {
    pub(crate) fn logits(&self, x: &[f32]) -> Vec<f32> {
        (0..self.k)
            .map(|c| {
                let row = &self.w[c * self.d..(c + 1) * self.d];
                self.b[c] + row.iter().zip(x).map(|(a, b)| a * b).sum::<f32>()
            })
            .collect()
    }
}

/// Optimiser settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FitSettings {
    pub(crate) l2: f32,
    pub(crate) epochs: usize,
    pub(crate) learning_rate: f32,
}

/// Fits `k` classes on `data` (dimension `d`).
pub(crate) fn fit(data: &[Labelled<'_>], k: usize, d: usize, s: FitSettings) -> Linear {
    let mut m = Linear {
        k,
        d,
        w: vec![0.0; k * d],
        b: vec![0.0; k],
    };
    let total_weight: f32 = data
        .iter()
        .map(|e| e.weight)
        .sum::<f32>()
        .max(f32::MIN_POSITIVE);
    let (beta1, beta2, eps) = (0.9f32, 0.999f32, 1e-8f32);
    let mut mw = vec![0.0f32; k * d];
    let mut vw = vec![0.0f32; k * d];
    let mut mb = vec![0.0f32; k];
    let mut vb = vec![0.0f32; k];
    let mut gw = vec![0.0f32; k * d];
    let mut gb = vec![0.0f32; k];
    for step in 1..=s.epochs {
        gw.iter_mut().for_each(|g| *g = 0.0);
        gb.iter_mut().for_each(|g| *g = 0.0);
        for e in data {
            let p = softmax(&m.logits(e.x), 1.0);
            for c in 0..k {
                let err = (p[c] - if c == e.class { 1.0 } else { 0.0 }) * e.weight / total_weight;
                gb[c] += err;
                let row = &mut gw[c * d..(c + 1) * d];
                for (g, x) in row.iter_mut().zip(e.x) {
                    *g += err * x;
                }
            }
        }
        for (g, w) in gw.iter_mut().zip(&m.w) {
            *g += s.l2 * w;
        }
        // Cosine decay to a tenth keeps the last epochs from oscillating.
        let progress = step as f32 / s.epochs as f32;
        let lr =
            s.learning_rate * (0.1 + 0.9 * 0.5 * (1.0 + (std::f32::consts::PI * progress).cos()));
        let c1 = 1.0 - beta1.powi(step as i32);
        let c2 = 1.0 - beta2.powi(step as i32);
        adam(
            &mut m.w,
            &gw,
            &mut mw,
            &mut vw,
            lr,
            c1,
            c2,
            (beta1, beta2, eps),
        );
        adam(
            &mut m.b,
            &gb,
            &mut mb,
            &mut vb,
            lr,
            c1,
            c2,
            (beta1, beta2, eps),
        );
    }
    m
}

#[expect(
    clippy::too_many_arguments,
    reason = "Adam's state and settings, passed per parameter tensor"
)]
fn adam(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    lr: f32,
    c1: f32,
    c2: f32,
    (beta1, beta2, eps): (f32, f32, f32),
) {
    for i in 0..params.len() {
        m[i] = beta1 * m[i] + (1.0 - beta1) * grads[i];
        v[i] = beta2 * v[i] + (1.0 - beta2) * grads[i] * grads[i];
        params[i] -= lr * (m[i] / c1) / ((v[i] / c2).sqrt() + eps);
    }
}

/// The index and value of the largest entry (the first on ties; `(0, f32::MIN)` when empty).
pub(crate) fn argmax(v: &[f32]) -> (usize, f32) {
    v.iter().enumerate().fold(
        (0, f32::MIN),
        |acc, (i, &x)| if x > acc.1 { (i, x) } else { acc },
    )
}

/// Mean negative log-likelihood of the true classes at temperature `t` (unweighted).
pub(crate) fn nll(logits: &[Vec<f32>], classes: &[usize], t: f32) -> f64 {
    let total: f64 = logits
        .iter()
        .zip(classes)
        .map(|(z, &c)| -f64::from(softmax(z, t)[c].max(1e-12)).ln())
        .sum();
    total / logits.len().max(1) as f64
}

/// The temperature in `[0.05, 20]` minimising the validation NLL (golden-section search in
/// log space; NLL is unimodal in the temperature of a fixed model).
pub(crate) fn fit_temperature(logits: &[Vec<f32>], classes: &[usize]) -> f32 {
    let (mut lo, mut hi) = (0.05f64.ln(), 20f64.ln());
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let f = |lt: f64| nll(logits, classes, lt.exp() as f32);
    let mut a = hi - phi * (hi - lo);
    let mut b = lo + phi * (hi - lo);
    let (mut fa, mut fb) = (f(a), f(b));
    for _ in 0..60 {
        if fa < fb {
            hi = b;
            b = a;
            fb = fa;
            a = hi - phi * (hi - lo);
            fa = f(a);
        } else {
            lo = a;
            a = b;
            fa = fb;
            b = lo + phi * (hi - lo);
            fb = f(b);
        }
    }
    (((lo + hi) / 2.0).exp()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_classes_are_learned_and_temperature_is_positive() {
        let xs: Vec<[f32; 2]> = (0..40)
            .map(|i| {
                let a = i as f32 * 0.1;
                if i % 2 == 0 {
                    [1.0, 0.1 * a.sin()]
                } else {
                    [0.1 * a.cos(), 1.0]
                }
            })
            .collect();
        let data: Vec<Labelled<'_>> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| Labelled {
                x,
                class: i % 2,
                weight: 1.0,
            })
            .collect();
        let m = fit(
            &data,
            2,
            2,
            FitSettings {
                l2: 1e-3,
                epochs: 200,
                learning_rate: 0.1,
            },
        );
        let logits: Vec<Vec<f32>> = xs.iter().map(|x| m.logits(x)).collect();
        let classes: Vec<usize> = (0..40).map(|i| i % 2).collect();
        for (z, &c) in logits.iter().zip(&classes) {
            let p = softmax(z, 1.0);
            assert!(p[c] > 0.5);
        }
        let t = fit_temperature(&logits, &classes);
        assert!(t > 0.0 && t.is_finite());
        assert!(nll(&logits, &classes, t) <= nll(&logits, &classes, 1.0) + 1e-9);
    }
}
