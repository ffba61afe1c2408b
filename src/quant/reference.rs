//! Per-image integer oracle: direct convolution loops (groups and padding read straight from the
//! definition), one `Multiplier::mul` per MAC with the ALWANN per-MAC correction
//! `acc += ±P(q_x, w) − z_w·q_x − z_x·w + z_x·z_w`, the graph walked node by node. Slow and
//! plain; the accelerator engines (im2col, group splitting, precomputed correction sums, folds)
//! are tested against it.

use super::gemm::{GemmKind, QGemm};
use super::model::{QLayer, QuantModel};
use crate::model::Source;
use crate::mult::Multiplier;

/// Last-layer int32 accumulators of one image. `approx` serves layers marked approximate,
/// `exact` the others.
pub fn forward(qm: &QuantModel, approx: &dyn Multiplier, exact: &dyn Multiplier, x: &[f32]) -> Vec<i32> {
    forward_nodes(qm, approx, exact, x).pop().expect("a model has nodes")
}

/// Every node's integer output for one image (codes; the logits layer's accumulators).
pub fn forward_nodes(qm: &QuantModel, approx: &dyn Multiplier, exact: &dyn Multiplier, x: &[f32]) -> Vec<Vec<i32>> {
    let input = qm.quantize_input(x);
    let mut vals: Vec<Vec<i32>> = Vec::with_capacity(qm.layers.len());
    for (i, srcs) in qm.arch.sources().into_iter().enumerate() {
        let ins: Vec<&[i32]> = srcs
            .iter()
            .map(|s| match s {
                Source::Input => input.as_slice(),
                Source::Node(j) => vals[*j].as_slice(),
            })
            .collect();
        vals.push(node_from(qm, i, &srcs, &ins, approx, exact));
    }
    vals
}

/// Node `i` alone on the given integer inputs (one per source of the node, one image): how a
/// single node is checked against another implementation fed the same codes.
pub fn node(qm: &QuantModel, i: usize, inputs: &[&[i32]], approx: &dyn Multiplier, exact: &dyn Multiplier) -> Vec<i32> {
    node_from(qm, i, &qm.arch.sources()[i], inputs, approx, exact)
}

fn node_from(
    qm: &QuantModel,
    i: usize,
    srcs: &[Source],
    inputs: &[&[i32]],
    approx: &dyn Multiplier,
    exact: &dyn Multiplier,
) -> Vec<i32> {
    let range = qm.act_range();
    match &qm.layers[i] {
        QLayer::Gemm(g) => gemm(qm, g, if g.approximate { approx } else { exact }, inputs[0], range),
        _ => {
            let mut out = Vec::new();
            qm.post(i, srcs, inputs, range, &mut out);
            out
        }
    }
}

fn gemm(qm: &QuantModel, g: &QGemm, m: &dyn Multiplier, cur: &[i32], range: (i32, i32)) -> Vec<i32> {
    let scheme = qm.options.scheme;
    let zx = g.input.zero_point;
    let s = g.in_shape;
    let o = g.out_shape;
    let mut out = vec![0i32; o.numel()];
    for oc in 0..g.nf {
        let zw = g.w_params[oc].zero_point;
        for oy in 0..o.h {
            for ox in 0..o.w {
                let mut acc = g.bias[oc];
                let mut mac = |q: i32, w: i32| {
                    let (wc, neg) = scheme.wgt_operand(w);
                    let p = m.mul(scheme.act_operand(q) as u32, wc as u32);
                    let p = if neg { -p } else { p };
                    acc = acc.wrapping_add(p - zw * q - zx * w + zx * zw);
                };
                match g.kind {
                    GemmKind::Linear => {
                        for (j, &q) in cur.iter().enumerate() {
                            mac(q, g.w[oc * g.k + j]);
                        }
                    }
                    GemmKind::Conv { k, stride, pad, groups } => {
                        // Output channel `oc` reads the input channels of its group only.
                        let cg = s.c / groups;
                        let first = oc / (g.nf / groups) * cg;
                        for ic in 0..cg {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let iy = (oy * stride + ky) as isize - pad.top as isize;
                                    let ix = (ox * stride + kx) as isize - pad.left as isize;
                                    let inside = iy >= 0 && ix >= 0 && iy < s.h as isize && ix < s.w as isize;
                                    // Padding is the code z_x and is multiplied like any pixel.
                                    let q = if inside {
                                        cur[((first + ic) * s.h + iy as usize) * s.w + ix as usize]
                                    } else {
                                        zx
                                    };
                                    mac(q, g.w[((oc * cg + ic) * k + ky) * k + kx]);
                                }
                            }
                        }
                    }
                }
                out[(oc * o.h + oy) * o.w + ox] = match g.output {
                    None => acc,
                    Some(_) => g.requantize(acc, oc, range),
                };
            }
        }
    }
    out
}
