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
//! use axdnn::study::{Plan, Runner};
//! use axdnn::util::inputs::default_inputs;
//! let inputs = default_inputs(None, None);
//! let plan = Plan::from_toml("models = [\"models/lenet5-mnist\"]\nattacks = [\"fgsm\"]\nimages = 100\n", "inline.toml".as_ref(), &inputs)?;
//! let summary = Runner::new(plan, inputs).run("runs/example".as_ref())?;
//! axdnn::study::report::write("runs/example".as_ref())?;
//! # Ok::<(), axdnn::study::StudyError>(())
//! ```

pub mod cell;
pub mod figures;
pub mod jobs;
pub mod keys;
pub mod main_job;
pub mod masking;
pub mod paper;
pub mod perlayer;
pub mod plan;
pub mod report;
pub mod reproduce;
pub mod runner;
pub mod slurm;
pub use crate::util::stats;
pub mod store;
pub mod tables;
pub mod target_spec;

pub use cell::{Cell, Shard, Target};
pub use keys::PlanKeys;
pub use plan::{AttackSpec, Inputs, Plan, Threat};
pub use runner::{RunSummary, Runner, Workspace};
pub use stats::Proportion;
pub use store::{Row, RunKey, Store};
pub use target_spec::{Prepared, TargetSpec};

use std::path::PathBuf;

/// Why a study could not be planned, run, merged or reported.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// A plan (or a results folder's lock file) that does not parse or is inconsistent.
    #[error("{}:{line}:{col}: {}{reason}", path.display(), if key.is_empty() { String::new() } else { format!("key `{key}`: ") })]
    Plan {
        /// The TOML file.
        path: PathBuf,
        /// Line, 1-based.
        line: usize,
        /// Column, 1-based.
        col: usize,
        /// The key concerned; empty when the error is not about one key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A bad value given as a command-line flag (plan keys set by flags, see [`PlanKeys`]).
    #[error("{flag}: {reason}")]
    Flag {
        /// The flag, e.g. `--scheme`.
        flag: String,
        /// What is wrong.
        reason: String,
    },
    /// A file or folder could not be read or written.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// A results file that cannot be trusted as it is; `line` is the file's line (1 = header).
    #[error("{}:{line}: {reason} (remove that line, or the file, and `axdnn study run` measures it again)", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// The file's line, 1-based (1 = the header).
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// Two rows of one measurement that disagree.
    #[error("{}:{first_line} and {}:{second_line}: {reason} (remove the wrong line, and `axdnn study run` measures it again if needed)", first.display(), second.display())]
    Conflict {
        /// The file of the first row.
        first: PathBuf,
        /// Its line.
        first_line: u64,
        /// The file of the second row.
        second: PathBuf,
        /// Its line.
        second_line: u64,
        /// How they disagree.
        reason: String,
    },
    /// The folder's writer lock could not be taken or held.
    #[error("{}: {reason}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A model folder could not be loaded (the message).
    #[error("{0}")]
    Model(String),
    /// A dataset could not be loaded or does not fit the plan or its models (the message).
    #[error("{0}")]
    Input(String),
    /// A multiplier of the plan could not be resolved.
    #[error("multiplier {spec}: {reason}")]
    Multiplier {
        /// The multiplier as the plan gives it.
        spec: String,
        /// Why.
        reason: String,
    },
    /// An attack could not run (the message).
    #[error("{0}")]
    Attack(String),
    /// Shard folders that cannot be merged (why).
    #[error("merge: {0}")]
    Merge(String),
    /// A report could not be built from the results (why).
    #[error("report: {0}")]
    Report(String),
    /// Slurm job scripts could not be written or submitted (why).
    #[error("slurm: {0}")]
    Slurm(String),
    /// A multiplier given on the command line could not be loaded.
    #[error(transparent)]
    Load(#[from] crate::mult::LoadError),
    /// The accelerator could not be built or run.
    #[error(transparent)]
    Accel(#[from] crate::accel::AccelError),
    /// The RTL could not be written, simulated or did not match.
    #[error(transparent)]
    Rtl(#[from] crate::rtl::RtlError),
}
