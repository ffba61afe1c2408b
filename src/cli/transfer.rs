//! `axdnn transfer`: transferability (the paper's Table II) as a cross-model plan — adversarial
//! examples from each source's float model, classified by every target quantized on the
//! accelerator with the chosen multiplier: accuracy before / after the attack.

use super::attack::{plan_from_table, TargetArgs};
use super::model_label;
use axdnn::attack::Attack;
use axdnn::study::{report, Runner};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct TransferArgs {
    #[command(flatten)]
    pub t: TargetArgs,
    /// The other models (same dataset); with --model they are both sources and targets.
    #[arg(long, value_delimiter = ',', required = true)]
    pub with: Vec<PathBuf>,
    /// The multiplier of the target accelerators (`exact`, a Verilog file or an EvoApprox name).
    #[arg(long, default_value = "exact")]
    pub multiplier: String,
    /// The attack (Table II: linf-bim).
    #[arg(long, default_value = "linf-bim")]
    pub attack: Attack,
    /// Its budget (pixel units).
    #[arg(long, default_value_t = 0.05)]
    pub eps: f32,
    /// Seed of the attack's random draws.
    #[arg(long, default_value_t = 0)]
    pub attack_seed: u64,
    /// Images per attack call.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Results folder (default: runs/transfer-<model>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the cells as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn transfer_cmd(a: TransferArgs) -> anyhow::Result<()> {
    use toml::Value;
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
    let mut t = a.t.plan_table(&models);
    t.insert("name".into(), Value::String(format!("transfer-{}", model_label(&a.t.model))));
    t.insert("cross_models".into(), Value::Boolean(true));
    t.insert("attacks".into(), Value::Array(vec![Value::String(a.attack.name().into())]));
    let mut eps = toml::Table::new();
    eps.insert(a.attack.name().into(), Value::Array(vec![Value::Float(0.0), Value::Float(a.eps as f64)]));
    t.insert("eps".into(), Value::Table(eps));
    t.insert("multipliers".into(), Value::Array(vec![Value::String(a.multiplier.clone())]));
    t.insert("attack_seeds".into(), Value::Array(vec![Value::Integer(a.attack_seed as i64)]));
    t.insert("chunk".into(), Value::Integer(a.batch as i64));
    let plan = plan_from_table(&t, "<command line>", &inputs)?;
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/transfer-{}", model_label(&a.t.model))));
    let sum = Runner::new(plan, inputs).run(&out)?;
    report::write(&out)?;
    let res = report::Results::open(&out)?;
    let get = |src: &Path, tgt: &Path, e: f32| {
        res.find(|x| {
            x.source_model == src.display().to_string()
                && x.target_model == tgt.display().to_string()
                && x.target == "accel"
                && x.epsilon.to_bits() == e.to_bits()
        })
    };
    let mut cells = Vec::new();
    for src in &models {
        for tgt in &models {
            if let (Some(b), Some(af)) = (get(src, tgt, 0.0), get(src, tgt, a.eps)) {
                cells.push((src, tgt, b, af));
            }
        }
    }
    if a.json {
        let v: Vec<_> = cells
            .iter()
            .map(|(s, t, b, af)| {
                serde_json::json!({
                    "source": s.display().to_string(), "target": t.display().to_string(), "multiplier": a.multiplier,
                    "attack": a.attack.name(), "epsilon": report::eps_f64(a.eps), "n": b.n,
                    "accuracy_before": b.proportion().value(), "before_ci": b.proportion().wilson(),
                    "accuracy_after": af.proportion().value(), "after_ci": af.proportion().wilson(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{} eps {} from each source's float model to each target, quantized ({}) with {}: accuracy % before / after (± half-width of the 95 % interval), {} test images\n",
        a.attack, a.eps, a.t.scheme, a.multiplier, a.t.n
    );
    println!(
        "| source (float) \\ target | {} |\n|---|{}",
        models.iter().map(|m| model_label(m)).collect::<Vec<_>>().join(" | "),
        "---|".repeat(models.len())
    );
    for src in &models {
        let line: Vec<String> = models
            .iter()
            .map(|tgt| match cells.iter().find(|c| c.0 == src && c.1 == tgt) {
                Some((_, _, b, af)) => format!("{} / {}", report::pct(&b.proportion()), report::pct(&af.proportion())),
                None => "–".into(),
            })
            .collect();
        println!("| {} | {} |", model_label(src), line.join(" | "));
    }
    println!("\n{sum}\nwrote {}", out.display());
    Ok(())
}
