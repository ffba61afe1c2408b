//! Auto-PGD (Croce & Hein, ICML 2020), the two gradient members of AutoAttack's standard
//! ensemble with the semantics of the reference implementation (fra31/auto-attack,
//! `autopgd_base.py`, `version='standard'`): APGD-CE (cross-entropy) and APGD-T (the targeted
//! DLR loss against each of the 9 runner-up classes in turn), Linf and L2.
//!
//! One run from a random point on the ε sphere: `steps` iterations of a sign (Linf) or
//! normalised (L2) gradient step with momentum 0.75, projected onto the ball and the bounds; the
//! step size starts at 2ε and is halved for an image at each checkpoint where its loss rose in
//! fewer than `rho` of the steps since the last one, or where its best loss did not improve and
//! the last checkpoint did not halve it — the image then restarts from its best point. The
//! checkpoints are 22 %, then ever shorter periods (3 % less each time, at least 6 %) of the
//! iterations. An image counts as fooled as soon as one iterate is misclassified (by the model
//! attacked: under BPDA the accelerator); its last misclassified iterate is returned, the clean
//! input for the others. Only images still robust are attacked by the next restart or target.

use super::{AttackError, Bounds, Classifier, NoiseSource, Norm};
use crate::accel::infer::argmax;

/// The reference's momentum (`a = 0.75` after the first step; fixed there too).
const MOMENTUM: f32 = 0.75;

/// Parameters of APGD (the reference's `APGDAttack` / `APGDAttack_targeted`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ApgdParams {
    /// Iterations per run (`n_iter`, 100).
    pub steps: usize,
    /// Runs from a fresh random start per target (`n_restarts`, 1 in the standard version).
    pub restarts: usize,
    /// Share of loss increases below which the step size is halved at a checkpoint (`rho`, 0.75).
    pub rho: f32,
    /// APGD-T: how many runner-up classes are targeted in turn (`n_target_classes`, 9; at most
    /// classes − 1). Unused by APGD-CE.
    pub target_classes: usize,
}

impl Default for ApgdParams {
    fn default() -> Self {
        ApgdParams { steps: 100, restarts: 1, rho: 0.75, target_classes: 9 }
    }
}

/// The loss APGD ascends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ApgdLoss {
    /// Cross-entropy on the logits (APGD-CE).
    Ce,
    /// The targeted DLR loss (APGD-T).
    DlrTargeted,
}

/// Cross-entropy `logsumexp(z) − z_y` and its gradient `softmax(z) − onehot(y)` written into `d`;
/// in f64 from the small terms (as the float engine's loss), so a confident image keeps its digits.
pub fn ce_loss(z: &[f32], y: usize, d: &mut [f32]) -> f64 {
    let best = argmax(z);
    let m = z[best] as f64;
    let e: Vec<f64> = z.iter().map(|&v| (v as f64 - m).exp()).collect();
    let rest: f64 = e.iter().enumerate().filter(|&(c, _)| c != best).map(|(_, v)| v).sum();
    let sum = 1.0 + rest;
    let mut others = 0.0;
    for (c, (dc, ec)) in d.iter_mut().zip(&e).enumerate() {
        if c != y {
            let p = ec / sum;
            others += p;
            *dc = p as f32;
        }
    }
    d[y] = -others as f32;
    rest.ln_1p() + (m - z[y] as f64)
}

/// Class indices by logit, largest first (ties: lower index first).
pub(super) fn ranked(z: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..z.len()).collect();
    idx.sort_by(|&a, &b| z[b].total_cmp(&z[a]).then(a.cmp(&b)));
    idx
}

/// The difference-of-logits-ratio loss (Croce & Hein 2020, eq. 5),
/// `−(z_y − max_{c≠y} z_c) / (z_π1 − z_π3 + 10⁻¹²)` with `π` the classes by decreasing logit,
/// and its gradient written into `d` (the sort's choice held fixed, as autograd does). Needs
/// three classes.
pub fn dlr_loss(z: &[f32], y: usize, d: &mut [f32]) -> f64 {
    let r = ranked(z);
    let other = if r[0] == y { r[1] } else { r[0] };
    let num = z[y] as f64 - z[other] as f64;
    let den = z[r[0]] as f64 - z[r[2]] as f64 + 1e-12;
    d.iter_mut().for_each(|v| *v = 0.0);
    let mut add = |c: usize, v: f64| d[c] += v as f32;
    add(y, -1.0 / den);
    add(other, 1.0 / den);
    add(r[0], num / (den * den));
    add(r[2], -num / (den * den));
    -num / den
}

/// The targeted DLR loss of APGD-T,
/// `−(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 10⁻¹²)`, and its gradient written into `d`. Needs
/// four classes.
pub fn dlr_targeted_loss(z: &[f32], y: usize, t: usize, d: &mut [f32]) -> f64 {
    let r = ranked(z);
    let num = z[y] as f64 - z[t] as f64;
    let den = z[r[0]] as f64 - 0.5 * (z[r[2]] as f64 + z[r[3]] as f64) + 1e-12;
    d.iter_mut().for_each(|v| *v = 0.0);
    let mut add = |c: usize, v: f64| d[c] += v as f32;
    add(y, -1.0 / den);
    add(t, 1.0 / den);
    add(r[0], num / (den * den));
    add(r[2], -0.5 * num / (den * den));
    add(r[3], -0.5 * num / (den * den));
    -num / den
}

/// The fewest classes each loss is defined for.
pub(super) fn min_classes(loss: ApgdLoss) -> usize {
    match loss {
        ApgdLoss::Ce => 2,
        ApgdLoss::DlrTargeted => 4,
    }
}

/// APGD on `x0` (`n × input_len`) with `labels`: every restart (and, for APGD-T, every target)
/// attacks the images still classified correctly; returns the adversarial examples found, the
/// clean input elsewhere.
#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    norm: Norm,
    loss: ApgdLoss,
    p: ApgdParams,
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
    // The reference's target of round `r` is the r-th largest clean logit (r = 2, 3, …).
    let rounds: Vec<Option<usize>> = match loss {
        ApgdLoss::Ce => vec![None; p.restarts],
        ApgdLoss::DlrTargeted => (2..p.target_classes.min(classes - 1) + 2)
            .flat_map(|rank| std::iter::repeat_n(Some(rank), p.restarts))
            .collect(),
    };
    for rank in rounds {
        let idx: Vec<usize> = (0..robust.len()).filter(|&i| robust[i]).collect();
        if idx.is_empty() {
            break;
        }
        let xs: Vec<f32> = super::gather(x0, &idx, per);
        let ys: Vec<usize> = idx.iter().map(|&i| labels[i] as usize).collect();
        // The accelerator is deterministic, so the clean logits stand for the reference's second
        // forward pass on the images still to fool.
        let targets: Vec<usize> = match rank {
            Some(r) => idx.iter().map(|&i| ranked(&clean[i * classes..(i + 1) * classes])[r - 1]).collect(),
            None => vec![],
        };
        let run = Run { norm, loss, p, model, bounds, x0: &xs, ys: &ys, targets: &targets, eps, per, classes };
        let (fooled, found) = run.single(noise)?;
        for (j, &i) in idx.iter().enumerate() {
            if fooled[j] {
                robust[i] = false;
                adv[i * per..(i + 1) * per].copy_from_slice(&found[j * per..(j + 1) * per]);
            }
        }
    }
    Ok(adv)
}

/// One APGD run on a subset of the images.
struct Run<'a> {
    norm: Norm,
    loss: ApgdLoss,
    p: ApgdParams,
    model: &'a dyn Classifier,
    bounds: &'a Bounds,
    x0: &'a [f32],
    ys: &'a [usize],
    targets: &'a [usize],
    eps: f32,
    per: usize,
    classes: usize,
}

impl Run<'_> {
    /// Logits, per-image losses and the input gradient of the summed loss at `x`.
    fn loss_grad(&self, x: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let loss = |i: usize, z: &[f32], d: &mut [f32]| match self.loss {
            ApgdLoss::Ce => ce_loss(z, self.ys[i], d),
            ApgdLoss::DlrTargeted => dlr_targeted_loss(z, self.ys[i], self.targets[i], d),
        };
        let dloss = |i: usize, z: &[f32], d: &mut [f32]| {
            loss(i, z, d);
        };
        let (z, g) = self.model.logits_and_gradient(x, &dloss).expect("gradient availability checked by run()");
        let mut scratch = vec![0f32; self.classes];
        let losses = z.chunks_exact(self.classes).enumerate().map(|(i, zi)| loss(i, zi, &mut scratch) as f32).collect();
        (z, losses, g)
    }

    /// `x1` projected onto the ε ball around `x0` and then into the bounds, as the reference
    /// does (Linf: min/max with `x0 ± ε`; L2: `x0 + d/(‖d‖ + 10⁻¹²)·min(ε, ‖d‖)`).
    fn project(&self, x1: &mut [f32]) {
        for (xs, x0s) in x1.chunks_exact_mut(self.per).zip(self.x0.chunks_exact(self.per)) {
            match self.norm {
                Norm::Linf => {
                    xs.iter_mut().zip(x0s).for_each(|(v, &a)| *v = v.max(a - self.eps).min(a + self.eps));
                }
                Norm::L2 => {
                    let nd = xs.iter().zip(x0s).map(|(&v, &a)| (v - a) * (v - a)).sum::<f32>().sqrt();
                    let f = self.eps.min(nd) / (nd + 1e-12);
                    xs.iter_mut().zip(x0s).for_each(|(v, &a)| *v = a + (*v - a) * f);
                }
            }
        }
        self.bounds.clamp(x1);
    }

    /// Returns, per image, whether an iterate was misclassified and the last such iterate.
    fn single(&self, noise: &mut dyn NoiseSource) -> Result<(Vec<bool>, Vec<f32>), AttackError> {
        let (per, m, eps) = (self.per, self.ys.len(), self.eps);
        let steps = self.p.steps;
        // Random start on the ε sphere (Linf: scaled so the largest coordinate is ε).
        let t = match self.norm {
            Norm::Linf => noise.uniform(m * per, -1.0, 1.0)?,
            Norm::L2 => noise.normal(m * per)?,
        };
        let mut x = self.x0.to_vec();
        for (xs, ts) in x.chunks_exact_mut(per).zip(t.chunks_exact(per)) {
            let size = match self.norm {
                Norm::Linf => ts.iter().fold(0f32, |a, &v| a.max(v.abs())),
                Norm::L2 => super::l2(ts),
            };
            xs.iter_mut().zip(ts).for_each(|(v, &t)| *v += eps * (t / (size + 1e-12)));
        }
        self.bounds.clamp(&mut x);
        let mut x_best = x.clone();
        let mut x_best_adv = x.clone();
        let (z, mut loss_best, mut g) = self.loss_grad(&x);
        let mut robust: Vec<bool> = self.misclassified(&z).into_iter().map(|f| !f).collect();
        let mut g_best = g.clone();
        let mut step = vec![2.0 * eps; m];
        let mut x_old = x.clone();
        // Checkpoints: the first after 22 % of the steps, then periods 3 % shorter, at least 6 %.
        let (first, min_period, decrease) = (
            ((0.22 * steps as f64) as usize).max(1),
            ((0.06 * steps as f64) as usize).max(1),
            ((0.03 * steps as f64) as usize).max(1),
        );
        let mut period = first;
        let mut since = 0;
        let mut best_at_check = loss_best.clone();
        let mut reduced_at_check = vec![true; m];
        let mut history: Vec<Vec<f32>> = Vec::with_capacity(steps);
        for i in 0..steps {
            let a = if i > 0 { MOMENTUM } else { 1.0 };
            let mut x1 = x.clone();
            for (j, (xs, gs)) in x1.chunks_exact_mut(per).zip(g.chunks_exact(per)).enumerate() {
                match self.norm {
                    Norm::Linf => xs.iter_mut().zip(gs).for_each(|(v, &g)| *v += step[j] * signum0(g)),
                    Norm::L2 => {
                        let f = step[j] / (super::l2(gs) + 1e-12);
                        xs.iter_mut().zip(gs).for_each(|(v, &g)| *v += g * f);
                    }
                }
            }
            self.project(&mut x1);
            // Momentum: a step of a towards the projected point plus (1 − a) of the last move.
            for ((v, &xc), &xo) in x1.iter_mut().zip(&x).zip(&x_old) {
                *v = xc + (*v - xc) * a + (xc - xo) * (1.0 - a);
            }
            self.project(&mut x1);
            x_old = std::mem::replace(&mut x, x1);
            let (z, losses, g_new) = self.loss_grad(&x);
            g = g_new;
            for (j, fooled) in self.misclassified(&z).into_iter().enumerate() {
                if fooled {
                    robust[j] = false;
                    x_best_adv[j * per..(j + 1) * per].copy_from_slice(&x[j * per..(j + 1) * per]);
                }
            }
            for j in 0..m {
                if losses[j] > loss_best[j] {
                    loss_best[j] = losses[j];
                    x_best[j * per..(j + 1) * per].copy_from_slice(&x[j * per..(j + 1) * per]);
                    g_best[j * per..(j + 1) * per].copy_from_slice(&g[j * per..(j + 1) * per]);
                }
            }
            history.push(losses);
            since += 1;
            if since == period {
                for j in 0..m {
                    // Loss increases over the period; the step before the first one counts as a
                    // loss of 0 (the reference reads a not yet written row there).
                    let rises = (0..period)
                        .filter(|&c| {
                            let prev = if i > c { history[i - c - 1][j] } else { 0.0 };
                            history[i - c][j] > prev
                        })
                        .count();
                    let oscillates = rises as f32 <= period as f32 * self.p.rho;
                    let stalled = !reduced_at_check[j] && best_at_check[j] >= loss_best[j];
                    let reduce = oscillates || stalled;
                    reduced_at_check[j] = reduce;
                    best_at_check[j] = loss_best[j];
                    if reduce {
                        step[j] /= 2.0;
                        x[j * per..(j + 1) * per].copy_from_slice(&x_best[j * per..(j + 1) * per]);
                        g[j * per..(j + 1) * per].copy_from_slice(&g_best[j * per..(j + 1) * per]);
                    }
                }
                period = period.saturating_sub(decrease).max(min_period);
                since = 0;
            }
        }
        Ok((robust.into_iter().map(|r| !r).collect(), x_best_adv))
    }

    /// Whether each image's prediction differs from its label.
    fn misclassified(&self, z: &[f32]) -> Vec<bool> {
        z.chunks_exact(self.classes).zip(self.ys).map(|(zi, &y)| argmax(zi) != y).collect()
    }
}

/// `sign` with `sign(0) = 0`, as `torch.sign`.
fn signum0(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}
