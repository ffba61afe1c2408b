//! Closed-form SCALE-Sim (v2/v3) timing and SRAM access counts of one im2col GEMM on an R×C
//! array (peers.md §5): folds never overlap, compute cycles = `folds × per_fold − 1`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Weight-, output- or input-stationary (SCALE-Sim's `ws`, `os`, `is`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dataflow {
    /// Weight-stationary.
    Ws,
    /// Output-stationary.
    Os,
    /// Input-stationary.
    Is,
}

crate::name_table!(Dataflow, "dataflow": Ws = "ws" | "WS", Os = "os" | "OS", Is = "is" | "IS");

/// Physical array size: `rows × cols` processing elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ArrayShape {
    /// PE rows.
    pub rows: usize,
    /// PE columns.
    pub cols: usize,
}

impl fmt::Display for ArrayShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.rows, self.cols)
    }
}

impl std::str::FromStr for ArrayShape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("bad array size '{s}' (expected RxC, e.g. 16x16)");
        let (r, c) = s.split_once(['x', 'X']).ok_or_else(bad)?;
        let rows: usize = r.trim().parse().map_err(|_| bad())?;
        let cols: usize = c.trim().parse().map_err(|_| bad())?;
        if rows == 0 || cols == 0 {
            return Err(bad());
        }
        Ok(ArrayShape { rows, cols })
    }
}

/// The im2col GEMM of one layer and one image: `Npix × K` activations by `K × Nf` weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GemmShape {
    /// Output pixels (im2col rows).
    pub npix: usize,
    /// Reduction length.
    pub k: usize,
    /// Output channels (filters).
    pub nf: usize,
}

impl GemmShape {
    /// Multiply-accumulates: `npix·k·nf`.
    pub fn macs(&self) -> u64 {
        (self.npix * self.k * self.nf) as u64
    }

    /// (spatial rows dimension, spatial columns dimension, streamed dimension T), as
    /// [`Flow`](super::flow::Flow) maps them.
    pub fn mapping(&self, df: Dataflow) -> (usize, usize, usize) {
        let f = super::flow::Flow::of(df);
        (f.rows.extent(*self), f.cols.extent(*self), f.t.extent(*self))
    }
}

/// SRAM word accesses, counted as SCALE-Sim does (every operand word each time it enters the
/// array; WS and IS write partial sums once per row fold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SramCounts {
    /// Activation words read.
    pub ifmap_reads: u64,
    /// Weight words read.
    pub filter_reads: u64,
    /// Output (partial) sum words written.
    pub ofmap_writes: u64,
}

impl std::ops::AddAssign for SramCounts {
    fn add_assign(&mut self, o: SramCounts) {
        self.ifmap_reads += o.ifmap_reads;
        self.filter_reads += o.filter_reads;
        self.ofmap_writes += o.ofmap_writes;
    }
}

/// Closed-form timing of one GEMM.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Folds: tiles of the two spatially mapped dimensions onto the array.
    pub folds: u64,
    /// Cycles of one fold (`2R + C + T − 2` for WS and IS, `R + C + T − 2` for OS).
    pub cycles_per_fold: u64,
    /// SCALE-Sim "Compute cycles": index of the last busy cycle, `folds × per_fold − 1`.
    pub compute_cycles: u64,
    /// SRAM word accesses.
    pub sram: SramCounts,
}

fn ceil_div(a: usize, b: usize) -> usize {
    a.div_ceil(b)
}

/// Folds of `g` on array `a` in dataflow `df`: ⌈rows dimension / R⌉ · ⌈columns dimension / C⌉.
pub fn folds(g: GemmShape, df: Dataflow, a: ArrayShape) -> u64 {
    let (sr, sc, _) = g.mapping(df);
    (ceil_div(sr, a.rows) * ceil_div(sc, a.cols)) as u64
}

/// Cycles of one fold of `g` on `a` in `df` (T = the streamed dimension).
pub fn cycles_per_fold(g: GemmShape, df: Dataflow, a: ArrayShape) -> u64 {
    let (_, _, t) = g.mapping(df);
    let (r, c, t) = (a.rows as u64, a.cols as u64, t as u64);
    match df {
        Dataflow::Ws | Dataflow::Is => 2 * r + c + t - 2,
        Dataflow::Os => r + c + t - 2,
    }
}

/// Folds, cycles and SRAM accesses of `g` on `a` in `df`, in closed form.
pub fn timing(g: GemmShape, df: Dataflow, a: ArrayShape) -> Timing {
    let f = folds(g, df, a);
    let per = cycles_per_fold(g, df, a);
    let (npix, k, nf) = (g.npix as u64, g.k as u64, g.nf as u64);
    let row_folds = ceil_div(g.mapping(df).0, a.rows) as u64;
    let col_folds = ceil_div(g.mapping(df).1, a.cols) as u64;
    let sram = match df {
        Dataflow::Ws => {
            SramCounts { ifmap_reads: npix * k * col_folds, filter_reads: k * nf, ofmap_writes: npix * nf * row_folds }
        }
        Dataflow::Os => {
            SramCounts { ifmap_reads: npix * k * col_folds, filter_reads: k * nf * row_folds, ofmap_writes: npix * nf }
        }
        // The activation window is the stationary operand: loaded once per fold, filters
        // re-streamed for every pixel fold, partial sums written once per row fold.
        Dataflow::Is => {
            SramCounts { ifmap_reads: npix * k, filter_reads: k * nf * col_folds, ofmap_writes: npix * nf * row_folds }
        }
    };
    Timing { folds: f, cycles_per_fold: per, compute_cycles: f * per - 1, sram }
}

/// SCALE-Sim "Overall Util": MACs over (compute cycles × PEs).
pub fn utilization(g: GemmShape, a: ArrayShape, compute_cycles: u64) -> f64 {
    utilization_of(g.macs(), a, compute_cycles)
}

/// [`utilization`] of `macs` multiply-accumulates (a grouped layer's, over all its groups).
pub fn utilization_of(macs: u64, a: ArrayShape, compute_cycles: u64) -> f64 {
    macs as f64 / (compute_cycles as f64 * (a.rows * a.cols) as f64)
}

/// SCALE-Sim "Mapping Efficiency": mean over folds of used PEs / (R·C).
pub fn mapping_efficiency(g: GemmShape, df: Dataflow, a: ArrayShape) -> f64 {
    let (sr, sc, _) = g.mapping(df);
    (sr * sc) as f64 / (folds(g, df, a) as f64 * (a.rows * a.cols) as f64)
}

/// The im2col GEMM of every conv/linear layer of `arch` (per image), with the layer names.
pub fn gemm_shapes(arch: &crate::model::Arch) -> Vec<(String, GemmShape)> {
    use crate::model::LayerKind;
    let shapes = arch.shapes();
    arch.layers
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let inp = arch.input_of(i);
            let o = shapes[i];
            match l.kind {
                LayerKind::Conv { out_ch, k, .. } => {
                    Some((l.name.clone(), GemmShape { npix: o.h * o.w, k: k * k * inp.c, nf: out_ch }))
                }
                LayerKind::Linear { out } => Some((l.name.clone(), GemmShape { npix: 1, k: inp.numel(), nf: out })),
                _ => None,
            }
        })
        .collect()
}
