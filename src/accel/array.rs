//! Cycle-stepped reference of an R×C systolic array. Every cycle every PE computes its next
//! registers from the current ones (operands from the left/upper neighbour, partial sums from
//! above), then all registers commit at once. All products of one cycle go through one
//! `Multiplier::mul_batch` call (the PEs work in parallel; a bit-parallel netlist simulator
//! evaluates them as lanes).
//!
//! One stepper runs every dataflow: the edges are fed by [`Feeds`] (what [`Flow`] says enters
//! where, and when) and the PEs differ only in where their sums go ([`Sums`]). Schedule per fold
//! (local cycle τ, matching SCALE-Sim's demand matrices, peers.md §5):
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
use super::flow::{Feeds, Flow, Operand, Sums, Token};
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
    let flow = Flow::of(df);
    let mut base = 0u64;
    for at in flow.folds(ops, a) {
        let feeds = Feeds { flow, ops: *ops, a, at };
        base = match flow.sums {
            Sums::PassDown => fold::<PassDown>(&feeds, mult, base, &mut st),
            Sums::InPlace => fold::<InPlace>(&feeds, mult, base, &mut st),
        };
        st.folds += 1;
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
    /// Negation mask of each product.
    neg: Vec<i32>,
}

impl Batch {
    fn new() -> Self {
        Batch { rows: Vec::new(), cols: Vec::new(), out: Vec::new(), pe: Vec::new(), neg: Vec::new() }
    }
    fn clear(&mut self) {
        self.rows.clear();
        self.cols.clear();
        self.pe.clear();
        self.neg.clear();
    }
    fn push(&mut self, pe: usize, x: u8, w: u8, neg: i32) {
        self.rows.push(x as u32);
        self.cols.push(w as u32);
        self.pe.push(pe);
        self.neg.push(neg);
    }
    fn eval(&mut self, mult: &dyn Multiplier) {
        self.out.clear();
        self.out.resize(self.rows.len(), 0);
        if !self.rows.is_empty() {
            mult.mul_batch(&self.rows, &self.cols, &mut self.out);
        }
    }
}

/// The sum registers of the PEs: [`Sums::PassDown`] or [`Sums::InPlace`]. Per cycle the stepper
/// calls `mac` for every PE, `add` for every product, `write` once, then `commit`.
trait SumPath {
    /// The PEs hold the top operand ([`Flow::held`]).
    const HELD: bool;
    fn new(a: ArrayShape, k: usize) -> Self;
    /// PE `i` = `(r, c)` sees `l` entering from the left and `t` from above (the held operand,
    /// or the one entering): whether it multiplies them (where the product goes is remembered).
    fn mac(&mut self, i: usize, r: usize, l: Option<Token>, t: Option<Token>) -> bool;
    /// The signed product of PE `i`'s MAC.
    fn add(&mut self, i: usize, prod: i32);
    /// The outputs leaving the array at the end of this cycle: `out(r, c, t, value)` for port
    /// `(r, c)` (see [`Flow::ports`]) and streamed index `t`.
    fn write(&mut self, out: impl FnMut(usize, usize, u32, i32));
    /// The next registers become the current ones.
    fn commit(&mut self);
    /// A sum is still on its way out.
    fn holding(&self) -> bool;
}

/// Partial sum token: value and streamed index.
type PTok = Option<(i32, u32)>;

/// WS/IS: partial sums move down one PE per cycle, then through the column's de-skew line.
struct PassDown {
    a: ArrayShape,
    ps: Vec<PTok>,
    nps: Vec<PTok>,
    /// De-skew delay line of column c: depth C−1−c.
    line: Vec<Vec<PTok>>,
    nline: Vec<Vec<PTok>>,
    /// The partial sum each MAC of this cycle adds to.
    pin: Vec<(i32, u32)>,
}

impl SumPath for PassDown {
    const HELD: bool = true;
    fn new(a: ArrayShape, _k: usize) -> Self {
        let n = a.rows * a.cols;
        let line: Vec<Vec<PTok>> = (0..a.cols).map(|c| vec![None; a.cols - 1 - c]).collect();
        PassDown { a, ps: vec![None; n], nps: vec![None; n], nline: line.clone(), line, pin: vec![(0, 0); n] }
    }
    fn mac(&mut self, i: usize, r: usize, l: Option<Token>, t: Option<Token>) -> bool {
        // Row 0 starts a partial sum wherever both operands meet.
        let p_in = if r == 0 { l.filter(|_| t.is_some()).map(|l| (0, l.tag)) } else { self.ps[i - self.a.cols] };
        match (p_in, l, t) {
            (Some((p, tag)), Some(l), Some(_)) => {
                debug_assert_eq!(tag, l.tag, "skew broken");
                self.pin[i] = (p, tag);
                true
            }
            (p, _, _) => {
                self.nps[i] = p; // bypass (nothing held here, or nothing streamed)
                false
            }
        }
    }
    fn add(&mut self, i: usize, prod: i32) {
        let (p, tag) = self.pin[i];
        self.nps[i] = Some((p.wrapping_add(prod), tag));
    }
    fn write(&mut self, mut out: impl FnMut(usize, usize, u32, i32)) {
        let (r_n, c_n) = (self.a.rows, self.a.cols);
        for c in 0..c_n {
            let bottom = self.nps[(r_n - 1) * c_n + c];
            let d = c_n - 1 - c;
            let emit = if d == 0 { bottom } else { self.line[c][d - 1] };
            if d > 0 {
                self.nline[c][0] = bottom;
                for s in 1..d {
                    self.nline[c][s] = self.line[c][s - 1];
                }
            }
            if let Some((v, t)) = emit {
                out(0, c, t, v);
            }
        }
    }
    fn commit(&mut self) {
        std::mem::swap(&mut self.ps, &mut self.nps);
        std::mem::swap(&mut self.line, &mut self.nline);
    }
    fn holding(&self) -> bool {
        // The bottom row's partial sums are already copied into the de-skew lines.
        self.ps[..(self.a.rows - 1) * self.a.cols].iter().any(Option::is_some)
            || self.line.iter().flatten().any(Option::is_some)
    }
}

/// OS: each PE accumulates K products, then its output counts down to the fold's write cycle.
struct InPlace {
    a: ArrayShape,
    k: usize,
    /// Sum so far and products in it.
    acc: Vec<(i32, usize)>,
    nacc: Vec<(i32, usize)>,
    /// Output de-skew register of each PE: value and remaining delay.
    outq: Vec<Option<(i32, usize)>>,
    noutq: Vec<Option<(i32, usize)>>,
}

impl SumPath for InPlace {
    const HELD: bool = false;
    fn new(a: ArrayShape, k: usize) -> Self {
        let n = a.rows * a.cols;
        InPlace { a, k, acc: vec![(0, 0); n], nacc: vec![(0, 0); n], outq: vec![None; n], noutq: vec![None; n] }
    }
    fn mac(&mut self, i: usize, _r: usize, l: Option<Token>, t: Option<Token>) -> bool {
        self.nacc[i] = self.acc[i];
        match (l, t) {
            (Some(l), Some(t)) => {
                debug_assert_eq!(l.tag, t.tag, "skew broken");
                true
            }
            _ => false,
        }
    }
    fn add(&mut self, i: usize, prod: i32) {
        let (s, n) = self.acc[i];
        self.nacc[i] = (s.wrapping_add(prod), n + 1);
    }
    fn write(&mut self, mut out: impl FnMut(usize, usize, u32, i32)) {
        let (r_n, c_n) = (self.a.rows, self.a.cols);
        for r in 0..r_n {
            for c in 0..c_n {
                let i = r * c_n + c;
                // Existing delay registers count down; emission when the count reaches zero.
                let mut emit = None;
                self.noutq[i] = match self.outq[i] {
                    Some((v, 1)) => {
                        emit = Some(v);
                        None
                    }
                    Some((v, d)) => Some((v, d - 1)),
                    None => None,
                };
                if self.nacc[i].1 == self.k {
                    let d = (r_n - 1 - r) + (c_n - 1 - c);
                    debug_assert!(self.noutq[i].is_none());
                    if d == 0 {
                        emit = Some(self.nacc[i].0);
                    } else {
                        self.noutq[i] = Some((self.nacc[i].0, d));
                    }
                    self.nacc[i] = (0, 0);
                }
                if let Some(v) = emit {
                    out(r, c, 0, v);
                }
            }
        }
    }
    fn commit(&mut self) {
        std::mem::swap(&mut self.acc, &mut self.nacc);
        std::mem::swap(&mut self.outq, &mut self.noutq);
    }
    fn holding(&self) -> bool {
        self.outq.iter().any(Option::is_some) || self.acc.iter().any(|a| a.1 > 0)
    }
}

/// One fold; returns the global cycle the next fold starts on.
fn fold<S: SumPath>(feeds: &Feeds, mult: &dyn Multiplier, base: u64, st: &mut ArrayRun) -> u64 {
    let (r_n, c_n) = (feeds.a.rows, feeds.a.cols);
    let held = S::HELD;
    debug_assert_eq!(held, feeds.flow.held());
    let left_is_act = feeds.flow.left == Operand::Act;
    let idx = |r: usize, c: usize| r * c_n + c;
    // Operand registers: `left` moves right, `top` moves down (or stays, when held).
    let mut left: Vec<Option<Token>> = vec![None; r_n * c_n];
    let mut top = left.clone();
    let (mut nleft, mut ntop) = (left.clone(), top.clone());
    let mut top_feed: Vec<Option<Token>> = vec![None; c_n];
    let mut sums = S::new(feeds.a, feeds.ops.k);
    let mut batch = Batch::new();
    let last_feed = feeds.last_feed();
    let mut tau = 0usize;
    loop {
        let load = feeds.load(tau);
        // Loading a held operand keeps the array busy even where the fold leaves PEs empty.
        let mut busy = held && load;
        for (c, f) in top_feed.iter_mut().enumerate() {
            *f = if load { feeds.top(tau, c, &mut st.sram) } else { None };
        }
        batch.clear();
        for r in 0..r_n {
            let feed = feeds.left(tau, r, &mut st.sram);
            for (c, &fed) in top_feed.iter().enumerate() {
                let i = idx(r, c);
                let l_in = if c == 0 { feed } else { left[i - 1] };
                nleft[i] = l_in;
                let t_in = if load {
                    ntop[i] = if r == 0 { fed } else { top[i - c_n] };
                    ntop[i]
                } else {
                    None
                };
                // A held operand is multiplied from its register, a streamed one as it enters
                // (and a streamed one is loaded on every cycle).
                let t_use = if held { top[i] } else { t_in };
                if let (true, Some(l), Some(t)) = (sums.mac(i, r, l_in, t_use), l_in, t_use) {
                    let (x, w) = if left_is_act { (l, t) } else { (t, l) };
                    // Only one operand (the weight) carries a mask; the other's is 0.
                    batch.push(i, x.code, w.code, l.neg | t.neg);
                }
            }
        }
        batch.eval(mult);
        st.macs += batch.out.len() as u64;
        for (j, &i) in batch.pe.iter().enumerate() {
            let m = batch.neg[j];
            sums.add(i, (batch.out[j] ^ m).wrapping_sub(m));
        }
        sums.write(|r, c, t, v| {
            busy = true;
            st.sram.ofmap_writes += 1;
            let o = &mut st.sums[feeds.flow.out_index(&feeds.ops, feeds.at, r, c, t as usize)];
            *o = o.wrapping_add(v);
        });
        std::mem::swap(&mut left, &mut nleft);
        if load {
            std::mem::swap(&mut top, &mut ntop);
        }
        sums.commit();
        // Data still to be consumed: the right-most left-edge operands and the bottom streamed
        // top operands have no consumer.
        let holding = (0..r_n).any(|r| left[idx(r, 0)..idx(r, c_n - 1)].iter().any(Option::is_some))
            || (!held && top[..idx(r_n - 1, 0)].iter().any(Option::is_some))
            || sums.holding();
        busy |= holding || !batch.out.is_empty();
        if busy {
            st.last_busy_cycle = base + tau as u64;
        }
        if !holding && tau >= last_feed {
            return base + tau as u64 + 1;
        }
        tau += 1;
    }
}
