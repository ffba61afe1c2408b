//! The study engine: the paper's experiments (Algorithm 1 over attacks, budgets and
//! multipliers; transferability; quantization vs approximation; clean-accuracy selection) as
//! one library.
//!
//! A [`Plan`] (a TOML file, or built in code) enumerates its cells in a fixed order; a [`Runner`]
//! executes the cells of the whole plan or of one [`Shard`] into a results folder whose rows are
//! keyed by a complete [`RunKey`]; [`report`] builds tables, verdicts and plots from that folder
//! alone; [`store::merge`] unites shard folders; [`slurm`] writes job arrays for a cluster.
//!
//! ```no_run
//! use axdnn::study::{Plan, Runner, runner::default_inputs};
//! let inputs = default_inputs(None, None);
//! let plan = Plan::from_toml("models = [\"models/lenet5-mnist\"]\nattacks = [\"fgsm\"]\nimages = 100\n", "inline.toml".as_ref(), &inputs)?;
//! let summary = Runner::new(plan, inputs).run("runs/example".as_ref())?;
//! axdnn::study::report::write("runs/example".as_ref())?;
//! # Ok::<(), axdnn::study::StudyError>(())
//! ```

pub mod cell;
pub mod paper;
pub mod perlayer;
pub mod plan;
pub mod report;
pub mod runner;
pub mod slurm;
pub mod stats;
pub mod store;

pub use cell::{Cell, Shard, Target};
pub use plan::{AttackSpec, Inputs, Plan, Threat};
pub use runner::{RunSummary, Runner, Workspace};
pub use stats::Proportion;
pub use store::{Row, RunKey, Store};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    #[error("{}", plan_error_text(path, *line, *col, key, reason))]
    Plan { path: PathBuf, line: usize, col: usize, key: String, reason: String },
    #[error("{}: {cause}", path.display())]
    Io { path: PathBuf, cause: std::io::Error },
    /// A results file that cannot be trusted as it is; `line` is the file's line (1 = header).
    #[error("{}:{line}: {reason} (remove that line, or the file, and `axdnn study run` measures it again)", path.display())]
    Csv { path: PathBuf, line: u64, reason: String },
    /// Two rows of one measurement that disagree.
    #[error("{}:{first_line} and {}:{second_line}: {reason} (remove the wrong line, and `axdnn study run` measures it again if needed)", first.display(), second.display())]
    Conflict { first: PathBuf, first_line: u64, second: PathBuf, second_line: u64, reason: String },
    /// The folder's writer lock could not be taken or held.
    #[error("{}: {reason}", path.display())]
    Lock { path: PathBuf, reason: String },
    #[error("{0}")]
    Model(String),
    #[error("{0}")]
    Input(String),
    #[error("multiplier {spec}: {reason}")]
    Multiplier { spec: String, reason: String },
    #[error("{0}")]
    Attack(String),
    #[error("merge: {0}")]
    Merge(String),
    #[error("report: {0}")]
    Report(String),
    #[error("slurm: {0}")]
    Slurm(String),
}

/// A plan error's text: `file:line:col: key `k`: reason`, or for a plan made of command-line
/// flags (no file the user could open) the flag instead of a position in synthesized text.
fn plan_error_text(path: &std::path::Path, line: usize, col: usize, key: &str, reason: &str) -> String {
    if path == std::path::Path::new(plan::COMMAND_LINE) {
        // `eps.fgsm` comes from no flag of its own; the budgets flags are `--eps-*`.
        let flag = key.split('.').next().unwrap_or(key).replace('_', "-");
        return if flag.is_empty() { format!("command line: {reason}") } else { format!("--{flag}: {reason}") };
    }
    let key = if key.is_empty() { String::new() } else { format!("key `{key}`: ") };
    format!("{}:{line}:{col}: {key}{reason}", path.display())
}
