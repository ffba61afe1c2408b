//! Network descriptions and the float engine (training, logits, input gradients).

pub mod arch;
pub mod conv;
pub mod depthwise;
pub mod engine;
pub mod fold;
pub mod params;
pub mod qrecord;
pub mod real;

pub use arch::{Arch, ArchError, ArchName, Layer, LayerKind, Normalization, Pads, ParamSpec, Shape, Source};
pub use params::{forward_reference, Params, Tensor};
pub use qrecord::{QuantRecord, TensorQuant};
pub use real::Real;
pub mod io;
pub mod onnx;
pub mod train;
