//! Graph models in the float engine: every op (grouped/depthwise and asymmetrically padded
//! convolution, batch norm, clip, residual add, max-pool, padded average pools both ways,
//! concat, global average pool, flatten) against the reference forward pass and against
//! finite differences; the description's checks.

use crate::common::{graph_arch as graph, graph_params as params};
use axdnn::model::engine::{input_gradient_t, logits, Mode, Net};
use axdnn::model::{Arch, ArchError, ArchName, LayerKind, Pads, Shape};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn conv(out_ch: usize, k: usize, stride: usize, pad: Pads, groups: usize) -> LayerKind {
    LayerKind::Conv { out_ch, k, stride, pad, groups }
}

fn images(n: usize, s: Shape, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Up to 4 so the clip at 6 is reached after conv1 + bn1.
    (0..n * s.numel()).map(|_| rng.gen_range(0.0..4.0)).collect()
}

#[test]
fn graph_validates_with_expected_shapes() {
    let a = graph();
    a.validate().unwrap();
    let s = a.shapes();
    assert_eq!(s[0], Shape::new(8, 12, 12), "asymmetric padding keeps 12×12");
    assert_eq!(s[6], Shape::new(8, 6, 6), "max-pool 3/2 pad 1");
    assert_eq!(s[10], Shape::new(12, 6, 6), "concat 8 + 4 channels");
    assert_eq!(s[13], Shape::new(12, 1, 1));
    assert!(!a.is_chain());
    assert!(Arch::lenet5(Shape::new(1, 28, 28), 10).is_chain());
    // Depthwise: 8 groups of one channel, 3×3 each; grouped 1×1 conv: 2 groups of 4 → 2.
    let specs = a.params();
    let dw = specs.iter().find(|p| p.name == "dw.weight").unwrap();
    assert_eq!(dw.shape, vec![8, 1, 3, 3]);
    let c1 = specs.iter().find(|p| p.name == "c1.weight").unwrap();
    assert_eq!(c1.shape, vec![4, 4, 1, 1]);
    assert_eq!(specs.iter().filter(|p| p.name.starts_with("bn1.")).count(), 4);
    let macs = a.macs();
    assert_eq!(macs[3], 8 * 12 * 12 * 9, "depthwise MACs");
}

#[test]
fn graph_logits_match_reference_forward() {
    let arch = graph();
    let p = params(&arch, 1);
    let n = 3;
    let x = images(n, arch.input, 2);
    for r in crate::common::logits_match_reference(&arch, &p, &x, n, "graph") {
        // The clip saturates somewhere, or the test would not exercise it.
        assert!(r[2].contains(&6.0) && r[2].contains(&0.0), "clip unexercised");
    }
}

/// dLoss/dx through fan-out, joins, max-pool routing and padded pools, in f64, against
/// central differences.
#[test]
fn graph_input_gradient_matches_finite_differences() {
    let arch = graph();
    let p = params(&arch, 3);
    let n = 2;
    let x: Vec<f64> = images(n, arch.input, 4).into_iter().map(|v| v as f64).collect();
    let labels = [3u8, 7];
    let (_, g) = input_gradient_t::<f64>(&arch, &p, &x, &labels);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let h = 1e-6;
    let per = arch.input.numel();
    let mut worst = 0f64;
    for _ in 0..40 {
        let j = rng.gen_range(0..x.len());
        let img = j / per;
        let mut xp = x.clone();
        xp[j] += h;
        let lp = input_gradient_t::<f64>(&arch, &p, &xp, &labels).0[img];
        xp[j] -= 2.0 * h;
        let lm = input_gradient_t::<f64>(&arch, &p, &xp, &labels).0[img];
        let fd = (lp - lm) / (2.0 * h);
        let scale = g[img * per..(img + 1) * per].iter().fold(0f64, |a, v| a.max(v.abs()));
        worst = worst.max((fd - g[j]).abs() / scale.max(1e-12));
    }
    assert!(worst < 1e-3, "worst relative error {worst}");
}

/// Weight, bias and batch-norm gradients of a training step (batch statistics) against finite
/// differences, in every kind of node that has parameters.
#[test]
fn graph_parameter_gradients_match_finite_differences() {
    let arch = graph();
    let p = params(&arch, 7);
    let net0 = Net::<f64>::from_params(&arch, &p);
    let n = 4;
    let x: Vec<f64> = images(n, arch.input, 8).into_iter().map(|v| v as f64).collect();
    let labels = [1u8, 2, 3, 4];
    let inv = 1.0 / n as f64;
    let mean_loss = |net: &Net<f64>| -> f64 {
        let mut m = net.clone();
        m.backward(&x, &labels, Mode::Train, inv, false).losses.iter().sum::<f64>() * inv
    };
    let b = net0.clone().backward(&x, &labels, Mode::Train, inv, false);
    let h = 1e-6;
    let check = |what: &str, g: f64, plus: Net<f64>, minus: Net<f64>| {
        let fd = (mean_loss(&plus) - mean_loss(&minus)) / (2.0 * h);
        assert!((fd - g).abs() <= 1e-4 * (1e-3 + g.abs().max(fd.abs())), "{what}: {g} vs fd {fd}");
    };
    // conv1, dw (group 5), pw, c1 (second group), fc.
    for (layer, idx) in [(0usize, 17usize), (3, 5 * 9 + 4), (4, 30), (8, 13), (14, 77)] {
        let (mut a, mut c) = (net0.clone(), net0.clone());
        a.w[layer][idx] += h;
        c.w[layer][idx] -= h;
        check(&format!("w[{layer}][{idx}]"), b.grads.w[layer][idx], a, c);
        let (mut a, mut c) = (net0.clone(), net0.clone());
        a.b[layer][0] += h;
        c.b[layer][0] -= h;
        check(&format!("b[{layer}][0]"), b.grads.b[layer][0], a, c);
    }
    for ch in [0usize, 5] {
        let (mut a, mut c) = (net0.clone(), net0.clone());
        a.bn[1].as_mut().unwrap().gamma[ch] += h;
        c.bn[1].as_mut().unwrap().gamma[ch] -= h;
        check(&format!("gamma[{ch}]"), b.grads.gamma[1][ch], a, c);
        let (mut a, mut c) = (net0.clone(), net0.clone());
        a.bn[1].as_mut().unwrap().beta[ch] += h;
        c.bn[1].as_mut().unwrap().beta[ch] -= h;
        check(&format!("beta[{ch}]"), b.grads.beta[1][ch], a, c);
    }
}

/// Evaluation-mode batch norm and the saved parameters: `folded()` gives back the batch-norm
/// node's tensors (running statistics included), so a trained graph saves and reloads as is.
#[test]
fn graph_eval_roundtrips_through_saved_parameters() {
    let arch = graph();
    let p = params(&arch, 11);
    let net = Net::<f32>::from_params(&arch, &p);
    assert_eq!(net.folded(), p);
    let x = images(2, arch.input, 12);
    let a = Net::<f32>::from_params(&arch, &net.folded()).forward(&x, 2, Mode::Eval);
    assert_eq!(a, logits(&arch, &p, &x, 2));
}

/// The engine's results do not depend on the thread count on a graph either.
#[test]
fn graph_training_step_independent_of_thread_count() {
    let arch = graph();
    let p = params(&arch, 9);
    let x = images(6, arch.input, 10);
    let labels = [0u8, 1, 2, 3, 4, 5];
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut net = Net::<f32>::from_params(&arch, &p);
            let b = net.backward(&x, &labels, Mode::Train, 1.0 / 6.0, true);
            (b.losses, b.grads.w, b.grads.gamma, b.input_grad)
        })
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn graph_errors_name_the_node() {
    let base = graph();
    let with = |f: &dyn Fn(&mut Arch)| {
        let mut a = base.clone();
        f(&mut a);
        a.validate().unwrap_err()
    };
    let e = with(&|a| a.layers[5].inputs = vec!["pw".into(), "nope".into()]);
    assert_eq!(e, ArchError::UnknownInput { node: "add1".into(), input: "nope".into() });
    let e = with(&|a| a.layers[5].inputs = vec!["pw".into()]);
    assert!(matches!(&e, ArchError::Arity { node, found: 1, .. } if node == "add1"), "{e}");
    let e = with(&|a| a.layers[5].inputs = vec!["pw".into(), "input".into()]);
    assert_eq!(e.to_string(), "node 'add1': adds inputs of shapes 8x12x12 and 3x12x12");
    let e = with(&|a| a.layers[8].inputs = vec!["bn1".into()]);
    assert!(matches!(&e, ArchError::Shape { node, .. } if node == "cat"), "{e}");
    assert!(e.to_string().contains("height and width differ"), "{e}");
    let e = with(&|a| a.layers[4].name = "dw".into());
    assert_eq!(e, ArchError::DuplicateName("dw".into()));
    let e = with(&|a| a.layers[10].inputs = vec!["ap".into()]);
    assert_eq!(e, ArchError::Dangling("ap2".into()));
    let e = with(&|a| a.layers[3].kind = conv(8, 3, 1, Pads::uniform(1), 3));
    assert!(e.to_string().starts_with("node 'dw': 3 groups do not divide 8 input"), "{e}");
    let e = with(&|a| a.classes = 7);
    assert_eq!(e, ArchError::Logits { node: "fc".into(), found: 10, classes: 7 });
    let e = with(&|a| a.name = ArchName::Lenet5);
    assert!(matches!(e, ArchError::NotBuiltin { .. }), "{e}");
}

/// Chain models' descriptions read and write as before graph models existed: no `inputs` or
/// `groups`, padding one number; an asymmetric padding round-trips as a list.
#[test]
fn model_json_keeps_the_chain_form() {
    let a = Arch::alexnet(Shape::new(3, 32, 32), 10);
    let json = serde_json::to_string(&a).unwrap();
    assert!(!json.contains("inputs") && !json.contains("groups") && !json.contains("count_include_pad"), "{json}");
    assert!(json.contains(r#""pad":2"#), "{json}");
    let g = graph();
    let back: Arch = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
    assert_eq!(back, g);
    assert!(serde_json::to_string(&g).unwrap().contains(r#""pad":[1,0,1,2]"#));
}

/// Batch norm folded into the layer before it: every batch-norm node of ResNet-20 and of the
/// test graph disappears and the logits stay within float rounding.
#[test]
fn batchnorm_folds_into_the_layer_before() {
    use axdnn::model::fold::fold_batchnorm;
    for arch in [Arch::resnet20(Shape::new(3, 32, 32), 10), Arch::mobilenet(Shape::new(3, 32, 32), 10), graph()] {
        let p = params(&arch, 21);
        let (f, fp) = fold_batchnorm(&arch, &p);
        f.validate().unwrap();
        assert!(!f.layers.iter().any(|l| matches!(l.kind, LayerKind::BatchNorm { .. })));
        assert!(!fp.tensors.keys().any(|k| k.contains("running")));
        let x = images(3, arch.input, 22);
        let (a, b) = (logits(&arch, &p, &x, 3), logits(&f, &fp, &x, 3));
        let worst = a.iter().zip(&b).map(|(u, v)| (u - v).abs() / (1.0 + v.abs())).fold(0f32, f32::max);
        assert!(worst < 1e-4, "{}: {worst:e}", arch.name);
    }
}
