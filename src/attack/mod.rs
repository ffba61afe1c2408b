//! The ten fixed-epsilon adversarial attacks of the paper with Foolbox 3.3 semantics
//! (`../shared/docs/attacks.md`): FGM/FGSM, L2/Linf BIM, L2/Linf PGD, L2 contrast reduction and
//! repeated additive Gaussian/uniform noise; and AutoAttack's APGD-CE and APGD-T (Croce & Hein
//! 2020, the reference implementation's semantics; [`apgd`]) and Square (score-based, queries
//! only the logits; [`square`]), FAB-T ([`fab`]) and their standard ensemble AutoAttack
//! ([`autoattack`]).
//!
//! An attack sees a [`Classifier`] (logits, and the input gradient of the summed cross-entropy
//! when it has one) and draws every random number from a [`NoiseSource`], seeded by default and
//! replayable in tests. For every epsilon, in order and independently: `raw` = the attack's
//! output, `clipped` = `raw` with its perturbation clipped to the epsilon ball of the attack's
//! norm, `success` = the criterion on the model's prediction for `clipped` (not `raw`).

mod additive;
pub mod apgd;
pub mod autoattack;
mod classifier;
mod contrast;
pub mod fab;
mod gradient;
mod noise;
pub mod square;

pub use apgd::ApgdParams;
pub use autoattack::AutoAttackParams;
pub use classifier::{AccelClassifier, BpdaClassifier, Classifier, FloatClassifier, LogitLossGrad, NormalizedView};
pub use fab::FabParams;
pub use noise::{Draw, NoiseSource, ReplayNoise, SeededNoise};
pub use square::SquareParams;

use std::fmt;

/// A perturbation budget in the units of the model's input bounds (pixels in `[0, 1]`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Serialize, serde::Deserialize)]
pub struct Epsilon(pub f32);

impl Epsilon {
    /// `v` as a budget, if it is finite and ≥ 0.
    pub fn new(v: f32) -> Result<Epsilon, AttackError> {
        if v.is_finite() && v >= 0.0 {
            Ok(Epsilon(v))
        } else {
            Err(AttackError::Epsilon(v))
        }
    }
}

impl fmt::Display for Epsilon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The norm an attack measures its perturbation with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Norm {
    /// Euclidean norm over a sample's elements.
    L2,
    /// Largest absolute element.
    Linf,
}

/// The units budgets are stated in: pixels of `[0, 1]`, or the model's normalized input
/// (`(x − mean_c)/std_c`; an Linf budget ε there is `ε·std_c` in pixels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EpsUnits {
    /// Pixels of `[0, 1]`.
    #[default]
    Pixel,
    /// The model's normalized input.
    Normalized,
}

crate::name_table!(EpsUnits, "epsilon units": Pixel = "pixel", Normalized = "normalized");

impl EpsUnits {
    /// Whether budgets are in pixels.
    pub fn is_pixel(&self) -> bool {
        *self == EpsUnits::Pixel
    }
}

/// Input domain of the model: one interval for every element, or one per channel (an attack in
/// normalized coordinates, where `[0, 1]` maps to `[(0 − mean_c)/std_c, (1 − mean_c)/std_c]`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Bounds {
    /// Per channel (one entry: every element).
    pub lower: Vec<f32>,
    /// Per channel (one entry: every element), as `lower`.
    pub upper: Vec<f32>,
    /// Elements per channel plane (`H·W`); unused with one entry.
    pub plane: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds::uniform(0.0, 1.0)
    }
}

impl Bounds {
    /// One interval `[lower, upper]` for every element.
    pub fn uniform(lower: f32, upper: f32) -> Bounds {
        Bounds { lower: vec![lower], upper: vec![upper], plane: 1 }
    }

    /// One interval per channel of NCHW samples whose planes hold `plane` elements.
    pub fn per_channel(lower: Vec<f32>, upper: Vec<f32>, plane: usize) -> Bounds {
        assert_eq!(lower.len(), upper.len(), "bounds: as many lower as upper limits");
        Bounds { lower, upper, plane: plane.max(1) }
    }

    /// Channel of element `i` of a batch (NCHW: channel planes repeat sample after sample).
    #[inline]
    fn channel(&self, i: usize) -> usize {
        if self.lower.len() == 1 {
            0
        } else {
            (i / self.plane) % self.lower.len()
        }
    }

    /// The interval of element `i` of a batch.
    #[inline]
    pub fn at(&self, i: usize) -> (f32, f32) {
        let c = self.channel(i);
        (self.lower[c], self.upper[c])
    }

    /// Clamp a batch element-wise into its intervals.
    pub fn clamp(&self, x: &mut [f32]) {
        if self.lower.len() == 1 {
            let (l, u) = (self.lower[0], self.upper[0]);
            x.iter_mut().for_each(|v| *v = v.clamp(l, u));
        } else {
            for (p, chunk) in x.chunks_mut(self.plane).enumerate() {
                let c = p % self.lower.len();
                let (l, u) = (self.lower[c], self.upper[c]);
                chunk.iter_mut().for_each(|v| *v = v.clamp(l, u));
            }
        }
    }
}

/// The attacks: the paper's ten ([`Attack::PAPER`], Foolbox 3 class in [`Attack::foolbox_name`])
/// and AutoAttack's APGD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Attack {
    /// Fast gradient method, L2 (Foolbox `L2FastGradientAttack`).
    Fgm,
    /// Fast gradient sign method, Linf (`LinfFastGradientAttack`).
    Fgsm,
    /// Basic iterative method, L2.
    L2Bim,
    /// Basic iterative method, Linf.
    LinfBim,
    /// Projected gradient descent with random start, L2.
    L2Pgd,
    /// Projected gradient descent with random start, Linf.
    LinfPgd,
    /// Contrast reduction towards grey, L2 (no model calls).
    L2ContrastReduction,
    /// Repeated additive Gaussian noise, L2.
    L2RepeatedGaussian,
    /// Repeated additive uniform noise, L2.
    L2RepeatedUniform,
    /// Repeated additive uniform noise, Linf.
    LinfRepeatedUniform,
    /// APGD on the cross-entropy, Linf (AutoAttack's `APGDAttack`, loss `ce`).
    LinfApgdCe,
    /// APGD on the targeted DLR loss, Linf (AutoAttack's `APGDAttack_targeted`).
    LinfApgdT,
    /// APGD on the cross-entropy, L2.
    L2ApgdCe,
    /// APGD on the targeted DLR loss, L2.
    L2ApgdT,
    /// Square Attack, Linf (AutoAttack's `SquareAttack`): random search on the logits only.
    LinfSquare,
    /// Square Attack, L2.
    L2Square,
    /// Targeted FAB, Linf (AutoAttack's `FABAttack_PT` with `targeted=True`): least-norm
    /// boundary search towards each of 9 runner-up classes.
    LinfFabT,
    /// Targeted FAB, L2.
    L2FabT,
    /// AutoAttack's standard ensemble, Linf: APGD-CE, APGD-T, FAB-T, Square; per-image worst case.
    LinfAutoAttack,
    /// AutoAttack's standard ensemble, L2.
    L2AutoAttack,
}

/// What of the model an attack uses, which decides the threat models it runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The input gradient (the float model under `transfer`, BPDA through the accelerator).
    Gradient,
    /// Logits or decisions only (the float model under `transfer`, the accelerator itself under
    /// `hardware`).
    Query,
    /// An ensemble of both kinds: every threat model, with its query members only where the model
    /// attacked has no gradient.
    Ensemble,
}

crate::name_table!(Attack, "attack": Fgm = "fgm" | "L2FastGradientAttack", Fgsm = "fgsm" | "LinfFastGradientAttack", L2Bim = "l2-bim" | "L2BasicIterativeAttack", LinfBim = "linf-bim" | "LinfBasicIterativeAttack", L2Pgd = "l2-pgd" | "L2ProjectedGradientDescentAttack", LinfPgd = "linf-pgd" | "LinfProjectedGradientDescentAttack", L2ContrastReduction = "l2-contrast" | "L2ContrastReductionAttack", L2RepeatedGaussian = "l2-gaussian" | "L2RepeatedAdditiveGaussianNoiseAttack", L2RepeatedUniform = "l2-uniform" | "L2RepeatedAdditiveUniformNoiseAttack", LinfRepeatedUniform = "linf-uniform" | "LinfRepeatedAdditiveUniformNoiseAttack", LinfApgdCe = "linf-apgd-ce", LinfApgdT = "linf-apgd-t", L2ApgdCe = "l2-apgd-ce", L2ApgdT = "l2-apgd-t", LinfSquare = "linf-square", L2Square = "l2-square", LinfFabT = "linf-fab-t", L2FabT = "l2-fab-t", LinfAutoAttack = "linf-autoattack", L2AutoAttack = "l2-autoattack");

impl Attack {
    /// The paper's ten attacks, in declaration order: what `all` names in plans.
    pub const PAPER: [Attack; 10] = [
        Attack::Fgm,
        Attack::Fgsm,
        Attack::L2Bim,
        Attack::LinfBim,
        Attack::L2Pgd,
        Attack::LinfPgd,
        Attack::L2ContrastReduction,
        Attack::L2RepeatedGaussian,
        Attack::L2RepeatedUniform,
        Attack::LinfRepeatedUniform,
    ];

    /// The class implementing the attack in its reference: Foolbox 3 for the paper's ten,
    /// AutoAttack (`autopgd_base.py`, either norm) for APGD.
    pub fn foolbox_name(self) -> &'static str {
        match self {
            Attack::Fgm => "L2FastGradientAttack",
            Attack::Fgsm => "LinfFastGradientAttack",
            Attack::L2Bim => "L2BasicIterativeAttack",
            Attack::LinfBim => "LinfBasicIterativeAttack",
            Attack::L2Pgd => "L2ProjectedGradientDescentAttack",
            Attack::LinfPgd => "LinfProjectedGradientDescentAttack",
            Attack::L2ContrastReduction => "L2ContrastReductionAttack",
            Attack::L2RepeatedGaussian => "L2RepeatedAdditiveGaussianNoiseAttack",
            Attack::L2RepeatedUniform => "L2RepeatedAdditiveUniformNoiseAttack",
            Attack::LinfRepeatedUniform => "LinfRepeatedAdditiveUniformNoiseAttack",
            Attack::LinfApgdCe | Attack::L2ApgdCe => "APGDAttack",
            Attack::LinfApgdT | Attack::L2ApgdT => "APGDAttack_targeted",
            Attack::LinfSquare | Attack::L2Square => "SquareAttack",
            Attack::LinfFabT | Attack::L2FabT => "FABAttack_PT",
            Attack::LinfAutoAttack | Attack::L2AutoAttack => "AutoAttack",
        }
    }

    /// The attack of a Foolbox 3 class name (one of the paper's ten).
    pub fn from_foolbox_name(s: &str) -> Option<Attack> {
        Attack::PAPER.into_iter().find(|a| a.foolbox_name() == s)
    }

    /// The norm the attack's budget is measured in.
    pub fn norm(self) -> Norm {
        match self {
            Attack::Fgsm
            | Attack::LinfBim
            | Attack::LinfPgd
            | Attack::LinfRepeatedUniform
            | Attack::LinfApgdCe
            | Attack::LinfApgdT
            | Attack::LinfSquare
            | Attack::LinfFabT
            | Attack::LinfAutoAttack => Norm::Linf,
            _ => Norm::L2,
        }
    }

    /// Revision of this attack's numerics: bumped whenever a change can alter its adversarial
    /// examples, so stored results of an older revision are never reused (a study's `RunKey`
    /// holds it). Gradient attacks: 2 since the stable cross-entropy gradient (log-sum-exp, label
    /// term as −Σ_{c≠y} p_c); APGD and the others: 1.
    pub fn revision(self) -> u32 {
        if self.is_autoattack_family() {
            1
        } else if self.needs_gradient() {
            2
        } else {
            1
        }
    }

    /// Whether the attack needs the model's input gradient (an ensemble does not: it runs its
    /// query members where there is none).
    pub fn needs_gradient(self) -> bool {
        self.access() == Access::Gradient
    }

    /// What of the model the attack uses.
    pub fn access(self) -> Access {
        match self {
            Attack::Fgm | Attack::Fgsm | Attack::L2Bim | Attack::LinfBim | Attack::L2Pgd | Attack::LinfPgd => {
                Access::Gradient
            }
            Attack::LinfFabT | Attack::L2FabT => Access::Gradient,
            a if a.is_apgd() => Access::Gradient,
            Attack::LinfAutoAttack | Attack::L2AutoAttack => Access::Ensemble,
            _ => Access::Query,
        }
    }

    /// Whether the attack is AutoAttack or one of its members (untargeted criteria only).
    pub fn is_autoattack_family(self) -> bool {
        self.is_apgd()
            || matches!(
                self,
                Attack::LinfSquare
                    | Attack::L2Square
                    | Attack::LinfFabT
                    | Attack::L2FabT
                    | Attack::LinfAutoAttack
                    | Attack::L2AutoAttack
            )
    }

    /// Whether the attack is one of AutoAttack's APGD.
    pub fn is_apgd(self) -> bool {
        matches!(self, Attack::LinfApgdCe | Attack::LinfApgdT | Attack::L2ApgdCe | Attack::L2ApgdT)
    }

    /// Foolbox's default parameters.
    pub fn default_params(self) -> AttackParams {
        let g = |steps, rel_stepsize, random_start| {
            AttackParams::Gradient(GradientParams { steps, rel_stepsize, abs_stepsize: None, random_start })
        };
        let n = || AttackParams::Noise(NoiseParams { repeats: 100, check_trivial: true, linf_abs_max: false });
        match self {
            Attack::Fgm | Attack::Fgsm => g(1, 1.0, false),
            Attack::L2Bim | Attack::LinfBim => g(10, 0.2, false),
            Attack::L2Pgd => g(50, 0.025, true),
            Attack::LinfPgd => g(40, 0.01 / 0.3, true),
            Attack::L2ContrastReduction => AttackParams::Contrast { target: 0.5 },
            Attack::L2RepeatedGaussian | Attack::L2RepeatedUniform | Attack::LinfRepeatedUniform => n(),
            Attack::LinfApgdCe | Attack::LinfApgdT | Attack::L2ApgdCe | Attack::L2ApgdT => {
                AttackParams::Apgd(ApgdParams::default())
            }
            Attack::LinfSquare | Attack::L2Square => AttackParams::Square(SquareParams::default()),
            Attack::LinfFabT | Attack::L2FabT => AttackParams::Fab(FabParams::default()),
            Attack::LinfAutoAttack | Attack::L2AutoAttack => AttackParams::AutoAttack(AutoAttackParams::default()),
        }
    }
}

/// Parameters of the gradient family (Foolbox `BaseGradientDescent`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct GradientParams {
    /// Gradient steps.
    pub steps: usize,
    /// Step size as a fraction of epsilon (unless `abs_stepsize`).
    pub rel_stepsize: f32,
    /// Step size in input units, overriding `rel_stepsize`.
    pub abs_stepsize: Option<f32>,
    /// Start from a uniformly random point of the epsilon ball.
    pub random_start: bool,
}

/// Parameters of the repeated additive noise attacks.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct NoiseParams {
    /// Noise draws per epsilon (each sample keeps its first adversarial one).
    pub repeats: usize,
    /// Count samples already adversarial without noise as successes (Foolbox's `check_trivial`).
    pub check_trivial: bool,
    /// Scale Linf noise by `max |p|` instead of Foolbox's signed `max p` (which overshoots eps
    /// for about half the draws). Off by default: Foolbox's behaviour.
    pub linf_abs_max: bool,
}

/// An attack's parameters, per family.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum AttackParams {
    /// Parameters of the gradient attacks.
    Gradient(GradientParams),
    /// Parameters of the contrast reduction attack.
    Contrast {
        /// The grey level moved towards, as a fraction of each element's interval (Foolbox default
        /// 0.5).
        target: f32,
    },
    /// Parameters of the repeated noise attacks.
    Noise(NoiseParams),
    /// Parameters of APGD.
    Apgd(ApgdParams),
    /// Parameters of Square.
    Square(SquareParams),
    /// Parameters of FAB.
    Fab(FabParams),
    /// Parameters of the AutoAttack ensemble.
    AutoAttack(AutoAttackParams),
}

/// What counts as adversarial (Foolbox `Misclassification` / `TargetedMisclassification`).
#[derive(Debug, Clone, PartialEq)]
pub enum Criterion {
    /// Adversarial iff the predicted class differs from the label.
    Misclassification(Vec<u8>),
    /// Adversarial iff the predicted class equals the target.
    Targeted(Vec<u8>),
}

impl Criterion {
    fn classes(&self) -> &[u8] {
        match self {
            Criterion::Misclassification(l) | Criterion::Targeted(l) => l,
        }
    }

    /// The criterion of the samples `idx` (in that order).
    pub fn subset(&self, idx: &[usize]) -> Criterion {
        let pick = |l: &[u8]| idx.iter().map(|&i| l[i]).collect();
        match self {
            Criterion::Misclassification(l) => Criterion::Misclassification(pick(l)),
            Criterion::Targeted(l) => Criterion::Targeted(pick(l)),
        }
    }

    /// Per sample, from logits (`n × classes`); argmax ties go to the first index.
    pub fn is_adversarial(&self, logits: &[f32], classes: usize) -> Vec<bool> {
        logits
            .chunks_exact(classes)
            .zip(self.classes())
            .map(|(z, &c)| {
                let pred = crate::accel::infer::argmax(z);
                match self {
                    Criterion::Misclassification(_) => pred != c as usize,
                    Criterion::Targeted(_) => pred == c as usize,
                }
            })
            .collect()
    }
}

/// Results for each epsilon: `raw[k]`, `clipped[k]` (`n × input_len` each), `success[k][i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttackOutput {
    /// The budgets, in order.
    pub epsilons: Vec<Epsilon>,
    /// Per epsilon: the attack's output, `n × input_len`.
    pub raw: Vec<Vec<f32>>,
    /// Per epsilon: `raw` with the perturbation clipped to the epsilon ball, `n × input_len`.
    pub clipped: Vec<Vec<f32>>,
    /// Per epsilon, per sample: whether the model's prediction on `clipped` meets the criterion.
    pub success: Vec<Vec<bool>>,
}

impl AttackOutput {
    /// `1 − mean(success)` per epsilon (Foolbox's robust accuracy).
    pub fn robust_accuracy(&self) -> Vec<f64> {
        self.success.iter().map(|s| 1.0 - s.iter().filter(|&&b| b).count() as f64 / s.len().max(1) as f64).collect()
    }
}

/// Why an attack could not run.
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    /// An epsilon that is negative, infinite or NaN (the value).
    #[error("epsilon {0} is not a finite non-negative number")]
    Epsilon(f32),
    /// An input element outside the model's bounds.
    #[error("input sample {sample}, element {index} is {value}, outside the model bounds [{lower}, {upper}]")]
    OutOfBounds {
        /// The sample, 0-based.
        sample: usize,
        /// The element within the sample.
        index: usize,
        /// Its value.
        value: f32,
        /// The lower bound there.
        lower: f32,
        /// The upper bound there.
        upper: f32,
    },
    /// Per-channel bounds whose channels and planes do not divide the sample.
    #[error("bounds for {channels} channels of {plane} elements do not fit samples of {per} values")]
    BoundsShape {
        /// Channels of the bounds.
        channels: usize,
        /// Elements per channel plane.
        plane: usize,
        /// Values per sample.
        per: usize,
    },
    /// Input that is not whole samples.
    #[error("input holds {len} values, not a multiple of the sample size {per}")]
    Shape {
        /// Values given.
        len: usize,
        /// Values per sample.
        per: usize,
    },
    /// As many labels as samples are needed.
    #[error("{labels} labels for {samples} samples")]
    Labels {
        /// Labels given.
        labels: usize,
        /// Samples given.
        samples: usize,
    },
    /// A label that is not a class of the model.
    #[error("label {label} of sample {sample} is not a class of a {classes}-class model")]
    LabelRange {
        /// The sample, 0-based.
        sample: usize,
        /// Its label.
        label: u8,
        /// The model's classes.
        classes: usize,
    },
    /// A gradient attack on a model without gradients.
    #[error("attack {attack} needs input gradients; model '{model}' has none")]
    NoGradient {
        /// The attack.
        attack: Attack,
        /// The model's name.
        model: String,
    },
    /// A targeted criterion for an attack that supports none (the attack).
    #[error("attack {0} does not support a targeted criterion (Foolbox: unsupported criterion)")]
    Targeted(Attack),
    /// A model with fewer classes than the attack's loss needs.
    #[error("attack {attack} needs a model of at least {needs} classes; this one has {classes}")]
    Classes {
        /// The attack.
        attack: Attack,
        /// The fewest classes it needs.
        needs: usize,
        /// The model's classes.
        classes: usize,
    },
    /// Parameters of another attack family than the attack's.
    #[error("{attack} takes {expected} parameters")]
    Params {
        /// The attack.
        attack: Attack,
        /// The family it takes (e.g. "gradient").
        expected: &'static str,
    },
    /// A normalization that does not fit the input channels (what is wrong).
    #[error("input normalization: {0}")]
    Normalization(String),
    /// Recorded draws that do not match what the attack asks for (what differs).
    #[error("noise replay: {0}")]
    Replay(String),
}

/// Run `attack` with `params` on `x` (`n × model.input_len()`, inside `bounds`) for every
/// epsilon, in order (one independent run each, drawing from `noise` one after another).
#[allow(clippy::too_many_arguments)]
pub fn run(
    attack: Attack,
    params: AttackParams,
    model: &dyn Classifier,
    bounds: &Bounds,
    x: &[f32],
    criterion: &Criterion,
    epsilons: &[Epsilon],
    noise: &mut dyn NoiseSource,
) -> Result<AttackOutput, AttackError> {
    let per = model.input_len();
    if per == 0 || !x.len().is_multiple_of(per) {
        return Err(AttackError::Shape { len: x.len(), per });
    }
    let n = x.len() / per;
    let labels = criterion.classes();
    if labels.len() != n {
        return Err(AttackError::Labels { labels: labels.len(), samples: n });
    }
    if let Some((i, &l)) = labels.iter().enumerate().find(|(_, &l)| l as usize >= model.classes()) {
        return Err(AttackError::LabelRange { sample: i, label: l, classes: model.classes() });
    }
    if bounds.lower.len() != 1 && bounds.lower.len() * bounds.plane != per {
        return Err(AttackError::BoundsShape { channels: bounds.lower.len(), plane: bounds.plane, per });
    }
    if let Some((i, &v)) = x.iter().enumerate().find(|&(i, &v)| {
        let (l, u) = bounds.at(i);
        !(v >= l && v <= u)
    }) {
        let (lower, upper) = bounds.at(i);
        return Err(AttackError::OutOfBounds { sample: i / per, index: i % per, value: v, lower, upper });
    }
    for e in epsilons {
        Epsilon::new(e.0)?;
    }
    if attack.needs_gradient() && !model.has_gradient() {
        return Err(AttackError::NoGradient { attack, model: model.name() });
    }
    // APGD-T and FAB-T are untargeted in their success criterion (their targets are internal), as
    // in AutoAttack; AutoAttack runs Square untargeted.
    if matches!(criterion, Criterion::Targeted(_))
        && (matches!(attack, Attack::Fgm | Attack::Fgsm) || attack.is_autoattack_family())
    {
        return Err(AttackError::Targeted(attack));
    }
    let apgd_loss = match attack {
        Attack::LinfApgdT | Attack::L2ApgdT => apgd::ApgdLoss::DlrTargeted,
        _ => apgd::ApgdLoss::Ce,
    };
    let needs_classes = match attack {
        a if a.is_apgd() => apgd::min_classes(apgd_loss),
        Attack::LinfFabT | Attack::L2FabT => fab::MIN_CLASSES,
        // APGD-T's DLR loss, the most demanding member.
        Attack::LinfAutoAttack | Attack::L2AutoAttack => apgd::min_classes(apgd::ApgdLoss::DlrTargeted),
        _ => 0,
    };
    if model.classes() < needs_classes {
        return Err(AttackError::Classes { attack, needs: needs_classes, classes: model.classes() });
    }
    let norm = attack.norm();
    let mut out = AttackOutput { epsilons: epsilons.to_vec(), raw: vec![], clipped: vec![], success: vec![] };
    for &eps in epsilons {
        let raw = match (attack, params) {
            (a, AttackParams::Apgd(p)) if a.is_apgd() => {
                apgd::run(norm, apgd_loss, p, model, bounds, x, labels, eps.0, noise)?
            }
            (Attack::LinfSquare | Attack::L2Square, AttackParams::Square(p)) => {
                square::run(norm, p, model, bounds, x, labels, eps.0, noise)?
            }
            (Attack::LinfFabT | Attack::L2FabT, AttackParams::Fab(p)) => {
                fab::run(norm, p, model, bounds, x, labels, eps.0, noise)?
            }
            (Attack::LinfAutoAttack | Attack::L2AutoAttack, AttackParams::AutoAttack(p)) => {
                autoattack::run(norm, p, model, bounds, x, labels, eps.0, noise)?
            }
            (a, AttackParams::Gradient(p)) if a.needs_gradient() && !a.is_apgd() => {
                gradient::run(norm, p, model, bounds, x, criterion, eps.0, noise)?
            }
            (Attack::L2ContrastReduction, AttackParams::Contrast { target }) => {
                contrast::run(target, bounds, x, per, eps.0)
            }
            (
                Attack::L2RepeatedGaussian | Attack::L2RepeatedUniform | Attack::LinfRepeatedUniform,
                AttackParams::Noise(p),
            ) => additive::run(attack, p, model, bounds, x, criterion, eps.0, noise)?,
            _ => {
                let expected = match attack.default_params() {
                    AttackParams::Gradient(_) => "gradient",
                    AttackParams::Contrast { .. } => "contrast",
                    AttackParams::Noise(_) => "noise",
                    AttackParams::Apgd(_) => "apgd",
                    AttackParams::Square(_) => "square",
                    AttackParams::Fab(_) => "fab",
                    AttackParams::AutoAttack(_) => "autoattack",
                };
                return Err(AttackError::Params { attack, expected });
            }
        };
        let clipped = clip_perturbation(norm, x, &raw, per, eps.0);
        let success = criterion.is_adversarial(&model.logits(&clipped), model.classes());
        out.raw.push(raw);
        out.clipped.push(clipped);
        out.success.push(success);
    }
    Ok(out)
}

/// [`run`] with budgets in normalized units: the attack runs on `z = (x − mean_c)/std_c` within
/// the per-channel image of `[0, 1]`; its outputs are mapped back to pixels (clamped to `[0, 1]`
/// against rounding) and judged there.
#[allow(clippy::too_many_arguments)]
pub fn run_normalized(
    attack: Attack,
    params: AttackParams,
    model: &dyn Classifier,
    norm: &crate::model::Normalization,
    input: crate::model::Shape,
    x: &[f32],
    criterion: &Criterion,
    epsilons: &[Epsilon],
    noise: &mut dyn NoiseSource,
) -> Result<AttackOutput, AttackError> {
    norm.check(input.c).map_err(AttackError::Normalization)?;
    let (lower, upper): (Vec<f32>, Vec<f32>) = (0..input.c)
        .map(|c| {
            let (m, s) = norm.channel(c);
            ((0.0 - m) / s, (1.0 - m) / s)
        })
        .unzip();
    let bounds = Bounds::per_channel(lower, upper, input.h * input.w);
    let mut z = x.to_vec();
    norm.forward(&mut z, input);
    // Rounding may put z a hair outside its interval.
    bounds.clamp(&mut z);
    let view = NormalizedView { inner: model, norm, input };
    let mut out = run(attack, params, &view, &bounds, &z, criterion, epsilons, noise)?;
    for v in out.raw.iter_mut().chain(out.clipped.iter_mut()) {
        norm.inverse(v, input);
        v.iter_mut().for_each(|p| *p = p.clamp(0.0, 1.0));
    }
    for (s, c) in out.success.iter_mut().zip(&out.clipped) {
        *s = criterion.is_adversarial(&model.logits(c), model.classes());
    }
    Ok(out)
}

/// Foolbox `LpDistance.clip_perturbation`: the perturbation shrunk into the eps ball.
pub fn clip_perturbation(norm: Norm, x0: &[f32], x: &[f32], per: usize, eps: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for (a, b) in x0.chunks_exact(per).zip(x.chunks_exact(per)) {
        match norm {
            Norm::Linf => out.extend(a.iter().zip(b).map(|(&a, &b)| a + (b - a).clamp(-eps, eps))),
            Norm::L2 => {
                let d: Vec<f32> = a.iter().zip(b).map(|(&a, &b)| b - a).collect();
                let factor = (eps / l2(&d).max(1e-12)).min(1.0);
                out.extend(a.iter().zip(&d).map(|(&a, &d)| a + d * factor));
            }
        }
    }
    out
}

/// `sqrt(Σ v²)` in f32, no overflow-safe scaling (as Foolbox).
pub(crate) fn l2(v: &[f32]) -> f32 {
    v.iter().map(|&x| x * x).sum::<f32>().sqrt()
}

/// The samples `idx` of `x` (`per` values each), in that order: the subset an attack's next
/// round works on.
pub(crate) fn gather(x: &[f32], idx: &[usize], per: usize) -> Vec<f32> {
    idx.iter().flat_map(|&i| x[i * per..(i + 1) * per].iter().copied()).collect()
}

pub(crate) fn clamp_all(x: &mut [f32], b: &Bounds) {
    b.clamp(x)
}
