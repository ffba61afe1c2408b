//! Approximation-aware fine-tuning: the forward pass is the quantized model (tuned and
//! compensated, [`crate::recover`]) running on the accelerator's fast engine with the
//! multiplier's table; the backward pass goes straight
//! through the float model, evaluated at the activations the hardware produced (every layer's
//! float output is replaced by the dequantized integer one). The result is a model folder whose
//! `model.json` records what it was tuned for ([`FinetuneRecord`]).

use crate::model::io::{ModelIoError, ModelMeta};
use crate::quant::QuantScheme;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use crate::model::io::FinetuneRecord;

/// Why fine-tuning, or evaluating a fine-tuned model, failed.
#[derive(Debug, thiserror::Error)]
pub enum FinetuneError {
    /// `--recover finetune` on a model folder that was not fine-tuned.
    #[error(
        "{model}: not a fine-tuned model folder (model.json has no finetune record); write one with `axdnn finetune`"
    )]
    NotFinetuned {
        /// The model folder.
        model: PathBuf,
    },
    /// A fine-tuned model evaluated with another table, scheme or weight granularity than it was
    /// tuned for.
    #[error("{model}: fine-tuned for {what} {recorded}, but this run uses {given}")]
    Mismatch {
        /// The model folder.
        model: PathBuf,
        /// What differs (e.g. "multiplier table", "scheme").
        what: &'static str,
        /// What the model was tuned for.
        recorded: String,
        /// What this run uses.
        given: String,
    },
    /// Reading or writing a model folder failed.
    #[error(transparent)]
    Io(#[from] ModelIoError),
    /// Quantizing the model failed.
    #[error(transparent)]
    Quant(#[from] crate::quant::QuantError),
    /// The accelerator could not be built or run.
    #[error(transparent)]
    Accel(#[from] crate::accel::AccelError),
    /// Fitting the recovery failed.
    #[error(transparent)]
    Recover(#[from] super::RecoverError),
    /// A checkpoint that cannot be read back.
    #[error("{path}: bad checkpoint: {reason}")]
    BadCheckpoint {
        /// The checkpoint.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint made with other settings than this run's.
    #[error("{path}: checkpoint made with other settings ({reason}); remove it or use the same options")]
    CheckpointMismatch {
        /// The checkpoint.
        path: PathBuf,
        /// The settings that differ.
        reason: String,
    },
}

/// `--recover finetune`: the model folder must have been fine-tuned for this very table and
/// quantization (a fine-tuned model evaluated on another multiplier is just another model).
/// The exact table is also accepted: it is the fine-tuned model's baseline, and recovery leaves
/// the exact multiplier's model unchanged, so a study compares like with like.
pub fn check_record<'a>(
    meta: &'a ModelMeta,
    model: &Path,
    lut_sha256: &str,
    scheme: QuantScheme,
    per_channel: bool,
) -> Result<&'a FinetuneRecord, FinetuneError> {
    let r = meta.finetune.as_ref().ok_or_else(|| FinetuneError::NotFinetuned { model: model.into() })?;
    let mismatch =
        |what, recorded: String, given: String| FinetuneError::Mismatch { model: model.into(), what, recorded, given };
    let exact = crate::lut::Lut::exact(8, 8, scheme.signed_multiplier()).sha256();
    if r.lut_sha256 != lut_sha256 && lut_sha256 != exact {
        return Err(mismatch(
            "multiplier table",
            format!("{} ({})", r.multiplier, &r.lut_sha256[..r.lut_sha256.len().min(12)]),
            lut_sha256[..lut_sha256.len().min(12)].to_string(),
        ));
    }
    let recorded = recorded_scheme(r).map_err(|_| mismatch("scheme", r.scheme.clone(), scheme.to_string()))?;
    if recorded != scheme {
        return Err(mismatch("scheme", recorded.to_string(), scheme.to_string()));
    }
    if r.per_channel != per_channel {
        return Err(mismatch("per-channel weights", r.per_channel.to_string(), per_channel.to_string()));
    }
    Ok(r)
}

/// The record's scheme, typed (the model layer keeps it as the text serde wrote).
pub fn recorded_scheme(r: &FinetuneRecord) -> Result<QuantScheme, serde::de::value::Error> {
    use serde::de::IntoDeserializer;
    QuantScheme::deserialize(r.scheme.as_str().into_deserializer())
}

/// `scheme` as a [`FinetuneRecord`] holds it.
pub fn scheme_record(scheme: QuantScheme) -> String {
    serde_json::to_value(scheme).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// Settings of one fine-tuning run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneConfig {
    /// How the model is quantized (scheme, weight granularity, approximate layers).
    pub options: crate::quant::QuantOptions,
    /// Calibration images (training set) and the seed choosing them: the same as evaluation's.
    pub calib: usize,
    /// Seed choosing the calibration images.
    pub calib_seed: u64,
    /// Fine-tuning epochs.
    pub epochs: usize,
    /// Seed of the image order.
    pub seed: u64,
    /// Images per step.
    pub batch: usize,
    /// Start learning rate (linear decay to 0 over all steps), Nesterov momentum, weight decay.
    pub lr: f32,
    /// Nesterov momentum of SGD.
    pub momentum: f32,
    /// L2 weight decay of SGD.
    pub weight_decay: f32,
    /// Activation ranges are re-measured and the recovery (tuning map, compensation) refitted
    /// every this many steps; weights are requantized and the fit reapplied at every step.
    pub range_every: usize,
    /// Test images the per-epoch quantized accuracy is measured on.
    pub eval_n: usize,
}

impl FinetuneConfig {
    /// The default settings for `options`: 256 calibration images, 3 epochs, batch 64, lr 0.002.
    pub fn new(options: crate::quant::QuantOptions) -> FinetuneConfig {
        FinetuneConfig {
            options,
            calib: 256,
            calib_seed: 0,
            epochs: 3,
            seed: 1,
            batch: 64,
            lr: 0.002,
            momentum: 0.9,
            weight_decay: 5e-4,
            range_every: 50,
            eval_n: 2000,
        }
    }
}

/// Per-epoch figures of a fine-tuning run: those of training ([`crate::model::train::EpochLog`]), with
/// `train_*` from the approximate forward pass and `test_accuracy` the quantized accuracy with the
/// multiplier on the first `eval_n` test images.
pub type FinetuneEpoch = crate::model::train::EpochLog;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointMeta {
    config: FinetuneConfig,
    lut_sha256: String,
    base_sha256: String,
    epochs_done: usize,
    history: Vec<FinetuneEpoch>,
    accuracy_before: f64,
}

/// The checkpoint written into the work folder after every epoch.
pub const CHECKPOINT_FILE: &str = "finetune-checkpoint.safetensors";

/// What a finished fine-tuning run produced.
pub struct FinetuneOutcome {
    /// The network fine-tuned: the base's, with its batch-norm nodes folded into the layers
    /// before them (as the hardware runs it; the same network when it has none).
    pub arch: crate::model::Arch,
    /// The fine-tuned float parameters (BatchNorm folded).
    pub params: crate::model::Params,
    /// Every epoch's figures, resumed ones included.
    pub history: Vec<FinetuneEpoch>,
    /// Quantized accuracy (fraction) on the multiplier before fine-tuning.
    pub accuracy_before: f64,
}

/// Quantized accuracy of `params` with `mult` on `test` (calibrated on `calib`), tuned and
/// compensated as `--recover finetune` evaluates it.
pub fn quantized_accuracy(
    arch: &crate::model::Arch,
    params: &crate::model::Params,
    calib: &[f32],
    options: &crate::quant::QuantOptions,
    mult: &dyn crate::mult::Multiplier,
    test: &crate::data::Dataset,
) -> Result<f64, FinetuneError> {
    let qm = crate::quant::QuantModel::build(arch, params, calib, options.clone())?;
    let qm = super::recover(&qm, mult, "", crate::quant::Recover::Finetune, calib)?;
    let r = crate::accel::Accelerator::new(&qm, mult, crate::accel::AccelConfig::default())?.run(&test.images)?;
    Ok(r.accuracy(&test.labels))
}

/// The dequantized value of every node output of `qm` (NCHW per image), from its integers.
fn dequantize_outputs(qm: &crate::quant::QuantModel, outs: &[Vec<i32>]) -> Vec<Option<Vec<f32>>> {
    let logits = qm.gemms().last().expect("a quantized model has a GEMM layer");
    qm.outputs
        .iter()
        .zip(outs)
        .map(|(q, o)| {
            Some(match q {
                Some(q) => o.iter().map(|&v| q.dequantize(v)).collect(),
                // The logits: int32 accumulators, per-channel scale (linear: one pixel each).
                None => o
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| logits.dequantize_acc(v, (i / logits.npix()) % logits.nf))
                    .collect(),
            })
        })
        .collect()
}

/// Nesterov SGD with weight decay on one tensor.
fn sgd(w: &mut [f32], g: &[f32], v: &mut [f32], lr: f32, mu: f32, wd: f32) {
    for ((w, &g), v) in w.iter_mut().zip(g).zip(v.iter_mut()) {
        let g = g + wd * *w;
        *v = mu * *v + g;
        *w -= lr * (g + mu * *v);
    }
}

/// Fine-tune `base` for `mult` (`lut_sha256` its table) per `cfg`: each step quantizes the current
/// weights, runs the batch through the fast engine and back-propagates the loss of the
/// approximate logits straight through the float layers at the hardware's activations.
/// Checkpoints after every epoch into `work/`[`CHECKPOINT_FILE`] and resumes from it; every random
/// choice is seeded by (seed, epoch), so a resumed run equals an uninterrupted one.
#[allow(clippy::too_many_arguments)]
pub fn finetune(
    base: &crate::model::io::SavedModel,
    mult: &dyn crate::mult::Multiplier,
    lut_sha256: &str,
    cfg: &FinetuneConfig,
    train: &crate::data::Dataset,
    test: &crate::data::Dataset,
    work: &Path,
    progress: bool,
) -> Result<FinetuneOutcome, FinetuneError> {
    finetune_until(base, mult, lut_sha256, cfg, train, test, work, progress, cfg.epochs)
}

/// As [`finetune`], but stop (as if killed) once `stop_after` epochs are checkpointed.
#[allow(clippy::too_many_arguments)]
pub fn finetune_until(
    base: &crate::model::io::SavedModel,
    mult: &dyn crate::mult::Multiplier,
    lut_sha256: &str,
    cfg: &FinetuneConfig,
    train: &crate::data::Dataset,
    test: &crate::data::Dataset,
    work: &Path,
    progress: bool,
    stop_after: usize,
) -> Result<FinetuneOutcome, FinetuneError> {
    use crate::model::engine::{Mode, Net};
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    // Fine-tuning adapts the network the hardware runs: batch norms folded into their layers.
    let (arch, base_params) = crate::model::fold::fold_batchnorm(&base.arch, &base.params);
    let arch = &arch;
    if cfg.calib == 0 || cfg.calib > train.len() {
        return Err(crate::quant::QuantError::CalibrationCount { asked: cfg.calib, have: train.len() }.into());
    }
    let idx = crate::quant::calibration_indices(train.len(), cfg.calib, cfg.calib_seed);
    let calib = train.images_at(&idx);
    let eval = test.clone().head(cfg.eval_n);
    let mut net = Net::<f32>::from_params(arch, &base_params);
    let g0 = net.zero_grads();
    let (mut mw, mut mb) = (g0.w, g0.b);
    std::fs::create_dir_all(work).map_err(|e| ModelIoError::Io { path: work.into(), cause: e })?;
    let ck = work.join(CHECKPOINT_FILE);
    let mut meta = if ck.is_file() {
        let m = load_checkpoint(&ck, &mut net, &mut mw, &mut mb)?;
        let same = m.config == *cfg && m.lut_sha256 == lut_sha256 && m.base_sha256 == base.meta.sha256;
        if !same {
            return Err(FinetuneError::CheckpointMismatch {
                path: ck,
                reason: format!(
                    "{:?} on table {} from {}",
                    m.config,
                    &m.lut_sha256[..12.min(m.lut_sha256.len())],
                    &m.base_sha256[..12.min(m.base_sha256.len())]
                ),
            });
        }
        eprintln!("resuming from {} after epoch {}", ck.display(), m.epochs_done);
        m
    } else {
        let before = quantized_accuracy(arch, &base_params, &calib, &cfg.options, mult, &eval)?;
        eprintln!(
            "quantized accuracy with {} before fine-tuning: {before:.4} ({} test images)",
            mult.name(),
            eval.len()
        );
        CheckpointMeta {
            config: cfg.clone(),
            lut_sha256: lut_sha256.into(),
            base_sha256: base.meta.sha256.clone(),
            epochs_done: 0,
            history: Vec::new(),
            accuracy_before: before,
        }
    };
    let n = train.len();
    let b = cfg.batch.clamp(1, n.max(1));
    let steps = n / b;
    let total = (steps * cfg.epochs).max(1);
    let per = train.shape.numel();
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    for epoch in meta.epochs_done..cfg.epochs.min(stop_after) {
        let te = std::time::Instant::now();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
        rng.set_stream(epoch as u64 + 1);
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        let bar = if progress { indicatif::ProgressBar::new(steps as u64) } else { indicatif::ProgressBar::hidden() };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "fine-tune epoch {prefix} {bar:30} {pos}/{len} [{elapsed}<{eta}] {msg}",
            )
            .expect("valid template"),
        );
        bar.set_prefix(format!("{}/{}", epoch + 1, cfg.epochs));
        let (mut loss, mut correct, mut seen) = (0f64, 0usize, 0usize);
        let mut x = vec![0f32; b * per];
        let mut labels = vec![0u8; b];
        let mut ranges = None;
        let mut fit: Option<super::Recovery> = None;
        for step in 0..steps {
            for j in 0..b {
                let i = order[step * b + j];
                labels[j] = train.labels[i];
                x[j * per..(j + 1) * per].copy_from_slice(train.image(i));
            }
            let params = net.folded();
            let refit = step % cfg.range_every.max(1) == 0 || ranges.is_none();
            if refit {
                ranges = Some(crate::quant::model::calibration_ranges(arch, &params, &calib));
            }
            let plain = crate::quant::QuantModel::build_from_ranges(
                arch,
                &params,
                ranges.as_ref().expect("set above"),
                idx.len(),
                cfg.options.clone(),
            );
            // The forward pass is the tuned and compensated model, as evaluated.
            if refit {
                fit = super::recover(&plain, mult, lut_sha256, crate::quant::Recover::Finetune, &calib)?.recovery;
            }
            let qm = match &fit {
                Some(f) => super::reapply(&plain, f),
                None => plain,
            };
            let outs =
                crate::accel::Accelerator::new(&qm, mult, crate::accel::AccelConfig::default())?.layer_outputs(&x)?;
            let replace = dequantize_outputs(&qm, &outs);
            let r = net.backward_replaced(&x, &labels, Mode::Train, 1.0 / b as f32, false, Some(&replace));
            let lr = cfg.lr * (1.0 - (epoch * steps + step) as f32 / total as f32);
            for i in 0..arch.layers.len() {
                if arch.layers[i].has_params() {
                    sgd(&mut net.w[i], &r.grads.w[i], &mut mw[i], lr, cfg.momentum, cfg.weight_decay);
                    sgd(&mut net.b[i], &r.grads.b[i], &mut mb[i], lr, cfg.momentum, 0.0);
                }
            }
            loss += r.losses.iter().map(|&l| l as f64).sum::<f64>();
            correct += r.correct;
            seen += b;
            bar.inc(1);
            if step % 10 == 0 {
                bar.set_message(format!("loss {:.3} acc {:.3}", loss / seen as f64, correct as f64 / seen as f64));
            }
            // Without a terminal (nohup, logs) the bar is invisible: a line every ~10 % instead.
            if !tty && (step + 1) % (steps / 10).max(1) == 0 {
                eprintln!(
                    "fine-tune epoch {} step {}/{steps}: loss {:.4} acc {:.4} lr {lr:.5} ({:.0} img/s)",
                    epoch + 1,
                    step + 1,
                    loss / seen as f64,
                    correct as f64 / seen as f64,
                    seen as f64 / te.elapsed().as_secs_f64()
                );
            }
        }
        bar.finish_and_clear();
        let test_accuracy = quantized_accuracy(arch, &net.folded(), &calib, &cfg.options, mult, &eval)?;
        let e = FinetuneEpoch {
            epoch: epoch + 1,
            train_loss: loss / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            test_accuracy,
            seconds: te.elapsed().as_secs_f64(),
        };
        eprintln!(
            "fine-tune epoch {}/{}: approximate train loss {:.4} acc {:.4}, quantized test acc (first {}) {:.4}, {:.1}s",
            e.epoch, cfg.epochs, e.train_loss, e.train_accuracy, eval.len(), e.test_accuracy, e.seconds
        );
        meta.history.push(e);
        meta.epochs_done = epoch + 1;
        save_checkpoint(&ck, &net, &mw, &mb, &meta)?;
    }
    Ok(FinetuneOutcome {
        arch: arch.clone(),
        params: net.folded(),
        history: meta.history,
        accuracy_before: meta.accuracy_before,
    })
}

fn save_checkpoint(
    path: &Path,
    net: &crate::model::engine::Net<f32>,
    mw: &[Vec<f32>],
    mb: &[Vec<f32>],
    meta: &CheckpointMeta,
) -> Result<(), FinetuneError> {
    let mut t: Vec<(String, Vec<usize>, &[f32])> = Vec::new();
    for (i, l) in net.arch.layers.iter().enumerate().filter(|(_, l)| l.has_params()) {
        let n = &l.name;
        t.push((format!("net.{n}.weight"), vec![net.w[i].len()], &net.w[i][..]));
        t.push((format!("net.{n}.bias"), vec![net.b[i].len()], &net.b[i][..]));
        t.push((format!("mom.{n}.weight"), vec![mw[i].len()], &mw[i][..]));
        t.push((format!("mom.{n}.bias"), vec![mb[i].len()], &mb[i][..]));
    }
    let mut md = std::collections::HashMap::new();
    md.insert("axdnn_finetune".to_string(), serde_json::to_string(meta).expect("checkpoint meta serializes"));
    let bytes = crate::model::io::tensors_to_bytes(&t, Some(md))
        .map_err(|reason| FinetuneError::BadCheckpoint { path: path.into(), reason })?;
    crate::util::write_atomic(path, &bytes).map_err(|e| ModelIoError::Io { path: path.into(), cause: e })?;
    Ok(())
}

fn load_checkpoint(
    path: &Path,
    net: &mut crate::model::engine::Net<f32>,
    mw: &mut [Vec<f32>],
    mb: &mut [Vec<f32>],
) -> Result<CheckpointMeta, FinetuneError> {
    let bytes = std::fs::read(path).map_err(|e| ModelIoError::Io { path: path.into(), cause: e })?;
    let (mut tensors, md) = crate::model::io::tensors_from_bytes(path, &bytes)?;
    let bad = |reason: String| FinetuneError::BadCheckpoint { path: path.into(), reason };
    let meta: CheckpointMeta = md
        .as_ref()
        .and_then(|m| m.get("axdnn_finetune"))
        .ok_or_else(|| bad("no axdnn_finetune metadata".into()))
        .and_then(|s| serde_json::from_str(s).map_err(|e| bad(e.to_string())))?;
    for (i, l) in net.arch.layers.clone().iter().enumerate().filter(|(_, l)| l.has_params()) {
        let n = &l.name;
        let mut take = |name: String, len: usize| -> Result<Vec<f32>, FinetuneError> {
            let t = tensors.remove(&name).ok_or_else(|| bad(format!("tensor {name} missing")))?;
            if t.data.len() != len {
                return Err(bad(format!("tensor {name} has {} values, expected {len}", t.data.len())));
            }
            Ok(t.data)
        };
        net.w[i] = take(format!("net.{n}.weight"), net.w[i].len())?;
        net.b[i] = take(format!("net.{n}.bias"), net.b[i].len())?;
        mw[i] = take(format!("mom.{n}.weight"), mw[i].len())?;
        mb[i] = take(format!("mom.{n}.bias"), mb[i].len())?;
    }
    Ok(meta)
}

/// The metadata of a fine-tuned model folder: the base model's, with the fine-tuning record
/// (what it was tuned for, the settings, accuracy before and after on `cfg.eval_n` test images)
/// and the float accuracy `float_accuracy` of the tuned weights on `test_n` images.
#[allow(clippy::too_many_arguments)] // each is one recorded fact
pub fn tuned_meta(
    base: &crate::model::io::SavedModel,
    base_path: &Path,
    multiplier: &str,
    lut_sha256: &str,
    cfg: &FinetuneConfig,
    outcome: &FinetuneOutcome,
    float_accuracy: f64,
    test_n: usize,
    command: String,
) -> ModelMeta {
    let record = FinetuneRecord {
        method: "approximation-aware fine-tuning: forward = quantized, tuned and compensated model on the multiplier (fast engine), backward straight through the float layers at the hardware's activations; Nesterov SGD, linear lr decay".into(),
        base_model: base_path.display().to_string(),
        base_sha256: base.meta.sha256.clone(),
        multiplier: multiplier.into(),
        lut_sha256: lut_sha256.into(),
        scheme: scheme_record(cfg.options.scheme),
        per_channel: cfg.options.weights == crate::quant::WeightGranularity::PerChannel,
        approx_layers: cfg.options.approx.to_string(),
        calib: cfg.calib,
        calib_seed: cfg.calib_seed,
        epochs: cfg.epochs,
        seed: cfg.seed,
        lr: cfg.lr,
        batch: cfg.batch,
        eval_n: cfg.eval_n.min(test_n),
        accuracy_before: outcome.accuracy_before,
        accuracy_after: outcome.history.last().map_or(outcome.accuracy_before, |e| e.test_accuracy),
    };
    ModelMeta {
        test_accuracy: float_accuracy,
        test_n,
        train_seconds: base.meta.train_seconds + outcome.history.iter().map(|e| e.seconds).sum::<f64>(),
        command,
        optimizer: format!("{}; then fine-tuned for {multiplier} ({} epochs)", base.meta.optimizer, cfg.epochs),
        sha256: String::new(),
        finetune: Some(record),
        quantization: None,
        ..base.meta.clone()
    }
}
