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
    per_text(ids, threads, |ids, threads| {
        embed_together(model, ids, threads, extra, adapter, precision)
    })
}

/// `run` (one result per text, in order, on at most the threads given) over the batch: whole
/// texts per thread where [`split_batch`] shares it out (one group per thread, or per share of
/// the threads when there are fewer texts), else the whole batch at once.
fn per_text<T: Clone + Default + Send>(
    ids: &[Vec<u32>],
    threads: usize,
    run: impl Fn(&[Vec<u32>], usize) -> Result<Vec<T>, Error> + Sync,
) -> Result<Vec<T>, Error> {
    let Some(groups) = split_batch(ids, threads) else {
        return run(ids, threads);
    };
    // Fewer texts than threads (three texts on a pool of six): each group gets the same share
    // of the threads for its own products (`split_batch` makes only as many groups as share
    // the threads evenly).
    let share = threads / groups.len();
    let parts = groups
        .par_iter()
        .map(|group| {
            let sub: Vec<Vec<u32>> = group.iter().map(|&i| ids[i].clone()).collect();
            let results = run(&sub, share)?;
            if results.len() != sub.len() {
                return Err(Error::Shape(format!(
                    "a pass over {} texts gave {} results",
                    sub.len(),
                    results.len()
                )));
            }
            Ok(results)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = vec![T::default(); ids.len()];
    for (group, results) in groups.iter().zip(parts) {
        for (&i, r) in group.iter().zip(results) {
            out[i] = r;
        }
    }
    Ok(out)
}

/// The most a group may hold of a split batch's tokens, as a multiple of an even share. Split
/// evenly, whole texts per thread ran about 0.9 of the time of split products (f32); past this
/// the largest group would take about as long as the whole batch did together.
const GROUP_SHARE_LIMIT: f64 = 1.1;

/// How a batch is shared between `threads` threads when each group of whole texts should run
/// on its own share of them (indices into `ids`; as many groups as divide the threads evenly,
/// at most one per text), or `None` when the batch runs together on all the threads. Whole
/// texts per thread need no hand-over between threads inside the pass, where a pass run
/// together meets up to eight times a layer: with two threads, passes of 2 to 16 texts ran
/// 7–14 % faster this way in f32 (a pair of 16-token texts tied) and 13–19 % in int8
/// (docs/performance.md, "Whole texts per thread"). A lone text, a batch with fewer texts than
/// any even share of the threads needs (two texts on three threads), or one that cannot be
/// shared out evenly (one long text among short ones, three texts on two threads) runs
/// together on all the threads ([`embed_together`]).
fn split_batch(ids: &[Vec<u32>], threads: usize) -> Option<Vec<Vec<usize>>> {
    // Unequal shares would leave the group with fewer threads behind the others.
    let k = (2..=threads.min(ids.len()))
        .rev()
        .find(|k| threads.is_multiple_of(*k))?;
    // Longest first, each to the group with the fewest tokens so far.
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
    let mut groups = vec![Vec::new(); k];
    let mut load = vec![0usize; k];
    for i in order {
        let lightest = (0..k).min_by_key(|&g| load[g]).unwrap_or(0);
        groups[lightest].push(i);
        load[lightest] += ids[i].len();
    }
    let total: usize = load.iter().sum();
    let largest = load.iter().copied().max().unwrap_or(0);
    let even = total as f64 / k as f64;
    (total > 0 && largest as f64 <= GROUP_SHARE_LIMIT * even).then_some(groups)
}

/// [`embed`] with the whole batch in one stacked matrix on `threads` threads (each product
/// split between them, or row blocks per thread: [`row_chunk`]).
fn embed_together(
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
    per_text(ids, threads, |ids, threads| {
        last_hidden_together(model, ids, threads, precision)
    })
}

/// [`last_hidden`] with the whole batch in one stacked matrix.
fn last_hidden_together(
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
    let chunk = row_chunk(rows, threads, layer.qkv.width);
    match chunk {
        Some(c) => s
            .qkv
            .par_chunks_mut(c * 3 * h)
            .zip(x.par_chunks(c * h))
            .try_for_each(|(q, x)| linear(q, x, x.len() / h, &layer.qkv, 1, precision))?,
        None => linear(&mut s.qkv, x, rows, &layer.qkv, threads, precision)?,
    }
    attention(&s.qkv, spans, h, model.heads, &mut s.heads, threads)?;
    // Heads are computed head-major (each head's rows contiguous, so heads run in parallel on
    // disjoint slices); the output projection wants them side by side per token.
    let d = h / model.heads;
    for (head, block) in s.heads.chunks_exact(rows * d).enumerate() {
        for (t, src) in block.chunks_exact(d).enumerate() {
            s.ctx[t * h + head * d..t * h + (head + 1) * d].copy_from_slice(src);
        }
    }
    if let Some(c) = chunk {
        let inter = layer.ffn_in.outputs;
        return x
            .par_chunks_mut(c * h)
            .zip(s.ctx.par_chunks(c * h))
            .zip(s.y.par_chunks_mut(c * h))
            .zip(s.ffn.par_chunks_mut(c * inter))
            .try_for_each(|(((x, ctx), y), ffn)| {
                after_attention(model, layer, x, ctx, y, ffn, precision)
            });
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

/// Rows per thread when a layer's row-local steps (the QKV product, then everything after
/// attention) run as whole row blocks per thread, each on one thread; `None`: each product
/// split between the threads instead. With row blocks the threads meet three times a layer
/// (after the QKV blocks, after attention, after the rest) where split products meet after
/// each of its eight steps; but each thread then reads all the weights, and a block of few
/// rows fills the micro-kernel's tiles poorly. How few is few depends on the kernel, so on the
/// weights' panel `width` ([`rows_per_block`]). Other thread counts than two were not timed and
/// take the same rule per thread.
fn row_chunk(rows: usize, threads: usize, width: usize) -> Option<usize> {
    (threads > 1 && rows >= rows_per_block(width) * threads).then(|| rows.div_ceil(threads))
}

/// The fewest rows per thread for [`row_chunk`]'s row blocks, by panel width. Single texts on
/// two threads, row blocks against split products (docs/performance.md, "Row blocks per
/// thread"): with AVX-512's 64-wide panels (`gemm`'s kernel) 2–9 % faster from 48 tokens,
/// slower at 24–32; with AVX2's 16-wide panels (our own kernel, an AMD EPYC) 5–10 % slower at
/// 48 and 64 tokens, ±5 % at 72, level to 9 % faster at 80–96 and 2–12 % faster at 128 and
/// 256, so there they start at 40 rows a thread. int8 runs its own 64-wide kernel but follows
/// the f32 panels' width here; NEON's 16-wide panels take the AVX2 rule untimed.
fn rows_per_block(width: usize) -> usize {
    if width >= 64 {
        24
    } else {
        40
    }
}

/// The output projection, its residual and norm, and the feed-forward block of one block of
/// rows, on one thread: `x` (the layer's input rows) becomes the layer's output rows; `y` and
/// `ffn` are scratch for the same rows.
fn after_attention(
    model: &PackedBert,
    layer: &Layer,
    x: &mut [f32],
    ctx: &[f32],
    y: &mut [f32],
    ffn: &mut [f32],
    precision: Precision,
) -> Result<(), Error> {
    let rows = x.len() / model.hidden;
    linear(y, ctx, rows, &layer.attn_out, 1, precision)?;
    kernels::add_layer_norm(
        y,
        x,
        &layer.attn_norm.gamma,
        &layer.attn_norm.beta,
        model.eps,
    );
    linear(ffn, y, rows, &layer.ffn_in, 1, precision)?;
    kernels::gelu(ffn);
    linear(x, ffn, rows, &layer.ffn_out, 1, precision)?;
    kernels::add_layer_norm(x, y, &layer.ffn_norm.gamma, &layer.ffn_norm.beta, model.eps);
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

#[cfg(test)]
mod tests {
    use super::split_batch;

    fn texts(lengths: &[usize]) -> Vec<Vec<u32>> {
        lengths.iter().map(|&n| vec![101; n]).collect()
    }

    #[test]
    fn row_blocks_start_at_24_rows_a_thread_on_wide_panels_and_40_on_narrow_ones() {
        use super::row_chunk;
        assert_eq!(row_chunk(47, 2, 64), None);
        assert_eq!(row_chunk(48, 2, 64), Some(24));
        assert_eq!(row_chunk(257, 2, 64), Some(129));
        assert_eq!(row_chunk(256, 1, 64), None);
        assert_eq!(row_chunk(71, 3, 64), None);
        assert_eq!(row_chunk(72, 3, 64), Some(24));
        assert_eq!(row_chunk(79, 2, 16), None);
        assert_eq!(row_chunk(80, 2, 16), Some(40));
        assert_eq!(row_chunk(256, 1, 16), None);
    }

    #[test]
    fn a_lone_text_or_one_thread_runs_together() {
        assert!(split_batch(&texts(&[16]), 2).is_none());
        assert!(split_batch(&texts(&[16, 16, 16]), 1).is_none());
        assert!(split_batch(&texts(&[]), 2).is_none());
        assert!(split_batch(&texts(&[0, 0]), 2).is_none());
    }

    #[test]
    fn an_even_batch_is_shared_by_tokens_and_keeps_every_text_once() {
        let groups = split_batch(&texts(&[64, 16, 16, 16, 16, 16, 16, 16]), 2).unwrap();
        assert_eq!(groups.len(), 2);
        let mut seen: Vec<usize> = groups.concat();
        seen.sort_unstable();
        assert_eq!(seen, (0..8).collect::<Vec<_>>());
        let load = |g: &Vec<usize>| {
            g.iter()
                .map(|&i| if i == 0 { 64 } else { 16 })
                .sum::<usize>()
        };
        assert_eq!((load(&groups[0]), load(&groups[1])), (96, 80));
        // Never more groups than texts, and only as many as share the threads evenly.
        assert_eq!(split_batch(&texts(&[16, 16]), 4).unwrap().len(), 2);
        assert_eq!(split_batch(&texts(&[16, 16, 16]), 6).unwrap().len(), 3);
        assert!(split_batch(&texts(&[16, 16]), 3).is_none());
        assert_eq!(split_batch(&texts(&[16; 9]), 3).unwrap().len(), 3);
    }

    #[test]
    fn one_long_text_among_short_ones_runs_together() {
        // 128 of 176 tokens on one thread would take longer than all of them on two.
        assert!(split_batch(&texts(&[128, 16, 16, 16]), 2).is_none());
        // Two texts of unequal length: the longer one alone is over the limit.
        assert!(split_batch(&texts(&[40, 20]), 2).is_none());
        assert!(split_batch(&texts(&[21, 20]), 2).is_some());
        // Three equal texts on two threads: two of them on one thread is a third over an even
        // share; eleven are close enough.
        assert!(split_batch(&texts(&[16; 3]), 2).is_none());
        assert!(split_batch(&texts(&[16; 11]), 2).is_some());
    }
}
