//! A netlist's table: every operand pair simulated ([`crate::sim`]) and kept as a [`Lut`].

use super::Lut;
use crate::netlist::ir::Netlist;
use crate::sim::{self, Program, RowPort, SimError};

impl Lut {
    /// The table of simulated products, named after the circuit; no power (the caller knows it).
    pub fn from_products(name: &str, p: sim::Products) -> Lut {
        Lut {
            name: name.to_string(),
            row_bits: p.shape.row_bits,
            col_bits: p.shape.col_bits,
            signed: p.shape.signed,
            row_port: p.shape.row_port,
            table: p.table,
            power_mw: None,
        }
    }
}

/// Every product of `net`, as a [`Lut`] (parallel over fixed chunks).
pub fn exhaustive_lut(net: &Netlist, row_port: RowPort, signed: bool) -> Result<Lut, SimError> {
    Ok(Lut::from_products(&net.name, sim::exhaustive(net, row_port, signed)?))
}

/// [`exhaustive_lut`] with `64·L`-lane blocks and a compiled program, optionally sequential.
pub fn exhaustive_lut_lanes<const L: usize>(
    net: &Netlist,
    prog: &Program,
    row_port: RowPort,
    signed: bool,
    parallel: bool,
) -> Result<Lut, SimError> {
    Ok(Lut::from_products(&net.name, sim::exhaustive_lanes::<L>(net, prog, row_port, signed, parallel)?))
}
