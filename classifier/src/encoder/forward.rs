//! The forward pass over a ragged batch: every text's tokens are stacked into one
//! `tokens × hidden` matrix with no padding, so each linear layer is a single product over the
//! real tokens of the whole batch, and attention runs per text over its own length only.
//!
//! Ported from candle's `BertModel` (candle-transformers 0.11.1, `src/models/bert.rs`, itself
//! following Hugging Face `modeling_bert.py` at 6eedfa6d) and checked against it in the tests.

use rayon::prelude::*;

use super::kernels::{self, Mat, Out};
use super::packed::{Layer, Linear, PackedBert};
use super::{ExtraLayers, RoutingAdapter};
use crate::Error;

/// Where each text's rows sit in the stacked matrix.
#[derive(Clone, Copy)]
struct Span {
    start: usize,
    len: usize,
}

/// Runs the model on token ids and returns one unit-length, mean-pooled vector per text (a text
/// with no tokens gets the zero vector), followed by the same of each of `extra`'s layers, then
/// by the `adapter`'s vector when there is one. `threads` is the most threads any step may use.
pub(super) fn embed(
    model: &PackedBert,
    ids: &[Vec<u32>],
    threads: usize,
    extra: ExtraLayers,
    adapter: Option<&RoutingAdapter>,
    precision: Precision,
) -> Result<Vec<Vec<f32>>, Error> {
    let h = model.hidden;
    let Some((x, spans, earlier)) = hidden(model, ids, threads, extra, precision)? else {
        let blocks = 1 + extra.count() + usize::from(adapter.is_some());
        return Ok(vec![vec![0.0; h * blocks]; ids.len()]);
    };
    let mut out = pool(&x, &spans, h);
    for block in earlier {
        for (v, b) in out.iter_mut().zip(block) {
            v.extend(b);
        }
    }
    if let Some(adapter) = adapter {
        for (v, span) in out.iter_mut().zip(&spans) {
            v.extend(adapter.apply(&x[span.start * h..(span.start + span.len) * h])?);
        }
    }
    Ok(out)
}

/// The last layer's output per text, `tokens × hidden` row-major, unpooled (what a routing
/// adapter is trained on).
pub(super) fn last_hidden(
    model: &PackedBert,
    ids: &[Vec<u32>],
    threads: usize,
    precision: Precision,
) -> Result<Vec<Vec<f32>>, Error> {
    let h = model.hidden;
    let Some((x, spans, _)) = hidden(model, ids, threads, ExtraLayers::NONE, precision)? else {
        return Ok(vec![Vec::new(); ids.len()]);
    };
    Ok(spans
        .iter()
        .map(|s| x[s.start * h..(s.start + s.len) * h].to_vec())
        .collect())
}

/// The stacked last-layer states, each text's span in them, and the pooled vectors of
/// `extra`'s layers; `None` when the batch has no tokens at all.
#[allow(clippy::type_complexity)]
fn hidden(
    model: &PackedBert,
    ids: &[Vec<u32>],
    threads: usize,
    extra: ExtraLayers,
    precision: Precision,
) -> Result<Option<(Vec<f32>, Vec<Span>, Vec<Vec<Vec<f32>>>)>, Error> {
    let h = model.hidden;
    let mut spans = Vec::with_capacity(ids.len());
    let mut total = 0;
    for row in ids {
        if row.len() > model.max_positions {
            return Err(Error::Shape(format!(
                "{} tokens in one text; the model has {} positions",
                row.len(),
                model.max_positions
            )));
        }
        spans.push(Span {
            start: total,
            len: row.len(),
        });
        total += row.len();
    }

    if total == 0 {
        return Ok(None);
    }

    // Embeddings: word + (position + type 0), then layer norm.
    let mut x = vec![0f32; total * h];
    for (row, span) in ids.iter().zip(&spans) {
        for (pos, &id) in row.iter().enumerate() {
            let id = id as usize;
            if id >= model.vocab {
                return Err(Error::Shape(format!(
                    "token id {id} is outside the vocabulary of {}",
                    model.vocab
                )));
            }
            let dst = &mut x[(span.start + pos) * h..(span.start + pos + 1) * h];
            let word = &model.word[id * h..(id + 1) * h];
            let place = &model.position_and_type[pos * h..(pos + 1) * h];
            for ((d, w), p) in dst.iter_mut().zip(word).zip(place) {
                *d = w + p;
            }
        }
    }
    kernels::layer_norm(
        &mut x,
        &model.embed_norm.gamma,
        &model.embed_norm.beta,
        model.eps,
    );

    let mut earlier = Vec::new();
    if extra.contains(0) {
        earlier.push(pool(&x, &spans, h));
    }
    let mut scratch = Scratch::new(total, h, model);
    for (i, layer) in model.layers.iter().enumerate() {
        layer_forward(
            model,
            layer,
            &spans,
            &mut x,
            &mut scratch,
            threads,
            precision,
        )?;
        if i + 1 < model.layers.len() && extra.contains(i + 1) {
            earlier.push(pool(&x, &spans, h));
        }
    }
    Ok(Some((x, spans, earlier)))
}

/// Buffers reused across layers.
struct Scratch {
    qkv: Vec<f32>,
    heads: Vec<f32>,
    ctx: Vec<f32>,
    y: Vec<f32>,
    ffn: Vec<f32>,
}

impl Scratch {
    fn new(total: usize, h: usize, model: &PackedBert) -> Self {
        let inter = model.layers.first().map_or(0, |l| l.ffn_in.outputs);
        Self {
            qkv: vec![0.0; total * 3 * h],
            heads: vec![0.0; total * h],
            ctx: vec![0.0; total * h],
            y: vec![0.0; total * h],
            ffn: vec![0.0; total * inter],
        }
    }
}

/// Which weights a pass multiplies by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Precision {
    F32,
    /// The int8 copies where the model has them (`PackedBert::quantise`), else f32.
    Int8,
}

/// `dst = src · w + b` over `rows` rows.
fn linear(
    dst: &mut [f32],
    src: &[f32],
    rows: usize,
    w: &Linear,
    threads: usize,
    precision: Precision,
) -> Result<(), Error> {
    kernels::fill_rows(dst, &w.b);
    if let (Precision::Int8, Some(q)) = (precision, &w.int8) {
        return q.matmul(dst, src, rows, threads);
    }
    let work = rows * w.inputs * w.outputs;
    kernels::matmul_panels(
        dst,
        src,
        rows,
        w.weights(),
        kernels::threads_for(work, threads),
    )
}

fn layer_forward(
    model: &PackedBert,
    layer: &Layer,
    spans: &[Span],
    x: &mut Vec<f32>,
    s: &mut Scratch,
    threads: usize,
    precision: Precision,
) -> Result<(), Error> {
    let h = model.hidden;
    let rows = x.len() / h;
    linear(&mut s.qkv, x, rows, &layer.qkv, threads, precision)?;
    attention(&s.qkv, spans, h, model.heads, &mut s.heads, threads)?;
    // Heads are computed head-major (each head's rows contiguous, so heads run in parallel on
    // disjoint slices); the output projection wants them side by side per token.
    let d = h / model.heads;
    for (head, block) in s.heads.chunks_exact(rows * d).enumerate() {
        for (t, src) in block.chunks_exact(d).enumerate() {
            s.ctx[t * h + head * d..t * h + (head + 1) * d].copy_from_slice(src);
        }
    }
    linear(&mut s.y, &s.ctx, rows, &layer.attn_out, threads, precision)?;
    rows_par(&mut s.y, x, h, threads, |y, res| {
        kernels::add_layer_norm(
            y,
            res,
            &layer.attn_norm.gamma,
            &layer.attn_norm.beta,
            model.eps,
        );
    });
    std::mem::swap(x, &mut s.y);

    let inter = layer.ffn_in.outputs;
    linear(&mut s.ffn, x, rows, &layer.ffn_in, threads, precision)?;
    // An erf per element costs about as much as 64 multiply-adds of a product: split from 22
    // rows on (weighed 16×, GELU stayed on one thread up to 85 rows; 9 % of a 64-token pass).
    let gelu_threads = kernels::threads_for(rows * inter * 64, threads);
    if gelu_threads > 1 {
        let chunk = rows.div_ceil(gelu_threads) * inter;
        s.ffn.par_chunks_mut(chunk).for_each(kernels::gelu);
    } else {
        kernels::gelu(&mut s.ffn);
    }
    linear(&mut s.y, &s.ffn, rows, &layer.ffn_out, threads, precision)?;
    rows_par(&mut s.y, x, h, threads, |y, res| {
        kernels::add_layer_norm(
            y,
            res,
            &layer.ffn_norm.gamma,
            &layer.ffn_norm.beta,
            model.eps,
        );
    });
    std::mem::swap(x, &mut s.y);
    Ok(())
}

/// Applies `f` to matching row blocks of `y` and `res` (`width` per row), split across threads
/// when there are enough rows to pay for it.
fn rows_par(
    y: &mut [f32],
    res: &[f32],
    width: usize,
    threads: usize,
    f: impl Fn(&mut [f32], &[f32]) + Sync,
) {
    let rows = y.len() / width;
    let t = kernels::threads_for(rows * width * 32, threads);
    if t > 1 {
        let chunk = rows.div_ceil(t) * width;
        y.par_chunks_mut(chunk)
            .zip(res.par_chunks(chunk))
            .for_each(|(a, b)| f(a, b));
    } else {
        f(y, res);
    }
}

/// Self-attention of every text over its own tokens. `qkv` is `tokens × 3h` (Q, K, V side by
/// side); the result goes to `out` head-major: head `i`'s `tokens × d` block at `i·tokens·d`.
fn attention(
    qkv: &[f32],
    spans: &[Span],
    h: usize,
    heads: usize,
    out: &mut [f32],
    threads: usize,
) -> Result<(), Error> {
    let d = h / heads;
    let rows = qkv.len() / (3 * h);
    let scale = 1.0 / (d as f32).sqrt();
    let longest = spans.iter().map(|s| s.len).max().unwrap_or(0);
    let work: usize = spans.iter().map(|s| s.len * s.len * d * 2 * heads).sum();
    let one_head = |(head, block): (usize, &mut [f32])| -> Result<(), Error> {
        let mut scores = vec![0f32; longest * longest];
        for span in spans {
            let n = span.len;
            if n == 0 {
                continue;
            }
            let q = Mat::block(qkv, span.start * 3 * h + head * d, n, d, 3 * h);
            let k = Mat::block(qkv, span.start * 3 * h + h + head * d, n, d, 3 * h);
            let v = Mat::block(qkv, span.start * 3 * h + 2 * h + head * d, n, d, 3 * h);
            let scores = &mut scores[..n * n];
            kernels::matmul(Out::at(scores, 0, n), q, k.t(), scale, false, 1)?;
            kernels::softmax_rows(scores, n);
            kernels::matmul(
                Out::at(block, span.start * d, d),
                Mat::dense(scores, n, n),
                v,
                1.0,
                false,
                1,
            )?;
        }
        Ok(())
    };
    if rows == 0 || d == 0 {
        return Ok(());
    }
    // Each head is two small products and a softmax, so a multiply-add here costs far more
    // than in a large product: weighed 16×, the heads split across threads from 14 tokens on
    // (52 before; 6 % of a 16-token pass with two threads, docs/performance.md).
    if kernels::threads_for(work * 16, threads) > 1 {
        out[..rows * h]
            .par_chunks_exact_mut(rows * d)
            .enumerate()
            .try_for_each(one_head)
    } else {
        out[..rows * h]
            .chunks_exact_mut(rows * d)
            .enumerate()
            .try_for_each(one_head)
    }
}

/// Mean over each text's rows, then unit length.
fn pool(x: &[f32], spans: &[Span], h: usize) -> Vec<Vec<f32>> {
    spans
        .iter()
        .map(|span| {
            let mut mean = vec![0f32; h];
            if span.len == 0 {
                return mean;
            }
            for row in x[span.start * h..(span.start + span.len) * h].chunks_exact(h) {
                for (m, v) in mean.iter_mut().zip(row) {
                    *m += v;
                }
            }
            let inv = 1.0 / span.len as f32;
            mean.iter_mut().for_each(|m| *m *= inv);
            let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            mean.iter_mut().for_each(|m| *m /= norm);
            mean
        })
        .collect()
}
