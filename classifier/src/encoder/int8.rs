//! Optional int8 weights for the encoder's linear layers (`Encoder::with_int8_weights`).
//!
//! Weights are quantised once at load, symmetrically per output feature (`w ≈ q · s_n`,
//! `q ∈ [−127, 127]`); activations are quantised per row (token) at every product, over the
//! row's own range (`x ≈ (u − z_r) · s_r`, `u ∈ [0, 255]`, zero exact), so one outlier token
//! does not coarsen the others and a one-sided row (after GELU, say) gets all 256 steps. The
//! product accumulates `Σ u · q` exactly in 32-bit integers and takes the zero point out with
//! each column's weight sum: `Σ (u − z_r) · q = Σ u · q − z_r · Σ q`.
//!
//! On a CPU with AVX-512 VNNI the inner loop is `vpdpbusd` (64 multiply-adds of u8 × i8 per
//! instruction, against 16 for an f32 FMA), and the weights are a quarter of the bytes, which
//! is what a few-token pass waits on. Without VNNI a portable loop computes the same integers
//! (slower than f32; the encoder says so when asked for int8 there).
//!
//! Accuracy is not assumed: the gate (`classifier::int8_gate`) compares against f32 before
//! int8 serves anything.

use rayon::prelude::*;

use crate::Error;

/// Output features per panel: four AVX-512 registers of 16 32-bit accumulators.
const QPANEL: usize = 64;
/// Inputs per `vpdpbusd` lane: four adjacent bytes are multiplied and summed into one i32.
const GROUP: usize = 4;
/// Rows per micro-kernel call: 4 rows × 4 registers = 16 accumulators, plus 4 weight
/// registers and a broadcast, within AVX-512's 32.
const ROWS: usize = 4;

/// One linear layer's weights in int8, laid out for the micro-kernel: panel `p` (outputs
/// `p·64 .. p·64+64`) is `groups` blocks of 256 bytes, block `g` holding, for each of the
/// panel's 64 outputs in order, its 4 weights for inputs `4g .. 4g+4` (so one 64-byte load is
/// 16 outputs' four weights, lane by lane as `vpdpbusd` pairs them with 4 activation bytes).
pub(super) struct QuantLinear {
    data: Vec<i8>,
    /// Per output (padded to whole panels): the dequantisation scale.
    scales: Vec<f32>,
    /// Per output (padded): `Σ_k q[k][n]`, which a row's zero point multiplies.
    sums: Vec<i32>,
    groups: usize,
    pub inputs: usize,
    pub outputs: usize,
}

impl QuantLinear {
    /// Quantises `w` (`inputs × outputs`, row-major).
    pub fn new(w: &[f32], inputs: usize, outputs: usize) -> Self {
        let groups = inputs.div_ceil(GROUP);
        let panels = outputs.div_ceil(QPANEL);
        let padded = panels * QPANEL;
        let mut scales = vec![0f32; padded];
        let mut sums = vec![0i32; padded];
        let mut data = vec![0i8; panels * groups * QPANEL * GROUP];
        for n in 0..outputs {
            let peak = (0..inputs)
                .map(|k| w[k * outputs + n].abs())
                .fold(0f32, f32::max);
            let scale = if peak > 0.0 && peak.is_finite() {
                peak / 127.0
            } else {
                1.0
            };
            scales[n] = scale;
            let (p, j) = (n / QPANEL, n % QPANEL);
            let mut sum = 0i32;
            for k in 0..inputs {
                let q = (w[k * outputs + n] / scale).round().clamp(-127.0, 127.0) as i8;
                sum += i32::from(q);
                let (g, i) = (k / GROUP, k % GROUP);
                data[((p * groups + g) * QPANEL + j) * GROUP + i] = q;
            }
            sums[n] = sum;
        }
        Self {
            data,
            scales,
            sums,
            groups,
            inputs,
            outputs,
        }
    }

    /// `dst[rows × outputs] += src[rows × inputs] · w`, `src` quantised per row on the way.
    pub fn matmul(
        &self,
        dst: &mut [f32],
        src: &[f32],
        rows: usize,
        threads: usize,
    ) -> Result<(), Error> {
        self.matmul_on(dst, src, rows, threads, vnni_available())
    }

    /// [`QuantLinear::matmul`] with the micro-kernel chosen by the caller (`vnni` only where
    /// [`vnni_available`]).
    fn matmul_on(
        &self,
        dst: &mut [f32],
        src: &[f32],
        rows: usize,
        threads: usize,
        vnni: bool,
    ) -> Result<(), Error> {
        if src.len() < rows * self.inputs || dst.len() < rows * self.outputs {
            return Err(Error::Shape(format!(
                "int8 product of {rows}×{} by {}×{} with buffers of {} and {}",
                self.inputs,
                self.inputs,
                self.outputs,
                src.len(),
                dst.len()
            )));
        }
        if rows == 0 || self.outputs == 0 {
            return Ok(());
        }
        let acts = Activations::quantise(src, rows, self.inputs, self.groups, threads);
        let width = self.outputs;
        let panels = width.div_ceil(QPANEL);
        // Each task owns a block of rows of `dst` and runs every panel over it, so writes never
        // overlap; blocks of whole micro-kernel rows.
        let per_task = self.rows_per_task(rows, threads);
        let run = |(block, out): (usize, &mut [f32])| {
            let first = block * per_task;
            let count = out.len() / width;
            for p in 0..panels {
                let mut r = 0;
                while r < count {
                    let n = ROWS.min(count - r);
                    self.panel_rows(&acts, first + r, n, p, &mut out[r * width..], vnni);
                    r += n;
                }
            }
        };
        let dst = &mut dst[..rows * width];
        if per_task < rows {
            dst.par_chunks_mut(per_task * width)
                .enumerate()
                .for_each(run);
        } else {
            run((0, dst));
        }
        Ok(())
    }

    /// Rows each thread takes: whole micro-kernel blocks, all of them on one thread for a small
    /// product.
    fn rows_per_task(&self, rows: usize, threads: usize) -> usize {
        let threads = super::kernels::threads_for(rows * self.inputs * self.outputs / 4, threads);
        rows.div_ceil(threads).div_ceil(ROWS) * ROWS
    }

    /// Rows `first .. first + n` (n ≤ 4) by panel `p`, added into `out` (row `first`'s row of
    /// `dst` onwards, `outputs` apart).
    fn panel_rows(
        &self,
        acts: &Activations,
        first: usize,
        n: usize,
        p: usize,
        out: &mut [f32],
        vnni: bool,
    ) {
        let panel = &self.data[p * self.groups * QPANEL * GROUP..][..self.groups * QPANEL * GROUP];
        let base = p * QPANEL;
        let tile = Tile {
            scales: &self.scales[base..base + QPANEL],
            sums: &self.sums[base..base + QPANEL],
            row_scales: &acts.scales[first..first + n],
            row_zeros: &acts.zeros[first..first + n],
            out,
            stride: self.outputs,
            column: base,
            width: QPANEL.min(self.outputs - base),
        };
        if vnni {
            vnni_panel(acts, first, n, panel, self.groups, tile);
        } else {
            portable_panel(acts, first, n, panel, self.groups, tile);
        }
    }
}

/// Where one panel's results go, and what turns its integers back into floats: output
/// `(r, j)` adds `(acc − row_zeros[r] · sums[j]) · row_scales[r] · scales[j]` to
/// `out[r · stride + column + j]`, for `j < width`.
struct Tile<'a> {
    scales: &'a [f32],
    sums: &'a [i32],
    row_scales: &'a [f32],
    row_zeros: &'a [i32],
    out: &'a mut [f32],
    stride: usize,
    column: usize,
    width: usize,
}

impl Tile<'_> {
    /// Whether every element the tile names lies inside its slices.
    fn fits(&self) -> bool {
        let n = self.row_scales.len();
        self.scales.len() >= QPANEL
            && self.sums.len() >= QPANEL
            && self.row_zeros.len() == n
            && self.width <= QPANEL
            && (n == 0 || (n - 1) * self.stride + self.column + self.width <= self.out.len())
    }
}

/// One product's activations: `rows` rows of `groups · 4` bytes (padding inputs meet zero
/// weights, so their value does not matter) and each row's scale and zero point.
struct Activations {
    bytes: Vec<u8>,
    scales: Vec<f32>,
    zeros: Vec<i32>,
    stride: usize,
}

impl Activations {
    fn quantise(src: &[f32], rows: usize, inputs: usize, groups: usize, threads: usize) -> Self {
        let stride = groups * GROUP;
        let mut bytes = vec![0u8; rows * stride];
        let mut scales = vec![0f32; rows];
        let mut zeros = vec![0i32; rows];
        let block = |src: &[f32], bytes: &mut [u8], scales: &mut [f32], zeros: &mut [i32]| {
            let rows = src.chunks_exact(inputs).zip(bytes.chunks_exact_mut(stride));
            for (((row, out), scale), zero) in rows.zip(scales.iter_mut()).zip(zeros.iter_mut()) {
                (*scale, *zero) = quantise_row(row, out);
            }
        };
        let src = &src[..rows * inputs];
        if threads > 1 && rows > 1 {
            let per = rows.div_ceil(threads);
            src.par_chunks(per * inputs)
                .zip(bytes.par_chunks_mut(per * stride))
                .zip(scales.par_chunks_mut(per))
                .zip(zeros.par_chunks_mut(per))
                .for_each(|(((src, bytes), scales), zeros)| block(src, bytes, scales, zeros));
        } else {
            // One block inline: a pool round trip costs more than a few tokens' quantising.
            block(src, &mut bytes, &mut scales, &mut zeros);
        }
        Self {
            bytes,
            scales,
            zeros,
            stride,
        }
    }
}

/// Quantises one row into `out` over the row's range widened to take in zero, and
/// returns its scale and zero point (a scale of 0 for a row that is all zero or not finite:
/// the integers stay defined, and the f32 pass would spread the NaN anyway).
///
/// Rounds by adding and removing `1.5·2²³`, as `kernels::exp_nonpositive` does: `f32::round` is
/// a call to libm's `roundf` per element, which kept this loop scalar (`perf`: 3 % of an int8
/// pass in `roundf` alone, and serial).
fn quantise_row(row: &[f32], out: &mut [u8]) -> (f32, i32) {
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23
    pulp::Arch::new().dispatch(
        #[inline(always)]
        || {
            let (lo, hi) = row
                .iter()
                .fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let range = hi - lo;
            if !(range > 0.0 && range.is_finite()) {
                return (0.0, 0);
            }
            let scale = range / 255.0;
            let inv = 255.0 / range;
            let zero = (-lo * inv).round().clamp(0.0, 255.0) as i32;
            let base = ROUND.to_bits() as i32 - zero;
            for (o, v) in out.iter_mut().zip(row) {
                // |v · inv| ≤ 255, so the low mantissa bits of the sum are the rounded value;
                // the clamp catches the half step rounding may add at either end.
                let shifted = v * inv + ROUND;
                *o = (shifted.to_bits() as i32 - base).clamp(0, 255) as u8;
            }
            (scale, zero)
        },
    )
}

/// What [`vnni_panel`] computes, one multiply at a time.
fn portable_panel(
    acts: &Activations,
    first: usize,
    n: usize,
    panel: &[i8],
    groups: usize,
    tile: Tile<'_>,
) {
    for r in 0..n {
        let row = &acts.bytes[(first + r) * acts.stride..][..acts.stride];
        let mut acc = [0i32; QPANEL];
        for g in 0..groups {
            let a = &row[g * GROUP..][..GROUP];
            let block = &panel[g * QPANEL * GROUP..][..QPANEL * GROUP];
            for (j, w) in block.chunks_exact(GROUP).enumerate() {
                acc[j] += a
                    .iter()
                    .zip(w)
                    .map(|(&a, &w)| i32::from(a) * i32::from(w))
                    .sum::<i32>();
            }
        }
        let out = &mut tile.out[r * tile.stride + tile.column..][..tile.width];
        for (j, o) in out.iter_mut().enumerate() {
            let exact = acc[j] - tile.row_zeros[r] * tile.sums[j];
            *o += exact as f32 * (tile.scales[j] * tile.row_scales[r]);
        }
    }
}

/// Whether this CPU runs the VNNI micro-kernel.
pub(super) fn vnni_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
fn vnni_panel(
    acts: &Activations,
    first: usize,
    n: usize,
    panel: &[i8],
    groups: usize,
    tile: Tile<'_>,
) {
    assert!(panel.len() >= groups * QPANEL * GROUP && (1..=ROWS).contains(&n));
    assert!(acts.bytes.len() >= (first + n) * acts.stride && acts.stride >= groups * GROUP);
    assert!(tile.row_scales.len() == n && tile.fits());
    if !vnni_available() {
        return portable_panel(acts, first, n, panel, groups, tile);
    }
    let rows = acts.bytes[first * acts.stride..].as_ptr();
    #[expect(
        unsafe_code,
        reason = "AVX-512 intrinsics; the CPU features were detected just above and every access is inside the slices checked by the asserts"
    )]
    // SAFETY: the target features were detected just above. `kernel::<R>` with `R = n` reads
    // `panel[g·256 .. g·256 + 256]` for `g < groups` (inside `panel`, asserted), the 4 bytes at
    // `rows + r·stride + 4g` for `r < n`, `g < groups` (inside `acts.bytes`, asserted), 64
    // entries of `tile.scales` and `tile.sums` and `n` of `tile.row_zeros` (asserted by
    // `fits`), and reads and writes `tile.out[r·stride + column + j]` for `r < n`, `j < width`
    // only (masked; inside `out` by `fits`). `tile.out` is borrowed mutably, so nothing else
    // touches those elements.
    unsafe {
        match n {
            1 => kernel::<1>(rows, acts.stride, panel, groups, tile),
            2 => kernel::<2>(rows, acts.stride, panel, groups, tile),
            3 => kernel::<3>(rows, acts.stride, panel, groups, tile),
            _ => kernel::<4>(rows, acts.stride, panel, groups, tile),
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn vnni_panel(
    acts: &Activations,
    first: usize,
    n: usize,
    panel: &[i8],
    groups: usize,
    tile: Tile<'_>,
) {
    portable_panel(acts, first, n, panel, groups, tile);
}

/// `R` rows by one panel: per group, four 64-byte weight loads, and per row one broadcast of
/// its 4 activation bytes and four `vpdpbusd`; then the integers go back to floats and onto
/// `out` without leaving the registers.
#[cfg(target_arch = "x86_64")]
#[expect(unsafe_code, reason = "AVX-512 intrinsics (see vnni_panel)")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn kernel<const R: usize>(
    rows: *const u8,
    stride: usize,
    panel: &[i8],
    groups: usize,
    tile: Tile<'_>,
) {
    use std::arch::x86_64::*;
    let mut sums = [[_mm512_setzero_si512(); 4]; R];
    let w = panel.as_ptr();
    for g in 0..groups {
        // SAFETY (this loop): `g < groups`; see `vnni_panel` for the extents.
        let block = w.add(g * QPANEL * GROUP);
        let w0 = _mm512_loadu_si512(block.cast());
        let w1 = _mm512_loadu_si512(block.add(64).cast());
        let w2 = _mm512_loadu_si512(block.add(128).cast());
        let w3 = _mm512_loadu_si512(block.add(192).cast());
        for (r, s) in sums.iter_mut().enumerate() {
            let word = rows
                .add(r * stride + g * GROUP)
                .cast::<i32>()
                .read_unaligned();
            let a = _mm512_set1_epi32(word);
            s[0] = _mm512_dpbusd_epi32(s[0], a, w0);
            s[1] = _mm512_dpbusd_epi32(s[1], a, w1);
            s[2] = _mm512_dpbusd_epi32(s[2], a, w2);
            s[3] = _mm512_dpbusd_epi32(s[3], a, w3);
        }
    }
    let out = tile.out.as_mut_ptr();
    for (r, s) in sums.iter().enumerate() {
        let row_scale = _mm512_set1_ps(tile.row_scales[r]);
        let row_zero = _mm512_set1_epi32(tile.row_zeros[r]);
        for (c, v) in s.iter().enumerate() {
            let col = c * 16;
            if col >= tile.width {
                break;
            }
            let valid = (tile.width - col).min(16);
            let mask = (((1u32 << valid) - 1) & 0xffff) as __mmask16;
            let sums = _mm512_loadu_si512(tile.sums.as_ptr().add(col).cast());
            let offsets = _mm512_mullo_epi32(sums, row_zero);
            let scales = _mm512_mul_ps(_mm512_loadu_ps(tile.scales.as_ptr().add(col)), row_scale);
            let value = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(*v, offsets)), scales);
            let dst = out.add(r * tile.stride + tile.column + col);
            let sum = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, dst), value);
            _mm512_mask_storeu_ps(dst, mask, sum);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pseudo(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0) * 0.7)
            .collect()
    }

    /// The VNNI kernel and the portable loop give the same integers, and the dequantised
    /// product is within quantisation error of the f32 one, for ragged shapes and 1–2 threads.
    #[test]
    fn int8_product_matches_f32_within_quantisation_error() {
        for (rows, inputs, outputs) in [(1, 384, 384), (7, 9, 70), (13, 1536, 384), (4, 384, 1152)]
        {
            let w = pseudo(inputs * outputs, 1);
            let a = pseudo(rows * inputs, 2);
            let q = QuantLinear::new(&w, inputs, outputs);
            if vnni_available() {
                let mut x = vec![0.25f32; rows * outputs];
                let mut y = x.clone();
                q.matmul_on(&mut x, &a, rows, 1, true).unwrap();
                q.matmul_on(&mut y, &a, rows, 1, false).unwrap();
                for (i, (x, y)) in x.iter().zip(&y).enumerate() {
                    assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{i}: {x} vs {y}");
                }
            }
            for threads in [1, 2] {
                let mut got = vec![0.5f32; rows * outputs];
                q.matmul(&mut got, &a, rows, threads).unwrap();
                for t in 0..rows {
                    let x = &a[t * inputs..(t + 1) * inputs];
                    let sx = x.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
                    for j in 0..outputs {
                        let col: Vec<f32> = (0..inputs).map(|i| w[i * outputs + j]).collect();
                        let sw = col.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
                        let want = 0.5 + x.iter().zip(&col).map(|(a, b)| a * b).sum::<f32>();
                        // Each factor is off by at most half a step of its own scale.
                        let bound = 0.5 * sx * col.iter().map(|v| v.abs()).sum::<f32>()
                            + 0.5 * sw * x.iter().map(|v| v.abs()).sum::<f32>()
                            + 0.25 * sx * sw * inputs as f32
                            + 1e-4;
                        let got = got[t * outputs + j];
                        assert!(
                            (got - want).abs() <= bound,
                            "({t}, {j}) of {rows}×{inputs}×{outputs}: {got} vs {want} (bound {bound})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn zero_and_non_finite_rows_stay_defined() {
        let w = pseudo(8 * 16, 3);
        let q = QuantLinear::new(&w, 8, 16);
        let mut a = vec![0f32; 3 * 8];
        a[8] = f32::NAN;
        let mut out = vec![0f32; 3 * 16];
        q.matmul(&mut out, &a, 3, 1).unwrap();
        assert!(out.iter().all(|v| *v == 0.0));
        assert!(q.matmul(&mut out, &a[..10], 3, 1).is_err());
    }
}
