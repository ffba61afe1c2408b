//! `axdnn attack`: the paper's Algorithm 1 for one attack, as a one-attack plan run by the study
//! engine (so its rows are keyed, resumable and reported like any study's).

use super::model_label;
use super::target::{flag_of, TargetArgs};
use axdnn::attack::Attack;
use axdnn::study::{report, PlanKeys, Runner};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct AttackArgs {
    #[command(flatten)]
    pub t: TargetArgs,
    /// fgm, fgsm, l2-bim, linf-bim, l2-pgd, linf-pgd, l2-contrast, l2-gaussian, l2-uniform, linf-uniform.
    #[arg(long, default_value = "linf-pgd")]
    pub attack: Attack,
    /// Perturbation budgets (comma-separated, in the units of --eps-units).
    #[arg(long, value_delimiter = ',', default_value = "0,0.01,0.02,0.05,0.1,0.2,0.3", value_parser = axdnn::util::values::parse_budget, allow_negative_numbers = true)]
    pub eps: Vec<f32>,
    /// pixel (of [0, 1]) or normalized ((x − mean)/std per channel: the model's own
    /// normalization, else MNIST 0.1307/0.3081, CIFAR-10 (0.4914, 0.4822, 0.4465)/(0.2470,
    /// 0.2435, 0.2616)); in normalized units the attack runs in normalized coordinates.
    #[arg(long, default_value = "pixel")]
    pub eps_units: axdnn::attack::EpsUnits,
    /// Multipliers the adversarial examples are evaluated on, comma-separated (per-layer
    /// assignments `conv1=A,conv2=B` separated by `;`); each as --multiplier of `infer`.
    #[arg(long, visible_alias = "multiplier", default_value = "exact")]
    pub multipliers: Vec<String>,
    /// Threat models: transfer (examples from the float model), bpda (gradient attacks whose
    /// forward pass, loss and success are the accelerator's, backward through the float model),
    /// hardware (decision-based attacks querying each accelerator).
    #[arg(long, visible_alias = "threat", value_delimiter = ',', default_value = "transfer")]
    pub threats: Vec<String>,
    /// Same as adding `hardware` to --threats.
    #[arg(long)]
    pub on_hardware: bool,
    /// Seed of the attack's random draws.
    #[arg(long, default_value_t = 0)]
    pub attack_seed: u64,
    /// Images per attack call (noise draws cover a whole call, as in Foolbox).
    #[arg(long, default_value_t = 100, value_parser = axdnn::util::values::parse_count)]
    pub batch: usize,
    /// Results folder (default: runs/attack-<model>-<attack>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the rows as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write the clipped adversarial examples from the float model (float32 .npy, N×C×H×W,
    /// test-set order) for other tools: FILE.npy for one budget, FILE-eps<e>.npy for several.
    #[arg(long)]
    pub save: Option<PathBuf>,
}

/// `adv.npy` for one budget, `adv-eps0.1.npy` for each of several.
fn save_path(base: &Path, eps: f32, several: bool) -> PathBuf {
    if !several {
        return base.to_path_buf();
    }
    let stem = base.file_stem().map_or("adv".into(), |s| s.to_string_lossy().into_owned());
    base.with_file_name(format!("{stem}-eps{eps}.npy"))
}

pub fn attack_cmd(a: AttackArgs) -> anyhow::Result<()> {
    let inputs = a.t.inputs.resolve();
    let mut threats = a.threats.clone();
    if a.on_hardware && !threats.iter().any(|t| t == "hardware") {
        threats.push("hardware".into());
    }
    anyhow::ensure!(
        !(threats.iter().any(|t| t == "hardware") && a.attack.needs_gradient()),
        "the hardware threat model needs a decision-based attack (l2-contrast, l2-gaussian, l2-uniform, linf-uniform); {} needs gradients the accelerator does not have",
        a.attack
    );
    anyhow::ensure!(
        !threats.iter().any(|t| t == "bpda") || a.attack.needs_gradient(),
        "the bpda threat model is for gradient attacks (fgm, fgsm, l2-bim, linf-bim, l2-pgd, linf-pgd); {} queries the accelerator directly under --threat hardware",
        a.attack
    );
    let model_name = model_label(&a.t.model);
    let keys = PlanKeys {
        name: Some(format!("attack-{model_name}-{}", a.attack)),
        attacks: vec![a.attack.name().into()],
        eps: [(a.attack.name().to_string(), a.eps.clone())].into(),
        eps_units: Some(a.eps_units.name().into()),
        multipliers: a.multipliers.clone(),
        threats,
        attack_seeds: vec![a.attack_seed],
        chunk: Some(a.batch),
        ..a.t.keys(&[&a.t.model])
    };
    let plan = keys.plan(&inputs, &flag_of)?;
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/attack-{model_name}-{}", a.attack)));
    let runner = Runner::new(plan, inputs);
    let sum = match &a.save {
        None => runner.run(&out)?,
        Some(base) => {
            let shape = axdnn::model::io::load_meta(&a.t.model)?.0.input;
            let (sum, examples) = runner.run_keeping_examples(&out)?;
            for ((_, _, _, bits), x) in &examples {
                let e = f32::from_bits(*bits);
                let path = save_path(base, e, a.eps.len() > 1);
                if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(d)?;
                }
                let n = x.len() / shape.numel();
                axdnn::util::write_atomic(&path, &axdnn::lut::io::npy_f32(&[n, shape.c, shape.h, shape.w], x))?;
                eprintln!("wrote {} ({n} adversarial examples, eps {e})", path.display());
            }
            sum
        }
    };
    report::write(&out)?;
    let res = report::Results::open(&out)?;
    let aggs: Vec<&axdnn::study::runner::Aggregate> = res.complete().collect();
    if a.json {
        let rows = axdnn::study::tables::robust_rows(&aggs);
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{} on {model_name}: {} test images, scheme {}; robust accuracy % ± half-width of the 95 % interval",
            a.attack, a.t.n, a.t.scheme
        );
        print!("{}", report::robust_table(&aggs));
        println!("{sum}\nwrote {} (results.csv, report.md, plots/)", out.display());
    }
    Ok(())
}
