//! Every random number an attack uses comes from a [`NoiseSource`]: seeded by default
//! ([`SeededNoise`]), or replaying recorded draws ([`ReplayNoise`]) to compare with a reference
//! implementation bit for bit. Draws cover the whole batch, in the order Foolbox makes them.

use super::AttackError;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

/// Where an attack's random numbers come from.
pub trait NoiseSource {
    /// `len` values uniform on `[low, high)`.
    fn uniform(&mut self, len: usize, low: f32, high: f32) -> Result<Vec<f32>, AttackError>;
    /// `len` standard normal values.
    fn normal(&mut self, len: usize) -> Result<Vec<f32>, AttackError>;
}

/// ChaCha8 seeded by the user's seed: the same seed gives the same draws on every machine.
pub struct SeededNoise(rand_chacha::ChaCha8Rng);

impl SeededNoise {
    /// Draws from ChaCha8 seeded with `seed`.
    pub fn new(seed: u64) -> SeededNoise {
        SeededNoise(rand_chacha::ChaCha8Rng::seed_from_u64(seed))
    }
}

impl NoiseSource for SeededNoise {
    fn uniform(&mut self, len: usize, low: f32, high: f32) -> Result<Vec<f32>, AttackError> {
        Ok((0..len).map(|_| low + (high - low) * self.0.gen::<f32>()).collect())
    }
    fn normal(&mut self, len: usize) -> Result<Vec<f32>, AttackError> {
        Ok((0..len).map(|_| self.0.sample::<f32, _>(StandardNormal)).collect())
    }
}

/// One recorded draw.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct Draw {
    /// `uniform` or `normal`.
    pub kind: String,
    /// The draw's tensor shape (its product is the number of values).
    pub shape: Vec<usize>,
    /// Lower end of a uniform draw.
    #[serde(default)]
    pub low: Option<f32>,
    /// Upper end of a uniform draw.
    #[serde(default)]
    pub high: Option<f32>,
    /// The values drawn, in row-major order.
    pub data: Vec<f32>,
}

/// Replays recorded draws in order; a draw of another kind, size or range is an error, as is
/// running out.
pub struct ReplayNoise {
    draws: std::vec::IntoIter<Draw>,
    taken: usize,
}

impl ReplayNoise {
    /// Replays `draws` in order.
    pub fn new(draws: Vec<Draw>) -> ReplayNoise {
        ReplayNoise { draws: draws.into_iter(), taken: 0 }
    }

    /// Draws not used (a complete replay leaves none).
    pub fn remaining(&self) -> usize {
        self.draws.len()
    }

    fn next(&mut self, kind: &str, len: usize, range: Option<(f32, f32)>) -> Result<Vec<f32>, AttackError> {
        let i = self.taken;
        self.taken += 1;
        let d = self
            .draws
            .next()
            .ok_or_else(|| AttackError::Replay(format!("draw {i} ({kind}, {len} values) requested, none recorded")))?;
        if d.kind != kind || d.data.len() != len {
            return Err(AttackError::Replay(format!(
                "draw {i}: requested {kind} of {len} values, recorded {} of {}",
                d.kind,
                d.data.len()
            )));
        }
        if let Some((lo, hi)) = range {
            if d.low != Some(lo) || d.high != Some(hi) {
                return Err(AttackError::Replay(format!(
                    "draw {i}: requested range [{lo}, {hi}), recorded {:?}..{:?}",
                    d.low, d.high
                )));
            }
        }
        Ok(d.data)
    }
}

impl NoiseSource for ReplayNoise {
    fn uniform(&mut self, len: usize, low: f32, high: f32) -> Result<Vec<f32>, AttackError> {
        self.next("uniform", len, Some((low, high)))
    }
    fn normal(&mut self, len: usize) -> Result<Vec<f32>, AttackError> {
        self.next("normal", len, None)
    }
}
