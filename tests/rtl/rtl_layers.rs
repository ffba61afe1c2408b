//! Real layers on the RTL: LeNet-5's quantized layers on real MNIST test images, streamed
//! through the emitted array (Icarus: one layer per dataflow; Verilator: a whole inference) and
//! checked accumulator by accumulator and cycle by cycle against the cycle-stepped model, then
//! logit by logit against the accelerator.

use crate::common;

use axdnn::accel::timing::{self, ArrayShape, Dataflow, GemmShape};
use axdnn::accel::{AccelConfig, Accelerator, Engine};
use axdnn::data::{self, Split};
use axdnn::model::io;
use axdnn::quant::{calibration_indices, ApproxLayers, QuantModel, QuantOptions, QuantScheme, WeightGranularity};
use axdnn::rtl::cosim::RtlMultiplier;
use axdnn::rtl::layers::{ModelRtl, RtlLayers};
use axdnn::rtl::{RtlError, Simulator};
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn multiplier() -> RtlMultiplier {
    // Asymmetric (LUT[a][b] ≠ LUT[b][a] on >1000 pairs): a swapped operand would be caught.
    RtlMultiplier::load(&root().join("netlists/gen/mul8u_gen_bam_h2v6.v")).unwrap()
}

/// LeNet-5 (MNIST) quantized on 64 calibration images, and test images `0..n`.
fn lenet(data: &Path, scheme: QuantScheme, n: usize) -> (QuantModel, Vec<f32>) {
    let m = io::load(&root().join("models/lenet5-mnist")).unwrap();
    let train = data::load(m.meta.dataset, Split::Train, data).unwrap();
    let test = data::load(m.meta.dataset, Split::Test, data).unwrap().head(n);
    let mut calib = Vec::new();
    for i in calibration_indices(train.len(), 64, 0) {
        calib.extend_from_slice(train.image(i));
    }
    let opts = QuantOptions { scheme, weights: WeightGranularity::PerTensor, approx: ApproxLayers::Conv };
    (QuantModel::build(&m.arch, &m.params, &calib, opts).unwrap(), test.images)
}

fn layer_shape(qm: &QuantModel, name: &str) -> GemmShape {
    let g = qm.gemms().find(|g| g.name == name).unwrap();
    GemmShape { npix: g.npix(), k: g.k, nf: g.nf }
}

/// One real layer of test image 7 per dataflow on an 8×8 array (conv1 with its zero-point
/// padding, conv2, and fc1 on the generated exact multiplier), asym-u8 and sign-magnitude:
/// every accumulator on the model's cycle, the last on SCALE-Sim's count, logits equal.
#[test]
fn real_layer_per_dataflow_icarus() {
    if !common::require_icarus() {
        return;
    }
    let Some(data) = common::data() else { return };
    let m = multiplier();
    let a = ArrayShape { rows: 8, cols: 8 };
    for (scheme, df, layer, exact) in [
        (QuantScheme::AsymU8, Dataflow::Ws, "conv1", false),
        (QuantScheme::SignMagnitude, Dataflow::Os, "conv2", false),
        (QuantScheme::AsymU8, Dataflow::Is, "conv2", false),
        (QuantScheme::SignMagnitude, Dataflow::Is, "fc1", true),
    ] {
        let (qm, images) = lenet(&data, scheme, 8);
        let acc =
            Accelerator::new(&qm, &m.lut, AccelConfig { array: a, dataflow: df, ..AccelConfig::default() }).unwrap();
        let layers = RtlLayers::Named(vec![layer.into()]);
        let dir = tempfile::tempdir().unwrap();
        let t = std::time::Instant::now();
        let rtl = ModelRtl::build(&acc, &m, &layers, Simulator::Icarus, dir.path()).unwrap();
        let d = images.len() / 8;
        let rep = rtl.run(&images[7 * d..8 * d], 7).unwrap_or_else(|e| panic!("{df} {layer}: {e}"));
        eprintln!(
            "{df} {layer} {scheme}: {:.1} s, {} accumulators, {} outputs, {} cycles",
            t.elapsed().as_secs_f64(),
            rep.sums(),
            rep.outputs(),
            rep.cycles()
        );
        assert_eq!(rep.gemms.len(), 1);
        let run = &rep.gemms[0];
        assert_eq!((run.layer.as_str(), run.image, run.approximate), (layer, 7, !exact));
        assert_eq!(run.multiplier, if exact { "mul8u_gen_exact" } else { "mul8u_gen_bam_h2v6" });
        let g = layer_shape(&qm, layer);
        let want = timing::timing(g, df, a);
        assert_eq!(run.check.sums, g.npix * g.nf);
        assert_eq!(run.check.folds as u64, want.folds);
        assert_eq!(run.check.last_output_cycle, want.compute_cycles, "{df} {layer}");
        assert_eq!(run.check.last_output_cycle, run.check.model_last_busy_cycle);
        // The RTL's sums are the accelerator's own (they fed the rest of the network, whose
        // logits were compared inside `run`).
        let want_acc = acc.run(&images[7 * d..8 * d]).unwrap().acc;
        assert_eq!(rep.acc, want_acc);
    }
}

/// A netlist that is not the accelerator's multiplier, or an unknown layer, is refused before
/// any simulation (typed errors).
#[test]
fn wrong_multiplier_or_layer_is_refused() {
    let Some(data) = common::data() else { return };
    let m = multiplier();
    let (qm, _) = lenet(&data, QuantScheme::AsymU8, 1);
    let exact = axdnn::Lut::exact(8, 8, false);
    let acc = Accelerator::new(&qm, &exact, AccelConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let e = ModelRtl::build(&acc, &m, &RtlLayers::All, Simulator::Icarus, dir.path()).err().expect("tables differ");
    assert!(matches!(e, RtlError::NotTheNetlist { .. }), "{e}");
    let acc = Accelerator::new(&qm, &m.lut, AccelConfig::default()).unwrap();
    let e = ModelRtl::build(&acc, &m, &RtlLayers::Named(vec!["conv9".into()]), Simulator::Icarus, dir.path())
        .err()
        .expect("no conv9");
    assert!(matches!(&e, RtlError::UnknownLayer { name, known } if name == "conv9" && known.len() == 5), "{e}");
}

/// The multiplier wired with its operands swapped (activation on A): on a real layer the
/// co-simulation fails on the first differing accumulator, against the cycle-stepped model.
#[test]
fn swapped_ports_fail_on_a_real_layer() {
    if !common::require_icarus() {
        return;
    }
    let Some(data) = common::data() else { return };
    let mut m = multiplier();
    let (qm, images) = lenet(&data, QuantScheme::AsymU8, 1);
    let acc =
        Accelerator::new(&qm, &m.lut, AccelConfig { array: ArrayShape { rows: 8, cols: 8 }, ..AccelConfig::default() })
            .unwrap();
    std::mem::swap(&mut m.ports.a, &mut m.ports.b);
    let layers = RtlLayers::Named(vec!["conv1".into()]);
    let dir = tempfile::tempdir().unwrap();
    let e = ModelRtl::build(&acc, &m, &layers, Simulator::Icarus, dir.path())
        .unwrap()
        .run(&images, 0)
        .expect_err("swapped ports caught");
    assert!(matches!(e, RtlError::SumMismatch { reference: "accel::array", .. }), "{e}");
}

/// A whole LeNet-5 inference on Verilator (4×4 WS: conv layers on the approximate netlist, FC
/// layers on the generated exact one): every GEMM through the RTL, logits equal to the
/// accelerator's, accumulators equal to the cycle-stepped engine's.
#[test]
fn whole_image_verilator() {
    if !common::require_tool("verilator") {
        return;
    }
    let Some(data) = common::data() else { return };
    let m = multiplier();
    let (qm, images) = lenet(&data, QuantScheme::AsymU8, 1);
    let a = ArrayShape { rows: 4, cols: 4 };
    let cfg = AccelConfig { array: a, dataflow: Dataflow::Ws, ..AccelConfig::default() };
    let acc = Accelerator::new(&qm, &m.lut, cfg).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let t = std::time::Instant::now();
    let rtl = ModelRtl::build(&acc, &m, &RtlLayers::All, Simulator::Verilator, dir.path()).unwrap();
    let built = t.elapsed().as_secs_f64();
    let rep = rtl.run(&images, 0).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "compile {built:.1} s, run {:.1} s: {} accumulators, {} outputs, {} cycles",
        t.elapsed().as_secs_f64() - built,
        rep.sums(),
        rep.outputs(),
        rep.cycles()
    );
    let names: Vec<&str> = rep.gemms.iter().map(|g| g.layer.as_str()).collect();
    assert_eq!(names, ["conv1", "conv2", "conv3", "fc1", "fc2"]);
    let approx: Vec<bool> = rep.gemms.iter().map(|g| g.approximate).collect();
    assert_eq!(approx, [true, true, true, false, false]);
    let cycles: u64 = qm
        .gemms()
        .map(|g| timing::timing(GemmShape { npix: g.npix(), k: g.k, nf: g.nf }, Dataflow::Ws, a).compute_cycles + 1)
        .sum();
    assert_eq!(rep.cycles(), cycles);
    let cycle =
        Accelerator::new(&qm, &m.lut, AccelConfig { engine: Engine::Cycle, ..cfg }).unwrap().run(&images).unwrap();
    assert_eq!(rep.acc, cycle.acc);
}

/// The CLI: `rtl cosim --model --layer conv1 --image 7` prints what matched.
#[test]
fn cli_real_layer() {
    if !common::require_icarus() {
        return;
    }
    let Some(data) = common::data() else { return };
    let exe = env!("CARGO_BIN_EXE_axdnn");
    let model: PathBuf = root().join("models/lenet5-mnist");
    let out = std::process::Command::new(exe)
        .args(["rtl", "cosim", "--array", "8x8", "--layer", "conv1", "--image", "7", "--calib", "64", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(&data)
        .arg("--multiplier")
        .arg(root().join("netlists/gen/mul8u_gen_bam_h2v6.v"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // conv1: 28·28 pixels × 6 filters; SCALE-Sim 8×8 WS count 3223 (peers.md §5.1).
    assert!(
        text.contains("image 7 conv1 (approximate, mul8u_gen_bam_h2v6)") && text.contains("4704 accumulators equal"),
        "{text}"
    );
    assert!(
        text.contains("last output cycle 3223 = model 3223") && text.contains("logits of every image equal"),
        "{text}"
    );
    // A random-tile flag with --model is a usage error.
    let bad = std::process::Command::new(exe)
        .args(["rtl", "cosim", "--array", "2x2", "--multiplier", "x.v", "--k", "3", "--model"])
        .arg(&model)
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
