//! Tables: the bit-parallel simulator, LUTs against the C models, Icarus and Verilator, the published figures, and the table file formats.
//!
//! One test binary per area (each file below is one module), sharing `tests/common`.

#[path = "../common/mod.rs"]
mod common;

mod lut_cmodel;
mod lut_io;
mod lut_iverilog;
mod lut_table_files;
mod lut_verify;
mod sim_bitparallel;
