//! Named parameter tensors (PyTorch names and layouts: conv OIHW, linear out×in) and the plain
//! per-image float forward pass every faster engine is tested against.

use super::arch::{Arch, LayerKind, Source};
use indexmap::IndexMap;

/// A dense f32 tensor, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Elements in row-major order.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A tensor of `shape` filled with 0.
    pub fn zeros(shape: &[usize]) -> Tensor {
        Tensor { shape: shape.to_vec(), data: vec![0.0; shape.iter().product()] }
    }
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }
}

/// All parameters of a model, in `Arch::params()` order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Params {
    /// Tensors by PyTorch name, in `Arch::params()` order.
    pub tensors: IndexMap<String, Tensor>,
}

impl Params {
    /// Zero-initialised parameters with the shapes the architecture asks for.
    pub fn zeros(arch: &Arch) -> Params {
        let tensors = arch.params().into_iter().map(|p| (p.name, Tensor::zeros(&p.shape))).collect();
        Params { tensors }
    }

    /// The tensor named `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    /// Weight and bias of a conv or linear layer; panics if absent (construct `Params` from the
    /// same `Arch`, which guarantees presence).
    pub fn layer(&self, layer: &str) -> (&Tensor, &Tensor) {
        (&self.tensors[&format!("{layer}.weight")], &self.tensors[&format!("{layer}.bias")])
    }
}

/// Reference float forward pass of one image (`x.len() == arch.input.numel()`, CHW).
/// Returns the output of every layer (`out[i]` = output of `arch.layers[i]`); the last entry is the
/// logits. Direct loops, no tricks: it is the oracle, not the fast path.
pub fn forward_reference(arch: &Arch, params: &Params, x: &[f32]) -> Vec<Vec<f32>> {
    assert_eq!(x.len(), arch.input.numel(), "input size");
    let shapes = arch.shapes();
    let mut input: Vec<f32> = x.to_vec();
    if let Some(norm) = &arch.normalize {
        norm.forward(&mut input, arch.input);
    }
    let mut outs: Vec<Vec<f32>> = Vec::with_capacity(arch.layers.len());
    for ((l, srcs), &o) in arch.layers.iter().zip(arch.sources()).zip(&shapes) {
        let value = |s: Source| match s {
            Source::Input => &input[..],
            Source::Node(j) => &outs[j][..],
        };
        let cur = value(srcs[0]);
        let s = arch.shape_of(srcs[0], &shapes);
        // Input (c, y, x) with padding `p`: `None` outside the image.
        let at = |c: usize, y: isize, x: isize| -> Option<f32> {
            (y >= 0 && x >= 0 && y < s.h as isize && x < s.w as isize)
                .then(|| cur[(c * s.h + y as usize) * s.w + x as usize])
        };
        let next = match l.kind {
            LayerKind::Conv { k, stride, pad, groups, .. } => {
                let (w, b) = params.layer(&l.name);
                let (icg, ocg) = (s.c / groups, o.c / groups);
                let mut y = vec![0f32; o.numel()];
                for oc in 0..o.c {
                    let g = oc / ocg;
                    for oy in 0..o.h {
                        for ox in 0..o.w {
                            let mut acc = b.data[oc];
                            for j in 0..icg {
                                for ky in 0..k {
                                    for kx in 0..k {
                                        let iy = (oy * stride + ky) as isize - pad.top as isize;
                                        let ix = (ox * stride + kx) as isize - pad.left as isize;
                                        if let Some(xv) = at(g * icg + j, iy, ix) {
                                            acc += xv * w.data[((oc * icg + j) * k + ky) * k + kx];
                                        }
                                    }
                                }
                            }
                            y[(oc * o.h + oy) * o.w + ox] = acc;
                        }
                    }
                }
                y
            }
            LayerKind::Linear { out } => {
                let (w, b) = params.layer(&l.name);
                let n = cur.len();
                (0..out).map(|j| b.data[j] + (0..n).map(|i| w.data[j * n + i] * cur[i]).sum::<f32>()).collect()
            }
            LayerKind::AvgPool { k, stride, pad, count_include_pad } => {
                let mut y = vec![0f32; o.numel()];
                for c in 0..o.c {
                    for oy in 0..o.h {
                        for ox in 0..o.w {
                            let (mut acc, mut count) = (0f32, 0usize);
                            for ky in 0..k {
                                for kx in 0..k {
                                    let iy = (oy * stride + ky) as isize - pad.top as isize;
                                    let ix = (ox * stride + kx) as isize - pad.left as isize;
                                    if let Some(v) = at(c, iy, ix) {
                                        acc += v;
                                        count += 1;
                                    }
                                }
                            }
                            let div = if count_include_pad { k * k } else { count };
                            y[(c * o.h + oy) * o.w + ox] = acc / div as f32;
                        }
                    }
                }
                y
            }
            LayerKind::MaxPool { k, stride, pad } => {
                let mut y = vec![0f32; o.numel()];
                for c in 0..o.c {
                    for oy in 0..o.h {
                        for ox in 0..o.w {
                            let mut m = f32::NEG_INFINITY;
                            for ky in 0..k {
                                for kx in 0..k {
                                    let iy = (oy * stride + ky) as isize - pad.top as isize;
                                    let ix = (ox * stride + kx) as isize - pad.left as isize;
                                    if let Some(v) = at(c, iy, ix) {
                                        m = m.max(v);
                                    }
                                }
                            }
                            y[(c * o.h + oy) * o.w + ox] = m;
                        }
                    }
                }
                y
            }
            LayerKind::GlobalAvgPool => {
                let hw = s.h * s.w;
                (0..s.c).map(|c| cur[c * hw..(c + 1) * hw].iter().sum::<f32>() / hw as f32).collect()
            }
            LayerKind::BatchNorm { eps } => {
                let t = |suffix: &str| &params.tensors[&format!("{}.{suffix}", l.name)].data;
                let (g, b, m, v) = (t("weight"), t("bias"), t("running_mean"), t("running_var"));
                let hw = s.h * s.w;
                (0..cur.len())
                    .map(|i| {
                        let c = i / hw;
                        (cur[i] - m[c]) / (v[c] + eps).sqrt() * g[c] + b[c]
                    })
                    .collect()
            }
            LayerKind::Relu => cur.iter().map(|&v| v.max(0.0)).collect(),
            LayerKind::Clip { min, max } => cur.iter().map(|&v| v.max(min).min(max)).collect(),
            LayerKind::Add => {
                let other = value(srcs[1]);
                cur.iter().zip(other).map(|(a, b)| a + b).collect()
            }
            LayerKind::Concat => srcs.iter().flat_map(|&s| value(s).iter().copied()).collect(),
            LayerKind::Flatten => cur.to_vec(),
        };
        outs.push(next);
    }
    outs
}
