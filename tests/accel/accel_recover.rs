//! Accuracy recovery (issue 10): identity with the exact multiplier, bit-exact between the fast
//! engine, the cycle-stepped array and the per-image oracle, compensation removes the mean
//! accumulator error of a layer, tuning lowers the product error it optimises, and the plan key
//! keeps results of different methods apart.

use crate::common;

use axdnn::accel::fast::{self, GemmOperands};
use axdnn::accel::{AccelConfig, Accelerator};
use axdnn::model::{Arch, Shape};
use axdnn::quant::{QGemm, QuantModel, QuantOptions, QuantScheme, WeightGranularity};
use axdnn::recover::{recover, Recover};
use axdnn::Lut;
use rand::Rng;

fn lenet() -> Arch {
    Arch::lenet5(Shape::new(1, 28, 28), 10)
}

fn qmodel(arch: &Arch, scheme: QuantScheme, weights: WeightGranularity, calib: &[f32]) -> QuantModel {
    let params = common::random_params(arch, 11);
    QuantModel::build(arch, &params, calib, QuantOptions { scheme, weights, ..Default::default() }).unwrap()
}

/// A biased multiplier like the EvoApprox ones that lose low-order partial products: the exact
/// product minus a sixteenth of it, plus seeded noise (signed products keep their sign).
fn biased_lut(signed: bool, seed: u64) -> Lut {
    let mut r = common::rng(seed);
    let mut l = Lut::exact(8, 8, signed);
    for v in &mut l.table {
        *v = *v - *v / 16 + r.gen_range(-40..40);
    }
    l.name = format!("biased{seed}");
    l
}

const SCHEMES: [QuantScheme; 3] = [QuantScheme::AsymU8, QuantScheme::SignMagnitude, QuantScheme::SymS8];

#[test]
fn exact_multiplier_recovery_is_the_identity() {
    let arch = lenet();
    let calib = common::random_images(&arch, 24, 2);
    let test = common::random_images(&arch, 6, 3);
    for scheme in SCHEMES {
        for wg in [WeightGranularity::PerTensor, WeightGranularity::PerChannel] {
            let qm = qmodel(&arch, scheme, wg, &calib);
            let exact = Lut::exact(8, 8, scheme.signed_multiplier());
            let base = Accelerator::new(&qm, &exact, AccelConfig::default()).unwrap().run(&test).unwrap();
            for method in Recover::ALL {
                let r = recover(&qm, &exact, &exact.sha256(), method, &calib).unwrap();
                assert_eq!(r.layers, qm.layers, "{scheme} {wg:?} {method}: model changed");
                if let Some(rec) = &r.recovery {
                    assert!(rec.layers.iter().all(|l| l.compensation.iter().all(|&c| c == 0)
                        && l.tuned_weights == 0
                        && l.gain.iter().all(|&g| g == 1.0)));
                }
                let run = Accelerator::new(&r, &exact, AccelConfig::default()).unwrap().run(&test).unwrap();
                assert_eq!(run.acc, base.acc, "{scheme} {wg:?} {method}");
            }
        }
    }
}

#[test]
fn recovered_models_fast_equals_cycle_and_oracle() {
    let arch = lenet();
    let calib = common::random_images(&arch, 16, 4);
    let imgs = common::random_images(&arch, 2, 5);
    for (i, scheme) in SCHEMES.into_iter().enumerate() {
        let qm = qmodel(&arch, scheme, WeightGranularity::PerChannel, &calib);
        let lut = biased_lut(scheme.signed_multiplier(), 60 + i as u64);
        let plain = Accelerator::new(&qm, &lut, AccelConfig::default()).unwrap().run(&imgs).unwrap();
        for method in [Recover::Compensate, Recover::Tune] {
            let r = recover(&qm, &lut, &lut.sha256(), method, &calib).unwrap();
            let what = format!("{scheme} {method}");
            assert_ne!(r.layers, qm.layers, "{what}: recovery changed nothing");
            let cfg = AccelConfig { array: axdnn::accel::ArrayShape { rows: 6, cols: 5 }, ..AccelConfig::default() };
            let fast_run = crate::accel_engines::engines_agree(&r, &lut, cfg, &imgs, &what);
            assert_ne!(fast_run.acc, plain.acc, "{what}: logits unchanged");
        }
    }
}

/// Int32 accumulators (`rows × nf`) of layer `g` on im2col operand codes, with `table`.
fn accumulators(g: &QGemm, scheme: QuantScheme, table: &Lut, codes: &[u8]) -> Vec<i32> {
    let (k, nf) = (g.k, g.nf);
    let mut wgt = vec![0u8; k * nf];
    let mut neg = vec![0i32; k * nf];
    for o in 0..nf {
        for kk in 0..k {
            let (c, n) = scheme.wgt_operand(g.w[o * k + kk]);
            wgt[kk * nf + o] = c;
            neg[kk * nf + o] = -(n as i32);
        }
    }
    let npix = codes.len() / k;
    let ops = GemmOperands { npix, k, nf, act: codes, wgt: &wgt, neg: Some(&neg) };
    let mut sums = Vec::new();
    fast::gemm(&ops, table, true, &mut sums);
    let signed = scheme.act_range().0 < 0;
    let mut out = Vec::with_capacity(sums.len());
    for (p, row) in sums.chunks_exact(nf).enumerate() {
        let xs: i32 = codes[p * k..(p + 1) * k].iter().map(|&c| if signed { c as i8 as i32 } else { c as i32 }).sum();
        out.extend(row.iter().enumerate().map(|(o, &s)| g.accumulator(s, xs, o)));
    }
    out
}

/// Mean over channels of |mean over rows of (got − want)|.
fn mean_bias(got: &[i32], want: &[i32], nf: usize) -> f64 {
    let rows = (got.len() / nf) as f64;
    let mut m = vec![0f64; nf];
    for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
        m[i % nf] += (a as f64 - b as f64) / rows;
    }
    m.iter().map(|v| v.abs()).sum::<f64>() / nf as f64
}

#[test]
fn compensation_removes_the_mean_accumulator_error_of_each_layer() {
    let arch = lenet();
    let calib = common::random_images(&arch, 32, 6);
    let held_out = common::random_images(&arch, 16, 7);
    let scheme = QuantScheme::AsymU8;
    let qm = qmodel(&arch, scheme, WeightGranularity::PerTensor, &calib);
    let lut = biased_lut(false, 8);
    let exact = Lut::exact(8, 8, false);
    let r = recover(&qm, &lut, &lut.sha256(), Recover::Compensate, &calib).unwrap();
    let acc = Accelerator::new(&r, &lut, AccelConfig::default()).unwrap();
    let (before, after): (Vec<&QGemm>, Vec<&QGemm>) = (qm.gemms().collect(), r.gemms().collect());
    let mut checked = 0;
    for (gi, (g0, g1)) in before.iter().zip(&after).enumerate().filter(|(_, (g, _))| g.approximate) {
        for (images, bound, name) in [(&calib, 0.5 + 1e-9, "calibration"), (&held_out, f64::INFINITY, "held-out")] {
            // The layer's inputs as the recovered model produces them (what it was fitted on).
            let codes = acc.layer_operands(images, gi).unwrap();
            let want = accumulators(g0, scheme, &exact, &codes);
            let e0 = mean_bias(&accumulators(g0, scheme, &lut, &codes), &want, g0.nf);
            let e1 = mean_bias(&accumulators(g1, scheme, &lut, &codes), &want, g1.nf);
            println!("{} {name}: mean accumulator error per channel {e0:.1} -> {e1:.2}", g0.name);
            assert!(e0 > 50.0, "{}: the biased table must matter ({e0})", g0.name);
            // On the images it was fitted on, rounding is all that is left.
            assert!(e1 <= bound, "{} {name}: {e1}", g0.name);
            assert!(e1 < e0 / 10.0, "{} {name}: {e0} -> {e1}", g0.name);
        }
        checked += 1;
    }
    assert_eq!(checked, 3, "the three convolutions are approximate");
}

#[test]
fn tuning_never_raises_the_layer_product_error() {
    // Σ_x p(x)·|x·w − P(x, w')| of each weight with its tuned replacement is at most that of the
    // weight itself, for every scheme (what ALWANN tuning promises), and strictly lower somewhere.
    let h: Vec<u64> = (0..256u64).map(|x| 1 + (x * 7919) % 13).collect();
    for (i, scheme) in SCHEMES.into_iter().enumerate() {
        let lut = biased_lut(scheme.signed_multiplier(), 90 + i as u64);
        let exact = Lut::exact(8, 8, scheme.signed_multiplier());
        let cost = |w: i32, t: i32| -> f64 {
            (0..256usize)
                .map(|x| {
                    let p = |tab: &Lut, v: i32| {
                        let (c, n) = scheme.wgt_operand(v);
                        let p = tab.get(x as u32, c as u32) as i64;
                        if n {
                            -p
                        } else {
                            p
                        }
                    };
                    h[x] as f64 * (p(&exact, w) - p(&lut, t)).abs() as f64
                })
                .sum()
        };
        let map = axdnn::recover::tuning_map(scheme, &lut.table, &exact.table, &h);
        let mut better = 0;
        for &(w, t) in &map {
            let (c0, c1) = (cost(w, w), cost(w, t));
            assert!(c1 <= c0, "{scheme}: {w} -> {t} raises {c0} to {c1}");
            better += (c1 < c0) as usize;
        }
        assert!(better > 0, "{scheme}: tuning found nothing");
    }
}

const PLAN: &str = r#"
name = "methods"
models = ["models/lenet5-mnist"]
schemes = ["asym-u8"]
multipliers = ["exact", "netlists/gen/mul8u_gen_trunc8.v"]
attacks = ["clean"]
images = 100
chunk = 50
calib = 64
"#;

#[test]
fn plan_key_keeps_methods_apart_and_none_changes_nothing() {
    let Some(data) = common::data() else { return };
    let inputs = axdnn::study::Inputs { data: Some(data), evoapprox: None };
    let plain = axdnn::study::Plan::from_toml(PLAN, std::path::Path::new("p.toml"), &inputs).unwrap();
    let with = format!("{PLAN}recover = [\"none\", \"tune\"]\n");
    let both = axdnn::study::Plan::from_toml(&with, std::path::Path::new("p.toml"), &inputs).unwrap();
    let none_only = axdnn::study::Plan::from_toml(
        &format!("{PLAN}recover = [\"none\"]\n"),
        std::path::Path::new("p.toml"),
        &inputs,
    )
    .unwrap();
    assert!(!plain.to_toml().contains("recover ="), "the default stays out of the lock file");
    assert_eq!(none_only.sha256(), plain.sha256());
    assert!(both.to_toml().contains("recover = [\"none\", \"tune\"]"));
    let bad = axdnn::study::Plan::from_toml(
        &format!("{PLAN}recover = [\"retrain\"]\n"),
        std::path::Path::new("p.toml"),
        &inputs,
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("p.toml:10:") && bad.contains("retrain"), "{bad}");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    axdnn::study::Runner::new(plain, inputs.clone()).quiet().run(&dir).unwrap();
    let csv0 = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    assert!(!csv0.lines().next().unwrap().contains("recover"));
    // Adding a method reuses the plain rows and measures only the new targets.
    let s = axdnn::study::Runner::new(both.clone(), inputs.clone()).quiet().run(&dir).unwrap();
    assert_eq!(s.rows_written, 2 * 2, "two chunks × two multipliers under tune");
    let rows = axdnn::study::store::read_rows(&dir.join("results.csv")).unwrap();
    let get = |m: &str, r: &str, start: usize| {
        rows.iter()
            .find(|x| x.target == "accel" && x.multiplier.ends_with(m) && x.recover == r && x.image_start == start)
            .unwrap_or_else(|| panic!("{m} {r}"))
    };
    for start in [0, 50] {
        // Exact: tuning is the identity, image by image.
        assert_eq!(get("exact", "", start).correct_bits, get("exact", "tune", start).correct_bits);
        assert_ne!(get("exact", "", start).key(), get("exact", "tune", start).key());
    }
    // Without the last column, the row check (over the row's fields, so it differs once the
    // file has a recover column).
    let unchecked = |l: &str| l.rsplit_once(',').map_or(l, |(a, _)| a).to_string();
    let header = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    assert!(unchecked(header.lines().next().unwrap()).ends_with(",recover"));
    // Back to the plain plan: its rows are the same bytes as before.
    axdnn::study::Runner::new(
        axdnn::study::Plan::from_toml(PLAN, std::path::Path::new("p.toml"), &inputs).unwrap(),
        inputs,
    )
    .quiet()
    .run(&dir)
    .unwrap();
    let plain_rows: Vec<String> = std::fs::read_to_string(dir.join("results.csv"))
        .unwrap()
        .lines()
        .map(unchecked)
        .filter(|l| !l.ends_with(",tune"))
        .map(|l| l.trim_end_matches(",none").to_string())
        .collect();
    let want: Vec<String> = csv0.lines().map(unchecked).collect();
    assert_eq!(&plain_rows[1..=want.len() - 1], &want[1..], "plain rows unchanged");
}

/// A small labelled set from the random images (labels from a seeded draw).
fn dataset(arch: &Arch, n: usize, seed: u64) -> axdnn::data::Dataset {
    let mut r = common::rng(seed + 1000);
    axdnn::data::Dataset {
        shape: arch.input,
        images: common::random_images(arch, n, seed),
        labels: (0..n).map(|_| r.gen_range(0..10u8)).collect(),
    }
}

#[test]
fn finetune_is_seeded_and_resumes_exactly() {
    use axdnn::recover::finetune::{finetune, FinetuneConfig};
    let arch = lenet();
    let base = axdnn::model::io::SavedModel {
        arch: arch.clone(),
        params: common::random_params(&arch, 11),
        meta: axdnn::model::io::ModelMeta {
            sha256: "base".into(),
            ..crate::common::fixture_meta(axdnn::data::DatasetName::Mnist)
        },
    };
    let (train, test) = (dataset(&arch, 96, 1), dataset(&arch, 16, 2));
    let lut = biased_lut(false, 8);
    let cfg = FinetuneConfig {
        calib: 16,
        epochs: 2,
        batch: 16,
        eval_n: 16,
        range_every: 2,
        lr: 0.01,
        ..FinetuneConfig::new(QuantOptions::default())
    };
    let tmp = tempfile::tempdir().unwrap();
    let whole = finetune(&base, &lut, &lut.sha256(), &cfg, &train, &test, &tmp.path().join("a"), false).unwrap();
    let again = finetune(&base, &lut, &lut.sha256(), &cfg, &train, &test, &tmp.path().join("b"), false).unwrap();
    assert_eq!(whole.params, again.params, "seeded: the same run twice");
    assert_ne!(whole.params, base.params, "fine-tuning changed the weights");
    // Stopped after one epoch, then resumed: the same as two at once.
    let d = tmp.path().join("d");
    axdnn::recover::finetune::finetune_until(&base, &lut, &lut.sha256(), &cfg, &train, &test, &d, false, 1).unwrap();
    let resumed = finetune(&base, &lut, &lut.sha256(), &cfg, &train, &test, &d, false).unwrap();
    assert_eq!(resumed.params, whole.params);
    let strip = |h: &[axdnn::recover::finetune::FinetuneEpoch]| {
        h.iter().map(|e| axdnn::recover::finetune::FinetuneEpoch { seconds: 0.0, ..e.clone() }).collect::<Vec<_>>()
    };
    assert_eq!(strip(&resumed.history), strip(&whole.history));
    // A checkpoint of other settings is refused.
    let one = FinetuneConfig { epochs: 1, ..cfg.clone() };
    assert!(finetune(&base, &lut, &lut.sha256(), &one, &train, &test, &d, false).is_err());
    // Another table is refused on resume too.
    let other = biased_lut(false, 9);
    assert!(finetune(&base, &other, &other.sha256(), &cfg, &train, &test, &d, false).is_err());
}

#[test]
fn finetune_record_accepts_its_table_and_the_exact_baseline_only() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lenet5-mnist-ft-jv3-sign-magnitude");
    let (_, meta) = axdnn::model::io::load_meta(&dir).unwrap();
    let rec = meta.finetune.as_ref().unwrap();
    let check = |sha: &str, scheme| axdnn::recover::finetune::check_record(&meta, &dir, sha, scheme, false);
    let sm = QuantScheme::SignMagnitude;
    assert!(check(&rec.lut_sha256, sm).is_ok(), "its own table");
    assert!(check(&Lut::exact(8, 8, false).sha256(), sm).is_ok(), "the exact baseline");
    let other = biased_lut(false, 5).sha256();
    let e = check(&other, sm).unwrap_err().to_string();
    assert!(e.contains("multiplier table"), "{e}");
    assert!(check(&rec.lut_sha256, QuantScheme::AsymU8).is_err(), "another scheme");
}
