//! `axdnn transfer`: transferability (the paper's Table II) as a cross-model plan — adversarial
//! examples from each source's float model, classified by every target quantized on the
//! accelerator with the chosen multiplier: accuracy before / after the attack.

use super::model_label;
use super::target::{flag_of, TargetArgs, MULTIPLIER_HELP};
use axdnn::attack::Attack;
use axdnn::study::{report, PlanKeys, Runner};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct TransferArgs {
    #[command(flatten)]
    pub t: TargetArgs,
    /// The other models (same dataset); with --model they are both sources and targets.
    #[arg(long, value_delimiter = ',', required = true)]
    pub with: Vec<PathBuf>,
    #[arg(long, default_value = "exact", help = MULTIPLIER_HELP)]
    pub multiplier: String,
    /// The attack (Table II: linf-bim).
    #[arg(long, default_value = "linf-bim")]
    pub attack: Attack,
    /// Its budget (pixel units).
    #[arg(long, default_value_t = 0.05, value_parser = axdnn::util::values::parse_budget, allow_negative_numbers = true)]
    pub eps: f32,
    /// Seed of the attack's random draws.
    #[arg(long, default_value_t = 0)]
    pub attack_seed: u64,
    /// Images per attack call.
    #[arg(long, default_value_t = 100, value_parser = axdnn::util::values::parse_count)]
    pub batch: usize,
    /// Results folder (default: runs/transfer-<model>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the cells as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn transfer_cmd(a: TransferArgs) -> anyhow::Result<()> {
    let inputs = a.t.inputs.resolve();
    let models: Vec<&Path> = std::iter::once(a.t.model.as_path()).chain(a.with.iter().map(|p| p.as_path())).collect();
    let datasets: Vec<_> = models
        .iter()
        .map(|m| axdnn::model::io::load_meta(m).map(|(_, meta)| meta.dataset))
        .collect::<Result<_, _>>()?;
    if let Some(i) = datasets.iter().position(|d| *d != datasets[0]) {
        anyhow::bail!(
            "{} is trained on {}, {} on {}: transfer needs one test set",
            models[i].display(),
            datasets[i],
            models[0].display(),
            datasets[0]
        );
    }
    let keys = PlanKeys {
        name: Some(format!("transfer-{}", model_label(&a.t.model))),
        cross_models: Some(true),
        attacks: vec![a.attack.name().into()],
        eps: [(a.attack.name().to_string(), vec![0.0, a.eps])].into(),
        multipliers: vec![a.multiplier.clone()],
        attack_seeds: vec![a.attack_seed],
        chunk: Some(a.batch),
        ..a.t.keys(&models)
    };
    let plan = keys.plan(&inputs, &flag_of)?;
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/transfer-{}", model_label(&a.t.model))));
    let sum = Runner::new(plan, inputs).run(&out)?;
    report::write(&out)?;
    let res = report::Results::open(&out)?;
    let t = axdnn::study::tables::Transfer {
        results: &res,
        models: &models,
        multiplier: &a.multiplier,
        attack: a.attack,
        eps: a.eps,
        scheme: a.t.scheme,
        n: a.t.n,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&t.json())?);
        return Ok(());
    }
    print!("{}", t.markdown());
    println!("\n{sum}\nwrote {}", out.display());
    Ok(())
}
