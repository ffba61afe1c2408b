//! Slurm job arrays for a plan: one array task per shard (`axdnn study run PLAN --shard I/N`,
//! each into its own folder on the shared filesystem), and a merge job that starts only when
//! every task succeeded (`--dependency=afterok`), merging the shard folders and writing the report.

use super::StudyError;
use std::path::{Path, PathBuf};

/// What the Slurm job scripts run and request.
#[derive(Debug, Clone)]
pub struct SlurmOptions {
    /// The `axdnn` binary every node runs (on the shared filesystem).
    pub binary: PathBuf,
    /// The plan file every task runs.
    pub plan: PathBuf,
    /// Results folder: shards go to `OUT/shards/I`, the merged store to `OUT`.
    pub out: PathBuf,
    /// Working directory of the jobs (relative plan paths are read from it).
    pub workdir: PathBuf,
    /// Array tasks (shards of the plan); must be positive.
    pub shards: usize,
    /// Slurm partition (`--partition`), if any.
    pub partition: Option<String>,
    /// Time limit per task (`--time`, Slurm's format), if any.
    pub time: Option<String>,
    /// CPUs per task (`--cpus-per-task`).
    pub cpus_per_task: usize,
    /// Dataset folder passed to every task (`--data`), if any.
    pub data: Option<PathBuf>,
    /// EvoApprox library folder passed to every task (`--evoapprox`), if any.
    pub evoapprox: Option<PathBuf>,
}

/// The written scripts.
#[derive(Debug, Clone)]
pub struct Scripts {
    /// The array job script (`OUT/slurm/array.sbatch`).
    pub array: PathBuf,
    /// The merge job script (`OUT/slurm/merge.sbatch`).
    pub merge: PathBuf,
}

fn q(p: &Path) -> String {
    let s = p.display().to_string();
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn absolute(p: &Path, base: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// Shard folder of task `i` (1-based).
pub fn shard_dir(out: &Path, i: usize) -> PathBuf {
    out.join("shards").join(i.to_string())
}

/// Write `OUT/slurm/array.sbatch` and `OUT/slurm/merge.sbatch`.
pub fn write_scripts(o: &SlurmOptions) -> Result<Scripts, StudyError> {
    if o.shards == 0 {
        return Err(StudyError::Slurm("--shards must be positive".into()));
    }
    let out = absolute(&o.out, &o.workdir);
    let dir = out.join("slurm");
    std::fs::create_dir_all(&dir).map_err(|source| StudyError::Io { path: dir.clone(), cause: source })?;
    let header = |name: &str, extra: &str| {
        let mut h = format!(
            "#!/bin/bash\n#SBATCH --job-name=axdnn-{name}\n#SBATCH --chdir={}\n#SBATCH --cpus-per-task={}\n",
            o.workdir.display(),
            o.cpus_per_task
        );
        if let Some(p) = &o.partition {
            h += &format!("#SBATCH --partition={p}\n");
        }
        if let Some(t) = &o.time {
            h += &format!("#SBATCH --time={t}\n");
        }
        h += extra;
        h += "set -euo pipefail\n# rayon uses the CPUs Slurm gave the task, not the node's.\nexport RAYON_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"\n";
        h
    };
    let mut inputs = String::new();
    if let Some(d) = &o.data {
        inputs += &format!(" --data {}", q(&absolute(d, &o.workdir)));
    }
    if let Some(e) = &o.evoapprox {
        inputs += &format!(" --evoapprox {}", q(&absolute(e, &o.workdir)));
    }
    let bin = q(&absolute(&o.binary, &o.workdir));
    let plan = q(&absolute(&o.plan, &o.workdir));
    let array = header(
        "shard",
        &format!("#SBATCH --array=1-{}\n#SBATCH --output={}/shard-%a.out\n", o.shards, dir.display()),
    ) + &format!(
        "exec {bin} study run {plan} --shard \"${{SLURM_ARRAY_TASK_ID}}/{n}\" --out {shards}/\"${{SLURM_ARRAY_TASK_ID}}\"{inputs} --no-report\n",
        n = o.shards,
        shards = q(&out.join("shards"))
    );
    let dirs: Vec<String> = (1..=o.shards).map(|i| q(&shard_dir(&out, i))).collect();
    let merge = header("merge", &format!("#SBATCH --output={}/merge.out\n", dir.display()))
        + &format!("{bin} study merge --out {} {}\nexec {bin} study report {}\n", q(&out), dirs.join(" "), q(&out));
    let s = Scripts { array: dir.join("array.sbatch"), merge: dir.join("merge.sbatch") };
    super::store::write_atomic(&s.array, array.as_bytes())?;
    super::store::write_atomic(&s.merge, merge.as_bytes())?;
    Ok(s)
}

/// Submit the array, then the merge job depending on it; returns both job ids.
pub fn submit(s: &Scripts) -> Result<(String, String), StudyError> {
    let sbatch = |args: &[&str]| -> Result<String, StudyError> {
        let o = std::process::Command::new("sbatch")
            .args(args)
            .output()
            .map_err(|e| StudyError::Slurm(format!("cannot run sbatch: {e} (is Slurm installed and on PATH?)")))?;
        if !o.status.success() {
            return Err(StudyError::Slurm(format!(
                "sbatch {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr).trim()
            )));
        }
        // `--parsable` prints `jobid[;cluster]`.
        let text = String::from_utf8_lossy(&o.stdout);
        let id = text.trim().split(';').next().unwrap_or("").to_string();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(StudyError::Slurm(format!("sbatch printed no job id: {text:?}")));
        }
        Ok(id)
    };
    let array = sbatch(&["--parsable", &s.array.display().to_string()])?;
    let merge = sbatch(&["--parsable", &format!("--dependency=afterok:{array}"), &s.merge.display().to_string()])?;
    Ok((array, merge))
}
