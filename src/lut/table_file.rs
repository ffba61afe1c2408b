//! A LUT file used as a multiplier (`--multiplier FILE.bin|.npy|.h|.csv`): the format by
//! extension, the signedness stated (`FILE:signed` / `FILE:unsigned`), read from the file's own
//! header, taken from its name (`mul8s_*` / `mul8u_*`) or inferred from its entries — and checked
//! against the entries whichever way it was decided, so a signed table is never read as unsigned.
//!
//! What a file cannot carry is lost: `.bin` and `.npy` have no signedness (decided as above) and
//! no power (energy is then unknown); only axdnn's C header states both. The row operand is the
//! activation (TFApprox's and axdnn's convention); nothing in any format says otherwise.

use super::io::{self, LutIoError, RawTable};
use super::Lut;
use crate::sim::{code_value, signed_from_name, RowPort};
use std::fmt;
use std::path::{Path, PathBuf};

/// How the signedness of a table file was decided.
#[derive(Debug, Clone, PartialEq)]
pub enum SignedBy {
    /// `FILE:signed` / `FILE:unsigned`.
    Stated,
    /// The file's header comment (axdnn's C header).
    Header,
    /// The file name (`mul8s_*` / `mul8u_*`).
    Name,
    /// Entry `index` is negative: only a signed multiplier's products are.
    NegativeEntry {
        /// The first negative entry's flat index (`row << col_bits | col`).
        index: usize,
        /// Its value.
        value: i64,
    },
    /// No entry is negative (for 16-bit patterns: none has the sign bit).
    NoNegativeEntry,
    /// 16-bit patterns: the table's mean absolute distance to the exact unsigned and the exact
    /// signed product decides (an approximate multiplier is close to its exact one).
    NearestExact {
        /// Mean absolute distance to the exact unsigned product.
        mae_unsigned: f64,
        /// Mean absolute distance to the exact signed product.
        mae_signed: f64,
    },
}

impl fmt::Display for SignedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignedBy::Stated => write!(f, "as stated"),
            SignedBy::Header => write!(f, "as its header states"),
            SignedBy::Name => write!(f, "from its file name"),
            SignedBy::NegativeEntry { index, value } => write!(f, "inferred: entry {index} is {value}"),
            SignedBy::NoNegativeEntry => write!(f, "inferred: no entry is negative"),
            SignedBy::NearestExact { mae_unsigned, mae_signed } => write!(
                f,
                "inferred: mean distance {mae_unsigned:.1} to the exact unsigned product, {mae_signed:.1} to the exact signed one"
            ),
        }
    }
}

/// A table file read as a multiplier.
#[derive(Debug, Clone)]
pub struct TableFile {
    /// The file read.
    pub path: PathBuf,
    /// Its table, with the signedness decided.
    pub lut: Lut,
    /// How the signedness was decided.
    pub signed_by: SignedBy,
}

/// Split `FILE:signed` / `FILE:unsigned` into the file and the stated signedness; `None` when
/// `spec` does not name a table file (by extension).
pub fn parse_spec(spec: &str) -> Option<(PathBuf, Option<bool>)> {
    let (file, stated) = if let Some(f) = spec.strip_suffix(":signed") {
        (f, Some(true))
    } else if let Some(f) = spec.strip_suffix(":unsigned") {
        (f, Some(false))
    } else {
        (spec, None)
    };
    let p = Path::new(file);
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| io::TABLE_EXTENSIONS.contains(&e))
        .then(|| (p.to_path_buf(), stated))
}

/// What the entries say.
fn evidence(raw: &RawTable) -> SignedBy {
    // 16-bit patterns without the sign bit read as no negative product either way (e.g. the
    // near-zero table of mul8u_E9R, which is nearer the signed exact product than the unsigned).
    if raw.patterns16 && raw.values.iter().any(|&v| v >= 0x8000) {
        let (rb, cb) = (raw.row_bits, raw.col_bits);
        let n = raw.values.len() as f64;
        let mae = |signed: bool| -> f64 {
            (0..raw.values.len())
                .map(|i| {
                    let (r, c) = raw.pair(i);
                    let exact = code_value(r, rb, signed) * code_value(c, cb, signed);
                    (raw.product(i, signed) - exact).abs() as f64
                })
                .sum::<f64>()
                / n
        };
        return SignedBy::NearestExact { mae_unsigned: mae(false), mae_signed: mae(true) };
    }
    match raw.values.iter().position(|&v| v < 0) {
        Some(index) => SignedBy::NegativeEntry { index, value: raw.values[index] },
        None => SignedBy::NoNegativeEntry,
    }
}

/// One interpretation is decisively nearer when the other is at least this many times as far.
const DECISIVE: f64 = 2.0;

fn word(signed: bool) -> &'static str {
    if signed {
        "signed"
    } else {
        "unsigned"
    }
}

/// Decide the signedness (`stated`, else header, else name, else entries) and check it against
/// the entries.
fn decide(path: &Path, raw: &RawTable, stated: Option<bool>) -> Result<(bool, SignedBy), LutIoError> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let claim = stated
        .map(|s| (s, SignedBy::Stated))
        .or_else(|| raw.header.signed.map(|s| (s, SignedBy::Header)))
        .or_else(|| {
            signed_from_name(stem)
                .or_else(|| raw.header.name.as_deref().and_then(signed_from_name))
                .map(|s| (s, SignedBy::Name))
        });
    let ev = evidence(raw);
    let conflict = |msg: String| LutIoError::Signedness { path: path.into(), msg };
    let (signed, by) = match (claim, &ev) {
        (Some((s, by)), _) => (s, by),
        (None, SignedBy::NearestExact { mae_unsigned: u, mae_signed: s }) => {
            if *s * DECISIVE <= *u {
                (true, ev.clone())
            } else if *u * DECISIVE <= *s {
                (false, ev.clone())
            } else {
                return Err(conflict(format!(
                    "cannot tell whether the table is signed ({ev}); name the file mul8s_*/mul8u_* or append :signed / :unsigned"
                )));
            }
        }
        (None, SignedBy::NegativeEntry { .. }) => (true, ev.clone()),
        (None, _) => (false, ev.clone()),
    };
    // The entries must not contradict a claim.
    match ev {
        SignedBy::NegativeEntry { index, value } if !signed => {
            let (r, c) = raw.pair(index);
            Err(conflict(format!("unsigned ({by}), but entry (row {r}, col {c}) is {value}: an unsigned multiplier's products are never negative")))
        }
        SignedBy::NoNegativeEntry if signed => {
            Err(conflict(format!("signed ({by}), but no entry is negative: a signed multiplier's are (e.g. -1 x 1)")))
        }
        SignedBy::NearestExact { mae_unsigned, mae_signed } => {
            let (this, other) = if signed { (mae_signed, mae_unsigned) } else { (mae_unsigned, mae_signed) };
            if other * DECISIVE <= this {
                Err(conflict(format!(
                    "{} ({by}), but its entries are far nearer the exact {} product (mean distance {this:.1} as {}, {other:.1} as {})",
                    word(signed), word(!signed), word(signed), word(!signed)
                )))
            } else {
                Ok((signed, by))
            }
        }
        _ => Ok((signed, by)),
    }
}

/// Read a table file as a multiplier. `.bin` is 8x8 (TFApprox); other formats give their shape.
/// The name is the header's, else the file stem.
pub fn open(path: &Path, stated: Option<bool>) -> Result<TableFile, LutIoError> {
    let raw = io::raw_table(path, (8, 8))?;
    let (signed, signed_by) = decide(path, &raw, stated)?;
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = raw.header.name.clone().unwrap_or(stem);
    let lut = raw.into_lut(path, &name, signed, RowPort::B)?;
    Ok(TableFile { path: path.into(), lut, signed_by })
}
