//! The stimulus of a GEMM: per cycle, what enters the array's edges. The tokens are
//! `accel::flow::Feeds`' — the ones the cycle-stepped model steps on — encoded in the stimulus
//! word of [`Geometry::stim_bits`]; folds follow each other every `timing::cycles_per_fold`
//! cycles (SCALE-Sim closed form), in the model's fold order.

use super::emit::{Edge, Geometry, Rtl, Sideband};
use crate::accel::fast::GemmOperands;
use crate::accel::flow::{Feeds, Flow, FoldAt, Token};
use crate::accel::timing::{cycles_per_fold, ArrayShape, Dataflow, SramCounts};

/// One fold of the schedule: its place in the GEMM and its global cycles `base..base+len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fold {
    /// Where the fold sits (first row- and column-dimension index, rows and columns used).
    pub at: FoldAt,
    /// Global cycle the fold starts on.
    pub base: u64,
    /// Cycles the fold lasts.
    pub len: u64,
}

impl Fold {
    /// Cycle on which the model writes output `n` of each output port of this fold, when every
    /// port writes `per_port` outputs: on the fold's last `per_port` cycles (WS/IS, one per
    /// streamed index: `base + 2R + C + n − 2`; OS, one: `base + R + C + K − 3`).
    pub fn output_cycle(&self, n: usize, per_port: usize) -> u64 {
        self.base + self.len - per_port as u64 + n as u64
    }
}

/// The folds of `ops` in `df` in the order `accel::array::run` executes them (row dimension
/// outer, column dimension inner), each `timing::cycles_per_fold` long.
pub fn folds(ops: &GemmOperands, g: Geometry, df: Dataflow) -> Vec<Fold> {
    let a = ArrayShape { rows: g.rows, cols: g.cols };
    let len = cycles_per_fold(ops.shape(), df, a);
    let placed = Flow::of(df).folds(ops, a);
    placed.into_iter().zip(0..).map(|(at, i)| Fold { at, base: i * len, len }).collect()
}

/// The stimulus file of `ops` in `df`: one hex word per cycle (layout in
/// [`Geometry::stim_bits`]): every token `accel::flow::Feeds` puts on an edge, with its valid
/// bit and sideband (the weight's negation bit; `last` on the final reduction element), and the
/// load bit while the PEs take a held operand.
pub fn stimulus(ops: &GemmOperands, g: Geometry, df: Dataflow, folds: &[Fold]) -> String {
    let rtl = Rtl::of(df);
    let a = ArrayShape { rows: g.rows, cols: g.cols };
    let sw = g.stim_bits(df);
    let top_at = rtl.left.stim_bits(g);
    let mut reads = SramCounts::default(); // the model counts these; the stimulus need not
    let mut text = String::new();
    let mut bits = vec![false; sw];
    for f in folds {
        let feeds = Feeds { flow: rtl.flow, ops: *ops, a, at: f.at };
        let t_len = feeds.t_len();
        for tau in 0..f.len as usize {
            bits.iter_mut().for_each(|b| *b = false);
            for r in 0..g.rows {
                if let Some(tok) = feeds.left(tau, r, &mut reads) {
                    put_token(&mut bits, rtl.left, g, 0, r, tok, t_len);
                }
            }
            if feeds.load(tau) {
                if rtl.flow.held() {
                    bits[sw - 1] = true;
                }
                for c in 0..g.cols {
                    if let Some(tok) = feeds.top(tau, c, &mut reads) {
                        put_token(&mut bits, rtl.top, g, top_at, c, tok, t_len);
                    }
                }
            }
            push_hex(&mut text, &bits);
        }
    }
    text
}

/// Lane `lane` of edge `e` (fields from bit `at`): code, valid bit, sideband (`last`: the token
/// is the last of the `t_len` streamed ones).
fn put_token(bits: &mut [bool], e: Edge, g: Geometry, at: usize, lane: usize, tok: Token, t_len: usize) {
    let n = e.lanes(g);
    for i in 0..8 {
        bits[at + 8 * lane + i] = (tok.code >> i) & 1 == 1;
    }
    bits[at + 8 * n + lane] = true;
    if let Some(sb) = e.sideband {
        bits[at + 9 * n + lane] = match sb {
            Sideband::Neg => tok.neg != 0,
            Sideband::Last => tok.tag as usize + 1 == t_len,
        };
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
