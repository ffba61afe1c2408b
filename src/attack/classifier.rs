//! What an attack sees of a model: logits, and the input gradient of the summed cross-entropy
//! when the model is differentiable.

use crate::accel::Accelerator;
use crate::model::{engine, Arch, Normalization, Params, Shape};

/// A model as an attack queries it.
pub trait Classifier: Sync {
    /// A name for messages (e.g. `lenet5 (float)`).
    fn name(&self) -> String;
    /// Values per sample.
    fn input_len(&self) -> usize;
    /// Shape of one sample (channels, height, width); attacks that work on image windows
    /// (Square) need it. A flat input is one row: 1 × 1 × [`Classifier::input_len`].
    fn input_shape(&self) -> Shape {
        Shape::new(1, 1, self.input_len())
    }
    /// Number of classes (logits per sample).
    fn classes(&self) -> usize;
    /// Logits of `x` (`n × input_len`), `n × classes`.
    fn logits(&self, x: &[f32]) -> Vec<f32>;
    /// Whether [`Classifier::loss_gradient`] returns a gradient.
    fn has_gradient(&self) -> bool {
        false
    }
    /// `∂/∂x Σ_i CE(f(x)_i, y_i)` (cross-entropy on logits, summed over the batch), or `None`.
    fn loss_gradient(&self, _x: &[f32], _labels: &[u8]) -> Option<Vec<f32>> {
        None
    }
    /// The logits of `x` (`n × classes`, as [`Classifier::logits`]) and the input gradient of a
    /// per-sample loss of those logits, `dloss(i, z_i, d)` writing `∂loss_i/∂z_i` into `d`; the
    /// backward pass is the one [`Classifier::loss_gradient`] takes (BPDA: the float model's).
    /// `None` without a gradient.
    fn logits_and_gradient(&self, _x: &[f32], _dloss: &LogitLossGrad) -> Option<(Vec<f32>, Vec<f32>)> {
        None
    }
}

pub use crate::model::engine::LogitLossGrad;

/// The float model (the paper's "accurate DNN" on which adversarial examples are generated).
pub struct FloatClassifier<'a> {
    /// The architecture.
    pub arch: &'a Arch,
    /// The float parameters.
    pub params: &'a Params,
}

impl Classifier for FloatClassifier<'_> {
    fn name(&self) -> String {
        format!("{} (float)", self.arch.name)
    }
    fn input_len(&self) -> usize {
        self.arch.input.numel()
    }
    fn input_shape(&self) -> Shape {
        self.arch.input
    }
    fn classes(&self) -> usize {
        self.arch.classes
    }
    fn logits(&self, x: &[f32]) -> Vec<f32> {
        engine::logits(self.arch, self.params, x, x.len() / self.input_len())
    }
    fn has_gradient(&self) -> bool {
        true
    }
    fn loss_gradient(&self, x: &[f32], labels: &[u8]) -> Option<Vec<f32>> {
        // Each image's gradient is of its own loss; for the summed loss they are the same.
        Some(engine::input_gradient(self.arch, self.params, x, labels).1)
    }
    fn logits_and_gradient(&self, x: &[f32], dloss: &LogitLossGrad) -> Option<(Vec<f32>, Vec<f32>)> {
        Some(engine::input_gradient_seeded(self.arch, self.params, x, None, dloss))
    }
}

/// The quantized model on the simulated accelerator (integer inference through the chosen
/// multiplier). No gradient: gradient attacks are generated on a float surrogate and evaluated
/// here (the paper's Algorithm 1); decision-only attacks can query it directly.
pub struct AccelClassifier<'a> {
    /// The accelerator running the quantized model.
    pub accel: &'a Accelerator<'a>,
    /// The name messages give it.
    pub label: String,
}

impl Classifier for AccelClassifier<'_> {
    fn name(&self) -> String {
        self.label.clone()
    }
    fn input_len(&self) -> usize {
        self.accel.model().arch.input.numel()
    }
    fn input_shape(&self) -> Shape {
        self.accel.model().arch.input
    }
    fn classes(&self) -> usize {
        self.accel.model().arch.classes
    }
    fn logits(&self, x: &[f32]) -> Vec<f32> {
        self.accel.run(x).expect("input length checked by the attack").logits
    }
}

/// The adaptive attacker's view of the accelerator (BPDA, Athalye et al. 2018): logits, loss and
/// success criterion are the accelerator's, the gradient of that loss is taken back through the
/// float model at the same input (straight through the integer pipeline, which has no useful
/// gradient of its own).
pub struct BpdaClassifier<'a> {
    /// The accelerator whose logits and decisions count.
    pub accel: &'a Accelerator<'a>,
    /// The float model's architecture (the accelerator's model's).
    pub arch: &'a Arch,
    /// The differentiable approximation of the accelerator's model.
    pub params: &'a Params,
    /// The name messages give it.
    pub label: String,
}

impl Classifier for BpdaClassifier<'_> {
    fn name(&self) -> String {
        format!("{} (BPDA through the float model)", self.label)
    }
    fn input_len(&self) -> usize {
        self.arch.input.numel()
    }
    fn input_shape(&self) -> Shape {
        self.arch.input
    }
    fn classes(&self) -> usize {
        self.arch.classes
    }
    fn logits(&self, x: &[f32]) -> Vec<f32> {
        self.accel.run(x).expect("input length checked by the attack").logits
    }
    fn has_gradient(&self) -> bool {
        true
    }
    fn loss_gradient(&self, x: &[f32], labels: &[u8]) -> Option<Vec<f32>> {
        let head = self.logits(x);
        Some(engine::input_gradient_head(self.arch, self.params, x, labels, Some(&head)).1)
    }
    fn logits_and_gradient(&self, x: &[f32], dloss: &LogitLossGrad) -> Option<(Vec<f32>, Vec<f32>)> {
        let head = self.logits(x);
        Some(engine::input_gradient_seeded(self.arch, self.params, x, Some(&head), dloss))
    }
}

/// A classifier seen in normalized coordinates `z = (x − mean_c)/std_c`: the attack's budgets
/// and steps are then in the units of the normalized input (as many papers state them).
pub struct NormalizedView<'a> {
    /// The classifier in pixel coordinates.
    pub inner: &'a dyn Classifier,
    /// The per-channel normalization `z = (x − mean_c)/std_c`.
    pub norm: &'a Normalization,
    /// Shape of one sample (for the channel of each element).
    pub input: Shape,
}

impl Classifier for NormalizedView<'_> {
    fn name(&self) -> String {
        format!("{} (normalized coordinates)", self.inner.name())
    }
    fn input_len(&self) -> usize {
        self.inner.input_len()
    }
    fn input_shape(&self) -> Shape {
        self.input
    }
    fn classes(&self) -> usize {
        self.inner.classes()
    }
    fn logits(&self, z: &[f32]) -> Vec<f32> {
        let mut x = z.to_vec();
        self.norm.inverse(&mut x, self.input);
        self.inner.logits(&x)
    }
    fn has_gradient(&self) -> bool {
        self.inner.has_gradient()
    }
    fn loss_gradient(&self, z: &[f32], labels: &[u8]) -> Option<Vec<f32>> {
        let mut x = z.to_vec();
        self.norm.inverse(&mut x, self.input);
        let mut g = self.inner.loss_gradient(&x, labels)?;
        self.pull_back(&mut g);
        Some(g)
    }
    fn logits_and_gradient(&self, z: &[f32], dloss: &LogitLossGrad) -> Option<(Vec<f32>, Vec<f32>)> {
        let mut x = z.to_vec();
        self.norm.inverse(&mut x, self.input);
        let (logits, mut g) = self.inner.logits_and_gradient(&x, dloss)?;
        self.pull_back(&mut g);
        Some((logits, g))
    }
}

impl NormalizedView<'_> {
    /// ∂L/∂z = ∂L/∂x · ∂x/∂z = ∂L/∂x · std_c.
    fn pull_back(&self, g: &mut [f32]) {
        let plane = self.input.h * self.input.w;
        for (p, chunk) in g.chunks_mut(plane).enumerate() {
            let (_, s) = self.norm.channel(p % self.input.c);
            chunk.iter_mut().for_each(|v| *v *= s);
        }
    }
}
