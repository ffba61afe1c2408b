//! Per-image integer oracle: direct convolution loops, one `Multiplier::mul` per MAC with the
//! ALWANN per-MAC correction `acc += ±P(q_x, w) − z_w·q_x − z_x·w + z_x·z_w`. Slow and plain; the
//! accelerator engines (im2col, precomputed correction sums, folds) are tested against it.

use super::model::{avg_pool, relu, GemmKind, QLayer, QuantModel};
use crate::mult::Multiplier;

/// Last-layer int32 accumulators of one image. `approx` serves layers marked approximate,
/// `exact` the others.
pub fn forward(qm: &QuantModel, approx: &dyn Multiplier, exact: &dyn Multiplier, x: &[f32]) -> Vec<i32> {
    let scheme = qm.options.scheme;
    let range = qm.act_range();
    let mut cur = qm.quantize_input(x);
    for l in &qm.layers {
        match l {
            QLayer::Gemm(g) => {
                let m = if g.approximate { approx } else { exact };
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
                                GemmKind::Conv { k, stride, pad } => {
                                    for ic in 0..s.c {
                                        for ky in 0..k {
                                            for kx in 0..k {
                                                let iy = (oy * stride + ky) as isize - pad as isize;
                                                let ix = (ox * stride + kx) as isize - pad as isize;
                                                let inside =
                                                    iy >= 0 && ix >= 0 && iy < s.h as isize && ix < s.w as isize;
                                                // Padding is the code z_x and is multiplied like any pixel.
                                                let q = if inside {
                                                    cur[(ic * s.h + iy as usize) * s.w + ix as usize]
                                                } else {
                                                    zx
                                                };
                                                mac(q, g.w[((oc * s.c + ic) * k + ky) * k + kx]);
                                            }
                                        }
                                    }
                                }
                            }
                            out[(oc * o.h + oy) * o.w + ox] = match g.output {
                                None => acc,
                                Some(qo) => (qo.zero_point + g.requant[oc].apply(acc)).clamp(range.0, range.1),
                            };
                        }
                    }
                }
                cur = out;
            }
            QLayer::Relu { zero_point } => relu(&mut cur, *zero_point),
            QLayer::AvgPool { k, stride, in_shape, out_shape } => {
                let mut next = Vec::new();
                avg_pool(&cur, *k, *stride, *in_shape, *out_shape, &mut next);
                cur = next;
            }
        }
    }
    cur
}
