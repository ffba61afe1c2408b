//! Reading the testbench dump (`CYCLE COLUMN SUM_HEX` or, when sums stay in the PEs,
//! `CYCLE ROW COLUMN SUM_HEX` per line) and comparing it with the cycle-stepped model: every sum
//! bit for bit, every output on the model's cycle, the last one on `accel::array`'s last busy
//! cycle.

use super::schedule::Fold;
use super::RtlError;
use crate::accel::array::ArrayRun;
use crate::accel::fast::GemmOperands;
use crate::accel::flow::{Flow, Sums};
use crate::accel::timing::Dataflow;
use std::path::Path;

/// One dump line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DumpEntry {
    /// The dump line, 1-based.
    pub line: u64,
    /// The cycle the output appeared on.
    pub cycle: u64,
    /// Array row (OS dumps; 0 in WS and IS dumps, whose outputs leave at the bottom edge).
    pub row: usize,
    /// Array column.
    pub col: usize,
    /// The (partial) sum written, as its 32-bit pattern.
    pub value: u32,
}

/// Parse the dump of a `df` testbench: `CYCLE COLUMN SUM_HEX` (WS, IS; `row` is 0) or
/// `CYCLE ROW COLUMN SUM_HEX` (OS).
pub fn parse_dump(text: &str, path: &Path, df: Dataflow) -> Result<Vec<DumpEntry>, RtlError> {
    let with_row = Flow::of(df).sums == Sums::InPlace;
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

/// Compare a `df` dump with the model run (`array`) and the fast engine's sums (`fast`). Each
/// output port of a fold ([`Flow::ports`]: a column's bottom end in WS/IS, a PE in OS) writes
/// [`Flow::outputs_per_port`] outputs, the `n`-th on [`Fold::output_cycle`]; the `n`-th of a
/// column carries streamed index `n` (WS: pixel, IS: filter). Partial sums of successive
/// reduction folds add up.
pub fn check(
    entries: &[DumpEntry],
    path: &Path,
    df: Dataflow,
    folds: &[Fold],
    ops: &GemmOperands,
    array: &ArrayRun,
    fast: &[i32],
) -> Result<CosimCheck, RtlError> {
    let flow = Flow::of(df);
    let (npix, nf, per_port) = (ops.npix, ops.nf, flow.outputs_per_port(ops));
    let port = |r: usize, c: usize| match flow.sums {
        Sums::PassDown => format!("column {c}"),
        Sums::InPlace => format!("PE ({r}, {c})"),
    };
    let mut sums = vec![0i32; npix * nf];
    // Dump lines that contributed to each sum (named in a mismatch).
    let mut src_lines = vec![Vec::new(); npix * nf];
    let mut count: Vec<Vec<usize>> = folds
        .iter()
        .map(|f| {
            let (pr, pc) = flow.ports(f.at);
            vec![0; pr * pc]
        })
        .collect();
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
        let (pr, pc) = flow.ports(f.at);
        if e.row >= pr || e.col >= pc {
            let used = match flow.sums {
                Sums::PassDown => format!("{pc} columns"),
                Sums::InPlace => format!("{pr}x{pc} PEs"),
            };
            return Err(bad(format!("output of {} in fold {fi}, which uses {used}", port(e.row, e.col))));
        }
        let n = &mut count[fi][e.row * pc + e.col];
        if *n >= per_port {
            return Err(bad(format!("more than {per_port} output(s) of {} in fold {fi}", port(e.row, e.col))));
        }
        let i = flow.out_index(ops, f.at, e.row, e.col, *n);
        let want = f.output_cycle(*n, per_port);
        *n += 1;
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
        let (_, pc) = flow.ports(f.at);
        for (j, &n) in count[fi].iter().enumerate() {
            if n != per_port {
                return Err(RtlError::Missing {
                    path: path.into(),
                    msg: format!(
                        "fold {fi} ({} {}, {} {} on row and column 0), {}: {n} outputs, expected {per_port}",
                        flow.rows.noun(),
                        f.at.row0,
                        flow.cols.noun(),
                        f.at.col0,
                        port(j / pc, j % pc)
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
