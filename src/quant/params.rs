//! Affine 8-bit quantization of one tensor: `real ≈ scale · (q − zero_point)`, and the schemes
//! that decide which codes feed the multiplier (peers.md §3).

use serde::{Deserialize, Serialize};

/// Scale and zero point of one quantized tensor (or one output channel).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuantParams {
    /// Real value of one code step.
    pub scale: f32,
    /// The code of real 0.
    pub zero_point: i32,
}

impl QuantParams {
    /// Asymmetric parameters for `[min, max]` on codes `[qmin, qmax]`. The range is widened to
    /// contain 0 and the zero point is nudged to an integer so real 0 is exactly representable
    /// (TFLite/TFApprox "nudged" min/max).
    pub fn asymmetric(min: f32, max: f32, qmin: i32, qmax: i32) -> QuantParams {
        let min = min.min(0.0) as f64;
        let max = max.max(0.0) as f64;
        if max - min < 1e-12 {
            return QuantParams { scale: 1.0, zero_point: qmin.max(0).min(qmax) };
        }
        let scale = (max - min) / (qmax - qmin) as f64;
        let zp = (qmin as f64 - min / scale).round().clamp(qmin as f64, qmax as f64) as i32;
        QuantParams { scale: scale as f32, zero_point: zp }
    }

    /// Symmetric parameters: zero point 0, `±absmax` on `±qmax`.
    pub fn symmetric(absmax: f32, qmax: i32) -> QuantParams {
        if absmax < 1e-12 {
            return QuantParams { scale: 1.0, zero_point: 0 };
        }
        QuantParams { scale: absmax / qmax as f32, zero_point: 0 }
    }

    /// Round-to-nearest code, clamped.
    #[inline]
    pub fn quantize(&self, x: f32, qmin: i32, qmax: i32) -> i32 {
        ((x / self.scale).round() as i32 + self.zero_point).clamp(qmin, qmax)
    }

    /// The real value of code `q`: `scale · (q − zero_point)`.
    #[inline]
    pub fn dequantize(&self, q: i32) -> f32 {
        self.scale * (q - self.zero_point) as f32
    }
}

/// Which integers reach the multiplier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum QuantScheme {
    /// uint8 activations and weights with zero points; `LUT[q_x][q_w]` through the multiplier,
    /// zero-point corrections exact (gemmlowp / ALWANN / TFApprox). Unsigned multipliers.
    #[default]
    AsymU8,
    /// uint8 activations (zero point as calibrated), symmetric int8 weights in `[−127, 127]`;
    /// `LUT[q_x][|w|]` through the unsigned multiplier, the sign applied in the accumulator.
    SignMagnitude,
    /// Two's-complement int8 activations (asymmetric, TFLite int8) and symmetric int8 weights,
    /// both straight into a signed multiplier (`mul8s_*`).
    SymS8,
}

crate::name_table!(QuantScheme, "scheme": AsymU8 = "asym-u8", SignMagnitude = "sign-magnitude", SymS8 = "sym-s8");

impl QuantScheme {
    /// Whether the scheme needs a signed multiplier.
    pub fn signed_multiplier(self) -> bool {
        matches!(self, QuantScheme::SymS8)
    }

    /// Code range of activations.
    pub fn act_range(self) -> (i32, i32) {
        match self {
            QuantScheme::AsymU8 | QuantScheme::SignMagnitude => (0, 255),
            QuantScheme::SymS8 => (-128, 127),
        }
    }

    /// Whether weights carry a zero point (asymmetric) or are symmetric.
    pub fn asymmetric_weights(self) -> bool {
        matches!(self, QuantScheme::AsymU8)
    }

    /// Multiplier operand (row = activation) of an activation code.
    #[inline]
    pub fn act_operand(self, q: i32) -> u8 {
        // Unsigned codes are 0..=255; signed codes become their two's-complement byte.
        q as u8
    }

    /// Multiplier operand (column) of a weight integer and whether the product is negated.
    #[inline]
    pub fn wgt_operand(self, w: i32) -> (u8, bool) {
        match self {
            QuantScheme::AsymU8 => (w as u8, false),
            QuantScheme::SignMagnitude => (w.unsigned_abs() as u8, w < 0),
            QuantScheme::SymS8 => (w as u8, false),
        }
    }
}

/// Weight scale granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum WeightGranularity {
    /// One scale and zero point for the whole weight tensor.
    #[default]
    PerTensor,
    /// One scale and zero point per output channel.
    PerChannel,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_exact() {
        for (lo, hi) in [(-1.3f32, 2.7f32), (0.0, 1.0), (-0.5, 0.0), (0.2, 0.9), (-3.0, -1.0)] {
            for (qmin, qmax) in [(0, 255), (-128, 127)] {
                let p = QuantParams::asymmetric(lo, hi, qmin, qmax);
                let q = p.quantize(0.0, qmin, qmax);
                assert_eq!(q, p.zero_point);
                assert_eq!(p.dequantize(q), 0.0);
                // The whole range maps inside the code range within half a step.
                let qlo = p.quantize(lo.min(0.0), qmin, qmax);
                assert!((p.dequantize(qlo) - lo.min(0.0)).abs() <= p.scale * 0.5 + 1e-6);
            }
        }
    }

    #[test]
    fn sign_magnitude_operands() {
        let s = QuantScheme::SignMagnitude;
        assert_eq!(s.wgt_operand(-127), (127, true));
        assert_eq!(s.wgt_operand(5), (5, false));
        assert_eq!(QuantScheme::SymS8.wgt_operand(-1), (0xFF, false));
        assert_eq!(QuantScheme::SymS8.act_operand(-128), 0x80);
    }
}
