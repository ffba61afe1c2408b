//! The one model description every engine reads: float training, input gradients, quantization
//! and the integer accelerator all walk the same `Arch`.

pub use crate::data::{Normalization, Shape};
use serde::{Deserialize, Serialize};

/// What a layer computes, with its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LayerKind {
    /// Square kernel, zero padding on all sides, bias always present.
    /// Parameters: `<name>.weight` (OIHW) and `<name>.bias`.
    Conv {
        /// Output channels.
        out_ch: usize,
        /// Kernel height and width.
        k: usize,
        /// Stride in both directions.
        stride: usize,
        /// Zero padding on each side.
        pad: usize,
    },
    /// Fully connected on the flattened (C,H,W row-major) input.
    /// Parameters: `<name>.weight` (out × in) and `<name>.bias`.
    Linear {
        /// Output features.
        out: usize,
    },
    /// Average pooling, square window, no padding.
    AvgPool {
        /// Window height and width.
        k: usize,
        /// Stride in both directions.
        stride: usize,
    },
    /// `max(x, 0)` elementwise.
    Relu,
}

/// One layer: its name (parameter tensors are `<name>.weight`/`<name>.bias`) and what it computes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// The layer's name (e.g. `conv1`, `fc2`, `conv1.relu`).
    pub name: String,
    /// What it computes.
    pub kind: LayerKind,
}

impl Layer {
    /// Whether the layer has weights and a bias (convolutions and linear layers).
    pub fn has_params(&self) -> bool {
        matches!(self.kind, LayerKind::Conv { .. } | LayerKind::Linear { .. })
    }
}

/// The two architectures the models use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArchName {
    /// LeNet-5 (see [`Arch::lenet5`]).
    Lenet5,
    /// The scaled-down AlexNet for 32×32 inputs (see [`Arch::alexnet`]).
    Alexnet,
}

crate::name_table!(ArchName, "model": Lenet5 = "lenet5", Alexnet = "alexnet");

/// A feed-forward network: input shape, then layers applied in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    Layer { name: name.into(), kind: LayerKind::Conv { out_ch, k, stride: 1, pad } }
}
fn relu(name: &str) -> Layer {
    Layer { name: format!("{name}.relu"), kind: LayerKind::Relu }
}
fn pool(name: &str) -> Layer {
    Layer { name: name.into(), kind: LayerKind::AvgPool { k: 2, stride: 2 } }
}
fn linear(name: &str, out: usize) -> Layer {
    Layer { name: name.into(), kind: LayerKind::Linear { out } }
}

impl Arch {
    /// The architecture `name` for `input` images and `classes` classes.
    pub fn new(name: ArchName, input: Shape, classes: usize) -> Arch {
        match name {
            ArchName::Lenet5 => Arch::lenet5(input, classes),
            ArchName::Alexnet => Arch::alexnet(input, classes),
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

    /// Output shape of every layer (`shapes()[i]` is the output of `layers[i]`).
    pub fn shapes(&self) -> Vec<Shape> {
        let mut s = self.input;
        let mut out = Vec::with_capacity(self.layers.len());
        for l in &self.layers {
            s = match l.kind {
                LayerKind::Conv { out_ch, k, stride, pad } => {
                    Shape::new(out_ch, (s.h + 2 * pad - k) / stride + 1, (s.w + 2 * pad - k) / stride + 1)
                }
                LayerKind::Linear { out } => Shape::new(out, 1, 1),
                LayerKind::AvgPool { k, stride } => Shape::new(s.c, (s.h - k) / stride + 1, (s.w - k) / stride + 1),
                LayerKind::Relu => s,
            };
            out.push(s);
        }
        out
    }

    /// Input shape of layer `i`.
    pub fn input_of(&self, i: usize) -> Shape {
        if i == 0 {
            self.input
        } else {
            self.shapes()[i - 1]
        }
    }

    /// Parameter tensors in layer order, PyTorch names and layouts.
    pub fn params(&self) -> Vec<ParamSpec> {
        let mut v = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let inp = self.input_of(i);
            match l.kind {
                LayerKind::Conv { out_ch, k, .. } => {
                    let fan_in = inp.c * k * k;
                    v.push(ParamSpec { name: format!("{}.weight", l.name), shape: vec![out_ch, inp.c, k, k], fan_in });
                    v.push(ParamSpec { name: format!("{}.bias", l.name), shape: vec![out_ch], fan_in });
                }
                LayerKind::Linear { out } => {
                    let fan_in = inp.numel();
                    v.push(ParamSpec { name: format!("{}.weight", l.name), shape: vec![out, fan_in], fan_in });
                    v.push(ParamSpec { name: format!("{}.bias", l.name), shape: vec![out], fan_in });
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
                    LayerKind::Conv { k, .. } => (o.numel() * inp.c * k * k) as u64,
                    LayerKind::Linear { out } => (out * inp.numel()) as u64,
                    _ => 0,
                }
            })
            .collect()
    }
}

/// `axdnn arch`: every architecture on both datasets' image shapes (MNIST 1×28×28, CIFAR-10
/// 3×32×32; 10 classes) with its per-layer MACs ([`Arch::macs_text`]).
pub fn overview() -> String {
    let inputs = [Shape::new(1, 28, 28), Shape::new(3, 32, 32)];
    [ArchName::Lenet5, ArchName::Alexnet]
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
