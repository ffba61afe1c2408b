//! Reading the testbench dump (`CYCLE COLUMN SUM_HEX` per line) and comparing it with the
//! cycle-stepped model: every sum bit for bit, every output on the model's cycle, the last one on
//! `accel::array`'s last busy cycle.

use super::emit::Geometry;
use super::schedule::{Fold, OsFold};
use super::RtlError;
use crate::accel::array::{ArrayRun, Roles};
use crate::accel::fast::GemmOperands;
use crate::accel::timing::Dataflow;
use std::path::Path;

/// One dump line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DumpEntry {
    /// The dump line, 1-based.
    pub line: u64,
    /// The cycle the output appeared on.
    pub cycle: u64,
    /// Array row (OS dumps; 0 in WS dumps, whose outputs leave at the bottom edge).
    pub row: usize,
    /// Array column.
    pub col: usize,
    /// The (partial) sum written, as its 32-bit pattern.
    pub value: u32,
}

/// Parse a WS dump (`CYCLE COLUMN SUM_HEX`; `row` is 0).
pub fn parse_dump(text: &str, path: &Path) -> Result<Vec<DumpEntry>, RtlError> {
    parse(text, path, false)
}

/// Parse an OS dump (`CYCLE ROW COLUMN SUM_HEX`).
pub fn parse_dump_os(text: &str, path: &Path) -> Result<Vec<DumpEntry>, RtlError> {
    parse(text, path, true)
}

fn parse(text: &str, path: &Path, with_row: bool) -> Result<Vec<DumpEntry>, RtlError> {
    let mut out = Vec::new();
    let form = if with_row { "CYCLE ROW COLUMN SUM_HEX" } else { "CYCLE COLUMN SUM_HEX" };
    for (i, l) in text.lines().enumerate() {
        let line = i as u64 + 1;
        let bad = |msg: String| RtlError::Dump { path: path.into(), line, msg };
        if l.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() != 3 + with_row as usize {
            return Err(bad(format!("expected '{form}', got {l:?}")));
        }
        let cycle = f[0].parse().map_err(|_| bad(format!("bad cycle {:?}", f[0])))?;
        let row = if with_row { f[1].parse().map_err(|_| bad(format!("bad row {:?}", f[1])))? } else { 0 };
        let (fc, fv) = (f[f.len() - 2], f[f.len() - 1]);
        let col = fc.parse().map_err(|_| bad(format!("bad column {fc:?}")))?;
        let value = u32::from_str_radix(fv, 16).map_err(|_| bad(format!("sum {fv:?} is not hex (x/z bits?)")))?;
        out.push(DumpEntry { line, cycle, row, col, value });
    }
    Ok(out)
}

/// What matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosimCheck {
    /// Dump lines (partial sums written, over all folds).
    pub outputs: usize,
    /// Final sums compared (npix × nf), all equal to both references.
    pub sums: usize,
    /// Folds of the schedule.
    pub folds: usize,
    /// Cycle of the RTL's last output and `accel::array`'s last busy cycle (equal).
    pub last_output_cycle: u64,
    /// `accel::array`'s last busy cycle.
    pub model_last_busy_cycle: u64,
    /// The RTL's sums (`npix × nf`, pixel-major), equal to both references.
    pub values: Vec<i32>,
}

/// Compare a WS dump with the model run (`array`) and the fast engine's sums (`fast`).
pub fn check(
    entries: &[DumpEntry],
    path: &Path,
    g: Geometry,
    folds: &[Fold],
    ops: &GemmOperands,
    array: &ArrayRun,
    fast: &[i32],
) -> Result<CosimCheck, RtlError> {
    check_stationary(entries, path, g, folds, ops, Dataflow::Ws, array, fast)
}

/// Compare a WS or IS dump (`CYCLE COLUMN SUM_HEX`): column `c` of a fold writes its `T`
/// partial sums (WS: one per pixel, IS: one per filter) on cycles `output_cycle(t)`, in order.
#[allow(clippy::too_many_arguments)]
pub fn check_stationary(
    entries: &[DumpEntry],
    path: &Path,
    g: Geometry,
    folds: &[Fold],
    ops: &GemmOperands,
    df: Dataflow,
    array: &ArrayRun,
    fast: &[i32],
) -> Result<CosimCheck, RtlError> {
    let roles = Roles::new(*ops, df);
    let (npix, nf, t_n) = (ops.npix, ops.nf, roles.t_len());
    let mut sums = vec![0i32; npix * nf];
    // Dump lines that contributed to each sum (named in a mismatch).
    let mut src_lines = vec![Vec::new(); npix * nf];
    let mut count = vec![vec![0usize; g.cols]; folds.len()];
    let mut last: Option<&DumpEntry> = None;
    for e in entries {
        let bad = |msg: String| RtlError::Dump { path: path.into(), line: e.line, msg };
        let fi = folds.iter().position(|f| (f.base..f.base + f.len).contains(&e.cycle)).ok_or_else(|| {
            bad(format!(
                "output on cycle {} after the last fold (ends {})",
                e.cycle,
                folds.last().map_or(0, |f| f.base + f.len)
            ))
        })?;
        let f = &folds[fi];
        if e.col >= f.c_used {
            return Err(bad(format!("output on column {} of fold {fi}, which uses {} columns", e.col, f.c_used)));
        }
        let t = count[fi][e.col];
        if t >= t_n {
            return Err(bad(format!("more than {t_n} outputs on column {} in fold {fi}", e.col)));
        }
        count[fi][e.col] += 1;
        let i = roles.out_index(t, f.o0 + e.col);
        let want = f.output_cycle(g, t);
        if e.cycle != want {
            return Err(RtlError::CycleMismatch {
                path: path.into(),
                line: e.line,
                pixel: i / nf,
                output: i % nf,
                got: e.cycle,
                want,
            });
        }
        sums[i] = sums[i].wrapping_add(e.value as i32);
        src_lines[i].push(e.line);
        if last.is_none_or(|l| e.cycle >= l.cycle) {
            last = Some(e);
        }
    }
    for (fi, f) in folds.iter().enumerate() {
        for (c, &n) in count[fi].iter().enumerate().take(f.c_used) {
            if n != t_n {
                return Err(RtlError::Missing {
                    path: path.into(),
                    msg: format!(
                        "fold {fi} (k0 {}, column 0 = {} {}), column {c}: {n} outputs, expected {t_n}",
                        f.k0,
                        if roles.is { "pixel" } else { "output" },
                        f.o0
                    ),
                });
            }
        }
    }
    finish(entries, path, &sums, &src_lines, nf, folds.len(), last, array, fast)
}

/// Sums against both references, then the last output cycle against the model's.
#[allow(clippy::too_many_arguments)]
fn finish(
    entries: &[DumpEntry],
    path: &Path,
    sums: &[i32],
    src_lines: &[Vec<u64>],
    nf: usize,
    folds: usize,
    last: Option<&DumpEntry>,
    array: &ArrayRun,
    fast: &[i32],
) -> Result<CosimCheck, RtlError> {
    for (reference, want) in [("accel::array", &array.sums[..]), ("accel::fast::gemm", fast)] {
        for (i, (&got, &w)) in sums.iter().zip(want).enumerate() {
            if got != w {
                let lines = src_lines[i].clone();
                return Err(RtlError::SumMismatch {
                    path: path.into(),
                    line: lines[0],
                    lines,
                    pixel: i / nf,
                    output: i % nf,
                    got,
                    want: w,
                    reference,
                });
            }
        }
    }
    let last = last.ok_or_else(|| RtlError::Missing { path: path.into(), msg: "no outputs".into() })?;
    if last.cycle != array.last_busy_cycle {
        return Err(RtlError::LastCycle {
            path: path.into(),
            line: last.line,
            got: last.cycle,
            want: array.last_busy_cycle,
        });
    }
    Ok(CosimCheck {
        outputs: entries.len(),
        sums: sums.len(),
        folds,
        last_output_cycle: last.cycle,
        model_last_busy_cycle: array.last_busy_cycle,
        values: sums.to_vec(),
    })
}

/// Compare an OS dump with the model run and the fast engine's sums: each used PE of each fold
/// writes exactly one output, on the fold's output cycle ([`OsFold::output_cycle`]).
pub fn check_os(
    entries: &[DumpEntry],
    path: &Path,
    g: Geometry,
    folds: &[OsFold],
    ops: &GemmOperands,
    array: &ArrayRun,
    fast: &[i32],
) -> Result<CosimCheck, RtlError> {
    let (npix, nf) = (ops.npix, ops.nf);
    let mut sums = vec![0i32; npix * nf];
    let mut src_lines = vec![Vec::new(); npix * nf];
    let mut seen = vec![vec![false; g.rows * g.cols]; folds.len()];
    let mut last: Option<&DumpEntry> = None;
    for e in entries {
        let bad = |msg: String| RtlError::Dump { path: path.into(), line: e.line, msg };
        let fi = folds.iter().position(|f| (f.base..f.base + f.len).contains(&e.cycle)).ok_or_else(|| {
            bad(format!(
                "output on cycle {} after the last fold (ends {})",
                e.cycle,
                folds.last().map_or(0, |f| f.base + f.len)
            ))
        })?;
        let f = &folds[fi];
        if e.row >= f.r_used || e.col >= f.c_used {
            return Err(bad(format!(
                "output of PE ({}, {}) in fold {fi}, which uses {}x{} PEs",
                e.row, e.col, f.r_used, f.c_used
            )));
        }
        let s = &mut seen[fi][e.row * g.cols + e.col];
        if *s {
            return Err(bad(format!("second output of PE ({}, {}) in fold {fi}", e.row, e.col)));
        }
        *s = true;
        let (p, o) = (f.p0 + e.row, f.o0 + e.col);
        let want = f.output_cycle(g, ops.k);
        if e.cycle != want {
            return Err(RtlError::CycleMismatch {
                path: path.into(),
                line: e.line,
                pixel: p,
                output: o,
                got: e.cycle,
                want,
            });
        }
        sums[p * nf + o] = e.value as i32;
        src_lines[p * nf + o].push(e.line);
        if last.is_none_or(|l| e.cycle >= l.cycle) {
            last = Some(e);
        }
    }
    for (fi, f) in folds.iter().enumerate() {
        for r in 0..f.r_used {
            for c in 0..f.c_used {
                if !seen[fi][r * g.cols + c] {
                    return Err(RtlError::Missing {
                        path: path.into(),
                        msg: format!(
                            "fold {fi} (p0 {}, o0 {}): no output of PE ({r}, {c}) (pixel {}, output {})",
                            f.p0,
                            f.o0,
                            f.p0 + r,
                            f.o0 + c
                        ),
                    });
                }
            }
        }
    }
    finish(entries, path, &sums, &src_lines, nf, folds.len(), last, array, fast)
}
