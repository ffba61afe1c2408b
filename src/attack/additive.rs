//! Repeated additive noise (Foolbox `L2RepeatedAdditiveGaussianNoiseAttack`,
//! `L2RepeatedAdditiveUniformNoiseAttack`, `LinfRepeatedAdditiveUniformNoiseAttack`): up to
//! `repeats` whole-batch noise draws scaled to norm eps; each sample keeps its FIRST adversarial
//! draw, samples never fooled return `x0`.

use super::{clamp_all, l2, Attack, AttackError, Bounds, Classifier, Criterion, NoiseParams, NoiseSource};

#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    attack: Attack,
    p: NoiseParams,
    model: &dyn Classifier,
    bounds: &Bounds,
    x0: &[f32],
    criterion: &Criterion,
    eps: f32,
    noise: &mut dyn NoiseSource,
) -> Result<Vec<f32>, AttackError> {
    let per = model.input_len();
    let n = x0.len() / per;
    let classes = model.classes();
    let mut result = x0.to_vec();
    let mut found = if p.check_trivial { criterion.is_adversarial(&model.logits(x0), classes) } else { vec![false; n] };
    for _ in 0..p.repeats {
        // Batch-level early exit, checked before drawing.
        if found.iter().all(|&f| f) {
            break;
        }
        let noise_draw = match attack {
            Attack::L2RepeatedGaussian => noise.normal(x0.len())?,
            _ => noise.uniform(x0.len(), -1.0, 1.0)?,
        };
        // Only the samples not yet fooled are perturbed and evaluated: a fooled sample keeps
        // its first adversarial draw whatever later draws do, and every sample's logits are
        // computed on their own, so skipping them changes no output (the whole batch is still
        // drawn, keeping the noise stream).
        let open: Vec<usize> = (0..n).filter(|&i| !found[i]).collect();
        let mut x = Vec::with_capacity(open.len() * per);
        for &i in &open {
            let (xs, ps) = (&x0[i * per..(i + 1) * per], &noise_draw[i * per..(i + 1) * per]);
            let norm = match attack {
                // Foolbox divides by the largest SIGNED entry (the raw noise may exceed eps).
                Attack::LinfRepeatedUniform if !p.linf_abs_max => ps.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                Attack::LinfRepeatedUniform => ps.iter().fold(0.0f32, |m, &v| m.max(v.abs())),
                _ => l2(ps),
            };
            let a = eps / norm;
            x.extend(xs.iter().zip(ps).map(|(&v, &pv)| v + a * pv));
        }
        clamp_all(&mut x, bounds);
        // Evaluated on this raw draw (not clipped to the ball).
        let adv = criterion.subset(&open).is_adversarial(&model.logits(&x), classes);
        for (k, &i) in open.iter().enumerate() {
            if adv[k] {
                result[i * per..(i + 1) * per].copy_from_slice(&x[k * per..(k + 1) * per]);
                found[i] = true;
            }
        }
    }
    Ok(result)
}
