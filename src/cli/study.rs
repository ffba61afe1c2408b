//! `axdnn study run|report|merge|slurm` and `axdnn reproduce`: argument parsing and printing
//! around [`axdnn::study`]. A study is a plan file, or flags that name the same keys.

use super::{Inputs, PlanFlags};
use axdnn::study::{self, report, slurm, store, Plan, Runner, Shard};
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand)]
pub enum StudyCmd {
    /// Run a plan (a TOML file, or the plan flags) into a results folder; reuses every stored
    /// row whose key matches, so a killed run resumes; writes plan.lock.toml, results.csv,
    /// report.md and plots/.
    Run(RunArgs),
    /// Regenerate report.md and plots/ of a results folder from its store alone.
    Report {
        /// Results folder.
        dir: PathBuf,
        /// Print the verdict counts as JSON instead of the report.
        #[arg(long)]
        json: bool,
    },
    /// Combine shard folders of one plan into one folder (refuses folders of different plans).
    Merge {
        /// Shard folders.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Merged results folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a Slurm job array (one task per shard) and a merge job that depends on it.
    Slurm(SlurmArgs),
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Plan file (TOML). Without one, the plan flags below make the plan.
    pub plan: Option<PathBuf>,
    #[command(flatten)]
    pub flags: PlanFlags,
    /// Results folder (default: runs/study-<plan name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run only shard I of N (1-based), balanced by estimated cost.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Do not write report.md (shards of a larger plan).
    #[arg(long)]
    pub no_report: bool,
    /// Print the run summary as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub inputs: Inputs,
}

#[derive(clap::Args)]
pub struct SlurmArgs {
    /// Plan file (TOML).
    pub plan: PathBuf,
    /// Number of shards (array tasks).
    #[arg(long)]
    pub shards: usize,
    /// Slurm partition [default: the cluster's default].
    #[arg(long)]
    pub partition: Option<String>,
    /// Time limit of each task (Slurm syntax, e.g. 02:00:00).
    #[arg(long)]
    pub time: Option<String>,
    /// CPUs per array task (rayon threads).
    #[arg(long, default_value_t = 2)]
    pub cpus_per_task: usize,
    /// Results folder on the shared filesystem (default: runs/study-<plan name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Submit both jobs with sbatch (otherwise only write the scripts).
    #[arg(long)]
    pub submit: bool,
    #[command(flatten)]
    pub inputs: Inputs,
}

/// The plan of a `study run`: the file, or the flags (which then are the whole plan).
pub fn plan_of(file: Option<&Path>, flags: &PlanFlags, inputs: &study::Inputs) -> anyhow::Result<Plan> {
    match file {
        Some(p) => {
            anyhow::ensure!(flags.is_empty(), "give either a plan file or plan flags, not both: the plan file is the record of the study (edit it instead)");
            Ok(Plan::load(p, inputs)?)
        }
        None => Ok(Plan::from_toml(&flags.to_toml(), Path::new("<command line>"), inputs)?),
    }
}

pub fn default_out(plan: &Plan) -> PathBuf {
    PathBuf::from(format!("runs/study-{}", report::slug(&plan.name)))
}

pub fn study_cmd(c: StudyCmd) -> anyhow::Result<()> {
    match c {
        StudyCmd::Run(a) => {
            let inputs = a.inputs.resolve();
            let plan = plan_of(a.plan.as_deref(), &a.flags, &inputs)?;
            let out = a.out.clone().unwrap_or_else(|| default_out(&plan));
            let sum = Runner::new(plan, inputs).shard(a.shard).run(&out)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&sum)?);
            } else {
                if !a.no_report {
                    let text = report::write(&out)?;
                    println!("{text}");
                }
                println!("{sum}");
                println!("wrote {}", out.display());
            }
            if !a.no_report && a.json {
                report::write(&out)?;
            }
        }
        StudyCmd::Report { dir, json } => {
            let text = report::write(&dir)?;
            if json {
                let res = report::Results::open(&dir)?;
                let cs = report::comparisons(&res);
                let v = report::verdict_groups(&cs);
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("{text}");
            }
        }
        StudyCmd::Merge { dirs, out } => {
            let n = store::merge(&dirs, &out)?;
            println!("merged {} folders into {}: {n} rows", dirs.len(), out.display());
        }
        StudyCmd::Slurm(a) => {
            let inputs = a.inputs.resolve();
            let plan = Plan::load(&a.plan, &inputs)?;
            let out = a.out.clone().unwrap_or_else(|| default_out(&plan));
            let workdir = std::env::current_dir()?;
            let o = slurm::SlurmOptions {
                binary: std::env::current_exe()?,
                plan: a.plan.clone(),
                out,
                workdir,
                shards: a.shards,
                partition: a.partition.clone(),
                time: a.time.clone(),
                cpus_per_task: a.cpus_per_task,
                data: inputs.data.clone(),
                evoapprox: inputs.evoapprox.clone(),
            };
            let s = slurm::write_scripts(&o)?;
            println!("wrote {} and {}", s.array.display(), s.merge.display());
            let info = study::cell::ModelInfo::of_plan(&plan)?;
            let cells = study::cell::cells(&plan, &info);
            let loads = study::cell::shard_costs(&cells, &info, a.shards);
            let mean = loads.iter().sum::<f64>() / loads.len() as f64;
            let max = loads.iter().copied().fold(0.0, f64::max);
            println!(
                "{} cells in {} shards; estimated cost per shard max/mean = {:.3} (the slowest shard bounds the wall time)",
                cells.len(),
                a.shards,
                if mean > 0.0 { max / mean } else { 1.0 }
            );
            if a.submit {
                let (array, merge) = slurm::submit(&s)?;
                println!("submitted array job {array} ({} tasks) and merge job {merge} (afterok:{array})", a.shards);
            } else {
                println!("submit with: axdnn study slurm {} --shards {} --submit   (or sbatch the two scripts, the second with --dependency=afterok:<array id>)", a.plan.display(), a.shards);
            }
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct ReproduceArgs {
    /// LeNet-5/MNIST only, three multipliers, three budgets per attack, 100 images
    /// (plans/quick.toml): a few minutes on 2 cores.
    #[arg(long)]
    pub quick: bool,
    /// Output folder (one study folder per plan, and report.md).
    #[arg(long, default_value = "runs/reproduce")]
    pub out: PathBuf,
    /// Folder of the shipped plans.
    #[arg(long, default_value = "plans")]
    pub plans: PathBuf,
    /// Print the study folders, their run summaries and the report path as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run nothing: write report.md from the study folders already in --out (e.g. after running
    /// the plans on a cluster, or while one is still running; incomplete cells are left out).
    #[arg(long)]
    pub report_only: bool,
    #[command(flatten)]
    pub inputs: Inputs,
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

pub fn reproduce_cmd(a: ReproduceArgs) -> anyhow::Result<()> {
    let inputs = a.inputs.resolve();
    let t0 = std::time::Instant::now();
    let mut folders = Vec::new();
    let mut summaries = Vec::new();
    // Every plan checked before any work starts.
    let mut plans = Vec::new();
    for (name, file) in reproduce_plans(a.quick) {
        let p = a.plans.join(file);
        plans.push((name, Plan::load(&p, &inputs)?));
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
        eprintln!("== {name}: plan {} → {}", plan.name, out.display());
        let sum = Runner::new(plan, inputs.clone()).run(&out)?;
        report::write(&out)?;
        eprintln!("{sum}");
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
    let mut text = study::paper::compare(lenet.as_ref(), lenet_pixel.as_ref(), alexnet.as_ref(), &transfer);
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
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"report": a.out.join("report.md").display().to_string(), "wall_s": t0.elapsed().as_secs_f64(), "studies": summaries})
            )?
        );
        return Ok(());
    }
    println!("{text}");
    println!("wrote {}", a.out.join("report.md").display());
    Ok(())
}
