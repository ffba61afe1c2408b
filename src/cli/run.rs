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

use super::{data_root, Inputs};
use axdnn::lut::verify;
use axdnn::study::{report, Plan, Runner};
use axdnn::util::write_atomic;
use axdnn::{gen, netlist, RowPort};
use std::path::{Path, PathBuf};

use axdnn::study::plan::PAPER_LENET5;

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
    #[command(flatten)]
    pub inputs: Inputs,
    /// Print the table's rows as JSON (after the report is written).
    #[arg(long)]
    pub json: bool,
    /// Skip compiling the EvoApprox C models.
    #[arg(long)]
    pub no_c: bool,
}

/// Step 1: our multipliers, written, parsed back, simulated, checked against arithmetic.
fn builtin_multipliers(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf, String)>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for spec in gen::default_set().into_iter().filter(|s| s.n == 8 && s.m == 8 && s.kind != gen::Kind::SignedExact) {
        let path = dir.join(format!("{}.v", spec.name()));
        write_atomic(&path, gen::to_verilog(&spec.netlist(), &gen::header(&spec)).as_bytes())?;
        let parsed = netlist::parse_file(&path)?;
        let lut = axdnn::lut::exhaustive_lut(&parsed.netlist, RowPort::B, false)?;
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
    let mut circuits: Vec<verify::Circuit> =
        verify::discover(root)?.into_iter().filter(|c| PAPER_LENET5.contains(&c.name.as_str())).collect();
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

/// A plan from a TOML text built here (named `what` in errors).
fn plan(text: &str, what: &str, inputs: &axdnn::study::Inputs) -> anyhow::Result<Plan> {
    Ok(Plan::from_toml(text, Path::new(what), inputs)?)
}

fn toml_list(v: &[String]) -> String {
    format!("[{}]", v.iter().map(|s| toml::Value::String(s.clone()).to_string()).collect::<Vec<_>>().join(", "))
}

pub fn run_cmd(a: RunArgs) -> anyhow::Result<()> {
    let inputs = a.inputs.resolve();
    data_root(inputs.data.clone())?;
    let evo = inputs.evoapprox.clone();
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
    let specs: Vec<String> = mults
        .iter()
        .map(|(name, path, _)| if name == "exact" { "exact".into() } else { path.display().to_string() })
        .collect();

    eprintln!("[3/4] quantized {} on a 16x16 WS systolic array, {} test images", a.model.display(), a.n);
    let model = toml::Value::String(a.model.display().to_string());
    let acc_dir = a.out.join("accuracy");
    let p = plan(
        &format!(
            "name = \"main-accuracy\"\nmodels = [{model}]\nschemes = [\"asym-u8\", \"sign-magnitude\"]\nattacks = [\"clean\"]\nmultipliers = {}\nimages = {}\nchunk = {}\n",
            toml_list(&specs),
            a.n,
            a.n.max(1)
        ),
        "<main job, step 3>",
        &inputs,
    )?;
    Runner::new(p, inputs.clone()).run(&acc_dir)?;
    report::write(&acc_dir)?;
    let res = report::Results::open(&acc_dir)?;

    let mut json_rows = Vec::new();
    let mut md = format!(
        "# axdnn main job\n\nModel `{}`, first {} test images, 16x16 weight-stationary array, conv layers \
         approximate, calibration 256 training images (seed 0). Accuracy: % ± half-width of the 95 % Wilson interval. \
         Energy: multiplier only, E = P/f at 1 GHz.\n\n\
         | multiplier | verified by | MAE % | power mW | asym-u8 acc % | sign-magnitude acc % | cycles/image | energy/image nJ |\n\
         |---|---|---|---|---|---|---|---|\n",
        a.model.display(),
        a.n
    );
    let pct = |p: &axdnn::study::Proportion| {
        let (l, h) = p.wilson();
        format!("{:.2} ± {:.2}", 100.0 * p.value(), 50.0 * (h - l))
    };
    for ((name, _, by), spec) in mults.iter().zip(&specs) {
        let get = |s: &str| res.find(|x| x.target == "accel" && &x.multiplier == spec && x.scheme == s);
        let (Some(u), Some(s)) = (get("asym-u8"), get("sign-magnitude")) else { continue };
        json_rows.push(serde_json::json!({
            "multiplier": name, "verified_by": by, "mae_pct": u.first.mae_pct, "power_mw": u.first.power_mw, "n": u.n,
            "asym_u8": {"correct": u.correct, "accuracy": u.proportion().value(), "ci": u.proportion().wilson()},
            "sign_magnitude": {"correct": s.correct, "accuracy": s.proportion().value(), "ci": s.proportion().wilson()},
            "cycles_per_image": u.first.cycles_per_image, "energy_per_image_pj": u.first.energy_per_image_pj,
        }));
        md += &format!(
            "| {name} | {by} | {} | {} | {} | {} | {} | {} |\n",
            u.first.mae_pct.map_or("-".into(), |v| format!("{v:.3}")),
            u.first.power_mw.map_or("-".into(), |v| format!("{v:.3}")),
            pct(&u.proportion()),
            pct(&s.proportion()),
            u.first.cycles_per_image.map_or("-".into(), |v| v.to_string()),
            u.first.energy_per_image_pj.map_or("-".into(), |e| format!("{:.1}", e / 1000.0)),
        );
    }
    if let Some(f) = res.find(|x| x.target == "float") {
        md += &format!("\nFloat accuracy of the model on the same images: {} %.\n", pct(&f.proportion()));
    }

    // Step 4: the paper's question on the simulated hardware.
    let n = a.n.min(ROBUSTNESS_IMAGES);
    eprintln!("[4/4] robustness: linf-pgd (Foolbox defaults) on the float model, {n} test images, evaluated on the accelerator");
    let rob_dir = a.out.join("robustness");
    let p = plan(
        &format!(
            "name = \"main-robustness\"\nmodels = [{model}]\nschemes = [\"sign-magnitude\"]\nattacks = [\"linf-pgd\"]\neps_linf = [0.0, 0.05, 0.1, 0.2]\nmultipliers = {}\nimages = {n}\nchunk = 100\n",
            toml_list(&specs)
        ),
        "<main job, step 4>",
        &inputs,
    )?;
    Runner::new(p, inputs.clone()).run(&rob_dir)?;
    report::write(&rob_dir)?;
    let res = report::Results::open(&rob_dir)?;
    let aggs: Vec<_> = res.complete().collect();
    md += &format!(
        "\n## Robustness on the accelerator (linf-pgd, sign-magnitude, first {n} test images)\n\n\
         Adversarial examples from the float model (`float` column), classified by the quantized model with each \
         multiplier; robust accuracy % ± half-width of the 95 % interval. Full report with the paired verdict: \
         [robustness/report.md](robustness/report.md); the whole study: `axdnn reproduce`.\n\n{}",
        report::robust_table(&aggs)
    );
    write_atomic(&a.out.join("report.md"), md.as_bytes())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&json_rows)?);
        return Ok(());
    }
    print!("{md}");
    eprintln!(
        "wrote {} ({}/ and {}/ hold the keyed, resumable results)",
        a.out.join("report.md").display(),
        acc_dir.display(),
        rob_dir.display()
    );
    Ok(())
}

/// Images attacked by the main job (PGD is 40 gradient steps per epsilon).
const ROBUSTNESS_IMAGES: usize = 300;
