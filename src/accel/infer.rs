//! Whole-model integer inference on the array: per GEMM layer im2col → products on the array
//! (fast engine or cycle-stepped) → exact post-processing; per-layer statistics.

use super::array;
use super::fast::{self, GemmOperands};
use super::timing::{self, ArrayShape, Dataflow, GemmShape, SramCounts};
use super::AccelError;
use crate::lut::Lut;
use crate::mult::Multiplier;
use crate::quant::model::{avg_pool, relu};
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
    /// The layer's im2col GEMM for one image.
    pub gemm: GemmShape,
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
    /// Compute cycles of one image: the layers' cycles summed.
    pub fn cycles_per_image(&self) -> u64 {
        self.layers.iter().map(|l| l.cycles).sum()
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

/// Weights of one GEMM laid out for the array: `k × nf` codes and negation masks.
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
    prepared: Vec<PreparedGemm>,
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
        let prepared = model
            .gemms()
            .map(|g| {
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
            })
            .collect();
        let mut acc =
            Accelerator { config, model, approx, slots, exact: Lut::exact(8, 8, scheme.signed_multiplier()), prepared };
        if config.use_table && config.engine == Engine::Fast {
            let gemms: Vec<&QGemm> = model.gemms().collect();
            let mut kernels = Vec::with_capacity(gemms.len());
            for (gi, (g, p)) in gemms.iter().zip(&acc.prepared).enumerate() {
                kernels.push(acc.mult_at(gi).table().filter(|t| t.row_bits == 8 && t.col_bits == 8).map(|t| {
                    let z = scheme.act_operand(g.input.zero_point);
                    fast::TableKernel::choose(t, z, &p.wgt, p.neg.as_deref(), g.k, g.nf)
                }));
            }
            for (p, kn) in acc.prepared.iter_mut().zip(kernels) {
                p.kernel = kn;
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

    /// Closed-form statistics of every GEMM layer (per image).
    pub fn stats(&self) -> Vec<LayerStats> {
        self.model
            .gemms()
            .enumerate()
            .map(|(gi, g)| {
                let shape = GemmShape { npix: g.npix(), k: g.k, nf: g.nf };
                let t = timing::timing(shape, self.config.dataflow, self.config.array);
                self.layer_stats(gi, g, shape, t.folds, t.compute_cycles, t.sram)
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
        let macs = shape.macs();
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
            folds,
            cycles,
            macs,
            approx_macs: if approximate { macs } else { 0 },
            exact_macs: if approximate { 0 } else { macs },
            utilization: timing::utilization(shape, self.config.array, cycles),
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
        Ok(Inference { n, classes, acc, logits, layers })
    }

    /// The multiplier operand codes GEMM layer `gemm` (index among the GEMM layers) receives for
    /// `images`: `n·npix × k` im2col rows in image order (padding included, as the array sees it).
    /// Recovery methods ([`crate::recover`]) read their activation statistics from here, so
    /// the statistics are those of the engine itself.
    pub fn layer_operands(&self, images: &[f32], gemm: usize) -> Result<Vec<u8>, AccelError> {
        let d = self.model.arch.input.numel();
        if !images.len().is_multiple_of(d) {
            return Err(AccelError::Input { len: images.len(), image: d });
        }
        let parts: Vec<Vec<u8>> = images
            .par_chunks(BATCH * d)
            .map(|xs| self.run_batch(xs, false, Probe::Operands(gemm)).0.operands)
            .collect();
        Ok(parts.concat())
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

    /// A batch of images, layer by layer: last-layer accumulators (image-major), and measured
    /// statistics of the first image when the cycle engine runs (the same for every image).
    /// The fast engine stacks the batch's im2col rows into one GEMM so that a layer's table rows
    /// are fetched once per batch rather than once per image.
    fn run_batch(&self, xs: &[f32], keep_stats: bool, probe: Probe) -> (Forward, Option<Vec<LayerStats>>) {
        let mut stats = Vec::new();
        let gemm = |gi: usize,
                    g: &QGemm,
                    codes: &[u8],
                    sums: &mut Vec<i32>|
         -> Result<usize, std::convert::Infallible> {
            let p = &self.prepared[gi];
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
                            let shape = GemmShape { npix, k, nf };
                            stats.push(self.layer_stats(gi, g, shape, r.folds, r.last_busy_cycle, r.sram));
                        }
                        sums.extend_from_slice(&r.sums);
                    }
                    nf
                }
            })
        };
        let Ok(out) = self.forward(xs, probe, gemm);
        (out, (keep_stats && self.config.engine == Engine::Cycle).then_some(stats))
    }

    /// One image with `gemm` computing every GEMM layer's product sums (`npix × nf`,
    /// pixel-major) from the operands the array would receive and the layer's multiplier; the
    /// zero-point corrections, requantization and non-GEMM layers run here as in [`run`].
    /// Returns the last layer's int32 accumulators. (The RTL co-simulation streams real layers
    /// through an emitted array this way.)
    ///
    /// [`run`]: Accelerator::run
    pub fn run_image_with<E>(
        &self,
        image: &[f32],
        mut gemm: impl FnMut(&QGemm, &GemmOperands, &dyn Multiplier) -> Result<Vec<i32>, E>,
    ) -> Result<Vec<i32>, E> {
        assert_eq!(image.len(), self.model.arch.input.numel(), "one image");
        let out = self.forward(image, Probe::None, |gi, g, codes, sums| {
            let p = &self.prepared[gi];
            let ops = GemmOperands { npix: g.npix(), k: g.k, nf: g.nf, act: codes, wgt: &p.wgt, neg: p.neg.as_deref() };
            *sums = gemm(g, &ops, self.mult_at(gi))?;
            Ok(g.nf)
        })?;
        Ok(out.acc)
    }

    /// The layer loop over a batch `xs`: `gemm(index, layer, im2col codes of the batch, sums)`
    /// fills the sums of each GEMM layer and returns their row stride. `probe` stops at a GEMM
    /// layer's operands or keeps every layer's output.
    fn forward<E>(
        &self,
        xs: &[f32],
        probe: Probe,
        mut gemm: impl FnMut(usize, &QGemm, &[u8], &mut Vec<i32>) -> Result<usize, E>,
    ) -> Result<Forward, E> {
        let range = self.model.act_range();
        let d = self.model.arch.input.numel();
        let scheme = self.model.options.scheme;
        let mut cur: Vec<i32> = xs.chunks_exact(d).flat_map(|x| self.model.quantize_input(x)).collect();
        let mut len = d; // integers per image in `cur`
        let (mut xsum, mut codes, mut sums, mut next, mut tmp) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut gi = 0;
        let mut trace = Vec::new();
        for l in &self.model.layers {
            match l {
                QLayer::Gemm(g) => {
                    let p = &self.prepared[gi];
                    codes.clear();
                    xsum.clear();
                    for x in cur.chunks_exact(len) {
                        g.im2col_append(&p.index, x, scheme, &mut codes, &mut xsum);
                    }
                    if probe == Probe::Operands(gi) {
                        return Ok(Forward { operands: codes, ..Default::default() });
                    }
                    let stride = gemm(gi, g, &codes, &mut sums)?;
                    next.clear();
                    g.finish_rows(&sums, stride, &xsum, range, &mut next);
                    std::mem::swap(&mut cur, &mut next);
                    len = g.npix() * g.nf;
                    gi += 1;
                }
                QLayer::Relu { zero_point } => relu(&mut cur, *zero_point),
                QLayer::AvgPool { k, stride, in_shape, out_shape } => {
                    next.clear();
                    for x in cur.chunks_exact(len) {
                        avg_pool(x, *k, *stride, *in_shape, *out_shape, &mut tmp);
                        next.extend_from_slice(&tmp);
                    }
                    std::mem::swap(&mut cur, &mut next);
                    len = out_shape.numel();
                }
            }
            if probe == Probe::Outputs {
                trace.push(cur.clone());
            }
        }
        Ok(Forward { acc: cur, trace, ..Default::default() })
    }
}
