//! Error metrics of an approximate multiplier against the exact product, with the definitions
//! that reproduce the EvoApprox published figures (see the EvoApprox README, "Metric definitions
//! that reproduce the published numbers"). e = approximate − exact.

use super::Lut;
use crate::sim::code_value;
use serde::Serialize;

/// Running sums over (approximate, exact) pairs; integer sums are exact, relative sums are f64
/// accumulated in a fixed order.
#[derive(Debug, Clone, Default)]
pub struct Accum {
    /// Pairs added.
    pub n: u64,
    /// Pairs with a nonzero error.
    pub n_err: u64,
    /// Σ |e|.
    pub sum_abs: u128,
    /// Σ e².
    pub sum_sq: u128,
    /// Σ e (signed).
    pub sum_e: i128,
    /// max |e|.
    pub max_abs: u64,
    /// Pairs whose exact product is not 0 (the EvoApproxLib MRE/WCRE population).
    pub n_nonzero: u64,
    /// Σ |e| / |exact| over pairs with exact ≠ 0.
    pub sum_rel: f64,
    /// max |e| / |exact| over pairs with exact ≠ 0.
    pub max_rel: f64,
    /// `|e| / max(1, |exact|)` over all pairs (evoapprox8b header MRE/WCRE).
    pub sum_rel1: f64,
    /// max |e| / max(1, |exact|) over all pairs.
    pub max_rel1: f64,
    /// Differing output bits (popcount of approx XOR exact over the output width).
    pub hd: u64,
}

impl Accum {
    /// Adds one pair's approximate and exact products; `out_mask` keeps the output bits the Hamming
    /// distance counts.
    #[inline]
    pub fn add(&mut self, approx: i64, exact: i64, out_mask: u64) {
        let e = approx - exact;
        let a = e.unsigned_abs();
        self.n += 1;
        self.n_err += (e != 0) as u64;
        self.sum_abs += a as u128;
        self.sum_sq += (a as u128) * (a as u128);
        self.sum_e += e as i128;
        self.max_abs = self.max_abs.max(a);
        let x = exact.unsigned_abs();
        if x != 0 {
            self.n_nonzero += 1;
            let r = a as f64 / x as f64;
            self.sum_rel += r;
            self.max_rel = self.max_rel.max(r);
        }
        let r1 = a as f64 / x.max(1) as f64;
        self.sum_rel1 += r1;
        self.max_rel1 = self.max_rel1.max(r1);
        self.hd += (((approx ^ exact) as u64) & out_mask).count_ones() as u64;
    }
}

/// How the pairs were chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Coverage {
    /// Every operand pair.
    Exhaustive,
    /// `n` uniformly random pairs drawn with `seed`; every metric is an estimate (and HD is
    /// scaled to the full pair count).
    Sampled {
        /// Number of pairs.
        n: u64,
        /// The seed they were drawn with.
        seed: u64,
    },
}

/// Error metrics of one multiplier (EvoApprox definitions; e = approximate − exact).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Whether every pair or a sample was measured.
    pub coverage: Coverage,
    /// Width of the row operand in bits (N).
    pub row_bits: u32,
    /// Width of the column operand in bits (M).
    pub col_bits: u32,
    /// Mean absolute error, mean |e|.
    pub mae: f64,
    /// 100·MAE / 2^(N+M) (also for signed circuits).
    pub mae_pct: f64,
    /// Worst-case absolute error, max |e|.
    pub wce: f64,
    /// 100·WCE / 2^(N+M).
    pub wce_pct: f64,
    /// 100·max |e|/|exact| over pairs with exact ≠ 0.
    pub wcre_pct: f64,
    /// Error probability: 100 × the share of pairs with e ≠ 0.
    pub ep_pct: f64,
    /// 100·mean |e|/|exact| over pairs with exact ≠ 0.
    pub mre_pct: f64,
    /// Mean squared error, mean e².
    pub mse: f64,
    /// Mean error (bias).
    pub mean_error: f64,
    /// Standard deviation of the error.
    pub error_std: f64,
    /// evoapprox8b header MRE: 100·mean |e|/max(1,|exact|) over all pairs.
    pub mre1_pct: f64,
    /// evoapprox8b header WCRE: 100·max |e|/max(1,|exact|).
    pub wcre1_pct: f64,
    /// Hamming distance summed over all pairs (scaled to 2^(N+M) pairs when sampled).
    pub hd: f64,
}

impl std::fmt::Display for Metrics {
    /// The metrics on one line: MAE (and %), WCE (and %), EP, MRE, WCRE, MSE, bias, error std.
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let m = self;
        write!(
            f,
            "MAE {:.4} ({:.4} %), WCE {} ({:.4} %), EP {:.4} %, MRE {:.4} %, WCRE {:.2} %, MSE {:.2}, bias {:.4}, error std {:.4}",
            m.mae, m.mae_pct, m.wce, m.wce_pct, m.ep_pct, m.mre_pct, m.wcre_pct, m.mse, m.mean_error, m.error_std
        )
    }
}

impl Metrics {
    /// The metrics of the pairs summed in `acc`, for `row_bits × col_bits` operands measured as
    /// `coverage` says.
    pub fn from_accum(acc: &Accum, row_bits: u32, col_bits: u32, coverage: Coverage) -> Metrics {
        let n = acc.n.max(1) as f64;
        let range = 2f64.powi((row_bits + col_bits) as i32);
        let mae = acc.sum_abs as f64 / n;
        let mse = acc.sum_sq as f64 / n;
        let mean = acc.sum_e as f64 / n;
        // Variance from exact integer sums: (n·Σe² − (Σe)²) / n².
        let var = {
            let nn = acc.n as i128;
            let num = nn * acc.sum_sq as i128 - acc.sum_e * acc.sum_e;
            num as f64 / (n * n)
        };
        let wce = acc.max_abs as f64;
        Metrics {
            coverage,
            row_bits,
            col_bits,
            mae,
            mae_pct: 100.0 * mae / range,
            wce,
            wce_pct: 100.0 * wce / range,
            wcre_pct: 100.0 * acc.max_rel,
            ep_pct: 100.0 * acc.n_err as f64 / n,
            mre_pct: if acc.n_nonzero > 0 { 100.0 * acc.sum_rel / acc.n_nonzero as f64 } else { 0.0 },
            mse,
            mean_error: mean,
            error_std: var.max(0.0).sqrt(),
            mre1_pct: 100.0 * acc.sum_rel1 / n,
            wcre1_pct: 100.0 * acc.max_rel1,
            hd: acc.hd as f64 * range / n,
        }
    }

    /// Exhaustive metrics of a complete table.
    pub fn of_lut(lut: &Lut) -> Metrics {
        let mut acc = Accum::default();
        let mask = out_mask(lut.row_bits + lut.col_bits);
        let (rb, cb, s) = (lut.row_bits, lut.col_bits, lut.signed);
        for r in 0..1u32 << rb {
            let vr = code_value(r, rb, s);
            let row = &lut.table[(r as usize) << cb..((r as usize) + 1) << cb];
            for (c, &p) in row.iter().enumerate() {
                acc.add(p as i64, vr * code_value(c as u32, cb, s), mask);
            }
        }
        Metrics::from_accum(&acc, rb, cb, Coverage::Exhaustive)
    }

    /// Estimated metrics from sampled pairs.
    pub fn of_samples(s: &crate::sim::Samples) -> Metrics {
        let mut acc = Accum::default();
        let sh = &s.shape;
        let mask = out_mask(sh.out_bits);
        for ((&r, &c), &p) in s.rows.iter().zip(&s.cols).zip(&s.products) {
            acc.add(p, sh.exact(r, c), mask);
        }
        Metrics::from_accum(&acc, sh.row_bits, sh.col_bits, Coverage::Sampled { n: s.rows.len() as u64, seed: s.seed })
    }
}

/// Mask of the low `bits` bits.
pub fn out_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_of_an_exact_table() {
        let m = Metrics::of_lut(&crate::lut::Lut::exact(4, 4, false));
        assert_eq!(
            m.to_string(),
            "MAE 0.0000 (0.0000 %), WCE 0 (0.0000 %), EP 0.0000 %, MRE 0.0000 %, WCRE 0.00 %, MSE 0.00, bias 0.0000, error std 0.0000"
        );
    }
}
