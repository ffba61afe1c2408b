//! Energy from what the hardware switches: the Liberty reader on the 45 nm library behind
//! EvoApprox's PDK45 figures and its never-panic property on mutated input; per-net toggle counts
//! of the bit-parallel simulator against a naive count and Icarus Verilog VCD dumps; the per-gate
//! energy model by hand, through `axdnn energy`, and against OpenSTA's `report_power`.
//!
//! One test binary per area (each file below is one module), sharing `tests/common`.

#[path = "../common/mod.rs"]
mod common;

mod liberty_fuzz_seeds;
mod liberty_gscl45nm;
mod energy_cli;
mod energy_opensta;
mod sim_toggles;
