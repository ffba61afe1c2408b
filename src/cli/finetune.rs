//! `axdnn finetune`: approximation-aware fine-tuning of a model folder for one multiplier,
//! written as a new model folder (`--recover finetune` then evaluates it).

use super::{data_root, Inputs};
use axdnn::data::{self, Split};
use axdnn::model::io;
use axdnn::quant::{ApproxLayers, QuantOptions, QuantScheme, WeightGranularity};
use axdnn::recover::finetune::{self, FinetuneConfig, FinetuneRecord};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct FinetuneArgs {
    /// Model folder to start from (model.safetensors + model.json).
    #[arg(long)]
    pub model: PathBuf,
    /// The multiplier of the forward pass (resolved like `infer --multiplier`).
    #[arg(long)]
    pub multiplier: String,
    /// asym-u8 | sign-magnitude | sym-s8.
    #[arg(long, default_value = "asym-u8")]
    pub scheme: QuantScheme,
    /// Per-output-channel weight scales and zero points.
    #[arg(long)]
    pub per_channel: bool,
    /// conv | all | comma-separated layer names.
    #[arg(long, default_value = "conv")]
    pub approx_layers: ApproxLayers,
    /// Calibration images (chosen from the training set with --calib-seed), as evaluation uses.
    #[arg(long, default_value_t = 256)]
    pub calib: usize,
    /// Seed choosing the calibration images.
    #[arg(long, default_value_t = 0)]
    pub calib_seed: u64,
    /// Epochs over the training set.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Start learning rate (linear decay to 0).
    #[arg(long, default_value_t = 0.002)]
    pub lr: f32,
    /// Images per step.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Seed of the batch order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Test images the quantized accuracy is reported on after each epoch.
    #[arg(long, default_value_t = 2000)]
    pub eval_n: usize,
    /// Output model folder (the checkpoint is kept there; a rerun resumes from it).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub inputs: Inputs,
}

pub fn finetune_cmd(a: FinetuneArgs) -> anyhow::Result<()> {
    let base = io::load(&a.model)?;
    let inputs = a.inputs.resolve();
    let root = data_root(inputs.data.clone())?;
    let train = data::load(base.meta.dataset, Split::Train, &root)?;
    let test = data::load(base.meta.dataset, Split::Test, &root)?;
    anyhow::ensure!(
        train.shape == base.arch.input,
        "dataset images are {}, model expects {}",
        train.shape,
        base.arch.input
    );
    let exact_power = axdnn::mult::resolve::exact_power_mw(inputs.evoapprox.as_deref(), a.scheme.signed_multiplier());
    let m = super::accel::resolve(&a.multiplier, a.scheme, false, exact_power, inputs.evoapprox.as_deref())?;
    // Fine-tuning trains for one table (recorded by its sha256 in model.json).
    anyhow::ensure!(
        !m.is_assignment(),
        "--multiplier {}: finetune takes one multiplier, not a per-layer assignment",
        a.multiplier
    );
    let sha = m.lut.as_ref().map(|l| l.sha256()).unwrap_or_default();
    let options = QuantOptions {
        scheme: a.scheme,
        weights: if a.per_channel { WeightGranularity::PerChannel } else { WeightGranularity::PerTensor },
        approx: a.approx_layers.clone(),
    };
    let cfg = FinetuneConfig {
        calib: a.calib,
        calib_seed: a.calib_seed,
        epochs: a.epochs,
        seed: a.seed,
        batch: a.batch,
        lr: a.lr,
        eval_n: a.eval_n,
        ..FinetuneConfig::new(options)
    };
    let t0 = std::time::Instant::now();
    let out = finetune::finetune(&base, m.mult.as_ref(), &sha, &cfg, &train, &test, &a.out, true)?;
    let after = out.history.last().map_or(out.accuracy_before, |e| e.test_accuracy);
    let float_accuracy = axdnn::model::train::accuracy(&base.arch, &out.params, &test);
    let approx_layers = match &a.approx_layers {
        ApproxLayers::Conv => "conv".to_string(),
        ApproxLayers::All => "all".to_string(),
        ApproxLayers::Named(v) => v.join(","),
    };
    let record = FinetuneRecord {
        method: "approximation-aware fine-tuning: forward = quantized, tuned and compensated model on the multiplier (fast engine), backward straight through the float layers at the hardware's activations; Nesterov SGD, linear lr decay".into(),
        base_model: a.model.display().to_string(),
        base_sha256: base.meta.sha256.clone(),
        multiplier: m.mult.name().into(),
        lut_sha256: sha,
        scheme: finetune::scheme_record(a.scheme),
        per_channel: a.per_channel,
        approx_layers,
        calib: a.calib,
        calib_seed: a.calib_seed,
        epochs: a.epochs,
        seed: a.seed,
        lr: a.lr,
        batch: a.batch,
        eval_n: a.eval_n.min(test.len()),
        accuracy_before: out.accuracy_before,
        accuracy_after: after,
    };
    let meta = io::ModelMeta {
        test_accuracy: float_accuracy,
        test_n: test.len(),
        train_seconds: base.meta.train_seconds + out.history.iter().map(|e| e.seconds).sum::<f64>(),
        command: std::iter::once("axdnn".to_string()).chain(std::env::args().skip(1)).collect::<Vec<_>>().join(" "),
        optimizer: format!("{}; then fine-tuned for {} ({} epochs)", base.meta.optimizer, record.multiplier, a.epochs),
        sha256: String::new(),
        finetune: Some(record),
        ..base.meta.clone()
    };
    io::save(&a.out, &base.arch, &out.params, &meta)?;
    println!(
        "{}: fine-tuned for {} ({}): quantized accuracy {:.4} -> {:.4} on {} test images; float accuracy {:.4}; {:.0}s",
        a.out.display(),
        m.mult.name(),
        a.scheme,
        out.accuracy_before,
        after,
        a.eval_n.min(test.len()),
        float_accuracy,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
