//! `axdnn study run|report|merge|slurm` and `axdnn reproduce`: argument parsing and printing
//! around [`axdnn::study`]. A study is a plan file, or flags that name the same keys.

use axdnn::study::{self, report, slurm, store, Plan, Runner, Shard};
use axdnn::util::inputs::InputFlags;
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process: boxing would only add noise
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
    pub flags: axdnn::study::PlanKeys,
    /// Results folder (default: runs/study-<plan name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run only shard I of N (1-based), balanced by estimated cost.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Do not write report.md (shards of a larger plan).
    #[arg(long)]
    pub no_report: bool,
    /// Seconds between saves of the store while cells complete (each save rewrites
    /// results.csv atomically; a killed run loses at most the cells since the last one).
    #[arg(long, default_value_t = 1.0)]
    pub save_every: f64,
    /// Print the run summary as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub inputs: InputFlags,
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
    pub inputs: InputFlags,
}

/// The plan of a `study run`: the file, or the flags (which then are the whole plan).
pub fn plan_of(file: Option<&Path>, flags: &study::PlanKeys, inputs: &study::Inputs) -> anyhow::Result<Plan> {
    match file {
        Some(p) => {
            anyhow::ensure!(flags.is_empty(), "give either a plan file or plan flags, not both: the plan file is the record of the study (edit it instead)");
            Ok(Plan::load(p, inputs)?)
        }
        None => Ok(flags.plan(inputs, &|_| None)?),
    }
}

pub fn default_out(plan: &Plan) -> PathBuf {
    // A flags-only plan is named `study`.
    match plan.name.as_str() {
        "study" => PathBuf::from("runs/study"),
        name => PathBuf::from(format!("runs/study-{}", report::slug(name))),
    }
}

pub fn study_cmd(c: StudyCmd) -> anyhow::Result<()> {
    match c {
        StudyCmd::Run(a) => {
            let inputs = a.inputs.resolve();
            let plan = plan_of(a.plan.as_deref(), &a.flags, &inputs)?;
            let out = a.out.clone().unwrap_or_else(|| default_out(&plan));
            let mut runner = Runner::new(plan, inputs).shard(a.shard);
            runner.save_every = std::time::Duration::try_from_secs_f64(a.save_every)
                .map_err(|e| anyhow::anyhow!("--save-every {}: {e}", a.save_every))?;
            let sum = runner.run(&out)?;
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
    pub inputs: InputFlags,
}

pub fn reproduce_cmd(a: ReproduceArgs) -> anyhow::Result<()> {
    let job = study::reproduce::Reproduction { quick: a.quick, out: a.out, plans: a.plans, report_only: a.report_only };
    let r = job.run(&a.inputs.resolve(), &|s| eprintln!("{s}"))?;
    let path = job.out.join("report.md");
    if a.json {
        let v = serde_json::json!({"report": path.display().to_string(), "wall_s": r.wall_s, "studies": r.summaries});
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{}", r.report);
        println!("wrote {}", path.display());
    }
    Ok(())
}
