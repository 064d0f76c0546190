//! The gate int8 weights must pass before they serve: on a sample of prompts, every int8
//! embedding within cosine [`MIN_COSINE`] of the f32 one, and the routing decision the same on
//! at least [`MIN_AGREEMENT`] of them. The decision is the caller's (the gateway decides with
//! its catalog, candidates and artifact), so this module only measures and judges.
//!
//! The bundled sample ([`bundled_sample`], `classifier/assets/int8-gate.jsonl`) is 105 prompts,
//! 15 for each task of the taxonomy, cut from the onboarding probe set (LLMRouter, MIT;
//! RouterArena, Apache-2.0) by `scripts/build_int8_gate_sample.py`.

use router_core::ModelId;
use serde::{Deserialize, Serialize};

use crate::{Encoder, Error};

/// Least cosine between an int8 embedding and its f32 one, on every prompt of the sample.
pub const MIN_COSINE: f64 = 0.999;
/// Least share of the sample whose routing decision int8 leaves unchanged.
pub const MIN_AGREEMENT: f64 = 0.99;

const BUNDLED: &str = include_str!("../assets/int8-gate.jsonl");

/// Prompts per forward pass while measuring (the sample is embedded once per precision).
const BATCH: usize = 16;

/// What the gate measured, and whether int8 passed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Int8Gate {
    /// Prompts compared.
    pub prompts: usize,
    /// Mean cosine, int8 against f32.
    pub mean_cosine: f64,
    /// Lowest cosine on any prompt.
    pub min_cosine: f64,
    /// Prompts whose decision was compared (all of them, unless a decision failed).
    pub decided: usize,
    /// Of those, how many chose the same model.
    pub same_decision: usize,
    /// The prompts whose decision changed: (f32 choice, int8 choice, the prompt's first words).
    pub changed: Vec<(ModelId, ModelId, String)>,
    /// Seconds the f32 and the int8 passes over the sample took.
    pub f32_seconds: f64,
    /// As above, int8.
    pub int8_seconds: f64,
}

impl Int8Gate {
    /// Share of decided prompts routed the same.
    pub fn agreement(&self) -> f64 {
        if self.decided == 0 {
            0.0
        } else {
            self.same_decision as f64 / self.decided as f64
        }
    }

    /// Why int8 is refused, or `None` when it passed.
    pub fn refusal(&self) -> Option<String> {
        if self.prompts == 0 {
            return Some("the gate's sample is empty".into());
        }
        if self.min_cosine < MIN_COSINE {
            return Some(format!(
                "lowest cosine to f32 {:.5} is below {MIN_COSINE}",
                self.min_cosine
            ));
        }
        if self.decided < self.prompts {
            return Some(format!(
                "only {} of {} prompts could be routed for the comparison",
                self.decided, self.prompts
            ));
        }
        if self.agreement() < MIN_AGREEMENT {
            return Some(format!(
                "{} of {} decisions changed ({:.1} % the same, below {:.0} %)",
                self.decided - self.same_decision,
                self.decided,
                100.0 * self.agreement(),
                100.0 * MIN_AGREEMENT
            ));
        }
        // int8 exists to be faster; where it is not (no VNNI, the portable loop), f32 serves
        // the same routing sooner.
        if self.int8_seconds > self.f32_seconds {
            return Some(format!(
                "int8 took {:.2} s over the sample against f32's {:.2} s on this CPU",
                self.int8_seconds, self.f32_seconds
            ));
        }
        None
    }
}

/// Embeds `texts` with `encoder`'s f32 and int8 weights (it must have them:
/// [`Encoder::with_int8_weights`]) and routes each embedding with `decide(text, embedding)`.
pub fn measure(
    encoder: &Encoder,
    texts: &[&str],
    decide: impl Fn(&str, &[f32]) -> Option<ModelId>,
) -> Result<Int8Gate, Error> {
    let start = std::time::Instant::now();
    let mut reference = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(BATCH) {
        reference.extend(encoder.encode_f32(chunk)?);
    }
    let f32_seconds = start.elapsed().as_secs_f64();
    let start = std::time::Instant::now();
    let mut quantised = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(BATCH) {
        quantised.extend(encoder.encode_int8(chunk)?);
    }
    let int8_seconds = start.elapsed().as_secs_f64();
    let mut gate = Int8Gate {
        prompts: texts.len(),
        mean_cosine: 0.0,
        min_cosine: 1.0,
        decided: 0,
        same_decision: 0,
        changed: Vec::new(),
        f32_seconds,
        int8_seconds,
    };
    for ((text, a), b) in texts.iter().zip(&reference).zip(&quantised) {
        let cos = cosine(a, b);
        gate.mean_cosine += cos / texts.len().max(1) as f64;
        gate.min_cosine = gate.min_cosine.min(cos);
        if let (Some(x), Some(y)) = (decide(text, a), decide(text, b)) {
            gate.decided += 1;
            if x == y {
                gate.same_decision += 1;
            } else {
                let words: String = text
                    .split_whitespace()
                    .take(8)
                    .collect::<Vec<_>>()
                    .join(" ");
                gate.changed.push((x, y, words));
            }
        }
    }
    Ok(gate)
}

/// Cosine of two vectors (0 when either is zero); NaN anywhere counts as 0, so it fails.
fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    let c = ab / (aa.sqrt() * bb.sqrt());
    if c.is_finite() && a.len() == b.len() {
        c
    } else {
        0.0
    }
}

#[derive(Deserialize)]
struct SampleLine {
    prompt: String,
}

/// The bundled sample's prompts.
pub fn bundled_sample() -> Vec<String> {
    BUNDLED
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str::<SampleLine>(l).ok())
        .map(|l| l.prompt)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_sample_reads_whole() {
        let lines = BUNDLED.lines().filter(|l| !l.trim().is_empty()).count();
        let sample = bundled_sample();
        assert_eq!(sample.len(), lines, "every line parses");
        assert_eq!(sample.len(), 105);
        assert!(sample.iter().all(|p| !p.trim().is_empty()));
    }

    fn gate(min_cosine: f64, decided: usize, same: usize) -> Int8Gate {
        Int8Gate {
            prompts: 100,
            mean_cosine: 0.9999,
            min_cosine,
            decided,
            same_decision: same,
            changed: Vec::new(),
            f32_seconds: 1.0,
            int8_seconds: 0.5,
        }
    }

    #[test]
    fn refusals_name_the_failed_criterion() {
        assert_eq!(gate(0.9995, 100, 99).refusal(), None);
        assert!(gate(0.998, 100, 100).refusal().unwrap().contains("cosine"));
        assert!(gate(0.9995, 100, 98)
            .refusal()
            .unwrap()
            .contains("2 of 100 decisions"));
        assert!(gate(0.9995, 90, 90)
            .refusal()
            .unwrap()
            .contains("only 90 of 100"));
        let slow = Int8Gate {
            int8_seconds: 1.5,
            ..gate(0.9995, 100, 100)
        };
        assert!(slow.refusal().unwrap().contains("against f32's"));
        assert!(cosine(&[1.0, 0.0], &[f32::NAN, 0.0]) == 0.0);
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-12);
    }
}
