//! Post-training 8-bit quantization (gemmlowp/TFLite scheme) to integer-only inference.

pub mod fixed;
pub mod gemm;
pub mod model;
pub mod ops;
pub mod params;
pub mod recovery;
pub mod reference;

pub use fixed::FixedMultiplier;
pub use gemm::{GemmKind, QGemm};
pub use model::{calibration_indices, ApproxLayers, QLayer, QuantModel, QuantOptions};
pub use params::{QuantParams, QuantScheme, WeightGranularity};
pub use recovery::{Recover, Recovery};

/// Why a model could not be quantized.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// The calibration images are not whole images of the model's input.
    #[error("calibration data has {len} floats, not a positive multiple of the image size {image}")]
    Calibration {
        /// Floats given.
        len: usize,
        /// Floats per image.
        image: usize,
    },
    /// No calibration images, or more than the training set has (never clamped in silence).
    #[error("calib = {asked}: the training set has {have} images to calibrate on")]
    CalibrationCount {
        /// Calibration images asked for.
        asked: usize,
        /// Training images there are.
        have: usize,
    },
    /// A parameter tensor the architecture needs is missing (its name).
    #[error("parameter '{0}' missing")]
    MissingParam(String),
    /// A parameter tensor whose shape is not the architecture's.
    #[error("parameter '{name}' has shape {got:?}, expected {want:?}")]
    ParamShape {
        /// The tensor's name.
        name: String,
        /// The shape the architecture needs.
        want: Vec<usize>,
        /// The shape given.
        got: Vec<usize>,
    },
    /// A quantized file's types that the chosen scheme cannot carry.
    #[error("the model carries its own quantization ({what}), which scheme {scheme} cannot use (uint8 activations with int8 weights: sign-magnitude; int8 with int8: sym-s8; uint8 with uint8: asym-u8)")]
    GivenScheme {
        /// The scheme asked for.
        scheme: QuantScheme,
        /// The file's types.
        what: String,
    },
    /// A node the integer model cannot run yet.
    #[error("node '{node}': {what} is not supported by the integer model yet (the float engine runs it)")]
    Unsupported {
        /// The node.
        node: String,
        /// What it needs.
        what: String,
    },
}
