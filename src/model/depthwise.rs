//! Depthwise convolution (one input and one output channel per group) computed directly.
//!
//! The grouped route of the engine runs one im2col + GEMM per group; for a depthwise layer that is
//! hundreds of 1×k² GEMMs over a k²-times inflated copy of the input per batch, which made a
//! MobileNet-style network train several times slower than its multiply count says. Here each
//! channel is one independent task (rayon over channels), with no im2col matrix: the weight
//! gradient reads the input itself. Every sum runs in a fixed order inside one task, so results
//! do not depend on the thread count.
//!
//! Layout as in the engine: activations `[C][N][H][W]`, weights `[C][k][k]`.

use super::conv::ConvGeom;
use super::real::Real;
use rayon::prelude::*;

/// The output columns `ox` whose input column `ox·stride + kx − pad` lies inside `0..w`.
fn valid(kx: usize, pad: usize, stride: usize, w: usize, ow: usize) -> std::ops::Range<usize> {
    // ox·s + kx ≥ pad  ⇔  ox ≥ ⌈(pad − kx)/s⌉;  ox·s + kx − pad ≤ w − 1  ⇔  ox ≤ ⌊(w − 1 + pad − kx)/s⌋.
    let lo = pad.saturating_sub(kx).div_ceil(stride);
    let hi = if w + pad > kx { ((w - 1 + pad - kx) / stride + 1).min(ow) } else { 0 };
    lo..hi.max(lo)
}

/// `y[c] = x[c] ⋆ w[c] + bias[c]` for every channel; `y` is overwritten.
pub fn forward<T: Real>(x: &[T], g: ConvGeom, w: &[T], bias: &[T], y: &mut [T]) {
    let (s, k, st, p) = (g.input, g.k, g.stride, g.pad);
    let (plane, oplane) = (s.h * s.w, g.oh * g.ow);
    y.par_chunks_mut(g.n * oplane).enumerate().for_each(|(c, yc)| {
        let xc = &x[c * g.n * plane..(c + 1) * g.n * plane];
        let wc = &w[c * k * k..(c + 1) * k * k];
        yc.fill(bias[c]);
        for (xi, yi) in xc.chunks(plane).zip(yc.chunks_mut(oplane)) {
            for ky in 0..k {
                let rows = valid(ky, p, st, s.h, g.oh);
                for kx in 0..k {
                    let cols = valid(kx, p, st, s.w, g.ow);
                    if cols.is_empty() {
                        continue;
                    }
                    let wv = wc[ky * k + kx];
                    for oy in rows.clone() {
                        let xr = &xi[(oy * st + ky - p) * s.w..][..s.w];
                        let yr = &mut yi[oy * g.ow..][..g.ow];
                        let x0 = cols.start * st + kx - p;
                        if st == 1 {
                            // Plain slices: this loop vectorizes.
                            for (yv, &xv) in yr[cols.clone()].iter_mut().zip(&xr[x0..]) {
                                *yv += wv * xv;
                            }
                        } else {
                            for (yv, &xv) in yr[cols.clone()].iter_mut().zip(xr[x0..].iter().step_by(st)) {
                                *yv += wv * xv;
                            }
                        }
                    }
                }
            }
        }
    });
}

/// The weight gradient `dw[c][ky][kx] = Σ dy[c] · x[c]` shifted by (ky, kx). Sums run per
/// output column first (one accumulator per column, so the loop vectorizes instead of waiting on
/// one running sum), then over the columns in order: a fixed order whatever the thread count.
pub fn backward_weight<T: Real>(x: &[T], g: ConvGeom, dy: &[T], dw: &mut [T]) {
    let (s, k, st, p) = (g.input, g.k, g.stride, g.pad);
    let (plane, oplane) = (s.h * s.w, g.oh * g.ow);
    dw.par_chunks_mut(k * k).enumerate().for_each(|(c, dwc)| {
        let xc = &x[c * g.n * plane..(c + 1) * g.n * plane];
        let dyc = &dy[c * g.n * oplane..(c + 1) * g.n * oplane];
        let mut lanes = vec![T::ZERO; g.ow];
        for ky in 0..k {
            let rows = valid(ky, p, st, s.h, g.oh);
            for kx in 0..k {
                let cols = valid(kx, p, st, s.w, g.ow);
                lanes.fill(T::ZERO);
                if !cols.is_empty() {
                    let x0 = cols.start * st + kx - p;
                    let lane = &mut lanes[cols.clone()];
                    for (xi, dyi) in xc.chunks(plane).zip(dyc.chunks(oplane)) {
                        for oy in rows.clone() {
                            let xr = &xi[(oy * st + ky - p) * s.w..][..s.w];
                            let dr = &dyi[oy * g.ow..][..g.ow][cols.clone()];
                            if st == 1 {
                                for ((a, &d), &xv) in lane.iter_mut().zip(dr).zip(&xr[x0..]) {
                                    *a += d * xv;
                                }
                            } else {
                                for ((a, &d), &xv) in lane.iter_mut().zip(dr).zip(xr[x0..].iter().step_by(st)) {
                                    *a += d * xv;
                                }
                            }
                        }
                    }
                }
                dwc[ky * k + kx] = lanes.iter().fold(T::ZERO, |a, &v| a + v);
            }
        }
    });
}

/// The input gradient `dx[c] = dy[c] ⋆ᵀ w[c]`.
pub fn backward_input<T: Real>(dy: &[T], g: ConvGeom, w: &[T]) -> Vec<T> {
    let (s, k, st, p) = (g.input, g.k, g.stride, g.pad);
    let (plane, oplane) = (s.h * s.w, g.oh * g.ow);
    let mut dx = vec![T::ZERO; s.c * g.n * plane];
    dx.par_chunks_mut(g.n * plane).enumerate().for_each(|(c, dxc)| {
        let dyc = &dy[c * g.n * oplane..(c + 1) * g.n * oplane];
        let wc = &w[c * k * k..(c + 1) * k * k];
        for (dxi, dyi) in dxc.chunks_mut(plane).zip(dyc.chunks(oplane)) {
            for ky in 0..k {
                let rows = valid(ky, p, st, s.h, g.oh);
                for kx in 0..k {
                    let cols = valid(kx, p, st, s.w, g.ow);
                    if cols.is_empty() {
                        continue;
                    }
                    let wv = wc[ky * k + kx];
                    for oy in rows.clone() {
                        let dr = &dyi[oy * g.ow..][..g.ow];
                        let xr = &mut dxi[(oy * st + ky - p) * s.w..][..s.w];
                        let x0 = cols.start * st + kx - p;
                        if st == 1 {
                            for (xv, &d) in xr[x0..].iter_mut().zip(&dr[cols.clone()]) {
                                *xv += wv * d;
                            }
                        } else {
                            for (xv, &d) in xr[x0..].iter_mut().step_by(st).zip(&dr[cols.clone()]) {
                                *xv += wv * d;
                            }
                        }
                    }
                }
            }
        }
    });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::arch::Shape;

    /// The definition, one output at a time, in f64.
    fn reference(x: &[f64], g: ConvGeom, w: &[f64], bias: &[f64]) -> Vec<f64> {
        let s = g.input;
        let mut y = vec![0.0; s.c * g.n * g.oh * g.ow];
        for c in 0..s.c {
            for n in 0..g.n {
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let mut acc = bias[c];
                        for ky in 0..g.k {
                            for kx in 0..g.k {
                                let (iy, ix) = (
                                    (oy * g.stride + ky) as isize - g.pad as isize,
                                    (ox * g.stride + kx) as isize - g.pad as isize,
                                );
                                if iy >= 0 && ix >= 0 && (iy as usize) < s.h && (ix as usize) < s.w {
                                    acc += w[(c * g.k + ky) * g.k + kx]
                                        * x[((c * g.n + n) * s.h + iy as usize) * s.w + ix as usize];
                                }
                            }
                        }
                        y[((c * g.n + n) * g.oh + oy) * g.ow + ox] = acc;
                    }
                }
            }
        }
        y
    }

    fn values(len: usize, seed: u64) -> Vec<f64> {
        let mut st = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                st ^= st << 13;
                st ^= st >> 7;
                st ^= st << 17;
                (st >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    /// Forward against the definition, and both gradients against the adjoint identity
    /// ⟨conv(x), dy⟩ = ⟨x, dx⟩ = ⟨w, dw⟩ (bias 0), over strides, paddings and odd sizes.
    #[test]
    fn matches_the_definition_and_its_adjoints() {
        for (k, stride, pad, h, w) in
            [(3, 1, 1, 7, 5), (3, 2, 1, 8, 9), (3, 2, 0, 7, 7), (5, 1, 2, 6, 4), (1, 1, 0, 3, 3), (3, 3, 2, 5, 8)]
        {
            let input = Shape::new(4, h, w);
            let (oh, ow) = ((h + 2 * pad - k) / stride + 1, (w + 2 * pad - k) / stride + 1);
            let g = ConvGeom { n: 3, input, k, stride, pad, oh, ow };
            let x = values(4 * 3 * h * w, 1);
            let wt = values(4 * k * k, 2);
            let bias = values(4, 3);
            let mut y = vec![0.0; 4 * 3 * oh * ow];
            forward(&x, g, &wt, &bias, &mut y);
            let want = reference(&x, g, &wt, &bias);
            for (a, b) in y.iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "{k} {stride} {pad} {h}×{w}: {a} vs {b}");
            }
            let dy = values(y.len(), 4);
            forward(&x, g, &wt, &[0.0; 4], &mut y);
            let lhs: f64 = y.iter().zip(&dy).map(|(a, b)| a * b).sum();
            let dx = backward_input(&dy, g, &wt);
            let mut dw = vec![0.0; wt.len()];
            backward_weight(&x, g, &dy, &mut dw);
            let via_x: f64 = x.iter().zip(&dx).map(|(a, b)| a * b).sum();
            let via_w: f64 = wt.iter().zip(&dw).map(|(a, b)| a * b).sum();
            assert!((lhs - via_x).abs() < 1e-10 && (lhs - via_w).abs() < 1e-10, "{lhs} {via_x} {via_w}");
        }
    }
}
