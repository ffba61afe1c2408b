//! Cycle-stepped reference of an R×C systolic array. Every cycle every PE computes its next
//! registers from the current ones (operands from the left/upper neighbour, partial sums from
//! above), then all registers commit at once. All products of one cycle go through one
//! `Multiplier::mul_batch` call (the PEs work in parallel; a bit-parallel netlist simulator
//! evaluates them as lanes).
//!
//! Schedule per fold (local cycle τ, matching SCALE-Sim's demand matrices, peers.md §5):
//! * WS: τ ∈ [0, R): weights shift down one row per cycle from the top edge. Activation `t` of
//!   array row `r` enters the left edge at `τ = R + t + r` (input skew), moves one PE right per
//!   cycle; partial sums start at row 0 and move one PE down per cycle, passing unused rows
//!   unchanged (PEs without a weight are bypassed: no product, since `0 × x` need not be 0). The
//!   bottom of column `c` feeds a de-skew delay line of depth `C − 1 − c`, so a whole output row
//!   is written at `τ = 2R + C + t − 2`: per fold `2R + C + T − 2` cycles.
//! * IS: WS with the operands' roles swapped (SCALE-Sim's input-stationary): the im2col window
//!   of pixel `p` (`K` codes) is loaded into array column `p − p0` like a WS weight column, and
//!   filter `t`'s weights stream in from the left at `τ = R + t + r` with their negation bits;
//!   the same de-skew lines write output column `t` of pixels `p0..p0+C` at `2R + C + t − 2`.
//!   Products keep the activation on the LUT row.
//! * OS: activation `k` of row `r` enters at `τ = k + r`, weight `k` of column `c` at
//!   `τ = k + c`; PE `(r,c)` accumulates in place and, after its K-th product at `τ = K−1+r+c`,
//!   hands the result to an output de-skew delay line of depth `(R−1−r) + (C−1−c)`, so the fold's
//!   outputs are written together at `τ = R + C + K − 3`: `R + C + T − 2` cycles (the drain of the
//!   written outputs to SRAM overlaps the next fold, as in SCALE-Sim).
//!
//! A fold ends when no register holds data; the next one starts on the following cycle.

use super::fast::GemmOperands;
use super::timing::{ArrayShape, Dataflow, SramCounts};
use crate::mult::Multiplier;

/// What the cycle-stepped run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayRun {
    /// `npix × nf` product sums.
    pub sums: Vec<i32>,
    /// Folds run (mappings of the GEMM onto the array).
    pub folds: u64,
    /// Index of the last cycle in which anything happened (0-based, over all folds).
    pub last_busy_cycle: u64,
    /// Products actually evaluated by PEs.
    pub macs: u64,
    /// SRAM word accesses, counted as SCALE-Sim does.
    pub sram: SramCounts,
}

/// Activation token: operand code and pixel/reduction tag.
type XTok = Option<(u8, u32)>;
/// Weight register: operand code and negation mask.
type WTok = Option<(u8, i32)>;
/// Partial sum token: value and pixel tag.
type PTok = Option<(i32, u32)>;

/// Runs the GEMM `ops` on an `a`-sized array in dataflow `df`, cycle by cycle, every product
/// through `mult`.
pub fn run(ops: &GemmOperands, mult: &dyn Multiplier, a: ArrayShape, df: Dataflow) -> ArrayRun {
    let mut st = ArrayRun {
        sums: vec![0; ops.npix * ops.nf],
        folds: 0,
        last_busy_cycle: 0,
        macs: 0,
        sram: SramCounts::default(),
    };
    let mut base = 0u64;
    let mut any_busy = false;
    match df {
        Dataflow::Ws | Dataflow::Is => {
            let roles = Roles::new(*ops, df);
            for k0 in (0..ops.k).step_by(a.rows) {
                for o0 in (0..roles.cols()).step_by(a.cols) {
                    base = stationary_fold(&roles, mult, a, k0, o0, base, &mut st, &mut any_busy);
                    st.folds += 1;
                }
            }
        }
        Dataflow::Os => {
            for p0 in (0..ops.npix).step_by(a.rows) {
                for o0 in (0..ops.nf).step_by(a.cols) {
                    base = os_fold(ops, mult, a, p0, o0, base, &mut st, &mut any_busy);
                    st.folds += 1;
                }
            }
        }
    }
    st
}

/// Products of one cycle, evaluated together.
struct Batch {
    rows: Vec<u32>,
    cols: Vec<u32>,
    out: Vec<i32>,
    /// PE index of each product.
    pe: Vec<usize>,
}

impl Batch {
    fn new() -> Self {
        Batch { rows: Vec::new(), cols: Vec::new(), out: Vec::new(), pe: Vec::new() }
    }
    fn clear(&mut self) {
        self.rows.clear();
        self.cols.clear();
        self.pe.clear();
    }
    fn push(&mut self, pe: usize, x: u8, w: u8) {
        self.rows.push(x as u32);
        self.cols.push(w as u32);
        self.pe.push(pe);
    }
    fn eval(&mut self, mult: &dyn Multiplier) {
        self.out.clear();
        self.out.resize(self.rows.len(), 0);
        if !self.rows.is_empty() {
            mult.mul_batch(&self.rows, &self.cols, &mut self.out);
        }
    }
}

/// The two operands of a stationary fold as `stationary[kk][col]` (loaded from the top) and
/// `streamed[t][kk]` (entering at the left): WS keeps weights (columns = filters, T = pixels),
/// IS keeps activation windows (columns = pixels, T = filters).
/// Shared with the RTL stimulus (`rtl::schedule`), which feeds the same operands.
pub struct Roles<'a> {
    /// The GEMM's operands.
    pub ops: GemmOperands<'a>,
    /// Input-stationary (activation windows stationary) rather than weight-stationary.
    pub is: bool,
}

impl<'a> Roles<'a> {
    /// The roles of `df` (WS or IS; OS has no stationary operand).
    pub fn new(ops: GemmOperands<'a>, df: Dataflow) -> Roles<'a> {
        debug_assert!(df != Dataflow::Os);
        Roles { ops, is: df == Dataflow::Is }
    }
    /// Extent of the dimension mapped on the array columns.
    pub fn cols(&self) -> usize {
        if self.is {
            self.ops.npix
        } else {
            self.ops.nf
        }
    }
    /// Extent of the streamed dimension T.
    pub fn t_len(&self) -> usize {
        if self.is {
            self.ops.nf
        } else {
            self.ops.npix
        }
    }
    fn weight(&self, kk: usize, o: usize) -> (u8, i32) {
        let j = kk * self.ops.nf + o;
        (self.ops.wgt[j], self.ops.neg.map_or(0, |m| m[j]))
    }
    /// Code and negation mask of the stationary operand of reduction row `kk`, column `col`;
    /// counts the SRAM read.
    pub fn stationary(&self, kk: usize, col: usize, sram: &mut SramCounts) -> (u8, i32) {
        if self.is {
            sram.ifmap_reads += 1;
            (self.ops.act[col * self.ops.k + kk], 0)
        } else {
            sram.filter_reads += 1;
            self.weight(kk, col)
        }
    }
    /// Code and negation mask of streamed element `t` of reduction row `kk`; counts the read.
    pub fn streamed(&self, t: usize, kk: usize, sram: &mut SramCounts) -> (u8, i32) {
        if self.is {
            sram.filter_reads += 1;
            self.weight(kk, t)
        } else {
            sram.ifmap_reads += 1;
            (self.ops.act[t * self.ops.k + kk], 0)
        }
    }
    /// (activation, weight) of a PE holding `stat` and receiving `strm`.
    fn operands(&self, strm: u8, stat: u8) -> (u8, u8) {
        if self.is {
            (stat, strm)
        } else {
            (strm, stat)
        }
    }
    /// Index in the `npix × nf` sums of streamed element `t` on column `col`.
    pub fn out_index(&self, t: usize, col: usize) -> usize {
        if self.is {
            col * self.ops.nf + t
        } else {
            t * self.ops.nf + col
        }
    }
}

/// Streamed token: operand code, negation mask and streamed index `t`.
type STok = Option<(u8, i32, u32)>;

/// One WS or IS fold: reduction rows `k0..`, stationary columns `o0..`.
#[allow(clippy::too_many_arguments)]
fn stationary_fold(
    roles: &Roles,
    mult: &dyn Multiplier,
    a: ArrayShape,
    k0: usize,
    o0: usize,
    base: u64,
    st: &mut ArrayRun,
    any_busy: &mut bool,
) -> u64 {
    let ops = &roles.ops;
    let (r_n, c_n) = (a.rows, a.cols);
    let r_used = (ops.k - k0).min(r_n);
    let c_used = (roles.cols() - o0).min(c_n);
    let t_n = roles.t_len();
    let idx = |r: usize, c: usize| r * c_n + c;
    let mut w: Vec<WTok> = vec![None; r_n * c_n];
    let mut x: Vec<STok> = vec![None; r_n * c_n];
    let mut ps: Vec<PTok> = vec![None; r_n * c_n];
    // De-skew delay line of column c: depth C−1−c.
    let mut line: Vec<Vec<PTok>> = (0..c_n).map(|c| vec![None; c_n - 1 - c]).collect();
    let (mut nw, mut nx, mut nps, mut nline) = (w.clone(), x.clone(), ps.clone(), line.clone());
    let mut batch = Batch::new();
    let mut pending: Vec<(usize, i32, u32, i32)> = Vec::new(); // (pe, psum_in, tag, neg mask)
    let mut tau = 0u64;
    loop {
        let mut busy = false;
        // Stationary load: shift down, top row fed with array row R−1−τ.
        if (tau as usize) < r_n {
            busy = true;
            let rr = r_n - 1 - tau as usize;
            for c in 0..c_n {
                for r in (1..r_n).rev() {
                    nw[idx(r, c)] = w[idx(r - 1, c)];
                }
                nw[idx(0, c)] = (rr < r_used && c < c_used).then(|| roles.stationary(k0 + rr, o0 + c, &mut st.sram));
            }
        } else {
            nw.copy_from_slice(&w);
        }
        batch.clear();
        pending.clear();
        for r in 0..r_n {
            // Left-edge feed of row r (input skew): element t = τ − R − r.
            let feed: STok = {
                let t = tau as i64 - r_n as i64 - r as i64;
                if r < r_used && t >= 0 && (t as usize) < t_n {
                    let (code, m) = roles.streamed(t as usize, k0 + r, &mut st.sram);
                    Some((code, m, t as u32))
                } else {
                    None
                }
            };
            for c in 0..c_n {
                let i = idx(r, c);
                let x_in = if c == 0 { feed } else { x[idx(r, c - 1)] };
                let p_in: PTok = if r == 0 {
                    match (x_in, w[i]) {
                        (Some((_, _, t)), Some(_)) => Some((0, t)),
                        _ => None,
                    }
                } else {
                    ps[idx(r - 1, c)]
                };
                nx[i] = x_in;
                nps[i] = match (p_in, x_in, w[i]) {
                    (Some((p, tag)), Some((xc, xm, xt)), Some((wc, wm))) => {
                        debug_assert_eq!(tag, xt, "skew broken");
                        let (act, wgt) = roles.operands(xc, wc);
                        batch.push(i, act, wgt);
                        // Only one operand (the weight) carries a mask; the other's is 0.
                        pending.push((i, p, tag, xm | wm));
                        None // filled after the batch
                    }
                    (p, _, _) => p, // bypass (no stationary operand here or no streamed one)
                };
            }
        }
        batch.eval(mult);
        st.macs += batch.out.len() as u64;
        for (j, &(i, p, tag, m)) in pending.iter().enumerate() {
            debug_assert_eq!(batch.pe[j], i);
            let prod = (batch.out[j] ^ m).wrapping_sub(m);
            nps[i] = Some((p.wrapping_add(prod), tag));
        }
        // Bottom edge → de-skew lines → output write.
        for c in 0..c_n {
            let bottom = nps[idx(r_n - 1, c)];
            let d = c_n - 1 - c;
            let emit = if d == 0 { bottom } else { line[c][d - 1] };
            if d > 0 {
                nline[c][0] = bottom;
                for s in 1..d {
                    nline[c][s] = line[c][s - 1];
                }
            }
            if let Some((v, t)) = emit {
                busy = true;
                st.sram.ofmap_writes += 1;
                let o = &mut st.sums[roles.out_index(t as usize, o0 + c)];
                *o = o.wrapping_add(v);
            }
        }
        // Commit.
        std::mem::swap(&mut w, &mut nw);
        std::mem::swap(&mut x, &mut nx);
        std::mem::swap(&mut ps, &mut nps);
        std::mem::swap(&mut line, &mut nline);
        // Data still to be consumed: the right-most streamed registers and the bottom partial
        // sums (already copied into the de-skew lines) have no consumer.
        let holding = (0..r_n).any(|r| x[idx(r, 0)..idx(r, c_n - 1)].iter().any(Option::is_some))
            || ps[..idx(r_n - 1, 0)].iter().any(Option::is_some)
            || line.iter().flatten().any(Option::is_some);
        busy |= holding;
        if busy {
            st.last_busy_cycle = base + tau;
            *any_busy = true;
        }
        // Feeds still scheduled after this cycle (stationary until R−1, streamed until
        // R + T + r_used − 3).
        let feeding = (tau as usize) + 2 < r_n + t_n + r_used;
        if !holding && !feeding {
            return base + tau + 1;
        }
        tau += 1;
    }
}

#[allow(clippy::too_many_arguments)]
fn os_fold(
    ops: &GemmOperands,
    mult: &dyn Multiplier,
    a: ArrayShape,
    p0: usize,
    o0: usize,
    base: u64,
    st: &mut ArrayRun,
    any_busy: &mut bool,
) -> u64 {
    let (r_n, c_n) = (a.rows, a.cols);
    let r_used = (ops.npix - p0).min(r_n);
    let c_used = (ops.nf - o0).min(c_n);
    let k_n = ops.k;
    let idx = |r: usize, c: usize| r * c_n + c;
    let mut x: Vec<XTok> = vec![None; r_n * c_n];
    let mut w: Vec<Option<(u8, i32, u32)>> = vec![None; r_n * c_n];
    let mut acc: Vec<(i32, usize)> = vec![(0, 0); r_n * c_n];
    // Output de-skew register of each PE: value and remaining delay.
    let mut outq: Vec<Option<(i32, usize)>> = vec![None; r_n * c_n];
    let (mut nx, mut nw, mut nacc, mut noutq) = (x.clone(), w.clone(), acc.clone(), outq.clone());
    let mut batch = Batch::new();
    let mut tau = 0u64;
    loop {
        let mut busy = false;
        batch.clear();
        for r in 0..r_n {
            let feed_x: XTok = {
                let kk = tau as i64 - r as i64;
                if r < r_used && kk >= 0 && (kk as usize) < k_n {
                    st.sram.ifmap_reads += 1;
                    Some((ops.act[(p0 + r) * k_n + kk as usize], kk as u32))
                } else {
                    None
                }
            };
            for c in 0..c_n {
                let i = idx(r, c);
                let x_in = if c == 0 { feed_x } else { x[idx(r, c - 1)] };
                let w_in = if r == 0 {
                    let kk = tau as i64 - c as i64;
                    if c < c_used && kk >= 0 && (kk as usize) < k_n {
                        st.sram.filter_reads += 1;
                        let j = kk as usize * ops.nf + o0 + c;
                        Some((ops.wgt[j], ops.neg.map_or(0, |m| m[j]), kk as u32))
                    } else {
                        None
                    }
                } else {
                    w[idx(r - 1, c)]
                };
                nx[i] = x_in;
                nw[i] = w_in;
                nacc[i] = acc[i];
                if let (Some((xc, xk)), Some((wc, _, wk))) = (x_in, w_in) {
                    debug_assert_eq!(xk, wk, "skew broken");
                    batch.push(i, xc, wc);
                }
            }
        }
        batch.eval(mult);
        st.macs += batch.out.len() as u64;
        for (j, &i) in batch.pe.iter().enumerate() {
            let m = nw[i].map_or(0, |t| t.1);
            let prod = (batch.out[j] ^ m).wrapping_sub(m);
            let (s, n) = acc[i];
            nacc[i] = (s.wrapping_add(prod), n + 1);
        }
        for r in 0..r_n {
            for c in 0..c_n {
                let i = idx(r, c);
                // Existing delay registers count down; emission when the count reaches zero.
                let mut emit = None;
                noutq[i] = match outq[i] {
                    Some((v, 1)) => {
                        emit = Some(v);
                        None
                    }
                    Some((v, d)) => Some((v, d - 1)),
                    None => None,
                };
                if nacc[i].1 == k_n {
                    let d = (r_n - 1 - r) + (c_n - 1 - c);
                    debug_assert!(noutq[i].is_none());
                    if d == 0 {
                        emit = Some(nacc[i].0);
                    } else {
                        noutq[i] = Some((nacc[i].0, d));
                    }
                    nacc[i] = (0, 0);
                }
                if let Some(v) = emit {
                    busy = true;
                    st.sram.ofmap_writes += 1;
                    st.sums[(p0 + r) * ops.nf + o0 + c] = v;
                }
            }
        }
        std::mem::swap(&mut x, &mut nx);
        std::mem::swap(&mut w, &mut nw);
        std::mem::swap(&mut acc, &mut nacc);
        std::mem::swap(&mut outq, &mut noutq);
        // Data still to be consumed (the right-most activations and bottom weights have no consumer).
        let holding = (0..r_n).any(|r| x[idx(r, 0)..idx(r, c_n - 1)].iter().any(Option::is_some))
            || w[..idx(r_n - 1, 0)].iter().any(Option::is_some)
            || outq.iter().any(Option::is_some)
            || acc.iter().any(|a| a.1 > 0);
        busy |= holding || !batch.out.is_empty();
        if busy {
            st.last_busy_cycle = base + tau;
            *any_busy = true;
        }
        // Feeds still scheduled after this cycle (the last at K − 2 + max(r_used, c_used)).
        let feeding = (tau as usize) + 2 < k_n + r_used.max(c_used);
        if !holding && !feeding {
            return base + tau + 1;
        }
        tau += 1;
    }
}
