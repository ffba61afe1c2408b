//! ONNX in and out: a network as every framework writes it, read into a graph [`Arch`] with its
//! [`Params`], and any axdnn model written back as an ONNX file that ONNX Runtime runs.
//!
//! Import maps each ONNX node onto one graph node, with these rewrites: `Dropout` and `Identity`
//! disappear; `Sub`/`Div`/`Mul`/`Add` by constants applied to the model input become the input
//! normalization; `MatMul` by a constant becomes a linear layer, and an `Add` of a constant
//! vector right after it (or after a `Gemm`) its bias; `Reshape` to `[N, -1]` becomes `Flatten`,
//! and a `Flatten` read only by matrix products (which flatten anyway) disappears;
//! `Clip(0, ∞)` becomes ReLU; `auto_pad` becomes explicit padding, and a pool's `ceil_mode` more
//! padding at the end (where that is exact). Tensors in external data files are read from the
//! model file's folder. Anything else is refused with the node's name and op, never guessed. A
//! node that reads just the previous node records no inputs, so a plain stack imports as a chain
//! (which the quantizer and accelerator run).

pub mod folder;
pub mod proto;
mod qdq;

use super::arch::{Arch, ArchName, Layer, LayerKind, Pads, Shape, Source, BATCHNORM_TENSORS, INPUT};
use super::params::{Params, Tensor};
use crate::data::Normalization;
use prost::Message;
use proto::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The largest image dimension, kernel, stride or padding read (far beyond any CNN; keeps every
/// size computation of a hostile file within `usize`).
const MAX_DIM: i64 = 1 << 16;

/// The opset written by [`export`] (ONNX 1.8, 2020; Clip takes its bounds as inputs).
pub const EXPORT_OPSET: i64 = 13;

/// Why an ONNX file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// Reading or writing the file failed.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// Not a protobuf `ModelProto`.
    #[error("{path}: not an ONNX model ({reason})")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// Something about the graph as a whole (inputs, outputs, opset).
    #[error("{path}: {reason}")]
    Graph {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A node that cannot be imported.
    #[error("{path}: node '{node}' ({op}): {reason}")]
    Node {
        /// The file.
        path: PathBuf,
        /// The node's name (its first output's name when it has none).
        node: String,
        /// Its op type.
        op: String,
        /// Why.
        reason: String,
    },
    /// A tensor (initializer or constant) that cannot be read.
    #[error("{path}: tensor '{name}': {reason}")]
    Tensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A tensor's external data file cannot be read.
    #[error("{path}: tensor '{name}': external data file {file}: {cause}")]
    External {
        /// The ONNX file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The data file.
        file: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The imported network is not well formed (names the node).
    #[error("{path}: {source}")]
    Arch {
        /// The file.
        path: PathBuf,
        /// The description's error.
        source: super::arch::ArchError,
    },
}

/// A constant tensor: dimensions and values as f32.
#[derive(Debug, Clone)]
struct Const {
    dims: Vec<usize>,
    data: Vec<f32>,
    /// The ONNX data type it was stored as (`proto::FLOAT`, `proto::INT8`, …).
    dtype: i32,
}

/// A tensor's dimensions and values as f32 (float, double, int32 or int64 data; inline or raw).
pub fn tensor_f32(t: &TensorProto) -> Result<(Vec<usize>, Vec<f32>), String> {
    tensor_values(t).map(|c| (c.dims, c.data))
}

fn tensor_values(t: &TensorProto) -> Result<Const, String> {
    if t.data_location == proto::EXTERNAL {
        return Err("stored in an external data file, which only a model file's import reads".into());
    }
    let dims: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
        .collect::<Result<_, _>>()?;
    let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("dimensions overflow")?;
    let raw = &t.raw_data;
    let data: Vec<f32> = match t.data_type {
        proto::FLOAT if !raw.is_empty() => {
            raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        }
        proto::FLOAT => t.float_data.clone(),
        proto::DOUBLE if !raw.is_empty() => {
            raw.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32).collect()
        }
        proto::DOUBLE => t.double_data.iter().map(|&v| v as f32).collect(),
        proto::INT64 if !raw.is_empty() => {
            raw.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f32).collect()
        }
        proto::INT64 => t.int64_data.iter().map(|&v| v as f32).collect(),
        proto::INT32 if !raw.is_empty() => {
            raw.chunks_exact(4).map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")) as f32).collect()
        }
        proto::INT32 => t.int32_data.iter().map(|&v| v as f32).collect(),
        // 8-bit codes of quantized files: raw bytes, or one per int32_data entry.
        proto::INT8 if !raw.is_empty() => raw.iter().map(|&b| b as i8 as f32).collect(),
        proto::UINT8 if !raw.is_empty() => raw.iter().map(|&b| b as f32).collect(),
        proto::INT8 | proto::UINT8 => t.int32_data.iter().map(|&v| v as f32).collect(),
        other => return Err(format!("data type {other} (only float, double, int8, uint8, int32 and int64 are read)")),
    };
    if data.len() != n {
        return Err(format!("{} values for dimensions {dims:?} ({n})", data.len()));
    }
    Ok(Const { dims, data, dtype: t.data_type })
}

/// The external data file of `t` (`location`, validated), or `None` when its values are inside.
fn external_location(t: &TensorProto) -> Result<Option<&str>, String> {
    if t.data_location != proto::EXTERNAL {
        return Ok(None);
    }
    let loc = t.external_data.iter().find(|e| e.key == "location").map(|e| e.value.as_str());
    let loc = loc.ok_or("external data without a 'location'")?;
    // As ONNX's checker demands: a relative path that stays inside the model's folder.
    let inside = Path::new(loc).components().all(|c| matches!(c, std::path::Component::Normal(_)));
    if loc.is_empty() || !inside {
        return Err(format!("external data location '{loc}' is not a relative path inside the model's folder"));
    }
    Ok(Some(loc))
}

/// Read the values of `t` from its external data file (relative to `dir`, the model file's
/// folder) into `raw_data`; a tensor stored inside is left as it is.
fn load_external(t: &mut TensorProto, dir: &Path, path: &Path) -> Result<(), OnnxError> {
    let bad = |reason: String| OnnxError::Tensor { path: path.into(), name: t.name.clone(), reason };
    let Some(loc) = external_location(t).map_err(bad)? else { return Ok(()) };
    let file = dir.join(loc);
    let number = |key: &str| -> Result<Option<u64>, OnnxError> {
        match t.external_data.iter().find(|e| e.key == key) {
            None => Ok(None),
            Some(e) => e.value.parse().map(Some).map_err(|_| bad(format!("external data {key} '{}'", e.value))),
        }
    };
    let (offset, length) = (number("offset")?.unwrap_or(0), number("length")?);
    let io = |cause| OnnxError::External { path: path.into(), name: t.name.clone(), file: file.clone(), cause };
    let mut f = std::fs::File::open(&file).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    let length = length.unwrap_or(size.saturating_sub(offset));
    if offset.checked_add(length).is_none_or(|end| end > size) {
        return Err(bad(format!(
            "external data bytes {offset}..+{length} lie beyond the end of {} ({size} bytes)",
            file.display()
        )));
    }
    use std::io::{Read, Seek};
    let mut raw = vec![0u8; length as usize];
    f.seek(std::io::SeekFrom::Start(offset)).and_then(|_| f.read_exact(&mut raw)).map_err(io)?;
    t.raw_data = raw;
    t.data_location = 0;
    t.external_data.clear();
    Ok(())
}

/// The external data files a model's tensors name (relative to its folder), each once.
pub fn external_files(bytes: &[u8]) -> Vec<String> {
    let Ok(model) = ModelProto::decode(bytes) else { return Vec::new() };
    let mut files: Vec<String> =
        model_tensors(&model).filter_map(|t| external_location(t).ok().flatten().map(str::to_string)).collect();
    files.sort();
    files.dedup();
    files
}

/// The initializers and `Constant` values of a model.
fn model_tensors(model: &ModelProto) -> impl Iterator<Item = &TensorProto> {
    let g = model.graph.iter();
    let inits = g.clone().flat_map(|g| &g.initializer);
    let consts = g.flat_map(|g| &g.node).flat_map(|n| &n.attribute).filter_map(|a| a.t.as_ref());
    inits.chain(consts)
}

/// What an ONNX value name stands for during import.
#[derive(Debug, Clone)]
enum Value {
    /// The model input (after any normalization folded so far).
    Input,
    /// The output of graph node `i`.
    Node(usize),
    /// A constant.
    Const(Const),
    /// A computed value (or the input) quantized by a `QuantizeLinear` ([`qdq`]), awaiting the
    /// `DequantizeLinear` that makes it a value again.
    Quantized(Box<Value>, crate::model::TensorQuant, (i32, i32)),
}

fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}
fn attr_i(n: &NodeProto, name: &str, default: i64) -> i64 {
    attr(n, name).map_or(default, |a| a.i)
}
fn attr_f(n: &NodeProto, name: &str, default: f32) -> f32 {
    attr(n, name).map_or(default, |a| a.f)
}
fn attr_ints(n: &NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(n, name).map(|a| a.ints.clone())
}
fn attr_s(n: &NodeProto, name: &str) -> Option<String> {
    attr(n, name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
}

struct Importer<'p> {
    path: &'p Path,
    opset: i64,
    values: HashMap<String, Value>,
    layers: Vec<Layer>,
    shapes: Vec<Shape>,
    params: Params,
    input: Shape,
    norm: Option<(Vec<f32>, Vec<f32>)>,
    /// How many ONNX nodes read each value name.
    readers: HashMap<String, usize>,
    /// The op types of the nodes reading each value name.
    reader_ops: HashMap<String, Vec<String>>,
    /// The graph's output name.
    graph_output: String,
    /// The file's own quantization, when it is a QDQ model ([`qdq`]).
    quant: crate::model::QuantRecord,
    /// Weight quantization of dequantized constants, by value name (read by the layer using them).
    dq_weights: HashMap<String, Vec<crate::model::TensorQuant>>,
}

impl Importer<'_> {
    fn err(&self, n: &NodeProto, reason: impl Into<String>) -> OnnxError {
        OnnxError::Node { path: self.path.into(), node: node_name(n), op: n.op_type.clone(), reason: reason.into() }
    }

    /// The node's first output (the value it defines).
    fn output<'a>(&self, n: &'a NodeProto) -> Result<&'a String, OnnxError> {
        n.output.first().ok_or_else(|| self.err(n, "no output"))
    }

    fn value(&self, n: &NodeProto, k: usize) -> Result<Value, OnnxError> {
        let name = n.input.get(k).filter(|s| !s.is_empty()).ok_or_else(|| self.err(n, format!("input {k} missing")))?;
        self.values.get(name).cloned().ok_or_else(|| self.err(n, format!("input '{name}' is not defined before")))
    }

    fn constant(&self, n: &NodeProto, k: usize, what: &str) -> Result<Const, OnnxError> {
        match self.value(n, k)? {
            Value::Const(c) => Ok(c),
            _ => Err(self.err(n, format!("{what} (input {k}) must be a constant initializer"))),
        }
    }

    fn optional_constant(&self, n: &NodeProto, k: usize, what: &str) -> Result<Option<Const>, OnnxError> {
        if n.input.get(k).is_none_or(|s| s.is_empty()) {
            return Ok(None);
        }
        self.constant(n, k, what).map(Some)
    }

    fn source(&self, n: &NodeProto, k: usize) -> Result<Source, OnnxError> {
        match self.value(n, k)? {
            Value::Input => Ok(Source::Input),
            Value::Node(i) => Ok(Source::Node(i)),
            Value::Const(_) => Err(self.err(n, format!("input {k} is a constant; a computed value is expected"))),
            Value::Quantized(..) => {
                Err(self.err(n, format!("input {k} is quantized codes; a DequantizeLinear must come first")))
            }
        }
    }

    fn shape_of(&self, s: Source) -> Shape {
        match s {
            Source::Input => self.input,
            Source::Node(i) => self.shapes[i],
        }
    }

    /// Add a graph node reading `srcs`; its output becomes the ONNX node's first output.
    fn push(&mut self, n: &NodeProto, kind: LayerKind, srcs: &[Source]) -> Result<usize, OnnxError> {
        let base = node_name(n);
        let mut name = base.clone();
        let mut k = self.layers.len();
        while name == INPUT || self.layers.iter().any(|l| l.name == name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        let i = self.layers.len();
        let prev = if i == 0 { Source::Input } else { Source::Node(i - 1) };
        let inputs = if srcs == [prev] {
            Vec::new()
        } else {
            srcs.iter()
                .map(|s| match s {
                    Source::Input => INPUT.to_string(),
                    Source::Node(j) => self.layers[*j].name.clone(),
                })
                .collect()
        };
        let layer = Layer { name, kind, inputs };
        // Shape inference through the description's own rules (one source of truth).
        let probe = Arch {
            name: ArchName::Graph,
            input: self.input,
            classes: 0,
            layers: {
                let mut v: Vec<Layer> = self.layers.clone();
                v.push(layer.clone());
                v
            },
            normalize: None,
        };
        let shape = probe_shape(&probe).map_err(|reason| self.err(n, reason))?;
        self.layers.push(layer);
        self.shapes.push(shape);
        let out = self.output(n)?;
        self.values.insert(out.clone(), Value::Node(i));
        Ok(i)
    }

    fn set_param(&mut self, layer: usize, suffix: &str, dims: Vec<usize>, data: Vec<f32>) {
        let name = format!("{}.{suffix}", self.layers[layer].name);
        self.params.tensors.insert(name, Tensor { shape: dims, data });
    }

    fn alias(&mut self, n: &NodeProto) -> Result<(), OnnxError> {
        let v = self.value(n, 0)?;
        let out = self.output(n)?;
        self.values.insert(out.clone(), v);
        Ok(())
    }

    fn window(&self, n: &NodeProto, input: Shape, k: usize, stride: usize) -> Result<Pads, OnnxError> {
        if let Some(d) = attr_ints(n, "dilations") {
            if d.iter().any(|&v| v != 1) {
                return Err(self.err(n, format!("dilations {d:?} are not supported")));
            }
        }
        match attr_s(n, "auto_pad").as_deref() {
            None | Some("NOTSET") | Some("") => {
                let p = attr_ints(n, "pads").unwrap_or_else(|| vec![0; 4]);
                if p.len() != 4 || p.iter().any(|&v| !(0..=MAX_DIM).contains(&v)) {
                    return Err(self.err(n, format!("pads {p:?}: four values in 0..={MAX_DIM} expected (2-D)")));
                }
                Ok(Pads { top: p[0] as usize, left: p[1] as usize, bottom: p[2] as usize, right: p[3] as usize })
            }
            Some("VALID") => Ok(Pads::default()),
            Some(mode @ ("SAME_UPPER" | "SAME_LOWER")) => {
                // Output ceil(in / stride); the total padding split with the extra row/column
                // at the end (UPPER) or the beginning (LOWER).
                let total = |size: usize| ((size.div_ceil(stride) - 1) * stride + k).saturating_sub(size);
                let split = |t: usize| if mode == "SAME_UPPER" { (t / 2, t - t / 2) } else { (t - t / 2, t / 2) };
                let ((top, bottom), (left, right)) = (split(total(input.h)), split(total(input.w)));
                Ok(Pads { top, left, bottom, right })
            }
            Some(other) => Err(self.err(n, format!("auto_pad '{other}' is not an ONNX mode"))),
        }
    }

    fn square(&self, n: &NodeProto, name: &str, v: Option<Vec<i64>>, default: usize) -> Result<usize, OnnxError> {
        match v.as_deref() {
            None => Ok(default),
            Some([a, b]) if a == b && (1..=MAX_DIM).contains(a) => Ok(*a as usize),
            Some(other) => Err(self.err(n, format!("{name} {other:?}: only square 2-D values are supported"))),
        }
    }

    /// Whether the constant `Add` `n` may become the bias of node `i`: `i` is the conv or linear
    /// layer imported last and this `Add` is the only reader of its output.
    fn takes_bias(&self, n: &NodeProto, i: usize) -> bool {
        let read_once = n
            .input
            .iter()
            .all(|v| !matches!(self.values.get(v), Some(Value::Node(_))) || self.readers.get(v) == Some(&1));
        i + 1 == self.layers.len() && self.layers[i].has_params() && read_once
    }

    /// Fold an elementwise op by a constant on the model input into the normalization.
    fn normalize(&mut self, n: &NodeProto, c: &Const) -> Result<(), OnnxError> {
        let ch = self.input.c;
        let per_channel: Vec<f32> = match c.data.len() {
            1 => vec![c.data[0]; ch],
            len if len == ch && (per_channel_dims(&c.dims, ch) || self.input.h * self.input.w == 1) => c.data.clone(),
            _ => {
                return Err(
                    self.err(n, format!("a constant of shape {:?} on the input is not one value per channel", c.dims))
                )
            }
        };
        let (m, s) = self.norm.get_or_insert_with(|| (vec![0.0; ch], vec![1.0; ch]));
        // y = (x − m)/s. Sub c: m += c·s; Add c: m −= c·s; Div c: s ·= c; Mul c: s /= c.
        for (i, &v) in per_channel.iter().enumerate() {
            match n.op_type.as_str() {
                "Sub" => m[i] += v * s[i],
                "Add" => m[i] -= v * s[i],
                "Div" => s[i] *= v,
                "Mul" => s[i] /= v,
                _ => unreachable!("only elementwise ops"),
            }
        }
        self.alias(n)
    }

    fn node(&mut self, n: &NodeProto) -> Result<(), OnnxError> {
        let op = n.op_type.as_str();
        if !n.domain.is_empty() && n.domain != "ai.onnx" {
            return Err(self.err(n, format!("domain '{}' (only the default ONNX domain)", n.domain)));
        }
        match op {
            "Constant" => {
                let t = attr(n, "value").and_then(|a| a.t.as_ref()).ok_or_else(|| self.err(n, "no tensor 'value'"))?;
                let c = tensor_values(t).map_err(|r| self.err(n, r))?;
                let out = self.output(n)?;
                self.values.insert(out.clone(), Value::Const(c));
            }
            "Transpose" => {
                // Only of a constant (PyTorch writes `Linear(bias=False)` as MatMul(x, Wᵀ)):
                // folded here, as ONNX Runtime's constant folding would.
                let Value::Const(c) = self.value(n, 0)? else {
                    return Err(self.err(n, "a transpose of a computed value is not supported"));
                };
                let perm = attr_ints(n, "perm").unwrap_or_else(|| vec![1, 0]);
                let [r, k] = c.dims[..] else {
                    return Err(
                        self.err(n, format!("a constant of shape {:?}: only 2-D transposes are supported", c.dims))
                    );
                };
                if perm != [1, 0] {
                    return Err(self.err(n, format!("perm {perm:?} of a 2-D constant")));
                }
                let data = (0..r * k).map(|i| c.data[(i % r) * k + i / r]).collect();
                let out = self.output(n)?;
                self.values.insert(out.clone(), Value::Const(Const { dims: vec![k, r], data, dtype: c.dtype }));
            }
            "QuantizeLinear" => self.quantize_linear(n)?,
            "DequantizeLinear" => self.dequantize_linear(n)?,
            "Identity" | "Dropout" => {
                if n.output.len() > 1 && n.output[1..].iter().any(|o| self.readers.contains_key(o)) {
                    return Err(self.err(n, "its mask output is read"));
                }
                self.alias(n)?;
            }
            "Conv" => {
                let src = self.source(n, 0)?;
                let w = self.constant(n, 1, "the weight")?;
                let b = self.optional_constant(n, 2, "the bias")?;
                let [o, i_g, kh, kw] = w.dims[..] else {
                    return Err(self.err(n, format!("weight of shape {:?} is not 4-D (2-D convolution)", w.dims)));
                };
                if kh != kw {
                    return Err(self.err(n, format!("kernel {kh}×{kw}: only square kernels are supported")));
                }
                if w.data.is_empty() {
                    return Err(self.err(n, format!("weight of shape {:?} is empty", w.dims)));
                }
                let groups = usize::try_from(attr_i(n, "group", 1)).unwrap_or(0).max(1);
                let stride = self.square(n, "strides", attr_ints(n, "strides"), 1)?;
                let input = self.shape_of(src);
                if Some(input.c) != i_g.checked_mul(groups) {
                    return Err(self.err(
                        n,
                        format!("weight {:?} with {groups} groups does not fit {} channels", w.dims, input.c),
                    ));
                }
                let pad = self.window(n, input, kh, stride)?;
                let i = self.push(n, LayerKind::Conv { out_ch: o, k: kh, stride, pad, groups }, &[src])?;
                self.set_param(i, "weight", w.dims.clone(), w.data);
                let bias = match b {
                    Some(b) if b.data.len() == o => b.data,
                    Some(b) => return Err(self.err(n, format!("bias of {} values for {o} channels", b.data.len()))),
                    None => vec![0.0; o],
                };
                self.set_param(i, "bias", vec![o], bias);
                self.weight_quant(n, i)?;
            }
            "Gemm" | "MatMul" => {
                let src = self.source(n, 0)?;
                let b = self.constant(n, 1, "the weight")?;
                let (trans_a, trans_b) =
                    if op == "Gemm" { (attr_i(n, "transA", 0), attr_i(n, "transB", 0)) } else { (0, 0) };
                if trans_a != 0 {
                    return Err(self.err(n, "transA = 1 is not supported"));
                }
                let [r, c] = b.dims[..] else {
                    return Err(self.err(n, format!("weight of shape {:?} is not 2-D", b.dims)));
                };
                if b.data.is_empty() {
                    return Err(self.err(n, format!("weight of shape {:?} is empty", b.dims)));
                }
                // axdnn's layout is out × in (PyTorch's); ONNX's B is in × out unless transB.
                let (out, fin) = if trans_b != 0 { (r, c) } else { (c, r) };
                let input = self.shape_of(src);
                if input.numel() != fin {
                    return Err(self.err(n, format!("weight takes {fin} features, the input has {}", input.numel())));
                }
                let alpha = attr_f(n, "alpha", 1.0);
                let beta = attr_f(n, "beta", 1.0);
                let mut w = vec![0f32; out * fin];
                for o in 0..out {
                    for f in 0..fin {
                        let v = if trans_b != 0 { b.data[o * fin + f] } else { b.data[f * out + o] };
                        w[o * fin + f] = alpha * v;
                    }
                }
                let bias = match self.optional_constant(n, 2, "C")? {
                    None => vec![0.0; out],
                    Some(c) if c.data.len() == out => c.data.iter().map(|v| beta * v).collect(),
                    Some(c) if c.data.len() == 1 => vec![beta * c.data[0]; out],
                    Some(c) => return Err(self.err(n, format!("C of shape {:?} for {out} outputs", c.dims))),
                };
                let i = self.push(n, LayerKind::Linear { out }, &[src])?;
                self.set_param(i, "weight", vec![out, fin], w);
                self.set_param(i, "bias", vec![out], bias);
                self.weight_quant(n, i)?;
            }
            "Add" | "Sub" | "Mul" | "Div" => {
                let (a, b) = (self.value(n, 0)?, self.value(n, 1)?);
                match (a, b) {
                    (Value::Input, Value::Const(c)) => self.normalize(n, &c)?,
                    (Value::Const(c), Value::Input) if matches!(op, "Add" | "Mul") => self.normalize(n, &c)?,
                    (Value::Node(i), Value::Const(c)) | (Value::Const(c), Value::Node(i))
                        if op == "Add" && self.takes_bias(n, i) =>
                    {
                        // A bias after the MatMul/Gemm/Conv just imported, whose output only this Add reads.
                        let oc = self.shapes[i].c;
                        let spatial = matches!(self.layers[i].kind, LayerKind::Conv { .. });
                        let per_out = c.data.len() == 1
                            || c.data.len() == oc
                                && if spatial { per_channel_dims(&c.dims, oc) } else { c.dims.last() == Some(&oc) };
                        if !per_out {
                            return Err(self.err(
                                n,
                                format!(
                                    "adds a constant of shape {:?}, not one value per output of '{}'",
                                    c.dims, self.layers[i].name
                                ),
                            ));
                        }
                        let key = format!("{}.bias", self.layers[i].name);
                        let t = self.params.tensors.get_mut(&key).expect("a layer with a bias");
                        for (o, v) in t.data.iter_mut().enumerate() {
                            *v += c.data[if c.data.len() == 1 { 0 } else { o }];
                        }
                        let out = self.output(n)?;
                        self.values.insert(out.clone(), Value::Node(i));
                    }
                    (Value::Const(_), _) | (_, Value::Const(_)) => {
                        return Err(self.err(
                            n,
                            format!(
                                "{op} by a constant is supported only on the model input (normalization) or as a bias"
                            ),
                        ))
                    }
                    _ if op == "Add" => {
                        let (s0, s1) = (self.source(n, 0)?, self.source(n, 1)?);
                        self.push(n, LayerKind::Add, &[s0, s1])?;
                    }
                    _ => return Err(self.err(n, format!("{op} of two computed values is not supported"))),
                }
            }
            "BatchNormalization" => {
                let src = self.source(n, 0)?;
                if attr_i(n, "training_mode", 0) != 0
                    || n.output.len() > 1 && n.output[1..].iter().any(|o| !o.is_empty())
                {
                    return Err(self.err(n, "training mode (export the model in evaluation mode)"));
                }
                let c = self.shape_of(src).c;
                let ts: Vec<Const> =
                    (1..5).map(|k| self.constant(n, k, BATCHNORM_TENSORS[k - 1])).collect::<Result<_, _>>()?;
                if let Some(t) = ts.iter().find(|t| t.data.len() != c) {
                    return Err(self.err(n, format!("a parameter of {} values for {c} channels", t.data.len())));
                }
                let i = self.push(n, LayerKind::BatchNorm { eps: attr_f(n, "epsilon", 1e-5) }, &[src])?;
                for (suffix, t) in BATCHNORM_TENSORS.iter().zip(ts) {
                    self.set_param(i, suffix, vec![c], t.data);
                }
            }
            "Relu" => {
                let src = self.source(n, 0)?;
                self.push(n, LayerKind::Relu, &[src])?;
            }
            "Clip" => {
                let src = self.source(n, 0)?;
                let bound = |k: usize, name: &str, default: f32| -> Result<Option<f32>, OnnxError> {
                    if self.opset < 11 {
                        return Ok(attr(n, name).map(|a| a.f).or(Some(default)).filter(|v| v.is_finite()));
                    }
                    match self.optional_constant(n, k, name)? {
                        None => Ok(None),
                        Some(c) if c.data.len() == 1 => Ok(Some(c.data[0])),
                        Some(c) => Err(self.err(n, format!("{name} of shape {:?} is not a scalar", c.dims))),
                    }
                };
                let (lo, hi) = (bound(1, "min", f32::NEG_INFINITY)?, bound(2, "max", f32::INFINITY)?);
                let kind = match (lo, hi) {
                    (Some(min), Some(max)) if min <= max => LayerKind::Clip { min, max },
                    (Some(0.0), None) => LayerKind::Relu,
                    _ => {
                        return Err(
                            self.err(n, format!("bounds {lo:?}..{hi:?}: both finite (or min 0 alone) are supported"))
                        )
                    }
                };
                self.push(n, kind, &[src])?;
            }
            "MaxPool" | "AveragePool" => {
                let src = self.source(n, 0)?;
                if op == "MaxPool" && n.output.len() > 1 && n.output[1..].iter().any(|o| !o.is_empty()) {
                    return Err(self.err(n, "the Indices output is not supported"));
                }
                let k = self.square(n, "kernel_shape", attr_ints(n, "kernel_shape"), 0)?;
                if k == 0 {
                    return Err(self.err(n, "kernel_shape missing"));
                }
                let stride = self.square(n, "strides", attr_ints(n, "strides"), 1)?;
                let input = self.shape_of(src);
                let mut pad = self.window(n, input, k, stride)?;
                let count_include_pad = attr_i(n, "count_include_pad", 0) != 0;
                if attr_i(n, "ceil_mode", 0) != 0 {
                    let (bottom, right) = (
                        ceil_extra(input.h, pad.top, pad.bottom, k, stride),
                        ceil_extra(input.w, pad.left, pad.right, k, stride),
                    );
                    if (bottom, right) != (0, 0) && op == "AveragePool" && count_include_pad {
                        return Err(self.err(
                            n,
                            "ceil_mode = 1 with count_include_pad = 1 where a window overhangs the padding (its divisor counts the padding but not the overhang) is not supported",
                        ));
                    }
                    pad.bottom += bottom;
                    pad.right += right;
                }
                let kind = if op == "MaxPool" {
                    LayerKind::MaxPool { k, stride, pad }
                } else {
                    LayerKind::AvgPool { k, stride, pad, count_include_pad }
                };
                self.push(n, kind, &[src])?;
            }
            "GlobalAveragePool" => {
                let src = self.source(n, 0)?;
                self.push(n, LayerKind::GlobalAvgPool, &[src])?;
            }
            "Concat" => {
                let axis = attr_i(n, "axis", 1);
                if axis != 1 && axis != -3 {
                    return Err(self.err(n, format!("axis {axis}: only channels (1) are supported")));
                }
                let srcs: Vec<Source> = (0..n.input.len()).map(|k| self.source(n, k)).collect::<Result<_, _>>()?;
                self.push(n, LayerKind::Concat, &srcs)?;
            }
            "Flatten" | "Reshape" => {
                let src = self.source(n, 0)?;
                let out = self.output(n)?;
                let numel = self.shape_of(src).numel() as i64;
                if op == "Flatten" {
                    let axis = attr_i(n, "axis", 1);
                    // −3 is axis 1 of an N×C×H×W value (and no valid axis of an N×F one).
                    if axis != 1 && axis != -3 {
                        return Err(self.err(n, format!("axis {axis}: only 1 (keep the batch) is supported")));
                    }
                } else {
                    let shape = self.constant(n, 1, "the shape")?;
                    let dims: Vec<i64> = shape.data.iter().map(|&v| v as i64).collect();
                    let ok = matches!(dims[..], [_, f] if f == -1 || f == numel)
                        || matches!(dims[..], [-1, f] if f == numel);
                    if !ok {
                        return Err(
                            self.err(n, format!("shape {dims:?}: only [N, {numel}] or [N, -1] (flatten) is supported"))
                        );
                    }
                }
                // Read only by matrix products, which flatten their input anyway: no node, so
                // a plain stack stays a chain.
                if self.reader_ops.get(out).is_some_and(|ops| ops.iter().all(|o| o == "Gemm" || o == "MatMul")) {
                    self.alias(n)?;
                } else {
                    self.push(n, LayerKind::Flatten, &[src])?;
                }
            }
            "Softmax" | "LogSoftmax" => {
                return Err(self.err(n, "axdnn's models end in logits: export the network without its final softmax"));
            }
            _ => return Err(self.err(n, "this op is not supported")),
        }
        Ok(())
    }
}

/// The padding `ceil_mode = 1` adds after a pooled axis of `size` (padded by `before` and
/// `after`): output ceil((padded − k)/stride) + 1 windows, less one when the last would start in
/// the end padding (ONNX's and PyTorch's rule); the extra positions are padding, which never wins
/// a max and is not counted by an average that excludes padding.
fn ceil_extra(size: usize, before: usize, after: usize, k: usize, stride: usize) -> usize {
    let padded = size + before + after;
    if padded < k {
        return 0;
    }
    let mut out = (padded - k).div_ceil(stride) + 1;
    if (out - 1) * stride >= size + before {
        out -= 1;
    }
    ((out - 1) * stride + k).saturating_sub(padded)
}

/// Whether `dims` broadcasts one value per channel over N×C×H×W: `[C, 1, 1]` with leading 1s.
fn per_channel_dims(dims: &[usize], c: usize) -> bool {
    let k = dims.len();
    k >= 3 && dims[k - 3] == c && dims[k - 2] == 1 && dims[k - 1] == 1 && dims[..k - 3].iter().all(|&d| d == 1)
}

/// Output shape of the last node of `probe` (its earlier nodes are known good).
fn probe_shape(probe: &Arch) -> Result<Shape, String> {
    match probe.validate() {
        Ok(()) => {}
        Err(super::arch::ArchError::Shape { reason, .. }) => return Err(reason),
        Err(super::arch::ArchError::Arity { expected, found, .. }) => {
            return Err(format!("takes {expected} input(s), got {found}"))
        }
        // Dangling outputs and the logits check do not apply to a prefix.
        Err(_) => {}
    }
    Ok(*probe.shapes().last().expect("a node"))
}

fn node_name(n: &NodeProto) -> String {
    if !n.name.is_empty() {
        n.name.clone()
    } else {
        n.output.first().cloned().unwrap_or_else(|| n.op_type.clone())
    }
}

/// Read an ONNX file into a graph network and its parameters.
pub fn import(path: &Path) -> Result<(Arch, Params), OnnxError> {
    import_quantized(path).map(|(a, p, _)| (a, p))
}

/// [`import`], with the file's own quantization when it is a QDQ model ([`qdq`]).
pub fn import_quantized(path: &Path) -> Result<(Arch, Params, Option<crate::model::QuantRecord>), OnnxError> {
    let bytes = std::fs::read(path).map_err(|cause| OnnxError::Io { path: path.into(), cause })?;
    import_bytes_quantized(&bytes, path)
}

/// [`import`] from the file's bytes (`path` names it in errors; tensors stored in external
/// data files are read from `path`'s folder).
pub fn import_bytes(bytes: &[u8], path: &Path) -> Result<(Arch, Params), OnnxError> {
    import_bytes_quantized(bytes, path).map(|(a, p, _)| (a, p))
}

/// [`import_quantized`] from the file's bytes.
pub fn import_bytes_quantized(
    bytes: &[u8],
    path: &Path,
) -> Result<(Arch, Params, Option<crate::model::QuantRecord>), OnnxError> {
    let mut model =
        ModelProto::decode(bytes).map_err(|e| OnnxError::Decode { path: path.into(), reason: e.to_string() })?;
    let dir = path.parent().unwrap_or(Path::new(""));
    if let Some(g) = model.graph.as_mut() {
        let consts = g.node.iter_mut().flat_map(|n| &mut n.attribute).filter_map(|a| a.t.as_mut());
        for t in g.initializer.iter_mut().chain(consts) {
            load_external(t, dir, path)?;
        }
    }
    let graph_err = |reason: String| OnnxError::Graph { path: path.into(), reason };
    let opset =
        model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map_or(1, |o| o.version);
    let g: &GraphProto = model.graph.as_ref().ok_or_else(|| graph_err("no graph".into()))?;
    let mut values = HashMap::new();
    for t in &g.initializer {
        let c =
            tensor_values(t).map_err(|reason| OnnxError::Tensor { path: path.into(), name: t.name.clone(), reason })?;
        values.insert(t.name.clone(), Value::Const(c));
    }
    let inputs: Vec<_> = g.input.iter().filter(|i| !values.contains_key(&i.name)).collect();
    let [inp] = inputs[..] else {
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        return Err(graph_err(format!(
            "{} graph inputs {names:?}: exactly one (the image batch) is supported",
            names.len()
        )));
    };
    let dims: Vec<Option<i64>> = inp
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .map(|s| s.dim.iter().map(|d| d.dim_value).collect())
        .unwrap_or_default();
    let known = |d: &Option<i64>| d.filter(|&v| (1..=MAX_DIM).contains(&v)).map(|v| v as usize);
    let input = match &dims[..] {
        [_, c, h, w] => match (known(c), known(h), known(w)) {
            (Some(c), Some(h), Some(w)) => Shape::new(c, h, w),
            _ => {
                return Err(graph_err(format!(
                    "input '{}' has dimensions {dims:?}: C, H and W must be fixed",
                    inp.name
                )))
            }
        },
        [_, f] => match known(f) {
            Some(f) => Shape::new(f, 1, 1),
            None => {
                return Err(graph_err(format!("input '{}' has dimensions {dims:?}: features must be fixed", inp.name)))
            }
        },
        _ => return Err(graph_err(format!("input '{}' has dimensions {dims:?}: N×C×H×W (or N×F) expected", inp.name))),
    };
    values.insert(inp.name.clone(), Value::Input);
    let mut readers = HashMap::new();
    let mut reader_ops: HashMap<String, Vec<String>> = HashMap::new();
    for n in &g.node {
        for i in &n.input {
            *readers.entry(i.clone()).or_insert(0) += 1;
            reader_ops.entry(i.clone()).or_default().push(n.op_type.clone());
        }
    }
    let mut im = Importer {
        path,
        opset,
        values,
        layers: Vec::new(),
        shapes: Vec::new(),
        params: Params::default(),
        input,
        norm: None,
        readers,
        reader_ops,
        graph_output: g.output.first().map(|o| o.name.clone()).unwrap_or_default(),
        quant: Default::default(),
        dq_weights: HashMap::new(),
    };
    for n in &g.node {
        im.node(n)?;
    }
    let [out] = &g.output[..] else {
        return Err(graph_err(format!("{} graph outputs: exactly one (the logits) is supported", g.output.len())));
    };
    match im.values.get(&out.name) {
        Some(Value::Node(i)) if *i + 1 == im.layers.len() => {}
        Some(Value::Node(i)) => {
            return Err(graph_err(format!(
                "the output '{}' is node '{}', not the last node",
                out.name, im.layers[*i].name
            )))
        }
        _ => return Err(graph_err(format!("the output '{}' is not computed by a supported node", out.name))),
    }
    let classes = im.shapes.last().map_or(0, |s| s.numel());
    let normalize = im.norm.map(|(mean, std)| Normalization { mean, std });
    let arch = Arch { name: ArchName::Graph, input, classes, layers: im.layers, normalize };
    arch.validate().map_err(|source| OnnxError::Arch { path: path.into(), source })?;
    if let Some(norm) = &arch.normalize {
        norm.check(input.c).map_err(graph_err)?;
    }
    let quant = im.quant.input.is_some().then_some(im.quant);
    Ok((arch, im.params, quant))
}

fn tensor(name: &str, dims: &[usize], data: &[f32]) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: proto::FLOAT,
        name: name.into(),
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn ints(name: &str, v: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.iter().map(|&x| x as i64).collect(),
        r#type: proto::attr_type::INTS,
        ..Default::default()
    }
}

/// The attributes of a square `k × k` window at `stride` with `pad` (convolutions and pools).
fn window(k: usize, stride: usize, pad: Pads) -> Vec<AttributeProto> {
    vec![
        ints("kernel_shape", &[k, k]),
        ints("strides", &[stride, stride]),
        ints("pads", &[pad.top, pad.left, pad.bottom, pad.right]),
    ]
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: name.into(), i: v, r#type: proto::attr_type::INT, ..Default::default() }
}

fn float(name: &str, v: f32) -> AttributeProto {
    AttributeProto { name: name.into(), f: v, r#type: proto::attr_type::FLOAT, ..Default::default() }
}

fn value_info(name: &str, dims: &[Option<usize>]) -> proto::ValueInfoProto {
    proto::ValueInfoProto {
        name: name.into(),
        r#type: Some(proto::TypeProto {
            tensor_type: Some(proto::TypeProtoTensor {
                elem_type: proto::FLOAT,
                shape: Some(proto::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| match d {
                            Some(v) => proto::Dimension { dim_value: Some(*v as i64), dim_param: None },
                            None => proto::Dimension { dim_value: None, dim_param: Some("N".into()) },
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

/// An ONNX model (opset [`EXPORT_OPSET`]) computing `arch` with `params`: input `input`
/// (N×C×H×W, pixels in [0, 1]), output `logits` (N×classes). The input normalization is written
/// as `Sub` and `Div` nodes, a linear layer on a spatial value gets a `Flatten` before its
/// `Gemm`, batch norm stays a node (ONNX Runtime folds it).
pub fn export(arch: &Arch, params: &Params) -> Vec<u8> {
    let s = arch.input;
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let node = |op: &str, name: &str, inputs: Vec<String>, output: &str, attrs: Vec<AttributeProto>| NodeProto {
        input: inputs,
        output: vec![output.into()],
        name: name.into(),
        op_type: op.into(),
        attribute: attrs,
        ..Default::default()
    };
    let mut input_value = INPUT.to_string();
    if let Some(norm) = &arch.normalize {
        let per = |v: &[f32]| (0..s.c).map(|c| if v.len() == 1 { v[0] } else { v[c] }).collect::<Vec<f32>>();
        inits.push(tensor("normalize.mean", &[1, s.c, 1, 1], &per(&norm.mean)));
        inits.push(tensor("normalize.std", &[1, s.c, 1, 1], &per(&norm.std)));
        nodes.push(node(
            "Sub",
            "normalize.sub",
            vec![INPUT.into(), "normalize.mean".into()],
            "normalize.centred",
            vec![],
        ));
        nodes.push(node(
            "Div",
            "normalize.div",
            vec!["normalize.centred".into(), "normalize.std".into()],
            "normalize.out",
            vec![],
        ));
        input_value = "normalize.out".into();
    }
    // Which values ONNX holds as N×F rather than N×C×H×W: outputs of Gemm and Flatten, and
    // elementwise ops of those.
    let mut flat = vec![false; arch.layers.len()];
    for (i, (l, srcs)) in arch.layers.iter().zip(arch.sources()).enumerate() {
        let of_flat = matches!(srcs[0], Source::Node(j) if flat[j]);
        flat[i] = match l.kind {
            LayerKind::Linear { .. } | LayerKind::Flatten => true,
            LayerKind::Relu
            | LayerKind::Clip { .. }
            | LayerKind::BatchNorm { .. }
            | LayerKind::Add
            | LayerKind::Concat => of_flat,
            _ => false,
        };
    }
    let last = arch.layers.len() - 1;
    // The graph's output is N×classes: the last node's own when it is 2-D, else a Flatten of it.
    let out_name = |i: usize| if i == last && flat[last] { "logits".to_string() } else { arch.layers[i].name.clone() };
    for (i, (l, srcs)) in arch.layers.iter().zip(arch.sources()).enumerate() {
        let ins: Vec<String> = srcs
            .iter()
            .map(|&src| match src {
                Source::Input => input_value.clone(),
                Source::Node(j) => out_name(j),
            })
            .collect();
        let param = |suffix: &str| format!("{}.{suffix}", l.name);
        let mut add_param = |suffix: &str| {
            let t = &params.tensors[&param(suffix)];
            inits.push(tensor(&param(suffix), &t.shape, &t.data));
            param(suffix)
        };
        let out = out_name(i);
        let n = match l.kind {
            LayerKind::Conv { k, stride, pad, groups, .. } => node(
                "Conv",
                &l.name,
                vec![ins[0].clone(), add_param("weight"), add_param("bias")],
                &out,
                [window(k, stride, pad), vec![ints("dilations", &[1, 1]), int("group", groups as i64)]].concat(),
            ),
            LayerKind::Linear { .. } => {
                let mut a = ins[0].clone();
                // Gemm multiplies 2-D values: flatten a 4-D input first (a no-op on the data).
                if !matches!(srcs[0], Source::Node(j) if flat[j]) {
                    let f = format!("{}.flatten", l.name);
                    nodes.push(node("Flatten", &f, vec![a], &f, vec![int("axis", 1)]));
                    a = f;
                }
                node("Gemm", &l.name, vec![a, add_param("weight"), add_param("bias")], &out, vec![int("transB", 1)])
            }
            LayerKind::AvgPool { k, stride, pad, count_include_pad } => node(
                "AveragePool",
                &l.name,
                ins,
                &out,
                [window(k, stride, pad), vec![int("count_include_pad", count_include_pad as i64)]].concat(),
            ),
            LayerKind::MaxPool { k, stride, pad } => node("MaxPool", &l.name, ins, &out, window(k, stride, pad)),
            LayerKind::GlobalAvgPool => node("GlobalAveragePool", &l.name, ins, &out, vec![]),
            LayerKind::BatchNorm { eps } => {
                let mut v = vec![ins[0].clone()];
                v.extend(BATCHNORM_TENSORS.iter().map(|t| add_param(t)));
                node("BatchNormalization", &l.name, v, &out, vec![float("epsilon", eps)])
            }
            LayerKind::Relu => node("Relu", &l.name, ins, &out, vec![]),
            LayerKind::Clip { min, max } => {
                let (lo, hi) = (format!("{}.min", l.name), format!("{}.max", l.name));
                inits.push(tensor(&lo, &[], &[min]));
                inits.push(tensor(&hi, &[], &[max]));
                node("Clip", &l.name, vec![ins[0].clone(), lo, hi], &out, vec![])
            }
            LayerKind::Add => node("Add", &l.name, ins, &out, vec![]),
            LayerKind::Concat => node("Concat", &l.name, ins, &out, vec![int("axis", 1)]),
            LayerKind::Flatten => node("Flatten", &l.name, ins, &out, vec![int("axis", 1)]),
        };
        nodes.push(n);
    }
    if !flat[last] {
        nodes.push(node("Flatten", "logits.flatten", vec![out_name(last)], "logits", vec![int("axis", 1)]));
    }
    let graph = GraphProto {
        node: nodes,
        name: format!("axdnn-{}", arch.name),
        initializer: inits,
        input: vec![value_info(INPUT, &[None, Some(s.c), Some(s.h), Some(s.w)])],
        output: vec![value_info("logits", &[None, Some(arch.classes)])],
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: 7,
        producer_name: "axdnn".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        opset_import: vec![proto::OperatorSetIdProto { domain: String::new(), version: EXPORT_OPSET }],
        ..Default::default()
    };
    model.encode_to_vec()
}
