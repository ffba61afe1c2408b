//! Input normalization `(x − mean_c)/std_c`: a dataset's statistics, applied by the models.

use super::Shape;
use serde::{Deserialize, Serialize};

/// Per-channel `mean`/`std` of an input normalization (one entry applies to every channel).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Normalization {
    /// Per-channel means subtracted.
    pub mean: Vec<f32>,
    /// Per-channel standard deviations divided by.
    pub std: Vec<f32>,
}

// Compared bit for bit, so `Arch` stays `Eq`.
impl PartialEq for Normalization {
    fn eq(&self, o: &Self) -> bool {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        bits(&self.mean) == bits(&o.mean) && bits(&self.std) == bits(&o.std)
    }
}
impl Eq for Normalization {}

impl Normalization {
    /// The torchvision MNIST statistics.
    pub fn mnist() -> Normalization {
        Normalization { mean: vec![0.1307], std: vec![0.3081] }
    }

    /// The usual CIFAR-10 statistics.
    pub fn cifar10() -> Normalization {
        Normalization { mean: vec![0.4914, 0.4822, 0.4465], std: vec![0.2470, 0.2435, 0.2616] }
    }

    /// One entry or one per channel; finite means, finite positive stds.
    pub fn check(&self, channels: usize) -> Result<(), String> {
        for (key, v) in [("mean", &self.mean), ("std", &self.std)] {
            if v.len() != 1 && v.len() != channels {
                return Err(format!(
                    "normalize.{key} has {} entries, the input has {channels} channels (give 1 or {channels})",
                    v.len()
                ));
            }
            if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite() || (key == "std" && **x <= 0.0)) {
                return Err(format!(
                    "normalize.{key}[{i}] is {x} (must be finite{})",
                    if key == "std" { " and positive" } else { "" }
                ));
            }
        }
        Ok(())
    }

    fn at(v: &[f32], c: usize) -> f32 {
        if v.len() == 1 {
            v[0]
        } else {
            v[c]
        }
    }

    /// Mean and std of channel `c`.
    pub fn channel(&self, c: usize) -> (f32, f32) {
        (Self::at(&self.mean, c), Self::at(&self.std, c))
    }

    /// In place, NCHW batch of `input`-shaped samples: pixels → normalized values.
    pub fn forward(&self, x: &mut [f32], input: Shape) {
        let plane = input.h * input.w;
        for (p, chunk) in x.chunks_mut(plane).enumerate() {
            let (m, s) = self.channel(p % input.c);
            chunk.iter_mut().for_each(|v| *v = (*v - m) / s);
        }
    }

    /// In place: normalized values → pixels.
    pub fn inverse(&self, z: &mut [f32], input: Shape) {
        let plane = input.h * input.w;
        for (p, chunk) in z.chunks_mut(plane).enumerate() {
            let (m, s) = self.channel(p % input.c);
            chunk.iter_mut().for_each(|v| *v = *v * s + m);
        }
    }
}
