//! Reading the testbench dump (`CYCLE COLUMN SUM_HEX` per line) and comparing it with the
//! cycle-stepped model: every sum bit for bit, every output on the model's cycle, the last one on
//! `accel::array`'s last busy cycle.

use super::emit::Geometry;
use super::schedule::Fold;
use super::RtlError;
use crate::accel::array::ArrayRun;
use crate::accel::fast::GemmOperands;
use std::path::Path;

/// One dump line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DumpEntry {
    pub line: u64,
    pub cycle: u64,
    pub col: usize,
    pub value: u32,
}

pub fn parse_dump(text: &str, path: &Path) -> Result<Vec<DumpEntry>, RtlError> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let line = i as u64 + 1;
        let bad = |msg: String| RtlError::Dump { path: path.into(), line, msg };
        if l.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() != 3 {
            return Err(bad(format!("expected 'CYCLE COLUMN SUM_HEX', got {l:?}")));
        }
        let cycle = f[0].parse().map_err(|_| bad(format!("bad cycle {:?}", f[0])))?;
        let col = f[1].parse().map_err(|_| bad(format!("bad column {:?}", f[1])))?;
        let value = u32::from_str_radix(f[2], 16).map_err(|_| bad(format!("sum {:?} is not hex (x/z bits?)", f[2])))?;
        out.push(DumpEntry { line, cycle, col, value });
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
    pub folds: usize,
    /// Cycle of the RTL's last output and `accel::array`'s last busy cycle (equal).
    pub last_output_cycle: u64,
    pub model_last_busy_cycle: u64,
}

/// Compare a dump with the model run (`array`) and the fast engine's sums (`fast`).
pub fn check(
    entries: &[DumpEntry],
    path: &Path,
    g: Geometry,
    folds: &[Fold],
    ops: &GemmOperands,
    array: &ArrayRun,
    fast: &[i32],
) -> Result<CosimCheck, RtlError> {
    let (npix, nf) = (ops.npix, ops.nf);
    let mut sums = vec![0i32; npix * nf];
    // Dump lines that contributed to each sum (named in a mismatch).
    let mut src_lines = vec![Vec::new(); npix * nf];
    let mut count = vec![vec![0usize; g.cols]; folds.len()];
    let mut last: Option<&DumpEntry> = None;
    for e in entries {
        let bad = |msg: String| RtlError::Dump { path: path.into(), line: e.line, msg };
        let fi = folds
            .iter()
            .position(|f| (f.base..f.base + f.len).contains(&e.cycle))
            .ok_or_else(|| bad(format!("output on cycle {} after the last fold (ends {})", e.cycle, folds.last().map_or(0, |f| f.base + f.len))))?;
        let f = &folds[fi];
        if e.col >= f.c_used {
            return Err(bad(format!("output on column {} of fold {fi}, which uses {} columns", e.col, f.c_used)));
        }
        let t = count[fi][e.col];
        if t >= npix {
            return Err(bad(format!("more than {npix} outputs on column {} in fold {fi}", e.col)));
        }
        count[fi][e.col] += 1;
        let o = f.o0 + e.col;
        let want = f.output_cycle(g, t);
        if e.cycle != want {
            return Err(RtlError::CycleMismatch { path: path.into(), line: e.line, pixel: t, output: o, got: e.cycle, want });
        }
        let s = &mut sums[t * nf + o];
        *s = s.wrapping_add(e.value as i32);
        src_lines[t * nf + o].push(e.line);
        if last.is_none_or(|l| e.cycle >= l.cycle) {
            last = Some(e);
        }
    }
    for (fi, f) in folds.iter().enumerate() {
        for (c, &n) in count[fi].iter().enumerate().take(f.c_used) {
            if n != npix {
                return Err(RtlError::Missing {
                    path: path.into(),
                    msg: format!("fold {fi} (k0 {}, o0 {}), column {c}: {n} outputs, expected {npix}", f.k0, f.o0),
                });
            }
        }
    }
    for (reference, want) in [("accel::array", &array.sums[..]), ("accel::fast::gemm", fast)] {
        for (i, (&got, &w)) in sums.iter().zip(want).enumerate() {
            if got != w {
                let lines = src_lines[i].clone();
                return Err(RtlError::SumMismatch { path: path.into(), line: lines[0], lines, pixel: i / nf, output: i % nf, got, want: w, reference });
            }
        }
    }
    let last = last.ok_or_else(|| RtlError::Missing { path: path.into(), msg: "no outputs".into() })?;
    if last.cycle != array.last_busy_cycle {
        return Err(RtlError::LastCycle { path: path.into(), line: last.line, got: last.cycle, want: array.last_busy_cycle });
    }
    Ok(CosimCheck {
        outputs: entries.len(),
        sums: sums.len(),
        folds: folds.len(),
        last_output_cycle: last.cycle,
        model_last_busy_cycle: array.last_busy_cycle,
    })
}
