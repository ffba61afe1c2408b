//! `axdnn attack`: the paper's Algorithm 1 for one attack, as a one-attack plan run by the study
//! engine (so its rows are keyed, resumable and reported like any study's).

use super::{model_label, Inputs};
use axdnn::attack::Attack;
use axdnn::study::{report, Plan, Runner};
use std::path::{Path, PathBuf};

/// The settings of a quantized target every experiment command shares.
#[derive(clap::Args, Clone, Debug)]
pub struct TargetArgs {
    /// Model folder (model.safetensors + model.json).
    #[arg(long)]
    pub model: PathBuf,
    /// asym-u8 | sign-magnitude | sym-s8.
    #[arg(long, default_value = "asym-u8")]
    pub scheme: String,
    /// Per-output-channel weight scales and zero points.
    #[arg(long)]
    pub per_channel: bool,
    /// Array shape RxC.
    #[arg(long, default_value = "16x16")]
    pub array: String,
    /// ws | os | is (weight-, output-, input-stationary).
    #[arg(long, default_value = "ws")]
    pub dataflow: String,
    /// conv | all | comma-separated layer names.
    #[arg(long, default_value = "conv")]
    pub approx_layers: String,
    /// Test images (the first N).
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// Calibration images (chosen from the training set with --calib-seed).
    #[arg(long, default_value_t = 256)]
    pub calib: usize,
    /// Seed choosing the calibration images.
    #[arg(long, default_value_t = 0)]
    pub calib_seed: u64,
    /// Assumed clock (GHz) of the energy convention E = P / f.
    #[arg(long, default_value_t = 1.0)]
    pub clock_ghz: f64,
    /// Accuracy recovery methods (comma-separated, one target each): none | compensate |
    /// tune | finetune (see `axdnn infer --help`).
    #[arg(long, value_delimiter = ',', default_value = "none")]
    pub recover: Vec<axdnn::quant::Recover>,
    #[command(flatten)]
    pub inputs: Inputs,
}

impl TargetArgs {
    /// These settings as plan keys.
    pub fn plan_table(&self, models: &[&Path]) -> toml::Table {
        use toml::Value;
        let mut t = toml::Table::new();
        t.insert(
            "models".into(),
            Value::Array(models.iter().map(|m| Value::String(m.display().to_string())).collect()),
        );
        t.insert("schemes".into(), Value::Array(vec![Value::String(self.scheme.clone())]));
        t.insert("per_channel".into(), Value::Array(vec![Value::Boolean(self.per_channel)]));
        t.insert("arrays".into(), Value::Array(vec![Value::String(self.array.clone())]));
        t.insert("dataflows".into(), Value::Array(vec![Value::String(self.dataflow.clone())]));
        t.insert("approx_layers".into(), Value::String(self.approx_layers.clone()));
        t.insert("images".into(), Value::Integer(self.n as i64));
        t.insert("calib".into(), Value::Integer(self.calib as i64));
        t.insert("calib_seed".into(), Value::Integer(self.calib_seed as i64));
        t.insert("clock_ghz".into(), Value::Float(self.clock_ghz));
        if self.recover != [axdnn::quant::Recover::None] {
            t.insert(
                "recover".into(),
                Value::Array(self.recover.iter().map(|r| Value::String(r.to_string())).collect()),
            );
        }
        t
    }
}

/// Build and check a plan from a table of keys (named `what` in errors).
pub fn plan_from_table(t: &toml::Table, what: &str, inputs: &axdnn::study::Inputs) -> anyhow::Result<Plan> {
    Ok(Plan::from_toml(&toml::to_string(t)?, Path::new(what), inputs)?)
}

#[derive(clap::Args)]
pub struct AttackArgs {
    #[command(flatten)]
    pub t: TargetArgs,
    /// fgm, fgsm, l2-bim, linf-bim, l2-pgd, linf-pgd, l2-contrast, l2-gaussian, l2-uniform, linf-uniform.
    #[arg(long, default_value = "linf-pgd")]
    pub attack: Attack,
    /// Perturbation budgets (comma-separated, in the units of --eps-units).
    #[arg(long, value_delimiter = ',', default_value = "0,0.01,0.02,0.05,0.1,0.2,0.3")]
    pub eps: Vec<f32>,
    /// pixel (of [0, 1]) or normalized ((x − mean)/std per channel: the model's own
    /// normalization, else MNIST 0.1307/0.3081, CIFAR-10 (0.4914, 0.4822, 0.4465)/(0.2470,
    /// 0.2435, 0.2616)); in normalized units the attack runs in normalized coordinates.
    #[arg(long, default_value = "pixel")]
    pub eps_units: axdnn::attack::EpsUnits,
    /// Multipliers the adversarial examples are evaluated on: `exact`, Verilog files or EvoApprox
    /// names, comma-separated; per-layer assignments (`conv1=A,conv2=B`) separated by `;`.
    #[arg(long, default_value = "exact")]
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
    #[arg(long, default_value_t = 100)]
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
    use toml::Value;
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
        !(threats.iter().any(|t| t == "bpda") && !a.attack.needs_gradient()),
        "the bpda threat model is for gradient attacks (fgm, fgsm, l2-bim, linf-bim, l2-pgd, linf-pgd); {} queries the accelerator directly under --threat hardware",
        a.attack
    );
    let mut t = a.t.plan_table(&[&a.t.model]);
    let model_name = model_label(&a.t.model);
    t.insert("name".into(), Value::String(format!("attack-{model_name}-{}", a.attack)));
    t.insert("attacks".into(), Value::Array(vec![Value::String(a.attack.name().into())]));
    let mut eps = toml::Table::new();
    eps.insert(a.attack.name().into(), Value::Array(a.eps.iter().map(|&e| Value::Float(e as f64)).collect()));
    t.insert("eps".into(), Value::Table(eps));
    t.insert("eps_units".into(), Value::String(a.eps_units.name().into()));
    t.insert(
        "multipliers".into(),
        Value::Array(axdnn::mult::resolve::split_list(&a.multipliers).into_iter().map(Value::String).collect()),
    );
    t.insert("threats".into(), Value::Array(threats.iter().map(|m| Value::String(m.clone())).collect()));
    t.insert("attack_seeds".into(), Value::Array(vec![Value::Integer(a.attack_seed as i64)]));
    t.insert("chunk".into(), Value::Integer(a.batch as i64));
    let plan = plan_from_table(&t, "<command line>", &inputs)?;
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
        let rows: Vec<_> = aggs
            .iter()
            .map(|x| {
                let (l, h) = x.proportion().wilson();
                serde_json::json!({
                    "attack": x.first.attack, "threat": x.first.threat, "epsilon": report::eps_f64(x.first.epsilon),
                    "model": report::column_of(&x.first), "scheme": x.first.scheme, "n": x.n, "correct": x.correct,
                    "robust_accuracy": x.proportion().value(), "ci_low": l, "ci_high": h,
                })
            })
            .collect();
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
