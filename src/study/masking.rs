//! Signs of gradient masking (Athalye et al. 2018; Carlini et al. 2019, "On Evaluating Adversarial
//! Robustness"; AutoAttack's own checks), computed from robust-accuracy series alone:
//!
//! - **black box beats white box**: on one target, a query attack (the `hardware` threat model)
//!   leaves fewer images robust than the best gradient attack through the same target (`bpda`)
//!   at the same norm and budget — the gradients mislead;
//! - **no fall with the budget**: a gradient attack's robust accuracy does not fall from its
//!   smallest to its largest budget, or rises significantly between two budgets (exact McNemar,
//!   p < 0.05) — a stronger attacker should never do worse;
//! - **unbounded budget not at 0 %**: a gradient attack whose budget covers the whole input box
//!   (Linf ≥ 1 pixel, L2 ≥ √(input size)) leaves an image robust;
//! - **dead gradients**: the input gradient is zero or non-finite for more than 1 % of the images
//!   ([`dead_gradient_share`]; needs the model, so it is checked where gradients are computed).
//!
//! The flags say where a "more robust" cell may only mean a weak attack; no flag is no proof.

use super::report::mcnemar_exact;
use crate::attack::Norm;

/// How a series' attack reached its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Input gradients through the target itself (white box; `bpda` through the accelerator).
    WhiteBox,
    /// Queries to the target's outputs only (black box; `hardware`).
    BlackBox,
    /// Anything else (examples made on another model): compared with nothing.
    Other,
}

/// One attack's robust accuracies against one target over its budgets.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The target (model, configuration, multiplier), as reports print it.
    pub target: String,
    /// The attack's name.
    pub attack: String,
    /// The threat model's name.
    pub threat: String,
    /// How the attack reached the target.
    pub access: Access,
    /// Whether the attack follows input gradients (gradient attacks and ensembles with gradient
    /// members): the budget checks apply to these.
    pub gradient: bool,
    /// The budget's norm.
    pub norm: Norm,
    /// Per budget (> 0), per image: classified correctly after the attack (same images in every
    /// point and every series of a target).
    pub points: Vec<(f32, Vec<bool>)>,
}

/// A sign of gradient masking.
#[derive(Debug, Clone, PartialEq)]
pub enum Flag {
    /// A query attack beat every gradient attack through the same target.
    BlackBoxStronger {
        /// The target.
        target: String,
        /// The budget.
        epsilon: f32,
        /// The best query attack and the images it left robust.
        black: (String, usize),
        /// The best gradient attack and the images it left robust.
        white: (String, usize),
        /// Images compared.
        n: usize,
        /// Exact McNemar p-value of the two on the same images.
        p: f64,
    },
    /// Robust accuracy did not fall as the budget grew.
    NoFallWithBudget {
        /// The target.
        target: String,
        /// The attack and threat model.
        attack: String,
        /// The two budgets and the images left robust at each.
        from: (f32, usize),
        /// The larger budget and the images left robust there.
        to: (f32, usize),
        /// Exact McNemar p-value of the two budgets on the same images.
        p: f64,
    },
    /// An unbounded budget left images robust.
    UnboundedNotZero {
        /// The target.
        target: String,
        /// The attack and threat model.
        attack: String,
        /// The budget.
        epsilon: f32,
        /// Images left robust.
        robust: usize,
    },
    /// Zero or non-finite input gradients for more than 1 % of the images.
    DeadGradients {
        /// The model whose gradient it is.
        model: String,
        /// Images with a dead gradient.
        dead: usize,
        /// Images checked.
        n: usize,
    },
}

impl std::fmt::Display for Flag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Flag::BlackBoxStronger { target, epsilon, black, white, n, p } => write!(
                f,
                "black box beats white box: {target}, eps {epsilon}: {} leaves {}/{n} robust, the best gradient attack {} {}/{n} (McNemar p = {})",
                black.0,
                black.1,
                white.0,
                white.1,
                super::report::fmt_p(*p)
            ),
            Flag::NoFallWithBudget { target, attack, from, to, p } => write!(
                f,
                "no fall with the budget: {target}, {attack}: {} robust at eps {}, {} at eps {} (McNemar p = {})",
                from.1,
                from.0,
                to.1,
                to.0,
                super::report::fmt_p(*p)
            ),
            Flag::UnboundedNotZero { target, attack, epsilon, robust } => {
                write!(f, "unbounded budget not at 0 %: {target}, {attack} at eps {epsilon}: {robust} images robust")
            }
            Flag::DeadGradients { model, dead, n } => {
                write!(f, "dead gradients: {model}: zero or non-finite input gradient on {dead}/{n} images")
            }
        }
    }
}

/// The smallest budget that covers the whole `[0, 1]` box of an input of `input_len` values.
pub fn unbounded(norm: Norm, input_len: usize) -> f32 {
    match norm {
        Norm::Linf => 1.0,
        Norm::L2 => (input_len as f32).sqrt(),
    }
}

fn robust(bits: &[bool]) -> usize {
    bits.iter().filter(|&&b| b).count()
}

/// McNemar p of "robust at a, not at b" against the reverse.
fn paired_p(a: &[bool], b: &[bool]) -> f64 {
    let only_a = a.iter().zip(b).filter(|(&x, &y)| x && !y).count();
    let only_b = a.iter().zip(b).filter(|(&x, &y)| !x && y).count();
    mcnemar_exact(only_a, only_b)
}

/// Every flag the series raise; `input_len` of the target's input (for the L2 unbounded budget).
pub fn flags(series: &[Series], input_len: usize) -> Vec<Flag> {
    let mut out = Vec::new();
    // Black box vs white box, per target, norm and budget.
    let mut keys: Vec<(&str, Norm, u32)> = series
        .iter()
        .flat_map(|s| s.points.iter().map(move |(e, _)| (s.target.as_str(), s.norm, e.to_bits())))
        .collect();
    keys.sort_by(|a, b| {
        (a.0, a.1 as u8, f32::from_bits(a.2)).partial_cmp(&(b.0, b.1 as u8, f32::from_bits(b.2))).unwrap()
    });
    keys.dedup();
    for (target, norm, eps) in keys {
        let best = |access: Access| {
            series
                .iter()
                .filter(|s| s.target == target && s.norm == norm && s.access == access)
                .filter_map(|s| s.points.iter().find(|(e, _)| e.to_bits() == eps).map(|(_, b)| (s, b)))
                .min_by_key(|(_, b)| robust(b))
        };
        if let (Some((bs, bb)), Some((ws, wb))) = (best(Access::BlackBox), best(Access::WhiteBox)) {
            if robust(bb) < robust(wb) {
                out.push(Flag::BlackBoxStronger {
                    target: target.to_string(),
                    epsilon: f32::from_bits(eps),
                    black: (bs.attack.clone(), robust(bb)),
                    white: (ws.attack.clone(), robust(wb)),
                    n: bb.len(),
                    p: paired_p(bb, wb),
                });
            }
        }
    }
    for s in series.iter().filter(|s| s.gradient) {
        let mut pts: Vec<&(f32, Vec<bool>)> = s.points.iter().filter(|(e, _)| *e > 0.0).collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let label = format!("{} ({})", s.attack, s.threat);
        let no_fall = |a: &(f32, Vec<bool>), b: &(f32, Vec<bool>)| Flag::NoFallWithBudget {
            target: s.target.clone(),
            attack: label.clone(),
            from: (a.0, robust(&a.1)),
            to: (b.0, robust(&b.1)),
            p: paired_p(&b.1, &a.1),
        };
        let mut flagged = false;
        for w in pts.windows(2) {
            let (a, b) = (w[0], w[1]);
            if robust(&b.1) > robust(&a.1) && paired_p(&b.1, &a.1) < 0.05 {
                out.push(no_fall(a, b));
                flagged = true;
            }
        }
        if let (false, Some(&first), Some(&last)) = (flagged, pts.first(), pts.last()) {
            if pts.len() >= 2 && robust(&first.1) > 0 && robust(&last.1) >= robust(&first.1) {
                out.push(no_fall(first, last));
            }
        }
        for (e, bits) in &pts {
            if *e >= unbounded(s.norm, input_len) && robust(bits) > 0 {
                out.push(Flag::UnboundedNotZero {
                    target: s.target.clone(),
                    attack: label.clone(),
                    epsilon: *e,
                    robust: robust(bits),
                });
            }
        }
    }
    out
}

/// Images (of `gradients`, `n × input_len`) whose input gradient is all zero or has a
/// non-finite entry.
pub fn dead_gradient_share(gradients: &[f32], input_len: usize) -> (usize, usize) {
    let dead = gradients
        .chunks_exact(input_len)
        .filter(|g| g.iter().all(|&v| v == 0.0) || g.iter().any(|v| !v.is_finite()))
        .count();
    (dead, gradients.len() / input_len.max(1))
}

/// The dead-gradient flag for `model` when more than 1 % of the images have one.
pub fn dead_gradient_flag(model: &str, gradients: &[f32], input_len: usize) -> Option<Flag> {
    let (dead, n) = dead_gradient_share(gradients, input_len);
    (dead * 100 > n).then(|| Flag::DeadGradients { model: model.to_string(), dead, n })
}
