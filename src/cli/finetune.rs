//! `axdnn finetune`: approximation-aware fine-tuning of a model folder for one multiplier,
//! written as a new model folder (`--recover finetune` then evaluates it).

use super::target::{TargetArgs, MULTIPLIER_HELP};
use axdnn::data::{self, Split};
use axdnn::model::io;
use axdnn::quant::Recover;
use axdnn::recover::finetune::{self, FinetuneConfig};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct FinetuneArgs {
    /// The target (--n: test images the quantized accuracy is reported on after each epoch;
    /// the forward pass is the fast engine, whose products do not depend on --array/--dataflow).
    #[command(flatten)]
    pub t: TargetArgs,
    #[arg(long, help = MULTIPLIER_HELP)]
    pub multiplier: String,
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
    /// Output model folder (the checkpoint is kept there; a rerun resumes from it).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn finetune_cmd(a: FinetuneArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.t.recover == [Recover::None],
        "--recover: fine-tuning always tunes and compensates (as `--recover finetune` evaluates it); leave it unset"
    );
    let base = io::load(&a.t.model)?;
    let inputs = a.t.inputs.resolve();
    let root = super::data_root(inputs.data.clone())?;
    let train = data::load(base.meta.dataset, Split::Train, &root)?;
    let test = data::load(base.meta.dataset, Split::Test, &root)?;
    anyhow::ensure!(
        train.shape == base.arch.input,
        "dataset images are {}, model expects {}",
        train.shape,
        base.arch.input
    );
    let scheme = a.t.scheme;
    let exact_power = axdnn::mult::resolve::exact_power_mw(inputs.evoapprox.as_deref(), scheme.signed_multiplier());
    let m = axdnn::mult::resolve_charged(
        &a.multiplier,
        scheme.signed_multiplier(),
        false,
        inputs.evoapprox.as_deref(),
        exact_power,
    )?;
    // Fine-tuning trains for one table (recorded by its sha256 in model.json).
    anyhow::ensure!(
        !m.is_assignment(),
        "--multiplier {}: finetune takes one multiplier, not a per-layer assignment",
        a.multiplier
    );
    let sha = m.lut.as_ref().map(|l| l.sha256()).unwrap_or_default();
    let cfg = FinetuneConfig {
        calib: a.t.calib,
        calib_seed: a.t.calib_seed,
        epochs: a.epochs,
        seed: a.seed,
        batch: a.batch,
        lr: a.lr,
        eval_n: a.t.n,
        ..FinetuneConfig::new(a.t.spec().options())
    };
    let t0 = std::time::Instant::now();
    let out = finetune::finetune(&base, m.mult.as_ref(), &sha, &cfg, &train, &test, &a.out, true)?;
    let float_accuracy = axdnn::model::train::accuracy(&base.arch, &out.params, &test);
    let command = std::iter::once("axdnn".to_string()).chain(std::env::args().skip(1)).collect::<Vec<_>>().join(" ");
    let meta =
        finetune::tuned_meta(&base, &a.t.model, m.mult.name(), &sha, &cfg, &out, float_accuracy, test.len(), command);
    io::save(&a.out, &base.arch, &out.params, &meta)?;
    let r = meta.finetune.as_ref().expect("a tuned model has a record");
    println!(
        "{}: fine-tuned for {} ({scheme}): quantized accuracy {:.4} -> {:.4} on {} test images; float accuracy {:.4}; {:.0}s",
        a.out.display(),
        m.mult.name(),
        r.accuracy_before,
        r.accuracy_after,
        r.eval_n,
        float_accuracy,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
