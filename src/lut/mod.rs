//! Lookup tables of multipliers: the `Lut` type, its error metrics, import/export and verification
//! against the published EvoApprox figures and C models.
//!
//! Convention: entry `row * 2^col_bits + col`; by default the row operand is Verilog port `B`.

pub mod build;
pub mod cmodel;
pub mod io;
pub mod metrics;
pub mod table_file;
pub mod testbench;
pub mod verify;

pub use build::{exhaustive_lut, exhaustive_lut_lanes};
pub use metrics::{Coverage, Metrics};

use crate::sim::{exact_product, RowPort};
use serde::{Deserialize, Serialize};

/// Why a `lut` command (table file, testbench, verification run) failed.
#[derive(Debug, thiserror::Error)]
pub enum LutError {
    /// The netlist does not parse or elaborate.
    #[error(transparent)]
    Netlist(#[from] crate::netlist::NetlistError),
    /// The netlist cannot be swept as a multiplier.
    #[error(transparent)]
    Sim(#[from] crate::sim::SimError),
    /// A table or testbench file could not be written.
    #[error(transparent)]
    File(#[from] io::LutIoError),
    /// A folder could not be searched.
    #[error(transparent)]
    Walk(#[from] std::io::Error),
    /// A netlist or folder that does not fit the command (what is wrong).
    #[error("{0}")]
    Input(String),
}

/// A complete multiplier table over every operand pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lut {
    /// The multiplier's name (e.g. `mul8u_L40`, `exact8x8u`).
    pub name: String,
    /// Width of the row operand in bits.
    pub row_bits: u32,
    /// Width of the column operand in bits.
    pub col_bits: u32,
    /// Whether operand codes and products are two's complement.
    pub signed: bool,
    /// Which Verilog input port indexes the rows.
    pub row_port: RowPort,
    /// `2^(row_bits + col_bits)` products, row-major; signed products are sign-extended.
    pub table: Vec<i32>,
    /// Published PDK45 power in mW, when the source netlist states it.
    pub power_mw: Option<f64>,
}

impl Lut {
    /// Number of entries, `2^(row_bits + col_bits)`.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Flat index of the operand pair: `row << col_bits | col`.
    #[inline(always)]
    pub fn index(&self, row: u32, col: u32) -> usize {
        ((row as usize) << self.col_bits) | col as usize
    }

    /// The product of operand codes `row` and `col`.
    #[inline(always)]
    pub fn get(&self, row: u32, col: u32) -> i32 {
        self.table[self.index(row, col)]
    }

    /// sha256 of what the accelerator sees: widths, signedness and every product (not the name
    /// or power), so two files holding the same table have the same hash.
    pub fn sha256(&self) -> String {
        let mut bytes = Vec::with_capacity(16 + 4 * self.table.len());
        bytes.extend_from_slice(&self.row_bits.to_le_bytes());
        bytes.extend_from_slice(&self.col_bits.to_le_bytes());
        bytes.push(self.signed as u8);
        for v in &self.table {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        crate::util::sha256_hex(&bytes)
    }

    /// The table of the exact multiplier.
    pub fn exact(row_bits: u32, col_bits: u32, signed: bool) -> Lut {
        let mut table = Vec::with_capacity(1 << (row_bits + col_bits));
        for r in 0..1u32 << row_bits {
            for c in 0..1u32 << col_bits {
                table.push(exact_product(r, row_bits, c, col_bits, signed) as i32);
            }
        }
        Lut {
            name: format!("exact{}x{}{}", row_bits, col_bits, if signed { "s" } else { "u" }),
            row_bits,
            col_bits,
            signed,
            row_port: RowPort::default(),
            table,
            power_mw: None,
        }
    }
}

impl Lut {
    /// A copy with one entry replaced (tests, fault injection).
    pub fn clone_with_entry(&self, index: usize, value: i32) -> Lut {
        let mut l = self.clone();
        l.table[index] = value;
        l
    }
}
