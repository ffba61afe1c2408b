//! `axdnn run`: the main job on built-in defaults — the chain netlist → verified LUT → quantized
//! model on the systolic-array model, end to end, with a CSV and a Markdown report.
//!
//! 1. Our own 8×8 unsigned multipliers (`gen::default_set`) are written as Verilog, parsed back,
//!    simulated over all 65,536 pairs and checked against their closed form.
//! 2. When the EvoApprox library is at hand, the paper's LeNet-5 multipliers are verified against
//!    their published figures and (unless `--no-c`) their C models.
//! 3. The committed LeNet-5/MNIST model is quantized and run on a 16×16 weight-stationary array
//!    with every verified multiplier, for the asym-u8 and sign-magnitude schemes.
//! 4. Linf PGD adversarial examples from the float model are classified by the sign-magnitude
//!    model on the accelerator with every multiplier (`robustness.csv`).
//!
//! Results are written atomically (`results.csv` one row at a time), so a killed run resumes
//! where it stopped.

use super::accel::{config, prepare, resolve, run_all, QuantArgs};
use super::{data_root, locate, read_csv, write_csv};
use axdnn::accel::{Accelerator, ArrayShape, Dataflow, Engine};
use axdnn::lut::verify;
use axdnn::model::io::write_atomic;
use axdnn::quant::{ApproxLayers, QuantScheme};
use axdnn::{gen, netlist, sim, RowPort};
use super::attack::{algorithm1, markdown_table, resolve_all, Row as AttackRow};
use axdnn::attack::{Attack, Epsilon};
use std::path::{Path, PathBuf};

/// The multipliers of Siddique & Hoque's LeNet-5 study (mul8u_96D is not in the library).
pub const PAPER_LENET5: [&str; 8] =
    ["mul8u_1JFF", "mul8u_12N4", "mul8u_17KS", "mul8u_1AGV", "mul8u_FTA", "mul8u_JQQ", "mul8u_L40", "mul8u_JV3"];

/// The multipliers of the paper's AlexNet/CIFAR-10 study (Fig. 7).
pub const PAPER_ALEXNET: [&str; 8] =
    ["mul8u_1JFF", "mul8u_2P7", "mul8u_KEM", "mul8u_150Q", "mul8u_14VP", "mul8u_QJD", "mul8u_1446", "mul8u_GS2"];

#[derive(clap::Args)]
pub struct RunArgs {
    /// Trained model folder.
    #[arg(long, default_value = "models/lenet5-mnist")]
    pub model: PathBuf,
    /// Output folder (results.csv, report.md, netlists/).
    #[arg(long, default_value = "runs/main")]
    pub out: PathBuf,
    /// Test images per accuracy measurement.
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// Dataset folder (default: $AXDNN_DATA, else ../shared/data when present).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// EvoApprox folder (default: $AXDNN_EVOAPPROX, else ../shared/evoapprox when present).
    #[arg(long)]
    pub evoapprox: Option<PathBuf>,
    /// Skip compiling the EvoApprox C models.
    #[arg(long)]
    pub no_c: bool,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Row {
    scheme: String,
    multiplier: String,
    source: String,
    verified_by: String,
    mae_pct: Option<f64>,
    power_mw: Option<f64>,
    n: usize,
    accuracy: f64,
    float_accuracy: f64,
    cycles_per_image: u64,
    energy_per_image_pj: Option<f64>,
}

/// Step 1: our multipliers, written, parsed back, simulated, checked against arithmetic.
fn builtin_multipliers(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf, String)>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for spec in gen::default_set().into_iter().filter(|s| s.n == 8 && s.m == 8 && s.kind != gen::Kind::SignedExact) {
        let path = dir.join(format!("{}.v", spec.name()));
        write_atomic(&path, gen::to_verilog(&spec.netlist(), &gen::header(&spec)).as_bytes())?;
        let parsed = netlist::parse_file(&path)?;
        let lut = sim::exhaustive_lut(&parsed.netlist, RowPort::B, false)?;
        let bad = (0..256u32)
            .flat_map(|b| (0..256u32).map(move |a| (a, b)))
            .filter(|&(a, b)| lut.get(b, a) as i64 != spec.closed_form(a as u64, b as u64) as i64)
            .count();
        anyhow::ensure!(bad == 0, "{}: {bad} of 65536 products differ from the closed form", path.display());
        out.push((spec.name(), path, "closed form, 65536/65536 pairs".to_string()));
    }
    Ok(out)
}

/// Step 2: the paper's multipliers, verified against published figures and C models.
fn paper_multipliers(root: &Path, with_c: bool) -> anyhow::Result<Vec<(String, PathBuf, String)>> {
    let mut circuits: Vec<verify::Circuit> = verify::discover(root)?
        .into_iter()
        .filter(|c| PAPER_LENET5.contains(&c.name.as_str()))
        .collect();
    circuits.sort_by_key(|c| PAPER_LENET5.iter().position(|n| *n == c.name));
    let pb = indicatif::ProgressBar::hidden();
    let mut reports = verify::simulate_all(&circuits, &verify::Options::default(), &pb);
    if with_c {
        verify::compare_c_all(&mut reports, &pb);
    }
    println!("{}", verify::table(&reports));
    let mut out = Vec::new();
    for r in &reports {
        anyhow::ensure!(r.ok(), "{} failed verification: {:?}", r.circuit.name, r.errors);
        let path = r.circuit.generic.clone().or_else(|| r.circuit.pdk45.clone()).expect("a netlist");
        let by = if with_c { "published figures + C model" } else { "published figures" };
        out.push((r.circuit.name.clone(), path, by.to_string()));
    }
    Ok(out)
}

pub fn run_cmd(a: RunArgs) -> anyhow::Result<()> {
    let data = data_root(a.data.clone())?;
    let evo = locate(a.evoapprox.clone(), "AXDNN_EVOAPPROX", "../shared/evoapprox");
    if let Some(e) = &evo {
        // `prepare` looks up the exact circuit's power through the variable.
        std::env::set_var("AXDNN_EVOAPPROX", e);
    }
    std::fs::create_dir_all(&a.out)?;

    eprintln!("[1/4] built-in multipliers: generate, parse back, simulate, check against arithmetic");
    let mut mults = vec![("exact".to_string(), PathBuf::new(), "built-in exact".to_string())];
    mults.extend(builtin_multipliers(&a.out.join("netlists"))?);
    match &evo {
        Some(root) => {
            eprintln!("[2/4] EvoApprox multipliers of the paper: verify ({})", root.display());
            mults.extend(paper_multipliers(root, !a.no_c)?);
        }
        None => eprintln!("[2/4] skipped: no EvoApprox library (set AXDNN_EVOAPPROX or --evoapprox)"),
    }

    eprintln!("[3/4] quantized {} on a 16x16 WS systolic array, {} test images", a.model.display(), a.n);
    let csv_path = a.out.join("results.csv");
    let mut rows: Vec<Row> = read_csv(&csv_path)?;
    for scheme in [QuantScheme::AsymU8, QuantScheme::SignMagnitude] {
        let todo: Vec<_> = mults
            .iter()
            .filter(|(name, ..)| !rows.iter().any(|r| r.scheme == scheme.to_string() && &r.multiplier == name && r.n == a.n))
            .collect();
        if todo.is_empty() {
            continue;
        }
        let q = QuantArgs {
            model: a.model.clone(),
            array: ArrayShape { rows: 16, cols: 16 },
            dataflow: Dataflow::Ws,
            scheme,
            per_channel: false,
            approx_layers: ApproxLayers::Conv,
            n: Some(a.n),
            calib: 256,
            seed: 0,
            clock_ghz: 1.0,
            data: Some(data.clone()),
        };
        let p = prepare(&q)?;
        for (name, path, by) in todo {
            let spec = if name == "exact" { "exact".to_string() } else { path.display().to_string() };
            let m = resolve(&spec, scheme, false, p.exact_power_mw)?;
            let cfg = config(&q, Engine::Fast, false, p.exact_power_mw);
            let acc = Accelerator::new(&p.qm, m.mult.as_ref(), cfg)?;
            let r = run_all(&acc, &p.test, name)?;
            rows.push(Row {
                scheme: scheme.to_string(),
                multiplier: name.clone(),
                source: if name == "exact" { "built-in".into() } else { path.display().to_string() },
                verified_by: by.clone(),
                mae_pct: m.lut.as_ref().map(|l| axdnn::lut::metrics::Metrics::of_lut(l).mae_pct),
                power_mw: m.power_mw,
                n: r.n,
                accuracy: r.accuracy(&p.test.labels),
                float_accuracy: p.float_accuracy,
                cycles_per_image: r.cycles_per_image(),
                energy_per_image_pj: r.energy_per_image_pj(),
            });
            write_csv(&csv_path, &rows)?;
        }
    }

    let mut md = format!(
        "# axdnn main job\n\nModel `{}`, first {} test images, 16x16 weight-stationary array, conv layers \
         approximate, calibration 256 training images (seed 0). Energy: multiplier only, E = P/f at 1 GHz.\n\n\
         | multiplier | verified by | MAE % | power mW | asym-u8 acc % | sign-magnitude acc % | cycles/image | energy/image nJ |\n\
         |---|---|---|---|---|---|---|---|\n",
        a.model.display(),
        a.n
    );
    for (name, _, by) in &mults {
        let get = |s: QuantScheme| rows.iter().find(|r| &r.multiplier == name && r.scheme == s.to_string() && r.n == a.n);
        let (Some(u), Some(s)) = (get(QuantScheme::AsymU8), get(QuantScheme::SignMagnitude)) else { continue };
        md += &format!(
            "| {name} | {by} | {} | {} | {:.2} | {:.2} | {} | {} |\n",
            u.mae_pct.map_or("-".into(), |v| format!("{v:.3}")),
            u.power_mw.map_or("-".into(), |v| format!("{v:.3}")),
            100.0 * u.accuracy,
            100.0 * s.accuracy,
            u.cycles_per_image,
            u.energy_per_image_pj.map_or("-".into(), |e| format!("{:.1}", e / 1000.0)),
        );
    }
    if let Some(r) = rows.first() {
        md += &format!("\nFloat accuracy of the model on the same images: {:.2} %.\n", 100.0 * r.float_accuracy);
    }
    md += &robustness(&a, &data, &mults)?;
    write_atomic(&a.out.join("report.md"), md.as_bytes())?;
    print!("{md}");
    eprintln!("wrote {} and {}", csv_path.display(), a.out.join("report.md").display());
    Ok(())
}

/// Step 4: the paper's question on the simulated hardware — Linf PGD examples from the float
/// model, robust accuracy of the sign-magnitude quantized model with every multiplier
/// (`robustness.csv`, resumed like `results.csv`).
fn robustness(a: &RunArgs, data: &Path, mults: &[(String, PathBuf, String)]) -> anyhow::Result<String> {
    let n = a.n.min(ROBUSTNESS_IMAGES);
    let attack = Attack::LinfPgd;
    let eps: Vec<Epsilon> = [0.0, 0.05, 0.1, 0.2].iter().map(|&e| Epsilon::new(e)).collect::<Result<_, _>>()?;
    eprintln!("[4/4] robustness: {attack} (Foolbox defaults) on the float model, {n} test images, evaluated on the accelerator");
    let path = a.out.join("robustness.csv");
    let mut rows: Vec<AttackRow> = read_csv(&path)?;
    let q = QuantArgs {
        model: a.model.clone(),
        array: ArrayShape { rows: 16, cols: 16 },
        dataflow: Dataflow::Ws,
        scheme: QuantScheme::SignMagnitude,
        per_channel: false,
        approx_layers: ApproxLayers::Conv,
        n: Some(n),
        calib: 256,
        seed: 0,
        clock_ghz: 1.0,
        data: Some(data.to_path_buf()),
    };
    let complete = rows.iter().filter(|r| r.n == n && r.attack == attack.name()).count() == eps.len() * (mults.len() + 1);
    if !complete {
        let specs: Vec<String> = mults.iter().map(|(name, path, _)| if name == "exact" { "exact".into() } else { path.display().to_string() }).collect();
        let p = prepare(&q)?;
        rows = algorithm1(&p, &q, attack, &eps, &resolve_all(&specs, &q, &p)?, 100)?;
        write_csv(&path, &rows)?;
    }
    Ok(format!(
        "\n## Robustness on the accelerator ({attack}, sign-magnitude, first {n} test images)\n\n\
         Adversarial examples from the float model (`float` column), classified by the quantized model with each \
         multiplier; robust accuracy %. The full study: `axdnn study`.\n\n{}",
        markdown_table(&rows)
    ))
}

/// Images attacked by the main job (PGD is 40 gradient steps per epsilon).
const ROBUSTNESS_IMAGES: usize = 300;
