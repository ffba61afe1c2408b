//! QDQ-quantized ONNX files (ONNX Runtime's `quantize_static`: uint8 activations, per-channel
//! int8 weights) import with their own scales and zero points and, with the exact multiplier and
//! ONNX's requantization, reproduce ONNX Runtime's int8 outputs: the trained LeNet-5 and a graph
//! with batch norm, a depthwise convolution, a residual add, max pool and global average pool
//! (batch norm fused by ONNX Runtime's pre-processing), on MNIST test images.

use crate::common::{graph_params, python_with};
use axdnn::accel::{AccelConfig, Accelerator};
use axdnn::data::{DatasetName, Split};
use axdnn::model::{Arch, LayerKind, Params, Shape};
use axdnn::quant::{QuantModel, QuantOptions, QuantScheme, WeightGranularity};
use axdnn::Lut;
use std::path::Path;

fn read_npy_f32(p: &Path) -> (Vec<usize>, Vec<f32>) {
    let a = axdnn::util::npy::parse(&std::fs::read(p).unwrap()).unwrap();
    assert_eq!(a.descr, "<f4");
    (a.shape, a.data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect())
}

/// ONNX Runtime's output codes vs the accelerator's: the shares equal to ONNX Runtime with its
/// graph optimizations (fused int8 kernels) and without (reference semantics), and the largest
/// difference from the reference.
fn compare(name: &str, arch: &Arch, params: &Params, dir: &Path, calib: &[f32], test: &[f32]) -> (f64, f64, i32) {
    let float = dir.join(format!("{name}.onnx"));
    std::fs::write(&float, axdnn::model::onnx::export(arch, params)).unwrap();
    compare_file(name, &float, arch.input, dir, calib, test)
}

/// [`compare`] for a float ONNX file (its input of shape `s`).
fn compare_file(name: &str, float: &Path, s: Shape, dir: &Path, calib: &[f32], test: &[f32]) -> (f64, f64, i32) {
    let d = s.numel();
    let npy = |f: &str, x: &[f32]| {
        let p = dir.join(f);
        std::fs::write(&p, axdnn::util::npy::f32_file(&[x.len() / d, s.c, s.h, s.w], x)).unwrap();
        p
    };
    let (c, t) = (npy("calib.npy", calib), npy("test.npy", test));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx/ort_qdq.py");
    let mut py = python_with(&["onnx", "onnxruntime", "numpy"]).unwrap();
    let o = py.arg(&script).arg(float).arg(&c).arg(&t).arg(dir).output().unwrap();
    assert!(o.status.success(), "{name}: {}", String::from_utf8_lossy(&o.stderr));
    let (qarch, qparams, rec) = axdnn::model::onnx::import_quantized(&dir.join("q.onnx")).unwrap();
    let rec = rec.expect("a QDQ file carries its quantization");
    assert!(!rec.activations_signed && rec.weights_signed, "{name}: u8 activations, s8 weights");
    let out = rec.output.expect("the logits' quantization");
    let options = QuantOptions {
        scheme: QuantScheme::SignMagnitude,
        weights: WeightGranularity::PerChannel,
        approx: Default::default(),
    };
    // The scheme must fit the file's types.
    let asym = QuantOptions { scheme: QuantScheme::AsymU8, ..options.clone() };
    let e = QuantModel::build_given(&qarch, &qparams, calib, asym, Some(&rec)).unwrap_err().to_string();
    assert!(e.contains("uint8 activations and symmetric int8 weights") && e.contains("sign-magnitude"), "{e}");
    let qm = QuantModel::build_given(&qarch, &qparams, calib, options, Some(&rec)).unwrap();
    let exact = Lut::exact(8, 8, false);
    let run = Accelerator::new(&qm, &exact, AccelConfig::default()).unwrap().run(test).unwrap();
    let last = qm.gemms().last().unwrap();
    let ours: Vec<i32> = run
        .acc
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            let m = last.input.scale * last.w_params[i % 10].scale / out.scale;
            (out.zero_point + (a as f32 * m).round_ties_even() as i32).clamp(0, 255)
        })
        .collect();
    let codes = |f: &str| -> Vec<i32> {
        read_npy_f32(&dir.join(f)).1.iter().map(|&y| (y / out.scale).round() as i32 + out.zero_point).collect()
    };
    let (opt, rf) = (codes("y_opt.npy"), codes("y_ref.npy"));
    node_by_node(name, &qm, dir);
    let frac = |theirs: &[i32]| ours.iter().zip(theirs).filter(|(a, b)| a == b).count() as f64 / ours.len() as f64;
    // The largest difference from the reference semantics (the fused kernels are printed only:
    // see the guide on why they differ from their own reference here).
    let worst = ours.iter().zip(&rf).map(|(a, b)| (a - b).abs()).max().unwrap();
    let (fo, fr) = (frac(&opt), frac(&rf));
    let ort_self = opt.iter().zip(&rf).filter(|(a, b)| a == b).count() as f64 / opt.len() as f64;
    println!(
        "{name}: {} output codes; equal to ONNX Runtime optimized {:.2} %, reference {:.2} % (the two agree on {:.2} %), largest difference {worst}",
        ours.len(),
        100.0 * fo,
        100.0 * fr,
        100.0 * ort_self
    );
    (fo, fr, worst)
}

/// Every node against ONNX Runtime's reference semantics fed the same codes: each quantized
/// value of ONNX Runtime (a QuantizeLinear output) is a clip node here, computed from the codes
/// ONNX Runtime gave the node's inputs. Rounding differences cannot compound along the network.
fn node_by_node(name: &str, qm: &QuantModel, dir: &Path) {
    use axdnn::model::Source;
    let names = std::fs::read_to_string(dir.join("q_names.txt")).unwrap();
    let names: Vec<&str> = names.lines().collect();
    let read = |k: usize| -> Vec<Vec<i32>> {
        let (shape, v) = read_npy_f32(&dir.join(format!("q_{k}.npy")));
        v.chunks_exact(shape[1]).map(|r| r.iter().map(|&x| x as i32).collect()).collect()
    };
    let sources = qm.arch.sources();
    // ONNX Runtime's values in order: the input, each computed value (a clip node here), the logits.
    let clips: Vec<usize> = (0..qm.layers.len())
        .filter(|&i| {
            matches!(qm.arch.layers[i].kind, LayerKind::Clip { .. })
                && qm.arch.layers[i].name.ends_with("DequantizeLinear")
        })
        .collect();
    assert_eq!(names.len(), clips.len() + 2, "{name}: {names:?}");
    let mut observed: std::collections::HashMap<Source, Vec<Vec<i32>>> = std::collections::HashMap::new();
    observed.insert(Source::Input, read(0));
    for (k, &j) in clips.iter().enumerate() {
        observed.insert(Source::Node(j), read(k + 1));
    }
    let exact = Lut::exact(8, 8, false);
    let (mut equal, mut total, mut worst) = (0usize, 0usize, 0i32);
    for &j in &clips {
        let Source::Node(i) = sources[j][0] else { continue };
        let Some(ins) = sources[i].iter().map(|s| observed.get(s)).collect::<Option<Vec<_>>>() else { continue };
        let theirs = &observed[&Source::Node(j)];
        let (e0, t0) = (equal, total);
        for img in 0..theirs.len() {
            let inputs: Vec<&[i32]> = ins.iter().map(|v| v[img].as_slice()).collect();
            let y = axdnn::quant::reference::node(qm, i, &inputs, &exact, &exact);
            let y = axdnn::quant::reference::node(qm, j, &[&y], &exact, &exact);
            equal += y.iter().zip(&theirs[img]).filter(|(a, b)| a == b).count();
            total += y.len();
            worst = worst.max(y.iter().zip(&theirs[img]).map(|(a, b)| (a - b).abs()).max().unwrap_or(0));
        }
        if equal - e0 != total - t0 {
            println!(
                "  {} ({}): {} of {} codes differ",
                qm.arch.layers[i].name,
                qm.layers[i].op(),
                (total - t0) - (equal - e0),
                total - t0
            );
        }
    }
    println!("{name}: node by node, {equal} of {total} codes equal to ONNX Runtime's reference ({:.3} %), largest difference {worst}", 100.0 * equal as f64 / total as f64);
    assert!(worst <= 1, "{name}: a node's code {worst} away from ONNX Runtime's");
    assert!(equal as f64 >= 0.99 * total as f64, "{name}: {equal} of {total}");
}

#[test]
fn qdq_files_reproduce_onnx_runtime_int8_outputs() {
    let Some(root) = crate::common::data() else { return };
    if python_with(&["onnx", "onnxruntime", "numpy"]).is_none() {
        return;
    }
    let train = axdnn::data::load(DatasetName::Mnist, Split::Train, &root).unwrap();
    let test = axdnn::data::load(DatasetName::Mnist, Split::Test, &root).unwrap().head(300);
    let calib = train.images_at(&axdnn::quant::calibration_indices(train.len(), 64, 0));
    let lenet =
        axdnn::model::io::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lenet5-mnist").as_path()).unwrap();
    let g = crate::common::mnist_graph();
    for (name, arch, params) in
        [("lenet5", lenet.arch.clone(), lenet.params.clone()), ("graph", g.clone(), graph_params(&g, 9))]
    {
        let dir = tempfile::tempdir().unwrap();
        let (_, fr, worst) = compare(name, &arch, &params, dir.path(), &calib, &test.images);
        assert!(worst <= 1, "{name}: a final code {worst} away from ONNX Runtime's reference");
        assert!(fr >= 0.99, "{name}: {fr} of the final codes equal to ONNX Runtime's reference");
    }
}

/// Random graphs built with `onnx.helper` (batch norm, depthwise and bias-less convolutions,
/// asymmetric pads, strides, odd H ≠ W, residual add, ReLU6, concat of a max and an average
/// pool), QDQ-quantized by ONNX Runtime: the accelerator's final codes against ONNX Runtime's
/// reference semantics, end to end and node by node.
#[test]
fn qdq_random_graphs_match_onnx_runtime() {
    let Some(mut py) = python_with(&["onnx", "onnxruntime", "numpy"]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx/random_graphs.py");
    let o = py.arg(&script).arg(dir.path()).args(["5", "7"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for i in 0..5 {
        let name = format!("random graph {i}");
        let float = dir.path().join(format!("g{i}.onnx"));
        let (arch, _) = axdnn::model::onnx::import(&float).unwrap();
        let sub = dir.path().join(format!("q{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        let calib = crate::common::random_images(&arch, 32, 100 + i as u64);
        let test = crate::common::random_images(&arch, 100, 200 + i as u64);
        let (_, fr, worst) = compare_file(&name, &float, arch.input, &sub, &calib, &test);
        assert!(worst <= 1, "{name}: a final code {worst} away from ONNX Runtime's reference");
        assert!(fr >= 0.99, "{name}: {fr} of the final codes equal to ONNX Runtime's reference");
    }
}
