//! What a dataflow is, as data: which GEMM dimension lies along the array rows, which along the
//! columns, which streams through in time, which operand enters at each edge, and where the sums
//! go. [`Flow`] is the one description the cycle-stepped array ([`super::array`]) and the RTL
//! (emitter, stimulus, checker in `rtl`) read; [`Feeds`] is what enters the array's edges cycle by
//! cycle — the model steps on it and the RTL stimulus encodes the same tokens.
//!
//! | | rows | columns | streamed (`T`) | left edge | top edge | sums |
//! |---|---|---|---|---|---|---|
//! | WS | reduction | filters | pixels | activations | weights, held | passed down |
//! | IS | reduction | pixels | filters | weights | activations, held | passed down |
//! | OS | pixels | filters | reduction | activations | weights, streamed | in place |

use super::fast::GemmOperands;
use super::timing::{ArrayShape, Dataflow, GemmShape, SramCounts};

/// A dimension of the im2col GEMM (`npix × k` activations by `k × nf` weights).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// Output pixels (`npix`).
    Pixel = 0,
    /// The reduction (`k`).
    Reduction = 1,
    /// Output channels, i.e. filters (`nf`).
    Filter = 2,
}

impl Dim {
    /// Its extent in `g`.
    pub fn extent(self, g: GemmShape) -> usize {
        match self {
            Dim::Pixel => g.npix,
            Dim::Reduction => g.k,
            Dim::Filter => g.nf,
        }
    }
    /// How messages name an index of it.
    pub fn noun(self) -> &'static str {
        match self {
            Dim::Pixel => "pixel",
            Dim::Reduction => "reduction row",
            Dim::Filter => "output",
        }
    }
}

/// One of the two GEMM operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// Activation codes (`npix × k`): the multiplier's LUT row.
    Act,
    /// Weight codes (`k × nf`) with their negation masks: the LUT column.
    Wgt,
}

/// Where the partial sums go: the one part of a PE that differs between dataflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sums {
    /// The PEs hold the top operand for a whole fold (it shifts in during the fold's first `R`
    /// cycles); partial sums move down the columns and leave at the bottom edge through a de-skew
    /// line of `C − 1 − c` registers, so a whole output row is written on one cycle (WS, IS).
    /// Each column writes one partial sum per streamed index and fold; the partial sums of
    /// successive reduction folds add up in the output SRAM.
    PassDown,
    /// Both operands move through; each PE accumulates its own output over the whole reduction
    /// and hands it to a countdown register of `(R − 1 − r) + (C − 1 − c)` cycles, so the fold's
    /// outputs are written on one cycle (OS). Each PE writes one output per fold.
    InPlace,
}

/// How a dataflow maps the GEMM onto the array (table in the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// The dataflow described.
    pub df: Dataflow,
    /// Dimension along the array rows: a fold takes up to `R` indices of it, one per left-edge
    /// lane.
    pub rows: Dim,
    /// Dimension along the array columns: up to `C` indices per fold, one per top-edge lane.
    pub cols: Dim,
    /// Dimension streamed in time through every fold (its extent is `T`).
    pub t: Dim,
    /// The operand entering at the left edge and moving right (indexed by `rows` and `t`).
    pub left: Operand,
    /// The operand entering at the top edge and moving down (indexed by `rows` and `cols` when
    /// held, by `cols` and `t` when streamed).
    pub top: Operand,
    /// Where the sums go, and with it whether the top operand is held.
    pub sums: Sums,
}

impl Flow {
    /// The description of `df`.
    pub fn of(df: Dataflow) -> Flow {
        use Dim::*;
        use Operand::*;
        let (rows, cols, t, left, top, sums) = match df {
            Dataflow::Ws => (Reduction, Filter, Pixel, Act, Wgt, Sums::PassDown),
            Dataflow::Is => (Reduction, Pixel, Filter, Wgt, Act, Sums::PassDown),
            Dataflow::Os => (Pixel, Filter, Reduction, Act, Wgt, Sums::InPlace),
        };
        Flow { df, rows, cols, t, left, top, sums }
    }

    /// The PEs hold the top operand for a whole fold (WS, IS).
    pub fn held(&self) -> bool {
        self.sums == Sums::PassDown
    }

    /// The folds of `ops` on `a` in the order the array runs them: row dimension outer, column
    /// dimension inner.
    pub fn folds(&self, ops: &GemmOperands, a: ArrayShape) -> Vec<FoldAt> {
        let (rows, cols) = (self.rows.extent(ops.shape()), self.cols.extent(ops.shape()));
        let mut out = Vec::new();
        for row0 in (0..rows).step_by(a.rows) {
            for col0 in (0..cols).step_by(a.cols) {
                out.push(FoldAt { row0, col0, r_used: (rows - row0).min(a.rows), c_used: (cols - col0).min(a.cols) });
            }
        }
        out
    }

    /// Output ports of a fold (rows × columns of them): the bottom ends of the used columns when
    /// sums pass down, every used PE when they stay in place.
    pub fn ports(&self, at: FoldAt) -> (usize, usize) {
        match self.sums {
            Sums::PassDown => (1, at.c_used),
            Sums::InPlace => (at.r_used, at.c_used),
        }
    }

    /// Outputs each port writes per fold: one per streamed index when sums pass down (the `n`-th
    /// carries streamed index `n`), one when they stay in place.
    pub fn outputs_per_port(&self, ops: &GemmOperands) -> usize {
        match self.sums {
            Sums::PassDown => self.t.extent(ops.shape()),
            Sums::InPlace => 1,
        }
    }

    /// Index in the `npix × nf` sums of the output that port `(r, c)` of fold `at` writes with
    /// streamed index `t` (the reduced dimension's index is ignored).
    pub fn out_index(&self, ops: &GemmOperands, at: FoldAt, r: usize, c: usize, t: usize) -> usize {
        let ix = coord([(self.rows, at.row0 + r), (self.cols, at.col0 + c), (self.t, t)]);
        ix[Dim::Pixel as usize] * ops.nf + ix[Dim::Filter as usize]
    }
}

/// Indices along `[pixel, reduction, filter]`, from (dimension, index) pairs (later pairs win).
fn coord<const N: usize>(pairs: [(Dim, usize); N]) -> [usize; 3] {
    let mut ix = [0; 3];
    for (d, i) in pairs {
        ix[d as usize] = i;
    }
    ix
}

/// Where one fold sits in the GEMM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoldAt {
    /// Index of the row dimension on array row 0.
    pub row0: usize,
    /// Index of the column dimension on array column 0.
    pub col0: usize,
    /// Array rows used.
    pub r_used: usize,
    /// Array columns used.
    pub c_used: usize,
}

/// An operand entering the array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// The operand code.
    pub code: u8,
    /// Negation mask (`0` or `−1`; weights under sign-magnitude), applied to the product.
    pub neg: i32,
    /// Streamed index (the partial sum it starts, or the reduction index it meets); for a held
    /// operand, its array row.
    pub tag: u32,
}

/// What enters the edges of the array during one fold, local cycle by local cycle `τ`:
/// * a held top operand shifts down during `τ ∈ [0, R)`, the top row receiving array row
///   `R − 1 − τ`, so after `R` cycles PE row `r` holds array row `r`; the left edge then streams
///   element `t` of lane `r` at `τ = R + t + r` (input skew);
/// * with nothing held, element `t` of left lane `r` enters at `τ = t + r` and element `t` of top
///   lane `c` at `τ = t + c`.
///
/// Every `Some` read counts one SRAM word (activations as IFMAP, weights as filter reads).
#[derive(Debug, Clone, Copy)]
pub struct Feeds<'a> {
    /// The dataflow.
    pub flow: Flow,
    /// The GEMM.
    pub ops: GemmOperands<'a>,
    /// The array.
    pub a: ArrayShape,
    /// The fold.
    pub at: FoldAt,
}

impl Feeds<'_> {
    /// Extent `T` of the streamed dimension.
    pub fn t_len(&self) -> usize {
        self.flow.t.extent(self.ops.shape())
    }

    /// Whether the top edge shifts into the PEs' top registers on `tau`: always when the top
    /// operand streams, during the first `R` cycles when it is held.
    pub fn load(&self, tau: usize) -> bool {
        !self.flow.held() || tau < self.a.rows
    }

    /// Local cycle of the first left-edge element: after the held operand's load.
    fn left_start(&self) -> usize {
        if self.flow.held() {
            self.a.rows
        } else {
            0
        }
    }

    /// The token entering the left edge of array row `r` on `tau`.
    pub fn left(&self, tau: usize, r: usize, sram: &mut SramCounts) -> Option<Token> {
        let t = tau.checked_sub(self.left_start() + r).filter(|&t| r < self.at.r_used && t < self.t_len())?;
        let ix = coord([(self.flow.rows, self.at.row0 + r), (self.flow.t, t)]);
        Some(self.read(self.flow.left, ix, t, sram))
    }

    /// The token entering the top edge of array column `c` on `tau` (only asked on load cycles).
    pub fn top(&self, tau: usize, c: usize, sram: &mut SramCounts) -> Option<Token> {
        if c >= self.at.c_used {
            return None;
        }
        if self.flow.held() {
            let rr = self.a.rows.checked_sub(tau + 1).filter(|&rr| rr < self.at.r_used)?;
            let ix = coord([(self.flow.rows, self.at.row0 + rr), (self.flow.cols, self.at.col0 + c)]);
            Some(self.read(self.flow.top, ix, rr, sram))
        } else {
            let t = tau.checked_sub(c).filter(|&t| t < self.t_len())?;
            let ix = coord([(self.flow.cols, self.at.col0 + c), (self.flow.t, t)]);
            Some(self.read(self.flow.top, ix, t, sram))
        }
    }

    /// The last local cycle on which anything enters an edge: the last element of the last
    /// lane (0 when nothing does).
    pub fn last_feed(&self) -> usize {
        let t = self.t_len();
        let left = self.left_start() + t + self.at.r_used;
        let top = if self.flow.held() { self.a.rows + 1 } else { t + self.at.c_used };
        left.max(top).saturating_sub(2)
    }

    fn read(&self, op: Operand, ix: [usize; 3], tag: usize, sram: &mut SramCounts) -> Token {
        let ops = &self.ops;
        let (p, k, f) = (ix[Dim::Pixel as usize], ix[Dim::Reduction as usize], ix[Dim::Filter as usize]);
        let (code, neg) = match op {
            Operand::Act => {
                sram.ifmap_reads += 1;
                (ops.act[p * ops.k + k], 0)
            }
            Operand::Wgt => {
                sram.filter_reads += 1;
                let j = k * ops.nf + f;
                (ops.wgt[j], ops.neg.map_or(0, |m| m[j]))
            }
        };
        Token { code, neg, tag: tag as u32 }
    }
}
