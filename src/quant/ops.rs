//! The integer ops of the model that are not products: ReLU and Clip, the pools, the residual
//! add and the channel concat, on activation codes. They run in the accelerator's
//! post-processing unit. Rounding, stated once: a mean rounds half away from zero; the add and
//! the concat rescale with TFLite's fixed-point multipliers (round half away from zero).

use super::fixed::FixedMultiplier;
use super::params::QuantParams;
use crate::model::{Pads, Shape};
use serde::{Deserialize, Serialize};

/// `acc / n` rounded half away from zero.
#[inline(always)]
pub fn rounded_mean(acc: i32, n: i32) -> i32 {
    if acc >= 0 {
        (acc + n / 2) / n
    } else {
        -((-acc + n / 2) / n)
    }
}

/// Integer average pooling without padding: rounded mean of the codes (ties away from zero).
pub fn avg_pool(x: &[i32], k: usize, stride: usize, s: Shape, o: Shape, out: &mut Vec<i32>) {
    // The 2×2 window of LeNet-5 and AlexNet gets a constant divisor (a shift, not a division).
    match k {
        2 => avg_pool_k::<2>(x, stride, s, o, out),
        3 => avg_pool_k::<3>(x, stride, s, o, out),
        _ => avg_pool_any(x, k, stride, s, o, out),
    }
}

fn avg_pool_k<const K: usize>(x: &[i32], stride: usize, s: Shape, o: Shape, out: &mut Vec<i32>) {
    out.clear();
    out.reserve(o.numel());
    for c in 0..o.c {
        for oy in 0..o.h {
            for ox in 0..o.w {
                let mut acc = 0i32;
                for ky in 0..K {
                    let row = &x[(c * s.h + oy * stride + ky) * s.w + ox * stride..][..K];
                    acc += row.iter().sum::<i32>();
                }
                out.push(rounded_mean(acc, (K * K) as i32));
            }
        }
    }
}

fn avg_pool_any(x: &[i32], k: usize, stride: usize, s: Shape, o: Shape, out: &mut Vec<i32>) {
    out.clear();
    let n = (k * k) as i32;
    for c in 0..o.c {
        for oy in 0..o.h {
            for ox in 0..o.w {
                let mut acc = 0i32;
                for ky in 0..k {
                    for kx in 0..k {
                        acc += x[(c * s.h + oy * stride + ky) * s.w + ox * stride + kx];
                    }
                }
                out.push(rounded_mean(acc, n));
            }
        }
    }
}

/// A pooling window: `k × k` at stride `stride` over an input padded by `pad`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Window height and width.
    pub k: usize,
    /// Stride in both directions.
    pub stride: usize,
    /// Padding on each side.
    pub pad: Pads,
}

impl Window {
    /// Calls `f(c, out_index, codes inside the window)` for every output position, in CHW order.
    fn each(&self, x: &[i32], s: Shape, o: Shape, mut f: impl FnMut(&mut dyn Iterator<Item = i32>, usize)) {
        for c in 0..o.c {
            for oy in 0..o.h {
                let y0 = (oy * self.stride) as isize - self.pad.top as isize;
                let ys = y0.max(0) as usize..((y0 + self.k as isize).min(s.h as isize)).max(0) as usize;
                for ox in 0..o.w {
                    let x0 = (ox * self.stride) as isize - self.pad.left as isize;
                    let xs = x0.max(0) as usize..((x0 + self.k as isize).min(s.w as isize)).max(0) as usize;
                    let plane = &x[c * s.h * s.w..(c + 1) * s.h * s.w];
                    let mut it = ys.clone().flat_map(|y| plane[y * s.w + xs.start..y * s.w + xs.end].iter().copied());
                    f(&mut it, ys.len() * xs.len());
                }
            }
        }
    }
}

/// Integer average pooling with padding: the rounded mean of the window. With
/// `count_include_pad` a padded position counts as real 0 (the code `zero_point`) and the
/// divisor is `k²`; without, only the positions inside count.
pub fn avg_pool_padded(
    x: &[i32],
    w: Window,
    count_include_pad: bool,
    zero_point: i32,
    s: Shape,
    o: Shape,
    out: &mut Vec<i32>,
) {
    out.clear();
    let full = (w.k * w.k) as i32;
    w.each(x, s, o, |it, inside| {
        let sum: i32 = it.sum();
        out.push(if count_include_pad {
            rounded_mean(sum + (full - inside as i32) * zero_point, full)
        } else {
            rounded_mean(sum, inside.max(1) as i32)
        })
    });
}

/// Integer max pooling: the largest code of the window (padded positions take no part). The
/// maximum commutes with a monotone quantization, so codes in and out share their scale.
pub fn max_pool(x: &[i32], w: Window, s: Shape, o: Shape, out: &mut Vec<i32>) {
    out.clear();
    w.each(x, s, o, |it, _| out.push(it.max().unwrap_or(i32::MIN)));
}

/// Integer global average pooling: each channel's rounded mean (`c × h × w` → `c`).
pub fn global_avg_pool(x: &[i32], s: Shape, out: &mut Vec<i32>) {
    out.clear();
    let n = (s.h * s.w) as i32;
    out.extend(x.chunks_exact(s.h * s.w).map(|p| rounded_mean(p.iter().sum(), n)));
}

/// Integer ReLU: clamp at the zero point.
pub fn relu(x: &mut [i32], zero_point: i32) {
    for v in x {
        *v = (*v).max(zero_point);
    }
}

/// Integer Clip: clamp to the codes of the bounds.
pub fn clip(x: &mut [i32], lo: i32, hi: i32) {
    for v in x {
        *v = (*v).clamp(lo, hi);
    }
}

/// Left shift of the residual add's inputs before rescaling (TFLite's 8-bit add: 20 bits of
/// headroom keep the rescaled inputs' fractions).
pub const ADD_LEFT_SHIFT: u32 = 20;

/// A residual add of two code tensors with their own scales into a third (TFLite/gemmlowp's
/// quantized add): `y = z_y + M_y·(M_a·((a − z_a)·2²⁰) + M_b·((b − z_b)·2²⁰))` with
/// `M_a = s_a/2m`, `M_b = s_b/2m`, `M_y = 2m/(2²⁰·s_y)`, `m = max(s_a, s_b)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AddRequant {
    /// First input's quantization.
    pub a: QuantParams,
    /// Second input's quantization.
    pub b: QuantParams,
    /// The output's quantization.
    pub out: QuantParams,
    /// `M_a`.
    pub ma: FixedMultiplier,
    /// `M_b`.
    pub mb: FixedMultiplier,
    /// `M_y`.
    pub my: FixedMultiplier,
}

impl AddRequant {
    /// The multipliers of `a + b → out`.
    pub fn new(a: QuantParams, b: QuantParams, out: QuantParams) -> AddRequant {
        let twice_max = 2.0 * (a.scale as f64).max(b.scale as f64);
        AddRequant {
            a,
            b,
            out,
            ma: FixedMultiplier::from_real(a.scale as f64 / twice_max),
            mb: FixedMultiplier::from_real(b.scale as f64 / twice_max),
            my: FixedMultiplier::from_real(twice_max / ((1u64 << ADD_LEFT_SHIFT) as f64 * out.scale as f64)),
        }
    }

    /// One output code (clamped to `range`).
    #[inline]
    pub fn apply(&self, qa: i32, qb: i32, range: (i32, i32)) -> i32 {
        let sa = self.ma.apply((qa - self.a.zero_point) << ADD_LEFT_SHIFT);
        let sb = self.mb.apply((qb - self.b.zero_point) << ADD_LEFT_SHIFT);
        (self.out.zero_point + self.my.apply(sa + sb)).clamp(range.0, range.1)
    }

    /// `a + b` elementwise into `out`.
    pub fn add(&self, a: &[i32], b: &[i32], range: (i32, i32), out: &mut Vec<i32>) {
        out.clear();
        out.extend(a.iter().zip(b).map(|(&x, &y)| self.apply(x, y, range)));
    }
}

/// Codes of one scale re-expressed in another (a concat input joining the output's scale):
/// `y = z_out + M·(q − z_in)`, `M = s_in/s_out`. The identity when the two are equal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rescale {
    /// The input's quantization.
    pub input: QuantParams,
    /// The output's quantization.
    pub output: QuantParams,
    /// `M`.
    pub m: FixedMultiplier,
}

impl Rescale {
    /// The rescaling of `input` codes to `output`.
    pub fn new(input: QuantParams, output: QuantParams) -> Rescale {
        Rescale { input, output, m: FixedMultiplier::from_real(input.scale as f64 / output.scale as f64) }
    }

    /// Whether codes pass unchanged.
    pub fn is_identity(&self) -> bool {
        self.input == self.output
    }

    /// `x` rescaled, appended to `out` (clamped to `range`).
    pub fn extend(&self, x: &[i32], range: (i32, i32), out: &mut Vec<i32>) {
        if self.is_identity() {
            out.extend_from_slice(x);
        } else {
            let (zi, zo) = (self.input.zero_point, self.output.zero_point);
            out.extend(x.iter().map(|&q| (zo + self.m.apply(q - zi)).clamp(range.0, range.1)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The constant-window pools equal the general one (ties and negative sums included), and
    /// the padded pool with zero padding equals both.
    #[test]
    fn specialised_avg_pool_equals_general() {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        for case in 0..200 {
            let k = r.gen_range(2..4usize);
            let stride = r.gen_range(1..4usize);
            let s = Shape::new(r.gen_range(1..4), r.gen_range(k..12), r.gen_range(k..12));
            let o = Shape::new(s.c, (s.h - k) / stride + 1, (s.w - k) / stride + 1);
            let x: Vec<i32> = (0..s.numel()).map(|_| r.gen_range(-300..300)).collect();
            let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
            avg_pool(&x, k, stride, s, o, &mut a);
            avg_pool_any(&x, k, stride, s, o, &mut b);
            avg_pool_padded(&x, Window { k, stride, pad: Pads::default() }, case % 2 == 0, 7, s, o, &mut c);
            assert_eq!(a, b, "case {case}: k={k} stride={stride} {s:?}");
            assert_eq!(a, c, "case {case}: k={k} stride={stride} {s:?}");
        }
    }

    /// Padded pools against a direct definition on an explicitly padded image.
    #[test]
    fn padded_pools_equal_explicit_padding() {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for case in 0..300 {
            let k = r.gen_range(1..5usize);
            let stride = r.gen_range(1..4usize);
            let pad = Pads {
                top: r.gen_range(0..k),
                left: r.gen_range(0..k),
                bottom: r.gen_range(0..k),
                right: r.gen_range(0..k),
            };
            let s = Shape::new(r.gen_range(1..3), r.gen_range(k..9), r.gen_range(k..9));
            let (hp, wp) = (s.h + pad.top + pad.bottom, s.w + pad.left + pad.right);
            let o = Shape::new(s.c, (hp - k) / stride + 1, (wp - k) / stride + 1);
            let x: Vec<i32> = (0..s.numel()).map(|_| r.gen_range(0..256)).collect();
            let z = r.gen_range(0..256);
            let w = Window { k, stride, pad };
            // None = a padded position.
            let at = |c: usize, y: usize, xx: usize| -> Option<i32> {
                let (y, xx) = (y.checked_sub(pad.top)?, xx.checked_sub(pad.left)?);
                (y < s.h && xx < s.w).then(|| x[(c * s.h + y) * s.w + xx])
            };
            let (mut mx, mut inc, mut exc) = (Vec::new(), Vec::new(), Vec::new());
            max_pool(&x, w, s, o, &mut mx);
            avg_pool_padded(&x, w, true, z, s, o, &mut inc);
            avg_pool_padded(&x, w, false, z, s, o, &mut exc);
            let mut i = 0;
            for c in 0..o.c {
                for oy in 0..o.h {
                    for ox in 0..o.w {
                        let vals: Vec<Option<i32>> =
                            (0..k * k).map(|j| at(c, oy * stride + j / k, ox * stride + j % k)).collect();
                        let inside: Vec<i32> = vals.iter().flatten().copied().collect();
                        assert_eq!(mx[i], inside.iter().copied().max().unwrap_or(i32::MIN), "case {case} max");
                        let with_z: i32 = vals.iter().map(|v| v.unwrap_or(z)).sum();
                        let want_inc = (with_z as f64 / (k * k) as f64).round() as i32;
                        assert_eq!(inc[i], want_inc, "case {case} include pad");
                        let want_exc = (inside.iter().sum::<i32>() as f64 / inside.len().max(1) as f64).round() as i32;
                        assert_eq!(exc[i], want_exc, "case {case} exclude pad");
                        i += 1;
                    }
                }
            }
        }
    }

    /// The quantized add and the rescale agree with float arithmetic within one code.
    #[test]
    fn add_and_rescale_follow_the_reals() {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        for case in 0..2000 {
            let range = if case % 2 == 0 { (0, 255) } else { (-128, 127) };
            let qp = |r: &mut rand_chacha::ChaCha8Rng| QuantParams {
                scale: r.gen_range(0.001f32..0.2),
                zero_point: r.gen_range(range.0..=range.1),
            };
            let (a, b, o) = (qp(&mut r), qp(&mut r), qp(&mut r));
            let add = AddRequant::new(a, b, o);
            let (qa, qb) = (r.gen_range(range.0..=range.1), r.gen_range(range.0..=range.1));
            let real = a.dequantize(qa) as f64 + b.dequantize(qb) as f64;
            let want = ((real / o.scale as f64).round() as i32 + o.zero_point).clamp(range.0, range.1);
            let got = add.apply(qa, qb, range);
            assert!((got - want).abs() <= 1, "case {case}: {got} vs {want}");
            let rs = Rescale::new(a, o);
            let mut v = Vec::new();
            rs.extend(&[qa], range, &mut v);
            let want =
                ((a.dequantize(qa) as f64 / o.scale as f64).round() as i32 + o.zero_point).clamp(range.0, range.1);
            assert!((v[0] - want).abs() <= 1, "case {case}: rescale {} vs {want}", v[0]);
        }
    }
}
