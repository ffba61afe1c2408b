//! A convolution or fully connected layer in integers: its operands as the array receives them
//! (im2col), and the exact post-processing of its accumulators (zero-point corrections, bias,
//! requantization).

use super::fixed::FixedMultiplier;
use super::params::QuantParams;
use crate::model::{Pads, Shape};
use serde::{Deserialize, Serialize};

/// How a GEMM layer reads its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GemmKind {
    /// A convolution (square kernel, zero padding) read through im2col.
    Conv {
        /// Kernel height and width.
        k: usize,
        /// Stride in both directions.
        stride: usize,
        /// Padding with the input's zero point (real 0) on each side.
        pad: Pads,
        /// Channel groups, each an independent convolution (the input channel count: depthwise).
        /// The array runs one group after another ([`QGemm::split_groups`]).
        #[serde(default = "one", skip_serializing_if = "is_one")]
        groups: usize,
    },
    /// A fully connected layer on the flattened input.
    Linear,
}

fn one() -> usize {
    1
}

fn is_one(v: &usize) -> bool {
    *v == 1
}

/// A conv or linear layer in integers: `acc = Σ P(x, w) − z_w·Σq_x − z_x·Σw + K·z_x·z_w + bias`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QGemm {
    /// The float layer's name.
    pub name: String,
    /// Convolution or fully connected.
    pub kind: GemmKind,
    /// Shape of the layer's input.
    pub in_shape: Shape,
    /// Shape of the layer's output.
    pub out_shape: Shape,
    /// Reduction length (`Fh·Fw·Cin/groups` or the input size).
    pub k: usize,
    /// Output channels (filters).
    pub nf: usize,
    /// Integer weights, `nf × k` in PyTorch flatten order (codes for asym-u8, signed otherwise).
    pub w: Vec<i32>,
    /// Weight quantization per output channel (all equal when per-tensor).
    pub w_params: Vec<QuantParams>,
    /// `Σ_k w[o][k]` per output channel (exact correction term).
    pub w_sum: Vec<i32>,
    /// Bias in int32 with scale `s_x·s_w[o]`.
    pub bias: Vec<i32>,
    /// Quantization of the layer's input codes.
    pub input: QuantParams,
    /// Output quantization (ReLU range fused when a ReLU follows); `None` for the logits layer,
    /// whose int32 accumulators are the result.
    pub output: Option<QuantParams>,
    /// `s_x·s_w[o]/s_y` in fixed point, per output channel (empty for the logits layer).
    pub requant: Vec<FixedMultiplier>,
    /// ONNX's requantization instead of gemmlowp's, when set: `z_y + round_half_even(acc · m[o])`
    /// in float32, `m[o] = s_x·s_w[o]/s_y` (as ONNX Runtime's int8 kernels compute it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub float_requant: Option<Vec<f32>>,
    /// Whether this layer's products go through the approximate multiplier.
    pub approximate: bool,
}

impl QGemm {
    /// Output pixels per image (`Eh·Ew`; 1 for linear layers).
    pub fn npix(&self) -> usize {
        self.out_shape.h * self.out_shape.w
    }

    /// Channel groups (1 for linear layers and ordinary convolutions).
    pub fn groups(&self) -> usize {
        match self.kind {
            GemmKind::Conv { groups, .. } => groups,
            GemmKind::Linear => 1,
        }
    }

    /// A grouped convolution as its `groups` independent ungrouped convolutions, in channel
    /// order: group `j` reads input channels `j·C/g..(j+1)·C/g` and writes output channels
    /// `j·F/g..(j+1)·F/g`. This is how the array runs it (one GEMM per group; a depthwise
    /// layer is `C` GEMMs of one filter each). `[self]` when ungrouped.
    pub fn split_groups(&self) -> Vec<QGemm> {
        let GemmKind::Conv { k, stride, pad, groups } = self.kind else { return vec![self.clone()] };
        if groups == 1 {
            return vec![self.clone()];
        }
        let nf = self.nf / groups;
        let in_shape = Shape { c: self.in_shape.c / groups, ..self.in_shape };
        let out_shape = Shape { c: nf, ..self.out_shape };
        (0..groups)
            .map(|j| {
                let o = j * nf..(j + 1) * nf;
                QGemm {
                    name: self.name.clone(),
                    kind: GemmKind::Conv { k, stride, pad, groups: 1 },
                    in_shape,
                    out_shape,
                    k: self.k,
                    nf,
                    w: self.w[o.start * self.k..o.end * self.k].to_vec(),
                    w_params: self.w_params[o.clone()].to_vec(),
                    w_sum: self.w_sum[o.clone()].to_vec(),
                    bias: self.bias[o.clone()].to_vec(),
                    input: self.input,
                    output: self.output,
                    requant: if self.requant.is_empty() { Vec::new() } else { self.requant[o.clone()].to_vec() },
                    float_requant: self.float_requant.as_ref().map(|m| m[o].to_vec()),
                    approximate: self.approximate,
                }
            })
            .collect()
    }

    /// im2col of one image's input codes: `npix × k` activation codes (padding = `z_x`, which
    /// still goes through the multiplier) and `Σ_k q_x` per pixel for the exact correction.
    pub fn im2col(&self, x: &[i32], act: &mut Vec<i32>, xsum: &mut Vec<i32>) {
        act.clear();
        xsum.clear();
        match self.kind {
            GemmKind::Linear => {
                act.extend_from_slice(x);
                xsum.push(x.iter().sum());
            }
            GemmKind::Conv { k, stride, pad, groups } => {
                assert_eq!(groups, 1, "im2col of one group: split_groups first");
                let s = self.in_shape;
                let o = self.out_shape;
                let z = self.input.zero_point;
                for oy in 0..o.h {
                    for ox in 0..o.w {
                        let mut sum = 0i32;
                        for ic in 0..s.c {
                            for ky in 0..k {
                                let iy = (oy * stride + ky) as isize - pad.top as isize;
                                for kx in 0..k {
                                    let ix = (ox * stride + kx) as isize - pad.left as isize;
                                    let v = if iy < 0 || ix < 0 || iy >= s.h as isize || ix >= s.w as isize {
                                        z
                                    } else {
                                        x[(ic * s.h + iy as usize) * s.w + ix as usize]
                                    };
                                    sum += v;
                                    act.push(v);
                                }
                            }
                        }
                        xsum.push(sum);
                    }
                }
            }
        }
    }

    /// Source index in the CHW input of every im2col entry (`npix × k`), `u32::MAX` for padding.
    /// Computed once per layer; [`QGemm::im2col_append`] then gathers.
    pub fn im2col_index(&self) -> Vec<u32> {
        let n = self.in_shape.numel();
        let x: Vec<i32> = (0..n as i32).collect();
        let mut idx = Vec::new();
        let mut sums = Vec::new();
        // Reuse the direct im2col on the identity image, with padding marked by −1.
        let mut g = self.clone();
        g.input.zero_point = -1;
        g.im2col(&x, &mut idx, &mut sums);
        idx.into_iter().map(|v| if v < 0 { u32::MAX } else { v as u32 }).collect()
    }

    /// im2col by gather, appending one image's rows to `codes` (multiplier operand codes,
    /// `scheme.act_operand`) and its `Σ_k q_x` per pixel to `xsum` (batches stack their images).
    pub fn im2col_append(
        &self,
        index: &[u32],
        x: &[i32],
        scheme: super::QuantScheme,
        codes: &mut Vec<u8>,
        xsum: &mut Vec<i32>,
    ) {
        let start = codes.len();
        match self.kind {
            GemmKind::Conv { k, stride, pad, groups: 1 } if k <= 8 => {
                self.im2col_runs(x, scheme, k, stride, pad, codes)
            }
            _ => {
                // The image as operand bytes, with the zero point's byte at `x.len()` for padding
                // (`u32::MAX` in the index): one byte load per entry.
                let n = x.len();
                let mut xb: Vec<u8> = Vec::with_capacity(n + 1);
                xb.extend(x.iter().map(|&q| scheme.act_operand(q)));
                xb.push(scheme.act_operand(self.input.zero_point));
                codes.resize(start + index.len(), 0);
                for (c, &i) in codes[start..].iter_mut().zip(index) {
                    *c = xb[(i as usize).min(n)];
                }
            }
        }
        // Σ q over each row, from the bytes (q is the code, or its two's-complement value).
        let signed = scheme.act_range().0 < 0;
        for row in codes[start..].chunks_exact(self.k) {
            xsum.push(if signed {
                row.iter().map(|&c| c as i8 as i32).sum()
            } else {
                row.iter().map(|&c| c as i32).sum()
            });
        }
    }

    /// Convolution im2col from a zero-point-padded byte image: every (channel, kernel row) of a
    /// window is `fk ≤ 8` contiguous bytes, copied as one 8-byte move (the overhang is
    /// overwritten by the next run, or truncated).
    fn im2col_runs(
        &self,
        x: &[i32],
        scheme: super::QuantScheme,
        fk: usize,
        stride: usize,
        pad: Pads,
        codes: &mut Vec<u8>,
    ) {
        let (s, o) = (self.in_shape, self.out_shape);
        let (hp, wp) = (s.h + pad.top + pad.bottom, s.w + pad.left + pad.right);
        let mut xb = vec![scheme.act_operand(self.input.zero_point); s.c * hp * wp + 8];
        for c in 0..s.c {
            for y in 0..s.h {
                let src = &x[(c * s.h + y) * s.w..][..s.w];
                let dst = &mut xb[(c * hp + y + pad.top) * wp + pad.left..][..s.w];
                for (d, &q) in dst.iter_mut().zip(src) {
                    *d = scheme.act_operand(q);
                }
            }
        }
        let start = codes.len();
        let len = o.h * o.w * self.k;
        // Written through the spare capacity (every byte up to `len` is copied below).
        codes.reserve(len + 8);
        // Every run lies inside the padded image (its last window ends at the last padded byte,
        // and `xb` has 8 bytes of slack) and inside the reserved bytes (8 of slack): checked
        // once here rather than twice per 8-byte move.
        if o.h > 0 && o.w > 0 {
            let last = ((s.c - 1) * hp + (o.h - 1) * stride + fk - 1) * wp + (o.w - 1) * stride;
            assert!(last + 8 <= xb.len() && codes.capacity() >= start + len + 8);
        }
        // SAFETY: within the capacity reserved above.
        let (src0, dst0) = (xb.as_ptr(), unsafe { codes.as_mut_ptr().add(start) });
        let mut d = 0;
        for oy in 0..o.h {
            for ox in 0..o.w {
                for c in 0..s.c {
                    for ky in 0..fk {
                        let src = (c * hp + oy * stride + ky) * wp + ox * stride;
                        // SAFETY: `src + 8 ≤ xb.len()` and `d + 8 ≤ len + 8` by the assertion.
                        unsafe { std::ptr::copy_nonoverlapping(src0.add(src), dst0.add(d), 8) };
                        d += fk;
                    }
                }
            }
        }
        assert_eq!(d, len);
        // SAFETY: the runs wrote bytes `start..start + len` (`d == len`), within the capacity.
        unsafe { codes.set_len(start + len) };
    }

    /// Int32 accumulator of pixel `p`, channel `o` from the multiplier sum `s = Σ_k P(x, w)`.
    #[inline]
    pub fn accumulator(&self, s: i32, xsum: i32, o: usize) -> i32 {
        let zx = self.input.zero_point;
        let zw = self.w_params[o].zero_point;
        s.wrapping_sub(zw.wrapping_mul(xsum))
            .wrapping_sub(zx.wrapping_mul(self.w_sum[o]))
            .wrapping_add((self.k as i32).wrapping_mul(zx).wrapping_mul(zw))
            .wrapping_add(self.bias[o])
    }

    /// Finish a layer: `sums` is `npix × nf` (pixel-major) multiplier sums. Writes CHW output:
    /// requantized codes, or int32 accumulators for the logits layer.
    pub fn finish(&self, sums: &[i32], xsum: &[i32], range: (i32, i32), out: &mut Vec<i32>) {
        out.clear();
        self.finish_rows(sums, self.nf, xsum, range, out);
    }

    /// [`Self::finish`] for a batch: `sums` holds `b·npix` rows of `stride ≥ nf` sums (lanes past
    /// `nf` are ignored), `xsum` `b·npix` entries; appends the `b` CHW outputs to `out`.
    pub fn finish_rows(&self, sums: &[i32], stride: usize, xsum: &[i32], range: (i32, i32), out: &mut Vec<i32>) {
        let (npix, nf) = (self.npix(), self.nf);
        assert!(stride >= nf && xsum.len().is_multiple_of(npix) && sums.len() >= xsum.len() * stride - (stride - nf));
        let start = out.len();
        out.resize(start + xsum.len() * nf, 0);
        let out = &mut out[start..];
        #[cfg(target_arch = "x86_64")]
        if self.float_requant.is_none() && std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present (the kernel is safe code otherwise: its loads and stores are
            // of bounds-checked slices and arrays).
            if unsafe { self.finish_avx2(sums, stride, xsum, range, out) } {
                return;
            }
        }
        self.finish_rows_portable(sums, stride, xsum, range, out);
    }

    /// The portable path of [`Self::finish_rows`] (`out` has `b·npix·nf` entries to overwrite).
    pub fn finish_rows_portable(&self, sums: &[i32], stride: usize, xsum: &[i32], range: (i32, i32), out: &mut [i32]) {
        let (npix, nf) = (self.npix(), self.nf);
        let zx = self.input.zero_point;
        for o in 0..nf {
            // `accumulator` with its per-channel terms hoisted (wrapping sums may be reordered).
            let zw = self.w_params[o].zero_point;
            let c = self.bias[o]
                .wrapping_sub(zx.wrapping_mul(self.w_sum[o]))
                .wrapping_add((self.k as i32).wrapping_mul(zx).wrapping_mul(zw));
            let acc = |r: usize| sums[r * stride + o].wrapping_sub(zw.wrapping_mul(xsum[r])).wrapping_add(c);
            for (img, dst) in out.chunks_exact_mut(npix * nf).enumerate() {
                let dst = &mut dst[o * npix..(o + 1) * npix];
                let r0 = img * npix;
                match self.output {
                    None => dst.iter_mut().enumerate().for_each(|(p, d)| *d = acc(r0 + p)),
                    Some(_) => {
                        for (p, d) in dst.iter_mut().enumerate() {
                            *d = self.requantize(acc(r0 + p), o, range);
                        }
                    }
                }
            }
        }
    }

    /// The output code of accumulator `acc` of channel `o` (a layer with an output quantization).
    #[inline]
    pub fn requantize(&self, acc: i32, o: usize, range: (i32, i32)) -> i32 {
        let z = self.output.expect("a requantized layer").zero_point;
        match &self.float_requant {
            None => (z + self.requant[o].apply(acc)).clamp(range.0, range.1),
            Some(m) => {
                let v = (acc as f32 * m[o]).round_ties_even();
                (z as f32 + v).clamp(range.0 as f32, range.1 as f32) as i32
            }
        }
    }

    /// Switch to ONNX's float requantization ([`QGemm::float_requant`]).
    pub fn use_float_requant(&mut self) {
        if let Some(out) = self.output {
            let m = self.w_params.iter().map(|w| self.input.scale * w.scale / out.scale).collect();
            self.float_requant = Some(m);
        }
    }

    /// Eight output channels at a time; `false` (nothing written) if a requantization mantissa
    /// needs the scalar path's saturation. Safe code compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn finish_avx2(&self, sums: &[i32], stride: usize, xsum: &[i32], range: (i32, i32), out: &mut [i32]) -> bool {
        use super::fixed::Requant8;
        use std::arch::x86_64::*;
        let (npix, nf) = (self.npix(), self.nf);
        let zx = self.input.zero_point;
        // SAFETY: `v` is eight `i32`, 32 bytes.
        let load = |v: [i32; 8]| unsafe { _mm256_loadu_si256(v.as_ptr() as *const __m256i) };
        // Per chunk of 8 channels: zw, the constant terms, requantization (padding lanes inert).
        let mut chunks = Vec::with_capacity(nf.div_ceil(8));
        for o0 in (0..nf).step_by(8) {
            let ch = |o: usize| o0 + o < nf;
            let zw: [i32; 8] = std::array::from_fn(|o| if ch(o) { self.w_params[o0 + o].zero_point } else { 0 });
            let c: [i32; 8] = std::array::from_fn(|o| {
                if !ch(o) {
                    return 0;
                }
                let oc = o0 + o;
                self.bias[oc]
                    .wrapping_sub(zx.wrapping_mul(self.w_sum[oc]))
                    .wrapping_add((self.k as i32).wrapping_mul(zx).wrapping_mul(zw[o]))
            });
            let rq = match self.output {
                None => None,
                Some(_) => {
                    let m: [FixedMultiplier; 8] = std::array::from_fn(|o| {
                        if ch(o) {
                            self.requant[o0 + o]
                        } else {
                            FixedMultiplier { mantissa: 0, shift: 0 }
                        }
                    });
                    match Requant8::new(&m) {
                        Some(r) => Some(r),
                        None => return false,
                    }
                }
            };
            chunks.push((load(zw), load(c), rq));
        }
        let (zy, lo, hi) = match self.output {
            Some(q) => (q.zero_point, range.0, range.1),
            None => (0, 0, 0),
        };
        let (zy, lo, hi) = (_mm256_set1_epi32(zy), _mm256_set1_epi32(lo), _mm256_set1_epi32(hi));
        // Output row `r`, channels `o0..o0 + 8` (lanes past `nf` are padding).
        let value = |r: usize, o0: usize, (zw, c, rq): &(__m256i, __m256i, Option<Requant8>)| {
            let at = r * stride + o0;
            let s = if o0 + 8 <= stride && at + 8 <= sums.len() {
                // SAFETY: `sums[at..at + 8]` is eight `i32`, 32 bytes.
                unsafe { _mm256_loadu_si256(sums[at..at + 8].as_ptr() as *const __m256i) }
            } else {
                let n = nf - o0;
                let mut v = [0i32; 8];
                v[..n].copy_from_slice(&sums[at..at + n]);
                load(v)
            };
            let acc = _mm256_add_epi32(_mm256_sub_epi32(s, _mm256_mullo_epi32(*zw, _mm256_set1_epi32(xsum[r]))), *c);
            match rq {
                None => acc,
                Some(rq) => _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(zy, rq.apply(acc)), lo), hi),
            }
        };
        let mut lanes = [0i32; 8];
        let mut r = 0;
        while r < xsum.len() {
            let (img, p) = (r / npix, r % npix);
            let dst = &mut out[img * npix * nf..(img + 1) * npix * nf];
            if p + 8 <= npix {
                // Eight pixels at once, transposed in registers: the CHW output gets one 8-lane
                // store per channel instead of eight scattered ones.
                for (j, ch) in chunks.iter().enumerate() {
                    let o0 = j * 8;
                    let v: [__m256i; 8] = std::array::from_fn(|i| value(r + i, o0, ch));
                    for (o, col) in transpose8(v).iter().enumerate().take(nf - o0) {
                        let d = &mut dst[(o0 + o) * npix + p..][..8];
                        // SAFETY: `d` is eight `i32`, 32 bytes.
                        unsafe { _mm256_storeu_si256(d.as_mut_ptr() as *mut __m256i, *col) };
                    }
                }
                r += 8;
                continue;
            }
            for (j, ch) in chunks.iter().enumerate() {
                let o0 = j * 8;
                let v = value(r, o0, ch);
                // SAFETY: `lanes` is eight `i32`, 32 bytes.
                unsafe { _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, v) };
                for (o, &l) in lanes.iter().enumerate().take(nf - o0) {
                    dst[(o0 + o) * npix + p] = l;
                }
            }
            r += 1;
        }
        true
    }

    /// Real value of a logits-layer accumulator.
    pub fn dequantize_acc(&self, acc: i32, o: usize) -> f32 {
        (acc as f64 * self.input.scale as f64 * self.w_params[o].scale as f64) as f32
    }
}

/// 8×8 transpose of i32 lanes: `out[j]` lane `i` = `v[i]` lane `j` (safe code compiled for AVX2).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn transpose8(v: [std::arch::x86_64::__m256i; 8]) -> [std::arch::x86_64::__m256i; 8] {
    use std::arch::x86_64::*;
    let t0 = _mm256_unpacklo_epi32(v[0], v[1]);
    let t1 = _mm256_unpackhi_epi32(v[0], v[1]);
    let t2 = _mm256_unpacklo_epi32(v[2], v[3]);
    let t3 = _mm256_unpackhi_epi32(v[2], v[3]);
    let t4 = _mm256_unpacklo_epi32(v[4], v[5]);
    let t5 = _mm256_unpackhi_epi32(v[4], v[5]);
    let t6 = _mm256_unpacklo_epi32(v[6], v[7]);
    let t7 = _mm256_unpackhi_epi32(v[6], v[7]);
    let u0 = _mm256_unpacklo_epi64(t0, t2);
    let u1 = _mm256_unpackhi_epi64(t0, t2);
    let u2 = _mm256_unpacklo_epi64(t1, t3);
    let u3 = _mm256_unpackhi_epi64(t1, t3);
    let u4 = _mm256_unpacklo_epi64(t4, t6);
    let u5 = _mm256_unpackhi_epi64(t4, t6);
    let u6 = _mm256_unpacklo_epi64(t5, t7);
    let u7 = _mm256_unpackhi_epi64(t5, t7);
    [
        _mm256_permute2x128_si256::<0x20>(u0, u4),
        _mm256_permute2x128_si256::<0x20>(u1, u5),
        _mm256_permute2x128_si256::<0x20>(u2, u6),
        _mm256_permute2x128_si256::<0x20>(u3, u7),
        _mm256_permute2x128_si256::<0x31>(u0, u4),
        _mm256_permute2x128_si256::<0x31>(u1, u5),
        _mm256_permute2x128_si256::<0x31>(u2, u6),
        _mm256_permute2x128_si256::<0x31>(u3, u7),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Both gather paths of `im2col_append` (8-byte runs for kernels ≤ 8 wide, the index for
    /// others) equal the direct `im2col`, appending after what is already in the buffers.
    #[test]
    fn im2col_append_equals_direct() {
        use super::super::QuantScheme;
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(10);
        for case in 0..300 {
            let fk = [1usize, 2, 3, 5, 7, 8, 9, 11][r.gen_range(0..8)];
            let stride = r.gen_range(1..4);
            // Uniform padding in two cases of three, asymmetric in the third.
            let pad = match case % 3 {
                2 => Pads {
                    top: r.gen_range(0..4),
                    left: r.gen_range(0..4),
                    bottom: r.gen_range(0..4),
                    right: r.gen_range(0..4),
                },
                _ => Pads::uniform(r.gen_range(0..4)),
            };
            let s = Shape::new(r.gen_range(1..4), r.gen_range(fk.max(1)..fk + 9), r.gen_range(fk.max(1)..fk + 9));
            let o = Shape::new(
                r.gen_range(1..5),
                (s.h + pad.top + pad.bottom - fk) / stride + 1,
                (s.w + pad.left + pad.right - fk) / stride + 1,
            );
            let scheme = [QuantScheme::AsymU8, QuantScheme::SignMagnitude, QuantScheme::SymS8][case % 3];
            let (lo, hi) = scheme.act_range();
            let k = s.c * fk * fk;
            let qp = QuantParams { scale: 1.0, zero_point: r.gen_range(lo..=hi) };
            let g = QGemm {
                name: "t".into(),
                kind: GemmKind::Conv { k: fk, stride, pad, groups: 1 },
                in_shape: s,
                out_shape: o,
                k,
                nf: o.c,
                w: vec![0; o.c * k],
                w_params: vec![qp; o.c],
                w_sum: vec![0; o.c],
                bias: vec![0; o.c],
                input: qp,
                output: None,
                requant: vec![],
                float_requant: None,
                approximate: true,
            };
            let x: Vec<i32> = (0..s.numel()).map(|_| r.gen_range(lo..=hi)).collect();
            let (mut act, mut sums) = (Vec::new(), Vec::new());
            g.im2col(&x, &mut act, &mut sums);
            let want: Vec<u8> = [9u8].into_iter().chain(act.iter().map(|&q| scheme.act_operand(q))).collect();
            let (mut codes, mut xsum) = (vec![9u8], vec![-5]);
            g.im2col_append(&g.im2col_index(), &x, scheme, &mut codes, &mut xsum);
            assert_eq!(codes, want, "case {case}: fk={fk} stride={stride} pad={pad:?} {s:?}");
            assert_eq!(xsum[1..], sums[..], "case {case}");
        }
    }
}
