//! The record of an accuracy recovery kept in a [`QuantModel`], and how it changes the model:
//! new weight codes through a tuning map, per-channel bias offsets and requantization gains.
//! Fitting them needs the accelerator's kernels and lives a layer up, in [`crate::recover`];
//! this is what the quantized model itself must know to be re-applied and saved.

use super::gemm::QGemm;
use super::model::{QLayer, QuantModel};
use super::QuantScheme;
use serde::{Deserialize, Serialize};

/// How a quantized model is adapted to its multiplier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Recover {
    /// The model as quantized.
    #[default]
    None,
    /// Per-channel bias correction of the expected product error.
    Compensate,
    /// ALWANN weight tuning, then compensation of what is left.
    Tune,
    /// The model folder was fine-tuned with this multiplier in the forward pass
    /// ([`crate::recover::finetune`], whose forward pass is the tuned and compensated model);
    /// evaluated the same way: tuning and compensation of the fine-tuned weights.
    Finetune,
}

crate::name_table!(Recover, "recovery method": None = "none", Compensate = "compensate", Tune = "tune", Finetune = "finetune");

impl Recover {
    /// Whether this is [`Recover::None`] (the model as quantized).
    pub fn is_none(&self) -> bool {
        *self == Recover::None
    }
}

/// What recovery did to one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerRecovery {
    /// The layer's name.
    pub name: String,
    /// Tuning: the replacement of every weight integer of the scheme's domain, lowest first
    /// (empty without tuning).
    #[serde(skip)]
    pub map: Vec<i32>,
    /// Added to the bias, per output channel (compensation only; tuning's exact-correction
    /// change is not included).
    pub compensation: Vec<i32>,
    /// Factor on the requantization multiplier, per output channel.
    pub gain: Vec<f64>,
    /// Weight codes replaced by tuning.
    pub tuned_weights: usize,
    /// Calibration im2col rows the fit and the figures below used.
    pub rows: usize,
    /// Accumulator error against the exact multiplier over those rows, averaged over channels:
    /// |mean| (bias) and root mean square, before recovery and after.
    pub mean_error_before: f64,
    /// |mean| accumulator error after recovery (see `mean_error_before`).
    pub mean_error_after: f64,
    /// RMS accumulator error before recovery (see `mean_error_before`).
    pub rms_error_before: f64,
    /// RMS accumulator error after recovery (see `mean_error_before`).
    pub rms_error_after: f64,
}

/// The record of a recovery, kept in the recovered [`QuantModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// The recovery method.
    pub method: Recover,
    /// The multiplier recovered for (its name).
    pub multiplier: String,
    /// sha256 of its table ([`crate::lut::Lut::sha256`]).
    pub lut_sha256: String,
    /// Calibration images the fit used.
    pub calibration_images: usize,
    /// What was done to each approximate layer.
    pub layers: Vec<LayerRecovery>,
}

/// The weight integers a scheme can put on the multiplier.
pub fn weight_domain(scheme: QuantScheme) -> std::ops::RangeInclusive<i32> {
    if scheme.asymmetric_weights() {
        0..=255
    } else {
        -127..=127
    }
}

/// Replace `g`'s weights by `map` (indexed from the domain's lowest integer); the exact
/// correction −z_x·Σw must still use the intended weights: `w_sum = Σw'` (every engine and the
/// oracle read it so) and the difference folded into the bias. Returns the weights changed.
pub fn apply_tuning(g: &mut QGemm, scheme: QuantScheme, map: &[i32]) -> usize {
    let lo = *weight_domain(scheme).start();
    let mut tuned = 0;
    for w in g.w.iter_mut() {
        let t = map[(*w - lo) as usize];
        tuned += (t != *w) as usize;
        *w = t;
    }
    let zx = g.input.zero_point;
    for o in 0..g.nf {
        let s: i32 = g.w[o * g.k..(o + 1) * g.k].iter().sum();
        g.bias[o] = g.bias[o].wrapping_add(zx.wrapping_mul(s.wrapping_sub(g.w_sum[o])));
        g.w_sum[o] = s;
    }
    tuned
}

/// Offsets to the bias, gains to the requantization multipliers.
pub fn apply_compensation(g: &mut QGemm, comp: &[i32], gain: &[f64]) {
    for o in 0..g.nf {
        g.bias[o] = g.bias[o].wrapping_add(comp[o]);
        if gain[o] != 1.0 {
            g.requant[o] = super::FixedMultiplier::from_real(g.requant[o].to_real() * gain[o]);
            if let Some(m) = &mut g.float_requant {
                m[o] = (m[o] as f64 * gain[o]) as f32;
            }
        }
    }
}

/// A fitted recovery applied to another quantization of the same architecture (fine-tuning
/// refits every few steps and reapplies in between: new weight codes through the same tuning
/// map, the same per-channel corrections).
pub fn reapply(qm: &QuantModel, rec: &Recovery) -> QuantModel {
    let mut out = qm.clone();
    let scheme = qm.options.scheme;
    for l in out.layers.iter_mut() {
        let QLayer::Gemm(g) = l else { continue };
        let Some(lr) = rec.layers.iter().find(|r| r.name == g.name) else { continue };
        if !lr.map.is_empty() {
            apply_tuning(g, scheme, &lr.map);
        }
        if lr.compensation.len() == g.nf {
            apply_compensation(g, &lr.compensation, &lr.gain);
        }
    }
    out.recovery = Some(rec.clone());
    out
}
