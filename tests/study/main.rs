//! The study engine: plans, the results store (writers, integrity, resumption), reports and charts, shards and Slurm, the main job.
//!
//! One test binary per area (each file below is one module), sharing `tests/common`.

#[path = "../common/mod.rs"]
mod common;

mod study_cli;
mod study_engine;
mod study_fuzz_seeds;
mod study_store_integrity;
mod study_writers;
mod run_cli;
mod plot;
mod figures;
mod masking;
