//! Batch norm folded into the convolution or linear layer before it, for inference and
//! quantization: `γ·(W·x + b − μ)/√(σ² + ε) + β` is the layer with weights `W·s` and bias
//! `(b − μ)·s + β`, `s = γ/√(σ² + ε)` per output channel (computed in f64).

use super::arch::{Arch, LayerKind, Source, INPUT};
use super::params::Params;

/// `arch` and `params` with every batch-norm node that directly follows a convolution or linear
/// layer read by nothing else folded into that layer (the node disappears; its readers read the
/// layer). Other batch-norm nodes stay. The result computes the same function up to float
/// rounding.
pub fn fold_batchnorm(arch: &Arch, params: &Params) -> (Arch, Params) {
    let sources = arch.sources();
    let uses = arch.consumers();
    let mut params = params.clone();
    // into[i] = Some(j): batch-norm node i folds into node j.
    let mut into = vec![None; arch.layers.len()];
    let last = arch.layers.len() - 1;
    for (i, l) in arch.layers.iter().enumerate() {
        let LayerKind::BatchNorm { eps } = l.kind else { continue };
        let Source::Node(j) = sources[i][0] else { continue };
        // The last node is the output: folding it away keeps the output only if its layer
        // then becomes the last node.
        if !arch.layers[j].has_params() || uses[j] != 1 || (i == last && j + 1 != i) {
            continue;
        }
        let t = |s: &str| params.tensors[&format!("{}.{s}", l.name)].data.clone();
        let (g, b, m, v) = (t("weight"), t("bias"), t("running_mean"), t("running_var"));
        let target = &arch.layers[j].name;
        let bias = params.tensors[&format!("{target}.bias")].data.clone();
        let w = &mut params.tensors.get_mut(&format!("{target}.weight")).expect("a weight").data;
        let per = w.len() / bias.len();
        let mut nb = bias;
        for o in 0..nb.len() {
            let s = g[o] as f64 / (v[o] as f64 + eps as f64).sqrt();
            for x in &mut w[o * per..(o + 1) * per] {
                *x = (*x as f64 * s) as f32;
            }
            nb[o] = ((nb[o] as f64 - m[o] as f64) * s + b[o] as f64) as f32;
        }
        params.tensors.get_mut(&format!("{target}.bias")).expect("a bias").data = nb;
        for s in super::arch::BATCHNORM_TENSORS {
            params.tensors.shift_remove(&format!("{}.{s}", l.name));
        }
        into[i] = Some(j);
    }
    // Rewire: a reader of a folded node reads the layer it folded into; keep the chain form
    // where a node now reads its new predecessor.
    let name_of = |s: Source| match s {
        Source::Input => INPUT.to_string(),
        Source::Node(k) => arch.layers[into[k].unwrap_or(k)].name.clone(),
    };
    let mut layers = Vec::new();
    let mut kept = Vec::new();
    for (i, l) in arch.layers.iter().enumerate() {
        if into[i].is_some() {
            continue;
        }
        let mut l = l.clone();
        let srcs: Vec<String> = sources[i].iter().map(|&s| name_of(s)).collect();
        let prev = kept.last().map_or(INPUT.to_string(), |&k: &usize| arch.layers[k].name.clone());
        l.inputs = if srcs == [prev] { Vec::new() } else { srcs };
        layers.push(l);
        kept.push(i);
    }
    let mut out = Arch { layers, ..arch.clone() };
    if into.iter().any(Option::is_some) {
        out.name = super::arch::ArchName::Graph;
    }
    (out, params)
}
