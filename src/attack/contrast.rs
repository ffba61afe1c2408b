//! L2 contrast reduction (Foolbox `L2ContrastReductionAttack`): each image moves straight
//! towards the uniform `target` grey by L2 distance eps (or all the way). No model calls.

use super::{l2, Bounds};

pub(super) fn run(target: f32, b: Bounds, x0: &[f32], per: usize, eps: f32) -> Vec<f32> {
    let t = b.lower + target * (b.upper - b.lower);
    let mut out = Vec::with_capacity(x0.len());
    for xs in x0.chunks_exact(per) {
        let d: Vec<f32> = xs.iter().map(|&v| t - v).collect();
        // No guard in Foolbox: 0/0 (a grey image at eps 0) would be NaN; keep x0 there instead.
        let norm = l2(&d);
        let scale = if norm == 0.0 && eps == 0.0 { 0.0 } else { (eps / norm).min(1.0) };
        out.extend(xs.iter().zip(&d).map(|(&v, &d)| (v + scale * d).clamp(b.lower, b.upper)));
    }
    out
}
