//! Bit-parallel gate-level simulation: a netlist is compiled once into a flat instruction
//! program ([`Program`]) and evaluated over `64·L` input vectors per instruction.
//! [`exhaustive_lut`] sweeps every operand pair (up to 2^20), [`sample`] draws a seeded random
//! subset above that, and [`NetlistMultiplier`] serves the accelerator's bit-level mode.

pub mod multiplier;
pub mod program;
pub mod sweep;
pub mod transpose;

pub use multiplier::NetlistMultiplier;
pub use program::{Lanes, Program};
pub use sweep::{exhaustive_lut, exhaustive_lut_lanes, sample, MulShape, Samples, MAX_EXHAUSTIVE_BITS};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SimError {
    #[error("circuit {circuit}: no input port named {port}")]
    MissingInput { circuit: String, port: String },
    #[error("circuit {circuit}: expected exactly one output port, found {found}")]
    Outputs { circuit: String, found: usize },
    #[error("circuit {circuit}: port {port} is {width} bits wide; at most {max} supported")]
    TooWide { circuit: String, port: String, width: usize, max: usize },
    #[error(
        "circuit {circuit}: {bits} operand bits = 2^{bits} pairs is above the exhaustive limit \
         2^{max}; use sampling"
    )]
    TooLarge { circuit: String, bits: u32, max: u32 },
    #[error(transparent)]
    NotAMultiplier(#[from] crate::netlist::multiplier::NotAMultiplier),
}
