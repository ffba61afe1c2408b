//! RTL co-verification: the emitted arrays under Icarus and Verilator against the Rust model, tiles and real layers.
//!
//! One test binary per area (each file below is one module), sharing `tests/common`.

#[path = "../common/mod.rs"]
mod common;

mod rtl_cosim;
mod rtl_layers;
