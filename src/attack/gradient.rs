//! The gradient family (FGM, FGSM, BIM, PGD; Foolbox `BaseGradientDescent`): optional random
//! start, then `steps` × (gradient of the summed cross-entropy → normalise → step → project onto
//! the eps ball around `x0` → clamp to the bounds); the last iterate is returned.

use super::{clamp_all, l2, AttackError, Bounds, Classifier, Criterion, GradientParams, NoiseSource, Norm};

#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    norm: Norm,
    p: GradientParams,
    model: &dyn Classifier,
    bounds: &Bounds,
    x0: &[f32],
    criterion: &Criterion,
    eps: f32,
    noise: &mut dyn NoiseSource,
) -> Result<Vec<f32>, AttackError> {
    let per = model.input_len();
    let n = x0.len() / per;
    // Targeted: descend the loss of the target class.
    let (labels, sign) = match criterion {
        Criterion::Misclassification(l) => (l, 1.0f32),
        Criterion::Targeted(t) => (t, -1.0f32),
    };
    // Python computes rel_stepsize·eps in double; the f32 tensor op then rounds it once.
    let stepsize = p.abs_stepsize.unwrap_or((p.rel_stepsize as f64 * eps as f64) as f32);
    let mut x = x0.to_vec();
    if p.random_start {
        match norm {
            Norm::Linf => {
                let u = noise.uniform(x0.len(), -eps, eps)?;
                x.iter_mut().zip(&u).for_each(|(v, &u)| *v += u);
            }
            Norm::L2 => {
                // Uniform in the n-ball: a point on the unit sphere of R^(n+2), first n coordinates.
                let g = noise.normal(n * (per + 2))?;
                for (xs, gs) in x.chunks_exact_mut(per).zip(g.chunks_exact(per + 2)) {
                    let r = l2(gs);
                    xs.iter_mut().zip(gs).for_each(|(v, &g)| *v += eps * (g / r));
                }
            }
        }
        clamp_all(&mut x, bounds);
    }
    for _ in 0..p.steps {
        let g = model.loss_gradient(&x, labels).expect("gradient availability checked by run()");
        for ((xs, gs), x0s) in x.chunks_exact_mut(per).zip(g.chunks_exact(per)).zip(x0.chunks_exact(per)) {
            match norm {
                Norm::Linf => xs.iter_mut().zip(gs).for_each(|(v, &g)| *v += sign * (stepsize * signum0(g))),
                Norm::L2 => {
                    let factor = 1.0 / l2(gs).max(1e-12);
                    xs.iter_mut().zip(gs).for_each(|(v, &g)| *v += sign * (stepsize * (g * factor)));
                }
            }
            project(norm, xs, x0s, eps);
        }
        clamp_all(&mut x, bounds);
    }
    Ok(x)
}

/// `sign` with `sign(0) = 0` (a zero gradient does not move the pixel).
fn signum0(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// `x ← x0 + project(x − x0)` onto the eps ball of `norm`.
fn project(norm: Norm, x: &mut [f32], x0: &[f32], eps: f32) {
    match norm {
        Norm::Linf => x.iter_mut().zip(x0).for_each(|(v, &a)| *v = a + (*v - a).clamp(-eps, eps)),
        Norm::L2 => {
            let d: Vec<f32> = x.iter().zip(x0).map(|(&v, &a)| v - a).collect();
            let factor = (eps / l2(&d).max(1e-12)).min(1.0);
            x.iter_mut().zip(x0).zip(&d).for_each(|((v, &a), &d)| *v = a + d * factor);
        }
    }
}
