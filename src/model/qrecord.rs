//! The quantization a quantized file carries (an ONNX QDQ model: QuantizeLinear/DequantizeLinear
//! pairs around its layers, as ONNX Runtime's `quantize_static` writes them), kept with the
//! model so that the integer model uses the file's own scales and zero points instead of
//! calibrating its own.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Scale and zero point of one tensor (or one output channel of a weight) as the file gives
/// them: `real = scale · (q − zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TensorQuant {
    /// Real value of one code step.
    pub scale: f32,
    /// The code of real 0.
    pub zero_point: i32,
}

/// The file's quantization of a model's values.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QuantRecord {
    /// Activations are int8 (else uint8).
    pub activations_signed: bool,
    /// Weights are int8 (else uint8).
    pub weights_signed: bool,
    /// The network input's quantization (after the model's normalization).
    pub input: Option<TensorQuant>,
    /// Output quantization of nodes, by node name.
    pub nodes: BTreeMap<String, TensorQuant>,
    /// Weight quantization of convolution and linear layers, one per output channel (all
    /// equal when the file quantizes per tensor), by layer name.
    pub weights: BTreeMap<String, Vec<TensorQuant>>,
    /// The quantization the file gives the logits (the integer model keeps the last layer's
    /// int32 accumulators; this says how the file's own 8-bit logits compare).
    pub output: Option<TensorQuant>,
}
