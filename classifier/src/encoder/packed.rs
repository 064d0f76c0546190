//! The model's weights, rearranged once at load into the layout the forward pass multiplies by:
//! every linear layer cut into panels of [`panel_width`] output features, each panel stored as
//! one contiguous `in × width` block (see [`Linear`]), and the query, key and value projections
//! fused into one `384 × 1152` matrix so a layer starts with a single product.

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::Config as BertConfig;

use super::int8::QuantLinear;
use super::kernels::Panels;
use crate::Error;

/// Output features per weight panel: the row count of the `gemm` f32 micro-kernel this CPU
/// runs, so that one panel is exactly one micro-kernel tile, `in × width`, read front to back.
/// AVX-512: 4 registers of 16 (64); AVX2+FMA: 2 registers of 8 (16); NEON: 4 of 4 (16). With 64-wide
/// panels on an AVX2 machine, its 16-row kernel read a quarter of every 256-byte panel row and
/// skipped the rest, four passes a panel; at a few tokens per pass, where the weights stream
/// from memory, a 16-token pass took 35 % longer with 2 threads and 36 % with 1
/// (docs/performance.md, "panels as wide as the AVX2 micro-kernel").
pub(crate) fn panel_width() -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        return 64;
    }
    16
}

/// One linear layer: `y = x · w + b`, `w` being `inputs × outputs`.
///
/// `w` is stored in panels: panel `p` holds output features `p·width .. (p+1)·width` as an
/// `inputs × width` row-major block (the last panel zero-padded). A product then reads each
/// panel front to back. Stored as one `inputs × outputs` matrix instead, `gemm` walked the
/// weights a row of `outputs` floats apart for every input (4.6 KB for the QKV matrix: a new
/// page per step, which the hardware prefetcher does not follow), so at a few tokens, where
/// each weight is used only a few times, the pass waited on memory: 35 % slower at 16 and 64
/// tokens on this machine (docs/performance.md).
pub(super) struct Linear {
    pub panels: Vec<f32>,
    pub b: Vec<f32>,
    pub inputs: usize,
    pub outputs: usize,
    /// Output features per panel ([`panel_width`] at load).
    pub width: usize,
    /// The same weights in int8, once [`PackedBert::quantise`] has run.
    pub int8: Option<QuantLinear>,
}

impl Linear {
    /// The weights as the panel product reads them.
    pub fn weights(&self) -> Panels<'_> {
        Panels {
            data: &self.panels,
            width: self.width,
            inputs: self.inputs,
            outputs: self.outputs,
        }
    }

    /// Packs `w` (`inputs × outputs`, row-major) into panels of `width` output features.
    fn new(w: &[f32], b: Vec<f32>, inputs: usize, outputs: usize, width: usize) -> Self {
        let width = width.max(1);
        let count = outputs.div_ceil(width);
        let mut panels = vec![0f32; count * inputs * width];
        for (p, panel) in panels.chunks_exact_mut(inputs * width).enumerate() {
            let first = p * width;
            let used = width.min(outputs - first);
            for (i, row) in panel.chunks_exact_mut(width).enumerate() {
                row[..used].copy_from_slice(&w[i * outputs + first..i * outputs + first + used]);
            }
        }
        Linear {
            panels,
            b,
            inputs,
            outputs,
            width,
            int8: None,
        }
    }

    /// The weights back as one `inputs × outputs` row-major matrix.
    fn dense(&self) -> Vec<f32> {
        let mut w = vec![0f32; self.inputs * self.outputs];
        for (p, panel) in self
            .panels
            .chunks_exact(self.inputs * self.width)
            .enumerate()
        {
            let first = p * self.width;
            let used = self.width.min(self.outputs - first);
            for (i, row) in panel.chunks_exact(self.width).enumerate() {
                w[i * self.outputs + first..i * self.outputs + first + used]
                    .copy_from_slice(&row[..used]);
            }
        }
        w
    }

    fn quantise(&mut self) {
        self.int8 = Some(QuantLinear::new(&self.dense(), self.inputs, self.outputs));
    }
}

/// Layer-norm scale and shift.
pub(super) struct Norm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

/// One transformer block.
pub(super) struct Layer {
    /// Query, key and value side by side: outputs `0..h` are Q, `h..2h` K, `2h..3h` V.
    pub qkv: Linear,
    pub attn_out: Linear,
    pub attn_norm: Norm,
    pub ffn_in: Linear,
    pub ffn_out: Linear,
    pub ffn_norm: Norm,
}

/// The whole encoder, packed.
pub(super) struct PackedBert {
    pub hidden: usize,
    pub heads: usize,
    pub eps: f32,
    pub vocab: usize,
    pub max_positions: usize,
    /// `vocab × hidden`.
    pub word: Vec<f32>,
    /// `max_positions × hidden`, with token type 0 already added (this encoder only ever feeds
    /// type 0, as sentence-transformers does for single texts).
    pub position_and_type: Vec<f32>,
    pub embed_norm: Norm,
    pub layers: Vec<Layer>,
}

fn flat(t: Tensor) -> Result<Vec<f32>, Error> {
    Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

/// A PyTorch `Linear`'s weight (`out × in`) transposed to `in × out`, and its bias.
fn weight_and_bias(
    vb: &VarBuilder<'_>,
    inputs: usize,
    outputs: usize,
) -> Result<(Vec<f32>, Vec<f32>), Error> {
    let w = vb.get((outputs, inputs), "weight")?.t()?.contiguous()?;
    Ok((flat(w)?, flat(vb.get(outputs, "bias")?)?))
}

fn linear(
    vb: &VarBuilder<'_>,
    inputs: usize,
    outputs: usize,
    width: usize,
) -> Result<Linear, Error> {
    let (w, b) = weight_and_bias(vb, inputs, outputs)?;
    Ok(Linear::new(&w, b, inputs, outputs, width))
}

fn norm(vb: &VarBuilder<'_>, width: usize) -> Result<Norm, Error> {
    Ok(Norm {
        gamma: flat(vb.get(width, "weight")?)?,
        beta: flat(vb.get(width, "bias")?)?,
    })
}

impl PackedBert {
    /// Adds int8 copies of the attention output and the first feed-forward weights (the f32
    /// ones stay: the gate compares the two passes, and a pass may still ask for f32).
    ///
    /// Two products stay f32, each for its input's outliers. The fused QKV projection reads a
    /// layer norm's output, where a few channels run far larger than the rest, so a per-token
    /// scale leaves the others a handful of steps, and its error is then amplified by the
    /// attention softmax. The second feed-forward product reads GELU's 1,536 outputs, as
    /// heavy-tailed. Measured with `switchyard bench int8` on a CPU with AVX-512 VNNI
    /// (lowest cosine to f32 / same routing decision): with QKV f32 and the other three int8,
    /// the gate's 105 prompts 0.99904 / 102 of 105 and 300 LLMRouter prompts 0.99873 / 298 of
    /// 300, both refused; that product alone int8, 0.99940 / 102 of 105; attention output and
    /// first feed-forward int8 (this), 0.99962 / 104 of 105, LLMRouter 0.99950 / 299 of 300,
    /// RouterBench 0.99965 / 299 of 300, all passing, with 5/12 of a layer's products int8.
    /// Smoothing the QKV input (SmoothQuant with peaks estimated from the norm's γ and β)
    /// moved its lowest cosine by under 0.0001 and was dropped.
    pub fn quantise(&mut self) {
        for layer in &mut self.layers {
            layer.attn_out.quantise();
            layer.ffn_in.quantise();
        }
    }

    /// Whether [`PackedBert::quantise`] has run.
    pub fn has_int8(&self) -> bool {
        !self.layers.is_empty() && self.layers.iter().all(|l| l.ffn_in.int8.is_some())
    }

    /// Reads every tensor BERT needs from `vb` (the same names candle's `BertModel` reads).
    pub fn load(vb: VarBuilder<'_>, config: &BertConfig) -> Result<Self, Error> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let h = config.hidden_size;
        let inter = config.intermediate_size;
        let emb = vb.pp("embeddings");
        let word = flat(emb.get((config.vocab_size, h), "word_embeddings.weight")?)?;
        let positions = emb.get(
            (config.max_position_embeddings, h),
            "position_embeddings.weight",
        )?;
        let types = emb.get((config.type_vocab_size, h), "token_type_embeddings.weight")?;
        let position_and_type = flat(positions.broadcast_add(&types.get(0)?)?)?;
        let embed_norm = norm(&emb.pp("LayerNorm"), h)?;

        let width = panel_width();
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let att = l.pp("attention");
            let (q, k, v) = (
                weight_and_bias(&att.pp("self.query"), h, h)?,
                weight_and_bias(&att.pp("self.key"), h, h)?,
                weight_and_bias(&att.pp("self.value"), h, h)?,
            );
            // Fuse: row r of the fused matrix is row r of Q, then of K, then of V.
            let mut w = Vec::with_capacity(h * 3 * h);
            for r in 0..h {
                for part in [&q.0, &k.0, &v.0] {
                    w.extend_from_slice(&part[r * h..(r + 1) * h]);
                }
            }
            let b = [q.1, k.1, v.1].concat();
            layers.push(Layer {
                qkv: Linear::new(&w, b, h, 3 * h, width),
                attn_out: linear(&att.pp("output.dense"), h, h, width)?,
                attn_norm: norm(&att.pp("output.LayerNorm"), h)?,
                ffn_in: linear(&l.pp("intermediate.dense"), h, inter, width)?,
                ffn_out: linear(&l.pp("output.dense"), inter, h, width)?,
                ffn_norm: norm(&l.pp("output.LayerNorm"), h)?,
            });
        }
        Ok(Self {
            hidden: h,
            heads: config.num_attention_heads,
            eps: config.layer_norm_eps as f32,
            vocab: config.vocab_size,
            max_positions: config.max_position_embeddings,
            word,
            position_and_type,
            embed_norm,
            layers,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::encoder::kernels;

    /// Panels against the plain triple loop, at both widths the machines pick, with a ragged
    /// last panel, one and two threads, accumulating onto what `dst` held (the bias).
    #[test]
    fn panel_products_match_the_plain_product() {
        for width in [16, 64] {
            panel_product_matches_the_plain_product(width);
        }
    }

    /// Two service workers share one pool: while a pool thread waits inside one product, rayon
    /// may run the other worker's product on it, nested. Each product must still be right, and
    /// none may find the AVX2 kernel's per-thread packing buffer in use (it used to panic with
    /// "already borrowed", killing the worker).
    #[test]
    fn products_nested_on_a_shared_pool_are_right() {
        let (rows, inputs, outputs, width) = (12, 384, 384, 16);
        let w: Vec<f32> = (0..inputs * outputs)
            .map(|i| ((i * 37) % 23) as f32 / 7.0 - 1.5)
            .collect();
        let lin = Linear::new(&w, vec![0.0; outputs], inputs, outputs, width);
        let a: Vec<f32> = (0..rows * inputs)
            .map(|i| ((i * 11) % 13) as f32 / 5.0 - 1.0)
            .collect();
        let product = || {
            let mut dst = vec![0f32; rows * outputs];
            kernels::matmul_panels(&mut dst, &a, rows, lin.weights(), 2).unwrap();
            dst
        };
        let want = product();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..300 {
                        assert_eq!(pool.install(product), want);
                    }
                });
            }
        });
    }

    fn panel_product_matches_the_plain_product(width: usize) {
        // One row, a short tile, and two full tiles of the AVX2 kernel plus one row.
        for rows in [1, 5, 13] {
            panel_product_of(rows, width);
        }
    }

    fn panel_product_of(rows: usize, width: usize) {
        let (inputs, outputs) = (7, width * 2 + 9);
        let w: Vec<f32> = (0..inputs * outputs)
            .map(|i| ((i * 37) % 23) as f32 / 7.0 - 1.5)
            .collect();
        let a: Vec<f32> = (0..rows * inputs)
            .map(|i| ((i * 11) % 13) as f32 / 5.0 - 1.0)
            .collect();
        let b: Vec<f32> = (0..outputs).map(|j| j as f32 * 0.01).collect();
        let lin = Linear::new(&w, b.clone(), inputs, outputs, width);
        assert_eq!(lin.panels.len(), 3 * inputs * width);
        assert_eq!(lin.dense(), w, "packing round-trips");
        for threads in [1, 2] {
            let mut dst = vec![0f32; rows * outputs];
            kernels::fill_rows(&mut dst, &lin.b);
            kernels::matmul_panels(&mut dst, &a, rows, lin.weights(), threads).unwrap();
            for t in 0..rows {
                for j in 0..outputs {
                    let want: f32 = b[j]
                        + (0..inputs)
                            .map(|i| a[t * inputs + i] * w[i * outputs + j])
                            .sum::<f32>();
                    let got = dst[t * outputs + j];
                    assert!((got - want).abs() < 1e-4, "({t}, {j}): {got} vs {want}");
                }
            }
        }
        let mut short = vec![0f32; rows * outputs - 1];
        assert!(kernels::matmul_panels(&mut short, &a, rows, lin.weights(), 1).is_err());
        let mut dst = vec![0f32; rows * outputs];
        let cut = Panels {
            data: &lin.panels[1..],
            ..lin.weights()
        };
        assert!(kernels::matmul_panels(&mut dst, &a, rows, cut, 1).is_err());
    }
}
