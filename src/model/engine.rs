//! Fast float engine: walks an `Arch`, batch at a time, with convolutions as im2col + one GEMM
//! (matrixmultiply) per layer and batch — or, in f32 when no weight gradient is wanted, the
//! bit-identical fused kernels of `conv.rs`, which never form the im2col matrix. Generic over
//! `Real` (f32 for speed, f64 for checking gradients against finite differences).
//!
//! Layout: spatial activations are kept channel-major over the batch, `[C][N][H][W]` ("CNHW"),
//! so a whole batch's convolution is a single `W[OC×K] · cols[K × N·OH·OW]` product and every
//! per-channel reduction (bias gradient, BatchNorm statistics) is one contiguous row. After the
//! first fully connected layer activations are `[N][F]`.
//!
//! Determinism: rayon only splits work over disjoint outputs (rows of `cols`, channels, planes);
//! every sum is computed by one task in a fixed order, and matrixmultiply sums each output element
//! over k in a fixed order, so results do not depend on the thread count.
//!
//! Optional BatchNorm (training only) sits between a convolution and its ReLU; `Net::folded`
//! folds it into the convolution's weight and bias so the exported model is plain conv+bias as
//! `arch.rs` describes.

use super::arch::{Arch, LayerKind, Pads, Shape, Source, BATCHNORM_TENSORS};
use super::conv::ConvGeom;
use super::depthwise;
use super::params::{Params, Tensor};
use super::real::{gemm, Real};
use rayon::prelude::*;

const BN_EPS: f64 = 1e-5;
const BN_MOMENTUM: f64 = 0.1;

/// BatchNorm state of one convolution's output channels.
#[derive(Debug, Clone)]
pub struct BatchNorm<T> {
    /// Per-channel scale.
    pub gamma: Vec<T>,
    /// Per-channel shift.
    pub beta: Vec<T>,
    /// Moving average (momentum 0.1) of the channel's batch means, used in evaluation and folding.
    pub running_mean: Vec<T>,
    /// Moving average (momentum 0.1) of the channel's batch variances, used in evaluation and
    /// folding.
    pub running_var: Vec<T>,
}

/// A network's trainable state: weights per layer (empty for layers without parameters) and
/// optional BatchNorm per convolution.
#[derive(Debug, Clone)]
pub struct Net<T> {
    /// The architecture.
    pub arch: Arch,
    /// Output shape of every layer ([`Arch::shapes`]).
    pub shapes: Vec<Shape>,
    /// Where each node's inputs come from ([`Arch::sources`]).
    sources: Vec<Vec<Source>>,
    /// Weights per layer in PyTorch layout (OIHW, out × in); empty for layers without parameters.
    pub w: Vec<Vec<T>>,
    /// Biases per layer; empty for layers without parameters.
    pub b: Vec<Vec<T>>,
    /// BatchNorm state per layer: `Some` for a batch-norm node, and for a convolution trained
    /// with its own BatchNorm ([`Net::with_batchnorm`]).
    pub bn: Vec<Option<BatchNorm<T>>>,
    /// Reused im2col buffers: the largest arrays of a step (up to ~100 MB); allocating them
    /// fresh every step costs more in page faults than the copy itself.
    scratch: Vec<Vec<T>>,
}

impl<T: Real> Net<T> {
    /// A buffer of length `n` (contents unspecified) from the scratch pool.
    fn take(&mut self, n: usize) -> Vec<T> {
        let best = (0..self.scratch.len())
            .filter(|&i| self.scratch[i].capacity() >= n)
            .min_by_key(|&i| self.scratch[i].capacity());
        let mut v = match best {
            Some(i) => self.scratch.swap_remove(i),
            None => Vec::with_capacity(n),
        };
        v.resize(n, T::ZERO);
        v.truncate(n);
        v
    }
    fn give(&mut self, v: Vec<T>) {
        if v.capacity() > 0 && self.scratch.len() < 16 {
            self.scratch.push(v);
        }
    }
}

/// Gradients of the loss, same structure as `Net`.
#[derive(Debug, Clone)]
pub struct Grads<T> {
    /// Weight gradients per layer.
    pub w: Vec<Vec<T>>,
    /// Bias gradients per layer.
    pub b: Vec<Vec<T>>,
    /// BatchNorm scale gradients per layer (empty without BatchNorm).
    pub gamma: Vec<Vec<T>>,
    /// BatchNorm shift gradients per layer (empty without BatchNorm).
    pub beta: Vec<Vec<T>>,
}

/// Training or evaluation (how BatchNorm behaves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// BatchNorm uses batch statistics and updates running statistics.
    Train,
    /// BatchNorm uses running statistics.
    Eval,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `[C][N][H][W]`
    Spatial(Shape),
    /// `[N][F]`
    Flat(usize),
}

struct Act<T> {
    data: Vec<T>,
    layout: Layout,
}

enum Cache<T> {
    Conv {
        cols: Vec<T>,
        in_shape: Shape,
        bn: Option<(Vec<T>, Vec<T>)>,
    },
    Linear {
        x: Vec<T>,
        from: Layout,
    },
    Pool {
        in_shape: Shape,
    },
    MaxPool {
        argmax: Vec<u32>,
        in_shape: Shape,
    },
    /// Batch statistics of a batch-norm node in training mode (x̂, 1/σ); `None` in evaluation.
    BatchNorm {
        train: Option<(Vec<T>, Vec<T>)>,
    },
    /// The output of an elementwise clamp (ReLU, Clip), whose gradient passes where it did not
    /// clamp.
    Clamp {
        y: Vec<T>,
    },
    Add,
    Concat {
        channels: Vec<usize>,
    },
    Flatten {
        from: Layout,
    },
}

/// Outcome of a forward+backward pass over a batch.
pub struct Backward<T> {
    /// Cross-entropy loss of every image.
    pub losses: Vec<T>,
    /// Number of images whose arg-max logit is the label.
    pub correct: usize,
    /// Parameter gradients, summed over the batch.
    pub grads: Grads<T>,
    /// dLoss/dInput (NCHW) when requested.
    pub input_grad: Option<Vec<T>>,
}

impl<T: Real> Net<T> {
    /// Engine state from PyTorch-layout parameters (batch-norm nodes from their tensors).
    pub fn from_params(arch: &Arch, params: &Params) -> Net<T> {
        let conv = |v: &[f32]| v.iter().map(|&x| T::from_f32(x)).collect::<Vec<T>>();
        let mut w = Vec::new();
        let mut b = Vec::new();
        let mut bn = Vec::new();
        for l in &arch.layers {
            if l.has_params() {
                let (tw, tb) = params.layer(&l.name);
                w.push(conv(&tw.data));
                b.push(conv(&tb.data));
            } else {
                w.push(Vec::new());
                b.push(Vec::new());
            }
            bn.push(matches!(l.kind, LayerKind::BatchNorm { .. }).then(|| {
                let [g, be, m, v] = BATCHNORM_TENSORS.map(|t| conv(&params.tensors[&format!("{}.{t}", l.name)].data));
                BatchNorm { gamma: g, beta: be, running_mean: m, running_var: v }
            }));
        }
        Net { arch: arch.clone(), shapes: arch.shapes(), sources: arch.sources(), w, b, bn, scratch: Vec::new() }
    }

    /// Add BatchNorm (gamma 1, beta 0) after every convolution.
    pub fn with_batchnorm(mut self) -> Net<T> {
        for (i, l) in self.arch.layers.iter().enumerate() {
            if let LayerKind::Conv { out_ch, .. } = l.kind {
                self.bn[i] = Some(BatchNorm {
                    gamma: vec![T::ONE; out_ch],
                    beta: vec![T::ZERO; out_ch],
                    running_mean: vec![T::ZERO; out_ch],
                    running_var: vec![T::ONE; out_ch],
                });
            }
        }
        self
    }

    /// The parameters to save: a convolution's own BatchNorm ([`Net::with_batchnorm`]) folded
    /// into its weight and bias with the running statistics; batch-norm nodes keep their four
    /// tensors (`model::fold` folds those where the quantizer needs it).
    pub fn folded(&self) -> Params {
        let mut p = Params::zeros(&self.arch);
        for (i, l) in self.arch.layers.iter().enumerate() {
            if let (LayerKind::BatchNorm { .. }, Some(bn)) = (l.kind, &self.bn[i]) {
                for (t, v) in BATCHNORM_TENSORS.iter().zip([&bn.gamma, &bn.beta, &bn.running_mean, &bn.running_var]) {
                    p.tensors[&format!("{}.{t}", l.name)].data = v.iter().map(|x| x.to_f32()).collect();
                }
                continue;
            }
            if !l.has_params() {
                continue;
            }
            let mut w: Vec<f32> = self.w[i].iter().map(|v| v.to_f32()).collect();
            let mut b: Vec<f32> = self.b[i].iter().map(|v| v.to_f32()).collect();
            if let Some(bn) = &self.bn[i] {
                let oc = b.len();
                let per = w.len() / oc;
                for o in 0..oc {
                    let scale = bn.gamma[o].to_f64() / (bn.running_var[o].to_f64() + BN_EPS).sqrt();
                    for v in &mut w[o * per..(o + 1) * per] {
                        *v = (*v as f64 * scale) as f32;
                    }
                    b[o] = ((b[o] as f64 - bn.running_mean[o].to_f64()) * scale + bn.beta[o].to_f64()) as f32;
                }
            }
            let (tw, tb) = (format!("{}.weight", l.name), format!("{}.bias", l.name));
            p.tensors[&tw].data = w;
            p.tensors[&tb].data = b;
        }
        p
    }

    /// Zero gradients shaped like this network's parameters.
    pub fn zero_grads(&self) -> Grads<T> {
        let z = |v: &Vec<T>| vec![T::ZERO; v.len()];
        Grads {
            w: self.w.iter().map(z).collect(),
            b: self.b.iter().map(z).collect(),
            gamma: self.bn.iter().map(|o| o.as_ref().map_or(Vec::new(), |bn| z(&bn.gamma))).collect(),
            beta: self.bn.iter().map(|o| o.as_ref().map_or(Vec::new(), |bn| z(&bn.beta))).collect(),
        }
    }

    fn forward_impl(&mut self, x: &[T], n: usize, mode: Mode, cache: Option<&mut Vec<Cache<T>>>) -> Vec<T> {
        self.forward_replaced(x, n, mode, cache, None, false)
    }

    /// The forward pass, with layer `i`'s output replaced by `replace[i]` (NCHW per image) where
    /// given: later layers, the caches and the loss then see those values. `keep_cols`: cache
    /// each convolution's im2col matrix (the weight gradient reads it); without it a convolution
    /// may take the fused route of `conv.rs`, which never forms that matrix.
    ///
    /// Nodes run in their (topological) order; a value is moved to its last reader and cloned
    /// for the others, so a chain moves every activation exactly as a plain loop would.
    fn forward_replaced(
        &mut self,
        x: &[T],
        n: usize,
        mode: Mode,
        mut cache: Option<&mut Vec<Cache<T>>>,
        replace: Option<&[Option<Vec<T>>]>,
        keep_cols: bool,
    ) -> Vec<T> {
        let inp = self.arch.input;
        assert_eq!(x.len(), n * inp.numel(), "input batch size");
        let normalized;
        let x = match &self.arch.normalize {
            Some(norm) => {
                normalized = normalize_t(norm, x, inp, false);
                &normalized[..]
            }
            None => x,
        };
        // Slot 0 holds the model input, slot j + 1 node j's output, each until its last reader.
        let sources = self.sources.clone();
        let mut uses = vec![0usize; self.arch.layers.len() + 1];
        for s in sources.iter().flatten() {
            uses[slot(*s)] += 1;
        }
        *uses.last_mut().expect("a node") += 1;
        let mut slots: Vec<Option<Act<T>>> = (0..uses.len()).map(|_| None).collect();
        slots[0] = Some(Act { data: nchw_to_cnhw(x, n, inp), layout: Layout::Spatial(inp) });
        for i in 0..self.arch.layers.len() {
            let mut ins: Vec<Act<T>> = sources[i]
                .iter()
                .map(|&s| {
                    let k = slot(s);
                    uses[k] -= 1;
                    if uses[k] == 0 {
                        slots[k].take().expect("computed before its readers")
                    } else {
                        let a = slots[k].as_ref().expect("computed before its readers");
                        Act { data: a.data.clone(), layout: a.layout }
                    }
                })
                .collect();
            let kind = self.arch.layers[i].kind;
            let out_shape = self.shapes[i];
            let act = match kind {
                LayerKind::Conv { out_ch, k, stride, pad, groups } => {
                    let act = ins.pop().expect("one input");
                    let s = spatial(act.layout, &act.data, n);
                    let np = n * out_shape.h * out_shape.w;
                    let (icg, ocg) = (s.c / groups, out_ch / groups);
                    let kk = icg * k * k;
                    let plane = n * s.h * s.w;
                    let gs = Shape::new(icg, s.h, s.w);
                    // `y` needs no zeroing: both routes write every element.
                    let mut y = self.take(out_ch * np);
                    let mut cols = Vec::new();
                    // Borrowed out of `self` while `take`/`give` use its scratch pool.
                    let (w, b) = (std::mem::take(&mut self.w[i]), std::mem::take(&mut self.b[i]));
                    let depthwise = (icg == 1 && ocg == 1).then(|| pad.as_uniform()).flatten().map(|p| ConvGeom {
                        n,
                        input: s,
                        k,
                        stride,
                        pad: p,
                        oh: out_shape.h,
                        ow: out_shape.w,
                    });
                    if let Some(geom) = depthwise {
                        depthwise::forward(&act.data, geom, &w, &b, &mut y);
                    }
                    for g in (0..groups).filter(|_| depthwise.is_none()) {
                        let xg = &act.data[g * icg * plane..(g + 1) * icg * plane];
                        let wg = &w[g * ocg * kk..(g + 1) * ocg * kk];
                        let bg = &b[g * ocg..(g + 1) * ocg];
                        let yg = &mut y[g * ocg * np..(g + 1) * ocg * np];
                        let fused = !(keep_cols && cache.is_some())
                            && pad.as_uniform().is_some_and(|p| {
                                let geom =
                                    ConvGeom { n, input: gs, k, stride, pad: p, oh: out_shape.h, ow: out_shape.w };
                                T::conv_forward(xg, geom, wg, bg, yg)
                            });
                        if !fused {
                            let mut cg = self.take(kk * np);
                            im2col(xg, n, gs, k, stride, pad, out_shape.h, out_shape.w, &mut cg);
                            gemm(ocg, kk, np, T::ONE, wg, kk, 1, &cg, np, 1, T::ZERO, yg);
                            yg.par_chunks_mut(np).enumerate().for_each(|(o, row)| {
                                for v in row.iter_mut() {
                                    *v += bg[o];
                                }
                            });
                            if groups == 1 {
                                cols = cg;
                            } else {
                                cols.extend_from_slice(&cg);
                                self.give(cg);
                            }
                        }
                    }
                    (self.w[i], self.b[i]) = (w, b);
                    if depthwise.is_some() && keep_cols && cache.is_some() {
                        // The depthwise weight gradient reads the input itself.
                        cols = act.data;
                    } else {
                        // The input is dead now; its buffer serves a later layer.
                        self.give(act.data);
                    }
                    let bn_cache = match (&mut self.bn[i], mode) {
                        (Some(bn), Mode::Train) => Some(bn_train_forward(bn, &mut y, np, BN_EPS)),
                        (Some(bn), Mode::Eval) => {
                            bn_eval_forward(bn, &mut y, np, BN_EPS);
                            None
                        }
                        (None, _) => None,
                    };
                    match cache.as_deref_mut() {
                        Some(c) => c.push(Cache::Conv { cols, in_shape: s, bn: bn_cache }),
                        None => self.give(cols),
                    }
                    Act { data: y, layout: Layout::Spatial(out_shape) }
                }
                LayerKind::Linear { out } => {
                    let act = ins.pop().expect("one input");
                    let from = act.layout;
                    let xf = to_flat(act, n);
                    let f = xf.len() / n.max(1);
                    let mut y = vec![T::ZERO; n * out];
                    // Y[n×out] = X[n×f] · Wᵀ (W is out×f)
                    gemm(n, f, out, T::ONE, &xf, f, 1, &self.w[i], 1, f, T::ZERO, &mut y);
                    let bias = &self.b[i];
                    for row in y.chunks_mut(out) {
                        for (v, &bb) in row.iter_mut().zip(bias) {
                            *v += bb;
                        }
                    }
                    if let Some(c) = cache.as_deref_mut() {
                        c.push(Cache::Linear { x: xf, from });
                    }
                    Act { data: y, layout: Layout::Flat(out) }
                }
                LayerKind::AvgPool { k, stride, pad, count_include_pad } => {
                    let act = ins.pop().expect("one input");
                    let s = spatial(act.layout, &act.data, n);
                    let y = avgpool_forward(&act.data, s, Window { k, stride, pad }, count_include_pad, out_shape);
                    if let Some(c) = cache.as_deref_mut() {
                        c.push(Cache::Pool { in_shape: s });
                    }
                    Act { data: y, layout: Layout::Spatial(out_shape) }
                }
                LayerKind::GlobalAvgPool => {
                    let act = ins.pop().expect("one input");
                    let s = spatial(act.layout, &act.data, n);
                    let y = global_avgpool_forward(&act.data, s);
                    if let Some(c) = cache.as_deref_mut() {
                        c.push(Cache::Pool { in_shape: s });
                    }
                    Act { data: y, layout: Layout::Spatial(out_shape) }
                }
                LayerKind::MaxPool { k, stride, pad } => {
                    let act = ins.pop().expect("one input");
                    let s = spatial(act.layout, &act.data, n);
                    let (y, argmax) = maxpool_forward(&act.data, s, Window { k, stride, pad }, out_shape);
                    if let Some(c) = cache.as_deref_mut() {
                        c.push(Cache::MaxPool { argmax, in_shape: s });
                    }
                    Act { data: y, layout: Layout::Spatial(out_shape) }
                }
                LayerKind::BatchNorm { eps } => {
                    let act = ins.pop().expect("one input");
                    let mut y = to_spatial(act, n, out_shape);
                    let np = n * out_shape.h * out_shape.w;
                    let bn = self.bn[i].as_mut().expect("a batch-norm node has its state");
                    let train = match mode {
                        Mode::Train => Some(bn_train_forward(bn, &mut y, np, eps as f64)),
                        Mode::Eval => {
                            bn_eval_forward(bn, &mut y, np, eps as f64);
                            None
                        }
                    };
                    if let Some(c) = cache.as_deref_mut() {
                        c.push(Cache::BatchNorm { train });
                    }
                    Act { data: y, layout: Layout::Spatial(out_shape) }
                }
                LayerKind::Relu | LayerKind::Clip { .. } => {
                    let act = ins.pop().expect("one input");
                    let (lo, hi) = match kind {
                        LayerKind::Clip { min, max } => (T::from_f32(min), Some(T::from_f32(max))),
                        _ => (T::ZERO, None),
                    };
                    let mut y = act.data;
                    // Two loops rather than a test per element, so each vectorizes.
                    match hi {
                        None => y.par_chunks_mut(4096).for_each(|c| {
                            for v in c {
                                *v = v.max(lo);
                            }
                        }),
                        Some(hi) => y.par_chunks_mut(4096).for_each(|c| {
                            for v in c {
                                *v = v.max(lo).min(hi);
                            }
                        }),
                    }
                    if let Some(c) = cache.as_deref_mut() {
                        c.push(Cache::Clamp { y: y.clone() });
                    }
                    Act { data: y, layout: act.layout }
                }
                LayerKind::Add => {
                    let b = ins.pop().expect("two inputs");
                    let a = ins.pop().expect("two inputs");
                    let mut y = to_layout(a, n, out_shape, b.layout);
                    y.par_chunks_mut(4096).zip(b.data.par_chunks(4096)).for_each(|(yc, bc)| {
                        for (v, &w) in yc.iter_mut().zip(bc) {
                            *v += w;
                        }
                    });
                    if let Some(c) = cache.as_deref_mut() {
                        c.push(Cache::Add);
                    }
                    Act { data: y, layout: b.layout }
                }
                LayerKind::Concat => {
                    // Channel-major: concatenating channels is concatenating the buffers.
                    let mut channels = Vec::with_capacity(ins.len());
                    let mut y = Vec::with_capacity(out_shape.numel() * n);
                    for a in ins.drain(..) {
                        let s = spatial(a.layout, &a.data, n);
                        channels.push(s.c);
                        y.extend_from_slice(&to_spatial(a, n, s));
                    }
                    if let Some(c) = cache.as_deref_mut() {
                        c.push(Cache::Concat { channels });
                    }
                    Act { data: y, layout: Layout::Spatial(out_shape) }
                }
                LayerKind::Flatten => {
                    let act = ins.pop().expect("one input");
                    let from = act.layout;
                    if let Some(c) = cache.as_deref_mut() {
                        c.push(Cache::Flatten { from });
                    }
                    Act { data: to_flat(act, n), layout: Layout::Flat(out_shape.c) }
                }
            };
            let mut act = act;
            if let Some(r) = replace.and_then(|r| r.get(i)).and_then(|r| r.as_ref()) {
                assert_eq!(r.len(), act.data.len(), "replacement of layer {i}");
                act.data = match act.layout {
                    Layout::Spatial(s) => nchw_to_cnhw(r, n, s),
                    Layout::Flat(_) => r.clone(),
                };
            }
            slots[i + 1] = Some(act);
        }
        to_flat(slots.pop().flatten().expect("the last node's output"), n)
    }

    /// Logits `[n × classes]` of an NCHW batch.
    pub fn forward(&mut self, x: &[T], n: usize, mode: Mode) -> Vec<T> {
        self.forward_impl(x, n, mode, None)
    }

    /// Forward and backward of the softmax cross-entropy loss. `scale` multiplies each image's
    /// loss gradient (1/n for a mean-loss training step, 1 for per-image input gradients).
    pub fn backward(&mut self, x: &[T], labels: &[u8], mode: Mode, scale: T, want_input_grad: bool) -> Backward<T> {
        self.backward_with(x, labels, mode, scale, want_input_grad, None, None, true, None)
    }

    /// [`Net::backward`] with the loss evaluated on `head` logits (`n × classes`) instead of this
    /// network's own, the gradient then taken back through this network at `x`: BPDA (Athalye et
    /// al. 2018), whose forward pass is another model (the accelerator) and whose backward pass is
    /// this differentiable approximation of it.
    pub fn backward_head(
        &mut self,
        x: &[T],
        labels: &[u8],
        mode: Mode,
        scale: T,
        want_input_grad: bool,
        head: Option<&[T]>,
    ) -> Backward<T> {
        self.backward_with(x, labels, mode, scale, want_input_grad, None, head, true, None)
    }

    /// [`Self::backward`] with layer outputs replaced in the forward pass (`replace[i]`, NCHW per
    /// image, where given): the straight-through estimator of approximation-aware training,
    /// whose forward values come from the hardware and whose gradients from the float layers.
    pub fn backward_replaced(
        &mut self,
        x: &[T],
        labels: &[u8],
        mode: Mode,
        scale: T,
        want_input_grad: bool,
        replace: Option<&[Option<Vec<T>>]>,
    ) -> Backward<T> {
        self.backward_with(x, labels, mode, scale, want_input_grad, replace, None, true, None)
    }

    /// Per-image losses and dLoss/dInput (NCHW) in eval mode, loss on `head` logits when given:
    /// [`Net::backward_head`] without the parameter gradients, which an attack never reads and
    /// which cost as much as the forward pass. The input gradient is bit-identical (it does not
    /// depend on them).
    pub fn input_grad_head(&mut self, x: &[T], labels: &[u8], head: Option<&[T]>) -> (Vec<T>, Vec<T>) {
        let b = self.backward_with(x, labels, Mode::Eval, T::ONE, true, None, head, false, None);
        (b.losses, b.input_grad.expect("input gradient requested"))
    }

    /// The logits (`head` when given, else this network's own) and the input gradient (NCHW) of
    /// `Σ_i ⟨d_i, z_i⟩`, where `seed(logits, d)` writes `d` (`n × classes`) from the logits: the
    /// pull-back of any per-image loss whose gradient at the logits is `d` (e.g. AutoAttack's
    /// DLR loss), through this network at `x` in eval mode.
    pub fn input_grad_seeded(
        &mut self,
        x: &[T],
        n: usize,
        head: Option<&[T]>,
        seed: &mut LogitSeed<'_, T>,
    ) -> (Vec<T>, Vec<T>) {
        // Only the count of the labels is read when the loss gradient is seeded.
        let labels = vec![0u8; n];
        let mut seen = Vec::new();
        let mut keep = |z: &[T], d: &mut [T]| {
            seen = z.to_vec();
            seed(z, d)
        };
        let b = self.backward_with(x, &labels, Mode::Eval, T::ONE, true, None, head, false, Some(&mut keep));
        (seen, b.input_grad.expect("input gradient requested"))
    }

    #[allow(clippy::too_many_arguments)]
    fn backward_with(
        &mut self,
        x: &[T],
        labels: &[u8],
        mode: Mode,
        scale: T,
        want_input_grad: bool,
        replace: Option<&[Option<Vec<T>>]>,
        head: Option<&[T]>,
        param_grads: bool,
        seed: Option<&mut LogitSeed<'_, T>>,
    ) -> Backward<T> {
        let n = labels.len();
        let seeded = seed.is_some();
        let mut cache = Vec::with_capacity(self.arch.layers.len());
        let own = self.forward_replaced(x, n, mode, Some(&mut cache), replace, param_grads);
        let classes = self.arch.classes;
        let logits = match head {
            Some(h) => {
                assert_eq!(h.len(), n * classes, "backward_head: {} head logits for {n} × {classes}", h.len());
                h
            }
            None => &own[..],
        };
        let mut losses = vec![T::ZERO; n];
        let mut correct = 0;
        let mut g = vec![T::ZERO; n * classes];
        let mut zf = vec![0f64; classes];
        let mut e = vec![0f64; classes];
        if let Some(seed) = seed {
            // Another loss than the cross-entropy: its gradient at the logits is given.
            seed(logits, &mut g);
        }
        // The cross-entropy's losses, gradient and count of correct images only when no other
        // loss was seeded (a seeded call reports zero losses and no correct count).
        for i in (0..n).filter(|_| !seeded) {
            let z = &logits[i * classes..(i + 1) * classes];
            let label = labels[i] as usize;
            let mut best = 0;
            for c in 1..classes {
                if z[c] > z[best] {
                    best = c;
                }
            }
            correct += (best == label) as usize;
            // Softmax and loss in f64 (one value per class, cheap). On a confident image
            // 1 − p_y is near or below f32's spacing at 1 (6e-8), so `p_y − 1` and `ln(1 + tiny)`
            // lose most or all of their digits: the label term is −Σ_{c≠y} p_c and the loss
            // ln_1p(Σ_{c≠max} e_c) + m − z_y, both built from the small terms alone.
            for (f, &v) in zf.iter_mut().zip(z) {
                *f = v.to_f64();
            }
            let m = zf[best];
            let mut rest = 0f64;
            for c in 0..classes {
                e[c] = (zf[c] - m).exp();
                if c != best {
                    rest += e[c];
                }
            }
            let sum = 1.0 + rest;
            losses[i] = T::from_f64(rest.ln_1p() + (m - zf[label]));
            let mut others = 0f64;
            for c in 0..classes {
                if c != label {
                    let p = e[c] / sum;
                    others += p;
                    g[i * classes + c] = T::from_f64(p * scale.to_f64());
                }
            }
            g[i * classes + label] = T::from_f64(-others * scale.to_f64());
        }
        let mut grads = if param_grads {
            self.zero_grads()
        } else {
            let none = || vec![Vec::new(); self.w.len()];
            Grads { w: none(), b: none(), gamma: none(), beta: none() }
        };
        // Gradient w.r.t. each slot's value (slot 0: the model input), summed over its readers
        // in reverse node order.
        let sources = self.sources.clone();
        let mut acc: Vec<Option<Act<T>>> = (0..=self.arch.layers.len()).map(|_| None).collect();
        acc[self.arch.layers.len()] = Some(Act { data: g, layout: Layout::Flat(classes) });
        for i in (0..self.arch.layers.len()).rev() {
            let c = cache.pop().expect("one cache entry per layer");
            let grad = acc[i + 1].take().expect("every node's output reaches the loss");
            let kind = self.arch.layers[i].kind;
            let out_shape = self.shapes[i];
            let srcs = &sources[i];
            let need_dx = |k: usize| srcs[k] != Source::Input || want_input_grad;
            let dxs: Vec<Act<T>> = match (kind, c) {
                (LayerKind::Conv { out_ch, k, stride, pad, groups }, Cache::Conv { cols, in_shape, bn }) => {
                    let np = n * out_shape.h * out_shape.w;
                    let mut dy = to_spatial(grad, n, out_shape);
                    if let (Some(bnp), Some((xhat, inv_std))) = (&self.bn[i], bn) {
                        let (dg, db) = bn_backward(bnp, &xhat, &inv_std, &mut dy, np);
                        grads.gamma[i] = dg;
                        grads.beta[i] = db;
                    }
                    let (icg, ocg) = (in_shape.c / groups, out_ch / groups);
                    let kk = icg * k * k;
                    let plane = n * in_shape.h * in_shape.w;
                    let gs = Shape::new(icg, in_shape.h, in_shape.w);
                    let depthwise = (icg == 1 && ocg == 1).then(|| pad.as_uniform()).flatten().map(|p| ConvGeom {
                        n,
                        input: in_shape,
                        k,
                        stride,
                        pad: p,
                        oh: out_shape.h,
                        ow: out_shape.w,
                    });
                    if let Some(geom) = depthwise {
                        // `cols` holds the layer's input (see the forward pass).
                        if param_grads {
                            grads.b[i] = dy.par_chunks(np).map(|row| row.iter().fold(T::ZERO, |a, &v| a + v)).collect();
                            depthwise::backward_weight(&cols, geom, &dy, &mut grads.w[i]);
                        }
                        self.give(cols);
                        if need_dx(0) {
                            let dx = depthwise::backward_input(&dy, geom, &self.w[i]);
                            vec![Act { data: dx, layout: Layout::Spatial(in_shape) }]
                        } else {
                            vec![]
                        }
                    } else {
                        if param_grads {
                            grads.b[i] = dy.par_chunks(np).map(|row| row.iter().fold(T::ZERO, |a, &v| a + v)).collect();
                            for g in 0..groups {
                                // dW[OC×K] = dY[OC×NP] · colsᵀ
                                gemm(
                                    ocg,
                                    np,
                                    kk,
                                    T::ONE,
                                    &dy[g * ocg * np..(g + 1) * ocg * np],
                                    np,
                                    1,
                                    &cols[g * kk * np..(g + 1) * kk * np],
                                    1,
                                    np,
                                    T::ZERO,
                                    &mut grads.w[i][g * ocg * kk..(g + 1) * ocg * kk],
                                );
                            }
                        }
                        if need_dx(0) {
                            let mut parts = Vec::with_capacity(groups);
                            // Borrowed out of `self` while `take`/`give` use its scratch pool.
                            let w = std::mem::take(&mut self.w[i]);
                            for g in 0..groups {
                                let dyg = &dy[g * ocg * np..(g + 1) * ocg * np];
                                let wg = &w[g * ocg * kk..(g + 1) * ocg * kk];
                                let fused = pad.as_uniform().and_then(|p| {
                                    let geom =
                                        ConvGeom { n, input: gs, k, stride, pad: p, oh: out_shape.h, ow: out_shape.w };
                                    T::conv_backward_input(dyg, geom, wg)
                                });
                                parts.push(match fused {
                                    Some(dx) => dx,
                                    None => {
                                        // The fused forward kept no im2col matrix: a scratch buffer of its size.
                                        let mut dcols = self.take(kk * np);
                                        // dcols[K×NP] = Wᵀ · dY (beta 0: the old contents are overwritten)
                                        gemm(kk, ocg, np, T::ONE, wg, 1, kk, dyg, np, 1, T::ZERO, &mut dcols);
                                        let dx = col2im(&dcols, n, gs, k, stride, pad, out_shape.h, out_shape.w);
                                        self.give(dcols);
                                        dx
                                    }
                                });
                            }
                            self.w[i] = w;
                            self.give(cols);
                            let dx = if groups == 1 { parts.pop().expect("one group") } else { parts.concat() };
                            debug_assert_eq!(dx.len(), in_shape.c * plane);
                            vec![Act { data: dx, layout: Layout::Spatial(in_shape) }]
                        } else {
                            self.give(cols);
                            vec![]
                        }
                    }
                }
                (LayerKind::Linear { out }, Cache::Linear { x, from }) => {
                    let dy = to_flat(grad, n);
                    let f = x.len() / n.max(1);
                    if param_grads {
                        // dW[out×f] = dYᵀ · X
                        gemm(out, n, f, T::ONE, &dy, 1, out, &x, f, 1, T::ZERO, &mut grads.w[i]);
                        let mut db = vec![T::ZERO; out];
                        for row in dy.chunks(out) {
                            for (a, &v) in db.iter_mut().zip(row) {
                                *a += v;
                            }
                        }
                        grads.b[i] = db;
                    }
                    if need_dx(0) {
                        let mut dx = vec![T::ZERO; n * f];
                        gemm(n, out, f, T::ONE, &dy, out, 1, &self.w[i], f, 1, T::ZERO, &mut dx);
                        let flat = Act { data: dx, layout: Layout::Flat(f) };
                        vec![match from {
                            Layout::Spatial(s) => Act { data: to_spatial(flat, n, s), layout: from },
                            Layout::Flat(_) => flat,
                        }]
                    } else {
                        vec![]
                    }
                }
                (LayerKind::AvgPool { k, stride, pad, count_include_pad }, Cache::Pool { in_shape }) => {
                    let dy = to_spatial(grad, n, out_shape);
                    let dx = avgpool_backward(&dy, in_shape, Window { k, stride, pad }, count_include_pad, out_shape);
                    vec![Act { data: dx, layout: Layout::Spatial(in_shape) }]
                }
                (LayerKind::GlobalAvgPool, Cache::Pool { in_shape }) => {
                    let dy = to_spatial(grad, n, out_shape);
                    vec![Act { data: global_avgpool_backward(&dy, in_shape), layout: Layout::Spatial(in_shape) }]
                }
                (LayerKind::MaxPool { .. }, Cache::MaxPool { argmax, in_shape }) => {
                    let dy = to_spatial(grad, n, out_shape);
                    vec![Act {
                        data: maxpool_backward(&dy, &argmax, in_shape, out_shape),
                        layout: Layout::Spatial(in_shape),
                    }]
                }
                (LayerKind::BatchNorm { eps }, Cache::BatchNorm { train }) => {
                    let np = n * out_shape.h * out_shape.w;
                    let mut dy = to_spatial(grad, n, out_shape);
                    let bnp = self.bn[i].as_ref().expect("a batch-norm node has its state");
                    match train {
                        Some((xhat, inv_std)) => {
                            let (dg, db) = bn_backward(bnp, &xhat, &inv_std, &mut dy, np);
                            if param_grads {
                                grads.gamma[i] = dg;
                                grads.beta[i] = db;
                            }
                        }
                        // Evaluation: a fixed per-channel affine map, dx = γ/σ·dy.
                        None => bn_eval_backward(bnp, &mut dy, np, eps as f64),
                    }
                    vec![Act { data: dy, layout: Layout::Spatial(out_shape) }]
                }
                (LayerKind::Relu | LayerKind::Clip { .. }, Cache::Clamp { y }) => {
                    let (lo, hi) = match kind {
                        LayerKind::Clip { min, max } => (T::from_f32(min), Some(T::from_f32(max))),
                        _ => (T::ZERO, None),
                    };
                    let mut d = grad.data;
                    d.par_chunks_mut(4096).zip(y.par_chunks(4096)).for_each(|(dc, yc)| {
                        // A select, not a conditional store, so the loop vectorizes.
                        match hi {
                            None => {
                                for (dv, &yv) in dc.iter_mut().zip(yc) {
                                    *dv = if yv <= lo { T::ZERO } else { *dv };
                                }
                            }
                            Some(hi) => {
                                for (dv, &yv) in dc.iter_mut().zip(yc) {
                                    *dv = if yv <= lo || yv >= hi { T::ZERO } else { *dv };
                                }
                            }
                        }
                    });
                    vec![Act { data: d, layout: grad.layout }]
                }
                (LayerKind::Add, Cache::Add) => {
                    let copy = Act { data: grad.data.clone(), layout: grad.layout };
                    vec![copy, grad]
                }
                (LayerKind::Concat, Cache::Concat { channels }) => {
                    let dy = to_spatial(grad, n, out_shape);
                    let per = n * out_shape.h * out_shape.w;
                    let mut at = 0;
                    channels
                        .iter()
                        .map(|&c| {
                            let part = dy[at * per..(at + c) * per].to_vec();
                            at += c;
                            Act { data: part, layout: Layout::Spatial(Shape::new(c, out_shape.h, out_shape.w)) }
                        })
                        .collect()
                }
                (LayerKind::Flatten, Cache::Flatten { from }) => vec![match from {
                    Layout::Spatial(s) => Act { data: to_spatial(grad, n, s), layout: from },
                    Layout::Flat(_) => grad,
                }],
                _ => unreachable!("cache entries are pushed in layer order"),
            };
            for (k, dx) in dxs.into_iter().enumerate() {
                if need_dx(k) {
                    accumulate(&mut acc[slot(srcs[k])], dx, n);
                }
            }
        }
        let input_grad = want_input_grad.then(|| {
            let s = self.arch.input;
            let a = acc[0].take().expect("the input reaches the loss");
            let g = cnhw_to_nchw(&to_spatial(a, n, s), n, s);
            // The normalization inside the model: ∂z/∂x = 1/std per channel.
            match &self.arch.normalize {
                Some(norm) => normalize_t(norm, &g, s, true),
                None => g,
            }
        });
        Backward { losses, correct, grads, input_grad }
    }
}

/// The value slot of a source: 0 for the model input, `j + 1` for node `j`.
fn slot(s: Source) -> usize {
    match s {
        Source::Input => 0,
        Source::Node(j) => j + 1,
    }
}

/// Add a gradient contribution to a slot (the first one is moved in; later ones are added in
/// the first one's layout).
fn accumulate<T: Real>(acc: &mut Option<Act<T>>, dx: Act<T>, n: usize) {
    match acc {
        None => *acc = Some(dx),
        Some(a) => {
            let d = to_layout(dx, n, layout_shape(a.layout), a.layout);
            a.data.par_chunks_mut(4096).zip(d.par_chunks(4096)).for_each(|(ac, dc)| {
                for (v, &w) in ac.iter_mut().zip(dc) {
                    *v += w;
                }
            });
        }
    }
}

fn layout_shape(l: Layout) -> Shape {
    match l {
        Layout::Spatial(s) => s,
        Layout::Flat(f) => Shape::new(f, 1, 1),
    }
}

/// `a`'s values in `layout` (`shape` is the value's shape).
fn to_layout<T: Real>(a: Act<T>, n: usize, shape: Shape, layout: Layout) -> Vec<T> {
    match layout {
        Layout::Spatial(_) => to_spatial(a, n, shape),
        Layout::Flat(_) => to_flat(a, n),
    }
}

/// `(x − mean_c)/std_c` of an NCHW batch, or with `grad` the pull-back `g/std_c`.
fn normalize_t<T: Real>(norm: &crate::model::arch::Normalization, x: &[T], inp: Shape, grad: bool) -> Vec<T> {
    let plane = inp.h * inp.w;
    let mut out = x.to_vec();
    for (p, chunk) in out.chunks_mut(plane).enumerate() {
        let (m, sd) = norm.channel(p % inp.c);
        let (m, sd) = (T::from_f64(m as f64), T::from_f64(sd as f64));
        for v in chunk {
            *v = if grad { *v / sd } else { (*v - m) / sd };
        }
    }
    out
}

fn spatial<T>(l: Layout, data: &[T], n: usize) -> Shape {
    match l {
        Layout::Spatial(s) => s,
        Layout::Flat(f) => {
            assert_eq!(data.len(), n * f);
            Shape::new(f, 1, 1)
        }
    }
}

/// `[C][N][H][W]` → `[N][C·H·W]`; `[N][F]` unchanged.
fn to_flat<T: Real>(a: Act<T>, n: usize) -> Vec<T> {
    match a.layout {
        Layout::Flat(_) => a.data,
        Layout::Spatial(s) => cnhw_to_nchw(&a.data, n, s),
    }
}

/// Any layout → `[C][N][H][W]` with the given shape.
fn to_spatial<T: Real>(a: Act<T>, n: usize, s: Shape) -> Vec<T> {
    match a.layout {
        Layout::Spatial(_) => a.data,
        Layout::Flat(_) => nchw_to_cnhw(&a.data, n, s),
    }
}

fn nchw_to_cnhw<T: Real>(x: &[T], n: usize, s: Shape) -> Vec<T> {
    let hw = s.h * s.w;
    let mut out = vec![T::ZERO; x.len()];
    for c in 0..s.c {
        for b in 0..n {
            out[(c * n + b) * hw..(c * n + b + 1) * hw].copy_from_slice(&x[(b * s.c + c) * hw..(b * s.c + c + 1) * hw]);
        }
    }
    out
}

fn cnhw_to_nchw<T: Real>(x: &[T], n: usize, s: Shape) -> Vec<T> {
    let hw = s.h * s.w;
    let mut out = vec![T::ZERO; x.len()];
    for c in 0..s.c {
        for b in 0..n {
            out[(b * s.c + c) * hw..(b * s.c + c + 1) * hw].copy_from_slice(&x[(c * n + b) * hw..(c * n + b + 1) * hw]);
        }
    }
    out
}

/// cols[(ic,ky,kx)][(b,oy,ox)] = x[ic][b][oy·stride+ky−top][ox·stride+kx−left] (0 outside).
/// Writes every element of `cols`.
#[allow(clippy::too_many_arguments)]
pub(super) fn im2col<T: Real>(
    x: &[T],
    n: usize,
    s: Shape,
    k: usize,
    stride: usize,
    pad: Pads,
    oh: usize,
    ow: usize,
    cols: &mut [T],
) {
    let np = n * oh * ow;
    let (pt, pl) = (pad.top, pad.left);
    assert_eq!(cols.len(), s.c * k * k * np);
    cols.par_chunks_mut(np).enumerate().for_each(|(r, row)| {
        let (ic, ky, kx) = (r / (k * k), (r / k) % k, r % k);
        for b in 0..n {
            let plane = &x[(ic * n + b) * s.h * s.w..(ic * n + b + 1) * s.h * s.w];
            for oy in 0..oh {
                let iy = (oy * stride + ky) as isize - pt as isize;
                let dst = &mut row[(b * oh + oy) * ow..(b * oh + oy + 1) * ow];
                if iy < 0 || iy >= s.h as isize {
                    dst.fill(T::ZERO);
                    continue;
                }
                let src = &plane[iy as usize * s.w..(iy as usize + 1) * s.w];
                if stride == 1 {
                    // Valid ox form one run: ix = ox + kx − pad ∈ [0, w).
                    let lo = pl.saturating_sub(kx).min(ow);
                    let hi = (s.w + pl).saturating_sub(kx).clamp(lo, ow);
                    dst[..lo].fill(T::ZERO);
                    dst[lo..hi].copy_from_slice(&src[lo + kx - pl..hi + kx - pl]);
                    dst[hi..].fill(T::ZERO);
                    continue;
                }
                for (ox, d) in dst.iter_mut().enumerate() {
                    let ix = (ox * stride + kx) as isize - pl as isize;
                    *d = if ix >= 0 && ix < s.w as isize { src[ix as usize] } else { T::ZERO };
                }
            }
        }
    });
}

/// Adjoint of `im2col`: scatter-add the column gradients back to `[C][N][H][W]`. Each input
/// element receives its contributions in (ky, kx) order, one per kernel tap.
#[allow(clippy::too_many_arguments)]
pub(super) fn col2im<T: Real>(
    dcols: &[T],
    n: usize,
    s: Shape,
    k: usize,
    stride: usize,
    pad: Pads,
    oh: usize,
    ow: usize,
) -> Vec<T> {
    let np = n * oh * ow;
    let (pt, pl) = (pad.top, pad.left);
    let mut dx = vec![T::ZERO; s.c * n * s.h * s.w];
    dx.par_chunks_mut(n * s.h * s.w).enumerate().for_each(|(ic, dxc)| {
        for ky in 0..k {
            // Output rows whose input row iy = oy·stride + ky − pad lies inside the image.
            let oy_lo = pt.saturating_sub(ky).div_ceil(stride).min(oh);
            let oy_hi = (s.h + pt).saturating_sub(ky).div_ceil(stride).clamp(oy_lo, oh);
            for kx in 0..k {
                let r = (ic * k + ky) * k + kx;
                let row = &dcols[r * np..(r + 1) * np];
                if stride == 1 {
                    // Valid ox form one run: ix = ox + kx − pad ∈ [0, w).
                    let lo = pl.saturating_sub(kx).min(ow);
                    let hi = (s.w + pl).saturating_sub(kx).clamp(lo, ow);
                    let (len, shift) = (hi - lo, lo + kx - pl);
                    for b in 0..n {
                        let plane = &mut dxc[b * s.h * s.w..(b + 1) * s.h * s.w];
                        let src_b = &row[b * oh * ow..(b + 1) * oh * ow];
                        for oy in oy_lo..oy_hi {
                            let iy = oy + ky - pt;
                            let dst = &mut plane[iy * s.w + shift..iy * s.w + shift + len];
                            let src = &src_b[oy * ow + lo..oy * ow + lo + len];
                            for (d, &v) in dst.iter_mut().zip(src) {
                                *d += v;
                            }
                        }
                    }
                    continue;
                }
                for b in 0..n {
                    let plane = &mut dxc[b * s.h * s.w..(b + 1) * s.h * s.w];
                    for oy in oy_lo..oy_hi {
                        let iy = oy * stride + ky - pt;
                        let src = &row[(b * oh + oy) * ow..(b * oh + oy + 1) * ow];
                        let dst = &mut plane[iy * s.w..(iy + 1) * s.w];
                        for (ox, &v) in src.iter().enumerate() {
                            let ix = (ox * stride + kx) as isize - pl as isize;
                            if ix >= 0 && ix < s.w as isize {
                                dst[ix as usize] += v;
                            }
                        }
                    }
                }
            }
        }
    });
    dx
}

/// A pooling window: square, one stride, zero padding.
#[derive(Debug, Clone, Copy)]
struct Window {
    k: usize,
    stride: usize,
    pad: Pads,
}

impl Window {
    /// The input rows (or columns) under output position `o`, clipped to `0..size`.
    fn span(&self, o: usize, before: usize, size: usize) -> std::ops::Range<usize> {
        let start = (o * self.stride) as isize - before as isize;
        let lo = start.max(0) as usize;
        let hi = ((start + self.k as isize).max(0) as usize).min(size);
        lo..hi.max(lo)
    }
}

fn avgpool_forward<T: Real>(x: &[T], s: Shape, win: Window, count_include_pad: bool, o: Shape) -> Vec<T> {
    let Window { k, stride, pad } = win;
    let inv = T::ONE / T::from_f64((k * k) as f64);
    let mut y = vec![T::ZERO; x.len() / (s.h * s.w) * o.h * o.w];
    y.par_chunks_mut(o.h * o.w).enumerate().for_each(|(p, yp)| {
        let xp = &x[p * s.h * s.w..(p + 1) * s.h * s.w];
        if k == 2 && stride == 2 && pad == Pads::default() {
            // Every chain model's pool, without the generic window loops (same sum order, from 0).
            for (oy, yr) in yp.chunks_exact_mut(o.w).enumerate() {
                let (r0, r1) = (&xp[2 * oy * s.w..][..2 * o.w], &xp[(2 * oy + 1) * s.w..][..2 * o.w]);
                for (ox, v) in yr.iter_mut().enumerate() {
                    *v = (T::ZERO + r0[2 * ox] + r0[2 * ox + 1] + r1[2 * ox] + r1[2 * ox + 1]) * inv;
                }
            }
            return;
        }
        for oy in 0..o.h {
            let rows = win.span(oy, pad.top, s.h);
            for ox in 0..o.w {
                let cols = win.span(ox, pad.left, s.w);
                let mut acc = T::ZERO;
                for iy in rows.clone() {
                    for ix in cols.clone() {
                        acc += xp[iy * s.w + ix];
                    }
                }
                let count = if count_include_pad { k * k } else { rows.len() * cols.len() };
                yp[oy * o.w + ox] = if count == k * k { acc * inv } else { acc / T::from_f64(count as f64) };
            }
        }
    });
    y
}

fn avgpool_backward<T: Real>(dy: &[T], s: Shape, win: Window, count_include_pad: bool, o: Shape) -> Vec<T> {
    let Window { k, stride, pad } = win;
    let inv = T::ONE / T::from_f64((k * k) as f64);
    let mut dx = vec![T::ZERO; dy.len() / (o.h * o.w) * s.h * s.w];
    dx.par_chunks_mut(s.h * s.w).enumerate().for_each(|(p, dxp)| {
        let dyp = &dy[p * o.h * o.w..(p + 1) * o.h * o.w];
        if k == 2 && stride == 2 && pad == Pads::default() {
            // Disjoint windows: each input receives one share, added to its 0.
            for (oy, dr) in dyp.chunks_exact(o.w).enumerate() {
                let (r0, r1) = dxp.split_at_mut((2 * oy + 1) * s.w);
                let (r0, r1) = (&mut r0[2 * oy * s.w..][..2 * o.w], &mut r1[..2 * o.w]);
                for (ox, &d) in dr.iter().enumerate() {
                    let g = d * inv;
                    r0[2 * ox] += g;
                    r0[2 * ox + 1] += g;
                    r1[2 * ox] += g;
                    r1[2 * ox + 1] += g;
                }
            }
            return;
        }
        for oy in 0..o.h {
            let rows = win.span(oy, pad.top, s.h);
            for ox in 0..o.w {
                let cols = win.span(ox, pad.left, s.w);
                let count = if count_include_pad { k * k } else { rows.len() * cols.len() };
                let d = dyp[oy * o.w + ox];
                let g = if count == k * k { d * inv } else { d / T::from_f64(count as f64) };
                for iy in rows.clone() {
                    for ix in cols.clone() {
                        dxp[iy * s.w + ix] += g;
                    }
                }
            }
        }
    });
    dx
}

/// Mean of every `[h][w]` plane (one per channel and image).
fn global_avgpool_forward<T: Real>(x: &[T], s: Shape) -> Vec<T> {
    let hw = s.h * s.w;
    let inv = T::ONE / T::from_f64(hw as f64);
    x.par_chunks(hw).map(|p| p.iter().fold(T::ZERO, |a, &v| a + v) * inv).collect()
}

fn global_avgpool_backward<T: Real>(dy: &[T], s: Shape) -> Vec<T> {
    let hw = s.h * s.w;
    let inv = T::ONE / T::from_f64(hw as f64);
    let mut dx = vec![T::ZERO; dy.len() * hw];
    dx.par_chunks_mut(hw).zip(dy.par_iter()).for_each(|(p, &d)| p.fill(d * inv));
    dx
}

/// Max of each window and where it was (index in the input plane; the first maximum in
/// row-major window order wins a tie, as in PyTorch and ONNX Runtime).
fn maxpool_forward<T: Real>(x: &[T], s: Shape, win: Window, o: Shape) -> (Vec<T>, Vec<u32>) {
    let planes = x.len() / (s.h * s.w);
    let mut y = vec![T::ZERO; planes * o.h * o.w];
    let mut arg = vec![0u32; planes * o.h * o.w];
    y.par_chunks_mut(o.h * o.w).zip(arg.par_chunks_mut(o.h * o.w)).enumerate().for_each(|(p, (yp, ap))| {
        let xp = &x[p * s.h * s.w..(p + 1) * s.h * s.w];
        for oy in 0..o.h {
            let rows = win.span(oy, win.pad.top, s.h);
            for ox in 0..o.w {
                let cols = win.span(ox, win.pad.left, s.w);
                let mut best = rows.start * s.w + cols.start;
                for iy in rows.clone() {
                    for ix in cols.clone() {
                        let at = iy * s.w + ix;
                        if xp[at] > xp[best] {
                            best = at;
                        }
                    }
                }
                yp[oy * o.w + ox] = xp[best];
                ap[oy * o.w + ox] = best as u32;
            }
        }
    });
    (y, arg)
}

/// Each output's gradient to the input position that won its window.
fn maxpool_backward<T: Real>(dy: &[T], arg: &[u32], s: Shape, o: Shape) -> Vec<T> {
    let mut dx = vec![T::ZERO; dy.len() / (o.h * o.w) * s.h * s.w];
    dx.par_chunks_mut(s.h * s.w).zip(dy.par_chunks(o.h * o.w).zip(arg.par_chunks(o.h * o.w))).for_each(
        |(dxp, (dyp, ap))| {
            for (&d, &a) in dyp.iter().zip(ap) {
                dxp[a as usize] += d;
            }
        },
    );
    dx
}

/// Normalise each channel row of `y` (`[C][np]`) with batch statistics; returns (x̂, 1/σ).
fn bn_train_forward<T: Real>(bn: &mut BatchNorm<T>, y: &mut [T], np: usize, eps: f64) -> (Vec<T>, Vec<T>) {
    let stats: Vec<(f64, f64)> = y
        .par_chunks(np)
        .map(|row| {
            let mean = row.iter().map(|v| v.to_f64()).sum::<f64>() / np as f64;
            let var = row.iter().map(|v| (v.to_f64() - mean).powi(2)).sum::<f64>() / np as f64;
            (mean, var)
        })
        .collect();
    let mut xhat = vec![T::ZERO; y.len()];
    let inv_std: Vec<T> = stats.iter().map(|&(_, v)| T::from_f64(1.0 / (v + eps).sqrt())).collect();
    let (gamma, beta) = (&bn.gamma, &bn.beta);
    y.par_chunks_mut(np).zip(xhat.par_chunks_mut(np)).enumerate().for_each(|(c, (row, xh))| {
        let m = T::from_f64(stats[c].0);
        for (v, h) in row.iter_mut().zip(xh.iter_mut()) {
            *h = (*v - m) * inv_std[c];
            *v = gamma[c] * *h + beta[c];
        }
    });
    let unbias = if np > 1 { np as f64 / (np - 1) as f64 } else { 1.0 };
    for (c, &(m, v)) in stats.iter().enumerate() {
        bn.running_mean[c] = T::from_f64((1.0 - BN_MOMENTUM) * bn.running_mean[c].to_f64() + BN_MOMENTUM * m);
        bn.running_var[c] = T::from_f64((1.0 - BN_MOMENTUM) * bn.running_var[c].to_f64() + BN_MOMENTUM * v * unbias);
    }
    (xhat, inv_std)
}

fn bn_eval_forward<T: Real>(bn: &BatchNorm<T>, y: &mut [T], np: usize, eps: f64) {
    y.par_chunks_mut(np).enumerate().for_each(|(c, row)| {
        let s = bn.gamma[c].to_f64() / (bn.running_var[c].to_f64() + eps).sqrt();
        let (s, m, b) = (T::from_f64(s), bn.running_mean[c], bn.beta[c]);
        for v in row {
            *v = (*v - m) * s + b;
        }
    });
}

/// In place: dy becomes γ/σ·dy, the gradient through the evaluation-mode (fixed) affine map.
fn bn_eval_backward<T: Real>(bn: &BatchNorm<T>, dy: &mut [T], np: usize, eps: f64) {
    dy.par_chunks_mut(np).enumerate().for_each(|(c, row)| {
        let s = T::from_f64(bn.gamma[c].to_f64() / (bn.running_var[c].to_f64() + eps).sqrt());
        for v in row {
            *v = *v * s;
        }
    });
}

/// In place: dy (w.r.t. BN output) becomes the gradient w.r.t. BN input. Returns (dγ, dβ).
fn bn_backward<T: Real>(bn: &BatchNorm<T>, xhat: &[T], inv_std: &[T], dy: &mut [T], np: usize) -> (Vec<T>, Vec<T>) {
    let r: Vec<(T, T)> = dy
        .par_chunks_mut(np)
        .zip(xhat.par_chunks(np))
        .enumerate()
        .map(|(c, (d, xh))| {
            let mut sd = 0f64;
            let mut sdx = 0f64;
            for (&dv, &h) in d.iter().zip(xh) {
                sd += dv.to_f64();
                sdx += (dv * h).to_f64();
            }
            // dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂))
            let (md, mdx) = (T::from_f64(sd / np as f64), T::from_f64(sdx / np as f64));
            let g = bn.gamma[c] * inv_std[c];
            for (dv, &h) in d.iter_mut().zip(xh) {
                *dv = g * (*dv - md - h * mdx);
            }
            (T::from_f64(sdx), T::from_f64(sd))
        })
        .collect();
    r.into_iter().unzip()
}

/// Target size of a task's largest im2col buffer. Small enough that a task's activations stay
/// in cache, and well under glibc's largest mmap threshold (32 MiB) so freed buffers are reused
/// instead of being mapped and page-faulted in again on every call.
const TASK_BYTES: usize = 8 << 20;

/// Images per task of [`logits`] / [`input_gradient_head`] on `n` images: as many as keep every
/// layer's im2col buffer near [`TASK_BYTES`] (at least 1, at most 64), and no more than give each
/// rayon thread about four tasks, so a core slowed by other load does not hold up the last one.
fn images_per_task(arch: &Arch, n: usize) -> usize {
    let balanced = n.div_ceil(4 * rayon::current_num_threads()).max(1);
    images_per_task_by_memory(arch).min(balanced)
}

fn images_per_task_by_memory(arch: &Arch) -> usize {
    let shapes = arch.shapes();
    let mut widest = 1;
    for ((l, &o), srcs) in arch.layers.iter().zip(&shapes).zip(arch.sources()) {
        if let LayerKind::Conv { k, groups, .. } = l.kind {
            let s = arch.shape_of(srcs[0], &shapes);
            widest = widest.max(s.c / groups * k * k * o.h * o.w * std::mem::size_of::<f32>());
        }
    }
    (TASK_BYTES / widest).clamp(1, 64)
}

/// `f` on consecutive slices of `n` images, `images_per_task` each, in parallel over rayon with one
/// `Net` per worker task; results in image order. Every per-image output of the engine is
/// independent of which other images share its batch (each GEMM element and each reduction
/// involves one image only, summed in a fixed order), so the split does not change any bit.
fn per_task<R: Send>(
    arch: &Arch,
    params: &Params,
    n: usize,
    f: impl Fn(&mut Net<f32>, std::ops::Range<usize>) -> R + Sync,
) -> Vec<R> {
    let t = images_per_task(arch, n);
    let starts: Vec<usize> = (0..n).step_by(t).collect();
    starts
        .into_par_iter()
        .map_init(|| Net::<f32>::from_params(arch, params), |net, s| f(net, s..(s + t).min(n)))
        .collect()
}

/// Logits (`n × classes`) of an NCHW batch of images in [0,1].
pub fn logits(arch: &Arch, params: &Params, x: &[f32], n: usize) -> Vec<f32> {
    let per = arch.input.numel();
    assert_eq!(x.len(), n * per, "logits: x holds {} values, expected {n}×{per}", x.len());
    per_task(arch, params, n, |net, r| net.forward(&x[r.start * per..r.end * per], r.len(), Mode::Eval)).concat()
}

/// Per-image cross-entropy loss and its gradient w.r.t. that image (NCHW, same shape as `x`),
/// generic over the float type.
pub fn input_gradient_t<T: Real>(arch: &Arch, params: &Params, x: &[T], labels: &[u8]) -> (Vec<T>, Vec<T>) {
    Net::<T>::from_params(arch, params).input_grad_head(x, labels, None)
}

/// Per-image cross-entropy loss and dLoss/dx (each image's own loss; same shape as `x`).
pub fn input_gradient(arch: &Arch, params: &Params, x: &[f32], labels: &[u8]) -> (Vec<f32>, Vec<f32>) {
    input_gradient_head(arch, params, x, labels, None)
}

/// [`input_gradient`] with the loss on `head` logits (`n × classes`, e.g. the accelerator's)
/// and the backward pass through the float model at `x` (BPDA; see [`Net::backward_head`]).
pub fn input_gradient_head(
    arch: &Arch,
    params: &Params,
    x: &[f32],
    labels: &[u8],
    head: Option<&[f32]>,
) -> (Vec<f32>, Vec<f32>) {
    let per = arch.input.numel();
    assert_eq!(x.len(), labels.len() * per, "input_gradient: x and labels disagree");
    let parts = per_task(arch, params, labels.len(), |net, r| {
        let h = head.map(|h| &h[r.start * arch.classes..r.end * arch.classes]);
        net.input_grad_head(&x[r.start * per..r.end * per], &labels[r.clone()], h)
    });
    let mut losses = Vec::with_capacity(labels.len());
    let mut grad = Vec::with_capacity(x.len());
    for (l, g) in parts {
        losses.extend(l);
        grad.extend(g);
    }
    (losses, grad)
}

/// Writes a batch's loss gradient at its logits (`n × classes`) into the second slice.
pub type LogitSeed<'a, T> = dyn FnMut(&[T], &mut [T]) + 'a;

/// A per-image loss's gradient at the logits: `(image, its logits, out ∂loss/∂logits)`.
pub type LogitLossGrad<'a> = dyn Fn(usize, &[f32], &mut [f32]) + Sync + 'a;

/// The logits (`head` when given, e.g. the accelerator's, else the float model's) and the input
/// gradient of a per-image loss whose gradient at image `i`'s logits `z` is written by
/// `dloss(i, z, d)` into `d`, taken back through the float model at `x` (see
/// [`Net::input_grad_seeded`]). Independent of the thread count, as [`input_gradient`].
pub fn input_gradient_seeded(
    arch: &Arch,
    params: &Params,
    x: &[f32],
    head: Option<&[f32]>,
    dloss: &LogitLossGrad<'_>,
) -> (Vec<f32>, Vec<f32>) {
    let per = arch.input.numel();
    let classes = arch.classes;
    assert!(per > 0 && x.len().is_multiple_of(per), "input_gradient_seeded: x is not whole images");
    let n = x.len() / per;
    let parts = per_task(arch, params, n, |net, r| {
        let h = head.map(|h| &h[r.start * classes..r.end * classes]);
        let mut seed = |z: &[f32], d: &mut [f32]| {
            for (j, (zi, di)) in z.chunks_exact(classes).zip(d.chunks_exact_mut(classes)).enumerate() {
                dloss(r.start + j, zi, di);
            }
        };
        net.input_grad_seeded(&x[r.start * per..r.end * per], r.len(), h, &mut seed)
    });
    let mut logits = Vec::with_capacity(n * classes);
    let mut grad = Vec::with_capacity(x.len());
    for (z, g) in parts {
        logits.extend(z);
        grad.extend(g);
    }
    (logits, grad)
}

/// Deterministic initialisation: weights uniform in ±√(6/fan_in) (He), biases 0; batch-norm
/// nodes the identity (γ 1, β 0, running mean 0, running variance 1), drawing nothing.
pub fn init_params(arch: &Arch, rng: &mut impl rand::Rng) -> Params {
    let bn_nodes: std::collections::HashSet<&str> =
        arch.layers.iter().filter(|l| matches!(l.kind, LayerKind::BatchNorm { .. })).map(|l| l.name.as_str()).collect();
    let mut p = Params::default();
    for spec in arch.params() {
        let mut t = Tensor::zeros(&spec.shape);
        let node = spec.name.rsplit_once('.').map_or("", |(node, _)| node);
        if bn_nodes.contains(node) {
            if spec.name.ends_with(".weight") || spec.name.ends_with(".running_var") {
                t.data.fill(1.0);
            }
        } else if spec.name.ends_with(".weight") {
            let a = (6.0 / spec.fan_in as f64).sqrt() as f32;
            for v in &mut t.data {
                *v = rng.gen_range(-a..a);
            }
        }
        p.tensors.insert(spec.name, t);
    }
    p
}
