//! LUT files: TFApprox raw `.bin` (u16 little-endian, no header), NumPy `.npy` (`<i4` or `<u2`,
//! 2-D `(2^rows, 2^cols)`), CSV (`row,col,product` with a header line) and a C header
//! (`[rows][cols]` array, AdaPT style). Files are written atomically (temporary file + rename).
//!
//! `.bin` and `.npy` carry no signedness, row port or power; the C header states signedness and
//! power in its comment and CSV in nothing. Importers first read a [`RawTable`] (entries as
//! stored); the caller then states the signedness ([`ImportMeta`]) or has
//! [`super::table_file`] decide and check it.

use super::Lut;
use crate::sim::RowPort;
use crate::util::error::Span;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a table file could not be read or written.
#[derive(Debug, Error)]
pub enum LutIoError {
    /// A file could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// A file whose contents are not what its format requires (e.g. its size or line count).
    #[error("{path}: {msg}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// A bad line of a CSV table or of a simulator's dump.
    #[error("{path}:{line}: {msg}")]
    Record {
        /// The file.
        path: PathBuf,
        /// The line, 1-based.
        line: u64,
        /// What is wrong with it.
        msg: String,
    },
    /// A product the export format cannot store.
    #[error("{name}: product {value} at row {row}, col {col} does not fit the {format} element type")]
    Range {
        /// The table's name.
        name: String,
        /// The product.
        value: i32,
        /// Its row operand code.
        row: u32,
        /// Its column operand code.
        col: u32,
        /// The element type (e.g. `u16`, `<u2`).
        format: &'static str,
    },
    /// The file's size or array shape is not the table's.
    #[error("{path}: {found}, expected {expected}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// The size or shape found.
        found: String,
        /// The size or shape the table needs.
        expected: String,
    },
    /// A NumPy element type the importer does not read.
    #[error("{path}: element type {found} is not supported (want {supported})")]
    Dtype {
        /// The file.
        path: PathBuf,
        /// The element type found (the `descr`).
        found: String,
        /// The element types read.
        supported: &'static str,
    },
    /// A C header that does not parse.
    #[error("{span}: {msg}")]
    Syntax {
        /// Where parsing stopped.
        span: Span,
        /// What was expected there.
        msg: String,
    },
    /// Signed or unsigned cannot be decided, or what decides it contradicts the entries.
    #[error("{path}: {msg}")]
    Signedness {
        /// The file.
        path: PathBuf,
        /// Why.
        msg: String,
    },
}

mod c_header;
pub use c_header::read_raw as raw_c_header;

/// What a file says about itself (an axdnn C header's comment); `None` where it is silent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeaderInfo {
    /// The table's name.
    pub name: Option<String>,
    /// Whether the table is signed.
    pub signed: Option<bool>,
    /// The multiplier's power in mW.
    pub power_mw: Option<f64>,
}

/// A table as stored in a file, before its signedness is decided.
#[derive(Debug, Clone)]
pub struct RawTable {
    /// Width of the row operand in bits (the table has `2^row_bits` rows).
    pub row_bits: u32,
    /// Width of the column operand in bits (the table has `2^col_bits` columns).
    pub col_bits: u32,
    /// Row-major entries as stored.
    pub values: Vec<i64>,
    /// Entries are 16-bit patterns (`.bin`, `<u2`): a signed table's negative products read as
    /// values >= 0x8000, so negativity cannot be seen.
    pub patterns16: bool,
    /// What the file says about itself.
    pub header: HeaderInfo,
}

impl RawTable {
    /// (row, col) of flat entry `i`.
    pub fn pair(&self, i: usize) -> (u32, u32) {
        ((i >> self.col_bits) as u32, (i & ((1 << self.col_bits) - 1)) as u32)
    }

    /// Entry `i` as a product under the given signedness.
    pub fn product(&self, i: usize, signed: bool) -> i64 {
        let v = self.values[i];
        if self.patterns16 && signed {
            v as u16 as i16 as i64
        } else {
            v
        }
    }

    /// The table with the signedness decided.
    pub fn into_lut(self, path: &Path, name: &str, signed: bool, row_port: RowPort) -> Result<Lut, LutIoError> {
        let mut table = Vec::with_capacity(self.values.len());
        for i in 0..self.values.len() {
            let v = self.product(i, signed);
            let (r, c) = self.pair(i);
            table.push(
                i32::try_from(v)
                    .map_err(|_| fmt_err(path, format!("entry (row {r}, col {c}) = {v} does not fit i32")))?,
            );
        }
        Ok(Lut {
            name: name.into(),
            row_bits: self.row_bits,
            col_bits: self.col_bits,
            signed,
            row_port,
            table,
            power_mw: self.header.power_mw,
        })
    }
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// TFApprox raw table: u16 little-endian per entry (signed: the 16-bit two's-complement pattern).
    Bin,
    /// NumPy array, `<i4`.
    Npy,
    /// NumPy array, `<u2` (unsigned 16-bit; signed tables store the 16-bit pattern).
    NpyU2,
    /// `row,col,product` lines.
    Csv,
    /// C header with a `[rows][cols]` array.
    C,
}

/// What an imported file cannot say about itself.
#[derive(Debug, Clone)]
pub struct ImportMeta {
    /// The table's name.
    pub name: String,
    /// Whether the table is signed.
    pub signed: bool,
    /// Which Verilog operand port indexes the rows.
    pub row_port: RowPort,
    /// Operand widths for `.bin` (it has no shape); ignored for `.npy` and CSV.
    pub row_bits: u32,
    /// Column operand width for `.bin`.
    pub col_bits: u32,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LutIoError + '_ {
    move |source| LutIoError::Io { path: path.to_path_buf(), cause: source }
}

/// [`crate::util::write_atomic`] with the error of this module.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LutIoError> {
    crate::util::write_atomic(path, bytes).map_err(io_err(path))
}

/// Every entry as a u16 pattern (signed tables: two's complement), or the first that does not fit.
fn as_u16(lut: &Lut, format: &'static str) -> Result<Vec<u16>, LutIoError> {
    lut.table
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let ok = if lut.signed {
                (i16::MIN as i32..=i16::MAX as i32).contains(&v)
            } else {
                (0..=u16::MAX as i32).contains(&v)
            };
            if ok {
                Ok(v as u16)
            } else {
                Err(LutIoError::Range {
                    name: lut.name.clone(),
                    value: v,
                    row: (i >> lut.col_bits) as u32,
                    col: (i & ((1 << lut.col_bits) - 1)) as u32,
                    format,
                })
            }
        })
        .collect()
}

/// The table as a TFApprox `.bin`: one little-endian u16 per entry (signed tables: the 16-bit
/// two's-complement pattern); fails on a product that does not fit.
pub fn to_bin(lut: &Lut) -> Result<Vec<u8>, LutIoError> {
    Ok(as_u16(lut, "u16")?.iter().flat_map(|v| v.to_le_bytes()).collect())
}

pub use crate::util::npy::{f32_file as npy_f32, header as npy_header};

/// NumPy v1.0 file of the table.
pub fn to_npy(lut: &Lut, u2: bool) -> Result<Vec<u8>, LutIoError> {
    let descr = if u2 { "<u2" } else { "<i4" };
    let mut out = npy_header(descr, &[1usize << lut.row_bits, 1usize << lut.col_bits]);
    if u2 {
        out.extend(as_u16(lut, "<u2")?.iter().flat_map(|v| v.to_le_bytes()));
    } else {
        out.extend(lut.table.iter().flat_map(|v| v.to_le_bytes()));
    }
    Ok(out)
}

/// The table as CSV: a `row,col,product` header line, then one line per entry in table order.
pub fn to_csv(lut: &Lut) -> String {
    let mut s = String::with_capacity(lut.len() * 12);
    s.push_str("row,col,product\n");
    let cmask = (1usize << lut.col_bits) - 1;
    for (i, v) in lut.table.iter().enumerate() {
        let _ = writeln!(s, "{},{},{}", i >> lut.col_bits, i & cmask, v);
    }
    s
}

/// A C header `const intXX_t <name>_lut[rows][cols]`, int16_t when every entry fits.
pub fn to_c_header(lut: &Lut) -> String {
    let ident: String = lut.name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let fits16 = lut.table.iter().all(|&v| (i16::MIN as i32..=i16::MAX as i32).contains(&v));
    let ty = if fits16 { "int16_t" } else { "int32_t" };
    let guard = format!("{}_LUT_H", ident.to_ascii_uppercase());
    let (rows, cols) = (1usize << lut.row_bits, 1usize << lut.col_bits);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "/* {}: {}x{} {} multiplier table generated by axdnn.",
        lut.name,
        lut.row_bits,
        lut.col_bits,
        if lut.signed { "signed" } else { "unsigned" }
    );
    let _ = writeln!(s, " * Entry [row][col]: row = operand on Verilog port {:?}, col = the other port;", lut.row_port);
    let _ = writeln!(s, " * indices are operand codes (two's-complement patterns for signed).");
    if let Some(p) = lut.power_mw {
        let _ = writeln!(s, " * PDK45 power {p} mW (published).");
    }
    let _ = writeln!(s, " */");
    let _ = writeln!(s, "#ifndef {guard}\n#define {guard}\n#include <stdint.h>");
    let _ = writeln!(s, "static const {ty} {ident}_lut[{rows}][{cols}] = {{");
    for r in 0..rows {
        s.push_str("  {");
        for (c, v) in lut.table[r * cols..(r + 1) * cols].iter().enumerate() {
            if c > 0 {
                s.push(',');
            }
            let _ = write!(s, "{v}");
        }
        s.push_str(if r + 1 < rows { "},\n" } else { "}\n" });
    }
    let _ = writeln!(s, "}};\n#endif");
    s
}

/// Serialize `lut` in `format` and write it atomically to `path`.
pub fn export(lut: &Lut, format: Format, path: &Path) -> Result<(), LutIoError> {
    let bytes = match format {
        Format::Bin => to_bin(lut)?,
        Format::Npy => to_npy(lut, false)?,
        Format::NpyU2 => to_npy(lut, true)?,
        Format::Csv => to_csv(lut).into_bytes(),
        Format::C => to_c_header(lut).into_bytes(),
    };
    write_atomic(path, &bytes)
}

fn fmt_err(path: &Path, msg: impl Into<String>) -> LutIoError {
    LutIoError::Format { path: path.to_path_buf(), msg: msg.into() }
}

/// A TFApprox `.bin`: `2^(row_bits+col_bits)` u16 little-endian entries, row-major.
pub fn raw_bin(path: &Path, row_bits: u32, col_bits: u32) -> Result<RawTable, LutIoError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let want = 2usize << (row_bits + col_bits);
    if bytes.len() != want {
        return Err(LutIoError::Shape {
            path: path.into(),
            found: format!("{} bytes", bytes.len()),
            expected: format!("{want} bytes (2^{row_bits} x 2^{col_bits} u16 little-endian)"),
        });
    }
    let values = bytes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]]) as i64).collect();
    Ok(RawTable { row_bits, col_bits, values, patterns16: true, header: HeaderInfo::default() })
}

/// Read a TFApprox `.bin` of `2^(row_bits+col_bits)` u16 entries.
pub fn read_bin(path: &Path, meta: &ImportMeta) -> Result<Lut, LutIoError> {
    raw_bin(path, meta.row_bits, meta.col_bits)?.into_lut(path, &meta.name, meta.signed, meta.row_port)
}

fn log2_exact(n: u64) -> Option<u32> {
    (n.is_power_of_two()).then(|| n.trailing_zeros())
}

/// A 2-D NumPy array (`<i4`, `<u2`, `<i2` or `<i8`, C order) of shape `(2^R, 2^C)`.
pub fn raw_npy(path: &Path) -> Result<RawTable, LutIoError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let npy = crate::util::npy::parse(&bytes).map_err(|e| fmt_err(path, e))?;
    let descr = npy.descr.as_str();
    let dims: Vec<u64> = npy.shape.iter().map(|&d| d as u64).collect();
    // As NumPy writes it: `(65536,)`, `(256, 256)`.
    let shape_txt = match &npy.shape[..] {
        [d] => format!("{d},"),
        s => s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
    };
    let shape_err = || LutIoError::Shape {
        path: path.into(),
        found: format!("shape ({shape_txt})"),
        expected: "a 2-D array of shape (2^R, 2^C)".into(),
    };
    let [rows, cols] = dims[..] else { return Err(shape_err()) };
    let (Some(rb), Some(cb)) = (log2_exact(rows), log2_exact(cols)) else { return Err(shape_err()) };
    if rb + cb > 24 {
        return Err(shape_err());
    }
    let data = &npy.data[..];
    let n = (rows * cols) as usize;
    let (size, conv): (usize, fn(&[u8]) -> i64) = match descr {
        "<i4" => (4, |b| i32::from_le_bytes(b.try_into().unwrap()) as i64),
        "<u2" => (2, |b| u16::from_le_bytes(b.try_into().unwrap()) as i64),
        "<i2" => (2, |b| i16::from_le_bytes(b.try_into().unwrap()) as i64),
        "<i8" => (8, |b| i64::from_le_bytes(b.try_into().unwrap())),
        d => {
            return Err(LutIoError::Dtype {
                path: path.into(),
                found: format!("{d:?}"),
                supported: "<i2, <i4, <i8 or <u2",
            })
        }
    };
    if data.len() != n * size {
        return Err(LutIoError::Shape {
            path: path.into(),
            found: format!("{} data bytes", data.len()),
            expected: format!("{} for shape ({rows}, {cols}) of {descr}", n * size),
        });
    }
    let values = data.chunks_exact(size).map(conv).collect();
    Ok(RawTable { row_bits: rb, col_bits: cb, values, patterns16: descr == "<u2", header: HeaderInfo::default() })
}

/// Read a 2-D NumPy array (`<i4`, `<u2`, `<i2` or `<i8`, C order) of shape `(2^R, 2^C)`.
pub fn read_npy(path: &Path, meta: &ImportMeta) -> Result<Lut, LutIoError> {
    raw_npy(path)?.into_lut(path, &meta.name, meta.signed, meta.row_port)
}

/// Read an AdaPT-style C header `TYPE NAME[2^R][2^C] = {{..},..};` (as [`to_c_header`] writes).
pub fn read_c_header(path: &Path, meta: &ImportMeta) -> Result<Lut, LutIoError> {
    raw_c_header(path)?.into_lut(path, &meta.name, meta.signed, meta.row_port)
}

/// `row,col,product` CSV (header line required); every pair must appear exactly once.
pub fn raw_csv(path: &Path) -> Result<RawTable, LutIoError> {
    let mut rdr = csv::ReaderBuilder::new().from_path(path).map_err(|e| fmt_err(path, e.to_string()))?;
    let headers = rdr.headers().map_err(|e| fmt_err(path, e.to_string()))?.clone();
    if headers.iter().map(str::trim).collect::<Vec<_>>() != ["row", "col", "product"] {
        return Err(LutIoError::Record { path: path.into(), line: 1, msg: "header must be row,col,product".into() });
    }
    let mut entries = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| fmt_err(path, e.to_string()))?;
        let line = rec.position().map_or(0, |p| p.line());
        let rerr = |msg: String| LutIoError::Record { path: path.into(), line, msg };
        if rec.len() != 3 {
            return Err(rerr(format!("{} fields, expected 3", rec.len())));
        }
        let num = |i: usize| {
            rec[i].trim().parse::<i64>().map_err(|_| rerr(format!("field {} ({:?}) is not an integer", i + 1, &rec[i])))
        };
        let (r, c, p) = (num(0)?, num(1)?, num(2)?);
        if r < 0 || c < 0 || r >= 1 << 20 || c >= 1 << 20 {
            return Err(rerr(format!("operand out of range: row {r}, col {c}")));
        }
        entries.push((r as u64, c as u64, p, line));
    }
    let rows = entries.iter().map(|e| e.0).max().unwrap_or(0) + 1;
    let cols = entries.iter().map(|e| e.1).max().unwrap_or(0) + 1;
    let rb = 64 - (rows - 1).leading_zeros();
    let cb = 64 - (cols - 1).leading_zeros();
    if rb + cb > 24 {
        return Err(fmt_err(path, format!("table {rows}x{cols} too large")));
    }
    let n = 1usize << (rb + cb);
    if entries.len() != n {
        return Err(fmt_err(path, format!("{} records, expected {n} for a 2^{rb} x 2^{cb} table", entries.len())));
    }
    let mut table = vec![0i64; n];
    let mut seen = vec![false; n];
    for (r, c, p, line) in entries {
        let i = ((r as usize) << cb) | c as usize;
        if std::mem::replace(&mut seen[i], true) {
            return Err(LutIoError::Record { path: path.into(), line, msg: format!("duplicate pair ({r}, {c})") });
        }
        table[i] = p;
    }
    Ok(RawTable { row_bits: rb, col_bits: cb, values: table, patterns16: false, header: HeaderInfo::default() })
}

/// Read a CSV table (every pair once) as a table with `meta`'s name, signedness and row port.
pub fn read_csv(path: &Path, meta: &ImportMeta) -> Result<Lut, LutIoError> {
    raw_csv(path)?.into_lut(path, &meta.name, meta.signed, meta.row_port)
}

/// The extensions [`raw_table`] reads.
pub const TABLE_EXTENSIONS: [&str; 4] = ["bin", "npy", "h", "csv"];

/// Read a table by extension: `.bin` (of `bin_bits` = (row, col) operand widths), `.npy`, `.h`
/// or `.csv`.
pub fn raw_table(path: &Path, bin_bits: (u32, u32)) -> Result<RawTable, LutIoError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("bin") => raw_bin(path, bin_bits.0, bin_bits.1),
        Some("npy") => raw_npy(path),
        Some("h") => raw_c_header(path),
        Some("csv") => raw_csv(path),
        other => Err(fmt_err(path, format!("unknown LUT file extension {other:?} (want bin, npy, h or csv)"))),
    }
}

/// Read a table by extension (see [`raw_table`]) with the signedness `meta` states.
pub fn import(path: &Path, meta: &ImportMeta) -> Result<Lut, LutIoError> {
    raw_table(path, (meta.row_bits, meta.col_bits))?.into_lut(path, &meta.name, meta.signed, meta.row_port)
}
