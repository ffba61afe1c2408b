//! Uncertainty of a measured accuracy: every robust accuracy is a binomial proportion over `n`
//! test images, reported with its 95 % Wilson score interval (good coverage at 0 % and 100 %,
//! where the normal approximation collapses to a zero-width interval).

/// z for a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// `correct` of `n` with its 95 % Wilson interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Proportion {
    /// Successes (e.g. images classified correctly).
    pub correct: usize,
    /// Trials (e.g. images).
    pub n: usize,
}

impl Proportion {
    /// `correct` of `n`; panics if `correct > n`.
    pub fn new(correct: usize, n: usize) -> Proportion {
        assert!(correct <= n, "{correct} correct of {n}");
        Proportion { correct, n }
    }

    /// `correct / n`; NaN for `n = 0`.
    pub fn value(&self) -> f64 {
        if self.n == 0 {
            return f64::NAN;
        }
        self.correct as f64 / self.n as f64
    }

    /// 95 % Wilson score interval `(low, high)`; `(0, 1)` for `n = 0`.
    pub fn wilson(&self) -> (f64, f64) {
        if self.n == 0 {
            return (0.0, 1.0);
        }
        let n = self.n as f64;
        let p = self.value();
        let z2 = Z95 * Z95;
        let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
        let half = Z95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
        // At p = 0 or 1 the bound is exactly 0 or 1 (rounding would leave it a hair inside).
        let low = if self.correct == 0 { 0.0 } else { (centre - half).max(0.0) };
        let high = if self.correct == self.n { 1.0 } else { (centre + half).min(1.0) };
        // The interval always holds the estimate.
        (low.min(p), high.max(p))
    }
}

/// Per-image outcomes as hex, most significant bit first (image `i` of a cell is bit
/// `3 − i % 4` of nibble `i / 4`).
pub fn bits_to_hex(bits: &[bool]) -> String {
    bits.chunks(4)
        .map(|c| {
            let v = c.iter().enumerate().fold(0u32, |v, (i, &b)| v | ((b as u32) << (3 - i)));
            char::from_digit(v, 16).expect("a nibble")
        })
        .collect()
}

/// Inverse of [`bits_to_hex`] for `n` images; `None` if the text does not hold `n` bits.
pub fn hex_to_bits(hex: &str, n: usize) -> Option<Vec<bool>> {
    if hex.len() != n.div_ceil(4) {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    for ch in hex.chars() {
        let v = ch.to_digit(16)?;
        for i in 0..4 {
            if out.len() < n {
                out.push(v >> (3 - i) & 1 == 1);
            } else if v >> (3 - i) & 1 == 1 {
                return None;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_known_values() {
        // Reference values: R `prop.test(..., correct = FALSE)$conf.int` / statsmodels
        // `proportion_confint(method="wilson")`.
        let (l, h) = Proportion::new(81, 100).wilson();
        assert!((l - 0.722_21).abs() < 5e-5 && (h - 0.874_85).abs() < 5e-5, "{l} {h}");
        let (l, h) = Proportion::new(0, 100).wilson();
        assert!(l == 0.0 && (h - 0.036_995).abs() < 5e-5, "{l} {h}");
        let (l, h) = Proportion::new(100, 100).wilson();
        assert!((l - 0.963_005).abs() < 5e-5 && (h - 1.0).abs() < 1e-12, "{l} {h}");
    }

    #[test]
    fn hex_round_trip() {
        for n in [0, 1, 3, 4, 5, 17, 100] {
            let bits: Vec<bool> = (0..n).map(|i| (i * 7 + 3) % 5 < 2).collect();
            let h = bits_to_hex(&bits);
            assert_eq!(hex_to_bits(&h, n).as_deref(), Some(&bits[..]), "n = {n}");
        }
        assert!(hex_to_bits("f", 3).is_none(), "a set bit beyond n");
        assert!(hex_to_bits("0", 5).is_none(), "too short");
    }
}
