//! The one model description every engine reads: float training, input gradients, quantization
//! and the integer accelerator all walk the same `Arch`.

pub use crate::data::{Normalization, Shape};
use serde::{Deserialize, Serialize};

/// Zero padding of a window op: rows above and below, columns left and right (ONNX's
/// `[top, left, bottom, right]`). Written in `model.json` as one number when all four are equal
/// (every model before graph models), else as that four-element list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Pads {
    /// Rows of zeros above.
    pub top: usize,
    /// Columns of zeros on the left.
    pub left: usize,
    /// Rows of zeros below.
    pub bottom: usize,
    /// Columns of zeros on the right.
    pub right: usize,
}

impl Pads {
    /// The same padding on all four sides.
    pub const fn uniform(p: usize) -> Pads {
        Pads { top: p, left: p, bottom: p, right: p }
    }
    /// The padding when all four sides are equal.
    pub fn as_uniform(&self) -> Option<usize> {
        (self.top == self.left && self.top == self.bottom && self.top == self.right).then_some(self.top)
    }
    fn is_zero(&self) -> bool {
        *self == Pads::default()
    }
}

impl From<usize> for Pads {
    fn from(p: usize) -> Pads {
        Pads::uniform(p)
    }
}

impl Serialize for Pads {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.as_uniform() {
            Some(p) => s.serialize_u64(p as u64),
            None => [self.top, self.left, self.bottom, self.right].serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Pads {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Pads, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            One(usize),
            Four([usize; 4]),
        }
        Ok(match Form::deserialize(d)? {
            Form::One(p) => Pads::uniform(p),
            Form::Four([top, left, bottom, right]) => Pads { top, left, bottom, right },
        })
    }
}

impl std::fmt::Display for Pads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.as_uniform() {
            Some(p) => write!(f, "{p}"),
            None => write!(f, "[{}, {}, {}, {}]", self.top, self.left, self.bottom, self.right),
        }
    }
}

fn one() -> usize {
    1
}
fn is_one(v: &usize) -> bool {
    *v == 1
}
fn is_false(v: &bool) -> bool {
    !*v
}
fn default_eps() -> f32 {
    1e-5
}

/// What a layer computes, with its hyper-parameters. Fields added for graph models have defaults
/// that are left out of `model.json`, so a chain model's file reads and writes as before.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LayerKind {
    /// Square kernel, zero padding, bias always present (an ONNX convolution without one gets
    /// zeros). Parameters: `<name>.weight` (`out_ch × in_ch/groups × k × k`) and `<name>.bias`.
    Conv {
        /// Output channels.
        out_ch: usize,
        /// Kernel height and width.
        k: usize,
        /// Stride in both directions.
        stride: usize,
        /// Zero padding (one number: all sides).
        pad: Pads,
        /// Channel groups: input and output channels split into this many independent
        /// convolutions (1: an ordinary convolution; the input channel count: depthwise).
        #[serde(default = "one", skip_serializing_if = "is_one")]
        groups: usize,
    },
    /// Fully connected on the flattened (C,H,W row-major) input.
    /// Parameters: `<name>.weight` (out × in) and `<name>.bias`.
    Linear {
        /// Output features.
        out: usize,
    },
    /// Average pooling over a square window.
    AvgPool {
        /// Window height and width.
        k: usize,
        /// Stride in both directions.
        stride: usize,
        /// Zero padding.
        #[serde(default, skip_serializing_if = "Pads::is_zero")]
        pad: Pads,
        /// Whether padded positions count in the divisor (ONNX `count_include_pad`; PyTorch's
        /// default is true, ONNX's false). Irrelevant without padding.
        #[serde(default, skip_serializing_if = "is_false")]
        count_include_pad: bool,
    },
    /// Max pooling over a square window; padded positions never win.
    MaxPool {
        /// Window height and width.
        k: usize,
        /// Stride in both directions.
        stride: usize,
        /// Padding (positions that take no part in the maximum).
        #[serde(default, skip_serializing_if = "Pads::is_zero")]
        pad: Pads,
    },
    /// Mean over each channel's whole plane: `c × h × w` → `c × 1 × 1`.
    GlobalAvgPool,
    /// Batch normalization of each channel with its running statistics at inference (batch
    /// statistics when training). Parameters: `<name>.weight` (γ), `<name>.bias` (β),
    /// `<name>.running_mean`, `<name>.running_var`, one value per channel (PyTorch's names).
    BatchNorm {
        /// Added to the variance before its square root.
        #[serde(default = "default_eps")]
        eps: f32,
    },
    /// `max(x, 0)` elementwise.
    Relu,
    /// `min(max(x, min), max)` elementwise (ReLU6: 0 and 6).
    Clip {
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
    /// Elementwise sum of two inputs of one shape (a residual join).
    Add,
    /// The inputs' channels one after the other (equal height and width).
    Concat,
    /// The input as a vector: `c × h × w` → `c·h·w × 1 × 1` (row-major, as PyTorch flattens).
    Flatten,
}

/// The name by which a node's `inputs` refer to the model's input image.
pub const INPUT: &str = "input";

/// One node: its name (parameter tensors are `<name>.weight`/`<name>.bias`), what it computes
/// and which values it reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// The layer's name (e.g. `conv1`, `fc2`, `conv1.relu`).
    pub name: String,
    /// What it computes.
    pub kind: LayerKind,
    /// Names of the nodes whose outputs it reads, in order ([`INPUT`] for the model's input).
    /// Empty: the previous node's output (the model input for the first node) — every node of a
    /// plain chain, so chain models' files have no such field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
}

impl Layer {
    /// A node reading the previous node's output.
    pub fn new(name: impl Into<String>, kind: LayerKind) -> Layer {
        Layer { name: name.into(), kind, inputs: Vec::new() }
    }

    /// A node reading the outputs of the named nodes.
    pub fn with_inputs(name: impl Into<String>, kind: LayerKind, inputs: &[&str]) -> Layer {
        Layer { name: name.into(), kind, inputs: inputs.iter().map(|s| s.to_string()).collect() }
    }

    /// Whether the layer has weights and a bias that go through the multiplier (convolutions
    /// and linear layers).
    pub fn has_params(&self) -> bool {
        matches!(self.kind, LayerKind::Conv { .. } | LayerKind::Linear { .. })
    }
}

/// Where a node's input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The model's input image (after the input normalization).
    Input,
    /// The output of node `i`.
    Node(usize),
}

/// The built-in architectures, and `graph` for any other network (from ONNX or a hand-written
/// `model.json`), whose nodes are its own description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArchName {
    /// LeNet-5 (see [`Arch::lenet5`]).
    Lenet5,
    /// The scaled-down AlexNet for 32×32 inputs (see [`Arch::alexnet`]).
    Alexnet,
    /// ResNet-20 of He et al. for CIFAR-10 (see [`Arch::resnet20`]).
    Resnet20,
    /// A MobileNetV2-style depthwise-separable network for 32×32 images (see [`Arch::mobilenet`]).
    Mobilenet,
    /// A network described node by node (no built-in builder).
    Graph,
}

crate::name_table!(
    ArchName,
    "model": Lenet5 = "lenet5",
    Alexnet = "alexnet",
    Resnet20 = "resnet20",
    Mobilenet = "mobilenet",
    Graph = "graph"
);

impl ArchName {
    /// Whether the architecture has batch-norm nodes of its own (so training adds none).
    pub fn has_batchnorm_nodes(self) -> bool {
        matches!(self, ArchName::Resnet20 | ArchName::Mobilenet)
    }
}

/// What is wrong with a network description, naming the node.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArchError {
    /// No nodes at all.
    #[error("the network has no nodes")]
    Empty,
    /// Two nodes with one name, or a node named like the model input.
    #[error("node '{0}': the name is used twice (or is the reserved name 'input')")]
    DuplicateName(String),
    /// An input names a node that is not defined before this one.
    #[error("node '{node}': input '{input}' is not the model input nor an earlier node")]
    UnknownInput {
        /// The node reading it.
        node: String,
        /// The name it reads.
        input: String,
    },
    /// Wrong number of inputs for the op.
    #[error("node '{node}': {op} takes {expected} input(s), got {found}")]
    Arity {
        /// The node.
        node: String,
        /// Its op.
        op: &'static str,
        /// What the op takes.
        expected: &'static str,
        /// What the node has.
        found: usize,
    },
    /// Shapes that do not fit the op.
    #[error("node '{node}': {reason}")]
    Shape {
        /// The node.
        node: String,
        /// What does not fit.
        reason: String,
    },
    /// The last node's output is not one logit per class.
    #[error("the last node '{node}' gives {found} values per image, expected {classes} logits")]
    Logits {
        /// The last node.
        node: String,
        /// Its output size.
        found: usize,
        /// The number of classes.
        classes: usize,
    },
    /// A node's output is never read (a graph must end in its one output).
    #[error("node '{0}': its output is never read and it is not the last node")]
    Dangling(String),
    /// The name is built in and these nodes are not what it builds.
    #[error("layers differ from {name} for input {input}")]
    NotBuiltin {
        /// The built-in name.
        name: ArchName,
        /// The input shape.
        input: Shape,
    },
}

/// A network: input shape, then nodes in topological order (each reads only the input and
/// earlier nodes); the last node's output is the logits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arch {
    /// Which architecture.
    pub name: ArchName,
    /// Shape of one input image.
    pub input: Shape,
    /// Number of output classes (logits).
    pub classes: usize,
    /// Layers in application order.
    pub layers: Vec<Layer>,
    /// Per-channel input normalization applied inside the model before the first layer
    /// (torchvision convention: pixels in [0, 1], `(x − mean_c)/std_c`); absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<Normalization>,
}

/// Description of one parameter tensor, named as PyTorch would name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    /// The PyTorch name (`<layer>.weight` or `<layer>.bias`).
    pub name: String,
    /// The tensor's shape (OIHW for convolution weights, out × in for linear ones).
    pub shape: Vec<usize>,
    /// Fan-in, for initialisation.
    pub fan_in: usize,
}

fn conv(name: &str, out_ch: usize, k: usize, pad: usize) -> Layer {
    Layer::new(name, LayerKind::Conv { out_ch, k, stride: 1, pad: Pads::uniform(pad), groups: 1 })
}
fn relu(name: &str) -> Layer {
    Layer::new(format!("{name}.relu"), LayerKind::Relu)
}
fn pool(name: &str) -> Layer {
    Layer::new(name, LayerKind::AvgPool { k: 2, stride: 2, pad: Pads::default(), count_include_pad: false })
}
fn linear(name: &str, out: usize) -> Layer {
    Layer::new(name, LayerKind::Linear { out })
}

/// Output size of a window op along one axis, `None` when the window does not fit.
fn window_out(size: usize, before: usize, after: usize, k: usize, stride: usize) -> Option<usize> {
    let padded = size.saturating_add(before).saturating_add(after);
    (k >= 1 && stride >= 1 && padded >= k).then(|| (padded - k) / stride + 1)
}

impl LayerKind {
    /// The op's name as errors and tables print it.
    pub fn op(&self) -> &'static str {
        match self {
            LayerKind::Conv { .. } => "conv",
            LayerKind::Linear { .. } => "linear",
            LayerKind::AvgPool { .. } => "avg_pool",
            LayerKind::MaxPool { .. } => "max_pool",
            LayerKind::GlobalAvgPool => "global_avg_pool",
            LayerKind::BatchNorm { .. } => "batch_norm",
            LayerKind::Relu => "relu",
            LayerKind::Clip { .. } => "clip",
            LayerKind::Add => "add",
            LayerKind::Concat => "concat",
            LayerKind::Flatten => "flatten",
        }
    }

    /// Output shape for these input shapes (arity already checked), or why they do not fit.
    fn out_shape(&self, ins: &[Shape]) -> Result<Shape, String> {
        let s = ins[0];
        let window = |k: usize, stride: usize, p: Pads| match (
            window_out(s.h, p.top, p.bottom, k, stride),
            window_out(s.w, p.left, p.right, k, stride),
        ) {
            (Some(h), Some(w)) => Ok((h, w)),
            _ => Err(format!("a {k}×{k} window (stride {stride}, padding {p}) does not fit input {s}")),
        };
        Ok(match *self {
            LayerKind::Conv { out_ch, k, stride, pad, groups } => {
                if groups == 0 || !s.c.is_multiple_of(groups) || !out_ch.is_multiple_of(groups) {
                    return Err(format!("{groups} groups do not divide {} input and {out_ch} output channels", s.c));
                }
                let (h, w) = window(k, stride, pad)?;
                Shape::new(out_ch, h, w)
            }
            LayerKind::Linear { out } => Shape::new(out, 1, 1),
            LayerKind::AvgPool { k, stride, pad, .. } | LayerKind::MaxPool { k, stride, pad } => {
                if pad.top >= k || pad.left >= k || pad.bottom >= k || pad.right >= k {
                    return Err(format!("padding {pad} must be smaller than the {k}×{k} window"));
                }
                let (h, w) = window(k, stride, pad)?;
                Shape::new(s.c, h, w)
            }
            LayerKind::GlobalAvgPool => Shape::new(s.c, 1, 1),
            LayerKind::Flatten => Shape::new(s.numel(), 1, 1),
            LayerKind::BatchNorm { .. } | LayerKind::Relu | LayerKind::Clip { .. } => s,
            LayerKind::Add => {
                if let Some(o) = ins.iter().find(|&&o| o != s) {
                    return Err(format!("adds inputs of shapes {s} and {o}"));
                }
                s
            }
            LayerKind::Concat => {
                if let Some(o) = ins.iter().find(|o| (o.h, o.w) != (s.h, s.w)) {
                    return Err(format!("concatenates channels of inputs {s} and {o} (height and width differ)"));
                }
                Shape::new(ins.iter().map(|o| o.c).sum(), s.h, s.w)
            }
        })
    }

    /// How many inputs the op takes: `(min, max, as text)`.
    fn arity(&self) -> (usize, usize, &'static str) {
        match self {
            LayerKind::Add => (2, 2, "2"),
            LayerKind::Concat => (1, usize::MAX, "1 or more"),
            _ => (1, 1, "1"),
        }
    }
}

impl Arch {
    /// The architecture `name` for `input` images and `classes` classes.
    ///
    /// # Panics
    /// For [`ArchName::Graph`], which has no builder (its nodes come from a file); use
    /// [`Arch::builtin`] where the name is user input.
    pub fn new(name: ArchName, input: Shape, classes: usize) -> Arch {
        Arch::builtin(name, input, classes).expect("a built-in architecture name")
    }

    /// The built-in architecture `name`, `None` for [`ArchName::Graph`].
    pub fn builtin(name: ArchName, input: Shape, classes: usize) -> Option<Arch> {
        match name {
            ArchName::Lenet5 => Some(Arch::lenet5(input, classes)),
            ArchName::Alexnet => Some(Arch::alexnet(input, classes)),
            ArchName::Resnet20 => Some(Arch::resnet20(input, classes)),
            ArchName::Mobilenet => Some(Arch::mobilenet(input, classes)),
            ArchName::Graph => None,
        }
    }

    /// LeNet-5 as in the paper: two conv + average-pool stages, a flattening 5×5 convolution to
    /// 120 channels, FC 84, FC `classes`. Inputs smaller than 32×32 (MNIST's 28×28) are padded
    /// to 32×32 by the first convolution, so every later shape is LeCun's.
    pub fn lenet5(input: Shape, classes: usize) -> Arch {
        let pad = 32usize.saturating_sub(input.h) / 2;
        Arch {
            normalize: None,
            name: ArchName::Lenet5,
            input,
            classes,
            layers: vec![
                conv("conv1", 6, 5, pad),
                relu("conv1"),
                pool("pool1"),
                conv("conv2", 16, 5, 0),
                relu("conv2"),
                pool("pool2"),
                conv("conv3", 120, 5, 0),
                relu("conv3"),
                linear("fc1", 84),
                relu("fc1"),
                linear("fc2", classes),
            ],
        }
    }

    /// AlexNet for 32×32 inputs as in the paper: five convolutions, three average pools, two fully
    /// connected layers. Channel counts (32-64-96-96-64, FC 256; about 28 M MACs and 0.5 M
    /// parameters per image) are scaled down from the ImageNet original so the model stays small
    /// and trains on a 2-core CPU. Inputs smaller than 32×32 are padded to 32×32 by conv1.
    pub fn alexnet(input: Shape, classes: usize) -> Arch {
        let pad = 32usize.saturating_sub(input.h) / 2;
        Arch {
            normalize: None,
            name: ArchName::Alexnet,
            input,
            classes,
            layers: vec![
                conv("conv1", 32, 5, 2 + pad),
                relu("conv1"),
                pool("pool1"),
                conv("conv2", 64, 5, 2),
                relu("conv2"),
                pool("pool2"),
                conv("conv3", 96, 3, 1),
                relu("conv3"),
                conv("conv4", 96, 3, 1),
                relu("conv4"),
                conv("conv5", 64, 3, 1),
                relu("conv5"),
                pool("pool3"),
                linear("fc1", 256),
                relu("fc1"),
                linear("fc2", classes),
            ],
        }
    }

    /// ResNet-20 of He et al. (2016, §4.2) for 32×32 images: a 3×3 convolution to 16 channels,
    /// three stages of three basic blocks (16, 32, 64 channels; the first block of stages 2 and
    /// 3 halves the resolution with stride 2), global average pooling, one linear layer. Every
    /// convolution is followed by batch norm. Shortcuts are identities, except where the shape
    /// changes: there a 1×1 stride-2 convolution with batch norm (option B of the paper; option A,
    /// zero-padded identity, needs an op no framework exports as one node). Node names follow
    /// the common PyTorch implementation (`layer2.0.conv1`, `layer2.0.shortcut.0`).
    pub fn resnet20(input: Shape, classes: usize) -> Arch {
        let bn = LayerKind::BatchNorm { eps: 1e-5 };
        let conv3 = |out_ch, stride| LayerKind::Conv { out_ch, k: 3, stride, pad: Pads::uniform(1), groups: 1 };
        let mut layers =
            vec![Layer::new("conv1", conv3(16, 1)), Layer::new("bn1", bn), Layer::new("relu1", LayerKind::Relu)];
        let (mut last, mut ch) = ("relu1".to_string(), 16);
        for (stage, width) in [16usize, 32, 64].into_iter().enumerate() {
            for block in 0..3 {
                let stride = if stage > 0 && block == 0 { 2 } else { 1 };
                let b = format!("layer{}.{block}", stage + 1);
                layers.push(Layer::with_inputs(format!("{b}.conv1"), conv3(width, stride), &[&last]));
                layers.push(Layer::new(format!("{b}.bn1"), bn));
                layers.push(Layer::new(format!("{b}.relu1"), LayerKind::Relu));
                layers.push(Layer::new(format!("{b}.conv2"), conv3(width, 1)));
                layers.push(Layer::new(format!("{b}.bn2"), bn));
                let shortcut = if stride != 1 || ch != width {
                    let proj = LayerKind::Conv { out_ch: width, k: 1, stride, pad: Pads::default(), groups: 1 };
                    layers.push(Layer::with_inputs(format!("{b}.shortcut.0"), proj, &[&last]));
                    layers.push(Layer::new(format!("{b}.shortcut.1"), bn));
                    format!("{b}.shortcut.1")
                } else {
                    last.clone()
                };
                layers.push(Layer::with_inputs(format!("{b}.add"), LayerKind::Add, &[&format!("{b}.bn2"), &shortcut]));
                layers.push(Layer::new(format!("{b}.relu"), LayerKind::Relu));
                (last, ch) = (format!("{b}.relu"), width);
            }
        }
        layers.push(Layer::new("avgpool", LayerKind::GlobalAvgPool));
        layers.push(Layer::new("flatten", LayerKind::Flatten));
        layers.push(Layer::new("fc", LayerKind::Linear { out: classes }));
        Arch { name: ArchName::Resnet20, input, classes, layers, normalize: None }
    }

    /// A MobileNetV2-style network (Sandler et al. 2018) sized for 32×32 images and a 2-core
    /// trainer: a 3×3 stem convolution to 32 channels, then inverted-residual blocks — 1×1
    /// expansion, depthwise 3×3, linear 1×1 projection, each with batch norm, ReLU6 after the
    /// first two, an identity shortcut where stride is 1 and the width is kept — with (expansion
    /// t, width c, blocks n, first stride s) = (1,16,1,1), (4,24,2,1), (4,32,3,2), (4,64,3,2),
    /// (4,96,2,1); a 1×1 head to 256 channels, global average pooling and one linear layer.
    /// About 35 M multiply-accumulates per image (ResNet-20: 41 M). The first blocks keep the
    /// resolution (MobileNetV2's ImageNet strides would leave a 1×1 map of a 32×32 image).
    pub fn mobilenet(input: Shape, classes: usize) -> Arch {
        let bn = LayerKind::BatchNorm { eps: 1e-5 };
        let relu6 = LayerKind::Clip { min: 0.0, max: 6.0 };
        let conv = |out_ch, k, stride, groups| LayerKind::Conv { out_ch, k, stride, pad: Pads::uniform(k / 2), groups };
        let mut layers = vec![
            Layer::new("stem.conv", conv(32, 3, 1, 1)),
            Layer::new("stem.bn", bn),
            Layer::new("stem.relu6", relu6),
        ];
        let (mut last, mut ch) = ("stem.relu6".to_string(), 32usize);
        let mut index = 0;
        for (t, width, n, first_stride) in [(1, 16, 1, 1), (4, 24, 2, 1), (4, 32, 3, 2), (4, 64, 3, 2), (4, 96, 2, 1)] {
            for i in 0..n {
                let stride = if i == 0 { first_stride } else { 1 };
                let b = format!("block{index}");
                let hidden = ch * t;
                let mut from = last.clone();
                if t != 1 {
                    layers.push(Layer::with_inputs(format!("{b}.expand"), conv(hidden, 1, 1, 1), &[&from]));
                    layers.push(Layer::new(format!("{b}.expand_bn"), bn));
                    layers.push(Layer::new(format!("{b}.expand_relu6"), relu6));
                    from = format!("{b}.expand_relu6");
                }
                layers.push(Layer::with_inputs(format!("{b}.dw"), conv(hidden, 3, stride, hidden), &[&from]));
                layers.push(Layer::new(format!("{b}.dw_bn"), bn));
                layers.push(Layer::new(format!("{b}.dw_relu6"), relu6));
                layers.push(Layer::new(format!("{b}.project"), conv(width, 1, 1, 1)));
                layers.push(Layer::new(format!("{b}.project_bn"), bn));
                last = if stride == 1 && ch == width {
                    let add = format!("{b}.add");
                    layers.push(Layer::with_inputs(add.clone(), LayerKind::Add, &[&format!("{b}.project_bn"), &last]));
                    add
                } else {
                    format!("{b}.project_bn")
                };
                ch = width;
                index += 1;
            }
        }
        layers.push(Layer::with_inputs("head.conv", conv(256, 1, 1, 1), &[&last]));
        layers.push(Layer::new("head.bn", bn));
        layers.push(Layer::new("head.relu6", relu6));
        layers.push(Layer::new("avgpool", LayerKind::GlobalAvgPool));
        layers.push(Layer::new("flatten", LayerKind::Flatten));
        layers.push(Layer::new("fc", LayerKind::Linear { out: classes }));
        Arch { name: ArchName::Mobilenet, input, classes, layers, normalize: None }
    }

    /// Whether every node reads just the previous one (LeNet-5, AlexNet and any plain stack):
    /// the form the quantizer and the accelerator walk.
    pub fn is_chain(&self) -> bool {
        self.sources().iter().enumerate().all(|(i, s)| {
            let prev = if i == 0 { Source::Input } else { Source::Node(i - 1) };
            s.len() == 1 && s[0] == prev
        })
    }

    /// Where each node's inputs come from. Names that resolve to nothing (see
    /// [`Arch::validate`]) are taken as the model input so this never fails.
    pub fn sources(&self) -> Vec<Vec<Source>> {
        let mut index = std::collections::HashMap::new();
        let mut out = Vec::with_capacity(self.layers.len());
        for (i, l) in self.layers.iter().enumerate() {
            out.push(if l.inputs.is_empty() {
                vec![if i == 0 { Source::Input } else { Source::Node(i - 1) }]
            } else {
                l.inputs.iter().map(|n| index.get(n.as_str()).map_or(Source::Input, |&j| Source::Node(j))).collect()
            });
            index.insert(l.name.as_str(), i);
        }
        out
    }

    /// How many times each node's output is read (the last node's also counts the logits).
    pub fn consumers(&self) -> Vec<usize> {
        let mut uses = vec![0; self.layers.len()];
        for srcs in self.sources() {
            for s in srcs {
                if let Source::Node(j) = s {
                    uses[j] += 1;
                }
            }
        }
        if let Some(last) = uses.last_mut() {
            *last += 1;
        }
        uses
    }

    /// Check the description: unique names, inputs defined before use, arities, shapes, every
    /// output read, and one logit per class at the end. Also, for a built-in name, that the
    /// nodes are what it builds.
    pub fn validate(&self) -> Result<(), ArchError> {
        if self.layers.is_empty() {
            return Err(ArchError::Empty);
        }
        if let Some(b) = Arch::builtin(self.name, self.input, self.classes) {
            if b.layers != self.layers {
                return Err(ArchError::NotBuiltin { name: self.name, input: self.input });
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, l) in self.layers.iter().enumerate() {
            if l.name == INPUT || !seen.insert(l.name.as_str()) {
                return Err(ArchError::DuplicateName(l.name.clone()));
            }
            if let Some(bad) =
                l.inputs.iter().find(|n| n.as_str() != INPUT && !self.layers[..i].iter().any(|p| &p.name == *n))
            {
                return Err(ArchError::UnknownInput { node: l.name.clone(), input: bad.clone() });
            }
            let found = l.inputs.len().max(1);
            let (lo, hi, text) = l.kind.arity();
            if found < lo || found > hi {
                return Err(ArchError::Arity { node: l.name.clone(), op: l.kind.op(), expected: text, found });
            }
        }
        self.try_shapes()?;
        let uses = self.consumers();
        if let Some(j) = uses.iter().position(|&u| u == 0) {
            return Err(ArchError::Dangling(self.layers[j].name.clone()));
        }
        let last = self.layers.last().expect("not empty");
        let found = self.try_shapes()?.last().expect("not empty").numel();
        if found != self.classes {
            return Err(ArchError::Logits { node: last.name.clone(), found, classes: self.classes });
        }
        Ok(())
    }

    fn try_shapes(&self) -> Result<Vec<Shape>, ArchError> {
        let mut out: Vec<Shape> = Vec::with_capacity(self.layers.len());
        for (l, srcs) in self.layers.iter().zip(self.sources()) {
            let ins: Vec<Shape> = srcs
                .iter()
                .map(|s| match s {
                    Source::Input => self.input,
                    Source::Node(j) => out[*j],
                })
                .collect();
            let s = l.kind.out_shape(&ins).map_err(|reason| ArchError::Shape { node: l.name.clone(), reason })?;
            out.push(s);
        }
        Ok(out)
    }

    /// Output shape of every layer (`shapes()[i]` is the output of `layers[i]`).
    ///
    /// # Panics
    /// On a description [`Arch::validate`] rejects (every loaded or imported model is validated).
    pub fn shapes(&self) -> Vec<Shape> {
        self.try_shapes().unwrap_or_else(|e| panic!("shapes of an invalid network: {e}"))
    }

    /// Shape of a source given every node's output shape.
    pub fn shape_of(&self, s: Source, shapes: &[Shape]) -> Shape {
        match s {
            Source::Input => self.input,
            Source::Node(j) => shapes[j],
        }
    }

    /// Input shape of layer `i` (its first input).
    pub fn input_of(&self, i: usize) -> Shape {
        let src = self.sources()[i][0];
        match src {
            Source::Input => self.input,
            Source::Node(j) => self.shapes()[j],
        }
    }

    /// Parameter tensors in layer order, PyTorch names and layouts.
    pub fn params(&self) -> Vec<ParamSpec> {
        let mut v = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let inp = self.input_of(i);
            let spec = |suffix: &str, shape: Vec<usize>, fan_in: usize| ParamSpec {
                name: format!("{}.{suffix}", l.name),
                shape,
                fan_in,
            };
            match l.kind {
                LayerKind::Conv { out_ch, k, groups, .. } => {
                    let fan_in = inp.c / groups * k * k;
                    v.push(spec("weight", vec![out_ch, inp.c / groups, k, k], fan_in));
                    v.push(spec("bias", vec![out_ch], fan_in));
                }
                LayerKind::Linear { out } => {
                    let fan_in = inp.numel();
                    v.push(spec("weight", vec![out, fan_in], fan_in));
                    v.push(spec("bias", vec![out], fan_in));
                }
                LayerKind::BatchNorm { .. } => {
                    for suffix in BATCHNORM_TENSORS {
                        v.push(spec(suffix, vec![inp.c], 1));
                    }
                }
                _ => {}
            }
        }
        v
    }

    /// The MACs per image, then one line per layer: its name, output shape and MACs.
    pub fn macs_text(&self) -> String {
        let macs = self.macs();
        let mut s = format!("{} on {}: {} MACs/image\n", self.name, self.input, macs.iter().sum::<u64>());
        for ((l, shape), m) in self.layers.iter().zip(self.shapes()).zip(macs) {
            s += &format!("  {:<12} -> {:<10} {:>10} MACs\n", l.name, shape.to_string(), m);
        }
        s
    }

    /// Multiply-accumulates per image of each layer (0 for layers without a product).
    pub fn macs(&self) -> Vec<u64> {
        let shapes = self.shapes();
        self.layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let inp = self.input_of(i);
                let o = shapes[i];
                match l.kind {
                    LayerKind::Conv { k, groups, .. } => (o.numel() * inp.c / groups * k * k) as u64,
                    LayerKind::Linear { out } => (out * inp.numel()) as u64,
                    _ => 0,
                }
            })
            .collect()
    }
}

/// A batch-norm node's parameter suffixes, in the order [`Arch::params`] lists them.
pub const BATCHNORM_TENSORS: [&str; 4] = ["weight", "bias", "running_mean", "running_var"];

/// `axdnn arch`: every architecture on both datasets' image shapes (MNIST 1×28×28, CIFAR-10
/// 3×32×32; 10 classes) with its per-layer MACs ([`Arch::macs_text`]).
pub fn overview() -> String {
    let inputs = [Shape::new(1, 28, 28), Shape::new(3, 32, 32)];
    [ArchName::Lenet5, ArchName::Alexnet, ArchName::Resnet20]
        .iter()
        .flat_map(|&a| inputs.map(|i| Arch::new(a, i, 10).macs_text()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenet5_shapes_match_lecun() {
        for input in [Shape::new(1, 28, 28), Shape::new(3, 32, 32)] {
            let a = Arch::lenet5(input, 10);
            let s = a.shapes();
            assert_eq!(s[0], Shape::new(6, 28, 28));
            assert_eq!(s[2], Shape::new(6, 14, 14));
            assert_eq!(s[5], Shape::new(16, 5, 5));
            assert_eq!(s[6], Shape::new(120, 1, 1));
            assert_eq!(*s.last().unwrap(), Shape::new(10, 1, 1));
        }
        // peers.md §1.8: 117,600 + 240,000 + 48,000 + 10,080 + 840 MACs.
        let m = Arch::lenet5(Shape::new(1, 28, 28), 10).macs();
        assert_eq!(m.iter().sum::<u64>(), 416_520);
    }

    #[test]
    fn resnet20_has_20_weight_layers_and_its_published_size() {
        let a = Arch::resnet20(Shape::new(3, 32, 32), 10);
        a.validate().unwrap();
        // 19 convolutions on the main path + 1 linear = 20; plus two 1×1 projection shortcuts.
        let convs = a.layers.iter().filter(|l| matches!(l.kind, LayerKind::Conv { k: 3, .. })).count();
        assert_eq!(convs, 19);
        assert_eq!(a.layers.iter().filter(|l| matches!(l.kind, LayerKind::Add)).count(), 9);
        let s = a.shapes();
        assert_eq!(s[s.len() - 3], Shape::new(64, 1, 1));
        // He et al.: 0.27 M parameters. Convolutions 432 + 6·2,304 + (4,608 + 5·9,216) +
        // (18,432 + 5·36,864) = 267,696, fc 640, option-B projections 16·32 + 32·64 = 2,560.
        let weights: usize = a
            .params()
            .iter()
            .filter(|p| p.name.ends_with(".weight") && p.shape.len() > 1)
            .map(|p| p.shape.iter().product::<usize>())
            .sum();
        assert_eq!(weights, 267_696 + 640 + 2_560, "conv + fc weights");
        // ≈ 41 M multiply-accumulates per image.
        let macs: u64 = a.macs().iter().sum();
        assert!((40_000_000..42_000_000).contains(&macs), "{macs}");
    }

    #[test]
    fn alexnet_shapes() {
        for input in [Shape::new(1, 28, 28), Shape::new(3, 32, 32)] {
            let a = Arch::alexnet(input, 10);
            let s = a.shapes();
            assert_eq!(s[0], Shape::new(32, 32, 32));
            assert_eq!(s[12], Shape::new(64, 4, 4));
            assert_eq!(*s.last().unwrap(), Shape::new(10, 1, 1));
            let n: usize = a.params().iter().map(|p| p.shape.iter().product::<usize>()).sum();
            assert!(n * 4 < 10_000_000, "{n} params");
        }
    }
}
