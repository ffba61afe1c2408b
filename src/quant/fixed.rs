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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

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
