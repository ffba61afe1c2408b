//! RTL co-verification of the accelerator: Verilog for a weight-, output- or input-stationary
//! systolic array around a multiplier netlist ([`emit`]), the stimulus that streams a GEMM into
//! it as `accel::array` does ([`schedule`]), the comparison of the simulator's output dump with
//! the cycle-stepped model ([`check`]) and the driver that runs Icarus Verilog or Verilator
//! ([`cosim`]), real model layers on real images through it ([`layers`]), and the `rtl`
//! commands' flags and summaries ([`options`]). Each is one code path for every dataflow, read
//! from `accel::flow::Flow`.
//! Conventions: `sim/README.md`.

pub mod cells;
pub mod check;
pub mod cosim;
pub mod emit;
pub mod layers;
pub mod options;
pub mod schedule;

pub use check::CosimCheck;
pub use cosim::{cosim, CosimConfig, CosimReport, Simulator};
pub use emit::{Geometry, MulPorts};

use std::path::PathBuf;

/// Why RTL generation, co-simulation or its comparison failed.
#[derive(Debug, thiserror::Error)]
pub enum RtlError {
    /// A multiplier netlist whose ports do not fit the PE (operands `A`, `B`, one product output).
    #[error("multiplier module '{module}': {msg}")]
    Ports {
        /// The netlist's module name.
        module: String,
        /// What is wrong with its ports.
        msg: String,
    },
    /// The multiplier netlist does not parse or elaborate.
    #[error(transparent)]
    Netlist(#[from] crate::netlist::NetlistError),
    /// A multiplier netlist the simulator cannot sweep.
    #[error("{path}: {cause}")]
    Sim {
        /// The netlist file.
        path: PathBuf,
        /// What the simulator refused.
        cause: crate::sim::SimError,
    },
    /// A file could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The Verilog simulator could not build or run the testbench.
    #[error("{path}: {cause}")]
    Tool {
        /// The program (`iverilog`, `vvp`, `verilator`, …).
        tool: &'static str,
        /// The file or folder it ran on.
        path: PathBuf,
        /// What went wrong.
        cause: crate::sim::hdl::ExtSimError,
    },
    /// A line of the testbench's dump that does not parse or does not fit the array.
    #[error("{path}:{line}: {msg}")]
    Dump {
        /// The dump file.
        path: PathBuf,
        /// The line, 1-based.
        line: u64,
        /// What is wrong with it.
        msg: String,
    },
    /// A final sum of the RTL that differs from a reference. `lines`: every dump line that
    /// contributed to the sum (one per reduction fold); `line` is the first.
    #[error("{path}:{line}: sum of pixel {pixel}, output {output} is {got} (0x{got:08x}), {reference} gives {want} (0x{want:08x}); partial sums on dump lines {lines:?}")]
    SumMismatch {
        /// The dump file.
        path: PathBuf,
        /// The first dump line of the sum, 1-based.
        line: u64,
        /// Every dump line of the sum.
        lines: Vec<u64>,
        /// The sum's pixel.
        pixel: usize,
        /// The sum's output channel.
        output: usize,
        /// The RTL's sum.
        got: i32,
        /// The reference's sum.
        want: i32,
        /// Which reference (`accel::array` or `accel::fast::gemm`).
        reference: &'static str,
    },
    /// An output the RTL wrote on another cycle than the cycle-stepped model.
    #[error(
        "{path}:{line}: pixel {pixel}, output {output} appeared on cycle {got}, the model writes it on cycle {want}"
    )]
    CycleMismatch {
        /// The dump file.
        path: PathBuf,
        /// The dump line, 1-based.
        line: u64,
        /// The output's pixel.
        pixel: usize,
        /// The output's channel.
        output: usize,
        /// The RTL's cycle.
        got: u64,
        /// The model's cycle.
        want: u64,
    },
    /// Outputs the dump lacks (or has too many of).
    #[error("{path}: {msg}")]
    Missing {
        /// The dump file.
        path: PathBuf,
        /// Which outputs.
        msg: String,
    },
    /// The RTL's last output is not on the model's last busy cycle.
    #[error("{path}:{line}: last output on cycle {got}, accel::array's last busy cycle is {want}")]
    LastCycle {
        /// The dump file.
        path: PathBuf,
        /// The dump line of the last output, 1-based.
        line: u64,
        /// The RTL's last output cycle.
        got: u64,
        /// `accel::array`'s last busy cycle.
        want: u64,
    },
    /// A co-simulation configuration that cannot run (what is wrong).
    #[error("bad tile: {0}")]
    Config(String),
    /// A layer name that is not a GEMM layer of the model.
    #[error("the model has no GEMM layer '{name}' (its GEMM layers: {})", known.join(", "))]
    UnknownLayer {
        /// The name given.
        name: String,
        /// The model's GEMM layers.
        known: Vec<String>,
    },
    /// The accelerator could not be built or run.
    #[error(transparent)]
    Accel(#[from] crate::accel::AccelError),
    /// A multiplier flag that names no netlist.
    #[error(transparent)]
    Multiplier(#[from] crate::mult::LoadError),
    /// The accelerator's multiplier is not the netlist the RTL instantiates.
    #[error("the accelerator's multiplier '{multiplier}' is not the netlist {netlist} (their tables differ)")]
    NotTheNetlist {
        /// The accelerator's multiplier.
        multiplier: String,
        /// The netlist file.
        netlist: PathBuf,
    },
    /// A logits accumulator of the RTL run that differs from the accelerator's.
    #[error("image {image}, class {class}: the RTL's accumulator is {got} (logit {got_logit}), the accelerator's {want} (logit {want_logit})")]
    Logits {
        /// The image, 0-based.
        image: usize,
        /// The class.
        class: usize,
        /// The RTL run's accumulator.
        got: i32,
        /// The accelerator's accumulator.
        want: i32,
        /// The RTL run's dequantized logit.
        got_logit: f32,
        /// The accelerator's dequantized logit.
        want_logit: f32,
    },
}
