//! The accelerator: SCALE-Sim timing, the cycle-stepped array against the fast engine, bit-level mode, per-layer assignment, recovery, and the CLI.
//!
//! One test binary per area (each file below is one module), sharing `tests/common`.

#[path = "../common/mod.rs"]
mod common;

mod accel_bitlevel;
mod accel_cli;
mod accel_engines;
mod accel_graph;
mod accel_per_layer;
mod accel_recover;
mod accel_timing;
