//! A netlist's table: every operand pair simulated ([`crate::sim`]) and kept as a [`Lut`].

use super::io::Format;
use super::{Lut, LutError, Metrics};
use crate::netlist::ir::Netlist;
use crate::sim::{self, Program, RowPort, SimError};
use std::path::PathBuf;

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

/// The row port as a flag value (`a`, `b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PortFlag {
    #[allow(missing_docs)] // a doc comment would become a possible value's help text in --help
    A,
    #[allow(missing_docs)]
    B,
}

impl From<PortFlag> for RowPort {
    fn from(p: PortFlag) -> Self {
        match p {
            PortFlag::A => RowPort::A,
            PortFlag::B => RowPort::B,
        }
    }
}

/// `axdnn lut gen`: a netlist's table, simulated over every operand pair, into a table file.
#[derive(clap::Args, Debug, Clone)]
pub struct TableFlags {
    /// Verilog netlist.
    pub file: PathBuf,
    /// Output table file.
    #[arg(short, long)]
    pub out: PathBuf,
    /// bin (TFApprox u16), npy, npy-u2, csv, c (AdaPT header).
    #[arg(long, value_enum, default_value = "bin")]
    pub format: Format,
    /// Verilog port that indexes the rows (B = activation operand, TFApprox convention).
    #[arg(long, value_enum, default_value = "b")]
    pub row_port: PortFlag,
    /// Two's-complement operands (default: from the name, e.g. mul8s_*).
    #[arg(long)]
    pub signed: Option<bool>,
}

/// A table written by [`TableFlags::run`].
#[derive(Debug, Clone)]
pub struct TableWritten {
    /// The table (with the netlist's published power).
    pub lut: Lut,
    /// Its metrics.
    pub metrics: Metrics,
    /// Seconds the simulation took.
    pub seconds: f64,
    /// The file written.
    pub out: PathBuf,
}

impl TableFlags {
    /// Parse the netlist, simulate every pair ([`exhaustive_lut`]), export the table.
    pub fn run(&self) -> Result<TableWritten, LutError> {
        let parsed = crate::netlist::parse_file(&self.file)?;
        let net = &parsed.netlist;
        let signed = self.signed.unwrap_or_else(|| sim::signed_from_name(&net.name).unwrap_or(false));
        let t = std::time::Instant::now();
        let mut lut = exhaustive_lut(net, self.row_port.into(), signed)?;
        let seconds = t.elapsed().as_secs_f64();
        lut.power_mw = parsed.published.pdk45_pwr_mw.as_ref().map(|f| f.value);
        super::io::export(&lut, self.format, &self.out)?;
        let metrics = Metrics::of_lut(&lut);
        Ok(TableWritten { lut, metrics, seconds, out: self.out.clone() })
    }
}

impl std::fmt::Display for TableWritten {
    /// What was simulated and written, then the metrics.
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let l = &self.lut;
        writeln!(
            f,
            "{}: {}x{} {} (row = port {:?}), {} entries simulated in {:.3} ms -> {}",
            l.name,
            l.row_bits,
            l.col_bits,
            if l.signed { "signed" } else { "unsigned" },
            l.row_port,
            l.len(),
            self.seconds * 1e3,
            self.out.display()
        )?;
        writeln!(f, "  {}", self.metrics)
    }
}
