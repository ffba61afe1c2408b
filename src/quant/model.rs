//! Post-training quantization of a float model to integer-only inference. Ranges come from one
//! calibration pass over a fixed (seeded) set of training images, never from the batch being
//! evaluated. The integer ops that are not products (zero-point corrections, bias,
//! requantization, ReLU, average pooling) live here; the products are the accelerator's job.

use super::fixed::FixedMultiplier;
use super::params::{QuantParams, QuantScheme, WeightGranularity};
use super::QuantError;
use crate::model::{Arch, LayerKind, Params, Shape, Source};
use rand::seq::index::sample;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Which conv/linear layers use the approximate multiplier (the others use the exact one
/// through the same datapath).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ApproxLayers {
    /// Convolutions only (the reproduced study); fully connected layers exact.
    #[default]
    Conv,
    /// Every convolution and fully connected layer.
    All,
    /// Exactly these layer names.
    Named(Vec<String>),
}

impl std::str::FromStr for ApproxLayers {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "conv" => Ok(ApproxLayers::Conv),
            "all" => Ok(ApproxLayers::All),
            "" => Err("empty --approx-layers".into()),
            _ => Ok(ApproxLayers::Named(s.split(',').map(|t| t.trim().to_string()).collect())),
        }
    }
}

/// The text [`ApproxLayers::from_str`](std::str::FromStr) reads: `conv`, `all`, or the names
/// comma-separated.
impl std::fmt::Display for ApproxLayers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApproxLayers::Conv => f.write_str("conv"),
            ApproxLayers::All => f.write_str("all"),
            ApproxLayers::Named(v) => f.write_str(&v.join(",")),
        }
    }
}

impl ApproxLayers {
    fn selects(&self, name: &str, is_conv: bool) -> bool {
        match self {
            ApproxLayers::Conv => is_conv,
            ApproxLayers::All => true,
            ApproxLayers::Named(v) => v.iter().any(|n| n == name),
        }
    }
}

/// Options of the quantizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct QuantOptions {
    /// Which integers reach the multiplier.
    pub scheme: QuantScheme,
    /// One weight scale per tensor or per output channel.
    pub weights: WeightGranularity,
    /// Which layers use the approximate multiplier.
    pub approx: ApproxLayers,
}

/// How a GEMM layer reads its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GemmKind {
    /// A convolution (square kernel, zero padding) read through im2col.
    Conv {
        /// Kernel height and width.
        k: usize,
        /// Stride in both directions.
        stride: usize,
        /// Zero padding on each side.
        pad: usize,
    },
    /// A fully connected layer on the flattened input.
    Linear,
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
    /// Reduction length (`Fh·Fw·Cin` or the input size).
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
    /// Whether this layer's products go through the approximate multiplier.
    pub approximate: bool,
}

/// One layer of the integer model, in the float model's layer order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QLayer {
    /// A convolution or fully connected layer.
    Gemm(QGemm),
    /// Clamp at the zero point.
    Relu {
        /// The input's (and output's) zero point.
        zero_point: i32,
    },
    /// Integer mean of the window (same scale and zero point in and out).
    AvgPool {
        /// Window height and width.
        k: usize,
        /// Stride in both directions.
        stride: usize,
        /// Shape of the input.
        in_shape: Shape,
        /// Shape of the output.
        out_shape: Shape,
    },
}

/// Record of the calibration pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calibration {
    /// Calibration images used.
    pub images: usize,
    /// Seed of the image choice, when chosen by [`calibration_indices`].
    pub seed: Option<u64>,
}

/// An integer-only model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantModel {
    /// The float model's architecture.
    pub arch: Arch,
    /// The options it was quantized with.
    pub options: QuantOptions,
    /// Quantization of the network input (image codes).
    pub input: QuantParams,
    /// The integer layers, one per float layer.
    pub layers: Vec<QLayer>,
    /// How the ranges were calibrated.
    pub calibration: Calibration,
    /// How the model was adapted to its multiplier ([`super::recover`]), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<super::recovery::Recovery>,
}

/// `n` distinct indices of `0..total` chosen by a seeded generator, sorted.
pub fn calibration_indices(total: usize, n: usize, seed: u64) -> Vec<usize> {
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
    let mut v = sample(&mut rng, total, n.min(total)).into_vec();
    v.sort_unstable();
    v
}

/// Float min/max of every layer output and of the network input over calibration images.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationRanges {
    /// `(min, max)` of every layer's output, in layer order.
    pub layers: Vec<(f32, f32)>,
    /// `(min, max)` of the network input (after the model's own normalization, if any).
    pub input: (f32, f32),
}

/// The ranges of `params` over `calib` (checked like [`QuantModel::build`] does beforehand).
pub fn calibration_ranges(arch: &Arch, params: &Params, calib: &[f32]) -> CalibrationRanges {
    let (layers, input) = float_ranges(arch, params, calib);
    CalibrationRanges { layers, input }
}

/// Float min/max of the network input and of every layer output over the calibration images.
fn float_ranges(arch: &Arch, params: &Params, images: &[f32]) -> (Vec<(f32, f32)>, (f32, f32)) {
    let d = arch.input.numel();
    let n = images.len() / d;
    let per_image: Vec<Vec<(f32, f32)>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let outs = crate::model::forward_reference(arch, params, &images[i * d..(i + 1) * d]);
            outs.iter().map(|o| minmax(o)).collect()
        })
        .collect();
    let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); arch.layers.len()];
    for r in &per_image {
        for (acc, &(lo, hi)) in ranges.iter_mut().zip(r) {
            acc.0 = acc.0.min(lo);
            acc.1 = acc.1.max(hi);
        }
    }
    // The input quantizer sees what the first layer sees: normalized values when the model
    // normalizes inside.
    let input_range = match &arch.normalize {
        Some(norm) => {
            let mut z = images.to_vec();
            norm.forward(&mut z, arch.input);
            minmax(&z)
        }
        None => minmax(images),
    };
    (ranges, input_range)
}

/// Whether the integer model can run `arch`: a chain of ungrouped, evenly padded convolutions,
/// linear layers, ReLUs and unpadded average pools (LeNet-5, AlexNet and their kin).
pub fn quantizable(arch: &Arch) -> Result<(), QuantError> {
    let unsupported = |i: usize, what: String| QuantError::Unsupported { node: arch.layers[i].name.clone(), what };
    if !arch.is_chain() {
        let i = (0..arch.layers.len())
            .find(|&i| {
                let want = if i == 0 { Source::Input } else { Source::Node(i - 1) };
                arch.sources()[i] != [want]
            })
            .unwrap_or(0);
        return Err(unsupported(i, "a node that does not read just the previous node (a graph)".into()));
    }
    for (i, l) in arch.layers.iter().enumerate() {
        match l.kind {
            LayerKind::Conv { groups, pad, .. } => {
                if groups != 1 {
                    return Err(unsupported(i, format!("a grouped convolution ({groups} groups)")));
                }
                if pad.as_uniform().is_none() {
                    return Err(unsupported(i, format!("asymmetric padding {pad}")));
                }
            }
            LayerKind::AvgPool { pad, .. } if pad != Default::default() => {
                return Err(unsupported(i, format!("a padded average pool (padding {pad})")));
            }
            LayerKind::Linear { .. } | LayerKind::Relu | LayerKind::AvgPool { .. } => {}
            other => return Err(unsupported(i, format!("the op {}", other.op()))),
        }
    }
    Ok(())
}

fn minmax(v: &[f32]) -> (f32, f32) {
    v.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)))
}

impl QuantModel {
    /// Quantize `params` of `arch`, calibrating activation ranges on `calib` (N·C·H·W floats).
    pub fn build(arch: &Arch, params: &Params, calib: &[f32], options: QuantOptions) -> Result<QuantModel, QuantError> {
        quantizable(arch)?;
        let d = arch.input.numel();
        if calib.is_empty() || !calib.len().is_multiple_of(d) {
            return Err(QuantError::Calibration { len: calib.len(), image: d });
        }
        for spec in arch.params() {
            match params.get(&spec.name) {
                None => return Err(QuantError::MissingParam(spec.name)),
                Some(t) if t.shape != spec.shape => {
                    return Err(QuantError::ParamShape { name: spec.name, want: spec.shape, got: t.shape.clone() })
                }
                _ => {}
            }
        }
        let ranges = calibration_ranges(arch, params, calib);
        Ok(QuantModel::build_from_ranges(arch, params, &ranges, calib.len() / d, options))
    }

    /// [`Self::build`] from ranges measured before (`images` calibration images): weights
    /// requantized without a calibration pass (fine-tuning requantizes at every step).
    pub fn build_from_ranges(
        arch: &Arch,
        params: &Params,
        ranges: &CalibrationRanges,
        images: usize,
        options: QuantOptions,
    ) -> QuantModel {
        let (ranges, in_range) = (&ranges.layers, ranges.input);
        let scheme = options.scheme;
        let (qmin, qmax) = scheme.act_range();
        let input = QuantParams::asymmetric(in_range.0, in_range.1, qmin, qmax);
        let shapes = arch.shapes();
        let last_gemm = arch.layers.iter().rposition(|l| l.has_params());
        let mut cur = input;
        let mut layers = Vec::with_capacity(arch.layers.len());
        for (i, l) in arch.layers.iter().enumerate() {
            let in_shape = arch.input_of(i);
            let out_shape = shapes[i];
            match l.kind {
                LayerKind::Conv { .. } | LayerKind::Linear { .. } => {
                    // Fuse a following ReLU's range (TFLite): the clamp then happens in requantization.
                    let relu_next = matches!(arch.layers.get(i + 1).map(|n| n.kind), Some(LayerKind::Relu));
                    let range = if relu_next { ranges[i + 1] } else { ranges[i] };
                    let output = if Some(i) == last_gemm {
                        None
                    } else {
                        Some(QuantParams::asymmetric(range.0, range.1, qmin, qmax))
                    };
                    let g = quantize_gemm(l, in_shape, out_shape, params, cur, output, &options);
                    if let Some(o) = output {
                        cur = o;
                    }
                    layers.push(QLayer::Gemm(g));
                }
                LayerKind::Relu => layers.push(QLayer::Relu { zero_point: cur.zero_point }),
                LayerKind::AvgPool { k, stride, .. } => layers.push(QLayer::AvgPool { k, stride, in_shape, out_shape }),
                _ => unreachable!("rejected by quantizable"),
            }
        }
        QuantModel {
            arch: arch.clone(),
            options,
            input,
            layers,
            calibration: Calibration { images, seed: None },
            recovery: None,
        }
    }

    /// `base` with every GEMM layer's weights and bias replaced by their quantized values
    /// dequantized (`s_w·(q − z_w)`, `s_x·s_w·b`): the float model whose products this integer
    /// model computes exactly when the multiplier is exact (it differs only by the activations'
    /// rounding), hence a differentiable white-box view of the quantized model.
    pub fn dequantized_params(&self, base: &Params) -> Params {
        let mut p = base.clone();
        for g in self.gemms() {
            let w = p.tensors.get_mut(&format!("{}.weight", g.name)).expect("a GEMM layer has a weight");
            for (o, wp) in g.w_params.iter().enumerate() {
                for (v, &q) in w.data[o * g.k..(o + 1) * g.k].iter_mut().zip(&g.w[o * g.k..(o + 1) * g.k]) {
                    *v = wp.dequantize(q);
                }
            }
            let b = p.tensors.get_mut(&format!("{}.bias", g.name)).expect("a GEMM layer has a bias");
            for (o, v) in b.data.iter_mut().enumerate() {
                *v = (g.bias[o] as f64 * g.input.scale as f64 * g.w_params[o].scale as f64) as f32;
            }
        }
        p
    }

    /// Activation code range of this model's scheme.
    pub fn act_range(&self) -> (i32, i32) {
        self.options.scheme.act_range()
    }

    /// Input codes of one image.
    pub fn quantize_input(&self, x: &[f32]) -> Vec<i32> {
        let (qmin, qmax) = self.act_range();
        match &self.arch.normalize {
            Some(norm) => {
                let mut z = x.to_vec();
                norm.forward(&mut z, self.arch.input);
                z.iter().map(|&v| self.input.quantize(v, qmin, qmax)).collect()
            }
            None => x.iter().map(|&v| self.input.quantize(v, qmin, qmax)).collect(),
        }
    }

    /// The GEMM layers in order.
    pub fn gemms(&self) -> impl Iterator<Item = &QGemm> {
        self.layers.iter().filter_map(|l| match l {
            QLayer::Gemm(g) => Some(g),
            _ => None,
        })
    }
}

fn quantize_gemm(
    l: &crate::model::Layer,
    in_shape: Shape,
    out_shape: Shape,
    params: &Params,
    input: QuantParams,
    output: Option<QuantParams>,
    opt: &QuantOptions,
) -> QGemm {
    let (wt, bt) = params.layer(&l.name);
    let nf = out_shape.c;
    let k = wt.numel() / nf;
    let (kind, is_conv) = match l.kind {
        LayerKind::Conv { k, stride, pad, .. } => {
            let pad = pad.as_uniform().expect("asymmetric padding rejected by quantizable");
            (GemmKind::Conv { k, stride, pad }, true)
        }
        _ => (GemmKind::Linear, false),
    };
    let scheme = opt.scheme;
    // Ranges per channel or for the whole tensor.
    let chan_range = |o: usize| minmax(&wt.data[o * k..(o + 1) * k]);
    let whole = minmax(&wt.data);
    let mut w_params = Vec::with_capacity(nf);
    for o in 0..nf {
        let (lo, hi) = match opt.weights {
            WeightGranularity::PerTensor => whole,
            WeightGranularity::PerChannel => chan_range(o),
        };
        w_params.push(if scheme.asymmetric_weights() {
            QuantParams::asymmetric(lo, hi, 0, 255)
        } else {
            QuantParams::symmetric(lo.abs().max(hi.abs()), 127)
        });
    }
    let (wmin, wmax) = if scheme.asymmetric_weights() { (0, 255) } else { (-127, 127) };
    let mut w = Vec::with_capacity(nf * k);
    for (o, wp) in w_params.iter().enumerate() {
        w.extend(wt.data[o * k..(o + 1) * k].iter().map(|&v| wp.quantize(v, wmin, wmax)));
    }
    let w_sum = (0..nf).map(|o| w[o * k..(o + 1) * k].iter().sum()).collect();
    let bias = (0..nf)
        .map(|o| {
            let s = input.scale as f64 * w_params[o].scale as f64;
            (bt.data[o] as f64 / s).round().clamp(i32::MIN as f64, i32::MAX as f64) as i32
        })
        .collect();
    let requant = match output {
        Some(out) => (0..nf)
            .map(|o| FixedMultiplier::from_real(input.scale as f64 * w_params[o].scale as f64 / out.scale as f64))
            .collect(),
        None => Vec::new(),
    };
    QGemm {
        name: l.name.clone(),
        kind,
        in_shape,
        out_shape,
        k,
        nf,
        w,
        w_params,
        w_sum,
        bias,
        input,
        output,
        requant,
        approximate: opt.approx.selects(&l.name, is_conv),
    }
}

impl QGemm {
    /// Output pixels per image (`Eh·Ew`; 1 for linear layers).
    pub fn npix(&self) -> usize {
        self.out_shape.h * self.out_shape.w
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
            GemmKind::Conv { k, stride, pad } => {
                let s = self.in_shape;
                let o = self.out_shape;
                let z = self.input.zero_point;
                for oy in 0..o.h {
                    for ox in 0..o.w {
                        let mut sum = 0i32;
                        for ic in 0..s.c {
                            for ky in 0..k {
                                let iy = (oy * stride + ky) as isize - pad as isize;
                                for kx in 0..k {
                                    let ix = (ox * stride + kx) as isize - pad as isize;
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
            GemmKind::Conv { k, stride, pad } if k <= 8 => self.im2col_runs(x, scheme, k, stride, pad, codes),
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
        pad: usize,
        codes: &mut Vec<u8>,
    ) {
        let (s, o) = (self.in_shape, self.out_shape);
        let (hp, wp) = (s.h + 2 * pad, s.w + 2 * pad);
        let mut xb = vec![scheme.act_operand(self.input.zero_point); s.c * hp * wp + 8];
        for c in 0..s.c {
            for y in 0..s.h {
                let src = &x[(c * s.h + y) * s.w..][..s.w];
                let dst = &mut xb[(c * hp + y + pad) * wp + pad..][..s.w];
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
        if std::is_x86_feature_detected!("avx2") {
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
                    Some(q) => {
                        let m = self.requant[o];
                        for (p, d) in dst.iter_mut().enumerate() {
                            *d = (q.zero_point + m.apply(acc(r0 + p))).clamp(range.0, range.1);
                        }
                    }
                }
            }
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

/// Integer average pooling: rounded mean of the codes (ties away from zero).
pub fn avg_pool(x: &[i32], k: usize, stride: usize, s: Shape, o: Shape, out: &mut Vec<i32>) {
    // The 2×2 window of LeNet-5 and AlexNet gets a constant divisor (a shift, not a division).
    match k {
        2 => avg_pool_k::<2>(x, stride, s, o, out),
        3 => avg_pool_k::<3>(x, stride, s, o, out),
        _ => avg_pool_any(x, k, stride, s, o, out),
    }
}

#[inline(always)]
fn rounded_mean(acc: i32, n: i32) -> i32 {
    if acc >= 0 {
        (acc + n / 2) / n
    } else {
        -((-acc + n / 2) / n)
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

/// Integer ReLU: clamp at the zero point.
pub fn relu(x: &mut [i32], zero_point: i32) {
    for v in x {
        *v = (*v).max(zero_point);
    }
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
            let (stride, pad) = (r.gen_range(1..4), r.gen_range(0..4));
            let s = Shape::new(r.gen_range(1..4), r.gen_range(fk.max(1)..fk + 9), r.gen_range(fk.max(1)..fk + 9));
            let o = Shape::new(r.gen_range(1..5), (s.h + 2 * pad - fk) / stride + 1, (s.w + 2 * pad - fk) / stride + 1);
            let scheme = [QuantScheme::AsymU8, QuantScheme::SignMagnitude, QuantScheme::SymS8][case % 3];
            let (lo, hi) = scheme.act_range();
            let k = s.c * fk * fk;
            let qp = QuantParams { scale: 1.0, zero_point: r.gen_range(lo..=hi) };
            let g = QGemm {
                name: "t".into(),
                kind: GemmKind::Conv { k: fk, stride, pad },
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
                approximate: true,
            };
            let x: Vec<i32> = (0..s.numel()).map(|_| r.gen_range(lo..=hi)).collect();
            let (mut act, mut sums) = (Vec::new(), Vec::new());
            g.im2col(&x, &mut act, &mut sums);
            let want: Vec<u8> = [9u8].into_iter().chain(act.iter().map(|&q| scheme.act_operand(q))).collect();
            let (mut codes, mut xsum) = (vec![9u8], vec![-5]);
            g.im2col_append(&g.im2col_index(), &x, scheme, &mut codes, &mut xsum);
            assert_eq!(codes, want, "case {case}: fk={fk} stride={stride} pad={pad} {s:?}");
            assert_eq!(xsum[1..], sums[..], "case {case}");
        }
    }

    /// The constant-window pools equal the general one (ties and negative sums included).
    #[test]
    fn specialised_avg_pool_equals_general() {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        for case in 0..200 {
            let k = r.gen_range(2..4usize);
            let stride = r.gen_range(1..4usize);
            let s = Shape::new(r.gen_range(1..4), r.gen_range(k..12), r.gen_range(k..12));
            let o = Shape::new(s.c, (s.h - k) / stride + 1, (s.w - k) / stride + 1);
            let x: Vec<i32> = (0..s.numel()).map(|_| r.gen_range(-300..300)).collect();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            avg_pool(&x, k, stride, s, o, &mut a);
            avg_pool_any(&x, k, stride, s, o, &mut b);
            assert_eq!(a, b, "case {case}: k={k} stride={stride} {s:?}");
        }
    }
}
