//! Square Attack (Andriushchenko et al., ECCV 2020), the score-based member of AutoAttack's
//! standard ensemble, with the semantics of the reference implementation (fra31/auto-attack,
//! `square.py`: margin loss, `n_queries` 5,000, `p_init` 0.8, one restart), Linf and L2.
//!
//! It needs only the logits of the model it attacks, so under the `hardware` threat model it
//! queries the accelerator itself. Each iteration changes one random square window of the best
//! point so far — Linf: the window's pixels jump to a vertex of the ε box, one random sign per
//! channel; L2: the window's mass is redistributed into a random pair of nested-square stripes
//! (`eta`) while a second window gives its mass up — and keeps the change where the margin
//! `z_y − max_{c≠y} z_c` fell or the image became misclassified. The window side shrinks on the
//! reference's schedule (`p_selection`, rescaled to the query budget).
//!
//! Draws are the reference's, in its order, from the [`NoiseSource`] (every `torch.rand` a
//! `uniform(…, 0, 1)`): the starting stripes, then per iteration the window corners and one sign
//! per channel shared by the batch (L2: per image and channel). Two deliberate differences, both
//! stated in the guide: an image counts as fooled when its argmax (ties to the lowest class,
//! this crate's criterion everywhere) is not the label, where the reference stops at margin ≤ 0
//! (a tie, common on an integer accelerator's logits, is not a misclassification here); and the
//! window side is capped at the image's height and width (the reference assumes square images
//! larger than the window).

use super::{clamp_all, AttackError, Bounds, Classifier, NoiseSource, Norm};
use crate::accel::infer::argmax;
use crate::model::Shape;

/// Parameters of Square (the reference's `SquareAttack`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SquareParams {
    /// Iterations (queries after the first) per restart (`n_queries`, 5,000).
    pub queries: usize,
    /// Initial fraction of the image a window covers (`p_init`, 0.8).
    pub p_init: f32,
    /// Runs from a fresh start on the images still robust (`n_restarts`, 1).
    pub restarts: usize,
}

impl Default for SquareParams {
    fn default() -> Self {
        SquareParams { queries: 5000, p_init: 0.8, restarts: 1 }
    }
}

/// The window fraction at iteration `it` (the reference's `p_selection` with `resc_schedule`).
pub fn p_selection(p_init: f32, it: usize, queries: usize) -> f32 {
    let it = (it as f64 / queries.max(1) as f64 * 10000.0) as usize;
    let div = match it {
        0..=10 => 1.0,
        11..=50 => 2.0,
        51..=200 => 4.0,
        201..=500 => 8.0,
        501..=1000 => 16.0,
        1001..=2000 => 32.0,
        2001..=4000 => 64.0,
        4001..=6000 => 128.0,
        6001..=8000 => 256.0,
        _ => 512.0,
    };
    p_init / div
}

/// `torch.sign(2u − 1)`.
fn sign(u: f32) -> f32 {
    let t = 2.0 * u - 1.0;
    if t > 0.0 {
        1.0
    } else if t < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// The reference's `random_int(0, high)`: `⌊high·u⌋` for one uniform draw.
fn random_int(noise: &mut dyn NoiseSource, high: usize) -> Result<usize, AttackError> {
    let u = noise.uniform(1, 0.0, 1.0)?[0];
    Ok((high as f32 * u) as usize)
}

/// `z_y − max_{c≠y} z_c`.
fn margin(z: &[f32], y: usize) -> f32 {
    let other = z.iter().enumerate().filter(|&(c, _)| c != y).map(|(_, &v)| v).fold(f32::NEG_INFINITY, f32::max);
    z[y] - other
}

/// The reference's `eta_rectangles(x, y)`: nested rectangles around the centre, weight 1/(k+1)²
/// for the k-th, normalised to unit Frobenius norm (`x × y`, row-major).
fn eta_rectangles(x: usize, y: usize) -> Vec<f64> {
    let mut d = vec![0.0f64; x * y];
    let (xc, yc) = (x / 2 + 1, y / 2 + 1);
    let (mut c0, mut c1) = (xc as isize - 1, yc as isize - 1);
    for k in 0..xc.max(yc) {
        let w = 1.0 / ((k + 1) * (k + 1)) as f64;
        let (r0, r1) = (c0.max(0) as usize, ((c0 + 2 * k as isize + 1).max(0) as usize).min(x));
        let (q0, q1) = (c1.max(0) as usize, ((c1 + 2 * k as isize + 1).max(0) as usize).min(y));
        for r in r0..r1 {
            for q in q0..q1 {
                d[r * y + q] += w;
            }
        }
        c0 -= 1;
        c1 -= 1;
    }
    let n = d.iter().map(|v| v * v).sum::<f64>().sqrt();
    d.iter_mut().for_each(|v| *v /= n);
    d
}

/// The reference's `eta(s)`: the top half one set of rectangles, the bottom half minus another,
/// unit norm, transposed when the draw `u` exceeds 0.5.
fn eta(s: usize, u: f32) -> Vec<f32> {
    let top = eta_rectangles(s / 2, s);
    let bottom = eta_rectangles(s - s / 2, s);
    let mut d: Vec<f64> = top.into_iter().chain(bottom.into_iter().map(|v| -v)).collect();
    let n = d.iter().map(|v| v * v).sum::<f64>().sqrt();
    d.iter_mut().for_each(|v| *v /= n);
    if u > 0.5 {
        let t = d.clone();
        for r in 0..s {
            for q in 0..s {
                d[r * s + q] = t[q * s + r];
            }
        }
    }
    d.into_iter().map(|v| v as f32).collect()
}

/// The images, their shape and labels, and what the search keeps per image.
struct Search<'a> {
    model: &'a dyn Classifier,
    bounds: &'a Bounds,
    shape: Shape,
    eps: f32,
    x: Vec<f32>,
    y: Vec<usize>,
    best: Vec<f32>,
    margin: Vec<f32>,
    fooled: Vec<bool>,
}

impl Search<'_> {
    fn per(&self) -> usize {
        self.shape.numel()
    }

    /// Evaluate the first candidates (`best`) of every image.
    fn start(&mut self) {
        let classes = self.model.classes();
        let z = self.model.logits(&self.best);
        for (i, zi) in z.chunks_exact(classes).enumerate() {
            self.margin[i] = margin(zi, self.y[i]);
            self.fooled[i] = argmax(zi) != self.y[i];
        }
    }

    /// Evaluate `cand` (one image per entry of `open`) and keep each where its margin fell or it
    /// is misclassified (the reference keeps both cases).
    fn offer(&mut self, open: &[usize], cand: &[f32]) {
        let (per, classes) = (self.per(), self.model.classes());
        let z = self.model.logits(cand);
        for (k, &i) in open.iter().enumerate() {
            let zi = &z[k * classes..(k + 1) * classes];
            let (m, miscl) = (margin(zi, self.y[i]), argmax(zi) != self.y[i]);
            if m < self.margin[i] || miscl {
                self.margin[i] = m;
                self.fooled[i] = miscl;
                self.best[i * per..(i + 1) * per].copy_from_slice(&cand[k * per..(k + 1) * per]);
            }
        }
    }

    fn open(&self) -> Vec<usize> {
        (0..self.y.len()).filter(|&i| !self.fooled[i]).collect()
    }
}

/// Square on `x0` (`n × per`) with labels `labels` at budget `eps`: each image's misclassified
/// point where one was found, else the image itself.
#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    norm: Norm,
    p: SquareParams,
    model: &dyn Classifier,
    bounds: &Bounds,
    x0: &[f32],
    labels: &[u8],
    eps: f32,
    noise: &mut dyn NoiseSource,
) -> Result<Vec<f32>, AttackError> {
    let shape = model.input_shape();
    let per = shape.numel();
    let classes = model.classes();
    let mut result = x0.to_vec();
    let z = model.logits(x0);
    let mut robust: Vec<bool> = z.chunks_exact(classes).zip(labels).map(|(z, &y)| argmax(z) == y as usize).collect();
    for _ in 0..p.restarts {
        let idx: Vec<usize> = (0..labels.len()).filter(|&i| robust[i]).collect();
        if idx.is_empty() {
            break;
        }
        let x: Vec<f32> = super::gather(x0, &idx, per);
        let m = idx.len();
        let mut s = Search {
            model,
            bounds,
            shape,
            eps,
            best: x.clone(),
            x,
            y: idx.iter().map(|&i| labels[i] as usize).collect(),
            margin: vec![0.0; m],
            fooled: vec![false; m],
        };
        match norm {
            Norm::Linf => linf(&mut s, p, noise)?,
            Norm::L2 => l2(&mut s, p, noise)?,
        }
        // The reference judges the run's output once more; `fooled` is that judgement.
        for (k, &i) in idx.iter().enumerate() {
            if s.fooled[k] {
                robust[i] = false;
                result[i * per..(i + 1) * per].copy_from_slice(&s.best[k * per..(k + 1) * per]);
            }
        }
    }
    Ok(result)
}

/// The window side for fraction `p` (at least `min`, odd for L2, at most the image).
fn side(p: f32, sh: Shape, min: usize, odd: bool) -> usize {
    let mut s = ((p as f64 * (sh.h * sh.w) as f64).sqrt().round_ties_even() as usize).max(min);
    if odd && s.is_multiple_of(2) {
        s += 1;
    }
    s.min(sh.h).min(sh.w)
}

fn linf(s: &mut Search, p: SquareParams, noise: &mut dyn NoiseSource) -> Result<(), AttackError> {
    let (sh, per, eps, m) = (s.shape, s.per(), s.eps, s.y.len());
    // Vertical stripes: one sign per image, channel and column.
    let u = noise.uniform(m * sh.c * sh.w, 0.0, 1.0)?;
    for i in 0..m {
        for c in 0..sh.c {
            for r in 0..sh.h {
                for q in 0..sh.w {
                    let e = i * per + (c * sh.h + r) * sh.w + q;
                    s.best[e] = s.x[e] + eps * sign(u[(i * sh.c + c) * sh.w + q]);
                }
            }
        }
    }
    clamp_all(&mut s.best, s.bounds);
    s.start();
    for it in 0..p.queries {
        let open = s.open();
        if open.is_empty() {
            break;
        }
        let w = side(p_selection(p.p_init, it, p.queries), sh, 1, false);
        let vh = random_int(noise, sh.h - w)?;
        let vw = random_int(noise, sh.w - w)?;
        let colour: Vec<f32> = noise.uniform(sh.c, 0.0, 1.0)?.into_iter().map(sign).collect();
        let mut cand = Vec::with_capacity(open.len() * per);
        for &i in &open {
            let start = cand.len();
            cand.extend_from_slice(&s.best[i * per..(i + 1) * per]);
            let (c0, x0) = (&mut cand[start..], &s.x[i * per..(i + 1) * per]);
            for (c, &col) in colour.iter().enumerate() {
                for r in vh..vh + w {
                    for q in vw..vw + w {
                        let e = (c * sh.h + r) * sh.w + q;
                        c0[e] = (c0[e] + 2.0 * eps * col).max(x0[e] - eps).min(x0[e] + eps);
                    }
                }
            }
        }
        clamp_all(&mut cand, s.bounds);
        s.offer(&open, &cand);
    }
    Ok(())
}

/// `sqrt(Σ v²)` over the window `(vh, vw, w)` of channel `c` of one image.
fn window_sq(d: &[f32], sh: Shape, c: usize, vh: usize, vw: usize, w: usize) -> f64 {
    let mut acc = 0.0f64;
    for r in vh..vh + w {
        for q in vw..vw + w {
            let v = d[(c * sh.h + r) * sh.w + q] as f64;
            acc += v * v;
        }
    }
    acc
}

fn l2(s: &mut Search, p: SquareParams, noise: &mut dyn NoiseSource) -> Result<(), AttackError> {
    let (sh, per, eps, m) = (s.shape, s.per(), s.eps, s.y.len());
    // Start: a grid of `eta` stripes of side h/5 with a random sign per image and channel.
    let w0 = (sh.h / 5).max(1);
    let sp = sh.h.saturating_sub(w0 * 5) / 2;
    let mut delta = vec![0.0f32; m * per];
    for gr in 0..sh.h / w0 {
        for gq in 0..sh.w / w0 {
            let (vh, vw) = (sp + gr * w0, sp + gq * w0);
            let e = eta(w0, noise.uniform(1, 0.0, 1.0)?[0]);
            let col = noise.uniform(m * sh.c, 0.0, 1.0)?;
            for i in 0..m {
                for c in 0..sh.c {
                    let sg = sign(col[i * sh.c + c]);
                    for r in 0..w0.min(sh.h.saturating_sub(vh)) {
                        for q in 0..w0.min(sh.w.saturating_sub(vw)) {
                            delta[i * per + (c * sh.h + vh + r) * sh.w + vw + q] += e[r * w0 + q] * sg;
                        }
                    }
                }
            }
        }
    }
    for i in 0..m {
        let d = &delta[i * per..(i + 1) * per];
        let scale = eps / (super::l2(d) + 1e-12);
        for (e, &dv) in s.best[i * per..(i + 1) * per].iter_mut().zip(d) {
            *e += dv * scale;
        }
    }
    clamp_all(&mut s.best, s.bounds);
    s.start();
    for it in 0..p.queries {
        let open = s.open();
        if open.is_empty() {
            break;
        }
        let w = side(p_selection(p.p_init, it, p.queries), sh, 3, true);
        let vh = random_int(noise, sh.h - w)?;
        let vw = random_int(noise, sh.w - w)?;
        let vh2 = random_int(noise, sh.h - w)?;
        let vw2 = random_int(noise, sh.w - w)?;
        let e = eta(w, noise.uniform(1, 0.0, 1.0)?[0]);
        let col = noise.uniform(open.len() * sh.c, 0.0, 1.0)?;
        let in_union = |r: usize, q: usize| {
            (r >= vh && r < vh + w && q >= vw && q < vw + w) || (r >= vh2 && r < vh2 + w && q >= vw2 && q < vw2 + w)
        };
        let mut cand = Vec::with_capacity(open.len() * per);
        for (k, &i) in open.iter().enumerate() {
            let x0 = &s.x[i * per..(i + 1) * per];
            let mut d: Vec<f32> = s.best[i * per..(i + 1) * per].iter().zip(x0).map(|(&b, &x)| b - x).collect();
            let norm_image = super::l2(&d) as f64;
            let mut union = 0.0f64;
            for c in 0..sh.c {
                for r in 0..sh.h {
                    for q in 0..sh.w {
                        if in_union(r, q) {
                            let v = d[(c * sh.h + r) * sh.w + q] as f64;
                            union += v * v;
                        }
                    }
                }
            }
            // Mass the window may take: what the ε sphere leaves per channel plus what both
            // windows held.
            let target = ((eps as f64 * eps as f64 - norm_image * norm_image).max(0.0) / sh.c as f64 + union).sqrt();
            let mut fresh = vec![0.0f32; sh.c * w * w];
            for c in 0..sh.c {
                let n1 = window_sq(&d, sh, c, vh, vw, w).sqrt() as f32;
                let sg = sign(col[k * sh.c + c]);
                let block = &mut fresh[c * w * w..(c + 1) * w * w];
                for r in 0..w {
                    for q in 0..w {
                        let old = d[(c * sh.h + vh + r) * sh.w + vw + q] / (1e-12 + n1);
                        block[r * w + q] = e[r * w + q] * sg + old;
                    }
                }
                let nb = block.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
                let scale = (target / (1e-12 + nb)) as f32;
                block.iter_mut().for_each(|v| *v *= scale);
            }
            for c in 0..sh.c {
                for r in 0..w {
                    for q in 0..w {
                        d[(c * sh.h + vh2 + r) * sh.w + vw2 + q] = 0.0;
                    }
                }
                for r in 0..w {
                    for q in 0..w {
                        d[(c * sh.h + vh + r) * sh.w + vw + q] = fresh[(c * w + r) * w + q];
                    }
                }
            }
            let scale = eps / (super::l2(&d) + 1e-12);
            cand.extend(x0.iter().zip(&d).map(|(&x, &dv)| x + dv * scale));
        }
        clamp_all(&mut cand, s.bounds);
        s.offer(&open, &cand);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_halves_on_the_reference_breakpoints() {
        // 5,000 queries: iteration i is rescaled to 2i.
        assert_eq!(p_selection(0.8, 5, 5000), 0.8);
        assert_eq!(p_selection(0.8, 6, 5000), 0.4);
        assert_eq!(p_selection(0.8, 25, 5000), 0.4);
        assert_eq!(p_selection(0.8, 26, 5000), 0.2);
        assert_eq!(p_selection(0.8, 4999, 5000), 0.8 / 512.0);
    }

    #[test]
    fn eta_has_unit_norm_and_opposite_halves() {
        for s in [3usize, 5, 6, 7] {
            let e = eta(s, 0.0);
            let n: f32 = e.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((n - 1.0).abs() < 1e-5, "s={s}: norm {n}");
            assert!(e[..(s / 2) * s].iter().all(|&v| v >= 0.0) && e[(s / 2) * s..].iter().all(|&v| v <= 0.0));
            let t = eta(s, 0.9);
            assert_eq!(t[1], e[s], "transposed");
        }
        // eta_rectangles(1, 3): one rectangle of weight 1 over the middle, then the whole row at
        // 1/4 — [1/4, 5/4, 1/4] before normalising.
        let r = eta_rectangles(1, 3);
        let n = (0.0625f64 * 2.0 + 1.5625).sqrt();
        assert!((r[0] - 0.25 / n).abs() < 1e-12 && (r[1] - 1.25 / n).abs() < 1e-12);
    }

    #[test]
    fn window_side_follows_round_half_even_and_the_caps() {
        let sh = Shape::new(1, 28, 28);
        assert_eq!(side(0.8, sh, 1, false), 25); // √627.2 = 25.04
        assert_eq!(side(0.8 / 512.0, sh, 1, false), 1);
        assert_eq!(side(0.8 / 512.0, sh, 3, true), 3);
        assert_eq!(side(0.2, sh, 3, true), 13); // √156.8 = 12.5 → 13
        assert_eq!(side(0.8, Shape::new(1, 1, 100), 1, false), 1);
    }
}
