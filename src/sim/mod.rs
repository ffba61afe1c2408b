//! Bit-parallel gate-level simulation: a netlist is compiled once into a flat instruction
//! program ([`Program`]) and evaluated over `64·L` input vectors per instruction.
//! [`exhaustive`] sweeps every operand pair (up to 2^20), [`sample`] draws a seeded random
//! subset above that; [`operand`] says how a circuit's bits are read as operands. Tables
//! (`lut`) and the multiplier trait (`mult`) are built on this layer, never the other way.

pub mod operand;
pub mod program;
pub mod sweep;
pub mod transpose;

pub use operand::{code_value, exact_product, signed_from_name, RowPort};
pub use program::{Lanes, Program};
pub use sweep::{
    exhaustive, exhaustive_lanes, exhaustive_upto, sample, MulShape, Products, Samples, MAX_EXHAUSTIVE_BITS,
};

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
}
