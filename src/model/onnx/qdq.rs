//! QDQ-quantized files (ONNX Runtime's `quantize_static`, `QuantFormat.QDQ`): every quantized
//! tensor is a `QuantizeLinear` → `DequantizeLinear` pair, weights and biases are integer
//! initializers read through a `DequantizeLinear`. Import keeps the network and the file's own
//! quantization apart:
//!
//! - a weight or bias `DequantizeLinear` of an integer initializer becomes the float constant it
//!   stands for (`scale·(q − zero_point)`, per axis), and the layer reading it records the scales;
//! - a `QuantizeLinear` → `DequantizeLinear` pair on a computed value becomes a Clip node to the
//!   pair's representable range `[s·(qmin − z), s·(qmax − z)]` (the float network is then the
//!   file's, rounding aside: a ReLU that the quantizer removed, because the range starts at 0,
//!   comes back as this clip) and records the pair's scale and zero point as that node's output
//!   quantization; on the input it records the input quantization; on the graph output, the
//!   logits' (the integer model keeps the last layer's int32 accumulators).

use super::{attr_i, Const, Importer, NodeProto, OnnxError, Value};
use crate::model::{LayerKind, Source, TensorQuant};

/// The code range of an 8-bit zero-point type.
fn code_range(dtype: i32) -> Option<(i32, i32)> {
    match dtype {
        super::proto::UINT8 => Some((0, 255)),
        super::proto::INT8 => Some((-128, 127)),
        // Biases: int32 codes at scale s_x·s_w.
        super::proto::INT32 => Some((i32::MIN, i32::MAX)),
        _ => None,
    }
}

/// A Q/DQ node's quantization: per element of its scale, the code range and the zero point's type.
type QParams = (Vec<TensorQuant>, (i32, i32), i32);

impl Importer<'_> {
    /// Scale and zero point (inputs 1 and 2) of a Q/DQ node, per element of the scale.
    fn qparams(&self, n: &NodeProto) -> Result<QParams, OnnxError> {
        let s = self.constant(n, 1, "the scale")?;
        let z = self.optional_constant(n, 2, "the zero point")?;
        let (zp, dtype) = match z {
            Some(z) => (z.data, z.dtype),
            None => (vec![0.0; s.data.len()], super::proto::UINT8),
        };
        let range = code_range(dtype).ok_or_else(|| {
            self.err(n, format!("zero point of data type {dtype}: only uint8, int8 (and int32 biases) are supported"))
        })?;
        if zp.len() != s.data.len() {
            return Err(self.err(n, format!("{} scales but {} zero points", s.data.len(), zp.len())));
        }
        if let Some(bad) = s.data.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
            return Err(self.err(n, format!("scale {bad}: scales must be positive")));
        }
        let q = s.data.iter().zip(&zp).map(|(&scale, &z)| TensorQuant { scale, zero_point: z as i32 }).collect();
        Ok((q, range, dtype))
    }

    pub(super) fn quantize_linear(&mut self, n: &NodeProto) -> Result<(), OnnxError> {
        let x = self.value(n, 0)?;
        if !matches!(x, Value::Input | Value::Node(_)) {
            return Err(self.err(n, "only computed values (and the input) are quantized at run time"));
        }
        let (q, range, dtype) = self.qparams(n)?;
        if dtype == super::proto::INT32 {
            return Err(self.err(n, "int32 quantization of activations is not supported (uint8 or int8)"));
        }
        let [q] = q[..] else {
            return Err(self.err(n, "a per-axis quantization of activations is not supported"));
        };
        self.quant.activations_signed = dtype == super::proto::INT8;
        let out = self.output(n)?;
        self.values.insert(out.clone(), Value::Quantized(Box::new(x), q, range));
        Ok(())
    }

    pub(super) fn dequantize_linear(&mut self, n: &NodeProto) -> Result<(), OnnxError> {
        let out = self.output(n)?.clone();
        match self.value(n, 0)? {
            Value::Const(c) => {
                let (q, _, dtype) = self.qparams(n)?;
                let axis = attr_i(n, "axis", 1);
                let per = if q.len() == 1 {
                    None
                } else {
                    let a = if axis < 0 { axis + c.dims.len() as i64 } else { axis };
                    let a = usize::try_from(a).ok().filter(|&a| a < c.dims.len() && c.dims[a] == q.len());
                    Some(a.ok_or_else(|| self.err(n, format!("{} scales along axis {axis} of {:?}", q.len(), c.dims)))?)
                };
                // Element i's index along the axis.
                let inner: usize = per.map_or(1, |a| c.dims[a + 1..].iter().product());
                let at = |i: usize| per.map_or(0, |_| (i / inner) % q.len());
                let data = c
                    .data
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| q[at(i)].scale * (v - q[at(i)].zero_point as f32))
                    .collect();
                if dtype == super::proto::INT8 || dtype == super::proto::UINT8 {
                    self.quant.weights_signed = dtype == super::proto::INT8;
                }
                self.dq_weights.insert(out.clone(), q);
                self.values.insert(out, Value::Const(Const { dims: c.dims, data, dtype: super::proto::FLOAT }));
            }
            Value::Quantized(src, q, range) => {
                let (q2, ..) = self.qparams(n)?;
                if q2 != [q] {
                    return Err(self.err(n, "dequantizes with other parameters than its QuantizeLinear"));
                }
                match *src {
                    Value::Input => {
                        self.quant.input = Some(q);
                        self.values.insert(out, Value::Input);
                    }
                    Value::Node(i) if out == self.graph_output => {
                        // The logits' own quantization: recorded, the accumulators stay the result.
                        self.quant.output = Some(q);
                        self.values.insert(out, Value::Node(i));
                    }
                    Value::Node(i) => {
                        let (min, max) =
                            (q.scale * (range.0 - q.zero_point) as f32, q.scale * (range.1 - q.zero_point) as f32);
                        let j = self.push(n, LayerKind::Clip { min, max }, &[Source::Node(i)])?;
                        self.quant.nodes.insert(self.layers[j].name.clone(), q);
                    }
                    _ => return Err(self.err(n, "dequantizes a constant's run-time quantization")),
                }
            }
            _ => return Err(self.err(n, "only integer initializers and QuantizeLinear outputs are dequantized")),
        }
        Ok(())
    }

    /// Record layer `i`'s weight quantization when its weight came through a DequantizeLinear.
    pub(super) fn weight_quant(&mut self, n: &NodeProto, i: usize) -> Result<(), OnnxError> {
        let Some(name) = n.input.get(1) else { return Ok(()) };
        if let Some(q) = self.dq_weights.get(name) {
            let out = self.shapes[i].c;
            let q = match q.len() {
                1 => vec![q[0]; out],
                k if k == out => q.clone(),
                k => return Err(self.err(n, format!("{k} weight scales for {out} output channels"))),
            };
            self.quant.weights.insert(self.layers[i].name.clone(), q);
        }
        Ok(())
    }
}
