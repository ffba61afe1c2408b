//! `axdnn attack`: the paper's Algorithm 1 for one attack. Adversarial examples are generated
//! on the float ("accurate") model for every epsilon, then classified by the quantized model on
//! the simulated accelerator with each multiplier; robust accuracy = share still classified
//! correctly.

use super::accel::{config, prepare, resolve, Prepared, QuantArgs};
use super::{model_label, write_csv};
use axdnn::accel::load::LoadedMultiplier;
use axdnn::accel::{Accelerator, Engine};
use axdnn::attack::{self, AccelClassifier, Attack, Bounds, Classifier, Criterion, Epsilon, FloatClassifier, SeededNoise};
use axdnn::data::Dataset;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct AttackArgs {
    #[command(flatten)]
    pub q: QuantArgs,
    /// fgm, fgsm, l2-bim, linf-bim, l2-pgd, linf-pgd, l2-contrast, l2-gaussian, l2-uniform, linf-uniform.
    #[arg(long, default_value = "linf-pgd")]
    pub attack: Attack,
    /// Perturbation budgets (comma-separated, in pixel units of [0, 1]).
    #[arg(long, value_delimiter = ',', default_value = "0,0.01,0.02,0.05,0.1,0.2,0.3")]
    pub eps: Vec<f32>,
    /// Multipliers the adversarial examples are evaluated on: `exact`, Verilog files or EvoApprox names.
    #[arg(long, value_delimiter = ',', default_value = "exact")]
    pub multipliers: Vec<String>,
    /// Images per attack call (noise draws cover a whole call, as in Foolbox).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Output folder for attack.csv (default: runs/attack-<model>-<attack>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    /// Also run the (decision-based) attack against each multiplier's accelerator directly,
    /// rows `<attack>@hw`.
    #[arg(long)]
    pub on_hardware: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Row {
    pub attack: String,
    pub scheme: String,
    pub epsilon: f32,
    /// `float` or the multiplier's name.
    pub model: String,
    pub robust_accuracy: f64,
    pub n: usize,
    pub seed: u64,
}

/// Algorithm 1 of the paper for one attack: adversarial examples from the float model of
/// `prep` for every epsilon, then robust accuracy of the float model and of the quantized model
/// on the accelerator with each multiplier.
/// Every multiplier spec resolved once (its table simulated from the netlist).
pub fn resolve_all(specs: &[String], q: &QuantArgs, prep: &Prepared) -> anyhow::Result<Vec<LoadedMultiplier>> {
    specs.iter().map(|s| resolve(s, q.scheme, false, prep.exact_power_mw)).collect()
}

pub fn algorithm1(prep: &Prepared, q: &QuantArgs, attack: Attack, eps: &[Epsilon], multipliers: &[LoadedMultiplier], batch: usize) -> anyhow::Result<Vec<Row>> {
    let n = prep.test.len();
    let (adv, float_ok) = generate(prep, q.seed, attack, eps, batch)?;
    let row = |e: &Epsilon, model: String, ok: usize| Row {
        attack: attack.name().into(),
        scheme: q.scheme.to_string(),
        epsilon: e.0,
        model,
        robust_accuracy: ok as f64 / n as f64,
        n,
        seed: q.seed,
    };
    let mut rows: Vec<Row> = eps.iter().zip(&float_ok).map(|(e, &ok)| row(e, "float".into(), ok)).collect();
    for m in multipliers {
        let acc = Accelerator::new(&prep.qm, m.mult.as_ref(), config(q, Engine::Fast, false, prep.exact_power_mw))?;
        for (k, e) in eps.iter().enumerate() {
            rows.push(row(e, m.mult.name().into(), correct(&acc, &adv[k], &prep.test.labels)?));
        }
    }
    Ok(rows)
}

/// Adversarial examples on the float model of `prep`, per epsilon (clipped outputs, batch by
/// batch, one seeded noise stream), and how many the float model still classifies correctly.
pub fn generate(prep: &Prepared, seed: u64, attack: Attack, eps: &[Epsilon], batch: usize) -> anyhow::Result<(Vec<Vec<f32>>, Vec<usize>)> {
    let float = FloatClassifier { arch: &prep.float.arch, params: &prep.float.params };
    generate_on(&float, &prep.test, seed, attack, eps, batch)
}

/// [`generate`] against any classifier (the attack queries `model` itself).
pub fn generate_on(model: &dyn Classifier, test: &Dataset, seed: u64, attack: Attack, eps: &[Epsilon], batch: usize) -> anyhow::Result<(Vec<Vec<f32>>, Vec<usize>)> {
    let d = test.shape.numel();
    let n = test.len();
    let pb = indicatif::ProgressBar::new(n as u64);
    pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    pb.set_style(indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} images ({eta})")?);
    pb.set_message(format!("{attack} on {}", model.name()));
    let mut noise = SeededNoise::new(seed);
    let mut adv: Vec<Vec<f32>> = vec![Vec::with_capacity(n * d); eps.len()];
    let mut still_ok = vec![0usize; eps.len()];
    for s in (0..n).step_by(batch) {
        let e = (s + batch).min(n);
        let crit = Criterion::Misclassification(test.labels[s..e].to_vec());
        let out = attack::run(attack, attack.default_params(), model, Bounds::default(), &test.images[s * d..e * d], &crit, eps, &mut noise)?;
        for (k, c) in out.clipped.into_iter().enumerate() {
            adv[k].extend(c);
            still_ok[k] += out.success[k].iter().filter(|&&f| !f).count();
        }
        pb.inc((e - s) as u64);
    }
    pb.finish_and_clear();
    Ok((adv, still_ok))
}

/// Decision-based attacks (contrast reduction, repeated noise) run against the quantized model
/// on the accelerator itself, one search per multiplier: hardware in the loop, beyond the
/// paper's transfer setting. Rows are labelled `<attack>@hw`.
pub fn on_hardware(prep: &Prepared, q: &QuantArgs, attack: Attack, eps: &[Epsilon], multipliers: &[LoadedMultiplier], batch: usize) -> anyhow::Result<Vec<Row>> {
    anyhow::ensure!(!attack.needs_gradient(), "--on-hardware needs a decision-based attack (l2-contrast, l2-gaussian, l2-uniform, linf-uniform); {attack} needs gradients the accelerator does not have");
    let n = prep.test.len();
    let mut rows = Vec::new();
    for m in multipliers {
        let acc = Accelerator::new(&prep.qm, m.mult.as_ref(), config(q, Engine::Fast, false, prep.exact_power_mw))?;
        let hw = AccelClassifier { accel: &acc, label: format!("{} on the accelerator", m.mult.name()) };
        let (_, ok) = generate_on(&hw, &prep.test, q.seed, attack, eps, batch)?;
        for (e, ok) in eps.iter().zip(ok) {
            rows.push(Row {
                attack: format!("{}@hw", attack.name()),
                scheme: q.scheme.to_string(),
                epsilon: e.0,
                model: m.mult.name().into(),
                robust_accuracy: ok as f64 / n as f64,
                n,
                seed: q.seed,
            });
        }
    }
    Ok(rows)
}

/// Images of `x` the accelerator classifies as `labels` say.
pub fn correct(acc: &Accelerator, x: &[f32], labels: &[u8]) -> anyhow::Result<usize> {
    Ok(acc.run(x)?.predictions().iter().zip(labels).filter(|(&p, &y)| p == y as usize).count())
}

/// Distinct values in first-seen order.
pub fn ordered<'a>(it: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    it.fold(Vec::new(), |mut v, m| {
        if !v.contains(&m) {
            v.push(m);
        }
        v
    })
}

/// Robust accuracy (%) with epsilons as rows and models as columns, Markdown. Hardware-in-the-loop
/// rows (`<attack>@hw`) get their own columns, marked `@hw`.
pub fn markdown_table(rows: &[Row]) -> String {
    let column = |r: &Row| if r.attack.ends_with("@hw") { format!("{} @hw", r.model) } else { r.model.clone() };
    let cols: Vec<String> = rows.iter().map(column).fold(Vec::new(), |mut v, c| {
        if !v.contains(&c) {
            v.push(c);
        }
        v
    });
    let mut eps: Vec<f32> = Vec::new();
    for r in rows {
        if !eps.contains(&r.epsilon) {
            eps.push(r.epsilon);
        }
    }
    let mut s = format!("| eps | {} |\n|---|{}\n", cols.join(" | "), "---:|".repeat(cols.len()));
    for e in eps {
        s += &format!("| {e} |");
        for c in &cols {
            match rows.iter().find(|r| column(r) == *c && r.epsilon == e) {
                Some(r) => s += &format!(" {:.1} |", 100.0 * r.robust_accuracy),
                None => s += " – |",
            }
        }
        s += "\n";
    }
    s
}

pub fn attack_cmd(mut a: AttackArgs) -> anyhow::Result<()> {
    if a.q.n.is_none() {
        a.q.n = Some(1000);
        eprintln!("--n not given: attacking the first 1000 test images");
    }
    anyhow::ensure!(a.batch > 0, "--batch must be positive");
    anyhow::ensure!(!(a.on_hardware && a.attack.needs_gradient()), "--on-hardware needs a decision-based attack (l2-contrast, l2-gaussian, l2-uniform, linf-uniform); {} needs gradients the accelerator does not have", a.attack);
    let eps: Vec<Epsilon> = a.eps.iter().map(|&e| Epsilon::new(e)).collect::<Result<_, _>>()?;
    let prep = prepare(&a.q)?;
    let n = prep.test.len();
    let mults = resolve_all(&a.multipliers, &a.q, &prep)?;
    let mut rows = algorithm1(&prep, &a.q, a.attack, &eps, &mults, a.batch)?;
    if a.on_hardware {
        rows.extend(on_hardware(&prep, &a.q, a.attack, &eps, &mults, a.batch)?);
    }

    let model_name = model_label(&a.q.model);
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/attack-{model_name}-{}", a.attack)));
    std::fs::create_dir_all(&out)?;
    let csv_path = out.join("attack.csv");
    write_csv(&csv_path, &rows)?;

    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{} on {model_name}: adversarial examples from the float model, {n} test images, scheme {}; robust accuracy %",
            a.attack, a.q.scheme
        );
        print!("{}", markdown_table(&rows));
        println!("wrote {}", csv_path.display());
    }
    Ok(())
}
