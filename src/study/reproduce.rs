//! `axdnn reproduce`: the paper's experiments from the shipped plans, one study folder per plan,
//! and `report.md` setting every number the paper quotes beside ours ([`super::paper`]).

use super::plan::{Inputs, Plan};
use super::{report, store, Runner, StudyError};
use std::path::PathBuf;

/// A reproduction's settings.
#[derive(Debug, Clone)]
pub struct Reproduction {
    /// LeNet-5/MNIST only (`plans/quick.toml`).
    pub quick: bool,
    /// Output folder: one study folder per plan, and `report.md`.
    pub out: PathBuf,
    /// Folder of the shipped plans.
    pub plans: PathBuf,
    /// Run nothing; write `report.md` from the study folders already in `out`.
    pub report_only: bool,
}

/// What a reproduction did.
pub struct ReproductionOutcome {
    /// `report.md` as written.
    pub report: String,
    /// Each study run: its folder name, path and run summary (JSON).
    pub summaries: Vec<serde_json::Value>,
    /// Wall time in seconds.
    pub wall_s: f64,
}

/// The shipped plans a reproduction runs: (folder name, plan file).
fn reproduce_plans(quick: bool) -> Vec<(&'static str, &'static str)> {
    if quick {
        vec![("lenet5-mnist", "quick.toml")]
    } else {
        // Cheapest first, so the early folders are complete while AlexNet runs.
        vec![
            ("lenet5-mnist", "paper-lenet5-mnist.toml"),
            ("lenet5-mnist-pixel", "paper-lenet5-mnist-pixel.toml"),
            // Beyond the paper: the clean-accuracy confound removed (issue 10).
            ("lenet5-mnist-recovered", "paper-lenet5-mnist-recovered.toml"),
            ("lenet5-mnist-ft-jv3", "paper-lenet5-mnist-ft-jv3.toml"),
            ("transfer-mnist", "paper-transfer-mnist.toml"),
            ("transfer-cifar10", "paper-transfer-cifar10.toml"),
            ("alexnet-cifar10", "paper-alexnet-cifar10.toml"),
        ]
    }
}

impl Reproduction {
    /// Check every plan, run each into its folder (progress lines go to `step`), write the
    /// comparison with the paper.
    pub fn run(&self, inputs: &Inputs, step: &dyn Fn(&str)) -> Result<ReproductionOutcome, StudyError> {
        let a = self;
        let t0 = std::time::Instant::now();
        let mut folders = Vec::new();
        let mut summaries = Vec::new();
        // Every plan checked before any work starts.
        let mut plans = Vec::new();
        for (name, file) in reproduce_plans(a.quick) {
            let p = a.plans.join(file);
            plans.push((name, Plan::load(&p, inputs)?));
        }
        for (name, plan) in plans {
            let out = a.out.join(name);
            if a.report_only {
                if out.join(store::LOCK_FILE).is_file() {
                    report::write(&out)?;
                    folders.push((name, out));
                }
                continue;
            }
            step(&format!("== {name}: plan {} → {}", plan.name, out.display()));
            let sum = Runner::new(plan, inputs.clone()).run(&out)?;
            report::write(&out)?;
            step(&sum.to_string());
            summaries.push(serde_json::json!({"study": name, "dir": out.display().to_string(), "summary": sum}));
            folders.push((name, out));
        }
        let open = |n: &str| folders.iter().find(|(f, _)| *f == n).map(|(_, d)| report::Results::open(d)).transpose();
        let lenet = open("lenet5-mnist")?;
        let lenet_pixel = open("lenet5-mnist-pixel")?;
        let alexnet = open("alexnet-cifar10")?;
        let tm = open("transfer-mnist")?;
        let tc = open("transfer-cifar10")?;
        let mut transfer = Vec::new();
        if let Some(r) = &tm {
            transfer.push(("MNIST", r));
        }
        if let Some(r) = &tc {
            transfer.push(("CIFAR-10", r));
        }
        let mut text = super::paper::compare(lenet.as_ref(), lenet_pixel.as_ref(), alexnet.as_ref(), &transfer);
        text += &format!(
            "\nStudy folders (each with its own report.md, results.csv and plots): {}.{}\n",
            folders.iter().map(|(n, _)| format!("[{n}]({n}/report.md)")).collect::<Vec<_>>().join(", "),
            if a.report_only {
                String::new()
            } else {
                format!(
                    " Wall time of this reproduction: {:.1} s on {} threads.",
                    t0.elapsed().as_secs_f64(),
                    rayon::current_num_threads()
                )
            }
        );
        store::write_atomic(&a.out.join("report.md"), text.as_bytes())?;
        Ok(ReproductionOutcome { report: text, summaries, wall_s: t0.elapsed().as_secs_f64() })
    }
}
