//! The numeric kernels of the forward pass: one matrix product (the `gemm` crate, which candle's
//! CPU backend also calls; for 16-wide weight panels on CPUs without AVX-512, our own AVX2
//! micro-kernel in `super::avx2`), and fused row operations (bias + residual + layer norm, bias + GELU,
//! scaled softmax) written as plain loops that LLVM vectorises inside [`pulp`]'s runtime
//! dispatch to the widest instruction set the CPU has (AVX2+FMA or AVX-512).

use rayon::prelude::*;

use crate::Error;

/// A strided matrix view: `rows × cols`, element `(r, c)` at `offset + r·stride + c·col_stride`
/// (`col_stride` is 1 for a row-major matrix; a transposed view swaps the two strides).
#[derive(Clone, Copy)]
pub(super) struct Mat<'a> {
    pub data: &'a [f32],
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub stride: usize,
    pub col_stride: usize,
}

impl<'a> Mat<'a> {
    /// A dense `rows × cols` matrix over the whole slice.
    pub fn dense(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            offset: 0,
            rows,
            cols,
            stride: cols,
            col_stride: 1,
        }
    }

    /// A row-major block of `rows × cols` starting at `offset`, rows `stride` apart.
    pub fn block(data: &'a [f32], offset: usize, rows: usize, cols: usize, stride: usize) -> Self {
        Self {
            data,
            offset,
            rows,
            cols,
            stride,
            col_stride: 1,
        }
    }

    /// The same elements, transposed.
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            stride: self.col_stride,
            col_stride: self.stride,
            ..self
        }
    }

    /// Whether every element this view names lies inside its slice.
    fn fits(&self) -> bool {
        last_index(
            self.rows,
            self.cols,
            self.offset,
            self.stride,
            self.col_stride,
        )
        .is_some_and(|last| last < self.data.len())
    }
}

/// Index of the last element of a strided view (`None` for an empty one or on overflow; an empty
/// view is checked by the caller).
fn last_index(rows: usize, cols: usize, offset: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1)
        .checked_mul(rs)?
        .checked_add((cols - 1).checked_mul(cs)?)?
        .checked_add(offset)
}

/// Where a product goes: row-major rows of `stride` elements starting at `offset`.
pub(super) struct Out<'a> {
    pub data: &'a mut [f32],
    pub offset: usize,
    pub stride: usize,
}

impl<'a> Out<'a> {
    /// Rows of `stride` elements from `offset` in `data`.
    pub fn at(data: &'a mut [f32], offset: usize, stride: usize) -> Self {
        Self {
            data,
            offset,
            stride,
        }
    }
}

/// How many threads a product of this size should use: below about a million multiply-adds a
/// second thread costs more in wake-up and cache traffic than it saves (measured with
/// `switchyard bench encoder`: at 16 tokens one thread beats two).
pub(super) fn threads_for(work: usize, max_threads: usize) -> usize {
    const PER_THREAD: usize = 1 << 20;
    (work / PER_THREAD).clamp(1, max_threads.max(1))
}

/// `dst[m × n] (+)= scale · a[m × k] · b[k × n]`, where `b` is `k × n` row-major (the weights are
/// stored pre-transposed, so `gemm` reads them without repacking). `accumulate` adds to what is
/// in `dst` (a residual or a bias broadcast beforehand).
pub(super) fn matmul(
    out: Out<'_>,
    a: Mat<'_>,
    b: Mat<'_>,
    scale: f32,
    accumulate: bool,
    threads: usize,
) -> Result<(), Error> {
    let Out {
        data: dst,
        offset: dst_offset,
        stride: dst_stride,
    } = out;
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let dst_fits = (m == 0 || n == 0)
        || (dst_stride >= n
            && last_index(m, n, dst_offset, dst_stride, 1).is_some_and(|last| last < dst.len()));
    let empty = m == 0 || n == 0 || k == 0;
    if b.rows != k || !dst_fits || (!empty && (!a.fits() || !b.fits())) {
        return Err(Error::Shape(format!(
            "matmul {m}×{k} by {}×{n} into a buffer of {} (stride {dst_stride})",
            b.rows,
            dst.len()
        )));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                let start = dst_offset + r * dst_stride;
                dst[start..start + n].fill(0.0);
            }
        }
        return Ok(());
    }
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    #[expect(
        unsafe_code,
        reason = "gemm takes raw pointers and strides; every element they reach was checked to lie inside its slice just above, and dst is borrowed mutably, so nothing aliases it"
    )]
    // SAFETY: for each operand, the element farthest from its start,
    // `offset + (rows-1)·stride + (cols-1)·col_stride`, was checked to be inside its slice (the
    // strides are non-negative, so every other element is too); dst rows do not overlap
    // (`dst_stride ≥ n`, unit column stride); `dst` is a unique borrow and `a`, `b` shared
    // borrows, so no operand aliases the destination.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr().add(dst_offset),
            1,
            dst_stride as isize,
            accumulate,
            a.data.as_ptr().add(a.offset),
            a.col_stride as isize,
            a.stride as isize,
            b.data.as_ptr().add(b.offset),
            b.col_stride as isize,
            b.stride as isize,
            1.0,
            scale,
            false,
            false,
            false,
            parallelism,
        );
    }
    Ok(())
}

/// A weight matrix `inputs × outputs` in panels of `width` output features: panel `p` is an
/// `inputs × width` row-major block at `p · inputs · width` (the last one zero-padded).
#[derive(Clone, Copy)]
pub(super) struct Panels<'a> {
    pub data: &'a [f32],
    pub width: usize,
    pub inputs: usize,
    pub outputs: usize,
}

/// `dst[rows × outputs] += a[rows × inputs] · w`, with `w` in panels of `panel` output features
/// (panel `p`: an `inputs × panel` row-major block; see `packed::Linear`). One `gemm` call per
/// panel and [`ROWS_PER_CALL`] rows, the panel as its left operand (its rows contiguous, so `gemm` streams it as stored),
/// computing the transposed product `dstᵀ = panelᵀ · aᵀ` straight into `dst`'s columns. With
/// `threads > 1` the panels are shared out between threads.
pub(super) fn matmul_panels(
    dst: &mut [f32],
    a: &[f32],
    rows: usize,
    w: Panels<'_>,
    threads: usize,
) -> Result<(), Error> {
    let Panels {
        data: panels,
        width: panel,
        inputs,
        outputs,
    } = w;
    let count = outputs.div_ceil(panel.max(1));
    let fits = panel > 0
        && rows.checked_mul(outputs).is_some_and(|n| n <= dst.len())
        && rows.checked_mul(inputs).is_some_and(|n| n <= a.len())
        && count
            .checked_mul(inputs)
            .and_then(|n| n.checked_mul(panel))
            .is_some_and(|n| n == panels.len());
    if !fits {
        return Err(Error::Shape(format!(
            "panel product of {rows}×{inputs} by {inputs}×{outputs} (panels of {panel}) with buffers of {}, {} and {}",
            a.len(),
            panels.len(),
            dst.len()
        )));
    }
    if rows == 0 || outputs == 0 || inputs == 0 {
        return Ok(());
    }
    #[cfg(target_arch = "x86_64")]
    if panel == super::avx2::WIDTH && super::avx2::available() {
        own_kernel(dst, a, rows, w, threads);
        return Ok(());
    }
    let dst = SharedOut(dst.as_mut_ptr());
    let one = |p: usize| {
        let first = p * panel;
        let width = panel.min(outputs - first);
        for start in (0..rows).step_by(ROWS_PER_CALL) {
            let chunk = ROWS_PER_CALL.min(rows - start);
            #[expect(
                unsafe_code,
                reason = "gemm takes raw pointers and strides; the extents were checked above, and each panel writes its own columns of dst"
            )]
            // SAFETY: the left operand is panel `p`, `inputs × width` elements at stride `panel`
            // inside `panels` (its length was checked to be `count · inputs · panel`); the right
            // operand reads `a[t·inputs + i]` for `start ≤ t < start + chunk ≤ rows`, `i < inputs`,
            // inside `a` (checked); the destination element `(j, t)` is `dst[t·outputs + first + j]`
            // with `t < rows` and `first + j < outputs`, inside `dst` (checked). Panels cover
            // disjoint column ranges `first .. first + width`, so the calls that run at the same
            // time write disjoint elements, and nothing else reads or writes `dst` while they run
            // (it is borrowed mutably for the whole call).
            unsafe {
                gemm::gemm(
                    width,
                    chunk,
                    inputs,
                    dst.ptr().add(start * outputs + first),
                    outputs as isize,
                    1,
                    true,
                    panels.as_ptr().add(p * inputs * panel),
                    panel as isize,
                    1,
                    a.as_ptr().add(start * inputs),
                    inputs as isize,
                    1,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
    };
    each_panel(count, threads, one);
    Ok(())
}

/// [`matmul_panels`] with the AVX2 kernel (`super::avx2`), for 16-wide panels whose extents
/// the caller checked: the rows packed once into tiles, then each panel times each tile.
#[cfg(target_arch = "x86_64")]
fn own_kernel(dst: &mut [f32], a: &[f32], rows: usize, w: Panels<'_>, threads: usize) {
    use super::avx2::{pack_rows, panel_tile, TILE, WIDTH};
    // The packing buffer is taken out of the thread for the product and put back after it,
    // never borrowed across it: while this thread waits in `each_panel` rayon may run another
    // job on it (another service worker's whole pass, injected into the same pool), which
    // comes here too and must find the slot free (it then packs into a fresh buffer).
    thread_local! {
        static TILES: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
    }
    let Panels {
        data: panels,
        inputs,
        outputs,
        ..
    } = w;
    let mut packed = TILES.take();
    {
        pack_rows(a, rows, inputs, &mut packed);
        let tiles: &[f32] = &packed;
        let dst = SharedOut(dst.as_mut_ptr());
        let one = |p: usize| {
            let first = p * WIDTH;
            let width = WIDTH.min(outputs - first);
            let panel = &panels[p * inputs * WIDTH..(p + 1) * inputs * WIDTH];
            for (t, tile) in tiles.chunks_exact(inputs * TILE).enumerate() {
                let start = t * TILE;
                #[expect(
                    unsafe_code,
                    reason = "the AVX2 kernel writes through a raw pointer; see the SAFETY note"
                )]
                // SAFETY: the CPU has AVX2 and FMA (checked by the caller); `panel` and `tile`
                // are slices of exactly `inputs·WIDTH` and `inputs·TILE` floats; the rows
                // written are `start .. start + n` with `n ≤ TILE` and `start + n ≤ rows`, the
                // columns `first .. first + width ≤ outputs`, inside `dst` (`rows·outputs`
                // floats, checked by `matmul_panels`); panels cover disjoint columns, so the
                // threads write disjoint elements, and `dst` is borrowed mutably throughout.
                unsafe {
                    panel_tile(
                        dst.ptr().add(start * outputs + first),
                        outputs,
                        panel.as_ptr(),
                        tile.as_ptr(),
                        inputs,
                        TILE.min(rows - start),
                        width,
                    );
                }
            }
        };
        each_panel(outputs.div_ceil(WIDTH), threads, one);
    }
    TILES.set(packed);
}

/// Runs `one` for panels `0..count`, shared out between `threads` (each a run of adjacent
/// panels, so a thread streams its weights front to back).
fn each_panel(count: usize, threads: usize, one: impl Fn(usize) + Sync + Send) {
    if threads > 1 && count > 1 {
        (0..count)
            .into_par_iter()
            .with_min_len(count.div_ceil(threads))
            .for_each(one);
    } else {
        (0..count).for_each(one);
    }
}

/// Rows (tokens) per `gemm` call in [`matmul_panels`]. Above 8 × its micro-kernel's 6 columns,
/// a single-threaded `gemm` copies its left operand into its own packed layout before every
/// call (gemm-common 0.19, `DEFAULT_LHS_PACKING_THRESHOLD_SINGLE_THREAD`); our panels already
/// are that layout (one panel is one micro-kernel tile, `packed::panel_width`), so the copy
/// only doubled the weight traffic of every product past 48 tokens.
/// Calls of at most 48 rows read the panel in place: measured at 64 tokens 9.7 → 8.4 ms a pass,
/// 128 tokens 17.0 → 16.3 (docs/performance.md). Setting gemm's global threshold instead would
/// have changed every other single-threaded product in the process (candle's among them).
const ROWS_PER_CALL: usize = 48;

/// The destination of [`matmul_panels`], shared by the threads that write its disjoint
/// column ranges.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);

impl SharedOut {
    /// Through a method, so closures capture the whole `Sync` wrapper, not its raw field.
    fn ptr(self) -> *mut f32 {
        self.0
    }
}

#[expect(
    unsafe_code,
    reason = "the pointer is only written through by matmul_panels, at disjoint elements per thread"
)]
// SAFETY: see `matmul_panels`: each thread writes only its own panels' columns.
unsafe impl Send for SharedOut {}
#[expect(unsafe_code, reason = "as for Send")]
// SAFETY: as for `Send`.
unsafe impl Sync for SharedOut {}

/// Broadcasts `bias` into every row of `dst` (`rows × bias.len()`), so a product can accumulate
/// onto it.
pub(super) fn fill_rows(dst: &mut [f32], bias: &[f32]) {
    for row in dst.chunks_exact_mut(bias.len()) {
        row.copy_from_slice(bias);
    }
}

/// `x = LayerNorm(x + residual)` over each row, in place; `x` already holds the product plus its
/// bias.
pub(super) fn add_layer_norm(
    x: &mut [f32],
    residual: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    let width = gamma.len();
    pulp::Arch::new().dispatch(
        #[inline(always)]
        || {
            for (row, res) in x.chunks_exact_mut(width).zip(residual.chunks_exact(width)) {
                for (v, r) in row.iter_mut().zip(res) {
                    *v += r;
                }
                layer_norm_row(row, gamma, beta, eps);
            }
        },
    );
}

/// `x = LayerNorm(x)` over each row, in place.
pub(super) fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let width = gamma.len();
    pulp::Arch::new().dispatch(
        #[inline(always)]
        || {
            for row in x.chunks_exact_mut(width) {
                layer_norm_row(row, gamma, beta, eps);
            }
        },
    );
}

#[inline(always)]
fn layer_norm_row(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = sum(row) / n;
    let mut acc = [0f32; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            let d = v - mean;
            *a += d * d;
        }
    }
    let mut var: f32 = chunks
        .remainder()
        .iter()
        .map(|v| (v - mean) * (v - mean))
        .sum();
    var += acc.iter().sum::<f32>();
    let inv = 1.0 / (var / n + eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * inv * g + b;
    }
}

/// Accumulators per reduction: independent lanes so the sum vectorises without reassociating
/// floating-point additions behind the compiler's back.
const LANES: usize = 16;

#[inline(always)]
fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    chunks.remainder().iter().sum::<f32>() + acc.iter().sum::<f32>()
}

#[inline(always)]
fn max(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a = a.max(*v);
        }
    }
    chunks
        .remainder()
        .iter()
        .chain(acc.iter())
        .fold(f32::NEG_INFINITY, |m, v| m.max(*v))
}

/// `e^x` for `x ≤ 0` (softmax and erf only need that range), relative error below 2e-7: the
/// Cephes polynomial on `x − n·ln2` with `n = round(x / ln2)`, scaled by `2^n` through the
/// exponent bits. Branch-free and free of calls, so it vectorises.
///
/// `n` is rounded by adding and removing `1.5·2²³` (below 2²² in magnitude, the sum's last
/// mantissa bits are then the rounded integer) rather than by `floor`: `f32::floor` became a
/// call to libm's `floorf` per element in this loop, which kept softmax and GELU scalar; `perf`
/// put 13 % of a 256-token pass there.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23
    let x = x.max(-87.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    // The low mantissa bits of `shifted` hold `n` (two's complement within the 2^22 range).
    let n_int = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    let scale = f32::from_bits(((n_int + 127) as u32) << 23);
    e * scale
}

/// Row-wise softmax of `scores` (`rows × width`) in place.
pub(super) fn softmax_rows(scores: &mut [f32], width: usize) {
    pulp::Arch::new().dispatch(
        #[inline(always)]
        || {
            for row in scores.chunks_exact_mut(width) {
                let m = max(row);
                for v in row.iter_mut() {
                    *v = exp_nonpositive(*v - m);
                }
                let inv = 1.0 / sum(row);
                for v in row.iter_mut() {
                    *v *= inv;
                }
            }
        },
    );
}

/// `x = GELU(x)` with the exact (erf) form BERT was trained with; erf from Abramowitz & Stegun
/// 7.1.26 (absolute error below 1.5e-7).
pub(super) fn gelu(x: &mut [f32]) {
    pulp::Arch::new().dispatch(
        #[inline(always)]
        || {
            for v in x.iter_mut() {
                *v = gelu_erf(*v);
            }
        },
    );
}

#[inline(always)]
fn gelu_erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A1: f32 = 0.254_829_6;
    const A2: f32 = -0.284_496_74;
    const A3: f32 = 1.421_413_7;
    const A4: f32 = -1.453_152_1;
    const A5: f32 = 1.061_405_4;
    let z = (x * std::f32::consts::FRAC_1_SQRT_2).abs();
    let t = 1.0 / (1.0 + P * z);
    let poly = ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t;
    let erf_abs = 1.0 - poly * exp_nonpositive(-z * z);
    let erf = if x < 0.0 { -erf_abs } else { erf_abs };
    0.5 * x * (1.0 + erf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std_over_its_range() {
        // Dense enough to cross every rounding boundary of `n` (every 0.35 in x) many times.
        for i in 0..=87_000 {
            let x = -(i as f32) * 0.001;
            let (got, want) = (exp_nonpositive(x), x.exp());
            assert!(
                (got - want).abs() <= 2e-7 * want.max(f32::MIN_POSITIVE) + 1e-38,
                "{x}: {got} vs {want}"
            );
        }
        assert_eq!(exp_nonpositive(-1e30), exp_nonpositive(-87.0));
    }

    #[test]
    fn gelu_matches_the_erf_definition() {
        // erf by its series, in f64, as the independent reference.
        fn erf(x: f64) -> f64 {
            let mut term = x;
            let mut total = x;
            for n in 1..200 {
                term *= -x * x / n as f64;
                total += term / (2 * n + 1) as f64;
            }
            total * 2.0 / std::f64::consts::PI.sqrt()
        }
        for i in -600..=600 {
            let x = i as f32 * 0.01;
            let want = 0.5 * f64::from(x) * (1.0 + erf(f64::from(x) / std::f64::consts::SQRT_2));
            let mut v = [x];
            gelu(&mut v);
            assert!(
                (f64::from(v[0]) - want).abs() < 1e-6,
                "{x}: {} vs {want}",
                v[0]
            );
        }
    }

    #[test]
    fn softmax_and_layer_norm_rows() {
        let mut s = vec![1.0, 2.0, 3.0, 0.0, 0.0, 0.0];
        softmax_rows(&mut s, 3);
        let e: Vec<f32> = [1f32, 2.0, 3.0].iter().map(|v| (v - 3.0).exp()).collect();
        let total: f32 = e.iter().sum();
        for (got, want) in s[..3].iter().zip(&e) {
            assert!((got - want / total).abs() < 1e-6);
        }
        assert!(s[3..].iter().all(|v| (v - 1.0 / 3.0).abs() < 1e-6));

        let mut x: Vec<f32> = (0..40).map(|i| i as f32).collect();
        let res = vec![1.0; 40];
        add_layer_norm(&mut x, &res, &[1.0; 20], &[0.5; 20], 1e-12);
        let row = &x[..20];
        let mean: f32 = row.iter().sum::<f32>() / 20.0;
        let var: f32 = row.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 20.0;
        assert!(
            (mean - 0.5).abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
            "{mean} {var}"
        );
    }

    #[test]
    fn matmul_checks_shapes_and_multiplies() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2×3
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]; // 3×2
        let mut c = [10.0; 4];
        matmul(
            Out::at(&mut c, 0, 2),
            Mat::dense(&a, 2, 3),
            Mat::dense(&b, 3, 2),
            1.0,
            true,
            1,
        )
        .unwrap();
        assert_eq!(c, [14.0, 15.0, 20.0, 21.0]);
        matmul(
            Out::at(&mut c, 0, 2),
            Mat::dense(&a, 2, 3),
            Mat::dense(&b, 3, 2),
            2.0,
            false,
            2,
        )
        .unwrap();
        assert_eq!(c, [8.0, 10.0, 20.0, 22.0]);
        let mut small = [0.0; 3];
        assert!(matmul(
            Out::at(&mut small, 0, 2),
            Mat::dense(&a, 2, 3),
            Mat::dense(&b, 3, 2),
            1.0,
            false,
            1
        )
        .is_err());
        assert!(matmul(
            Out::at(&mut c, 0, 2),
            Mat::dense(&a, 3, 2),
            Mat::dense(&b, 3, 2),
            1.0,
            false,
            1
        )
        .is_err());
    }
}
