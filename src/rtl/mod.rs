//! RTL co-verification of the accelerator: Verilog for a weight- or input-stationary ([`emit`])
//! or output-stationary ([`emit_os`]) systolic array around a multiplier netlist, the stimulus that
//! streams a GEMM into it as `accel::array` does ([`schedule`]), the comparison of the
//! simulator's output dump with the cycle-stepped model ([`check`]) and the driver that runs
//! Icarus Verilog or Verilator ([`cosim`]), and real model layers on real images through it
//! ([`layers`]).
//! Conventions: `sim/README.md`.

pub mod cells;
pub mod check;
pub mod cosim;
pub mod emit;
pub mod emit_os;
pub mod layers;
pub mod schedule;

pub use check::CosimCheck;
pub use cosim::{cosim, CosimConfig, CosimReport, Simulator};
pub use emit::{Geometry, MulPorts};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RtlError {
    #[error("multiplier module '{module}': {msg}")]
    Ports { module: String, msg: String },
    #[error(transparent)]
    Netlist(#[from] crate::netlist::NetlistError),
    #[error("{path}: {cause}")]
    Sim { path: PathBuf, cause: crate::sim::SimError },
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("{path}: {cause}")]
    Tool { tool: &'static str, path: PathBuf, cause: crate::lut::testbench::ExtSimError },
    #[error("{path}:{line}: {msg}")]
    Dump { path: PathBuf, line: u64, msg: String },
    /// `lines`: every dump line that contributed to the sum (one per reduction fold); `line` is
    /// the first.
    #[error("{path}:{line}: sum of pixel {pixel}, output {output} is {got} (0x{got:08x}), {reference} gives {want} (0x{want:08x}); partial sums on dump lines {lines:?}")]
    SumMismatch {
        path: PathBuf,
        line: u64,
        lines: Vec<u64>,
        pixel: usize,
        output: usize,
        got: i32,
        want: i32,
        reference: &'static str,
    },
    #[error(
        "{path}:{line}: pixel {pixel}, output {output} appeared on cycle {got}, the model writes it on cycle {want}"
    )]
    CycleMismatch { path: PathBuf, line: u64, pixel: usize, output: usize, got: u64, want: u64 },
    #[error("{path}: {msg}")]
    Missing { path: PathBuf, msg: String },
    #[error("{path}:{line}: last output on cycle {got}, accel::array's last busy cycle is {want}")]
    LastCycle { path: PathBuf, line: u64, got: u64, want: u64 },
    #[error("bad tile: {0}")]
    Config(String),
    #[error("the model has no GEMM layer '{name}' (its GEMM layers: {})", known.join(", "))]
    UnknownLayer { name: String, known: Vec<String> },
    #[error(transparent)]
    Accel(#[from] crate::accel::AccelError),
    #[error("the accelerator's multiplier '{multiplier}' is not the netlist {netlist} (their tables differ)")]
    NotTheNetlist { multiplier: String, netlist: PathBuf },
    #[error("image {image}, class {class}: the RTL's accumulator is {got} (logit {got_logit}), the accelerator's {want} (logit {want_logit})")]
    Logits { image: usize, class: usize, got: i32, want: i32, got_logit: f32, want_logit: f32 },
}
