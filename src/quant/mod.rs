//! Post-training 8-bit quantization (gemmlowp/TFLite scheme) to integer-only inference.

pub mod fixed;
pub mod model;
pub mod params;
pub mod recovery;
pub mod reference;

pub use fixed::FixedMultiplier;
pub use model::{calibration_indices, ApproxLayers, GemmKind, QGemm, QLayer, QuantModel, QuantOptions};
pub use params::{QuantParams, QuantScheme, WeightGranularity};
pub use recovery::{Recover, Recovery};

#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    #[error("calibration data has {len} floats, not a positive multiple of the image size {image}")]
    Calibration { len: usize, image: usize },
    #[error("calib = {asked}: the training set has {have} images to calibrate on")]
    CalibrationCount { asked: usize, have: usize },
    #[error("parameter '{0}' missing")]
    MissingParam(String),
    #[error("parameter '{name}' has shape {got:?}, expected {want:?}")]
    ParamShape { name: String, want: Vec<usize>, got: Vec<usize> },
}
