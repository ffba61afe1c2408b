//! Named parameter tensors (PyTorch names and layouts: conv OIHW, linear out×in) and the plain
//! per-image float forward pass every faster engine is tested against.

use super::arch::{Arch, LayerKind, Shape};
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
    let mut cur: Vec<f32> = x.to_vec();
    if let Some(norm) = &arch.normalize {
        norm.forward(&mut cur, arch.input);
    }
    let mut s: Shape = arch.input;
    let mut outs = Vec::with_capacity(arch.layers.len());
    for (i, l) in arch.layers.iter().enumerate() {
        let o = shapes[i];
        let next = match l.kind {
            LayerKind::Conv { k, stride, pad, .. } => {
                let (w, b) = params.layer(&l.name);
                let mut y = vec![0f32; o.numel()];
                for oc in 0..o.c {
                    for oy in 0..o.h {
                        for ox in 0..o.w {
                            let mut acc = b.data[oc];
                            for ic in 0..s.c {
                                for ky in 0..k {
                                    for kx in 0..k {
                                        let iy = (oy * stride + ky) as isize - pad as isize;
                                        let ix = (ox * stride + kx) as isize - pad as isize;
                                        if iy < 0 || ix < 0 || iy >= s.h as isize || ix >= s.w as isize {
                                            continue;
                                        }
                                        let xv = cur[(ic * s.h + iy as usize) * s.w + ix as usize];
                                        acc += xv * w.data[((oc * s.c + ic) * k + ky) * k + kx];
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
            LayerKind::AvgPool { k, stride } => {
                let mut y = vec![0f32; o.numel()];
                for c in 0..o.c {
                    for oy in 0..o.h {
                        for ox in 0..o.w {
                            let mut acc = 0f32;
                            for ky in 0..k {
                                for kx in 0..k {
                                    acc += cur[(c * s.h + oy * stride + ky) * s.w + ox * stride + kx];
                                }
                            }
                            y[(c * o.h + oy) * o.w + ox] = acc / (k * k) as f32;
                        }
                    }
                }
                y
            }
            LayerKind::Relu => cur.iter().map(|&v| v.max(0.0)).collect(),
        };
        outs.push(next.clone());
        cur = next;
        s = o;
    }
    outs
}
