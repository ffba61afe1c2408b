//! The multiplier as the accelerator sees it, and every way to name one. `accel` depends on the
//! [`Multiplier`] trait only; it never sees a netlist. Implementations: [`Exact`] here,
//! [`crate::lut::Lut`] (table lookup, [`lut`]) and the netlist-backed bit-level multiplier
//! ([`NetlistMultiplier`]). [`resolve`] turns a name — `exact`, an EvoApprox name, a `.v` file,
//! a table file or a per-layer assignment — into one, with a single signedness rule
//! ([`signed_from_name`]).
//!
//! Operands are raw codes (bit patterns, LSB-aligned): for a signed 8-bit multiplier the operand
//! `-1` is the code `0xFF`. The result is the product as an integer (sign-extended for signed
//! multipliers). `row` is the operand that indexes LUT rows (by default Verilog port `B`, the
//! activation operand), `col` the other one.

pub mod lut;
pub mod netlist;
pub mod resolve;

pub use crate::sim::operand::{signed_from_name, RowPort};
pub use netlist::NetlistMultiplier;
pub use resolve::{resolve, resolve_charged, LoadError, LoadedMultiplier};

/// A multiplier of two operand codes, as the accelerator uses it.
pub trait Multiplier: Send + Sync {
    /// Short name, e.g. `mul8u_JV3` or `exact8u`.
    fn name(&self) -> &str;
    /// Bit widths of the row and column operands.
    fn widths(&self) -> (u32, u32);
    /// Two's-complement operands and product when true.
    fn signed(&self) -> bool;
    /// One product of two operand codes.
    fn mul(&self, row: u32, col: u32) -> i32;
    /// Many products at once (`out[i] = mul(rows[i], cols[i])`); bit-parallel implementations
    /// override this.
    fn mul_batch(&self, rows: &[u32], cols: &[u32], out: &mut [i32]) {
        for ((o, &r), &c) in out.iter_mut().zip(rows).zip(cols) {
            *o = self.mul(r, c);
        }
    }
    /// The full table, when the implementation has one (engines use it for speed).
    fn table(&self) -> Option<&crate::lut::Lut> {
        None
    }
    /// Published PDK45 power in mW, when known (for energy estimates).
    fn power_mw(&self) -> Option<f64> {
        None
    }
}

/// The exact multiplier of the given operand widths.
#[derive(Debug, Clone)]
pub struct Exact {
    name: String,
    row_bits: u32,
    col_bits: u32,
    signed: bool,
}

impl Exact {
    /// The exact `row_bits × col_bits` multiplier, signed (two's complement) or unsigned, named
    /// e.g. `exact8x8u`.
    pub fn new(row_bits: u32, col_bits: u32, signed: bool) -> Self {
        let name = format!("exact{}x{}{}", row_bits, col_bits, if signed { "s" } else { "u" });
        Exact { name, row_bits, col_bits, signed }
    }

    /// Interpret a `bits`-wide code as an integer.
    #[inline]
    pub fn value(code: u32, bits: u32, signed: bool) -> i64 {
        crate::sim::code_value(code, bits, signed)
    }
}

impl Multiplier for Exact {
    fn name(&self) -> &str {
        &self.name
    }
    fn widths(&self) -> (u32, u32) {
        (self.row_bits, self.col_bits)
    }
    fn signed(&self) -> bool {
        self.signed
    }
    fn mul(&self, row: u32, col: u32) -> i32 {
        (Self::value(row, self.row_bits, self.signed) * Self::value(col, self.col_bits, self.signed)) as i32
    }
}
