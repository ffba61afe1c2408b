//! `axdnn attack`: the paper's Algorithm 1 for one attack. Adversarial examples are generated
//! on the float ("accurate") model for every epsilon, then classified by the quantized model on
//! the simulated accelerator with each multiplier; robust accuracy = share still classified
//! correctly.

use super::accel::{config, prepare, resolve, QuantArgs};
use axdnn::accel::{Accelerator, Engine};
use axdnn::attack::{self, Attack, Bounds, Criterion, Epsilon, FloatClassifier, SeededNoise};
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
}

#[derive(serde::Serialize)]
struct Row {
    attack: String,
    epsilon: f32,
    /// `float` or the multiplier's name.
    model: String,
    robust_accuracy: f64,
    n: usize,
}

pub fn attack_cmd(mut a: AttackArgs) -> anyhow::Result<()> {
    if a.q.n.is_none() {
        a.q.n = Some(1000);
        eprintln!("--n not given: attacking the first 1000 test images");
    }
    anyhow::ensure!(a.batch > 0, "--batch must be positive");
    let eps: Vec<Epsilon> = a.eps.iter().map(|&e| Epsilon::new(e)).collect::<Result<_, _>>()?;
    let prep = prepare(&a.q)?;
    let (arch, params) = (&prep.float.arch, &prep.float.params);
    let test = &prep.test;
    let d = test.shape.numel();
    let n = test.len();
    let float = FloatClassifier { arch, params };

    // 1. Adversarial examples on the float model, batch by batch, one seeded noise stream.
    let pb = indicatif::ProgressBar::new(n as u64);
    pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    pb.set_style(indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} images ({eta})")?);
    pb.set_message(format!("{} on {} (float)", a.attack, arch.name));
    let mut noise = SeededNoise::new(a.q.seed);
    let mut adv: Vec<Vec<f32>> = vec![Vec::with_capacity(n * d); eps.len()];
    let mut float_ok = vec![0usize; eps.len()];
    for s in (0..n).step_by(a.batch) {
        let e = (s + a.batch).min(n);
        let crit = Criterion::Misclassification(test.labels[s..e].to_vec());
        let out = attack::run(a.attack, a.attack.default_params(), &float, Bounds::default(), &test.images[s * d..e * d], &crit, &eps, &mut noise)?;
        for (k, c) in out.clipped.into_iter().enumerate() {
            adv[k].extend(c);
            float_ok[k] += out.success[k].iter().filter(|&&f| !f).count();
        }
        pb.inc((e - s) as u64);
    }
    pb.finish_and_clear();
    let mut rows: Vec<Row> = eps
        .iter()
        .zip(&float_ok)
        .map(|(e, &ok)| Row { attack: a.attack.name().into(), epsilon: e.0, model: "float".into(), robust_accuracy: ok as f64 / n as f64, n })
        .collect();

    // 2. The same examples on the quantized model through each multiplier.
    for spec in &a.multipliers {
        let m = resolve(spec, a.q.scheme, false, prep.exact_power_mw)?;
        let acc = Accelerator::new(&prep.qm, m.mult.as_ref(), config(&a.q, Engine::Fast, false, prep.exact_power_mw))?;
        for (k, e) in eps.iter().enumerate() {
            let inf = acc.run(&adv[k])?;
            let ok = inf.predictions().iter().zip(&test.labels).filter(|(&p, &y)| p == y as usize).count();
            rows.push(Row { attack: a.attack.name().into(), epsilon: e.0, model: m.mult.name().into(), robust_accuracy: ok as f64 / n as f64, n });
        }
    }

    let model_name = a.q.model.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/attack-{model_name}-{}", a.attack)));
    std::fs::create_dir_all(&out)?;
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in &rows {
        w.serialize(r)?;
    }
    let csv_path = out.join("attack.csv");
    axdnn::model::io::write_atomic(&csv_path, &w.into_inner()?)?;

    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        let models: Vec<&str> = rows.iter().map(|r| r.model.as_str()).fold(Vec::new(), |mut v, m| {
            if !v.contains(&m) {
                v.push(m);
            }
            v
        });
        println!(
            "{} on {model_name}: adversarial examples from the float model, {n} test images, scheme {}; robust accuracy %",
            a.attack, a.q.scheme
        );
        print!("{:>8}", "eps");
        for m in &models {
            print!(" {:>12}", m);
        }
        println!();
        for e in &eps {
            print!("{:>8}", e.0);
            for m in &models {
                let r = rows.iter().find(|r| r.model == *m && r.epsilon == e.0).expect("row per model and eps");
                print!(" {:>12.2}", 100.0 * r.robust_accuracy);
            }
            println!();
        }
        println!("wrote {}", csv_path.display());
    }
    Ok(())
}
