//! AutoAttack's standard ensemble (Croce & Hein, ICML 2020; fra31/auto-attack,
//! `version='standard'`): APGD-CE, APGD-T, FAB-T and Square, in that order, each attacking only
//! the images every earlier member left robust; an image is robust only if all four fail on it
//! (the per-image worst case), and its adversarial example is the first member's that fooled the
//! model attacked.
//!
//! A member that needs the input gradient is left out where the model attacked has none (the
//! `hardware` threat model: the accelerator answers queries only), so there the ensemble is its
//! query members; under `transfer` (the float model) and `bpda` (the accelerator's logits with
//! the float model's gradient) all four run.

use super::{
    apgd, fab, square, ApgdParams, AttackError, Bounds, Classifier, FabParams, NoiseSource, Norm, SquareParams,
};
use crate::accel::infer::argmax;

/// Parameters of the ensemble: its members' (the standard version's by default).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct AutoAttackParams {
    /// APGD-CE and APGD-T.
    pub apgd: ApgdParams,
    /// FAB-T.
    pub fab: FabParams,
    /// Square.
    pub square: SquareParams,
}

/// A member of the ensemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    /// APGD on the cross-entropy.
    ApgdCe,
    /// APGD on the targeted DLR loss.
    ApgdT,
    /// Targeted FAB.
    FabT,
    /// Square.
    Square,
}

impl Member {
    /// The standard version's members, in the order they run.
    pub const STANDARD: [Member; 4] = [Member::ApgdCe, Member::ApgdT, Member::FabT, Member::Square];

    /// Whether the member needs the model's input gradient.
    pub fn needs_gradient(self) -> bool {
        self != Member::Square
    }
}

/// The members that run against `model` (those needing a gradient only where it has one).
pub fn members_for(model: &dyn Classifier) -> Vec<Member> {
    Member::STANDARD.into_iter().filter(|m| !m.needs_gradient() || model.has_gradient()).collect()
}

/// The ensemble on `x0` (`n × input_len`) with `labels`: returns per image the first member's
/// adversarial example that fooled `model`, the clean input where none did.
#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    norm: Norm,
    p: AutoAttackParams,
    model: &dyn Classifier,
    bounds: &Bounds,
    x0: &[f32],
    labels: &[u8],
    eps: f32,
    noise: &mut dyn NoiseSource,
) -> Result<Vec<f32>, AttackError> {
    let per = model.input_len();
    let classes = model.classes();
    let mut robust: Vec<bool> =
        model.logits(x0).chunks_exact(classes).zip(labels).map(|(z, &y)| argmax(z) == y as usize).collect();
    let mut adv = x0.to_vec();
    for member in members_for(model) {
        let idx: Vec<usize> = (0..robust.len()).filter(|&i| robust[i]).collect();
        if idx.is_empty() {
            break;
        }
        let xs: Vec<f32> = super::gather(x0, &idx, per);
        let ys: Vec<u8> = idx.iter().map(|&i| labels[i]).collect();
        let out = match member {
            Member::ApgdCe => apgd::run(norm, apgd::ApgdLoss::Ce, p.apgd, model, bounds, &xs, &ys, eps, noise)?,
            Member::ApgdT => apgd::run(norm, apgd::ApgdLoss::DlrTargeted, p.apgd, model, bounds, &xs, &ys, eps, noise)?,
            Member::FabT => fab::run(norm, p.fab, model, bounds, &xs, &ys, eps, noise)?,
            Member::Square => square::run(norm, p.square, model, bounds, &xs, &ys, eps, noise)?,
        };
        // The reference's check after every member: the model's prediction on its output.
        let z = model.logits(&out);
        for (j, &i) in idx.iter().enumerate() {
            if argmax(&z[j * classes..(j + 1) * classes]) != ys[j] as usize {
                robust[i] = false;
                adv[i * per..(i + 1) * per].copy_from_slice(&out[j * per..(j + 1) * per]);
            }
        }
    }
    Ok(adv)
}
