//! A table is a multiplier: every product looked up.

use super::Multiplier;
use crate::lut::Lut;

impl Multiplier for Lut {
    fn name(&self) -> &str {
        &self.name
    }
    fn widths(&self) -> (u32, u32) {
        (self.row_bits, self.col_bits)
    }
    fn signed(&self) -> bool {
        self.signed
    }
    #[inline(always)]
    fn mul(&self, row: u32, col: u32) -> i32 {
        self.get(row, col)
    }
    fn table(&self) -> Option<&Lut> {
        Some(self)
    }
    fn power_mw(&self) -> Option<f64> {
        self.power_mw
    }
}
