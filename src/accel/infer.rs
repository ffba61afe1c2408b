//! Whole-model integer inference on the array: the graph walked node by node; per GEMM layer
//! (per channel group of a grouped convolution) im2col → products on the array (fast engine or
//! cycle-stepped) → exact post-processing; the other nodes in the post-processing unit;
//! per-layer statistics.

use super::array;
use super::fast::{self, GemmOperands};
use super::timing::{self, ArrayShape, Dataflow, GemmShape, SramCounts};
use super::AccelError;
use crate::lut::Lut;
use crate::model::Source;
use crate::mult::Multiplier;
use crate::quant::{QGemm, QLayer, QuantModel};
use rayon::prelude::*;
use serde::Serialize;

/// Which engine computes the products and the cycle counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Products computed directly, cycles in closed form ([`super::fast`], [`super::timing`]).
    Fast,
    /// Every PE stepped every cycle ([`super::array`]).
    Cycle,
}

crate::name_table!(Engine, "engine": Fast = "fast", Cycle = "cycle");

/// Energy convention: every multiply costs `E = P / f` (P = the multiplier's published PDK45
/// power, f = assumed clock). Multiplier only — adders, registers and SRAM are not included.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EnergyModel {
    /// Assumed clock frequency in GHz.
    pub clock_ghz: f64,
    /// Power of the exact multiplier used in exact layers (e.g. EvoApprox `mul8u_1JFF`), if known.
    pub exact_power_mw: Option<f64>,
}

impl Default for EnergyModel {
    fn default() -> Self {
        EnergyModel { clock_ghz: 1.0, exact_power_mw: None }
    }
}

impl EnergyModel {
    /// The energy convention in one line, for reports.
    pub fn convention(&self) -> String {
        format!(
            "energy = MACs x P_mult / f, P_mult = PDK45 power of the layer's multiplier, f = {} GHz (multiplier only)",
            self.clock_ghz
        )
    }
    /// pJ of `macs` multiplies at `power_mw` (mW / GHz = pJ).
    pub fn energy_pj(&self, macs: u64, power_mw: Option<f64>) -> Option<f64> {
        power_mw.map(|p| macs as f64 * p / self.clock_ghz)
    }
}

/// How the accelerator is built and run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AccelConfig {
    /// PE array size.
    pub array: ArrayShape,
    /// Weight-, output- or input-stationary.
    pub dataflow: Dataflow,
    /// Fast or cycle-stepped engine.
    pub engine: Engine,
    /// Use the multiplier's table when it has one; false forces `mul_batch` (bit-level mode).
    pub use_table: bool,
    /// How energy is estimated.
    pub energy: EnergyModel,
}

impl Default for AccelConfig {
    fn default() -> Self {
        AccelConfig {
            array: ArrayShape { rows: 16, cols: 16 },
            dataflow: Dataflow::Ws,
            engine: Engine::Fast,
            use_table: true,
            energy: EnergyModel::default(),
        }
    }
}

/// Per-layer, per-image statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerStats {
    /// The layer's name.
    pub name: String,
    /// Whether the layer multiplies on an approximate (not the exact) multiplier.
    pub approximate: bool,
    /// The layer's im2col GEMM for one image (of one channel group when grouped).
    pub gemm: GemmShape,
    /// Channel groups, run one after another as `groups` GEMMs of shape `gemm` (1: an
    /// ordinary layer; the channel count: depthwise). Folds, cycles, MACs and SRAM counts are
    /// the layer's: the sums over its groups.
    #[serde(skip_serializing_if = "is_one")]
    pub groups: usize,
    /// Folds of that GEMM on the array.
    pub folds: u64,
    /// SCALE-Sim compute cycles (last busy cycle index, `folds × per_fold − 1`).
    pub cycles: u64,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Multiply-accumulates on the approximate multiplier (`macs` or 0).
    pub approx_macs: u64,
    /// Multiply-accumulates on the exact multiplier (`macs` or 0).
    pub exact_macs: u64,
    /// SCALE-Sim "Overall Util".
    pub utilization: f64,
    /// SCALE-Sim "Mapping Efficiency".
    pub mapping_efficiency: f64,
    /// SRAM word accesses, counted as SCALE-Sim does.
    pub sram: SramCounts,
    /// Multiplier energy in pJ ([`EnergyModel`]); `None` without the multiplier's power.
    pub energy_pj: Option<f64>,
}

/// The im2col GEMM of one image of one channel group of `g` (of `g` when ungrouped).
fn group_shape(g: &QGemm) -> GemmShape {
    GemmShape { npix: g.npix(), k: g.k, nf: g.nf / g.groups() }
}

fn is_one(v: &usize) -> bool {
    *v == 1
}

/// Per-image work of a node that runs in the post-processing unit (every node but the
/// convolution and linear layers). The unit has one lane per array column; a lane produces one
/// output code per cycle for an elementwise op (ReLU, Clip, residual add — its two operands
/// read in parallel — and a concat that rescales), and reads a pooling window one code per
/// cycle (`k²` cycles per output; `h·w` for a global average). Flattens only rename addresses
/// and a ReLU or Clip fused into the requantization of the layer before it costs nothing; the
/// requantization itself happens as outputs drain from the array (SCALE-Sim counts neither).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostStats {
    /// The node's name.
    pub name: String,
    /// Its op.
    pub op: &'static str,
    /// Output codes per image.
    pub outputs: u64,
    /// Cycles per image: `⌈outputs / lanes⌉ × cycles per output`.
    pub cycles: u64,
}

/// Result of running images through the accelerator.
#[derive(Debug, Clone, PartialEq)]
pub struct Inference {
    /// Images run.
    pub n: usize,
    /// Classes (logits per image).
    pub classes: usize,
    /// `n × classes` int32 accumulators of the last layer (bit-exact result).
    pub acc: Vec<i32>,
    /// `n × classes` dequantized logits.
    pub logits: Vec<f32>,
    /// Per image (identical for every image).
    pub layers: Vec<LayerStats>,
    /// The post-processing unit's nodes, per image.
    pub post: Vec<PostStats>,
}

impl Inference {
    /// The predicted class of each image: the first arg-max of its logits.
    pub fn predictions(&self) -> Vec<usize> {
        self.acc
            .chunks_exact(self.classes)
            .zip(self.logits.chunks_exact(self.classes))
            .map(|(_, l)| argmax(l))
            .collect()
    }
    /// Share of images whose prediction is their label (0 to 1).
    pub fn accuracy(&self, labels: &[u8]) -> f64 {
        let p = self.predictions();
        let ok = p.iter().zip(labels).filter(|(&a, &b)| a == b as usize).count();
        ok as f64 / p.len().max(1) as f64
    }
    /// Compute cycles of one image: the layers' cycles summed (SCALE-Sim's compute cycles).
    pub fn cycles_per_image(&self) -> u64 {
        self.layers.iter().map(|l| l.cycles).sum()
    }
    /// Post-processing cycles of one image ([`PostStats`]), stated apart from the array's.
    pub fn post_cycles_per_image(&self) -> u64 {
        self.post.iter().map(|p| p.cycles).sum()
    }
    /// Multiplier energy of one image in pJ; `None` if a layer's multiplier has no power.
    pub fn energy_per_image_pj(&self) -> Option<f64> {
        self.layers.iter().map(|l| l.energy_pj).sum()
    }
}

pub use crate::model::train::argmax;

/// What a layer loop hands back besides the last accumulators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    None,
    /// Stop at this GEMM layer and return its operand codes.
    Operands(usize),
    /// Keep every layer's output.
    Outputs,
}

/// The layer loop's result: the last accumulators, or what the probe asked for.
#[derive(Default)]
struct Forward {
    acc: Vec<i32>,
    operands: Vec<u8>,
    trace: Vec<Vec<i32>>,
}

/// Weights of one GEMM (one channel group of a grouped layer) laid out for the array: `k × nf`
/// codes and negation masks.
struct PreparedGemm {
    /// im2col gather index (`npix × k`).
    index: Vec<u32>,
    wgt: Vec<u8>,
    neg: Option<Vec<i32>>,
    /// The fast engine's kernel for the layer's table (fast engine with a table).
    kernel: Option<fast::TableKernel>,
}

/// Images per task of [`Accelerator::run`]: enough to reuse a layer's table rows across images
/// (LeNet-5's conv2 rows are 1.2 MB, beyond one core's L2 beside the rest), few enough to keep
/// a batch's activations in cache and both cores busy on small runs.
pub const BATCH: usize = 16;

/// An accelerator bound to a quantized model and its multipliers: one approximate multiplier
/// for the model's approximate layers, or one per layer (per-layer assignment).
pub struct Accelerator<'a> {
    /// The configuration it runs with.
    pub config: AccelConfig,
    model: &'a QuantModel,
    approx: &'a dyn Multiplier,
    /// Per GEMM layer: its multiplier, `None` = the exact one.
    slots: Vec<Option<&'a dyn Multiplier>>,
    exact: Lut,
    /// Per GEMM layer, per channel group.
    prepared: Vec<Vec<PreparedGemm>>,
    /// Per GEMM layer: its channel groups as ungrouped layers (`None` when ungrouped).
    split: Vec<Option<Vec<QGemm>>>,
    sources: Vec<Vec<Source>>,
    /// Readers of every node (the last node: one more, the result).
    uses: Vec<usize>,
}

impl<'a> Accelerator<'a> {
    /// `approx` multiplies in the model's approximate layers, the exact multiplier elsewhere.
    pub fn new(model: &'a QuantModel, approx: &'a dyn Multiplier, config: AccelConfig) -> Result<Self, AccelError> {
        Self::with_layers(model, approx, &[], config)
    }

    /// The accelerator running `model` with a resolved multiplier or per-layer assignment.
    pub fn for_loaded(
        model: &'a QuantModel,
        m: &'a crate::mult::LoadedMultiplier,
        config: AccelConfig,
    ) -> Result<Self, AccelError> {
        Self::with_layers(model, m.mult.as_ref(), &m.layer_refs(), config)
    }

    /// Per-layer assignment: each `(layer, multiplier)` of `layers` multiplies in that GEMM
    /// layer (approximate or not in the model's options); the other layers as in [`new`].
    ///
    /// [`new`]: Accelerator::new
    pub fn with_layers(
        model: &'a QuantModel,
        approx: &'a dyn Multiplier,
        layers: &[(&str, &'a dyn Multiplier)],
        config: AccelConfig,
    ) -> Result<Self, AccelError> {
        let scheme = model.options.scheme;
        for m in std::iter::once(approx).chain(layers.iter().map(|l| l.1)) {
            if m.widths() != (8, 8) {
                return Err(AccelError::Width { name: m.name().into(), got_bits: m.widths() });
            }
            if m.signed() != scheme.signed_multiplier() {
                return Err(AccelError::Signedness { name: m.name().into(), signed: m.signed(), scheme });
            }
        }
        if let crate::quant::ApproxLayers::Named(names) = &model.options.approx {
            for n in names {
                if !model.gemms().any(|g| &g.name == n) {
                    return Err(AccelError::UnknownLayer(n.clone()));
                }
            }
        }
        for (n, _) in layers {
            if !model.gemms().any(|g| g.name == *n) {
                return Err(AccelError::UnknownAssignedLayer {
                    layer: n.to_string(),
                    known: model.gemms().map(|g| g.name.clone()).collect::<Vec<_>>().join(", "),
                });
            }
        }
        let slots: Vec<Option<&'a dyn Multiplier>> = model
            .gemms()
            .map(|g| layers.iter().find(|l| l.0 == g.name).map(|l| l.1).or(g.approximate.then_some(approx)))
            .collect();
        let split: Vec<Option<Vec<QGemm>>> =
            model.gemms().map(|g| (g.groups() > 1).then(|| g.split_groups())).collect();
        let prepare = |g: &QGemm| {
            let mut wgt = vec![0u8; g.k * g.nf];
            let mut neg = vec![0i32; g.k * g.nf];
            let mut any_neg = false;
            for o in 0..g.nf {
                for kk in 0..g.k {
                    let (c, n) = scheme.wgt_operand(g.w[o * g.k + kk]);
                    wgt[kk * g.nf + o] = c;
                    neg[kk * g.nf + o] = -(n as i32);
                    any_neg |= n;
                }
            }
            let neg = (matches!(scheme, crate::quant::QuantScheme::SignMagnitude) || any_neg).then_some(neg);
            PreparedGemm { index: g.im2col_index(), wgt, neg, kernel: None }
        };
        let prepared = model
            .gemms()
            .zip(&split)
            .map(|(g, s)| match s {
                Some(parts) => parts.iter().map(prepare).collect(),
                None => vec![prepare(g)],
            })
            .collect();
        let mut acc = Accelerator {
            config,
            model,
            approx,
            slots,
            exact: Lut::exact(8, 8, scheme.signed_multiplier()),
            prepared,
            split,
            sources: model.arch.sources(),
            uses: model.arch.consumers(),
        };
        if config.use_table && config.engine == Engine::Fast {
            let gemms: Vec<&QGemm> = model.gemms().collect();
            let mut kernels = Vec::with_capacity(gemms.len());
            for (gi, (g, ps)) in gemms.iter().zip(&acc.prepared).enumerate() {
                let table = acc.mult_at(gi).table().filter(|t| t.row_bits == 8 && t.col_bits == 8);
                let z = scheme.act_operand(g.input.zero_point);
                let (k, nf) = (g.k, g.nf / g.groups());
                kernels.push(
                    ps.iter()
                        .map(|p| table.map(|t| fast::TableKernel::choose(t, z, &p.wgt, p.neg.as_deref(), k, nf)))
                        .collect::<Vec<_>>(),
                );
            }
            for (ps, kns) in acc.prepared.iter_mut().zip(kernels) {
                for (p, kn) in ps.iter_mut().zip(kns) {
                    p.kernel = kn;
                }
            }
        }
        Ok(acc)
    }

    /// The approximate multiplier (exact layers use the exact table of the scheme's signedness).
    pub fn multiplier(&self) -> &'a dyn Multiplier {
        self.approx
    }

    /// The multiplier of GEMM layer `gemm` (index among the GEMM layers), `None` where the layer
    /// is exact.
    pub fn layer_multiplier(&self, gemm: usize) -> Option<&'a dyn Multiplier> {
        self.slots[gemm]
    }

    /// The quantized model this accelerator runs.
    pub fn model(&self) -> &'a QuantModel {
        self.model
    }

    fn mult_at(&self, gemm: usize) -> &dyn Multiplier {
        match self.slots[gemm] {
            Some(m) => m,
            None => &self.exact,
        }
    }

    /// GEMM layer `gi` as the array runs it: itself, or its channel groups one after another.
    fn parts<'s>(&'s self, gi: usize, g: &'s QGemm) -> &'s [QGemm] {
        match &self.split[gi] {
            Some(parts) => parts,
            None => std::slice::from_ref(g),
        }
    }

    /// Closed-form statistics of every GEMM layer (per image). A grouped layer's groups run one
    /// after another, each as its own GEMM: its folds, cycles and SRAM counts are SCALE-Sim's
    /// for each group's GEMM (as if each were a layer of its own), summed.
    pub fn stats(&self) -> Vec<LayerStats> {
        self.model
            .gemms()
            .enumerate()
            .map(|(gi, g)| {
                let groups = g.groups() as u64;
                let shape = group_shape(g);
                let t = timing::timing(shape, self.config.dataflow, self.config.array);
                let s = t.sram;
                let sram = SramCounts {
                    ifmap_reads: groups * s.ifmap_reads,
                    filter_reads: groups * s.filter_reads,
                    ofmap_writes: groups * s.ofmap_writes,
                };
                self.layer_stats(gi, g, shape, groups * t.folds, groups * t.compute_cycles, sram)
            })
            .collect()
    }

    /// Closed-form per-image work of the post-processing unit ([`PostStats`]).
    pub fn post_stats(&self) -> Vec<PostStats> {
        let shapes = self.model.arch.shapes();
        let lanes = self.config.array.cols as u64;
        self.model
            .layers
            .iter()
            .enumerate()
            .filter(|(_, l)| !matches!(l, QLayer::Gemm(_)))
            .map(|(i, l)| {
                let outputs = shapes[i].numel() as u64;
                let per_output = match l {
                    QLayer::Relu { .. } | QLayer::Clip { .. } if self.model.fused_into_source(i) => 0,
                    QLayer::Relu { .. } | QLayer::Clip { .. } | QLayer::Add(_) | QLayer::Rescale(_) => 1,
                    QLayer::Concat { parts } => u64::from(parts.iter().any(|p| !p.is_identity())),
                    QLayer::AvgPool { k, .. } => (k * k) as u64,
                    QLayer::MaxPool { window, .. } => (window.k * window.k) as u64,
                    QLayer::GlobalAvgPool { in_shape } => (in_shape.h * in_shape.w) as u64,
                    QLayer::Flatten | QLayer::Gemm(_) => 0,
                };
                PostStats {
                    name: self.model.arch.layers[i].name.clone(),
                    op: l.op(),
                    outputs,
                    cycles: outputs.div_ceil(lanes) * per_output,
                }
            })
            .collect()
    }

    fn layer_stats(
        &self,
        gi: usize,
        g: &QGemm,
        shape: GemmShape,
        folds: u64,
        cycles: u64,
        sram: SramCounts,
    ) -> LayerStats {
        let groups = g.groups();
        let macs = shape.macs() * groups as u64;
        let approximate = self.slots[gi].is_some();
        // Each layer is charged its own multiplier's power (per-layer assignment).
        let power = match self.slots[gi] {
            Some(m) => m.power_mw(),
            None => self.config.energy.exact_power_mw,
        };
        LayerStats {
            name: g.name.clone(),
            approximate,
            gemm: shape,
            groups,
            folds,
            cycles,
            macs,
            approx_macs: if approximate { macs } else { 0 },
            exact_macs: if approximate { 0 } else { macs },
            // SCALE-Sim's "Overall Util" of the whole layer (all its groups).
            utilization: timing::utilization_of(macs, self.config.array, cycles),
            mapping_efficiency: timing::mapping_efficiency(shape, self.config.dataflow, self.config.array),
            sram,
            energy_pj: self.config.energy.energy_pj(macs, power),
        }
    }

    /// [`Accelerator::run`] over `images` in chunks (500 images on the fast engine, 4 on the
    /// cycle-stepped one) with a progress bar labelled `label` on stderr; the same result.
    pub fn run_with_progress(&self, images: &[f32], label: &str) -> Result<Inference, AccelError> {
        let d = self.model.arch.input.numel();
        if !images.len().is_multiple_of(d) {
            return Err(AccelError::Input { len: images.len(), image: d });
        }
        let n = images.len() / d;
        let pb = indicatif::ProgressBar::new(n as u64);
        pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} images ({eta})") {
            pb.set_style(style);
        }
        pb.set_message(label.to_string());
        let chunk = match self.config.engine {
            Engine::Fast => 500,
            Engine::Cycle => 4,
        };
        let mut all: Option<Inference> = None;
        for s in (0..n).step_by(chunk) {
            let e = (s + chunk).min(n);
            let r = self.run(&images[s * d..e * d])?;
            pb.inc((e - s) as u64);
            match &mut all {
                None => all = Some(r),
                Some(a) => {
                    a.acc.extend_from_slice(&r.acc);
                    a.logits.extend_from_slice(&r.logits);
                    a.n += r.n;
                }
            }
        }
        pb.finish_and_clear();
        all.ok_or(AccelError::Input { len: images.len(), image: d })
    }

    /// Run `images` (N·C·H·W floats in the model's input layout).
    pub fn run(&self, images: &[f32]) -> Result<Inference, AccelError> {
        let d = self.model.arch.input.numel();
        if !images.len().is_multiple_of(d) {
            return Err(AccelError::Input { len: images.len(), image: d });
        }
        let n = images.len() / d;
        let classes = self.model.arch.classes;
        // One batch per task; results collected in image order (independent of thread count,
        // and of the batch size: every image's integers are computed on their own).
        let per: Vec<(Vec<i32>, Option<Vec<LayerStats>>)> = images
            .par_chunks(BATCH * d)
            .enumerate()
            .map(|(i, xs)| {
                let (o, stats) = self.run_batch(xs, i == 0, Probe::None);
                (o.acc, stats)
            })
            .collect();
        let mut acc = Vec::with_capacity(n * classes);
        let mut layers = match self.config.engine {
            Engine::Fast => self.stats(),
            Engine::Cycle => Vec::new(),
        };
        for (i, (a, st)) in per.into_iter().enumerate() {
            acc.extend_from_slice(&a);
            if i == 0 {
                if let Some(st) = st {
                    layers = st;
                }
            }
        }
        let last = self.model.gemms().last().expect("model has a GEMM layer");
        let logits = acc
            .chunks_exact(classes)
            .flat_map(|c| c.iter().enumerate().map(|(o, &a)| last.dequantize_acc(a, o)))
            .collect();
        Ok(Inference { n, classes, acc, logits, layers, post: self.post_stats() })
    }

    /// The multiplier operand codes GEMM layer `gemm` (index among the GEMM layers) receives for
    /// `images`: `n·npix × k` im2col rows in image order (padding included, as the array sees it;
    /// a grouped layer's rows group by group, each group's in image order).
    /// Recovery methods ([`crate::recover`]) read their activation statistics from here, so
    /// the statistics are those of the engine itself.
    pub fn layer_operands(&self, images: &[f32], gemm: usize) -> Result<Vec<u8>, AccelError> {
        let d = self.model.arch.input.numel();
        if !images.len().is_multiple_of(d) {
            return Err(AccelError::Input { len: images.len(), image: d });
        }
        let batches: Vec<Vec<u8>> = images
            .par_chunks(BATCH * d)
            .map(|xs| self.run_batch(xs, false, Probe::Operands(gemm)).0.operands)
            .collect();
        // A batch gives its rows group by group; the result is group-major over all images.
        let groups = self.split.get(gemm).and_then(|s| s.as_ref()).map_or(1, |p| p.len());
        let mut out = Vec::with_capacity(batches.iter().map(Vec::len).sum());
        for j in 0..groups {
            for b in &batches {
                let per = b.len() / groups;
                out.extend_from_slice(&b[j * per..(j + 1) * per]);
            }
        }
        Ok(out)
    }

    /// Every layer's integer output for `images` (per layer, image-major CHW codes; the logits
    /// layer's int32 accumulators): the forward values of approximation-aware fine-tuning.
    pub fn layer_outputs(&self, images: &[f32]) -> Result<Vec<Vec<i32>>, AccelError> {
        let d = self.model.arch.input.numel();
        if !images.len().is_multiple_of(d) {
            return Err(AccelError::Input { len: images.len(), image: d });
        }
        let parts: Vec<Vec<Vec<i32>>> =
            images.par_chunks(BATCH * d).map(|xs| self.run_batch(xs, false, Probe::Outputs).0.trace).collect();
        let mut out = vec![Vec::new(); self.model.layers.len()];
        for p in parts {
            for (o, l) in out.iter_mut().zip(p) {
                o.extend_from_slice(&l);
            }
        }
        Ok(out)
    }

    /// A batch of images, node by node: last-layer accumulators (image-major), and measured
    /// statistics of the first image when the cycle engine runs (the same for every image).
    /// The fast engine stacks the batch's im2col rows into one GEMM so that a layer's table rows
    /// are fetched once per batch rather than once per image.
    fn run_batch(&self, xs: &[f32], keep_stats: bool, probe: Probe) -> (Forward, Option<Vec<LayerStats>>) {
        // Per GEMM layer: folds, cycles and SRAM counts of the first image, summed over groups.
        let mut measured: Vec<(u64, u64, SramCounts)> = vec![(0, 0, SramCounts::default()); self.split.len()];
        let gemm = |gi: usize,
                    j: usize,
                    g: &QGemm,
                    codes: &[u8],
                    sums: &mut Vec<i32>|
         -> Result<usize, std::convert::Infallible> {
            let p = &self.prepared[gi][j];
            let (npix, k, nf) = (g.npix(), g.k, g.nf);
            let mult = self.mult_at(gi);
            Ok(match self.config.engine {
                Engine::Fast => {
                    let ops =
                        GemmOperands { npix: codes.len() / k, k, nf, act: codes, wgt: &p.wgt, neg: p.neg.as_deref() };
                    match &p.kernel {
                        Some(kn) => kn.gemm_rows(&ops, sums),
                        None => {
                            fast::gemm(&ops, mult, self.config.use_table, sums);
                            nf
                        }
                    }
                }
                Engine::Cycle => {
                    sums.clear();
                    for (i, act) in codes.chunks_exact(npix * k).enumerate() {
                        let ops = GemmOperands { npix, k, nf, act, wgt: &p.wgt, neg: p.neg.as_deref() };
                        let r = array::run(&ops, mult, self.config.array, self.config.dataflow);
                        if keep_stats && i == 0 {
                            let m = &mut measured[gi];
                            m.0 += r.folds;
                            m.1 += r.last_busy_cycle;
                            m.2 += r.sram;
                        }
                        sums.extend_from_slice(&r.sums);
                    }
                    nf
                }
            })
        };
        let Ok(out) = self.forward(xs, probe, gemm);
        let stats = (keep_stats && self.config.engine == Engine::Cycle).then(|| {
            self.model
                .gemms()
                .enumerate()
                .map(|(gi, g)| {
                    let shape = group_shape(g);
                    let (folds, cycles, sram) = measured[gi];
                    self.layer_stats(gi, g, shape, folds, cycles, sram)
                })
                .collect()
        });
        (out, stats)
    }

    /// One image with `gemm` computing every GEMM's product sums (`npix × nf`, pixel-major;
    /// of each channel group of a grouped layer, called with that group as an ungrouped layer)
    /// from the operands the array would receive and the layer's multiplier; the zero-point
    /// corrections, requantization and the other nodes run here as in [`run`]. Returns the last
    /// layer's int32 accumulators. (The RTL co-simulation streams real layers through an
    /// emitted array this way.)
    ///
    /// [`run`]: Accelerator::run
    pub fn run_image_with<E>(
        &self,
        image: &[f32],
        mut gemm: impl FnMut(&QGemm, &GemmOperands, &dyn Multiplier) -> Result<Vec<i32>, E>,
    ) -> Result<Vec<i32>, E> {
        assert_eq!(image.len(), self.model.arch.input.numel(), "one image");
        let out = self.forward(image, Probe::None, |gi, j, g, codes, sums| {
            let p = &self.prepared[gi][j];
            let ops = GemmOperands { npix: g.npix(), k: g.k, nf: g.nf, act: codes, wgt: &p.wgt, neg: p.neg.as_deref() };
            *sums = gemm(g, &ops, self.mult_at(gi))?;
            Ok(g.nf)
        })?;
        Ok(out.acc)
    }

    /// The node loop over a batch `xs`: `gemm(layer index, group, layer or group, im2col codes
    /// of the batch, sums)` fills the sums of each GEMM (each channel group) and returns their
    /// row stride. `probe` stops at a GEMM layer's operands (all groups, group-major per image)
    /// or keeps every node's output. A value is dropped after its last reader.
    fn forward<E>(
        &self,
        xs: &[f32],
        probe: Probe,
        mut gemm: impl FnMut(usize, usize, &QGemm, &[u8], &mut Vec<i32>) -> Result<usize, E>,
    ) -> Result<Forward, E> {
        let range = self.model.act_range();
        let d = self.model.arch.input.numel();
        let scheme = self.model.options.scheme;
        let input: Vec<i32> = xs.chunks_exact(d).flat_map(|x| self.model.quantize_input(x)).collect();
        let n = self.model.layers.len();
        let mut vals: Vec<Vec<i32>> = vec![Vec::new(); n];
        let mut lens = vec![0usize; n]; // integers per image of each value
        let mut left = self.uses.clone();
        let (mut xsum, mut codes, mut sums, mut tmp) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut gi = 0;
        for (i, l) in self.model.layers.iter().enumerate() {
            let srcs = &self.sources[i];
            let mut out = Vec::new();
            match l {
                QLayer::Gemm(g) => {
                    let (x, len) = match srcs[0] {
                        Source::Input => (&input[..], d),
                        Source::Node(j) => (&vals[j][..], lens[j]),
                    };
                    let parts = self.parts(gi, g);
                    let grouped = parts.len() > 1;
                    let (cin, cout) = (parts[0].in_shape.numel(), parts[0].npix() * parts[0].nf);
                    let mut operands = Vec::new();
                    if grouped {
                        out.resize(x.len() / len * g.npix() * g.nf, 0);
                    }
                    for (j, part) in parts.iter().enumerate() {
                        codes.clear();
                        xsum.clear();
                        for xi in x.chunks_exact(len) {
                            part.im2col_append(
                                &self.prepared[gi][j].index,
                                &xi[j * cin..][..cin],
                                scheme,
                                &mut codes,
                                &mut xsum,
                            );
                        }
                        if probe == Probe::Operands(gi) {
                            operands.extend_from_slice(&codes);
                            continue;
                        }
                        let stride = gemm(gi, j, part, &codes, &mut sums)?;
                        if !grouped {
                            part.finish_rows(&sums, stride, &xsum, range, &mut out);
                            continue;
                        }
                        tmp.clear();
                        part.finish_rows(&sums, stride, &xsum, range, &mut tmp);
                        let whole = g.npix() * g.nf;
                        for (img, t) in tmp.chunks_exact(cout).enumerate() {
                            out[img * whole + j * cout..][..cout].copy_from_slice(t);
                        }
                    }
                    if probe == Probe::Operands(gi) {
                        return Ok(Forward { operands, ..Default::default() });
                    }
                    lens[i] = g.npix() * g.nf;
                    gi += 1;
                }
                // Elementwise on the last reader of a single input: in place on its buffer.
                QLayer::Relu { .. } | QLayer::Clip { .. } | QLayer::Flatten if matches!(srcs[0], Source::Node(j) if left[j] == 1 && probe != Probe::Outputs) =>
                {
                    let Source::Node(j) = srcs[0] else { unreachable!("guarded") };
                    out = std::mem::take(&mut vals[j]);
                    l.in_place(&mut out);
                    lens[i] = lens[j];
                }
                _ => {
                    let ins: Vec<(&[i32], usize)> = srcs
                        .iter()
                        .map(|s| match s {
                            Source::Input => (&input[..], d),
                            Source::Node(j) => (&vals[*j][..], lens[*j]),
                        })
                        .collect();
                    let images = ins[0].0.len() / ins[0].1;
                    for img in 0..images {
                        let one: Vec<&[i32]> = ins.iter().map(|(v, len)| &v[img * len..(img + 1) * len]).collect();
                        self.model.post(i, srcs, &one, range, &mut tmp);
                        out.extend_from_slice(&tmp);
                    }
                    lens[i] = out.len() / images.max(1);
                }
            }
            for s in srcs {
                if let Source::Node(j) = *s {
                    left[j] -= 1;
                    if left[j] == 0 && probe != Probe::Outputs {
                        vals[j] = Vec::new();
                    }
                }
            }
            vals[i] = out;
        }
        if probe == Probe::Outputs {
            return Ok(Forward { acc: vals[n - 1].clone(), trace: vals, ..Default::default() });
        }
        Ok(Forward { acc: std::mem::take(&mut vals[n - 1]), ..Default::default() })
    }
}
