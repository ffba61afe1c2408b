//! Convolution forward and input gradient of the f32 engine without an im2col matrix.
//!
//! Forward: each task gathers the input patches of 16 output pixels straight into a small packed
//! panel (L1-resident) and multiplies it by the packed weights at once. The im2col route writes
//! the whole patch matrix (up to ~8 MB per task) to memory and matrixmultiply then copies it
//! again into its packed format; both passes are gone here. Used when no weight gradient is
//! needed (attacks, inference), the only time the patch matrix would not be read again.
//! Input gradient: [`backward_input`] forms `Wᵀ · dy` a panel of output rows at a time and
//! scatters it into the image at once, instead of a `C·k·k × N·OH·OW` matrix and `col2im`.
//!
//! Both are bit-identical to the engine's matrixmultiply route on the same machine, by
//! reproducing how matrixmultiply 0.3's FMA kernels round: every element of a product is one
//! fused multiply-add chain over the reduction index ascending, started from +0 and restarted
//! every [`KC`] = 256 indices; the first block's sum is stored as is (AVX-512) or plus +0
//! (AVX2+FMA), later blocks' sums are added to it; then the bias is added (forward) or the
//! columns are scattered in col2im's order (input gradient). Where matrixmultiply would pick
//! another kernel (no FMA) this module declines and the caller takes the im2col route. The
//! tests check the equality on whichever machine runs them (and the AVX2 kernels on an AVX-512
//! machine too).

use super::arch::Shape;
use super::real::SendPtr;
use rayon::prelude::*;

/// matrixmultiply's reduction block for f32 (`archparam::S_KC`).
const KC: usize = 256;
/// Output pixels per panel (one AVX-512 vector, two AVX2 vectors).
const NR: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Avx512,
    Avx2Fma,
}

impl Level {
    /// Rows of a tile (output channels forward, taps backward): 16 × one AVX-512 vector of
    /// pixels, 6 × two AVX2 vectors (12 sums, two row vectors and a broadcast fit AVX2's 16
    /// registers; 8 rows spilled).
    fn mr(self) -> usize {
        match self {
            Level::Avx512 => 16,
            Level::Avx2Fma => AVX2_MR,
        }
    }
}

/// Rows of the AVX2 tile.
const AVX2_MR: usize = 6;

/// `c[i·ldc + j] = Σ_k a[k][i]·b[k][j] + bias[i]` for `i < rows ≤ lv.mr()`, `j < cols ≤ 16`,
/// `k < kk`, with the kernel of `lv` (rounded as matrixmultiply's; see the module doc).
///
/// # Safety
/// The CPU has `lv`'s features; `a` holds `kk·lv.mr()` values, `b` ≥ `kk` rows, `bias` ≥
/// `lv.mr()`, `rows ≤ lv.mr()`, `cols ≤ 16`, and `c + i·ldc` is valid for writes of `cols`
/// floats for every `i < rows`.
#[allow(clippy::too_many_arguments)] // reason: a GEMM micro-kernel's operands and tile shape
unsafe fn tile(
    lv: Level,
    kk: usize,
    a: &[f32],
    b: &[Row],
    bias: &[f32],
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
) {
    match lv {
        // SAFETY: the caller's contract is the kernel's (the CPU has AVX-512F for `Avx512`).
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { x86::tile_avx512(kk, a, b, bias, c, ldc, rows, cols) },
        // SAFETY: the caller's contract is the kernel's (the CPU has AVX2 and FMA for `Avx2Fma`).
        #[cfg(target_arch = "x86_64")]
        Level::Avx2Fma => unsafe { x86::tile_avx2(kk, a, b, bias, c, ldc, rows, cols) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("level() is None off x86_64"),
    }
}

/// The kernel matrixmultiply selects on this CPU, if this module reproduces it.
fn level() -> Option<Level> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return Some(Level::Avx512);
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Some(Level::Avx2Fma);
        }
    }
    None
}

/// Geometry of one convolution over a batch (input `[C][N][H][W]`, square kernel, zero padding).
#[derive(Debug, Clone, Copy)]
pub struct ConvGeom {
    /// Images in the batch.
    pub n: usize,
    /// Shape of one input image.
    pub input: Shape,
    /// Kernel height and width.
    pub k: usize,
    /// Stride in both directions.
    pub stride: usize,
    /// Zero padding on each side.
    pub pad: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

/// A 64-byte aligned block of 16 floats, so panel rows load without splitting cache lines.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Row([f32; NR]);

/// `y[oc][N·OH·OW] = W[oc][C·k·k] · patches + bias[oc]`, `x` in `[C][N][H][W]`. Returns false
/// (and leaves `y` untouched) when this CPU has no kernel here; the caller then uses im2col.
pub fn forward(x: &[f32], g: ConvGeom, w: &[f32], bias: &[f32], y: &mut [f32]) -> bool {
    match level() {
        Some(lv) => {
            forward_at(lv, x, g, w, bias, y);
            true
        }
        None => false,
    }
}

/// [`forward`] with the kernel of `lv`, which the CPU must support.
fn forward_at(lv: Level, x: &[f32], g: ConvGeom, w: &[f32], bias: &[f32], y: &mut [f32]) {
    let s = g.input;
    let kk = s.c * g.k * g.k;
    let np = g.n * g.oh * g.ow;
    let oc = bias.len();
    assert_eq!(x.len(), s.c * g.n * s.h * s.w, "conv input");
    assert_eq!(w.len(), oc * kk, "conv weights");
    assert!(y.len() >= oc * np, "conv output");
    if np == 0 || oc == 0 {
        return;
    }
    let mr = lv.mr();
    // Zero-padded input: every patch element is then a plain load.
    let (hp, wp) = (s.h + 2 * g.pad, s.w + 2 * g.pad);
    let mut xp = vec![0f32; s.c * g.n * hp * wp];
    for (plane, dst) in x.chunks_exact(s.h * s.w).zip(xp.chunks_exact_mut(hp * wp)) {
        for (r, src) in plane.chunks_exact(s.w).enumerate() {
            let o = (r + g.pad) * wp + g.pad;
            dst[o..o + s.w].copy_from_slice(src);
        }
    }
    // Weights as panels of `mr` output channels, `[block][k][mr]`, zero rows past `oc`.
    let blocks = oc.div_ceil(mr);
    let mut ap = vec![0f32; blocks * kk * mr];
    for o in 0..oc {
        let (b, i) = (o / mr, o % mr);
        for (kx, &v) in w[o * kk..(o + 1) * kk].iter().enumerate() {
            ap[(b * kk + kx) * mr + i] = v;
        }
    }
    let mut bias_p = vec![0f32; blocks * mr];
    bias_p[..oc].copy_from_slice(bias);
    let yp = SendPtr(y.as_mut_ptr());
    let panels = np.div_ceil(NR);
    (0..panels).into_par_iter().with_min_len(4).for_each_init(
        || vec![Row([0.0; NR]); kk],
        |bp, pan| {
            let p0 = pan * NR;
            let cols = NR.min(np - p0);
            pack_panel(&xp, g, hp, wp, p0, cols, bp);
            for b in 0..blocks {
                let rows = mr.min(oc - b * mr);
                let a = &ap[b * kk * mr..(b + 1) * kk * mr];
                // SAFETY: the caller saw the CPU features of `lv`; panel `pan` and block `b` own the
                // disjoint tile y[b·mr .. +rows][p0 .. +cols] of `y` (length checked above).
                unsafe { tile(lv, kk, a, bp, &bias_p[b * mr..], yp.get().add(b * mr * np + p0), np, rows, cols) };
            }
        },
    );
}

/// Panel of output pixels `p0 .. p0+cols`: `bp[(ic,ky,kx)][j]` = padded input under pixel
/// `p0 + j` at that kernel tap (0 for `j ≥ cols`).
fn pack_panel(xp: &[f32], g: ConvGeom, hp: usize, wp: usize, p0: usize, cols: usize, bp: &mut [Row]) {
    // Runs of pixels in one output row: consecutive taps of a run are consecutive inputs
    // (stride 1), so each tap of a run is one contiguous copy.
    let mut runs = [(0usize, 0usize, 0usize); NR]; // (first j, length, input offset)
    let mut nrun = 0;
    let mut offs = [0usize; NR];
    for (j, slot) in offs.iter_mut().enumerate().take(cols) {
        let p = p0 + j;
        let (b, rest) = (p / (g.oh * g.ow), p % (g.oh * g.ow));
        let (oy, ox) = (rest / g.ow, rest % g.ow);
        let off = (b * hp + oy * g.stride) * wp + ox * g.stride;
        *slot = off;
        if g.stride == 1 && ox > 0 && j > 0 {
            runs[nrun - 1].1 += 1;
        } else {
            runs[nrun] = (j, 1, off);
            nrun += 1;
        }
    }
    let plane = g.n * hp * wp;
    let mut r = 0;
    for ic in 0..g.input.c {
        for ky in 0..g.k {
            for kx in 0..g.k {
                let base = ic * plane + ky * wp + kx;
                let dst = &mut bp[r].0;
                r += 1;
                if g.stride == 1 {
                    for &(j0, len, off) in &runs[..nrun] {
                        let src = &xp[base + off..base + off + len];
                        // Constant lengths for the usual runs (whole 16- and 8-wide rows), so
                        // the copy is a vector move rather than a memcpy call per tap.
                        match len {
                            16 => dst.copy_from_slice(&src[..16]),
                            8 => dst[j0..j0 + 8].copy_from_slice(&src[..8]),
                            _ => dst[j0..j0 + len].copy_from_slice(src),
                        }
                    }
                } else {
                    for (d, &off) in dst.iter_mut().zip(&offs[..cols]) {
                        *d = xp[base + off];
                    }
                }
                dst[cols..].fill(0.0);
            }
        }
    }
}

/// `dx[C][N][H][W]` = the input gradient of a stride-1 convolution, `dy` in `[oc][N·OH·OW]`:
/// bit-identical to `col2im(Wᵀ · dy)` of the engine (matrixmultiply, then the scatter-add),
/// without the `C·k·k × N·OH·OW` matrix between them. Each task takes one image and walks its
/// output rows from the last up in panels of whole rows: it computes the panel's columns of
/// `Wᵀ · dy` into an L1-sized buffer and adds them, tap by tap, into an image-sized gradient.
/// Every input element then receives its contributions in ascending (ky, kx) order, as in
/// `col2im` (a later row of the output reaches an input through a smaller ky; within a row,
/// a later pixel through a smaller kx), each once, starting from 0. Every element of `dx` is
/// written. None for other strides, outputs under 16 pixels per image, or where [`forward`]
/// declines.
pub fn backward_input(dy: &[f32], g: ConvGeom, w: &[f32]) -> Option<Vec<f32>> {
    // An image's output smaller than a panel (LeNet-5's 1×1 conv3) would fill a fraction of it
    // (panels never span images); the im2col route batches such pixels across images.
    if g.stride != 1 || g.oh * g.ow < NR {
        return None;
    }
    let lv = level()?;
    let mut dx = vec![0f32; g.input.numel() * g.n];
    backward_input_at(lv, dy, g, w, &mut dx);
    Some(dx)
}

fn backward_input_at(lv: Level, dy: &[f32], g: ConvGeom, w: &[f32], dx: &mut [f32]) {
    let s = g.input;
    let kk = s.c * g.k * g.k;
    let np = g.n * g.oh * g.ow;
    let plane = s.h * s.w;
    assert!(g.stride == 1 && kk > 0 && w.len().is_multiple_of(kk), "conv weights");
    let oc = w.len() / kk;
    assert_eq!(dy.len(), oc * np, "conv output gradient");
    assert_eq!(dx.len(), s.c * g.n * plane, "conv input gradient");
    if g.n == 0 {
        return;
    }
    let mr = lv.mr();
    // Wᵀ as panels of `mr` taps, `[block][oc][mr]`, zero past the last tap.
    let blocks = kk.div_ceil(mr);
    let mut ap = vec![0f32; blocks * oc * mr];
    for o in 0..oc {
        for (t, &v) in w[o * kk..(o + 1) * kk].iter().enumerate() {
            ap[((t / mr) * oc + o) * mr + t % mr] = v;
        }
    }
    let zero = [0f32; NR];
    // Whole output rows per panel: one when a row fills a vector, else as many as fit in one.
    let rows_per = if g.ow >= NR { 1 } else { NR / g.ow };
    let ld = (rows_per * g.ow).div_ceil(NR) * NR;
    let dxp = SendPtr(dx.as_mut_ptr());
    (0..g.n).into_par_iter().for_each_init(
        || (vec![0f32; kk * ld], vec![Row([0.0; NR]); oc], vec![0f32; s.c * plane]),
        |(cols, panel_dy, local), b| {
            local.fill(0.0);
            let mut r1 = g.oh;
            while r1 > 0 {
                let r0 = r1.saturating_sub(rows_per);
                let p0 = (b * g.oh + r0) * g.ow;
                let npx = (r1 - r0) * g.ow;
                for c0 in (0..npx).step_by(NR) {
                    let width = NR.min(npx - c0);
                    for (o, row) in panel_dy.iter_mut().enumerate() {
                        row.0[..width].copy_from_slice(&dy[o * np + p0 + c0..][..width]);
                        row.0[width..].fill(0.0);
                    }
                    for blk in 0..blocks {
                        let rows = mr.min(kk - blk * mr);
                        let a = &ap[blk * oc * mr..(blk + 1) * oc * mr];
                        // SAFETY: the caller saw the CPU features of `lv`; the tile lies inside
                        // `cols` (rows < kk, columns < ld).
                        unsafe {
                            tile(lv, oc, a, panel_dy, &zero, cols.as_mut_ptr().add(blk * mr * ld + c0), ld, rows, width)
                        };
                    }
                }
                // The zero bias above can only turn a −0 column value into +0, which the
                // scatter's first addition (to 0) does anyway.
                match lv {
                    // SAFETY: the caller saw AVX-512F.
                    #[cfg(target_arch = "x86_64")]
                    Level::Avx512 => unsafe { x86::scatter_rows_avx512(cols, ld, g, r0, r1, local) },
                    _ => scatter_rows(cols, ld, g, r0, r1, local),
                }
                r1 = r0;
            }
            for ic in 0..s.c {
                // SAFETY: image b owns the planes (ic, b) of dx, disjoint from other tasks'.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        local[ic * plane..].as_ptr(),
                        dxp.get().add((ic * g.n + b) * plane),
                        plane,
                    )
                };
            }
        },
    );
}

/// `local[ic][iy][ix] += cols[(ic,ky,kx)][(oy − r0)·ow + ox]` for output rows `r0..r1` of one
/// image (stride 1), taps in ascending order.
#[inline(always)]
fn scatter_rows(cols: &[f32], ld: usize, g: ConvGeom, r0: usize, r1: usize, local: &mut [f32]) {
    let s = g.input;
    let mut t = 0;
    for ic in 0..s.c {
        let dst_plane = &mut local[ic * s.h * s.w..(ic + 1) * s.h * s.w];
        for ky in 0..g.k {
            for kx in 0..g.k {
                let col = &cols[t * ld..(t + 1) * ld];
                t += 1;
                // Valid ox form one run: ix = ox + kx − pad ∈ [0, w).
                let lo = g.pad.saturating_sub(kx).min(g.ow);
                let hi = (s.w + g.pad).saturating_sub(kx).clamp(lo, g.ow);
                let (len, shift) = (hi - lo, lo + kx - g.pad);
                for oy in r0..r1 {
                    let Some(iy) = (oy + ky).checked_sub(g.pad).filter(|&iy| iy < s.h) else { continue };
                    let dst = &mut dst_plane[iy * s.w + shift..][..len];
                    let src = &col[(oy - r0) * g.ow + lo..][..len];
                    for (d, &v) in dst.iter_mut().zip(src) {
                        *d += v;
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{ConvGeom, Row, AVX2_MR, KC, NR};
    use std::arch::x86_64::*;

    /// [`super::scatter_rows`] compiled for AVX-512 (a 16-wide row is one vector addition); safe
    /// code, callable where AVX-512F is known to be present.
    #[target_feature(enable = "avx512f")]
    pub(super) fn scatter_rows_avx512(cols: &[f32], ld: usize, g: ConvGeom, r0: usize, r1: usize, local: &mut [f32]) {
        super::scatter_rows(cols, ld, g, r0, r1, local)
    }

    /// One 16 × 16 tile: `c[i·ldc + j] = Σ_k a[k][i]·b[k][j] + bias[i]` for `i < rows, j < cols`,
    /// rounded as matrixmultiply's AVX-512 kernel does (see the module doc).
    ///
    /// # Safety
    /// AVX-512F present; `a` holds `kk·16` values, `bias` ≥ 16, `b` ≥ `kk` rows, `rows ≤ 16`,
    /// `cols ≤ 16`, and `c + i·ldc` is valid for writes of `cols` floats for every `i < rows`.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)] // reason: a GEMM micro-kernel's operands and tile shape
    pub(super) unsafe fn tile_avx512(
        kk: usize,
        a: &[f32],
        b: &[Row],
        bias: &[f32],
        c: *mut f32,
        ldc: usize,
        rows: usize,
        cols: usize,
    ) {
        debug_assert!(a.len() >= kk * 16 && b.len() >= kk && bias.len() >= 16);
        let mut sum = [_mm512_setzero_ps(); 16];
        let mut k0 = 0;
        while k0 < kk {
            let k1 = (k0 + KC).min(kk);
            let mut acc = [_mm512_setzero_ps(); 16];
            // SAFETY: `k0 < kk`, and `a` holds `kk·16` values (caller's contract).
            let mut ap = unsafe { a.as_ptr().add(k0 * 16) };
            for row in &b[k0..k1] {
                // SAFETY: a `Row` is 16 floats aligned to 64 bytes.
                let bv = unsafe { _mm512_load_ps(row.0.as_ptr()) };
                for (i, s) in acc.iter_mut().enumerate() {
                    // SAFETY: `ap + i` (`i < 16`) is value `k·16 + i` of `a`, `k < kk`, and `a` holds
                    // `kk·16` values (caller's contract).
                    *s = _mm512_fmadd_ps(_mm512_set1_ps(unsafe { *ap.add(i) }), bv, *s);
                }
                // SAFETY: `k < k1 ≤ kk`: at most one past the end of `a`'s `kk·16` values.
                ap = unsafe { ap.add(16) };
            }
            for (s, &v) in sum.iter_mut().zip(&acc) {
                *s = if k0 == 0 { v } else { _mm512_add_ps(*s, v) };
            }
            k0 = k1;
        }
        let mask: __mmask16 = if cols >= NR { !0 } else { (1u16 << cols) - 1 };
        for (i, &s) in sum.iter().enumerate().take(rows) {
            let v = _mm512_add_ps(s, _mm512_set1_ps(bias[i]));
            // SAFETY: `c + i·ldc` is valid for `cols` floats (`i < rows`; caller's contract), and
            // the mask writes only the first `cols` lanes.
            unsafe { _mm512_mask_storeu_ps(c.add(i * ldc), mask, v) };
        }
    }

    /// [`tile_avx512`] for AVX2+FMA: 6 channels × 16 pixels (two vectors), rounded as
    /// matrixmultiply's FMA kernel does (first block stored as sum + 0); the tile's shape does
    /// not change any element's FMA chain.
    ///
    /// # Safety
    /// AVX2 and FMA present; `a` holds `kk·6` values, `bias` ≥ 6, `rows ≤ 6`, otherwise as
    /// [`tile_avx512`].
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)] // reason: a GEMM micro-kernel's operands and tile shape
    pub(super) unsafe fn tile_avx2(
        kk: usize,
        a: &[f32],
        b: &[Row],
        bias: &[f32],
        c: *mut f32,
        ldc: usize,
        rows: usize,
        cols: usize,
    ) {
        const MR: usize = AVX2_MR;
        debug_assert!(a.len() >= kk * MR && b.len() >= kk && bias.len() >= MR);
        let mut sum = [[_mm256_setzero_ps(); 2]; MR];
        let mut k0 = 0;
        while k0 < kk {
            let k1 = (k0 + KC).min(kk);
            let mut acc = [[_mm256_setzero_ps(); 2]; MR];
            // SAFETY: `k0 < kk`, and `a` holds `kk·MR` values (caller's contract).
            let mut ap = unsafe { a.as_ptr().add(k0 * MR) };
            for row in &b[k0..k1] {
                // SAFETY: a `Row` is 16 floats aligned to 64 bytes: two aligned 8-float halves.
                let (b0, b1) = unsafe { (_mm256_load_ps(row.0.as_ptr()), _mm256_load_ps(row.0.as_ptr().add(8))) };
                for (i, s) in acc.iter_mut().enumerate() {
                    // SAFETY: `ap + i` (`i < MR`) is value `k·MR + i` of `a`, `k < kk`, and `a` holds
                    // `kk·MR` values (caller's contract).
                    let av = _mm256_set1_ps(unsafe { *ap.add(i) });
                    s[0] = _mm256_fmadd_ps(av, b0, s[0]);
                    s[1] = _mm256_fmadd_ps(av, b1, s[1]);
                }
                // SAFETY: `k < k1 ≤ kk`: at most one past the end of `a`'s `kk·MR` values.
                ap = unsafe { ap.add(MR) };
            }
            for (s, v) in sum.iter_mut().zip(&acc) {
                for h in 0..2 {
                    s[h] = if k0 == 0 { _mm256_add_ps(v[h], _mm256_setzero_ps()) } else { _mm256_add_ps(s[h], v[h]) };
                }
            }
            k0 = k1;
        }
        let mut tmp = [0f32; NR];
        for (i, s) in sum.iter().enumerate().take(rows) {
            let bv = _mm256_set1_ps(bias[i]);
            let (v0, v1) = (_mm256_add_ps(s[0], bv), _mm256_add_ps(s[1], bv));
            // SAFETY: `c + i·ldc` is valid for writes of `cols ≤ 16` floats (`i < rows`; caller's
            // contract): all 16 when `cols = 16`, else the first `cols` copied from `tmp` (16).
            unsafe {
                let dst = c.add(i * ldc);
                if cols >= NR {
                    _mm256_storeu_ps(dst, v0);
                    _mm256_storeu_ps(dst.add(8), v1);
                } else {
                    _mm256_storeu_ps(tmp.as_mut_ptr(), v0);
                    _mm256_storeu_ps(tmp.as_mut_ptr().add(8), v1);
                    std::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, cols);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::real::gemm;
    use rand::{Rng, SeedableRng};

    /// The im2col route of the engine: patches, one matrixmultiply product, bias.
    fn reference(x: &[f32], g: ConvGeom, w: &[f32], bias: &[f32]) -> Vec<f32> {
        let kk = g.input.c * g.k * g.k;
        let np = g.n * g.oh * g.ow;
        let mut cols = vec![0f32; kk * np];
        crate::model::engine::im2col(x, g.n, g.input, g.k, g.stride, g.pad.into(), g.oh, g.ow, &mut cols);
        let mut y = vec![0f32; bias.len() * np];
        gemm(bias.len(), kk, np, 1.0, w, kk, 1, &cols, np, 1, 0.0, &mut y);
        for (o, row) in y.chunks_mut(np).enumerate() {
            row.iter_mut().for_each(|v| *v += bias[o]);
        }
        y
    }

    /// The engine's route to an input gradient: Wᵀ · dy by matrixmultiply, then col2im.
    fn reference_backward(dy: &[f32], g: ConvGeom, w: &[f32]) -> Vec<f32> {
        let kk = g.input.c * g.k * g.k;
        let np = g.n * g.oh * g.ow;
        let oc = w.len() / kk;
        let mut dcols = vec![0f32; kk * np];
        gemm(kk, oc, np, 1.0, w, 1, kk, dy, np, 1, 0.0, &mut dcols);
        crate::model::engine::col2im(&dcols, g.n, g.input, g.k, g.stride, g.pad.into(), g.oh, g.ow)
    }

    #[test]
    fn backward_matches_col2im_gemm() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        // (c, h, w, oc, k, pad, n): AlexNet's and LeNet-5's layers with an input gradient, rows
        // narrower and wider than a panel (8, 10, 16, 28, 32), reductions over 6 to 300 channels
        // (two 256-blocks), taps off the 16/8 tile, and a 4×4 output (four rows per panel).
        let shapes = [
            (3, 32, 32, 32, 5, 2, 2),
            (32, 16, 16, 64, 5, 2, 3),
            (64, 8, 8, 96, 3, 1, 2),
            (96, 8, 8, 64, 3, 1, 2),
            (1, 28, 28, 6, 5, 2, 2),
            (6, 14, 14, 16, 5, 0, 3),
            (7, 6, 6, 300, 3, 0, 2),
            (5, 4, 4, 9, 3, 1, 3),
        ];
        for (c, h, w, oc, k, pad, n) in shapes {
            let input = Shape::new(c, h, w);
            let (oh, ow) = (h + 2 * pad - k + 1, w + 2 * pad - k + 1);
            let g = ConvGeom { n, input, k, stride: 1, pad, oh, ow };
            // ReLU-masked output gradients (half exact zeros) and signed weights.
            let dy: Vec<f32> = (0..oc * n * oh * ow)
                .map(|_| if rng.gen_bool(0.5) { 0.0 } else { rng.gen_range(-1.0f32..1.0) })
                .collect();
            let wt: Vec<f32> = (0..oc * c * k * k).map(|_| rng.gen_range(-0.3f32..0.3)).collect();
            let want = reference_backward(&dy, g, &wt);
            let Some(lv) = level() else {
                assert!(backward_input(&dy, g, &wt).is_none());
                continue;
            };
            let got = backward_input(&dy, g, &wt).expect("stride 1 with 16+ output pixels");
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert_eq!(a.to_bits(), b.to_bits(), "shape {:?}, element {i}: {a} vs {b}", (c, h, w, oc, k, pad, n));
            }
            #[cfg(target_arch = "x86_64")]
            if lv == Level::Avx512 && std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                let mut got = vec![f32::NAN; want.len()];
                backward_input_at(Level::Avx2Fma, &dy, g, &wt, &mut got);
                assert!(
                    got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "AVX2 kernel, shape {:?}",
                    (c, h, w, oc, k, pad, n)
                );
            }
        }
        // Declined: stride 2, and an output smaller than a panel.
        let g = ConvGeom { n: 1, input: Shape::new(2, 9, 9), k: 3, stride: 2, pad: 1, oh: 5, ow: 5 };
        assert!(backward_input(&vec![0.0; 4 * 25], g, &vec![0.0; 4 * 18]).is_none());
        let g = ConvGeom { n: 4, input: Shape::new(16, 5, 5), k: 5, stride: 1, pad: 0, oh: 1, ow: 1 };
        assert!(backward_input(&vec![0.0; 120 * 4], g, &vec![0.0; 120 * 400]).is_none());
    }

    #[test]
    fn matches_im2col_gemm() {
        if level().is_none() {
            // matrixmultiply has no FMA kernel to match here; `forward` declines, checked below.
            assert!(!forward(
                &[0.0; 4],
                ConvGeom { n: 1, input: Shape::new(1, 2, 2), k: 1, stride: 1, pad: 0, oh: 2, ow: 2 },
                &[1.0],
                &[0.0],
                &mut [0.0; 4]
            ));
            return;
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        // (c, h, w, oc, k, stride, pad, n): the AlexNet and LeNet-5 layers (reductions of 75 to
        // 864, i.e. one to four 256-blocks; 8-, 14-, 16-, 28- and 32-wide rows, so panels span
        // rows and images), channel counts off the 16/8 tile, stride 2, and a ragged last panel.
        let shapes = [
            (3, 32, 32, 32, 5, 1, 2, 2),
            (32, 16, 16, 64, 5, 1, 2, 3),
            (64, 8, 8, 96, 3, 1, 1, 2),
            (96, 8, 8, 96, 3, 1, 1, 1),
            (96, 8, 8, 64, 3, 1, 1, 3),
            (1, 28, 28, 6, 5, 1, 2, 3),
            (6, 14, 14, 16, 5, 1, 0, 2),
            (5, 9, 7, 13, 3, 2, 1, 3),
            (29, 5, 11, 21, 3, 1, 0, 1),
        ];
        for (c, h, w, oc, k, stride, pad, n) in shapes {
            let input = Shape::new(c, h, w);
            let (oh, ow) = ((h + 2 * pad - k) / stride + 1, (w + 2 * pad - k) / stride + 1);
            let g = ConvGeom { n, input, k, stride, pad, oh, ow };
            // ReLU-like inputs (half exact zeros, some −0) and signed weights.
            let x: Vec<f32> = (0..c * n * h * w)
                .map(|_| match rng.gen_range(0..4) {
                    0 => 0.0,
                    1 => -0.0,
                    _ => rng.gen_range(-1.0f32..2.0),
                })
                .collect();
            let wt: Vec<f32> = (0..oc * c * k * k).map(|_| rng.gen_range(-0.3f32..0.3)).collect();
            let bias: Vec<f32> = (0..oc).map(|_| rng.gen_range(-0.5f32..0.5)).collect();
            let want = reference(&x, g, &wt, &bias);
            let mut got = vec![f32::NAN; want.len()];
            assert!(forward(&x, g, &wt, &bias, &mut got));
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert_eq!(
                    a.to_bits(),
                    b.to_bits(),
                    "shape {:?}, element {i}: {a} vs {b}",
                    (c, h, w, oc, k, stride, pad, n)
                );
            }
            // The AVX2 kernel too where an AVX-512 machine also runs it: it differs from the
            // AVX-512 one only in the sign of an exactly zero first-block sum from underflow,
            // which these values never produce.
            #[cfg(target_arch = "x86_64")]
            if level() == Some(Level::Avx512)
                && std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma")
            {
                let mut got = vec![f32::NAN; want.len()];
                forward_at(Level::Avx2Fma, &x, g, &wt, &bias, &mut got);
                assert!(
                    got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "AVX2 kernel, shape {:?}",
                    (c, h, w, oc, k, stride, pad, n)
                );
            }
        }
    }
}
