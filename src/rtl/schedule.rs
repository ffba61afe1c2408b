//! The stimulus of a GEMM: per cycle, what enters the array's edges (OS: [`os_folds`],
//! [`os_stimulus`]; WS and IS below). The WS/IS feeds are those of `accel::array`'s stationary
//! fold (the stationary operand shifts in from the top during local cycles `0..R`, streamed
//! element `t` of array row `r` enters the left edge at `R + t + r`); folds follow each other
//! every `timing::cycles_per_fold` cycles (SCALE-Sim closed form), in the model's fold order.

use super::emit::Geometry;
use crate::accel::array::Roles;
use crate::accel::fast::GemmOperands;
use crate::accel::timing::{cycles_per_fold, ArrayShape, Dataflow, GemmShape, SramCounts};

/// One WS/IS fold of the schedule: reduction rows `k0..k0+r_used`, array columns
/// `o0..o0+c_used` (output channels in WS, pixels in IS), global cycles `base..base+len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fold {
    /// First reduction row of the fold.
    pub k0: usize,
    /// First stationary column (output channel in WS, pixel in IS).
    pub o0: usize,
    /// Array rows used.
    pub r_used: usize,
    /// Array columns used.
    pub c_used: usize,
    /// Global cycle the fold starts on.
    pub base: u64,
    /// Cycles the fold lasts.
    pub len: u64,
}

impl Fold {
    /// Cycle on which the model writes streamed row `t` (WS: pixel, IS: filter) of this fold:
    /// `base + 2R + C + t − 2` (the last one, `t = T − 1`, is `base + len − 1`).
    pub fn output_cycle(&self, g: Geometry, t: usize) -> u64 {
        self.base + (2 * g.rows + g.cols + t) as u64 - 2
    }
}

/// WS folds in the order `accel::array::run` executes them (k outer, output channels inner).
pub fn folds(ops: &GemmOperands, g: Geometry) -> Vec<Fold> {
    stationary_folds(ops, g, Dataflow::Ws)
}

/// WS or IS folds in `accel::array::run`'s order (k outer, array columns inner).
pub fn stationary_folds(ops: &GemmOperands, g: Geometry, df: Dataflow) -> Vec<Fold> {
    let a = ArrayShape { rows: g.rows, cols: g.cols };
    let len = cycles_per_fold(GemmShape { npix: ops.npix, k: ops.k, nf: ops.nf }, df, a);
    let cols = Roles::new(*ops, df).cols();
    let mut out = Vec::new();
    let mut base = 0;
    for k0 in (0..ops.k).step_by(g.rows) {
        for o0 in (0..cols).step_by(g.cols) {
            out.push(Fold { k0, o0, r_used: (ops.k - k0).min(g.rows), c_used: (cols - o0).min(g.cols), base, len });
            base += len;
        }
    }
    out
}

/// The WS stimulus file: one hex word per cycle (layout in [`Geometry::stim_bits`]).
pub fn stimulus(ops: &GemmOperands, g: Geometry, folds: &[Fold]) -> String {
    stationary_stimulus(ops, g, folds, Dataflow::Ws)
}

/// The WS or IS stimulus (layouts in [`Geometry::stim_bits`], [`Geometry::stim_bits_is`]): the
/// stationary operand shifts down from the top during local cycles `0..R` (the top row receives
/// array row `R−1−τ`), streamed element `t` of array row `r` enters the left edge at
/// `R + t + r`. The weight's negation bit goes with the weight (top in WS, left in IS).
pub fn stationary_stimulus(ops: &GemmOperands, g: Geometry, folds: &[Fold], df: Dataflow) -> String {
    let roles = Roles::new(*ops, df);
    let (r_n, c_n) = (g.rows, g.cols);
    let sw = if roles.is { g.stim_bits_is() } else { g.stim_bits() };
    // Field offsets: left codes, left valid, [left neg], top codes, top valid, [top neg].
    let top = if roles.is { 10 * r_n } else { 9 * r_n };
    let mut reads = SramCounts::default(); // the model counts these; the stimulus need not
    let mut text = String::new();
    let mut bits = vec![false; sw];
    for f in folds {
        for tau in 0..f.len as usize {
            bits.iter_mut().for_each(|b| *b = false);
            if tau < r_n {
                bits[sw - 1] = true;
                let rr = r_n - 1 - tau;
                for c in 0..c_n {
                    if rr < f.r_used && c < f.c_used {
                        let (code, m) = roles.stationary(f.k0 + rr, f.o0 + c, &mut reads);
                        put(&mut bits, top + 8 * c, 8, code as u32);
                        bits[top + 8 * c_n + c] = true;
                        if !roles.is {
                            bits[top + 9 * c_n + c] = m != 0;
                        }
                    }
                }
            }
            for r in 0..f.r_used {
                let t = tau as i64 - r_n as i64 - r as i64;
                if t >= 0 && (t as usize) < roles.t_len() {
                    let (code, m) = roles.streamed(t as usize, f.k0 + r, &mut reads);
                    put(&mut bits, 8 * r, 8, code as u32);
                    bits[8 * r_n + r] = true;
                    if roles.is {
                        bits[9 * r_n + r] = m != 0;
                    }
                }
            }
            push_hex(&mut text, &bits);
        }
    }
    text
}

fn put(bits: &mut [bool], at: usize, width: usize, v: u32) {
    for i in 0..width {
        bits[at + i] = (v >> i) & 1 == 1;
    }
}

/// One stimulus line: hex, most significant nibble first.
fn push_hex(text: &mut String, bits: &[bool]) {
    for n in (0..bits.len().div_ceil(4)).rev() {
        let mut v = 0;
        for i in 0..4 {
            if bits.get(4 * n + i).copied().unwrap_or(false) {
                v |= 1 << i;
            }
        }
        text.push(char::from_digit(v, 16).unwrap());
    }
    text.push('\n');
}

/// One OS fold: pixels `p0..p0+r_used` on the array rows, output columns `o0..o0+c_used`, the
/// whole reduction streamed through; global cycles `base..base+len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsFold {
    /// First pixel of the fold (array row 0).
    pub p0: usize,
    /// First output channel of the fold (array column 0).
    pub o0: usize,
    /// Array rows used.
    pub r_used: usize,
    /// Array columns used.
    pub c_used: usize,
    /// Global cycle the fold starts on.
    pub base: u64,
    /// Cycles the fold lasts.
    pub len: u64,
}

impl OsFold {
    /// Cycle on which the model writes every output of this fold: `base + R + C + K − 3`, the
    /// fold's last cycle (`accel::array`'s OS fold lasts `R + C + K − 2` cycles).
    pub fn output_cycle(&self, g: Geometry, k: usize) -> u64 {
        self.base + (g.rows + g.cols + k) as u64 - 3
    }
}

/// OS folds in the order `accel::array::run` executes them (pixels outer, output channels
/// inner), each `timing::cycles_per_fold(.., Os, ..)` long.
pub fn os_folds(ops: &GemmOperands, g: Geometry) -> Vec<OsFold> {
    let a = ArrayShape { rows: g.rows, cols: g.cols };
    let len = cycles_per_fold(GemmShape { npix: ops.npix, k: ops.k, nf: ops.nf }, Dataflow::Os, a);
    let mut out = Vec::new();
    let mut base = 0;
    for p0 in (0..ops.npix).step_by(g.rows) {
        for o0 in (0..ops.nf).step_by(g.cols) {
            out.push(OsFold {
                p0,
                o0,
                r_used: (ops.npix - p0).min(g.rows),
                c_used: (ops.nf - o0).min(g.cols),
                base,
                len,
            });
            base += len;
        }
    }
    out
}

/// The OS stimulus file (layout in [`Geometry::stim_bits_os`]): activation `k` of array row `r`
/// (pixel `p0 + r`) enters the left edge at local cycle `k + r`, flagged `last` when `k = K − 1`;
/// weight `k` of column `c` enters the top edge at `k + c`.
pub fn os_stimulus(ops: &GemmOperands, g: Geometry, folds: &[OsFold]) -> String {
    let (r_n, c_n, k_n) = (g.rows, g.cols, ops.k);
    let mut text = String::new();
    let mut bits = vec![false; g.stim_bits_os()];
    let wb = 10 * r_n;
    for f in folds {
        for tau in 0..f.len as usize {
            bits.iter_mut().for_each(|b| *b = false);
            for r in 0..f.r_used {
                if let Some(kk) = tau.checked_sub(r).filter(|&kk| kk < k_n) {
                    put(&mut bits, 8 * r, 8, ops.act[(f.p0 + r) * k_n + kk] as u32);
                    bits[8 * r_n + r] = true;
                    bits[9 * r_n + r] = kk == k_n - 1;
                }
            }
            for c in 0..f.c_used {
                if let Some(kk) = tau.checked_sub(c).filter(|&kk| kk < k_n) {
                    let j = kk * ops.nf + f.o0 + c;
                    put(&mut bits, wb + 8 * c, 8, ops.wgt[j] as u32);
                    bits[wb + 8 * c_n + c] = true;
                    bits[wb + 9 * c_n + c] = ops.neg.is_some_and(|m| m[j] != 0);
                }
            }
            push_hex(&mut text, &bits);
        }
    }
    text
}
