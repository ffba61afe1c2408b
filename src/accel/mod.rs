//! Integer inference on a systolic-array model. The array multiplies through
//! [`crate::mult::Multiplier`] only; zero-point corrections, bias, requantization, ReLU and pooling
//! run exactly in the post-processing unit ([`crate::quant`]).
//!
//! Two engines give the same logits and the same cycle counts: [`array`] steps every PE every
//! cycle; [`fast`] computes the products directly and the timing in closed form ([`timing`]).

pub mod array;
pub mod flow;
pub mod fast;
pub mod infer;
pub mod timing;

pub use infer::{AccelConfig, Accelerator, EnergyModel, Engine, Inference, LayerStats};
pub use timing::{ArrayShape, Dataflow, GemmShape, SramCounts, Timing};

/// Why an accelerator could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum AccelError {
    /// A multiplier whose operands are not 8 × 8 bits.
    #[error("multiplier '{name}' is {got_bits:?}-bit, the accelerator needs 8x8")]
    Width {
        /// The multiplier's name.
        name: String,
        /// Its operand widths (row, column).
        got_bits: (u32, u32),
    },
    /// A multiplier whose signedness is not the one the quantization scheme needs.
    #[error("multiplier '{name}' is {}, scheme {scheme} needs a {} multiplier",
        if *signed { "signed" } else { "unsigned" }, if *signed { "unsigned" } else { "signed" })]
    Signedness {
        /// The multiplier's name.
        name: String,
        /// Whether it is signed.
        signed: bool,
        /// The model's quantization scheme.
        scheme: crate::quant::QuantScheme,
    },
    /// Input that is not whole images of the model's input shape.
    #[error("input has {len} floats, not a multiple of the image size {image}")]
    Input {
        /// Floats given.
        len: usize,
        /// Floats per image.
        image: usize,
    },
    /// The model's approximate layers name a layer it does not have (the name).
    #[error("--approx-layers names unknown layer '{0}'")]
    UnknownLayer(String),
    /// A per-layer multiplier assignment names a layer that is not a GEMM layer of the model.
    #[error("the multiplier assignment names layer '{layer}', which is not a GEMM layer of the model (its GEMM layers: {known})")]
    UnknownAssignedLayer {
        /// The layer named.
        layer: String,
        /// The model's GEMM layers, comma-separated.
        known: String,
    },
}
