//! L2 contrast reduction (Foolbox `L2ContrastReductionAttack`): each image moves straight
//! towards the uniform `target` grey by L2 distance eps (or all the way). No model calls.

use super::{l2, Bounds};

pub(super) fn run(target: f32, b: &Bounds, x0: &[f32], per: usize, eps: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(x0.len());
    for (k, xs) in x0.chunks_exact(per).enumerate() {
        // The grey target of each element's own interval (per channel in normalized coordinates).
        let t = |i: usize| {
            let (l, u) = b.at(k * per + i);
            l + target * (u - l)
        };
        let d: Vec<f32> = xs.iter().enumerate().map(|(i, &v)| t(i) - v).collect();
        // No guard in Foolbox: 0/0 (a grey image at eps 0) would be NaN; keep x0 there instead.
        let norm = l2(&d);
        let scale = if norm == 0.0 && eps == 0.0 { 0.0 } else { (eps / norm).min(1.0) };
        out.extend(xs.iter().zip(&d).enumerate().map(|(i, (&v, &d))| {
            let (l, u) = b.at(k * per + i);
            (v + scale * d).clamp(l, u)
        }));
    }
    out
}
