//! Deterministic float training: SGD with Nesterov momentum and weight decay, one-cycle learning
//! rate (linear warm-up, linear decay to 0), optional BatchNorm (folded at export), CIFAR-style
//! augmentation (random crop with 4-px zero padding, horizontal flip). Every random choice comes
//! from `ChaCha8Rng` seeded by (seed, epoch), so a run resumed from its per-epoch checkpoint
//! continues exactly as if it had never stopped.

use super::arch::{Arch, ArchName};
use super::engine::{init_params, logits, Mode, Net};
use super::io::{tensors_from_bytes, tensors_to_bytes, ModelIoError};
use super::params::{Params, Tensor};
use crate::data::{Dataset, DatasetName};
use crate::util::write_atomic;
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The checkpoint file written into the output folder after every epoch (training resumes from it).
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// Test images evaluated after each epoch (for the log only).
pub const EPOCH_EVAL_N: usize = 2000;

/// The options of a training run (a checkpoint records them; resuming needs the same).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The architecture trained.
    pub arch: ArchName,
    /// The dataset trained on.
    pub dataset: DatasetName,
    /// Epochs to train.
    pub epochs: usize,
    /// Seed of initialization, image order and augmentation.
    pub seed: u64,
    /// Images per step.
    pub batch: usize,
    /// Peak learning rate of the one-cycle schedule.
    pub lr: f32,
    /// Nesterov momentum of SGD.
    pub momentum: f32,
    /// L2 weight decay of SGD.
    pub weight_decay: f32,
    /// Fraction of all steps spent warming up from lr/10 to lr.
    pub warmup: f32,
    /// Whether to train with BatchNorm after every convolution (folded into the weights at the
    /// end).
    pub batchnorm: bool,
    /// Random crop (4-px padding) and horizontal flip.
    pub augment: bool,
}

/// Settings that replace a [`TrainConfig`]'s per-dataset defaults; also the `axdnn train` flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TrainOverrides {
    /// Epochs [default: 8 for mnist, 30 for cifar10].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Seed of the initialization, shuffling and augmentation [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Mini-batch size [default: 128].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Peak learning rate of the one-cycle schedule [default: 0.1].
    #[arg(long)]
    pub lr: Option<f32>,
    /// SGD momentum (Nesterov) [default: 0.9].
    #[arg(long)]
    pub momentum: Option<f32>,
    /// L2 weight decay [default: 5e-4].
    #[arg(long)]
    pub weight_decay: Option<f32>,
    /// Fraction of steps spent warming up [default: 0.15].
    #[arg(long)]
    pub warmup: Option<f32>,
    /// Train without BatchNorm (by default BatchNorm is used and folded into the convs at export).
    #[arg(long)]
    pub no_bn: bool,
    /// Force augmentation on (default: on for cifar10, off for mnist).
    #[arg(long, conflicts_with = "no_augment")]
    pub augment: bool,
    /// Force augmentation off.
    #[arg(long)]
    pub no_augment: bool,
}

impl TrainOverrides {
    /// `cfg` with every setting given here replaced.
    pub fn apply(&self, mut cfg: TrainConfig) -> TrainConfig {
        cfg.epochs = self.epochs.unwrap_or(cfg.epochs);
        cfg.seed = self.seed.unwrap_or(cfg.seed);
        cfg.batch = self.batch.unwrap_or(cfg.batch);
        cfg.lr = self.lr.unwrap_or(cfg.lr);
        cfg.momentum = self.momentum.unwrap_or(cfg.momentum);
        cfg.weight_decay = self.weight_decay.unwrap_or(cfg.weight_decay);
        cfg.warmup = self.warmup.unwrap_or(cfg.warmup);
        cfg.batchnorm &= !self.no_bn;
        cfg.augment = (cfg.augment || self.augment) && !self.no_augment;
        cfg
    }
}

impl TrainConfig {
    /// Defaults per dataset (augmentation for CIFAR-10 only).
    pub fn new(arch: ArchName, dataset: DatasetName) -> TrainConfig {
        TrainConfig {
            arch,
            dataset,
            epochs: if dataset == DatasetName::Mnist { 8 } else { 30 },
            seed: 1,
            batch: 128,
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            warmup: 0.15,
            // A network with batch-norm nodes of its own gets none added.
            batchnorm: !arch.has_batchnorm_nodes(),
            augment: dataset == DatasetName::Cifar10,
        }
    }

    /// A one-line description of optimizer and schedule, as `model.json` records it.
    pub fn optimizer_description(&self) -> String {
        format!(
            "sgd(nesterov momentum={}, weight_decay={}), one-cycle lr peak {} (warm-up {}%), batch {}, batchnorm={}, augment={}",
            self.momentum,
            self.weight_decay,
            self.lr,
            (self.warmup * 100.0).round(),
            self.batch,
            if self.arch.has_batchnorm_nodes() { "in the network".to_string() } else { self.batchnorm.to_string() },
            self.augment
        )
    }

    /// Learning rate at global step `t` of `total`.
    pub fn lr_at(&self, t: usize, total: usize) -> f32 {
        let warm = ((self.warmup * total as f32) as usize).max(1);
        if t < warm {
            self.lr * (0.1 + 0.9 * t as f32 / warm as f32)
        } else {
            self.lr * (1.0 - (t - warm) as f32 / (total - warm).max(1) as f32).max(0.0)
        }
    }
}

/// Why training could not run or resume (or a trained model not be evaluated).
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading or writing the model or checkpoint failed.
    #[error(transparent)]
    Io(#[from] ModelIoError),
    /// A checkpoint made with other training options than the ones given.
    #[error(
        "{path}: checkpoint was made with a different configuration ({reason}); remove it or use the same options"
    )]
    ConfigMismatch {
        /// The checkpoint.
        path: PathBuf,
        /// The options that differ.
        reason: String,
    },
    /// A checkpoint that cannot be read back.
    #[error("{path}: bad checkpoint: {reason}")]
    BadCheckpoint {
        /// The checkpoint.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The architecture name has no builder (a graph model comes from its own description).
    #[error("model '{0}' has no built-in architecture to train from scratch")]
    NoBuilder(crate::model::ArchName),
    /// The test images' shape differs from the training images' (the model's input shape).
    #[error("dataset has images of shape {found}, model expects {expected}")]
    ShapeMismatch {
        /// The model's input shape.
        expected: String,
        /// The test images' shape.
        found: String,
    },
    /// A dataset's images do not fit the model that is to be evaluated or tuned on them.
    #[error("dataset images are {found}, model expects {expected}")]
    ImagesMismatch {
        /// The model's input shape.
        expected: String,
        /// The dataset's image shape.
        found: String,
    },
    /// No dataset folder was given or found.
    #[error("{}", crate::util::inputs::NO_DATA)]
    NoData,
    /// The dataset could not be read.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
}

/// One epoch's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// The epoch, 1-based.
    pub epoch: usize,
    /// Mean cross-entropy loss over the epoch's training images.
    pub train_loss: f64,
    /// Accuracy (fraction) on the epoch's training images, as trained.
    pub train_accuracy: f64,
    /// Accuracy on the first `EPOCH_EVAL_N` test images.
    pub test_accuracy: f64,
    /// Wall-clock seconds the epoch took.
    pub seconds: f64,
}

/// Checkpoint metadata (stored in the safetensors header).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointMeta {
    config: TrainConfig,
    epochs_done: usize,
    history: Vec<EpochLog>,
    /// Schedule changes made on resume: "after epoch k: E1 → E2 epochs".
    #[serde(default)]
    replans: Vec<String>,
}

/// What a finished training run produced.
pub struct TrainOutcome {
    /// The architecture trained.
    pub arch: Arch,
    /// Plain conv+bias parameters (BatchNorm folded).
    pub params: Params,
    /// Every epoch's numbers, resumed ones included.
    pub history: Vec<EpochLog>,
    /// Test accuracy of `params` over the whole test set.
    pub test_accuracy: f64,
    /// Seconds spent training in this process (excludes epochs done before a resume).
    pub seconds: f64,
    /// Schedule changes made on resume.
    pub replans: Vec<String>,
}

/// Momentum buffers, same structure as the net.
struct Momentum {
    w: Vec<Vec<f32>>,
    b: Vec<Vec<f32>>,
    gamma: Vec<Vec<f32>>,
    beta: Vec<Vec<f32>>,
}

/// Float accuracy of `params` on `ds`.
pub fn accuracy(arch: &Arch, params: &Params, ds: &Dataset) -> f64 {
    accuracy_of(&dataset_logits(arch, params, ds), &ds.labels, arch.classes)
}

/// Logits (`n × classes`) of every image of `ds`, in chunks of 1,000 (the engine's buffers grow
/// with the batch).
pub fn dataset_logits(arch: &Arch, params: &Params, ds: &Dataset) -> Vec<f32> {
    let per = ds.shape.numel();
    let mut z = Vec::with_capacity(ds.len() * arch.classes);
    for start in (0..ds.len()).step_by(1000) {
        let n = (ds.len() - start).min(1000);
        z.extend(logits(arch, params, &ds.images[start * per..(start + n) * per], n));
    }
    z
}

/// The fraction of logit rows whose first maximum is the label.
pub fn accuracy_of(logits: &[f32], labels: &[u8], classes: usize) -> f64 {
    let correct = logits.chunks_exact(classes).zip(labels).filter(|(l, &y)| argmax(l) == y as usize).count();
    correct as f64 / labels.len().max(1) as f64
}

/// First index of the maximum (ties → lowest class): the predicted class of a logit row, for
/// the float model and the accelerator alike.
pub fn argmax(row: &[f32]) -> usize {
    (0..row.len()).fold(0, |b, c| if row[c] > row[b] { c } else { b })
}

/// Copy image `src` (CHW) into `dst`, shifted by (dy, dx) with zero fill, optionally mirrored.
#[allow(clippy::too_many_arguments)]
fn augment_into(src: &[f32], dst: &mut [f32], c: usize, h: usize, w: usize, dy: isize, dx: isize, flip: bool) {
    for ch in 0..c {
        for y in 0..h {
            let sy = y as isize + dy;
            for x in 0..w {
                let xx = if flip { w - 1 - x } else { x };
                let sx = xx as isize + dx;
                dst[(ch * h + y) * w + x] = if sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize {
                    src[(ch * h + sy as usize) * w + sx as usize]
                } else {
                    0.0
                };
            }
        }
    }
}

fn checkpoint_tensors<'a>(net: &'a Net<f32>, mom: &'a Momentum) -> Vec<(String, Vec<usize>, &'a [f32])> {
    let mut v = Vec::new();
    for (i, l) in net.arch.layers.iter().enumerate() {
        let n = &l.name;
        if l.has_params() {
            v.push((format!("net.{n}.weight"), vec![net.w[i].len()], &net.w[i][..]));
            v.push((format!("net.{n}.bias"), vec![net.b[i].len()], &net.b[i][..]));
            v.push((format!("mom.{n}.weight"), vec![mom.w[i].len()], &mom.w[i][..]));
            v.push((format!("mom.{n}.bias"), vec![mom.b[i].len()], &mom.b[i][..]));
        }
        if let Some(bn) = &net.bn[i] {
            let c = bn.gamma.len();
            v.push((format!("bn.{n}.gamma"), vec![c], &bn.gamma[..]));
            v.push((format!("bn.{n}.beta"), vec![c], &bn.beta[..]));
            v.push((format!("bn.{n}.running_mean"), vec![c], &bn.running_mean[..]));
            v.push((format!("bn.{n}.running_var"), vec![c], &bn.running_var[..]));
            v.push((format!("mom.{n}.gamma"), vec![c], &mom.gamma[i][..]));
            v.push((format!("mom.{n}.beta"), vec![c], &mom.beta[i][..]));
        }
    }
    v
}

fn save_checkpoint(path: &Path, net: &Net<f32>, mom: &Momentum, meta: &CheckpointMeta) -> Result<(), TrainError> {
    let mut md = HashMap::new();
    md.insert("axdnn_checkpoint".to_string(), serde_json::to_string(meta).expect("checkpoint meta serializes"));
    let bytes = tensors_to_bytes(&checkpoint_tensors(net, mom), Some(md))
        .map_err(|reason| TrainError::BadCheckpoint { path: path.into(), reason })?;
    write_atomic(path, &bytes).map_err(|source| ModelIoError::Io { path: path.into(), cause: source })?;
    Ok(())
}

fn load_checkpoint(
    path: &Path,
    net: &mut Net<f32>,
    mom: &mut Momentum,
    cfg: &TrainConfig,
) -> Result<CheckpointMeta, TrainError> {
    let bytes = std::fs::read(path).map_err(|source| ModelIoError::Io { path: path.into(), cause: source })?;
    let (mut tensors, md) = tensors_from_bytes(path, &bytes)?;
    let bad = |reason: String| TrainError::BadCheckpoint { path: path.into(), reason };
    let meta: CheckpointMeta = md
        .as_ref()
        .and_then(|m| m.get("axdnn_checkpoint"))
        .ok_or_else(|| bad("no axdnn_checkpoint metadata".into()))
        .and_then(|s| serde_json::from_str(s).map_err(|e| bad(e.to_string())))?;
    // Only the planned number of epochs may change on resume (re-planning the schedule's
    // remaining steps, e.g. when the time available turns out shorter); it is recorded.
    let mut meta = meta;
    let same_but_epochs = TrainConfig { epochs: cfg.epochs, ..meta.config.clone() } == *cfg;
    if !same_but_epochs {
        return Err(TrainError::ConfigMismatch { path: path.into(), reason: format!("checkpoint {:?}", meta.config) });
    }
    if meta.config.epochs != cfg.epochs {
        if cfg.epochs < meta.epochs_done {
            return Err(TrainError::ConfigMismatch {
                path: path.into(),
                reason: format!("{} epochs already done, {} asked", meta.epochs_done, cfg.epochs),
            });
        }
        let note = format!(
            "after epoch {}: schedule re-planned from {} to {} epochs",
            meta.epochs_done, meta.config.epochs, cfg.epochs
        );
        eprintln!("{note}");
        meta.replans.push(note);
        meta.config.epochs = cfg.epochs;
    }
    let names: Vec<(String, usize)> = checkpoint_tensors(net, mom).into_iter().map(|(n, _, d)| (n, d.len())).collect();
    let mut take = |name: &str, len: usize| -> Result<Vec<f32>, TrainError> {
        let t: Tensor = tensors.remove(name).ok_or_else(|| bad(format!("tensor {name} missing")))?;
        if t.data.len() != len {
            return Err(bad(format!("tensor {name} has {} values, expected {len}", t.data.len())));
        }
        Ok(t.data)
    };
    let mut got = HashMap::new();
    for (n, len) in names {
        let d = take(&n, len)?;
        got.insert(n, d);
    }
    for (i, l) in net.arch.layers.clone().iter().enumerate() {
        let n = &l.name;
        let mut g = |k: String| got.remove(&k).expect("collected above");
        if l.has_params() {
            net.w[i] = g(format!("net.{n}.weight"));
            net.b[i] = g(format!("net.{n}.bias"));
            mom.w[i] = g(format!("mom.{n}.weight"));
            mom.b[i] = g(format!("mom.{n}.bias"));
        }
        if let Some(bn) = &mut net.bn[i] {
            bn.gamma = g(format!("bn.{n}.gamma"));
            bn.beta = g(format!("bn.{n}.beta"));
            bn.running_mean = g(format!("bn.{n}.running_mean"));
            bn.running_var = g(format!("bn.{n}.running_var"));
            mom.gamma[i] = g(format!("mom.{n}.gamma"));
            mom.beta[i] = g(format!("mom.{n}.beta"));
        }
    }
    Ok(meta)
}

/// Nesterov SGD step on one tensor.
fn sgd(w: &mut [f32], g: &[f32], v: &mut [f32], lr: f32, mu: f32, wd: f32) {
    for ((w, &g), v) in w.iter_mut().zip(g).zip(v.iter_mut()) {
        let g = g + wd * *w;
        *v = mu * *v + g;
        *w -= lr * (g + mu * *v);
    }
}

/// Train per `cfg`, checkpointing into `out/checkpoint.safetensors` after every epoch and resuming
/// from it when present. `progress` shows a bar on stderr.
pub fn train(
    cfg: &TrainConfig,
    train_set: &Dataset,
    test_set: &Dataset,
    out: &Path,
    progress: bool,
) -> Result<TrainOutcome, TrainError> {
    train_until(cfg, train_set, test_set, out, progress, cfg.epochs)
}

/// As `train`, but stop (as if killed) once `stop_after` epochs are checkpointed.
pub fn train_until(
    cfg: &TrainConfig,
    train_set: &Dataset,
    test_set: &Dataset,
    out: &Path,
    progress: bool,
    stop_after: usize,
) -> Result<TrainOutcome, TrainError> {
    let arch =
        Arch::builtin(cfg.arch, train_set.shape, cfg.dataset.classes()).ok_or(TrainError::NoBuilder(cfg.arch))?;
    if test_set.shape != train_set.shape {
        return Err(TrainError::ShapeMismatch {
            expected: train_set.shape.to_string(),
            found: test_set.shape.to_string(),
        });
    }
    std::fs::create_dir_all(out).map_err(|source| ModelIoError::Io { path: out.into(), cause: source })?;
    let init = init_params(&arch, &mut ChaCha8Rng::seed_from_u64(cfg.seed));
    let mut net = Net::<f32>::from_params(&arch, &init);
    if cfg.batchnorm {
        net = net.with_batchnorm();
    }
    let g0 = net.zero_grads();
    let mut mom = Momentum { w: g0.w, b: g0.b, gamma: g0.gamma, beta: g0.beta };
    let ck = out.join(CHECKPOINT_FILE);
    let mut meta = CheckpointMeta { config: cfg.clone(), epochs_done: 0, history: Vec::new(), replans: Vec::new() };
    if ck.is_file() {
        meta = load_checkpoint(&ck, &mut net, &mut mom, cfg)?;
        eprintln!("resuming from {} after epoch {}", ck.display(), meta.epochs_done);
    }
    let n = train_set.len();
    let b = cfg.batch.min(n).max(1);
    let steps_per_epoch = n / b;
    let total = steps_per_epoch * cfg.epochs;
    let per = train_set.shape.numel();
    let s = train_set.shape;
    let t0 = Instant::now();
    // Without a terminal (nohup, logs) the bar is invisible: print a line every ~10% instead.
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let log_every = (steps_per_epoch / 10).max(1);
    for epoch in meta.epochs_done..cfg.epochs.min(stop_after) {
        let te = Instant::now();
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        rng.set_stream(epoch as u64 + 1);
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        let bar = if progress { ProgressBar::new(steps_per_epoch as u64) } else { ProgressBar::hidden() };
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} {bar:30} {pos}/{len} [{elapsed}<{eta}] {msg}")
                .expect("valid template"),
        );
        bar.set_prefix(format!("{}/{}", epoch + 1, cfg.epochs));
        let (mut loss_sum, mut correct, mut seen) = (0f64, 0usize, 0usize);
        let mut x = vec![0f32; b * per];
        let mut labels = vec![0u8; b];
        for step in 0..steps_per_epoch {
            for j in 0..b {
                let idx = order[step * b + j];
                labels[j] = train_set.labels[idx];
                let dst = &mut x[j * per..(j + 1) * per];
                if cfg.augment {
                    let dy = rng.gen_range(-4isize..=4);
                    let dx = rng.gen_range(-4isize..=4);
                    let flip = rng.gen_bool(0.5);
                    augment_into(train_set.image(idx), dst, s.c, s.h, s.w, dy, dx, flip);
                } else {
                    dst.copy_from_slice(train_set.image(idx));
                }
            }
            let r = net.backward(&x, &labels, Mode::Train, 1.0 / b as f32, false);
            let lr = cfg.lr_at(epoch * steps_per_epoch + step, total);
            for i in 0..arch.layers.len() {
                if arch.layers[i].has_params() {
                    sgd(&mut net.w[i], &r.grads.w[i], &mut mom.w[i], lr, cfg.momentum, cfg.weight_decay);
                    sgd(&mut net.b[i], &r.grads.b[i], &mut mom.b[i], lr, cfg.momentum, 0.0);
                }
                // A convolution's own BatchNorm, or a batch-norm node.
                if let Some(bn) = &mut net.bn[i] {
                    sgd(&mut bn.gamma, &r.grads.gamma[i], &mut mom.gamma[i], lr, cfg.momentum, 0.0);
                    sgd(&mut bn.beta, &r.grads.beta[i], &mut mom.beta[i], lr, cfg.momentum, 0.0);
                }
            }
            loss_sum += r.losses.iter().map(|&l| l as f64).sum::<f64>();
            correct += r.correct;
            seen += b;
            bar.inc(1);
            if !tty && (step + 1) % log_every == 0 {
                eprintln!(
                    "epoch {} step {}/{}: loss {:.4} acc {:.4} lr {:.4} ({:.0} img/s)",
                    epoch + 1,
                    step + 1,
                    steps_per_epoch,
                    loss_sum / seen as f64,
                    correct as f64 / seen as f64,
                    lr,
                    seen as f64 / te.elapsed().as_secs_f64()
                );
            }
            if step % 10 == 0 {
                bar.set_message(format!(
                    "loss {:.3} acc {:.3} lr {:.4}",
                    loss_sum / seen as f64,
                    correct as f64 / seen as f64,
                    lr
                ));
            }
        }
        bar.finish_and_clear();
        // Per-epoch check on the first 2000 test images (mixed classes); the whole set at the end.
        let folded = net.folded();
        let test_accuracy = accuracy(&arch, &folded, &test_set.clone().head(EPOCH_EVAL_N));
        let log = EpochLog {
            epoch: epoch + 1,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            test_accuracy,
            seconds: te.elapsed().as_secs_f64(),
        };
        eprintln!(
            "epoch {}/{}: train loss {:.4} acc {:.4}, test acc (first {EPOCH_EVAL_N}) {:.4}, {:.1}s",
            log.epoch, cfg.epochs, log.train_loss, log.train_accuracy, log.test_accuracy, log.seconds
        );
        meta.history.push(log);
        meta.epochs_done = epoch + 1;
        save_checkpoint(&ck, &net, &mom, &meta)?;
    }
    let params = net.folded();
    let test_accuracy = accuracy(&arch, &params, test_set);
    Ok(TrainOutcome {
        arch,
        params,
        history: meta.history,
        test_accuracy,
        seconds: t0.elapsed().as_secs_f64(),
        replans: meta.replans,
    })
}

/// The metadata of a trained model folder: what it was trained on (the dataset files and their
/// sha256), how (the optimizer, with any schedule change and early stop), and how it scores.
pub fn trained_meta(
    cfg: &TrainConfig,
    outcome: &TrainOutcome,
    data_root: &Path,
    test_n: usize,
    command: String,
) -> Result<super::io::ModelMeta, ModelIoError> {
    let dataset_files = crate::data::source_files(cfg.dataset, data_root)
        .into_iter()
        .map(|p| {
            let sha256 = crate::util::sha256_file(&p).map_err(|cause| ModelIoError::Io { path: p.clone(), cause })?;
            Ok(super::io::FileHash { file: p.file_name().unwrap_or_default().to_string_lossy().into_owned(), sha256 })
        })
        .collect::<Result<Vec<_>, ModelIoError>>()?;
    let done = outcome.history.len();
    let mut optimizer = cfg.optimizer_description();
    for r in &outcome.replans {
        optimizer.push_str(&format!("; {r}"));
    }
    if done < cfg.epochs {
        optimizer.push_str(&format!(" (stopped after {done} of {} planned epochs)", cfg.epochs));
    }
    Ok(super::io::ModelMeta {
        dataset: cfg.dataset,
        dataset_files,
        epochs: done,
        seed: cfg.seed,
        optimizer,
        test_accuracy: outcome.test_accuracy,
        test_n,
        batchnorm_folded: cfg.batchnorm,
        train_seconds: outcome.history.iter().map(|h| h.seconds).sum::<f64>(),
        command,
        sha256: String::new(),
        finetune: None,
        quantization: None,
    })
}

/// `axdnn train`: train a model in float into a model folder.
#[derive(clap::Args, Debug, Clone)]
pub struct TrainFlags {
    /// Architecture: lenet5 | alexnet | resnet20 | mobilenet (`--model` is accepted as an alias).
    #[arg(long, alias = "model")]
    pub arch: ArchName,
    /// Dataset: mnist | cifar10.
    #[arg(long)]
    pub dataset: DatasetName,
    /// Output model folder (also holds the per-epoch checkpoint used to resume).
    #[arg(long)]
    pub out: PathBuf,
    /// Settings replacing the dataset's defaults.
    #[command(flatten)]
    pub settings: TrainOverrides,
    /// Train on the first N training images only (smoke tests).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Dataset folder (default: $AXDNN_DATA, else ../shared/data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Resume from the checkpoint in --out (also automatic when one exists).
    #[arg(long)]
    pub resume: bool,
    /// Export the model after this many epochs even if the schedule planned more (a fallback when
    /// time runs out; model.json records the epochs actually done).
    #[arg(long)]
    pub stop_after: Option<usize>,
}

/// What `axdnn train` did.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The model folder written.
    pub out: PathBuf,
    /// Final test accuracy.
    pub test_accuracy: f64,
    /// Test images it was measured on.
    pub test_n: usize,
    /// Epochs done (over all resumed runs).
    pub epochs: usize,
    /// Training time over all resumed runs, seconds.
    pub train_seconds: f64,
    /// This process's time, seconds.
    pub process_seconds: f64,
}

impl TrainFlags {
    /// Train ([`train_until`], resuming from a checkpoint in `--out`) and save the model folder,
    /// whose `model.json` records `command`; notes and progress go to `log` and standard error.
    pub fn run(&self, command: &str, log: &dyn Fn(&str)) -> Result<Trained, TrainError> {
        use crate::data::{self, Split};
        let root = crate::util::inputs::data_folder(self.data.clone()).ok_or(TrainError::NoData)?;
        let cfg = self.settings.apply(TrainConfig::new(self.arch, self.dataset));
        let ck = self.out.join(CHECKPOINT_FILE);
        if self.resume && !ck.is_file() {
            log(&format!("note: --resume given but {} does not exist; starting fresh", ck.display()));
        }
        let mut tr = data::load(self.dataset, Split::Train, &root)?;
        if let Some(l) = self.limit {
            tr = tr.head(l);
        }
        let te = data::load(self.dataset, Split::Test, &root)?;
        let (arch, dataset, n) = (self.arch, self.dataset, tr.len());
        log(&format!(
            "training {arch} on {dataset} ({n} train / {} test images): {}",
            te.len(),
            cfg.optimizer_description()
        ));
        let t0 = Instant::now();
        let outcome = train_until(&cfg, &tr, &te, &self.out, true, self.stop_after.unwrap_or(cfg.epochs))?;
        let meta = trained_meta(&cfg, &outcome, &root, te.len(), command.into())?;
        super::io::save(&self.out, &outcome.arch, &outcome.params, &meta)?;
        Ok(Trained {
            out: self.out.clone(),
            test_accuracy: outcome.test_accuracy,
            test_n: te.len(),
            epochs: meta.epochs,
            train_seconds: meta.train_seconds,
            process_seconds: t0.elapsed().as_secs_f64(),
        })
    }
}

impl std::fmt::Display for Trained {
    /// One line: accuracy, epochs and times.
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "{}: test accuracy {:.4} ({} images), {} epochs, training time {:.0}s (this process {:.0}s)",
            self.out.display(),
            self.test_accuracy,
            self.test_n,
            self.epochs,
            self.train_seconds,
            self.process_seconds
        )
    }
}

/// `axdnn eval`: float test accuracy of a trained model.
#[derive(clap::Args, Debug, Clone)]
pub struct EvalFlags {
    /// Model folder (model.safetensors + model.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Evaluate the first N test images only [default: all].
    #[arg(long, value_parser = crate::util::values::parse_count)]
    pub n: Option<usize>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write the float logits (float32 .npy, N×classes, in input order) for other tools.
    #[arg(long)]
    pub logits: Option<PathBuf>,
    /// Run these images instead of the test set: a NumPy file, float32 N×C×H×W in [0, 1] or
    /// uint8 (no dataset needed).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Labels of --images (a 1-D integer NumPy file) for an accuracy.
    #[arg(long, requires = "images")]
    pub labels: Option<PathBuf>,
    /// Dataset folder (default: $AXDNN_DATA, else ../shared/data).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// What `axdnn eval` measured.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// The model folder.
    pub model: PathBuf,
    /// Its dataset.
    pub dataset: DatasetName,
    /// Test accuracy (`None` for unlabelled `--images`).
    pub accuracy: Option<f64>,
    /// Images run.
    pub n: usize,
    /// The NumPy file the images came from (`None`: the dataset's test set).
    pub images: Option<PathBuf>,
}

impl EvalFlags {
    /// Run the model on the test images (writing `--logits`, noted to `log`).
    pub fn run(&self, log: &dyn Fn(&str)) -> Result<Evaluated, TrainError> {
        use crate::data::{self, Split};
        // The model first: a bad model folder is reported even where no dataset is installed.
        let m = super::io::load(&self.model)?;
        let classes = m.arch.classes;
        let mut te = match &self.images {
            Some(p) => data::npy::read_dataset(p, self.labels.as_deref(), m.arch.input, classes)?,
            None => {
                let root = crate::util::inputs::data_folder(self.data.clone()).ok_or(TrainError::NoData)?;
                data::load(m.meta.dataset, Split::Test, &root)?
            }
        };
        if let Some(n) = self.n {
            te = te.head(n);
        }
        if te.shape != m.arch.input {
            return Err(TrainError::ImagesMismatch { expected: m.arch.input.to_string(), found: te.shape.to_string() });
        }
        let logits = dataset_logits(&m.arch, &m.params, &te);
        let accuracy = (!te.labels.is_empty()).then(|| accuracy_of(&logits, &te.labels, classes));
        if let Some(p) = &self.logits {
            let npy = crate::lut::io::npy_f32(&[te.len(), classes], &logits);
            write_atomic(p, &npy).map_err(|cause| ModelIoError::Io { path: p.clone(), cause })?;
            log(&format!("wrote {} ({} × {classes} logits)", p.display(), te.len()));
        }
        let n = te.images.len() / te.shape.numel();
        Ok(Evaluated { model: self.model.clone(), dataset: m.meta.dataset, accuracy, n, images: self.images.clone() })
    }
}

impl Evaluated {
    /// The result as one line of JSON.
    pub fn json(&self) -> String {
        let (acc, n, model, dataset) =
            (self.accuracy, self.n, self.model.display().to_string(), self.dataset.to_string());
        let mut o = serde_json::json!({ "accuracy": acc, "n": n, "ci95": self.interval().map(|(lo, hi)| [lo, hi]), "model": model, "dataset": dataset });
        if let Some(p) = &self.images {
            o["images"] = p.display().to_string().into();
        }
        o.to_string()
    }

    /// The 95 % Wilson interval of the accuracy over its `n` images.
    pub fn interval(&self) -> Option<(f64, f64)> {
        self.accuracy.map(|a| accuracy_interval(a, self.n))
    }
}

/// The 95 % Wilson interval of an accuracy `acc` measured on `n` images.
pub fn accuracy_interval(acc: f64, n: usize) -> (f64, f64) {
    let correct = (acc * n as f64).round() as usize;
    crate::util::stats::Proportion::new(correct.min(n), n).wilson()
}

impl std::fmt::Display for Evaluated {
    /// One line: accuracy as a fraction and in % with its 95 % Wilson interval, images, dataset.
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let m = self.model.display();
        let on = match &self.images {
            Some(p) => format!("{} images of {}", self.n, p.display()),
            None => format!("{} {} test images", self.n, self.dataset),
        };
        match (self.accuracy, self.interval()) {
            (Some(a), Some((lo, hi))) => write!(
                f,
                "{m}: float test accuracy {a:.4} ({:.2} %, 95 % interval {:.2}–{:.2} %) on {on}",
                a * 100.0,
                lo * 100.0,
                hi * 100.0,
            ),
            _ => write!(f, "{m}: ran {on} (no labels: no accuracy)"),
        }
    }
}
