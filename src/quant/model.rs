//! Post-training quantization of a float model (a chain or a graph) to integer-only inference.
//! Ranges come from one calibration pass over a fixed (seeded) set of training images, never
//! from the batch being evaluated. Batch norm is folded into the convolution or linear layer
//! before it first ([`crate::model::fold`]). Every node's output gets one scale and zero point
//! (TFLite's rules: a ReLU or Clip read only by its layer is fused into that layer's output
//! range; pools, ReLU, Clip and flatten keep their input's; a residual add and a concat get
//! their own and rescale their inputs to it).

use super::fixed::FixedMultiplier;
use super::gemm::{GemmKind, QGemm};
use super::ops::{AddRequant, Rescale, Window};
use super::params::{QuantParams, QuantScheme, WeightGranularity};
use super::QuantError;
use crate::model::{Arch, LayerKind, Pads, Params, QuantRecord, Shape, Source};
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

/// One node of the integer model, in the (batch-norm-folded) float model's node order; it reads
/// the values the float node reads ([`Arch::sources`] of [`QuantModel::arch`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// A handful of nodes per model, walked per batch: a box would only add an indirection.
#[allow(clippy::large_enum_variant)]
pub enum QLayer {
    /// A convolution or fully connected layer.
    Gemm(QGemm),
    /// Clamp at the zero point.
    Relu {
        /// The input's (and output's) zero point.
        zero_point: i32,
    },
    /// Clamp to the codes of the bounds (ReLU6).
    Clip {
        /// Code of the lower bound.
        lo: i32,
        /// Code of the upper bound.
        hi: i32,
    },
    /// Integer mean of the window (same scale and zero point in and out; [`super::ops`]).
    AvgPool {
        /// Window height and width.
        k: usize,
        /// Stride in both directions.
        stride: usize,
        /// Shape of the input.
        in_shape: Shape,
        /// Shape of the output.
        out_shape: Shape,
        /// Padding.
        #[serde(default, skip_serializing_if = "is_zero_pads")]
        pad: Pads,
        /// Whether padded positions (code `zero_point`) count in the divisor.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        count_include_pad: bool,
        /// The input's zero point (the code of a padded position).
        #[serde(default)]
        zero_point: i32,
    },
    /// Integer maximum of the window (same scale and zero point in and out).
    MaxPool {
        /// The window.
        window: Window,
        /// Shape of the input.
        in_shape: Shape,
        /// Shape of the output.
        out_shape: Shape,
    },
    /// Integer mean of each channel's plane.
    GlobalAvgPool {
        /// Shape of the input.
        in_shape: Shape,
    },
    /// Residual add of the two inputs, rescaled to the output's scale.
    Add(AddRequant),
    /// The inputs' channels one after the other, each rescaled to the output's scale.
    Concat {
        /// One rescaling per input, in input order.
        parts: Vec<Rescale>,
    },
    /// Codes re-expressed in another scale (a quantized file's clip whose scale is not its
    /// input's, e.g. after a global average pool).
    Rescale(Rescale),
    /// The codes as they are (a flatten only changes the shape).
    Flatten,
}

fn is_zero_pads(p: &Pads) -> bool {
    *p == Pads::default()
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
    /// Each node's output quantization (`None` for the logits layer's int32 accumulators and
    /// the flattens after it).
    #[serde(default)]
    pub outputs: Vec<Option<QuantParams>>,
    /// How the ranges were calibrated.
    pub calibration: Calibration,
    /// ONNX's semantics for the nodes that are not products (a quantized file's model): each
    /// computes in float32 on its dequantized inputs and quantizes its result with
    /// `QuantizeLinear`'s rounding (half to even), as ONNX's reference does; else the integer
    /// ops of [`super::ops`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub onnx_post: bool,
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

/// The ranges of `params` over `calib` (checked like [`QuantModel::build`] does beforehand), per
/// node of the batch-norm-folded model.
pub fn calibration_ranges(arch: &Arch, params: &Params, calib: &[f32]) -> CalibrationRanges {
    let (arch, params) = crate::model::fold::fold_batchnorm(arch, params);
    let (layers, input) = float_ranges(&arch, &params, calib);
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

/// Whether the integer model can run `arch` (batch norms folded): any graph of convolutions
/// (grouped, padded), linear layers, ReLU, Clip, pools, adds, concats and flattens whose output
/// is the last convolution or linear layer (its int32 accumulators are the logits; flattens may
/// follow it), with every batch norm right after a convolution or linear layer that nothing else
/// reads.
fn check_folded(arch: &Arch) -> Result<(), QuantError> {
    let unsupported = |i: usize, what: String| QuantError::Unsupported { node: arch.layers[i].name.clone(), what };
    for (i, l) in arch.layers.iter().enumerate() {
        if let LayerKind::BatchNorm { .. } = l.kind {
            return Err(unsupported(
                i,
                "a batch norm that does not follow a convolution or linear layer read by nothing else (it cannot be folded)"
                    .into(),
            ));
        }
    }
    let Some(last) = arch.layers.iter().rposition(|l| l.has_params()) else {
        return Err(unsupported(arch.layers.len() - 1, "a network without a convolution or linear layer".into()));
    };
    if let Some(j) = (last + 1..arch.layers.len()).find(|&j| arch.layers[j].kind != LayerKind::Flatten) {
        return Err(unsupported(
            j,
            format!(
                "the op {} after the last convolution or linear layer '{}' (its int32 accumulators are the logits; only flattens may follow it)",
                arch.layers[j].kind.op(),
                arch.layers[last].name
            ),
        ));
    }
    Ok(())
}

fn minmax(v: &[f32]) -> (f32, f32) {
    v.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)))
}

impl QuantModel {
    /// What [`Self::build`] checks before calibrating: a network it runs, whole images, every
    /// parameter with its shape.
    fn check(arch: &Arch, params: &Params, calib: &[f32]) -> Result<(), QuantError> {
        for spec in arch.params() {
            match params.get(&spec.name) {
                None => return Err(QuantError::MissingParam(spec.name)),
                Some(t) if t.shape != spec.shape => {
                    return Err(QuantError::ParamShape { name: spec.name, want: spec.shape, got: t.shape.clone() })
                }
                _ => {}
            }
        }
        check_folded(&crate::model::fold::fold_batchnorm(arch, params).0)?;
        let d = arch.input.numel();
        if calib.is_empty() || !calib.len().is_multiple_of(d) {
            return Err(QuantError::Calibration { len: calib.len(), image: d });
        }
        Ok(())
    }

    /// Quantize `params` of `arch`, calibrating activation ranges on `calib` (N·C·H·W floats).
    pub fn build(arch: &Arch, params: &Params, calib: &[f32], options: QuantOptions) -> Result<QuantModel, QuantError> {
        Self::check(arch, params, calib)?;
        let d = arch.input.numel();
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
        Self::build_inner(arch, params, ranges, images, options, None)
    }

    /// [`Self::build`] with a quantized file's own scales and zero points where it gives them
    /// ([`QuantRecord`]: input, node outputs, weights per channel; calibrated ranges for the
    /// rest) and ONNX's requantization ([`QGemm::float_requant`]), as the file specifies. The
    /// scheme must fit the file's types: uint8 activations with int8 weights are
    /// `sign-magnitude`, int8 with int8 `sym-s8`, uint8 with uint8 `asym-u8`.
    pub fn build_given(
        arch: &Arch,
        params: &Params,
        calib: &[f32],
        options: QuantOptions,
        given: Option<&QuantRecord>,
    ) -> Result<QuantModel, QuantError> {
        let Some(given) = given else { return Self::build(arch, params, calib, options) };
        let fits = match options.scheme {
            QuantScheme::AsymU8 => !given.activations_signed && !given.weights_signed,
            QuantScheme::SignMagnitude => !given.activations_signed && given.weights_signed,
            QuantScheme::SymS8 => given.activations_signed && given.weights_signed,
        };
        let symmetric = given.weights.values().flatten().all(|w| w.zero_point == 0);
        if !fits || (options.scheme != QuantScheme::AsymU8 && !symmetric) {
            let t = |s: bool| if s { "int8" } else { "uint8" };
            return Err(QuantError::GivenScheme {
                scheme: options.scheme,
                what: format!(
                    "{} activations and {} {} weights",
                    t(given.activations_signed),
                    if symmetric { "symmetric" } else { "asymmetric" },
                    t(given.weights_signed)
                ),
            });
        }
        Self::check(arch, params, calib)?;
        let ranges = calibration_ranges(arch, params, calib);
        let images = calib.len() / arch.input.numel();
        let mut qm = Self::build_inner(arch, params, &ranges, images, options, Some(given));
        for l in &mut qm.layers {
            if let QLayer::Gemm(g) = l {
                g.use_float_requant();
            }
        }
        qm.onnx_post = true;
        Ok(qm)
    }

    fn build_inner(
        arch: &Arch,
        params: &Params,
        ranges: &CalibrationRanges,
        images: usize,
        options: QuantOptions,
        given: Option<&QuantRecord>,
    ) -> QuantModel {
        let (arch, params) = crate::model::fold::fold_batchnorm(arch, params);
        let (arch, params) = (&arch, &params);
        let (ranges, in_range) = (&ranges.layers, ranges.input);
        let (qmin, qmax) = options.scheme.act_range();
        let asym = |r: (f32, f32)| QuantParams::asymmetric(r.0, r.1, qmin, qmax);
        let q = |t: &crate::model::TensorQuant| QuantParams { scale: t.scale, zero_point: t.zero_point };
        let input = given.and_then(|g| g.input.as_ref()).map_or_else(|| asym(in_range), q);
        // The file's output quantization of node `i`, if it gives one.
        let given_out = |i: usize| given.and_then(|g| g.nodes.get(&arch.layers[i].name)).map(q);
        let shapes = arch.shapes();
        let sources = arch.sources();
        let uses = arch.consumers();
        let last_gemm = arch.layers.iter().rposition(|l| l.has_params());
        // Node `j`, when `i` is its only reader (and `i` is not the output).
        let sole_reader = |i: usize| -> Option<usize> {
            (uses[i] == 1)
                .then(|| (i + 1..arch.layers.len()).find(|&j| sources[j].contains(&Source::Node(i))))
                .flatten()
        };
        // A layer's output range, with a ReLU or Clip read only from it fused in (TFLite): the
        // clamp then happens in the layer's own requantization.
        let fused = |i: usize| match sole_reader(i).map(|j| (j, arch.layers[j].kind)) {
            Some((j, LayerKind::Relu | LayerKind::Clip { .. })) => given_out(j).unwrap_or_else(|| asym(ranges[j])),
            _ => given_out(i).unwrap_or_else(|| asym(ranges[i])),
        };
        let mut outputs: Vec<Option<QuantParams>> = Vec::with_capacity(arch.layers.len());
        let mut layers = Vec::with_capacity(arch.layers.len());
        for (i, l) in arch.layers.iter().enumerate() {
            let of = |s: Source| match s {
                Source::Input => Some(input),
                Source::Node(j) => outputs[j],
            };
            let cur = of(sources[i][0]);
            let code = |what: &str| cur.unwrap_or_else(|| panic!("{what} reads the logits (rejected by the check)"));
            let in_shape = arch.shape_of(sources[i][0], &shapes);
            let out_shape = shapes[i];
            let (layer, out) = match l.kind {
                LayerKind::Conv { .. } | LayerKind::Linear { .. } => {
                    let output = (Some(i) != last_gemm).then(|| fused(i));
                    let wq = given.and_then(|g| g.weights.get(&l.name)).map(|w| w.iter().map(q).collect::<Vec<_>>());
                    let g = quantize_gemm(l, in_shape, out_shape, params, code("a layer"), output, &options, wq);
                    (QLayer::Gemm(g), output)
                }
                LayerKind::Relu => (QLayer::Relu { zero_point: code("relu").zero_point }, cur),
                LayerKind::Clip { min, max } => {
                    let c = code("clip");
                    match given_out(i) {
                        // A quantized file's clip to another scale than its input's.
                        Some(g) if Some(g) != cur => (QLayer::Rescale(Rescale::new(c, g)), Some(g)),
                        _ => (QLayer::Clip { lo: c.quantize(min, qmin, qmax), hi: c.quantize(max, qmin, qmax) }, cur),
                    }
                }
                LayerKind::AvgPool { k, stride, pad, count_include_pad } => {
                    let zero_point = code("avg_pool").zero_point;
                    // A quantized file's average requantizes to its own output scale (ONNX's
                    // float semantics); the integer mean keeps its input's.
                    let out = if given.is_some() { Some(fused(i)) } else { cur };
                    (QLayer::AvgPool { k, stride, in_shape, out_shape, pad, count_include_pad, zero_point }, out)
                }
                LayerKind::MaxPool { k, stride, pad } => {
                    (QLayer::MaxPool { window: Window { k, stride, pad }, in_shape, out_shape }, cur)
                }
                LayerKind::GlobalAvgPool => {
                    let out = if given.is_some() { Some(fused(i)) } else { cur };
                    (QLayer::GlobalAvgPool { in_shape }, out)
                }
                LayerKind::Flatten => (QLayer::Flatten, cur),
                LayerKind::Add => {
                    let out = fused(i);
                    let b = of(sources[i][1]).expect("add reads codes");
                    (QLayer::Add(AddRequant::new(code("add"), b, out)), Some(out))
                }
                LayerKind::Concat => {
                    // A quantized file's concat takes the scale of the clip that reads it.
                    let out = if given.is_some() { fused(i) } else { asym(ranges[i]) };
                    let parts =
                        sources[i].iter().map(|&s| Rescale::new(of(s).expect("concat reads codes"), out)).collect();
                    (QLayer::Concat { parts }, Some(out))
                }
                LayerKind::BatchNorm { .. } => unreachable!("rejected by the check"),
            };
            layers.push(layer);
            outputs.push(out);
        }
        QuantModel {
            arch: arch.clone(),
            options,
            input,
            layers,
            outputs,
            onnx_post: false,
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

    /// One image through node `i` when it is not a GEMM ([`QLayer::post`]; in ONNX's float
    /// semantics when [`QuantModel::onnx_post`] is set). `srcs` are the node's sources (the
    /// caller's [`Arch::sources`], computed once), `inputs` their codes.
    pub fn post(&self, i: usize, srcs: &[Source], inputs: &[&[i32]], range: (i32, i32), out: &mut Vec<i32>) {
        let l = &self.layers[i];
        let float = matches!(
            l,
            QLayer::AvgPool { .. }
                | QLayer::GlobalAvgPool { .. }
                | QLayer::Add(_)
                | QLayer::Concat { .. }
                | QLayer::Rescale(_)
        );
        if !(self.onnx_post && float) {
            return l.post(inputs, range, out);
        }
        let params = |s: &Source| match s {
            Source::Input => self.input,
            Source::Node(j) => self.outputs[*j].expect("codes"),
        };
        let deq: Vec<Vec<f32>> = srcs
            .iter()
            .zip(inputs)
            .map(|(s, x)| {
                let p = params(s);
                x.iter().map(|&q| p.scale * (q - p.zero_point) as f32).collect()
            })
            .collect();
        let o = self.outputs[i].expect("a post-processing node has codes");
        let quant = |v: f32| {
            ((v / o.scale).round_ties_even() + o.zero_point as f32).clamp(range.0 as f32, range.1 as f32) as i32
        };
        out.clear();
        match l {
            QLayer::AvgPool { k, stride, in_shape, out_shape, pad, count_include_pad, .. } => {
                let (s, os) = (*in_shape, *out_shape);
                let x = &deq[0];
                for c in 0..os.c {
                    for oy in 0..os.h {
                        for ox in 0..os.w {
                            // ONNX Runtime's order: each window column summed down, then the
                            // columns left to right (float sums are not associative, and ties
                            // of a mean are common: the order decides their rounding).
                            let (mut sum, mut n) = (0f32, 0usize);
                            for kx in 0..*k {
                                let mut col = 0f32;
                                for ky in 0..*k {
                                    let iy = (oy * stride + ky) as isize - pad.top as isize;
                                    let ix = (ox * stride + kx) as isize - pad.left as isize;
                                    if iy >= 0 && ix >= 0 && (iy as usize) < s.h && (ix as usize) < s.w {
                                        col += x[(c * s.h + iy as usize) * s.w + ix as usize];
                                        n += 1;
                                    }
                                }
                                sum += col;
                            }
                            let d = if *count_include_pad { k * k } else { n.max(1) };
                            out.push(quant(sum / d as f32));
                        }
                    }
                }
            }
            QLayer::GlobalAvgPool { in_shape } => {
                let plane = in_shape.h * in_shape.w;
                out.extend(deq[0].chunks_exact(plane).map(|p| quant(p.iter().sum::<f32>() / plane as f32)));
            }
            QLayer::Add(_) => out.extend(deq[0].iter().zip(&deq[1]).map(|(a, b)| quant(a + b))),
            _ => out.extend(deq.iter().flatten().map(|&v| quant(v))),
        }
    }

    /// Whether node `i` (a ReLU or Clip) was fused into the output range of the layer or add it
    /// reads, being its only reader: its clamp then happens in that node's requantization.
    pub fn fused_into_source(&self, i: usize) -> bool {
        let sources = self.arch.sources();
        let Source::Node(j) = sources[i][0] else { return false };
        matches!(self.arch.layers[i].kind, LayerKind::Relu | LayerKind::Clip { .. })
            && matches!(self.arch.layers[j].kind, LayerKind::Conv { .. } | LayerKind::Linear { .. } | LayerKind::Add)
            && self.arch.consumers()[j] == 1
            && self.outputs.get(j).is_some_and(|o| o.is_some())
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

impl QLayer {
    /// One image through a node that is not a GEMM: `inputs` are its sources' codes (one per
    /// input of the node), the result goes to `out`. Panics on a GEMM layer (the array's job).
    pub fn post(&self, inputs: &[&[i32]], range: (i32, i32), out: &mut Vec<i32>) {
        use super::ops;
        let x = inputs[0];
        match self {
            QLayer::Gemm(g) => panic!("'{}' is a GEMM layer, not post-processing", g.name),
            QLayer::Relu { .. } | QLayer::Clip { .. } | QLayer::Flatten => {
                out.clear();
                out.extend_from_slice(x);
                self.in_place(out);
            }
            QLayer::AvgPool { k, stride, in_shape, out_shape, pad, count_include_pad, zero_point } => {
                if *pad == Pads::default() {
                    ops::avg_pool(x, *k, *stride, *in_shape, *out_shape, out)
                } else {
                    let w = Window { k: *k, stride: *stride, pad: *pad };
                    ops::avg_pool_padded(x, w, *count_include_pad, *zero_point, *in_shape, *out_shape, out)
                }
            }
            QLayer::MaxPool { window, in_shape, out_shape } => ops::max_pool(x, *window, *in_shape, *out_shape, out),
            QLayer::GlobalAvgPool { in_shape } => ops::global_avg_pool(x, *in_shape, out),
            QLayer::Add(a) => a.add(x, inputs[1], range, out),
            QLayer::Concat { parts } => {
                out.clear();
                for (p, x) in parts.iter().zip(inputs) {
                    p.extend(x, range, out);
                }
            }
            QLayer::Rescale(r) => {
                out.clear();
                r.extend(x, range, out);
            }
        }
    }

    /// Apply an elementwise node (ReLU, Clip, flatten) to `x` in place, any number of images;
    /// `false` (nothing done) for the other nodes.
    pub fn in_place(&self, x: &mut [i32]) -> bool {
        use super::ops;
        match self {
            QLayer::Relu { zero_point } => ops::relu(x, *zero_point),
            QLayer::Clip { lo, hi } => ops::clip(x, *lo, *hi),
            QLayer::Flatten => {}
            _ => return false,
        }
        true
    }

    /// The op's name as the float model calls it.
    pub fn op(&self) -> &'static str {
        match self {
            QLayer::Gemm(g) => match g.kind {
                GemmKind::Conv { .. } => "conv",
                GemmKind::Linear => "linear",
            },
            QLayer::Relu { .. } => "relu",
            QLayer::Clip { .. } => "clip",
            QLayer::AvgPool { .. } => "avg_pool",
            QLayer::MaxPool { .. } => "max_pool",
            QLayer::GlobalAvgPool { .. } => "global_avg_pool",
            QLayer::Add(_) => "add",
            QLayer::Concat { .. } => "concat",
            QLayer::Rescale(_) => "rescale",
            QLayer::Flatten => "flatten",
        }
    }
}

#[allow(clippy::too_many_arguments)] // each is one fact of the layer's quantization
fn quantize_gemm(
    l: &crate::model::Layer,
    in_shape: Shape,
    out_shape: Shape,
    params: &Params,
    input: QuantParams,
    output: Option<QuantParams>,
    opt: &QuantOptions,
    given: Option<Vec<QuantParams>>,
) -> QGemm {
    let (wt, bt) = params.layer(&l.name);
    let nf = out_shape.c;
    let k = wt.numel() / nf;
    let (kind, is_conv) = match l.kind {
        LayerKind::Conv { k, stride, pad, groups, .. } => (GemmKind::Conv { k, stride, pad, groups }, true),
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
    // A file's int8 weights may use −128 (its magnitude still fits the unsigned operand).
    let (wmin, wmax) = match (scheme.asymmetric_weights(), given.is_some()) {
        (true, _) => (0, 255),
        (false, false) => (-127, 127),
        (false, true) => (-128, 127),
    };
    if let Some(g) = given {
        w_params = g;
    }
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
        float_requant: None,
        approximate: opt.approx.selects(&l.name, is_conv),
    }
}
