//! `axdnn transfer`: the paper's transferability analysis (Table II). Adversarial examples are
//! generated on each source model's float version and classified by each target model, quantized
//! on the accelerator with the chosen multiplier: accuracy before / after the attack.

use super::accel::{config, prepare, resolve, Prepared, QuantArgs};
use super::attack::{correct, generate};
use axdnn::accel::{Accelerator, Engine};
use axdnn::attack::{Attack, Epsilon};
use super::{model_label, write_csv};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct TransferArgs {
    #[command(flatten)]
    pub q: QuantArgs,
    /// The other models (same dataset); with --model they are both sources and targets.
    #[arg(long, value_delimiter = ',', required = true)]
    pub with: Vec<PathBuf>,
    /// The multiplier of the target accelerators (`exact`, a Verilog file or an EvoApprox name).
    #[arg(long, default_value = "exact")]
    pub multiplier: String,
    #[arg(long, default_value = "linf-bim")]
    pub attack: Attack,
    #[arg(long, default_value_t = 0.05)]
    pub eps: f32,
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Output folder for transfer.csv (default: runs/transfer-<model>).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(serde::Serialize)]
struct Cell {
    source: String,
    target: String,
    multiplier: String,
    attack: String,
    epsilon: f32,
    accuracy_before: f64,
    accuracy_after: f64,
    n: usize,
}

pub fn transfer_cmd(mut a: TransferArgs) -> anyhow::Result<()> {
    if a.q.n.is_none() {
        a.q.n = Some(500);
        eprintln!("--n not given: the first 500 test images");
    }
    anyhow::ensure!(a.batch > 0, "--batch must be positive");
    let eps = [Epsilon::new(a.eps)?];
    let paths: Vec<PathBuf> = std::iter::once(a.q.model.clone()).chain(a.with.iter().cloned()).collect();
    let preps: Vec<Prepared> = paths.iter().map(|p| prepare(&QuantArgs { model: p.clone(), ..a.q.clone() })).collect::<anyhow::Result<_>>()?;
    for (p, path) in preps.iter().zip(&paths).skip(1) {
        anyhow::ensure!(
            p.dataset == preps[0].dataset && p.test.labels == preps[0].test.labels,
            "{} is trained on {:?}, {} on {:?}: transfer needs one test set",
            path.display(),
            p.dataset,
            paths[0].display(),
            preps[0].dataset
        );
    }
    let labels = &preps[0].test.labels;
    let n = labels.len();
    // Every target's accelerator, and its clean accuracy.
    // One multiplier for every target (the exact circuit's power does not depend on the model).
    let m = resolve(&a.multiplier, a.q.scheme, false, preps[0].exact_power_mw)?;
    let accs = preps
        .iter()
        .map(|p| Ok(Accelerator::new(&p.qm, m.mult.as_ref(), config(&a.q, Engine::Fast, false, p.exact_power_mw))?))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let clean = accs.iter().zip(&preps).map(|(acc, p)| correct(acc, &p.test.images, labels)).collect::<anyhow::Result<Vec<_>>>()?;
    let mut cells = Vec::new();
    for (src, sp) in paths.iter().zip(&preps) {
        let (adv, _) = generate(sp, a.q.seed, a.attack, &eps, a.batch)?;
        for ((tgt, acc), &before) in paths.iter().zip(&accs).zip(&clean) {
            cells.push(Cell {
                source: format!("{} (float)", model_label(src)),
                target: format!("{} ({})", model_label(tgt), m.mult.name()),
                multiplier: m.mult.name().into(),
                attack: a.attack.name().into(),
                epsilon: a.eps,
                accuracy_before: before as f64 / n as f64,
                accuracy_after: correct(acc, &adv[0], labels)? as f64 / n as f64,
                n,
            });
        }
    }
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/transfer-{}", model_label(&paths[0]))));
    std::fs::create_dir_all(&out)?;
    write_csv(&out.join("transfer.csv"), &cells)?;
    println!(
        "{} eps {} from each source's float model to each target, quantized ({}) with {}: accuracy % before/after, {n} test images\n",
        a.attack,
        a.eps,
        a.q.scheme,
        m.mult.name()
    );
    let targets: Vec<&str> = cells.iter().take(paths.len()).map(|c| c.target.as_str()).collect();
    println!("| source \\ target | {} |\n|---|{}", targets.join(" | "), "---|".repeat(targets.len()));
    for row in cells.chunks(paths.len()) {
        let v: Vec<String> = row.iter().map(|c| format!("{:.1}/{:.1}", 100.0 * c.accuracy_before, 100.0 * c.accuracy_after)).collect();
        println!("| {} | {} |", row[0].source, v.join(" | "));
    }
    println!("\nwrote {}", out.join("transfer.csv").display());
    Ok(())
}
