//! The model's weights, rearranged once at load into the layout the forward pass multiplies by:
//! every linear layer stored transposed (`in × out`, row-major) so `gemm` streams it without
//! repacking, and the query, key and value projections fused into one `384 × 1152` matrix so a
//! layer starts with a single product.

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::Config as BertConfig;

use crate::Error;

/// One linear layer: `y = x · w + b` with `w` stored `inputs × outputs`, row-major.
pub(super) struct Linear {
    pub w: Vec<f32>,
    pub b: Vec<f32>,
    pub inputs: usize,
    pub outputs: usize,
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

/// A PyTorch `Linear` (`weight` is `out × in`) transposed to `in × out`.
fn linear(vb: &VarBuilder<'_>, inputs: usize, outputs: usize) -> Result<Linear, Error> {
    let w = vb.get((outputs, inputs), "weight")?.t()?.contiguous()?;
    Ok(Linear {
        w: flat(w)?,
        b: flat(vb.get(outputs, "bias")?)?,
        inputs,
        outputs,
    })
}

fn norm(vb: &VarBuilder<'_>, width: usize) -> Result<Norm, Error> {
    Ok(Norm {
        gamma: flat(vb.get(width, "weight")?)?,
        beta: flat(vb.get(width, "bias")?)?,
    })
}

impl PackedBert {
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

        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let att = l.pp("attention");
            let (q, k, v) = (
                linear(&att.pp("self.query"), h, h)?,
                linear(&att.pp("self.key"), h, h)?,
                linear(&att.pp("self.value"), h, h)?,
            );
            // Fuse: row r of the packed matrix is row r of Q, then of K, then of V.
            let mut w = Vec::with_capacity(h * 3 * h);
            for r in 0..h {
                for part in [&q, &k, &v] {
                    w.extend_from_slice(&part.w[r * h..(r + 1) * h]);
                }
            }
            let b = [q.b, k.b, v.b].concat();
            layers.push(Layer {
                qkv: Linear {
                    w,
                    b,
                    inputs: h,
                    outputs: 3 * h,
                },
                attn_out: linear(&att.pp("output.dense"), h, h)?,
                attn_norm: norm(&att.pp("output.LayerNorm"), h)?,
                ffn_in: linear(&l.pp("intermediate.dense"), h, inter)?,
                ffn_out: linear(&l.pp("output.dense"), inter, h)?,
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
