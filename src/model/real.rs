//! The float type the engine is generic over: `f32` for training and inference, `f64` so the input
//! gradient can be checked against finite differences to 1e-3 relative error.

use super::conv::ConvGeom;
use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

/// The float type the engine computes in (`f32` or `f64`).
pub trait Real:
    Copy
    + Send
    + Sync
    + Default
    + Debug
    + PartialOrd
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// `v` as this type (exact).
    fn from_f32(v: f32) -> Self;
    /// `v` as this type (rounded to nearest for `f32`).
    fn from_f64(v: f64) -> Self;
    /// The value as `f32` (rounded to nearest from `f64`).
    fn to_f32(self) -> f32;
    /// The value as `f64` (exact).
    fn to_f64(self) -> f64;
    /// `e^self`.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// The larger of `self` and `o`: `self` if `self >= o`, else `o` (so `o` when either is NaN).
    fn max(self, o: Self) -> Self {
        if self >= o {
            self
        } else {
            o
        }
    }
    /// The smaller of `self` and `o`: `self` if `self <= o`, else `o`.
    fn min(self, o: Self) -> Self {
        if self <= o {
            self
        } else {
            o
        }
    }
    /// C = alpha·A·B + beta·C with arbitrary strides (matrixmultiply). Each output element is
    /// summed over k in a fixed order whatever the thread count, so results are deterministic.
    ///
    /// # Safety
    /// Pointers and strides must describe valid, non-aliasing (for `c`) matrices.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
    /// The fused convolution forward of `conv.rs` (`y` = conv + bias, bit-identical to im2col +
    /// [`gemm`] + bias); false where this type or CPU has none, `y` then untouched.
    fn conv_forward(x: &[Self], g: ConvGeom, w: &[Self], bias: &[Self], y: &mut [Self]) -> bool {
        let _ = (x, g, w, bias, y);
        false
    }
    /// The fused input gradient of `conv.rs` (bit-identical to col2im of Wᵀ · dy); None where
    /// this type, CPU or layer has none.
    fn conv_backward_input(dy: &[Self], g: ConvGeom, w: &[Self]) -> Option<Vec<Self>> {
        let _ = (dy, g, w);
        None
    }
}

impl Real for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    fn from_f32(v: f32) -> f32 {
        v
    }
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    fn to_f32(self) -> f32 {
        self
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn exp(self) -> f32 {
        f32::exp(self)
    }
    fn ln(self) -> f32 {
        f32::ln(self)
    }
    fn sqrt(self) -> f32 {
        f32::sqrt(self)
    }
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: f32,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        csb: isize,
        beta: f32,
        c: *mut f32,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: `Real::gemm`'s contract (valid matrices, `c` not aliased) is `sgemm`'s.
        unsafe { matrixmultiply::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
    }
    fn conv_forward(x: &[f32], g: ConvGeom, w: &[f32], bias: &[f32], y: &mut [f32]) -> bool {
        super::conv::forward(x, g, w, bias, y)
    }
    fn conv_backward_input(dy: &[f32], g: ConvGeom, w: &[f32]) -> Option<Vec<f32>> {
        super::conv::backward_input(dy, g, w)
    }
}

impl Real for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    fn from_f32(v: f32) -> f64 {
        v as f64
    }
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn exp(self) -> f64 {
        f64::exp(self)
    }
    fn ln(self) -> f64 {
        f64::ln(self)
    }
    fn sqrt(self) -> f64 {
        f64::sqrt(self)
    }
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: f64,
        a: *const f64,
        rsa: isize,
        csa: isize,
        b: *const f64,
        rsb: isize,
        csb: isize,
        beta: f64,
        c: *mut f64,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: `Real::gemm`'s contract (valid matrices, `c` not aliased) is `dgemm`'s.
        unsafe { matrixmultiply::dgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
    }
}

/// Safe wrapper: C[m×n] (row-major, contiguous) = alpha·op(A)·op(B) + beta·C, where A and B are
/// given by slices and strides. Checks the slices are long enough.
#[allow(clippy::too_many_arguments)]
pub fn gemm<T: Real>(
    m: usize,
    k: usize,
    n: usize,
    alpha: T,
    a: &[T],
    rsa: usize,
    csa: usize,
    b: &[T],
    rsb: usize,
    csb: usize,
    beta: T,
    c: &mut [T],
) {
    if m == 0 || n == 0 {
        return;
    }
    if k > 0 {
        assert!((m - 1) * rsa + (k - 1) * csa < a.len(), "gemm: A too short");
        assert!((k - 1) * rsb + (n - 1) * csb < b.len(), "gemm: B too short");
    }
    assert!(c.len() >= m * n, "gemm: C too short");
    // matrixmultiply (without its own threads) packs B serially and splits only m across
    // threads, which leaves a core idle for the engine's short, wide products (m = output
    // channels, n = images × pixels). Instead C is cut into blocks of whole columns (or rows),
    // one independent product each, run on rayon. Every element is still the same sum over k in
    // the same order (the kernel does not depend on where a column sits), so the result is
    // bit-identical to one call whatever the split or thread count.
    let parts = split_parts(m, k, n);
    let (split_cols, len) = if n >= m { (true, n) } else { (false, m) };
    // Blocks of a multiple of 64 so the 16/32-wide kernels run full tiles.
    let step = len.div_ceil(parts).div_ceil(64) * 64;
    let (ap, bp, cp) = (SendPtr(a.as_ptr() as *mut T), SendPtr(b.as_ptr() as *mut T), SendPtr(c.as_mut_ptr()));
    let block = move |lo: usize| {
        let w = step.min(len - lo);
        // SAFETY: bounds checked above; blocks cover disjoint rows or columns of C, which is a
        // distinct &mut slice; A and B are only read.
        unsafe {
            if split_cols {
                T::gemm(
                    m,
                    k,
                    w,
                    alpha,
                    ap.get(),
                    rsa as isize,
                    csa as isize,
                    bp.get().add(lo * csb),
                    rsb as isize,
                    csb as isize,
                    beta,
                    cp.get().add(lo),
                    n as isize,
                    1,
                )
            } else {
                T::gemm(
                    w,
                    k,
                    n,
                    alpha,
                    ap.get().add(lo * rsa),
                    rsa as isize,
                    csa as isize,
                    bp.get(),
                    rsb as isize,
                    csb as isize,
                    beta,
                    cp.get().add(lo * n),
                    n as isize,
                    1,
                )
            }
        }
    };
    if parts <= 1 || step >= len {
        block(0);
    } else {
        use rayon::prelude::*;
        (0..len).step_by(step).collect::<Vec<_>>().into_par_iter().for_each(block);
    }
}

/// Independent blocks for a product of `m·k·n` multiply-adds: none below ~2²⁰ (spawning costs
/// more), else a few per rayon thread so a core slowed by other load does not hold up the rest.
fn split_parts(m: usize, k: usize, n: usize) -> usize {
    let threads = rayon::current_num_threads();
    if threads <= 1 || m.saturating_mul(k).saturating_mul(n) < 1 << 20 {
        return 1;
    }
    (threads * 4).min(m.max(n).div_ceil(64))
}

/// A raw pointer rayon tasks may share. Users hand each task a disjoint part of the pointee:
/// blocks of one product here (`gemm`), output tiles and image planes in `conv.rs`.
#[derive(Clone, Copy)]
pub(super) struct SendPtr<T>(pub(super) *mut T);
// SAFETY: only ever used to write disjoint parts of one buffer from different tasks (above).
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as for `Send`: tasks share the pointer only to reach disjoint parts of the buffer.
unsafe impl<T> Sync for SendPtr<T> {}
impl<T> SendPtr<T> {
    pub(super) fn get(self) -> *mut T {
        self.0
    }
}
