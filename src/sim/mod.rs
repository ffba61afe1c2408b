//! Bit-parallel gate-level simulation: a netlist is compiled once into a flat instruction
//! program ([`Program`]) and evaluated over `64·L` input vectors per instruction.
//! [`exhaustive`] sweeps every operand pair (up to 2^20), [`sample`] draws a seeded random
//! subset above that; [`operand`] says how a circuit's bits are read as operands; [`toggles`]
//! counts how often every net switches over an ordered stream of vectors. Tables
//! (`lut`) and the multiplier trait (`mult`) are built on this layer, never the other way.

pub mod hdl;
pub mod operand;
pub mod program;
pub mod sweep;
pub mod toggles;
pub mod transpose;

pub use operand::{code_value, exact_product, signed_from_name, RowPort};
pub use program::{Lanes, Program};
pub use sweep::{
    exhaustive, exhaustive_lanes, exhaustive_upto, sample, MulShape, Products, Samples, MAX_EXHAUSTIVE_BITS,
};
pub use toggles::{toggles, toggles_of_pairs, Toggles};

use thiserror::Error;

/// Why a netlist cannot be simulated as a two-operand multiplier.
#[derive(Debug, Error)]
pub enum SimError {
    /// An operand port (`A` or `B`) is missing.
    #[error("circuit {circuit}: no input port named {port}")]
    MissingInput {
        /// The netlist's name.
        circuit: String,
        /// The missing port.
        port: String,
    },
    /// The netlist does not have exactly one output port (the product).
    #[error("circuit {circuit}: expected exactly one output port, found {found}")]
    Outputs {
        /// The netlist's name.
        circuit: String,
        /// Its number of output ports.
        found: usize,
    },
    /// An operand or the product is empty or wider than supported.
    #[error("circuit {circuit}: port {port} is {width} bits wide; at most {max} supported")]
    TooWide {
        /// The netlist's name.
        circuit: String,
        /// The port.
        port: String,
        /// Its width in bits.
        width: usize,
        /// The widest supported (31 for operands, 64 for the product).
        max: usize,
    },
    /// Too many operand pairs to simulate them all.
    #[error(
        "circuit {circuit}: {bits} operand bits = 2^{bits} pairs is above the exhaustive limit \
         2^{max}; use sampling"
    )]
    TooLarge {
        /// The netlist's name.
        circuit: String,
        /// Operand bits of both operands together.
        bits: u32,
        /// The limit on those bits.
        max: u32,
    },
    /// An input stream that does not fit the netlist (port count, column lengths).
    #[error("circuit {circuit}: operand stream: {what}")]
    Stream {
        /// The netlist's name.
        circuit: String,
        /// What does not fit.
        what: String,
    },
    /// The netlist is not a two-operand multiplier (which port, and why).
    #[error(transparent)]
    NotAMultiplier(#[from] crate::netlist::multiplier::NotAMultiplier),
}
