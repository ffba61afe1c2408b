//! gemmlowp / TFLite fixed-point arithmetic for requantization: a real multiplier `M > 0` is
//! stored as an int32 mantissa in `[2^30, 2^31)` and a power-of-two exponent, and applied with
//! `SaturatingRoundingDoublingHighMul` followed by a rounding right shift. Integer-only, so the
//! same accumulator always gives the same code on every machine.

use serde::{Deserialize, Serialize};

/// gemmlowp `SaturatingRoundingDoublingHighMul`: `round(a·b / 2^31)`, saturating the single
/// overflow case `a = b = i32::MIN`.
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // C++ integer division truncates toward zero, as Rust's does.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest, ties away from zero.
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    debug_assert!(exponent <= 31);
    if exponent == 0 {
        return x;
    }
    let mask: i32 = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// A positive real multiplier in fixed point: `M ≈ mantissa · 2^(shift − 31)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedMultiplier {
    /// Q0.31 mantissa in `[2^30, 2^31)` (0 when `M == 0`).
    pub mantissa: i32,
    /// Power-of-two exponent: positive = left shift before the high multiply.
    pub shift: i32,
}

impl FixedMultiplier {
    /// TFLite `QuantizeMultiplier`: `M = q · 2^shift`, `q ∈ [0.5, 1)`, `mantissa = round(q · 2^31)`.
    pub fn from_real(m: f64) -> FixedMultiplier {
        if m == 0.0 || !m.is_finite() {
            return FixedMultiplier { mantissa: 0, shift: 0 };
        }
        assert!(m > 0.0, "requantization multiplier must be positive");
        // frexp: m = q · 2^e with q in [0.5, 1).
        let mut e = m.log2().floor() as i32 + 1;
        let mut q = m / 2f64.powi(e);
        // Guard against log2 rounding at exact powers of two.
        if q >= 1.0 {
            q /= 2.0;
            e += 1;
        } else if q < 0.5 {
            q *= 2.0;
            e -= 1;
        }
        let mut q_fixed = (q * (1u64 << 31) as f64).round() as i64;
        if q_fixed == 1i64 << 31 {
            q_fixed /= 2;
            e += 1;
        }
        if e < -31 {
            // Too small to represent: the product rounds to zero anyway.
            return FixedMultiplier { mantissa: 0, shift: 0 };
        }
        FixedMultiplier { mantissa: q_fixed as i32, shift: e }
    }

    /// The real value this fixed-point multiplier represents.
    pub fn to_real(self) -> f64 {
        self.mantissa as f64 * 2f64.powi(self.shift - 31)
    }

    /// TFLite `MultiplyByQuantizedMultiplier`.
    #[inline]
    pub fn apply(self, x: i32) -> i32 {
        let left = self.shift.max(0) as u32;
        let right = (-self.shift).max(0) as u32;
        let shifted = x.wrapping_mul(1i32.wrapping_shl(left));
        rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, self.mantissa), right.min(31))
    }
}

/// [`FixedMultiplier::apply`] on eight lanes, each with its own multiplier (AVX2). Same results
/// bit for bit: the 64-bit product, its sign-dependent nudge, the truncating division by 2^31
/// and the rounding shift are all done exactly. Lanes whose mantissa is `i32::MIN` (never built
/// by [`FixedMultiplier::from_real`]) must take the scalar path, which saturates them.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub struct Requant8 {
    /// `1 << left` (the wrapping left shift as a multiply, as `apply` does).
    mul: std::arch::x86_64::__m256i,
    mantissa: std::arch::x86_64::__m256i,
    right: std::arch::x86_64::__m256i,
}

#[cfg(target_arch = "x86_64")]
impl Requant8 {
    /// `None` if a lane's mantissa is `i32::MIN`.
    ///
    /// # Safety
    /// A safe function compiled for AVX2: calling it from code not compiled for AVX2 needs
    /// `unsafe`, and is sound only on a CPU that supports AVX2.
    #[target_feature(enable = "avx2")]
    pub fn new(m: &[FixedMultiplier; 8]) -> Option<Requant8> {
        use std::arch::x86_64::*;
        if m.iter().any(|m| m.mantissa == i32::MIN) {
            return None;
        }
        let lane = |f: &dyn Fn(&FixedMultiplier) -> i32| {
            let v: [i32; 8] = std::array::from_fn(|i| f(&m[i]));
            // SAFETY: `v` is eight `i32`, 32 bytes.
            unsafe { _mm256_loadu_si256(v.as_ptr() as *const __m256i) }
        };
        Some(Requant8 {
            mul: lane(&|m| 1i32.wrapping_shl(m.shift.max(0) as u32)),
            mantissa: lane(&|m| m.mantissa),
            right: lane(&|m| ((-m.shift).max(0) as u32).min(31) as i32),
        })
    }

    /// The eight lanes of `x`, each requantized by its lane's multiplier as
    /// [`FixedMultiplier::apply`] does.
    ///
    /// # Safety
    /// A safe function compiled for AVX2: calling it from code not compiled for AVX2 needs
    /// `unsafe`, and is sound only on a CPU that supports AVX2.
    #[target_feature(enable = "avx2")]
    pub fn apply(&self, x: std::arch::x86_64::__m256i) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        let a = _mm256_mullo_epi32(x, self.mul);
        // round(a·b / 2^31) per 64-bit product: even lanes, then odd lanes moved down.
        let high = |a: __m256i, b: __m256i| {
            let ab = _mm256_mul_epi32(a, b);
            let neg = _mm256_cmpgt_epi64(_mm256_setzero_si256(), ab);
            let nudge = _mm256_blendv_epi8(_mm256_set1_epi64x(1 << 30), _mm256_set1_epi64x(1 - (1 << 30)), neg);
            let x = _mm256_add_epi64(ab, nudge);
            // Truncation toward zero: negative sums are biased by 2^31 − 1 before the shift; the
            // low 32 bits of a logical and an arithmetic shift by 31 agree.
            let xneg = _mm256_cmpgt_epi64(_mm256_setzero_si256(), x);
            let x = _mm256_add_epi64(x, _mm256_and_si256(xneg, _mm256_set1_epi64x((1 << 31) - 1)));
            _mm256_srli_epi64(x, 31)
        };
        let even = high(a, self.mantissa);
        let odd = high(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(self.mantissa, 32));
        let h = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0b1010_1010);
        // rounding_divide_by_pot(h, right).
        let one = _mm256_set1_epi32(1);
        let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, self.right), one);
        let remainder = _mm256_and_si256(h, mask);
        let threshold = _mm256_sub_epi32(_mm256_srai_epi32(mask, 1), _mm256_cmpgt_epi32(_mm256_setzero_si256(), h));
        _mm256_sub_epi32(_mm256_srav_epi32(h, self.right), _mm256_cmpgt_epi32(remainder, threshold))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn requant8_equals_scalar_apply() {
        use std::arch::x86_64::*;
        if !std::is_x86_feature_detected!("avx2") {
            eprintln!("skipped: no AVX2");
            return;
        }
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(21);
        let edges = [0, 1, -1, 2, -2, i32::MIN, i32::MAX, i32::MIN + 1, 1 << 30, -(1 << 30), 3, -3];
        for case in 0..20_000 {
            let m: [FixedMultiplier; 8] = std::array::from_fn(|_| match r.gen_range(0..4) {
                0 => FixedMultiplier::from_real(r.gen_range(1e-6..1.0)),
                1 => FixedMultiplier::from_real(r.gen_range(1.0..300.0)),
                2 => FixedMultiplier { mantissa: r.gen_range(0..i32::MAX), shift: r.gen_range(-40..40) },
                _ => FixedMultiplier { mantissa: 0, shift: 0 },
            });
            let x: [i32; 8] =
                std::array::from_fn(|_| if r.gen_bool(0.2) { edges[r.gen_range(0..edges.len())] } else { r.gen() });
            // SAFETY: AVX2 checked above.
            let got: [i32; 8] = unsafe {
                let q = Requant8::new(&m).unwrap();
                let v = q.apply(_mm256_loadu_si256(x.as_ptr() as *const __m256i));
                let mut out = [0i32; 8];
                _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, v);
                out
            };
            let want: [i32; 8] = std::array::from_fn(|i| m[i].apply(x[i]));
            assert_eq!(got, want, "case {case}: {m:?} {x:?}");
        }
        let mut m = [FixedMultiplier::from_real(0.5); 8];
        m[3].mantissa = i32::MIN;
        // SAFETY: AVX2 checked above.
        assert!(unsafe { Requant8::new(&m) }.is_none());
    }

    #[test]
    fn gemmlowp_edge_cases() {
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        // 2^30 · 2^30 / 2^31 = 2^29 exactly.
        assert_eq!(saturating_rounding_doubling_high_mul(1 << 30, 1 << 30), 1 << 29);
        // Ties away from zero.
        assert_eq!(rounding_divide_by_pot(3, 1), 2);
        assert_eq!(rounding_divide_by_pot(-3, 1), -2);
        assert_eq!(rounding_divide_by_pot(5, 2), 1);
        assert_eq!(rounding_divide_by_pot(-5, 2), -1);
        assert_eq!(rounding_divide_by_pot(6, 2), 2);
        assert_eq!(rounding_divide_by_pot(-6, 2), -2);
        assert_eq!(rounding_divide_by_pot(7, 0), 7);
    }

    #[test]
    fn multiplier_matches_real_rounding() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..20_000 {
            let m: f64 = 10f64.powf(rng.gen_range(-6.0..0.5));
            let f = FixedMultiplier::from_real(m);
            assert!((f.to_real() - m).abs() <= m * 1e-9, "{m} -> {f:?}");
            assert!((1 << 30..=i32::MAX).contains(&f.mantissa));
            let x: i32 = rng.gen_range(-5_000_000..5_000_000);
            let got = f.apply(x) as f64;
            let want = x as f64 * m;
            // Two roundings (high-mul then shift) stay within one unit of the real product.
            assert!((got - want).abs() <= 1.0, "x={x} m={m} got {got} want {want}");
        }
    }
}
