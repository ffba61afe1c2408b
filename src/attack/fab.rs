//! FAB-T, the targeted Fast Adaptive Boundary attack (Croce & Hein, ICML 2020), the third member
//! of AutoAttack's standard ensemble, with the semantics of the reference implementation
//! (fra31/auto-attack, `fab_base.py` / `fab_pt.py`: `n_iter` 100, one restart, 9 target classes,
//! `alpha_max` 0.1, `eta` 1.05, `beta` 0.9), Linf and L2.
//!
//! FAB looks for the *smallest* perturbation that crosses the decision boundary towards a target
//! class and counts an image fooled when that perturbation is within ε. Each iteration linearises
//! `z_t − z_y` at the current point (value and input gradient; under BPDA the accelerator's
//! logits with the float model's gradient), projects both the current point and the original
//! image onto that hyperplane within the input box (the minimal-norm projections below), steps
//! to a convex combination of the two projections (weight of the original's at most
//! `alpha_max`, both extrapolated by `eta`) and, once the point is misclassified, keeps it if it
//! is the closest found and pulls it back towards the original by `beta`. The target of round
//! `r` (r = 2 … 10) is the r-th largest clean logit; only images still robust are attacked by
//! the next round. A restart after the first starts from a random point at ε/2 (as the
//! reference; the standard version has one restart, so FAB-T draws no random numbers).

use super::{AttackError, Bounds, Classifier, NoiseSource, Norm};
use crate::accel::infer::argmax;

/// Parameters of FAB (the reference's `FABAttack_PT` with `targeted=True`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FabParams {
    /// Iterations per run (`n_iter`, 100).
    pub steps: usize,
    /// Runs per target; every run after the first starts at a random point (`n_restarts`, 1).
    pub restarts: usize,
    /// How many runner-up classes are targeted in turn (`n_target_classes`, 9; at most
    /// classes − 1).
    pub target_classes: usize,
    /// Largest weight of the original image's projection in a step (`alpha_max`, 0.1).
    pub alpha_max: f32,
    /// Overshoot of the projections (`eta`, 1.05).
    pub eta: f32,
    /// Pull-back towards the original after a success (`beta`, 0.9).
    pub beta: f32,
}

impl Default for FabParams {
    fn default() -> Self {
        FabParams { steps: 100, restarts: 1, target_classes: 9, alpha_max: 0.1, eta: 1.05, beta: 0.9 }
    }
}

/// The fewest classes FAB-T is defined for (a target other than the label).
pub(super) const MIN_CLASSES: usize = 2;

/// The perturbation `d` of least norm with `⟨w, t + d⟩ = b` and `lo ≤ t + d ≤ hi`; where the
/// hyperplane cannot be reached inside the box, the box corner that comes closest. Coordinates
/// where `w` vanishes (L2: `|w| < 10⁻⁸`, as the reference) do not move.
///
/// Both norms solve a one-parameter problem exactly: moving every coordinate towards the corner
/// that changes `⟨w, x⟩` fastest, capped by its room `p_i` in the box, the change reached is
/// piecewise linear and increasing in the parameter (Linf: the common step λ, coordinate `i`
/// moves `min(λ, p_i)`; L2: the multiplier α of `−w`, coordinate `i` moves `min(α|w_i|, p_i)`),
/// so the coordinates are sorted by where they saturate and the segment holding the solution is
/// found in one pass.
pub fn project(norm: Norm, t: &[f32], w: &[f32], b: f32, lo: &[f32], hi: &[f32]) -> Vec<f32> {
    let n = t.len();
    let c = w.iter().zip(t).map(|(&w, &t)| w as f64 * t as f64).sum::<f64>() - b as f64;
    // Orientation: move so that ⟨w, x⟩ changes by −c, i.e. each coordinate against sign(c·w_i).
    let s = if c >= 0.0 { 1.0 } else { -1.0 };
    let need = c.abs();
    let moving = |i: usize| match norm {
        Norm::Linf => w[i] != 0.0,
        Norm::L2 => w[i].abs() >= 1e-8,
    };
    // Direction (+1 up, −1 down) and room of coordinate i.
    let dir = |i: usize| if s * (w[i] as f64) < 0.0 { 1.0 } else { -1.0 };
    let room = |i: usize| if dir(i) > 0.0 { (hi[i] - t[i]).max(0.0) as f64 } else { (t[i] - lo[i]).max(0.0) as f64 };
    let idx: Vec<usize> = (0..n).filter(|&i| moving(i)).collect();
    let aw = |i: usize| (w[i] as f64).abs();
    // Saturation point of coordinate i in the parameter, and the slope it adds while unsaturated.
    let (sat, slope): (Vec<f64>, Vec<f64>) = match norm {
        Norm::Linf => idx.iter().map(|&i| (room(i), aw(i))).unzip(),
        Norm::L2 => idx.iter().map(|&i| (room(i) / aw(i), aw(i) * aw(i))).unzip(),
    };
    let mut order: Vec<usize> = (0..idx.len()).collect();
    order.sort_by(|&a, &b| sat[a].total_cmp(&sat[b]));
    let mut reached = 0.0; // Σ of the saturated coordinates' full contributions |w_i|·p_i.
    let mut rate: f64 = slope.iter().sum();
    let mut param = f64::INFINITY; // the corner unless a segment holds the solution
    for &k in &order {
        let cand = (need - reached) / rate;
        if rate > 0.0 && cand <= sat[k] {
            param = cand.max(0.0);
            break;
        }
        reached += aw(idx[k]) * room(idx[k]);
        rate -= slope[k];
    }
    let mut d = vec![0f32; n];
    for &i in &idx {
        let step = match norm {
            Norm::Linf => param.min(room(i)),
            Norm::L2 => (param * aw(i)).min(room(i)),
        };
        d[i] = (dir(i) * step) as f32;
    }
    d
}

/// `‖d‖` in the attack's norm.
fn size(norm: Norm, d: &[f32]) -> f32 {
    match norm {
        Norm::Linf => d.iter().fold(0f32, |a, &v| a.max(v.abs())),
        Norm::L2 => super::l2(d),
    }
}

/// FAB-T on `x0` (`n × input_len`) with `labels`: every target round (and restart) attacks the
/// images still classified correctly; returns, per image, the closest adversarial example found
/// within ε, the clean input elsewhere.
#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    norm: Norm,
    p: FabParams,
    model: &dyn Classifier,
    bounds: &Bounds,
    x0: &[f32],
    labels: &[u8],
    eps: f32,
    noise: &mut dyn NoiseSource,
) -> Result<Vec<f32>, AttackError> {
    let per = model.input_len();
    let classes = model.classes();
    let clean = model.logits(x0);
    let mut robust: Vec<bool> =
        clean.chunks_exact(classes).zip(labels).map(|(z, &y)| argmax(z) == y as usize).collect();
    let mut adv = x0.to_vec();
    let (lo, hi): (Vec<f32>, Vec<f32>) = (0..per).map(|i| bounds.at(i)).unzip();
    for rank in 2..p.target_classes.min(classes - 1) + 2 {
        for restart in 0..p.restarts {
            let idx: Vec<usize> = (0..robust.len()).filter(|&i| robust[i]).collect();
            if idx.is_empty() {
                return Ok(adv);
            }
            let xs: Vec<f32> = super::gather(x0, &idx, per);
            let ys: Vec<usize> = idx.iter().map(|&i| labels[i] as usize).collect();
            let targets: Vec<usize> =
                idx.iter().map(|&i| super::apgd::ranked(&clean[i * classes..(i + 1) * classes])[rank - 1]).collect();
            let run =
                Run { norm, p, model, bounds, lo: &lo, hi: &hi, x0: &xs, ys: &ys, targets: &targets, per, classes };
            let start = if restart > 0 { Some(run.random_start(eps, noise)?) } else { None };
            let (dist, found) = run.single(start);
            // The reference's final check: misclassified and within ε.
            let z = model.logits(&found);
            for (j, &i) in idx.iter().enumerate() {
                let fooled = argmax(&z[j * classes..(j + 1) * classes]) != ys[j];
                if fooled && dist[j] <= eps {
                    robust[i] = false;
                    adv[i * per..(i + 1) * per].copy_from_slice(&found[j * per..(j + 1) * per]);
                }
            }
        }
    }
    Ok(adv)
}

/// One FAB-T run on a subset of the images.
struct Run<'a> {
    norm: Norm,
    p: FabParams,
    model: &'a dyn Classifier,
    bounds: &'a Bounds,
    lo: &'a [f32],
    hi: &'a [f32],
    x0: &'a [f32],
    ys: &'a [usize],
    targets: &'a [usize],
    per: usize,
    classes: usize,
}

impl Run<'_> {
    /// The reference's random start: a random direction scaled to ε/2 in the attack's norm
    /// (Linf: uniform in [−1, 1] with the largest coordinate at ε/2; L2: Gaussian), in the box.
    fn random_start(&self, eps: f32, noise: &mut dyn NoiseSource) -> Result<Vec<f32>, AttackError> {
        let len = self.x0.len();
        let t = match self.norm {
            Norm::Linf => noise.uniform(len, -1.0, 1.0)?,
            Norm::L2 => noise.normal(len)?,
        };
        let mut x = self.x0.to_vec();
        for (xs, ts) in x.chunks_exact_mut(self.per).zip(t.chunks_exact(self.per)) {
            let s = size(self.norm, ts);
            xs.iter_mut().zip(ts).for_each(|(v, &t)| *v += eps * t / s * 0.5);
        }
        self.bounds.clamp(&mut x);
        Ok(x)
    }

    /// Returns per image the distance of the closest adversarial point found (∞ if none) and
    /// that point (the original where none).
    fn single(&self, start: Option<Vec<f32>>) -> (Vec<f32>, Vec<f32>) {
        let (per, p, norm) = (self.per, self.p, self.norm);
        let m = self.ys.len();
        let mut x1 = start.unwrap_or_else(|| self.x0.to_vec());
        let mut best = self.x0.to_vec();
        let mut dist = vec![f32::INFINITY; m];
        let dloss = |i: usize, _z: &[f32], d: &mut [f32]| {
            d.iter_mut().for_each(|v| *v = 0.0);
            d[self.targets[i]] += 1.0;
            d[self.ys[i]] -= 1.0;
        };
        for _ in 0..p.steps {
            let (z, g) =
                self.model.logits_and_gradient(&x1, &dloss).expect("gradient availability checked by attack::run");
            for j in 0..m {
                let r = j * per..(j + 1) * per;
                let zj = &z[j * self.classes..(j + 1) * self.classes];
                // The linearised boundary z_t − z_y = 0 at x1: ⟨g, x⟩ = ⟨g, x1⟩ − (z_t − z_y).
                let df = zj[self.targets[j]] - zj[self.ys[j]];
                let w = &g[r.clone()];
                let b = w.iter().zip(&x1[r.clone()]).map(|(&w, &x)| w as f64 * x as f64).sum::<f64>() as f32 - df;
                let d1 = project(norm, &x1[r.clone()], w, b, self.lo, self.hi);
                let d2 = project(norm, &self.x0[r.clone()], w, b, self.lo, self.hi);
                let a1 = size(norm, &d1).max(1e-8);
                let a2 = size(norm, &d2).max(1e-8);
                let alpha = (a1 / (a1 + a2)).max(0.0).min(p.alpha_max);
                for (k, v) in x1[r.clone()].iter_mut().enumerate() {
                    let orig = self.x0[j * per + k];
                    *v = (*v + p.eta * d1[k]) * (1.0 - alpha) + (orig + p.eta * d2[k]) * alpha;
                }
            }
            self.bounds.clamp(&mut x1);
            let z = self.model.logits(&x1);
            for j in 0..m {
                if argmax(&z[j * self.classes..(j + 1) * self.classes]) == self.ys[j] {
                    continue;
                }
                let r = j * per..(j + 1) * per;
                let delta: Vec<f32> = x1[r.clone()].iter().zip(&self.x0[r.clone()]).map(|(&a, &b)| a - b).collect();
                let t = size(norm, &delta);
                if t < dist[j] {
                    dist[j] = t;
                    best[r.clone()].copy_from_slice(&x1[r.clone()]);
                }
                for ((v, &d), &orig) in x1[r.clone()].iter_mut().zip(&delta).zip(&self.x0[r.clone()]) {
                    *v = orig + d * p.beta;
                }
            }
        }
        (dist, best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [−1, 1).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    /// The least λ (Linf) or α (L2) reaching the hyperplane, by bisection on the definition.
    fn by_bisection(norm: Norm, t: &[f32], w: &[f32], b: f32, lo: &[f32], hi: &[f32]) -> Option<Vec<f32>> {
        let c: f64 = w.iter().zip(t).map(|(&w, &t)| w as f64 * t as f64).sum::<f64>() - b as f64;
        let at = |param: f64| -> Vec<f64> {
            (0..t.len())
                .map(|i| {
                    let want = match norm {
                        Norm::Linf => -c.signum() * (w[i] as f64).signum() * param,
                        Norm::L2 => -c.signum() * w[i] as f64 * param,
                    };
                    if w[i] == 0.0 {
                        0.0
                    } else {
                        want.clamp((lo[i] - t[i]) as f64, (hi[i] - t[i]) as f64)
                    }
                })
                .collect()
        };
        let change = |d: &[f64]| d.iter().zip(w).map(|(d, &w)| d * w as f64).sum::<f64>();
        let (mut l, mut h) = (0.0, 1e6);
        if change(&at(h)).abs() < c.abs() {
            return None;
        }
        for _ in 0..200 {
            let mid = 0.5 * (l + h);
            if change(&at(mid)).abs() < c.abs() {
                l = mid
            } else {
                h = mid
            }
        }
        Some(at(h).into_iter().map(|v| v as f32).collect())
    }

    #[test]
    fn projections_reach_the_hyperplane_with_the_least_norm_inside_the_box() {
        for (case, n) in [(0u64, 5usize), (1, 40), (2, 300), (3, 784)] {
            for norm in [Norm::Linf, Norm::L2] {
                let t: Vec<f32> = values(n, case * 7 + 1).iter().map(|v| 0.5 + 0.5 * v).collect();
                let mut w = values(n, case * 7 + 2);
                w[0] = 0.0;
                let (lo, hi) = (vec![0.0; n], vec![1.0; n]);
                let wt: f32 = w.iter().zip(&t).map(|(w, t)| w * t).sum();
                for shift in [-3.0f32, -0.3, 0.0, 0.2, 2.5, 400.0] {
                    let b = wt + shift;
                    let d = project(norm, &t, &w, b, &lo, &hi);
                    assert_eq!(d[0], 0.0, "a coordinate with w = 0 never moves");
                    for i in 0..n {
                        let x = t[i] + d[i];
                        assert!((-1e-6..=1.0 + 1e-6).contains(&x), "{norm:?} {n} {shift}: x[{i}] = {x}");
                    }
                    match by_bisection(norm, &t, &w, b, &lo, &hi) {
                        Some(want) => {
                            let reached: f32 = w.iter().zip(t.iter().zip(&d)).map(|(w, (t, d))| w * (t + d)).sum();
                            assert!(
                                (reached - b).abs() < 1e-3 * (1.0 + b.abs()),
                                "{norm:?} {n} {shift}: {reached} vs {b}"
                            );
                            let (got, exp) = (size(norm, &d), size(norm, &want));
                            assert!(
                                (got - exp).abs() <= 1e-4 * (1.0 + exp),
                                "{norm:?} {n} {shift}: ‖d‖ {got} vs {exp}"
                            );
                        }
                        None => {
                            // Unreachable: the corner moving ⟨w, x⟩ towards b the most.
                            for i in 1..n {
                                let towards = if (wt > b) == (w[i] > 0.0) { 0.0 } else { 1.0 };
                                assert_eq!(t[i] + d[i], towards, "{norm:?} {n} {shift}: corner at {i}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn projection_respects_per_coordinate_bounds() {
        let t = [0.0f32, 0.5, -1.0];
        let w = [1.0f32, -2.0, 0.5];
        let (lo, hi) = ([-0.5f32, 0.0, -2.0], [0.25f32, 1.0, 0.0]);
        for norm in [Norm::Linf, Norm::L2] {
            let d = project(norm, &t, &w, 10.0, &lo, &hi);
            // Unreachable (max of ⟨w, x⟩ in the box is 0.25 + 0 + 0 = 0.25): the maximising corner.
            assert_eq!([t[0] + d[0], t[1] + d[1], t[2] + d[2]], [0.25, 0.0, 0.0]);
        }
    }
}
