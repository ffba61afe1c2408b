//! Integer inference on a systolic-array model. The array multiplies through
//! [`crate::mult::Multiplier`] only; zero-point corrections, bias, requantization, ReLU and pooling
//! run exactly in the post-processing unit ([`crate::quant`]).
//!
//! Two engines give the same logits and the same cycle counts: [`array`] steps every PE every
//! cycle; [`fast`] computes the products directly and the timing in closed form ([`timing`]).

pub mod array;
pub mod fast;
pub mod infer;
pub mod timing;

pub use infer::{AccelConfig, Accelerator, EnergyModel, Engine, Inference, LayerStats};
pub use timing::{ArrayShape, Dataflow, GemmShape, SramCounts, Timing};

#[derive(Debug, thiserror::Error)]
pub enum AccelError {
    #[error("multiplier '{name}' is {got_bits:?}-bit, the accelerator needs 8x8")]
    Width { name: String, got_bits: (u32, u32) },
    #[error("multiplier '{name}' is {}, scheme {scheme} needs a {} multiplier",
        if *signed { "signed" } else { "unsigned" }, if *signed { "unsigned" } else { "signed" })]
    Signedness { name: String, signed: bool, scheme: crate::quant::QuantScheme },
    #[error("input has {len} floats, not a multiple of the image size {image}")]
    Input { len: usize, image: usize },
    #[error("--approx-layers names unknown layer '{0}'")]
    UnknownLayer(String),
    #[error("the multiplier assignment names layer '{layer}', which is not a GEMM layer of the model (its GEMM layers: {known})")]
    UnknownAssignedLayer { layer: String, known: String },
}
