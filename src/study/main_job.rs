//! The main job (`axdnn run`) on built-in defaults — the chain netlist → verified LUT → quantized
//! model on the systolic-array model, end to end, with a Markdown report.
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

use super::plan::{Inputs, PAPER_LENET5};
use super::stats::Proportion;
use super::{report, PlanKeys, Runner, StudyError};
use crate::lut::verify;
use crate::sim::RowPort;
use crate::util::write_atomic;
use crate::{gen, netlist};
use std::path::{Path, PathBuf};

/// The main job's settings.
#[derive(Debug, Clone)]
pub struct MainJob {
    /// Trained model folder.
    pub model: PathBuf,
    /// Output folder (`report.md`, `accuracy/`, `robustness/`, `netlists/`).
    pub out: PathBuf,
    /// Test images per accuracy measurement.
    pub n: usize,
    /// Compare the EvoApprox tables with their compiled C models.
    pub with_c: bool,
}

/// What the main job measured.
pub struct MainJobOutcome {
    /// `report.md` as written.
    pub report: String,
    /// The accuracy table's rows as JSON.
    pub rows: Vec<serde_json::Value>,
    /// The verification table of the paper's multipliers (empty without the library).
    pub verification: String,
    /// The two study folders.
    pub accuracy_dir: PathBuf,
    /// See `accuracy_dir`.
    pub robustness_dir: PathBuf,
}

/// A multiplier the job uses and how it was verified.
struct Verified {
    name: String,
    path: PathBuf,
    by: String,
}

/// Step 1: our multipliers, written, parsed back, simulated, checked against arithmetic.
fn builtin_multipliers(dir: &Path) -> Result<Vec<Verified>, StudyError> {
    std::fs::create_dir_all(dir).map_err(|cause| StudyError::Io { path: dir.into(), cause })?;
    let mut out = Vec::new();
    for spec in gen::default_set().into_iter().filter(|s| s.n == 8 && s.m == 8 && s.kind != gen::Kind::SignedExact) {
        let path = dir.join(format!("{}.v", spec.name()));
        write_atomic(&path, gen::to_verilog(&spec.netlist(), &gen::header(&spec)).as_bytes())
            .map_err(|cause| StudyError::Io { path: path.clone(), cause })?;
        let parsed = netlist::parse_file(&path).map_err(|e| StudyError::Input(e.to_string()))?;
        let lut = crate::lut::exhaustive_lut(&parsed.netlist, RowPort::B, false)
            .map_err(|e| StudyError::Input(format!("{}: {e}", path.display())))?;
        let bad = (0..256u32)
            .flat_map(|b| (0..256u32).map(move |a| (a, b)))
            .filter(|&(a, b)| lut.get(b, a) as i64 != spec.closed_form(a as u64, b as u64) as i64)
            .count();
        if bad != 0 {
            return Err(StudyError::Input(format!(
                "{}: {bad} of 65536 products differ from the closed form",
                path.display()
            )));
        }
        out.push(Verified { name: spec.name(), path, by: "closed form, 65536/65536 pairs".into() });
    }
    Ok(out)
}

/// Step 2: the paper's multipliers, verified against published figures and C models.
fn paper_multipliers(root: &Path, with_c: bool) -> Result<(Vec<Verified>, String), StudyError> {
    let mut circuits: Vec<verify::Circuit> = verify::discover(root)
        .map_err(|cause| StudyError::Io { path: root.into(), cause })?
        .into_iter()
        .filter(|c| PAPER_LENET5.contains(&c.name.as_str()))
        .collect();
    circuits.sort_by_key(|c| PAPER_LENET5.iter().position(|n| *n == c.name));
    let pb = indicatif::ProgressBar::hidden();
    let mut reports = verify::simulate_all(&circuits, &verify::Options::default(), &pb);
    if with_c {
        verify::compare_c_all(&mut reports, &pb);
    }
    let table = verify::table(&reports);
    let mut out = Vec::new();
    for r in &reports {
        if !r.ok() {
            return Err(StudyError::Input(format!("{} failed verification: {:?}", r.circuit.name, r.errors)));
        }
        let path = r.circuit.generic.clone().or_else(|| r.circuit.pdk45.clone()).expect("a netlist");
        let by = if with_c { "published figures + C model" } else { "published figures" };
        out.push(Verified { name: r.circuit.name.clone(), path, by: by.into() });
    }
    Ok((out, table))
}

impl MainJob {
    /// Run the four steps (progress lines go to `step`), writing `out/report.md`.
    pub fn run(&self, inputs: &Inputs, step: &dyn Fn(&str)) -> Result<MainJobOutcome, StudyError> {
        let a = self;
        inputs.data_root()?;
        let evo = inputs.evoapprox.clone();
        std::fs::create_dir_all(&a.out).map_err(|cause| StudyError::Io { path: a.out.clone(), cause })?;

        step("[1/4] built-in multipliers: generate, parse back, simulate, check against arithmetic");
        let mut mults = vec![Verified { name: "exact".into(), path: PathBuf::new(), by: "built-in exact".into() }];
        let mut verification = String::new();
        mults.extend(builtin_multipliers(&a.out.join("netlists"))?);
        match &evo {
            Some(root) => {
                step(&format!("[2/4] EvoApprox multipliers of the paper: verify ({})", root.display()));
                let (paper, table) = paper_multipliers(root, a.with_c)?;
                mults.extend(paper);
                verification = table;
            }
            None => step("[2/4] skipped: no EvoApprox library (set AXDNN_EVOAPPROX or --evoapprox)"),
        }
        let specs: Vec<String> = mults
            .iter()
            .map(|m| if m.name == "exact" { "exact".into() } else { m.path.display().to_string() })
            .collect();

        step(&format!("[3/4] quantized {} on a 16x16 WS systolic array, {} test images", a.model.display(), a.n));
        let model = a.model.display().to_string();
        let acc_dir = a.out.join("accuracy");
        let p = PlanKeys {
            name: Some("main-accuracy".into()),
            models: vec![model.clone()],
            schemes: vec!["asym-u8".into(), "sign-magnitude".into()],
            attacks: vec!["clean".into()],
            multipliers: specs.clone(),
            images: Some(a.n),
            chunk: Some(a.n.max(1)),
            ..PlanKeys::default()
        }
        .plan(inputs, &|_| None)?;
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
        let pct = |p: &Proportion| report::pct_digits(p, 2);
        for (Verified { name, by, .. }, spec) in mults.iter().zip(&specs) {
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
        step(&format!("[4/4] robustness: linf-pgd (Foolbox defaults) on the float model, {n} test images, evaluated on the accelerator"));
        let rob_dir = a.out.join("robustness");
        let p = PlanKeys {
            name: Some("main-robustness".into()),
            models: vec![model],
            schemes: vec!["sign-magnitude".into()],
            attacks: vec!["linf-pgd".into()],
            eps_linf: vec![0.0, 0.05, 0.1, 0.2],
            multipliers: specs.clone(),
            images: Some(n),
            chunk: Some(100),
            ..PlanKeys::default()
        }
        .plan(inputs, &|_| None)?;
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
        let path = a.out.join("report.md");
        write_atomic(&path, md.as_bytes()).map_err(|cause| StudyError::Io { path, cause })?;
        Ok(MainJobOutcome { report: md, rows: json_rows, verification, accuracy_dir: acc_dir, robustness_dir: rob_dir })
    }
}
/// Images attacked by the main job (PGD is 40 gradient steps per epsilon).
const ROBUSTNESS_IMAGES: usize = 300;
