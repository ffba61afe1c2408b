//! Approximation-aware fine-tuning: the forward pass is the quantized model running on the
//! accelerator's fast engine with the multiplier's table; the backward pass goes straight
//! through the float model, evaluated at the activations the hardware produced (every layer's
//! float output is replaced by the dequantized integer one). The result is a model folder whose
//! `model.json` records what it was tuned for ([`FinetuneRecord`]).

use crate::quant::QuantScheme;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a fine-tuned model folder was tuned for; `--recover finetune` checks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneRecord {
    pub method: String,
    /// The model folder fine-tuning started from, and the sha256 of its weights.
    pub base_model: String,
    pub base_sha256: String,
    pub multiplier: String,
    /// sha256 of the multiplier's table ([`crate::lut::Lut::sha256`]).
    pub lut_sha256: String,
    pub scheme: QuantScheme,
    pub per_channel: bool,
    pub approx_layers: String,
    pub calib: usize,
    pub calib_seed: u64,
    pub epochs: usize,
    pub seed: u64,
    pub lr: f32,
    pub batch: usize,
    /// Accuracy of the quantized model on the multiplier over `eval_n` test images, before and
    /// after fine-tuning.
    pub eval_n: usize,
    pub accuracy_before: f64,
    pub accuracy_after: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum FinetuneError {
    #[error("{model}: not a fine-tuned model folder (model.json has no finetune record); write one with `axdnn finetune`")]
    NotFinetuned { model: PathBuf },
    #[error("{model}: fine-tuned for {what} {recorded}, but this run uses {given}")]
    Mismatch { model: PathBuf, what: &'static str, recorded: String, given: String },
    #[error(transparent)]
    Io(#[from] super::io::ModelIoError),
    #[error(transparent)]
    Quant(#[from] crate::quant::QuantError),
    #[error(transparent)]
    Accel(#[from] crate::accel::AccelError),
    #[error("{path}: bad checkpoint: {reason}")]
    BadCheckpoint { path: PathBuf, reason: String },
    #[error("{path}: checkpoint made with other settings ({reason}); remove it or use the same options")]
    CheckpointMismatch { path: PathBuf, reason: String },
}

/// `--recover finetune`: the model folder must have been fine-tuned for this very table and
/// quantization (a fine-tuned model evaluated on another multiplier is just another model).
pub fn check_record<'a>(meta: &'a super::io::ModelMeta, model: &Path, lut_sha256: &str, scheme: QuantScheme, per_channel: bool) -> Result<&'a FinetuneRecord, FinetuneError> {
    let r = meta.finetune.as_ref().ok_or_else(|| FinetuneError::NotFinetuned { model: model.into() })?;
    let mismatch = |what, recorded: String, given: String| FinetuneError::Mismatch { model: model.into(), what, recorded, given };
    if r.lut_sha256 != lut_sha256 {
        return Err(mismatch("multiplier table", format!("{} ({})", r.multiplier, &r.lut_sha256[..r.lut_sha256.len().min(12)]), lut_sha256[..lut_sha256.len().min(12)].to_string()));
    }
    if r.scheme != scheme {
        return Err(mismatch("scheme", r.scheme.to_string(), scheme.to_string()));
    }
    if r.per_channel != per_channel {
        return Err(mismatch("per-channel weights", r.per_channel.to_string(), per_channel.to_string()));
    }
    Ok(r)
}
