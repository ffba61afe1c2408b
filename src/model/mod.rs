//! Network descriptions and the float engine (training, logits, input gradients).

pub mod arch;

pub use arch::{Arch, ArchName, Layer, LayerKind, ParamSpec, Shape};
