//! The fast engine and the cycle-stepped array agree bit for bit and in cycles, on randomized
//! GEMMs, arrays and multipliers and on whole (random-parameter) models; both agree with the
//! plain per-image integer oracle.

use crate::common;

use axdnn::accel::array;
use axdnn::accel::fast::{self, GemmOperands};
use axdnn::accel::timing::{self, ArrayShape, Dataflow, GemmShape};
use axdnn::accel::{AccelConfig, Accelerator, Engine, Inference};
use axdnn::model::{Arch, Shape};
use axdnn::mult::Multiplier;
use axdnn::quant::{self, ApproxLayers, QuantModel, QuantOptions, QuantScheme, WeightGranularity};
use axdnn::Lut;
use common::NoTable;
use rand::Rng;

#[test]
fn random_gemms_fast_equals_cycle_stepped() {
    let mut r = common::rng(1);
    for case in 0..90 {
        let g = GemmShape { npix: r.gen_range(1..24), k: r.gen_range(1..30), nf: r.gen_range(1..14) };
        let a = ArrayShape { rows: r.gen_range(1..7), cols: r.gen_range(1..7) };
        // Every dataflow on 30 cases (IS streams the filters: its T is nf).
        let df = [Dataflow::Ws, Dataflow::Os, Dataflow::Is][case as usize % 3];
        let signed = r.gen_bool(0.3);
        let lut = common::random_lut(signed, case);
        // About half the activations equal one code z (zero point: padding, ReLU zeros).
        let z: u8 = r.gen();
        let act: Vec<u8> = (0..g.npix * g.k).map(|_| if r.gen() { z } else { r.gen() }).collect();
        let wgt: Vec<u8> = (0..g.k * g.nf).map(|_| r.gen()).collect();
        let neg: Vec<i32> = (0..g.k * g.nf).map(|_| -(r.gen_bool(0.5) as i32)).collect();
        let use_neg = r.gen_bool(0.5);
        let ops =
            GemmOperands { npix: g.npix, k: g.k, nf: g.nf, act: &act, wgt: &wgt, neg: use_neg.then_some(&neg[..]) };
        // Direct definition.
        let mut want = vec![0i32; g.npix * g.nf];
        for p in 0..g.npix {
            for o in 0..g.nf {
                for kk in 0..g.k {
                    let v = lut.get(act[p * g.k + kk] as u32, wgt[kk * g.nf + o] as u32);
                    let v = if use_neg && neg[kk * g.nf + o] != 0 { -v } else { v };
                    want[p * g.nf + o] += v;
                }
            }
        }
        let mut fast_lut = Vec::new();
        fast::gemm(&ops, &lut, true, &mut fast_lut);
        let mut fast_batch = Vec::new();
        fast::gemm(&ops, &NoTable(lut.clone()), true, &mut fast_batch);
        let run = array::run(&ops, &lut, a, df);
        let run_nt = array::run(&ops, &NoTable(lut.clone()), a, df);
        let t = timing::timing(g, df, a);
        let what = format!("case {case}: {g:?} on {a} {df}");
        assert_eq!(fast_lut, want, "{what}");
        assert_eq!(fast_batch, want, "{what}");
        let rl = fast::RebasedLut::new(&lut.table, z, &wgt, ops.neg, g.k, g.nf);
        let mut rebased = Vec::new();
        fast::gemm_rebased(&ops, &rl, &mut rebased);
        assert_eq!(rebased, want, "{what}: rebased on z={z}");
        let mut cols = Vec::new();
        fast::ColumnTable::new(&lut.table, &wgt, ops.neg, g.k, g.nf, z).gemm(&ops, &mut cols);
        assert_eq!(cols, want, "{what}: column table");
        // A random table is not the exact product, so the exact kernel must refuse it.
        assert!(fast::ExactKernel::new(&lut, &wgt, ops.neg, g.k, g.nf).is_none(), "{what}");
        let kn = fast::TableKernel::choose(&lut, z, &wgt, ops.neg, g.k, g.nf);
        assert_eq!(kn.kind(), "columns", "{what}");
        assert_eq!(run.sums, want, "{what}");
        assert_eq!(run_nt, run, "{what}");
        assert_eq!(run.last_busy_cycle, t.compute_cycles, "{what}");
        assert_eq!(run.folds, t.folds, "{what}");
        assert_eq!(run.sram, t.sram, "{what}");
        assert_eq!(run.macs, g.macs(), "{what}");
    }
}

/// The exact kernel (operand values multiplied, no lookup) equals the exact table's sums, for
/// unsigned and signed operands, with and without negation masks, dense and mostly-zero
/// activations, up to 200 channels; a table one entry off is refused.
#[test]
fn exact_kernel_equals_exact_table() {
    let mut r = common::rng(5);
    for case in 0..40 {
        let g = GemmShape {
            npix: r.gen_range(1..20),
            k: r.gen_range(1..40),
            nf: if case % 5 == 4 { r.gen_range(60..200) } else { r.gen_range(1..40) },
        };
        let signed = case % 2 == 1;
        let lut = Lut::exact(8, 8, signed);
        // Every third case mostly zeros (the AVX-512 kernel skips pairs of zero values).
        let act: Vec<u8> =
            (0..g.npix * g.k).map(|_| if case % 3 == 0 && r.gen_bool(0.7) { 0 } else { r.gen() }).collect();
        let wgt: Vec<u8> = (0..g.k * g.nf).map(|_| r.gen()).collect();
        let neg: Vec<i32> = (0..g.k * g.nf).map(|_| -(r.gen_bool(0.5) as i32)).collect();
        let n = (case % 4 >= 2).then_some(&neg[..]);
        let ops = GemmOperands { npix: g.npix, k: g.k, nf: g.nf, act: &act, wgt: &wgt, neg: n };
        let mut want = Vec::new();
        fast::gemm(&ops, &lut, true, &mut want);
        let kn = fast::TableKernel::choose(&lut, 0, &wgt, n, g.k, g.nf);
        assert_eq!(kn.kind(), "exact", "case {case}");
        let mut got = Vec::new();
        kn.gemm(&ops, &mut got);
        assert_eq!(got, want, "case {case}: {g:?} signed={signed}");
        let mut off = lut.clone();
        off.table[r.gen_range(0..65536)] += 1;
        assert!(fast::ExactKernel::new(&off, &wgt, n, g.k, g.nf).is_none(), "case {case}");
    }
}

/// `qm` on `imgs` with `lut`: the fast engine and the cycle-stepped array give the same
/// accumulators, logits, per-layer and post-processing statistics, and every image's
/// accumulators are the per-image oracle's. Returns the fast engine's run.
pub(crate) fn engines_agree(qm: &QuantModel, lut: &Lut, cfg: AccelConfig, imgs: &[f32], what: &str) -> Inference {
    let fast_run = Accelerator::new(qm, lut, cfg).unwrap().run(imgs).unwrap();
    let cycle_run = Accelerator::new(qm, lut, AccelConfig { engine: Engine::Cycle, ..cfg }).unwrap().run(imgs).unwrap();
    assert_eq!(fast_run.acc, cycle_run.acc, "{what}");
    assert_eq!(fast_run.logits, cycle_run.logits, "{what}");
    assert_eq!(fast_run.layers, cycle_run.layers, "{what}: per-layer stats (measured = closed form)");
    assert_eq!(fast_run.post, cycle_run.post, "{what}: post-processing stats");
    let exact = Lut::exact(8, 8, lut.signed);
    let (d, c) = (qm.arch.input.numel(), qm.arch.classes);
    for (j, x) in imgs.chunks_exact(d).enumerate() {
        let want = quant::reference::forward(qm, lut, &exact, x);
        assert_eq!(&fast_run.acc[j * c..(j + 1) * c], &want[..], "{what}: oracle image {j}");
    }
    fast_run
}

fn lenet() -> Arch {
    Arch::lenet5(Shape::new(1, 28, 28), 10)
}

fn qmodel(arch: &Arch, scheme: QuantScheme, weights: WeightGranularity, approx: ApproxLayers) -> QuantModel {
    let params = common::random_params(arch, 11);
    let calib = common::random_images(arch, 16, 12);
    QuantModel::build(arch, &params, &calib, QuantOptions { scheme, weights, approx }).unwrap()
}

#[test]
fn lenet5_fast_equals_cycle_and_oracle_all_schemes() {
    let arch = lenet();
    let imgs = common::random_images(&arch, 2, 13);
    let cases = [
        (QuantScheme::AsymU8, WeightGranularity::PerTensor, ApproxLayers::Conv, Dataflow::Ws, 8, 8),
        (QuantScheme::AsymU8, WeightGranularity::PerChannel, ApproxLayers::All, Dataflow::Os, 8, 8),
        (QuantScheme::SignMagnitude, WeightGranularity::PerTensor, ApproxLayers::Conv, Dataflow::Os, 6, 5),
        (
            QuantScheme::SymS8,
            WeightGranularity::PerChannel,
            ApproxLayers::Named(vec!["conv2".into(), "fc2".into()]),
            Dataflow::Ws,
            5,
            7,
        ),
        (QuantScheme::SignMagnitude, WeightGranularity::PerChannel, ApproxLayers::All, Dataflow::Is, 8, 8),
        (QuantScheme::SymS8, WeightGranularity::PerTensor, ApproxLayers::Conv, Dataflow::Is, 7, 5),
    ];
    for (i, (scheme, wg, approx, df, rows, cols)) in cases.into_iter().enumerate() {
        let qm = qmodel(&arch, scheme, wg, approx);
        let lut = common::random_lut(scheme.signed_multiplier(), 50 + i as u64);
        let exact = Lut::exact(8, 8, scheme.signed_multiplier());
        let cfg = AccelConfig { array: ArrayShape { rows, cols }, dataflow: df, ..AccelConfig::default() };
        let what = format!("{scheme} {df} {rows}x{cols}");
        let fast_run = engines_agree(&qm, &lut, cfg, &imgs, &what);
        // The approximate table really matters (else the test could not fail).
        let exact_run = Accelerator::new(&qm, &exact, cfg).unwrap().run(&imgs).unwrap();
        assert_ne!(exact_run.acc, fast_run.acc, "{what}");
    }
}

#[test]
fn bit_level_path_gives_identical_logits() {
    // A multiplier without a table goes through `mul_batch` (the netlist simulator's path).
    let arch = lenet();
    let imgs = common::random_images(&arch, 6, 21);
    for scheme in [QuantScheme::AsymU8, QuantScheme::SignMagnitude, QuantScheme::SymS8] {
        let qm = qmodel(&arch, scheme, WeightGranularity::PerTensor, ApproxLayers::All);
        let lut = common::random_lut(scheme.signed_multiplier(), 77);
        let nt = NoTable(lut.clone());
        let cfg = AccelConfig::default();
        let a = Accelerator::new(&qm, &lut, cfg).unwrap().run(&imgs).unwrap();
        let b = Accelerator::new(&qm, &nt, cfg).unwrap().run(&imgs).unwrap();
        let c = Accelerator::new(&qm, &lut, AccelConfig { use_table: false, ..cfg }).unwrap().run(&imgs).unwrap();
        assert_eq!(a.acc, b.acc, "{scheme}");
        assert_eq!(a.acc, c.acc, "{scheme}");
        assert_eq!(a.logits, b.logits, "{scheme}");
    }
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let arch = lenet();
    let imgs = common::random_images(&arch, 12, 31);
    let qm = qmodel(&arch, QuantScheme::AsymU8, WeightGranularity::PerTensor, ApproxLayers::Conv);
    let lut = common::random_lut(false, 3);
    let acc = Accelerator::new(&qm, &lut, AccelConfig::default()).unwrap();
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| acc.run(&imgs).unwrap());
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap().install(|| acc.run(&imgs).unwrap());
    assert_eq!(one, two);
}

#[test]
fn exact_quantized_logits_track_float() {
    // Integer inference with the exact multiplier stays close to the float model.
    for (arch, n, nc) in [(lenet(), 40, 32), (Arch::alexnet(Shape::new(3, 32, 32), 10), 4, 8)] {
        let params = common::random_params(&arch, 5);
        let calib = common::random_images(&arch, nc, 6);
        let test = common::random_images(&arch, n, 7);
        let d = arch.input.numel();
        for scheme in [QuantScheme::AsymU8, QuantScheme::SignMagnitude, QuantScheme::SymS8] {
            let qm = QuantModel::build(&arch, &params, &calib, QuantOptions { scheme, ..Default::default() }).unwrap();
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
            println!("{} {scheme}: mean |q − f| / mean |f − mean f| = {rel:.4}", arch.name);
            assert!(rel < 0.08, "{} {scheme}: relative logit error {rel}", arch.name);
        }
    }
}

#[test]
fn typed_errors() {
    let arch = lenet();
    let qm = qmodel(&arch, QuantScheme::AsymU8, WeightGranularity::PerTensor, ApproxLayers::Conv);
    let signed = Lut::exact(8, 8, true);
    assert!(Accelerator::new(&qm, &signed, AccelConfig::default()).is_err());
    let wide = Lut::exact(4, 4, false);
    assert!(Accelerator::new(&qm, &wide, AccelConfig::default()).is_err());
    let named =
        qmodel(&arch, QuantScheme::AsymU8, WeightGranularity::PerTensor, ApproxLayers::Named(vec!["conv9".into()]));
    let e = Accelerator::new(&named, &Lut::exact(8, 8, false), AccelConfig::default()).err().unwrap();
    assert!(e.to_string().contains("conv9"));
    let ex = Lut::exact(8, 8, false);
    let acc = Accelerator::new(&qm, &ex, AccelConfig::default()).unwrap();
    assert!(acc.run(&[0.0; 5]).is_err());
    let params = common::random_params(&arch, 1);
    assert!(QuantModel::build(&arch, &params, &[0.0; 3], QuantOptions::default()).is_err());
    Exactness::check();
}

/// `Exact` and its table agree (the exact layers run the table through the same datapath).
struct Exactness;
impl Exactness {
    fn check() {
        let e = axdnn::Exact::new(8, 8, true);
        let l = Lut::exact(8, 8, true);
        for (a, b) in [(0u32, 0u32), (255, 1), (128, 128), (127, 200)] {
            assert_eq!(e.mul(a, b), l.mul(a, b));
        }
    }
}

/// Post-processing of strided batch rows (the vector path where the CPU has AVX2) equals the
/// per-element definition: zero-point corrections, bias, requantization, zero point and clamp.
#[test]
fn finish_rows_equals_per_element_definition() {
    let mut r = common::rng(17);
    for scheme in [QuantScheme::AsymU8, QuantScheme::SignMagnitude, QuantScheme::SymS8] {
        for weights in [WeightGranularity::PerTensor, WeightGranularity::PerChannel] {
            let qm = qmodel(&lenet(), scheme, weights, ApproxLayers::Conv);
            let range = qm.act_range();
            for g in qm.gemms() {
                let (npix, nf) = (g.npix(), g.nf);
                for (b, pad) in [(1usize, 0usize), (3, 2), (2, 8)] {
                    let stride = nf + pad;
                    let sums: Vec<i32> = (0..b * npix * stride)
                        .map(|_| if r.gen_bool(0.05) { r.gen() } else { r.gen_range(-200_000..200_000) })
                        .collect();
                    let xsum: Vec<i32> = (0..b * npix).map(|_| r.gen_range(0..40_000)).collect();
                    let mut got = vec![7];
                    g.finish_rows(&sums, stride, &xsum, range, &mut got);
                    assert_eq!(got[0], 7, "finish_rows appends");
                    let mut want = vec![7];
                    for img in 0..b {
                        for o in 0..nf {
                            for p in 0..npix {
                                let row = img * npix + p;
                                let acc = g.accumulator(sums[row * stride + o], xsum[row], o);
                                want.push(match g.output {
                                    None => acc,
                                    Some(q) => (q.zero_point + g.requant[o].apply(acc)).clamp(range.0, range.1),
                                });
                            }
                        }
                    }
                    assert_eq!(got, want, "{scheme} {weights:?} {} b={b} stride={stride}", g.name);
                    let mut portable = vec![0; b * npix * nf];
                    g.finish_rows_portable(&sums, stride, &xsum, range, &mut portable);
                    assert_eq!(portable, want[1..], "portable: {scheme} {weights:?} {} b={b}", g.name);
                }
            }
        }
    }
}
