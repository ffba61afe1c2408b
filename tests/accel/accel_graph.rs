//! Graph models on the accelerator: batch norm folded, grouped (depthwise) convolutions split
//! into one GEMM per group, asymmetric padding, max/avg/global pools, residual add and concat in
//! the post-processing unit. The fast engine, the cycle-stepped array and the plain per-image
//! oracle agree bit for bit; the integer model tracks the float one; the cycles of a grouped
//! layer and of the post-processing unit are as stated.

use crate::common;

use axdnn::accel::timing::{self, ArrayShape, Dataflow, GemmShape};
use axdnn::accel::{AccelConfig, Accelerator};
use axdnn::model::{Arch, Layer, LayerKind};
use axdnn::quant::{self, ApproxLayers, QLayer, QuantModel, QuantOptions, QuantScheme, WeightGranularity};
use axdnn::Lut;

fn qgraph(scheme: QuantScheme, weights: WeightGranularity, approx: ApproxLayers) -> (Arch, QuantModel) {
    let arch = common::graph_arch();
    let params = common::graph_params(&arch, 21);
    let calib = common::random_images(&arch, 24, 22);
    let qm = QuantModel::build(&arch, &params, &calib, QuantOptions { scheme, weights, approx }).unwrap();
    (arch, qm)
}

#[test]
fn graph_fast_equals_cycle_and_oracle_all_schemes() {
    let cases = [
        (QuantScheme::AsymU8, WeightGranularity::PerTensor, ApproxLayers::All, Dataflow::Ws, 8, 8),
        (QuantScheme::SignMagnitude, WeightGranularity::PerChannel, ApproxLayers::Conv, Dataflow::Os, 5, 7),
        (QuantScheme::SymS8, WeightGranularity::PerChannel, ApproxLayers::All, Dataflow::Is, 6, 4),
        (
            QuantScheme::AsymU8,
            WeightGranularity::PerChannel,
            ApproxLayers::Named(vec!["dw".into()]),
            Dataflow::Os,
            4,
            4,
        ),
    ];
    for (i, (scheme, wg, approx, df, rows, cols)) in cases.into_iter().enumerate() {
        let (arch, qm) = qgraph(scheme, wg, approx);
        // Batch norm folded away: the integer model's graph has no batch-norm node.
        assert!(qm.arch.layers.iter().all(|l| !matches!(l.kind, LayerKind::BatchNorm { .. })));
        assert_eq!(qm.arch.layers.len() + 1, arch.layers.len());
        let imgs = common::random_images(&arch, 3, 30 + i as u64);
        let d = arch.input.numel();
        let lut = common::random_lut(scheme.signed_multiplier(), 60 + i as u64);
        let exact = Lut::exact(8, 8, scheme.signed_multiplier());
        let cfg = AccelConfig { array: ArrayShape { rows, cols }, dataflow: df, ..AccelConfig::default() };
        let what = format!("{scheme} {df} {rows}x{cols}");
        let fast_run = crate::accel_engines::engines_agree(&qm, &lut, cfg, &imgs, &what);
        // Every node's output equals the oracle's (the probe of fine-tuning).
        let acc = Accelerator::new(&qm, &lut, cfg).unwrap();
        let outs = acc.layer_outputs(&imgs[..d]).unwrap();
        let want = quant::reference::forward_nodes(&qm, &lut, &exact, &imgs[..d]);
        assert_eq!(outs, want, "{what}: node outputs");
        let exact_run = Accelerator::new(&qm, &exact, cfg).unwrap().run(&imgs).unwrap();
        assert_ne!(exact_run.acc, fast_run.acc, "{what}: the table must matter");
    }
}

#[test]
fn graph_integer_logits_track_float() {
    let arch = common::graph_arch();
    let params = common::graph_params(&arch, 5);
    let calib = common::random_images(&arch, 64, 6);
    let n = 40;
    let test = common::random_images(&arch, n, 7);
    let d = arch.input.numel();
    for scheme in [QuantScheme::AsymU8, QuantScheme::SignMagnitude, QuantScheme::SymS8] {
        for weights in [WeightGranularity::PerTensor, WeightGranularity::PerChannel] {
            let qm = QuantModel::build(&arch, &params, &calib, QuantOptions { scheme, weights, ..Default::default() })
                .unwrap();
            let exact = Lut::exact(8, 8, scheme.signed_multiplier());
            let run = Accelerator::new(&qm, &exact, AccelConfig::default()).unwrap().run(&test).unwrap();
            let (mut err, mut spread) = (0f64, 0f64);
            for i in 0..n {
                let f = axdnn::model::forward_reference(&arch, &params, &test[i * d..(i + 1) * d]).pop().unwrap();
                let mean = f.iter().sum::<f32>() / f.len() as f32;
                for (o, &fv) in f.iter().enumerate() {
                    err += (run.logits[i * 10 + o] - fv).abs() as f64;
                    spread += (fv - mean).abs() as f64;
                }
            }
            let rel = err / spread;
            println!("graph {scheme} {weights:?}: mean |q − f| / mean |f − mean f| = {rel:.4}");
            assert!(rel < 0.1, "{scheme} {weights:?}: relative logit error {rel}");
        }
    }
}

/// A grouped layer runs its groups one after another, each a GEMM with SCALE-Sim's cycles; the
/// post-processing unit's cycles follow the stated model.
#[test]
fn grouped_and_post_processing_cycles() {
    let (_, qm) = qgraph(QuantScheme::AsymU8, WeightGranularity::PerTensor, ApproxLayers::Conv);
    let array = ArrayShape { rows: 4, cols: 16 };
    for df in [Dataflow::Ws, Dataflow::Os, Dataflow::Is] {
        let exact = Lut::exact(8, 8, false);
        let acc = Accelerator::new(&qm, &exact, AccelConfig { array, dataflow: df, ..AccelConfig::default() }).unwrap();
        let stats = acc.stats();
        // dw: 8 groups of one channel, 3×3, 12×12 output (pads 1) → 8 GEMMs of 144 × 9 × 1.
        let dw = stats.iter().find(|s| s.name == "dw").unwrap();
        let one = GemmShape { npix: 144, k: 9, nf: 1 };
        let t = timing::timing(one, df, array);
        assert_eq!((dw.groups, dw.gemm), (8, one), "{df}");
        assert_eq!(dw.cycles, 8 * t.compute_cycles, "{df}");
        assert_eq!(dw.folds, 8 * t.folds, "{df}");
        assert_eq!(dw.macs, 8 * 144 * 9, "{df}");
        // c1: 2 groups of 4 input channels → 2 output channels each, on the 6×6 max-pool output.
        let c1 = stats.iter().find(|s| s.name == "c1").unwrap();
        assert_eq!((c1.groups, c1.gemm), (2, GemmShape { npix: 36, k: 4, nf: 2 }), "{df}");
    }
    let exact = Lut::exact(8, 8, false);
    let acc = Accelerator::new(&qm, &exact, AccelConfig { array, ..AccelConfig::default() }).unwrap();
    let post: Vec<(String, &str, u64, u64)> =
        acc.post_stats().into_iter().map(|p| (p.name, p.op, p.outputs, p.cycles)).collect();
    // 16 lanes: ⌈outputs / 16⌉ × cycles per output.
    let want: Vec<(String, &str, u64, u64)> = vec![
        ("r1".into(), "clip", 8 * 144, 0), // fused into conv1's requantization (bn1 folded into conv1)
        ("add1".into(), "add", 8 * 144, 72),
        ("mp".into(), "max_pool", 8 * 36, 18 * 9),
        ("ap".into(), "avg_pool", 8 * 36, 18 * 9),
        ("ap2".into(), "avg_pool", 4 * 36, 9 * 9),
        ("cat".into(), "concat", 12 * 36, 27),
        ("cat.relu".into(), "relu", 12 * 36, 27),
        ("gap".into(), "global_avg_pool", 12, 36),
        ("flat".into(), "flatten", 12, 0),
    ];
    assert_eq!(post, want);
    let fused: Vec<&str> =
        (0..qm.layers.len()).filter(|&i| qm.fused_into_source(i)).map(|i| qm.arch.layers[i].name.as_str()).collect();
    assert_eq!(fused, ["r1"]);
}

/// What the integer model cannot run is one error naming the node.
#[test]
fn unsupported_graphs_name_the_node() {
    let base = common::graph_arch();
    let params = common::graph_params(&base, 1);
    let calib = common::random_images(&base, 2, 2);
    // A ReLU after the logits layer.
    let mut a = base.clone();
    a.layers.push(Layer::new("out.relu", LayerKind::Relu));
    let e = QuantModel::build(&a, &params, &calib, QuantOptions::default()).unwrap_err().to_string();
    assert!(e.contains("'out.relu'") && e.contains("only flattens may follow"), "{e}");
    // A batch norm on the input cannot be folded.
    let mut b = base.clone();
    b.layers.insert(0, Layer::new("bn0", LayerKind::BatchNorm { eps: 1e-5 }));
    b.layers[1].inputs = vec!["bn0".into()];
    let mut pb = params.clone();
    for s in ["weight", "bias", "running_mean", "running_var"] {
        let t = axdnn::model::Tensor { shape: vec![3], data: vec![1.0; 3] };
        pb.tensors.insert(format!("bn0.{s}"), t);
    }
    let e = QuantModel::build(&b, &pb, &calib, QuantOptions::default()).unwrap_err().to_string();
    assert!(e.contains("'bn0'") && e.contains("cannot be folded"), "{e}");
}

/// The quantized layers of the graph carry what the float graph says.
#[test]
fn graph_quantization_structure() {
    let (_, qm) = qgraph(QuantScheme::AsymU8, WeightGranularity::PerChannel, ApproxLayers::Conv);
    let ops: Vec<&str> = qm.layers.iter().map(|l| l.op()).collect();
    assert_eq!(
        ops,
        [
            "conv",
            "clip",
            "conv",
            "conv",
            "add",
            "max_pool",
            "avg_pool",
            "conv",
            "avg_pool",
            "concat",
            "relu",
            "global_avg_pool",
            "flatten",
            "linear"
        ]
    );
    // The add rescales both inputs to its own scale; the concat joins two scales.
    let QLayer::Add(add) = &qm.layers[4] else { panic!("add") };
    assert_eq!(Some(add.a), qm.outputs[3]);
    assert_eq!(Some(add.b), qm.outputs[1]);
    let QLayer::Concat { parts } = &qm.layers[9] else { panic!("concat") };
    assert_eq!(parts.len(), 2);
    assert!(parts.iter().all(|p| Some(p.output) == qm.outputs[9]));
    // The logits layer and what follows it (nothing) give int32 accumulators.
    assert_eq!(qm.outputs[13], None);
}

/// A biased multiplier (the exact product less a sixteenth, plus seeded noise).
fn biased_lut(signed: bool, seed: u64) -> Lut {
    use rand::Rng;
    let mut r = common::rng(seed);
    let mut l = Lut::exact(8, 8, signed);
    for v in &mut l.table {
        *v = *v - *v / 16 + r.gen_range(-40..40);
    }
    l.name = format!("biased{seed}");
    l
}

/// Recovery on a graph model: fitted per channel group on a depthwise layer, bit-exact across
/// the engines and the oracle, and it brings the logits back toward the exact multiplier's.
#[test]
fn graph_recovery_per_group() {
    use axdnn::recover::{recover, Recover};
    let arch = common::graph_arch();
    let d = arch.input.numel();
    let calib = common::random_images(&arch, 48, 40);
    let test = common::random_images(&arch, 24, 41);
    for scheme in [QuantScheme::AsymU8, QuantScheme::SymS8] {
        let params = common::graph_params(&arch, 21);
        let options = QuantOptions { scheme, weights: WeightGranularity::PerChannel, approx: ApproxLayers::All };
        let qm = QuantModel::build(&arch, &params, &calib, options).unwrap();
        let lut = biased_lut(scheme.signed_multiplier(), 3);
        let exact = Lut::exact(8, 8, scheme.signed_multiplier());
        let want = Accelerator::new(&qm, &exact, AccelConfig::default()).unwrap().run(&test).unwrap();
        let plain = Accelerator::new(&qm, &lut, AccelConfig::default()).unwrap().run(&test).unwrap();
        let dist = |l: &[f32]| l.iter().zip(&want.logits).map(|(a, b)| (a - b).abs() as f64).sum::<f64>();
        for method in [Recover::Compensate, Recover::Tune] {
            let r = recover(&qm, &lut, &lut.sha256(), method, &calib).unwrap();
            let what = format!("{scheme} {method}");
            let rec = r.recovery.as_ref().unwrap();
            let dw = rec.layers.iter().find(|l| l.name == "dw").unwrap();
            assert_eq!(dw.compensation.len(), 8, "{what}: one per channel");
            assert!(dw.mean_error_after < dw.mean_error_before / 5.0, "{what}: {dw:?}");
            let cfg = AccelConfig { array: ArrayShape { rows: 5, cols: 3 }, ..AccelConfig::default() };
            crate::accel_engines::engines_agree(&r, &lut, cfg, &test[..2 * d], &what);
            let recovered = Accelerator::new(&r, &lut, AccelConfig::default()).unwrap().run(&test).unwrap();
            let (before, after) = (dist(&plain.logits), dist(&recovered.logits));
            println!("{what}: Σ|logits − exact multiplier's| {before:.1} -> {after:.1}");
            assert!(after < before * 0.7, "{what}: {before} -> {after}");
        }
    }
}

/// Fine-tuning a graph model with batch norm adapts the folded network, seeded.
#[test]
fn graph_finetune_folds_batch_norm() {
    use axdnn::recover::finetune::{finetune, FinetuneConfig};
    use rand::Rng;
    let arch = common::graph_arch();
    let mut r = common::rng(77);
    let data = |n: usize, seed: u64, r: &mut rand_chacha::ChaCha8Rng| axdnn::data::Dataset {
        shape: arch.input,
        images: common::random_images(&arch, n, seed),
        labels: (0..n).map(|_| r.gen_range(0..10u8)).collect(),
    };
    let (train, test) = (data(64, 1, &mut r), data(8, 2, &mut r));
    let base = axdnn::model::io::SavedModel {
        arch: arch.clone(),
        params: common::graph_params(&arch, 11),
        meta: axdnn::model::io::ModelMeta {
            sha256: "base".into(),
            ..crate::common::fixture_meta(axdnn::data::DatasetName::Cifar10)
        },
    };
    let lut = biased_lut(false, 8);
    let cfg = FinetuneConfig {
        calib: 16,
        epochs: 1,
        batch: 16,
        eval_n: 8,
        range_every: 2,
        lr: 0.01,
        ..FinetuneConfig::new(QuantOptions::default())
    };
    let tmp = tempfile::tempdir().unwrap();
    let a = finetune(&base, &lut, &lut.sha256(), &cfg, &train, &test, &tmp.path().join("a"), false).unwrap();
    let b = finetune(&base, &lut, &lut.sha256(), &cfg, &train, &test, &tmp.path().join("b"), false).unwrap();
    assert_eq!(a.params, b.params, "seeded");
    assert!(a.arch.layers.iter().all(|l| !matches!(l.kind, LayerKind::BatchNorm { .. })));
    assert_eq!(a.arch.layers.len() + 1, arch.layers.len());
    a.arch.validate().unwrap();
    let (folded_arch, folded) = axdnn::model::fold::fold_batchnorm(&arch, &base.params);
    assert_eq!(folded_arch, a.arch);
    assert_ne!(a.params, folded, "fine-tuning changed the weights");
    // The result quantizes and runs.
    let qm = QuantModel::build(&a.arch, &a.params, &train.images[..16 * arch.input.numel()], QuantOptions::default())
        .unwrap();
    Accelerator::new(&qm, &lut, AccelConfig::default()).unwrap().run(&test.images).unwrap();
}

/// A grouped layer's operands come group by group over all images, whatever the batching: equal
/// to each image's own operands regrouped (40 images: three batches of the engine).
#[test]
fn grouped_operands_are_group_major_across_batches() {
    let (arch, qm) = qgraph(QuantScheme::AsymU8, WeightGranularity::PerTensor, ApproxLayers::Conv);
    let d = arch.input.numel();
    let imgs = common::random_images(&arch, 40, 50);
    let exact = Lut::exact(8, 8, false);
    let acc = Accelerator::new(&qm, &exact, AccelConfig::default()).unwrap();
    let gi = qm.gemms().position(|g| g.name == "dw").unwrap();
    let all = acc.layer_operands(&imgs, gi).unwrap();
    let one: Vec<Vec<u8>> = (0..40).map(|i| acc.layer_operands(&imgs[i * d..(i + 1) * d], gi).unwrap()).collect();
    let per = one[0].len() / 8;
    let want: Vec<u8> = (0..8).flat_map(|j| one.iter().flat_map(move |o| o[j * per..(j + 1) * per].to_vec())).collect();
    assert_eq!(all, want);
}
