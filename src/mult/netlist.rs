//! The accelerator's bit-level mode: every product is computed by simulating the gates.

use super::{Multiplier, RowPort};
use crate::netlist::ir::Netlist;
use crate::sim::sweep::eval_pairs;
use crate::sim::{MulShape, Program, SimError};

/// Lanes per block for batched evaluation: 256 vectors per instruction.
const L: usize = 4;

/// A [`Multiplier`] backed by a compiled gate netlist (`mul_batch` is bit-parallel).
#[derive(Debug, Clone)]
pub struct NetlistMultiplier {
    name: String,
    prog: Program,
    shape: MulShape,
    power_mw: Option<f64>,
}

impl NetlistMultiplier {
    /// Compiles `net` as a multiplier whose row operand is `row_port`, with `signed` operand and
    /// product codes.
    pub fn new(net: &Netlist, row_port: RowPort, signed: bool) -> Result<Self, SimError> {
        let shape = MulShape::of(net, row_port, signed)?;
        Ok(NetlistMultiplier { name: net.name.clone(), prog: Program::compile(net), shape, power_mw: None })
    }

    /// The same multiplier reporting power `p` (mW) for energy estimates.
    pub fn with_power_mw(mut self, p: Option<f64>) -> Self {
        self.power_mw = p;
        self
    }

    /// How the netlist's ports are read as operands and product.
    pub fn shape(&self) -> &MulShape {
        &self.shape
    }
}

impl Multiplier for NetlistMultiplier {
    fn name(&self) -> &str {
        &self.name
    }
    fn widths(&self) -> (u32, u32) {
        (self.shape.row_bits, self.shape.col_bits)
    }
    fn signed(&self) -> bool {
        self.shape.signed
    }
    fn mul(&self, row: u32, col: u32) -> i32 {
        let mut o = [0i32];
        eval_pairs::<1>(&self.prog, &self.shape, &[row], &[col], &mut o);
        o[0]
    }
    fn mul_batch(&self, rows: &[u32], cols: &[u32], out: &mut [i32]) {
        assert!(rows.len() == out.len() && cols.len() == out.len());
        eval_pairs::<L>(&self.prog, &self.shape, rows, cols, out);
    }
    fn power_mw(&self) -> Option<f64> {
        self.power_mw
    }
}
