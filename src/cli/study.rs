//! `axdnn study`: the paper's robustness study on one model — Algorithm 1 for every attack,
//! every epsilon and every multiplier (Figs. 4–7), float vs quantized exact (Fig. 8), with a CSV
//! that grows attack by attack (rewritten atomically, so a killed study resumes where it
//! stopped), one SVG plot per attack and a Markdown report.

use super::accel::{prepare, QuantArgs};
use super::{model_label, read_csv, write_csv};
use super::attack::{algorithm1, markdown_table, ordered, resolve_all, Row};
use super::run::{PAPER_ALEXNET, PAPER_LENET5};
use axdnn::attack::{Attack, Epsilon, Norm};
use axdnn::data::DatasetName;
use axdnn::model::io::write_atomic;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct StudyArgs {
    #[command(flatten)]
    pub q: QuantArgs,
    /// `all` or comma-separated attack names.
    #[arg(long, default_value = "all")]
    pub attacks: String,
    /// Multipliers (default: the paper's set for the model's dataset, plus `exact`).
    #[arg(long, value_delimiter = ',')]
    pub multipliers: Vec<String>,
    /// Linf budgets.
    #[arg(long, value_delimiter = ',', default_value = "0,0.02,0.05,0.1,0.2,0.3")]
    pub eps_linf: Vec<f32>,
    /// L2 budgets.
    #[arg(long, value_delimiter = ',', default_value = "0,0.5,1,1.5,2,3")]
    pub eps_l2: Vec<f32>,
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Output folder (default: runs/study-<model>-<scheme>).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The paper's multipliers (Figs. 4–7), M1 = 1JFF (accurate) first, after our built-in exact one.
fn paper_multipliers(d: DatasetName) -> Vec<String> {
    let names: &[&str] = match d {
        DatasetName::Mnist => &PAPER_LENET5,
        DatasetName::Cifar10 => &PAPER_ALEXNET,
    };
    std::iter::once("exact").chain(names.iter().copied()).map(String::from).collect()
}

const CSV: &str = "results.csv";

pub fn study_cmd(mut a: StudyArgs) -> anyhow::Result<()> {
    if a.q.n.is_none() {
        a.q.n = Some(500);
        eprintln!("--n not given: the study uses the first 500 test images");
    }
    anyhow::ensure!(a.batch > 0, "--batch must be positive");
    let attacks: Vec<Attack> = if a.attacks == "all" {
        Attack::ALL.to_vec()
    } else {
        a.attacks.split(',').map(|s| s.parse::<Attack>().map_err(anyhow::Error::msg)).collect::<anyhow::Result<_>>()?
    };
    let eps_of = |at: Attack| -> anyhow::Result<Vec<Epsilon>> {
        let v = match at.norm() {
            Norm::Linf => &a.eps_linf,
            Norm::L2 => &a.eps_l2,
        };
        Ok(v.iter().map(|&e| Epsilon::new(e)).collect::<Result<_, _>>()?)
    };
    let prep = prepare(&a.q)?;
    let multipliers = if a.multipliers.is_empty() { paper_multipliers(prep.dataset) } else { a.multipliers.clone() };
    // Resolved once; rows are named by the multiplier's netlist, not the spec.
    let mults = resolve_all(&multipliers, &a.q, &prep)?;
    let models: Vec<String> = std::iter::once("float".to_string()).chain(mults.iter().map(|m| m.mult.name().to_string())).collect();
    let model_name = model_label(&a.q.model);
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/study-{model_name}-{}", a.q.scheme)));
    std::fs::create_dir_all(out.join("plots"))?;
    let csv_path = out.join(CSV);
    let mut rows: Vec<Row> = read_csv(&csv_path)?;
    let n = prep.test.len();
    let scheme = a.q.scheme.to_string();
    let pb = indicatif::ProgressBar::new(attacks.len() as u64);
    pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    pb.set_style(indicatif::ProgressStyle::with_template("study [{bar:20}] {pos}/{len} attacks {msg}")?);
    for &at in &attacks {
        let eps = eps_of(at)?;
        // Resume: an attack is done when every (model, eps) row of these settings is present.
        let have = |model: &str, e: f32| rows.iter().any(|r| r.attack == at.name() && r.scheme == scheme && r.n == n && r.seed == a.q.seed && r.model == model && r.epsilon == e);
        let done = models.iter().all(|m| eps.iter().all(|e| have(m, e.0)));
        pb.set_message(at.name().to_string());
        if !done {
            let new = algorithm1(&prep, &a.q, at, &eps, &mults, a.batch)?;
            rows.retain(|r| !(r.attack == at.name() && r.scheme == scheme && r.n == n && r.seed == a.q.seed));
            rows.extend(new);
            write_csv(&csv_path, &rows)?;
        } else {
            eprintln!("{at}: already in {}, skipped", csv_path.display());
        }
        let mine: Vec<Row> = rows.iter().filter(|r| r.attack == at.name() && r.scheme == scheme && r.n == n && r.seed == a.q.seed).cloned().collect();
        write_atomic(&out.join("plots").join(format!("{}.svg", at.name())), plot_svg(&mine, &format!("{at} on {model_name} ({scheme}, {n} images)")).as_bytes())?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    let report = report(&rows, &attacks, &model_name, &scheme, n, a.q.seed, prep.float_accuracy);
    write_atomic(&out.join("report.md"), report.as_bytes())?;
    println!("{report}");
    println!("wrote {} and {}", csv_path.display(), out.join("report.md").display());
    Ok(())
}

fn report(rows: &[Row], attacks: &[Attack], model: &str, scheme: &str, n: usize, seed: u64, float_acc: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Robustness study: {model}, scheme {scheme}\n");
    let _ = writeln!(
        s,
        "Adversarial examples are generated on the float model (white box, Foolbox 3 semantics, seed {seed}) and classified by \
         the 8-bit quantized model on the simulated accelerator with each multiplier (the paper's Algorithm 1). \
         Robust accuracy = share of the first {n} test images still classified correctly (float model on them, clean: {:.2} %).\n",
        100.0 * float_acc
    );
    // Is approximation defensive? Each approximate multiplier against the quantized exact model,
    // at every attacked epsilon (> 0): absolute robust accuracy, and accuracy lost to the attack.
    let same = |x: &Row, r: &Row| x.attack == r.attack && x.scheme == r.scheme && x.n == r.n && x.seed == r.seed;
    let find = |r: &Row, model: &dyn Fn(&str) -> bool, e: f32| rows.iter().find(|x| same(x, r) && model(&x.model) && x.epsilon == e);
    let is_exact = |m: &str| m.starts_with("exact");
    let (mut above, mut below, mut less_loss, mut more_loss, mut total) = (0, 0, 0, 0, 0);
    let mut worst: Option<(f64, &Row)> = None;
    for r in rows.iter().filter(|r| r.scheme == scheme && r.n == n && r.seed == seed && r.model != "float" && !is_exact(&r.model) && r.epsilon > 0.0) {
        let (Some(ex), Some(ex0), Some(m0)) = (find(r, &is_exact, r.epsilon), find(r, &is_exact, 0.0), find(r, &|m: &str| m == r.model, 0.0)) else { continue };
        let d = r.robust_accuracy - ex.robust_accuracy;
        let loss = m0.robust_accuracy - r.robust_accuracy;
        let ex_loss = ex0.robust_accuracy - ex.robust_accuracy;
        total += 1;
        above += (d > 0.05) as usize;
        below += (d < -0.05) as usize;
        less_loss += (loss < ex_loss - 0.05) as usize;
        more_loss += (loss > ex_loss + 0.05) as usize;
        if worst.is_none_or(|(w, _)| d < w) {
            worst = Some((d, r));
        }
    }
    let _ = writeln!(s, "## Is approximation universally defensive?\n");
    let _ = writeln!(
        s,
        "Over {total} (attack, epsilon > 0, approximate multiplier) cells, compared with the quantized exact model at the same \
         epsilon: robust accuracy more than 5 points higher in {above}, more than 5 points lower in {below}; accuracy lost to the \
         attack (from the model's own clean accuracy) more than 5 points smaller in {less_loss} and more than 5 points larger in {more_loss}."
    );
    if let Some((d, r)) = worst {
        let _ = writeln!(s, "Largest gap: {} at eps {} with {}, {:.1} points below exact.", r.attack, r.epsilon, r.model, -100.0 * d);
    }
    let _ = writeln!(s, "\nColumns: `float` = the float model (the attacked one), `exact…` = quantized with the exact multiplier (the paper's Fig. 8 compares these two), then the approximate multipliers.\n");
    for at in attacks {
        let mine: Vec<Row> = rows.iter().filter(|r| r.attack == at.name() && r.scheme == scheme && r.n == n && r.seed == seed).cloned().collect();
        if mine.is_empty() {
            continue;
        }
        let _ = writeln!(s, "## {at} ({}, {:?})\n\n![{at}](plots/{}.svg)\n\n{}", at.foolbox_name(), at.norm(), at.name(), markdown_table(&mine));
    }
    s
}

/// Robust accuracy (%) against epsilon, one polyline per model.
fn plot_svg(rows: &[Row], title: &str) -> String {
    let (w, h, l, r, t, b) = (640.0, 400.0, 60.0, 170.0, 40.0, 50.0);
    let models = ordered(rows.iter().map(|r| r.model.as_str()));
    let emax = rows.iter().map(|r| r.epsilon).fold(0.0f32, f32::max).max(1e-6) as f64;
    let x = |e: f32| l + (w - l - r) * e as f64 / emax;
    let y = |a: f64| t + (h - t - b) * (1.0 - a);
    let colors = ["#000000", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
    let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n");
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/><text x=\"{l}\" y=\"22\" font-size=\"14\">{}</text>", xml(title));
    for i in 0..=5 {
        let a = i as f64 / 5.0;
        let _ = writeln!(s, "<line x1=\"{l}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>", w - r, l - 6.0, y(a) + 4.0, (a * 100.0) as i32, y = y(a));
    }
    let mut eps: Vec<f32> = rows.iter().map(|r| r.epsilon).collect();
    eps.sort_by(f32::total_cmp);
    eps.dedup();
    for e in &eps {
        let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{e}</text>", x(*e), h - b + 18.0);
    }
    let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">epsilon</text><text x=\"14\" y=\"{:.1}\" transform=\"rotate(-90 14 {:.1})\" text-anchor=\"middle\">robust accuracy %</text>", (l + w - r) / 2.0, h - 8.0, (t + h - b) / 2.0, (t + h - b) / 2.0);
    for (i, m) in models.iter().enumerate() {
        let c = colors[i % colors.len()];
        let mut pts: Vec<(f32, f64)> = rows.iter().filter(|r| r.model == *m).map(|r| (r.epsilon, r.robust_accuracy)).collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let p: Vec<String> = pts.iter().map(|&(e, a)| format!("{:.1},{:.1}", x(e), y(a))).collect();
        let dash = if *m == "float" { " stroke-dasharray=\"5,3\"" } else { "" };
        let _ = writeln!(s, "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"1.6\"{dash} points=\"{}\"/>", p.join(" "));
        let _ = writeln!(s, "<line x1=\"{}\" x2=\"{}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{c}\" stroke-width=\"2\"{dash}/><text x=\"{}\" y=\"{}\">{}</text>", w - r + 10.0, w - r + 30.0, w - r + 35.0, t + 4.0 + 18.0 * i as f64, xml(m), ly = t + 18.0 * i as f64);
    }
    s.push_str("</svg>\n");
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
