//! The multiplier as the accelerator sees it. `accel` depends on this trait only; it never sees a
//! netlist. Implementations: [`Exact`] here, [`crate::lut::Lut`] (table lookup) and the
//! netlist-backed bit-level multiplier in [`crate::sim`].
//!
//! Operands are raw codes (bit patterns, LSB-aligned): for a signed 8-bit multiplier the operand
//! `-1` is the code `0xFF`. The result is the product as an integer (sign-extended for signed
//! multipliers). `row` is the operand that indexes LUT rows (by default Verilog port `B`, the
//! activation operand), `col` the other one.

/// Which Verilog input port feeds the LUT row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum RowPort {
    A,
    B,
}

impl Default for RowPort {
    /// Port `B` is the first argument of the newer EvoApprox C models and the activation operand
    /// of TFApprox `.bin` tables.
    fn default() -> Self {
        RowPort::B
    }
}

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
    pub fn new(row_bits: u32, col_bits: u32, signed: bool) -> Self {
        let name = format!("exact{}x{}{}", row_bits, col_bits, if signed { "s" } else { "u" });
        Exact { name, row_bits, col_bits, signed }
    }

    /// Interpret a `bits`-wide code as an integer.
    #[inline]
    pub fn value(code: u32, bits: u32, signed: bool) -> i64 {
        let mask = if bits >= 32 { u32::MAX } else { (1u32 << bits) - 1 };
        let c = (code & mask) as i64;
        if signed && bits > 0 && c >> (bits - 1) & 1 == 1 {
            c - (1i64 << bits)
        } else {
            c
        }
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
