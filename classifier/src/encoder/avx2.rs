//! The panel product's own AVX2 + FMA micro-kernel, for 16-wide panels (`packed::panel_width`
//! on a CPU without AVX-512).
//!
//! Why not `gemm` here: at the few tokens a routed prompt has, a pass is dozens of products of
//! one 16-wide panel by a handful of token rows. `gemm` read those rows where they lay, six
//! rows `inputs` floats apart, one broadcast from each per step (a third of its kernel's
//! samples in a profile, docs/performance.md), and paid its dispatch and checks on every
//! panel. Here the token rows are first copied once per product into tiles of [`TILE`] tokens
//! laid out step by step (the six values a step broadcasts are adjacent), shared by every
//! panel, and the kernel is called directly.
#![expect(
    unsafe_code,
    reason = "AVX2 intrinsics on raw pointers; matmul_panels checks every extent first"
)]

use std::arch::x86_64::{
    __m256, _mm256_add_ps, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps,
    _mm256_setzero_ps, _mm256_storeu_ps,
};

/// Output features per panel: two registers of eight.
pub(super) const WIDTH: usize = 16;
/// Token rows per kernel call: 6 × 2 accumulators, two weight registers and a broadcast use
/// 15 of the 16 registers.
pub(super) const TILE: usize = 6;

/// Whether this CPU runs the kernel.
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// `a` (`rows × inputs`, row-major) in tiles of [`TILE`] rows, each tile `inputs × TILE`
/// (step `k` of tile `t` at `(t·inputs + k)·TILE`), rows past the last zero.
pub(super) fn pack_rows(a: &[f32], rows: usize, inputs: usize, out: &mut Vec<f32>) {
    let tiles = rows.div_ceil(TILE);
    out.clear();
    out.resize(tiles * inputs * TILE, 0.0);
    for (r, row) in a.chunks_exact(inputs).take(rows).enumerate() {
        let (t, j) = (r / TILE, r % TILE);
        let tile = &mut out[t * inputs * TILE..(t + 1) * inputs * TILE];
        for (k, &v) in row.iter().enumerate() {
            tile[k * TILE + j] = v;
        }
    }
}

/// Adds panel `panel` (`inputs × WIDTH`, row-major) times the packed tile `tile`
/// (`inputs × TILE`) to the first `rows` rows of `dst` (rows `stride` floats apart), of which
/// only the first `width` columns are written.
///
/// # Safety
/// The CPU supports AVX2 and FMA ([`available`]); `panel` holds `inputs · WIDTH` floats and
/// `tile` `inputs · TILE`; `rows ≤ TILE`, `width ≤ WIDTH`; for every `r < rows` the floats
/// `dst + r·stride .. + width` are valid for writes and written by no one else meanwhile.
pub(super) unsafe fn panel_tile(
    dst: *mut f32,
    stride: usize,
    panel: *const f32,
    tile: *const f32,
    inputs: usize,
    rows: usize,
    width: usize,
) {
    // SAFETY: the caller's contract, and `rows` rows are exactly what each instance computes
    // (a short last tile costs only its own rows).
    unsafe {
        match rows {
            6 => rows_of::<6>(dst, stride, panel, tile, inputs, width),
            5 => rows_of::<5>(dst, stride, panel, tile, inputs, width),
            4 => rows_of::<4>(dst, stride, panel, tile, inputs, width),
            3 => rows_of::<3>(dst, stride, panel, tile, inputs, width),
            2 => rows_of::<2>(dst, stride, panel, tile, inputs, width),
            1 => rows_of::<1>(dst, stride, panel, tile, inputs, width),
            _ => {}
        }
    }
}

/// [`panel_tile`] for exactly `N` rows.
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_of<const N: usize>(
    dst: *mut f32,
    stride: usize,
    panel: *const f32,
    tile: *const f32,
    inputs: usize,
    width: usize,
) {
    let mut acc: [[__m256; 2]; N] = [[_mm256_setzero_ps(); 2]; N];
    let (mut w, mut x) = (panel, tile);
    for _ in 0..inputs {
        // SAFETY (this block and the others): every read stays inside `panel` and `tile`
        // (`inputs` steps of WIDTH and TILE floats), every write inside the rows the caller
        // vouched for.
        unsafe {
            let w0 = _mm256_loadu_ps(w);
            let w1 = _mm256_loadu_ps(w.add(8));
            for (j, a) in acc.iter_mut().enumerate() {
                let v = _mm256_broadcast_ss(&*x.add(j));
                a[0] = _mm256_fmadd_ps(v, w0, a[0]);
                a[1] = _mm256_fmadd_ps(v, w1, a[1]);
            }
            w = w.add(WIDTH);
            x = x.add(TILE);
        }
    }
    for (r, a) in acc.iter().enumerate() {
        unsafe {
            let out = dst.add(r * stride);
            if width == WIDTH {
                _mm256_storeu_ps(out, _mm256_add_ps(_mm256_loadu_ps(out), a[0]));
                let hi = out.add(8);
                _mm256_storeu_ps(hi, _mm256_add_ps(_mm256_loadu_ps(hi), a[1]));
            } else {
                let mut sums = [0f32; WIDTH];
                _mm256_storeu_ps(sums.as_mut_ptr(), a[0]);
                _mm256_storeu_ps(sums.as_mut_ptr().add(8), a[1]);
                for (c, s) in sums.iter().enumerate().take(width) {
                    *out.add(c) += s;
                }
            }
        }
    }
}
