//! Per-layer multiplier assignment (issue 10, item 4): an assignment naming the same multiplier
//! everywhere is the single multiplier bit for bit; mixed assignments are bit-exact between the
//! fast engine and the cycle-stepped array, charge each layer its own multiplier's power, change
//! nothing upstream of the layers they change, and recover layer by layer; the spec grammar and
//! its errors; the CLI and the per-layer search (`select --per-layer`) on the real library.

use crate::common;

use axdnn::accel::{AccelConfig, Accelerator, ArrayShape, Engine};
use axdnn::model::{Arch, Shape};
use axdnn::mult::resolve::{self as load, canonical_spec, split_assignment, split_list};
use axdnn::mult::Multiplier;
use axdnn::quant::{ApproxLayers, QuantModel, QuantOptions, QuantScheme, WeightGranularity};
use axdnn::recover::{recover, recover_layers, Recover};
use axdnn::Lut;
use std::process::Command;

fn lenet() -> Arch {
    Arch::lenet5(Shape::new(1, 28, 28), 10)
}

fn qmodel(arch: &Arch, scheme: QuantScheme, approx: ApproxLayers, calib: &[f32]) -> QuantModel {
    let params = common::random_params(arch, 21);
    QuantModel::build(arch, &params, calib, QuantOptions { scheme, weights: WeightGranularity::PerChannel, approx })
        .unwrap()
}

fn with_power(mut l: Lut, name: &str, mw: f64) -> Lut {
    l.name = name.into();
    l.power_mw = Some(mw);
    l
}

#[test]
fn same_multiplier_everywhere_is_the_single_multiplier() {
    let arch = lenet();
    let calib = common::random_images(&arch, 16, 1);
    let imgs = common::random_images(&arch, 5, 2);
    for scheme in [QuantScheme::AsymU8, QuantScheme::SignMagnitude] {
        let qm = qmodel(&arch, scheme, ApproxLayers::Conv, &calib);
        let m = with_power(common::random_lut(scheme.signed_multiplier(), 7), "m", 0.3);
        let exact = Lut::exact(8, 8, scheme.signed_multiplier());
        let single = Accelerator::new(&qm, &m, AccelConfig::default()).unwrap().run(&imgs).unwrap();
        let named: Vec<(&str, &dyn Multiplier)> = vec![("conv1", &m), ("conv2", &m), ("conv3", &m)];
        // Default exact, every approximate layer named.
        let a = Accelerator::with_layers(&qm, &exact, &named, AccelConfig::default()).unwrap().run(&imgs).unwrap();
        assert_eq!(a.acc, single.acc, "{scheme}");
        assert_eq!(a.layers, single.layers, "{scheme}: statistics and energy");
        // Default m, nothing named.
        let b = Accelerator::with_layers(&qm, &m, &[], AccelConfig::default()).unwrap().run(&imgs).unwrap();
        assert_eq!(b.acc, single.acc);
    }
}

#[test]
fn mixed_assignment_fast_equals_cycle_and_charges_each_layer() {
    let arch = lenet();
    let calib = common::random_images(&arch, 16, 3);
    let imgs = common::random_images(&arch, 2, 4);
    for (i, scheme) in [QuantScheme::AsymU8, QuantScheme::SignMagnitude, QuantScheme::SymS8].into_iter().enumerate() {
        let signed = scheme.signed_multiplier();
        let qm = qmodel(&arch, scheme, ApproxLayers::Conv, &calib);
        let a = with_power(common::random_lut(signed, 30 + i as u64), "a", 0.2);
        let b = with_power(common::random_lut(signed, 40 + i as u64), "b", 0.05);
        let c = with_power(common::random_lut(signed, 50 + i as u64), "c", 0.4);
        // conv2 gets b, fc1 (an exact layer in the options) gets c, the rest of the approximate
        // layers the default a.
        let named: Vec<(&str, &dyn Multiplier)> = vec![("conv2", &b), ("fc1", &c)];
        let cfg = AccelConfig {
            array: ArrayShape { rows: 7, cols: 5 },
            energy: axdnn::accel::EnergyModel { clock_ghz: 2.0, exact_power_mw: Some(0.39) },
            ..AccelConfig::default()
        };
        let fast = Accelerator::with_layers(&qm, &a, &named, cfg).unwrap();
        let f = fast.run(&imgs).unwrap();
        let cy = Accelerator::with_layers(&qm, &a, &named, AccelConfig { engine: Engine::Cycle, ..cfg })
            .unwrap()
            .run(&imgs)
            .unwrap();
        assert_eq!(f.acc, cy.acc, "{scheme}: fast vs cycle");
        assert_eq!(f.layers, cy.layers, "{scheme}: closed-form vs measured statistics");
        let want = [
            ("conv1", 0.2, true),
            ("conv2", 0.05, true),
            ("conv3", 0.2, true),
            ("fc1", 0.4, true),
            ("fc2", 0.39, false),
        ];
        for (l, (name, mw, approx)) in f.layers.iter().zip(want) {
            assert_eq!((l.name.as_str(), l.approximate), (name, approx));
            let e = l.energy_pj.unwrap();
            assert!((e - l.macs as f64 * mw / 2.0).abs() < 1e-6 * e, "{scheme} {name}: {e} pJ");
        }
        assert_eq!(fast.layer_multiplier(1).unwrap().name(), "b");
        assert!(fast.layer_multiplier(4).is_none());
        // Upstream of the first changed layer nothing changes; from it on the outputs differ.
        let only_a = Accelerator::with_layers(&qm, &a, &[("fc1", &c as &dyn Multiplier)], AccelConfig::default())
            .unwrap()
            .layer_outputs(&imgs)
            .unwrap();
        let mixed =
            Accelerator::with_layers(&qm, &a, &named, AccelConfig::default()).unwrap().layer_outputs(&imgs).unwrap();
        let conv2 =
            qm.layers.iter().position(|l| matches!(l, axdnn::quant::QLayer::Gemm(g) if g.name == "conv2")).unwrap();
        assert_eq!(mixed[..conv2], only_a[..conv2], "{scheme}: layers before conv2");
        assert_ne!(mixed[conv2], only_a[conv2], "{scheme}: conv2 with another multiplier");
    }
}

#[test]
fn per_layer_recovery() {
    let arch = lenet();
    let calib = common::random_images(&arch, 16, 5);
    let imgs = common::random_images(&arch, 2, 6);
    let scheme = QuantScheme::SignMagnitude;
    let qm = qmodel(&arch, scheme, ApproxLayers::Conv, &calib);
    let a = common::random_lut(false, 61);
    let b = common::random_lut(false, 62);
    let exact = Lut::exact(8, 8, false);
    for method in [Recover::Compensate, Recover::Tune] {
        // Uniform assignment = single-multiplier recovery.
        let all_a: Vec<(&str, &dyn Multiplier)> = vec![("conv1", &a), ("conv2", &a), ("conv3", &a)];
        let one = recover(&qm, &a, "x", method, &calib).unwrap();
        let per = recover_layers(&qm, &exact, &all_a, "a", "x", method, &calib).unwrap();
        assert_eq!(per.layers, one.layers, "{method}");
        // Exact everywhere: unchanged.
        let all_exact: Vec<(&str, &dyn Multiplier)> = vec![("conv1", &exact), ("conv2", &exact), ("conv3", &exact)];
        assert_eq!(
            recover_layers(&qm, &exact, &all_exact, "e", "x", method, &calib).unwrap().layers,
            qm.layers,
            "{method}: exact"
        );
        // Mixed: each layer for its own multiplier; fast = cycle; error reduced where approximate.
        let mixed: Vec<(&str, &dyn Multiplier)> = vec![("conv1", &a), ("conv2", &b)];
        let r = recover_layers(&qm, &exact, &mixed, "conv1=a,conv2=b", "x", method, &calib).unwrap();
        let rec = r.recovery.as_ref().unwrap();
        assert_eq!(rec.layers.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["conv1", "conv2", "conv3"]);
        assert!(rec.layers[..2].iter().all(|l| l.mean_error_after <= l.mean_error_before), "{method}: {rec:?}");
        assert_eq!(rec.layers[2].mean_error_before, 0.0, "conv3 runs on the exact default");
        let f = Accelerator::with_layers(&r, &exact, &mixed, AccelConfig::default()).unwrap().run(&imgs).unwrap();
        let c = Accelerator::with_layers(
            &r,
            &exact,
            &mixed,
            AccelConfig { engine: Engine::Cycle, array: ArrayShape { rows: 5, cols: 6 }, ..AccelConfig::default() },
        )
        .unwrap()
        .run(&imgs)
        .unwrap();
        assert_eq!(f.acc, c.acc, "{method}: fast vs cycle after per-layer recovery");
    }
}

#[test]
fn assignment_grammar_and_errors() {
    assert_eq!(split_assignment("mul8u_L40").unwrap(), None);
    assert_eq!(
        split_assignment(" conv1=mul8u_L40 , conv2=exact,mul8u_JQQ").unwrap().unwrap(),
        vec![
            (Some("conv1".into()), "mul8u_L40".into()),
            (Some("conv2".into()), "exact".into()),
            (None, "mul8u_JQQ".into())
        ]
    );
    assert_eq!(canonical_spec("mul8u_JQQ,conv1=mul8u_L40"), "conv1=mul8u_L40,mul8u_JQQ");
    for (bad, says) in [
        ("conv1=a,conv1=b", "entry 2 ('conv1=b'): the layer is assigned twice"),
        ("conv1=a,b,c", "entry 3 ('c'): a second default"),
        ("=a", "entry 1 ('=a'): the layer name"),
        ("conv1=", "entry 1 ('conv1='): no multiplier"),
        ("conv1=a=b", "more than one '='"),
    ] {
        let e = split_assignment(bad).unwrap_err().to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
    assert_eq!(split_list(&["exact,mul8u_L40".into()]), ["exact", "mul8u_L40"]);
    assert_eq!(
        split_list(&["exact;conv1=mul8u_L40,conv2=exact".into(), "mul8u_JQQ".into()]),
        ["exact", "conv1=mul8u_L40,conv2=exact", "mul8u_JQQ"]
    );
    // Unknown layer, and an entry that does not resolve, each said once with its place.
    let arch = lenet();
    let calib = common::random_images(&arch, 4, 8);
    let qm = qmodel(&arch, QuantScheme::AsymU8, ApproxLayers::Conv, &calib);
    let m = load::resolve("conv9=exact", false, false, None).unwrap();
    let e = axdnn::accel::Accelerator::for_loaded(&qm, &m, AccelConfig::default()).err().unwrap().to_string();
    assert!(e.contains("names layer 'conv9'") && e.contains("conv1, conv2, conv3, fc1, fc2"), "{e}");
    let e = load::resolve("conv1=exact,conv2=/no/such.v", false, false, None).err().unwrap().to_string();
    assert!(e.contains("entry 2 ('/no/such.v')"), "{e}");
    // Signedness is checked per entry.
    let signed = Lut::exact(8, 8, true);
    let unsigned = Lut::exact(8, 8, false);
    let e = Accelerator::with_layers(&qm, &unsigned, &[("conv2", &signed as &dyn Multiplier)], AccelConfig::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("signed"), "{e}");
    // The key of an assignment changes with any one layer's table.
    let x = load::resolve("conv1=exact,conv2=exact", false, false, None).unwrap();
    let mut y = load::resolve("conv1=exact,conv2=exact", false, false, None).unwrap();
    assert_eq!(x.lut_sha256(), y.lut_sha256());
    let mut t = y.layers[1].1.lut.take().unwrap();
    t.table[300] += 1;
    y.layers[1].1.lut = Some(t);
    assert_ne!(x.lut_sha256(), y.lut_sha256());
}

fn model_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lenet5-mnist")
}

#[test]
fn cli_infer_study_and_per_layer_search() {
    let (Some(data), Some(evo)) = (common::data(), common::evoapprox()) else { return };
    let bin = env!("CARGO_BIN_EXE_axdnn");
    let run = |args: &[&str]| {
        let o = Command::new(bin).args(args).arg("--data").arg(&data).arg("--evoapprox").arg(&evo).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let m = model_dir();
    let m = m.to_str().unwrap();
    let json = |spec: &str| -> serde_json::Value {
        serde_json::from_str(&run(&[
            "infer",
            "--model",
            m,
            "--scheme",
            "sign-magnitude",
            "--n",
            "300",
            "--json",
            "--multiplier",
            spec,
        ]))
        .unwrap()
    };
    let single = json("mul8u_L40");
    let same = json("conv1=mul8u_L40,conv2=mul8u_L40,conv3=mul8u_L40");
    assert_eq!(single["logits_sha256"], same["logits_sha256"]);
    assert_eq!(single["energy_per_image_pj"], same["energy_per_image_pj"]);
    let mixed = json("conv1=mul8u_L40,conv2=mul8u_JQQ");
    let layers = mixed["layers"].as_array().unwrap();
    let names: Vec<&str> = layers.iter().map(|l| l["multiplier"].as_str().unwrap()).collect();
    assert_eq!(names[..2], ["mul8u_L40", "mul8u_JQQ"]);
    // Per-layer energy: MACs × that layer's published power (read back from the
    // single-multiplier runs rather than restating the library's figures).
    let l40_per_mac =
        single["layers"][0]["energy_pj"].as_f64().unwrap() / single["layers"][0]["macs"].as_f64().unwrap();
    assert!(
        (layers[0]["energy_pj"].as_f64().unwrap() - l40_per_mac * layers[0]["macs"].as_f64().unwrap()).abs() < 1e-6
    );
    let jqq = json("mul8u_JQQ");
    assert!((layers[1]["energy_pj"].as_f64().unwrap() - jqq["layers"][1]["energy_pj"].as_f64().unwrap()).abs() < 1e-6);

    // A study plan takes assignments; the row key records the spec and a combined table digest.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("study");
    let plan = tmp.path().join("plan.toml");
    std::fs::write(
        &plan,
        format!("models = [\"{m}\"]\nschemes = [\"sign-magnitude\"]\nmultipliers = [\"mul8u_L40\", \"conv1=mul8u_L40,conv2=mul8u_JQQ\"]\nattacks = [\"clean\"]\nimages = 200\nchunk = 200\nrecover = [\"none\", \"tune\"]\n"),
    )
    .unwrap();
    run(&["study", "run", plan.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let rows = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let mut rd = csv::Reader::from_reader(rows.as_bytes());
    let h = rd.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let recs: Vec<csv::StringRecord> =
        rd.records().map(|r| r.unwrap()).filter(|r| &r[col("target")] == "accel").collect();
    assert_eq!(recs.len(), 4, "2 multipliers × 2 recovery methods");
    let mixed_rows: Vec<_> =
        recs.iter().filter(|r| &r[col("multiplier")] == "conv1=mul8u_L40,conv2=mul8u_JQQ").collect();
    assert_eq!(mixed_rows.len(), 2);
    let single_rows: Vec<_> = recs.iter().filter(|r| &r[col("multiplier")] == "mul8u_L40").collect();
    assert_ne!(mixed_rows[0][col("lut_sha256")], single_rows[0][col("lut_sha256")]);
    assert_eq!(mixed_rows[0][col("lut_sha256")].len(), 64);

    // The search: a small NSGA-II over the EvoApprox 8×8 unsigned multipliers of one folder.
    let lib = evo.join("evoapproxlib");
    let sel = tmp.path().join("sel");
    let text = run(&[
        "select",
        "--per-layer",
        "--model",
        m,
        "--scheme",
        "sign-magnitude",
        "--library",
        lib.to_str().unwrap(),
        "--n",
        "200",
        "--val",
        "200",
        "--population",
        "8",
        "--generations",
        "2",
        "--seed",
        "3",
        "--out",
        sel.to_str().unwrap(),
    ]);
    assert!(text.contains("Pareto front of"), "{text}");
    let front = std::fs::read_to_string(sel.join("front.csv")).unwrap();
    let pts = std::fs::read_to_string(sel.join("points.csv")).unwrap();
    let parse = |s: &str| -> Vec<(String, f64, usize, Option<usize>)> {
        csv::Reader::from_reader(s.as_bytes())
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[0].to_string(), r[1].parse().unwrap(), r[3].parse().unwrap(), r[6].parse().ok())
            })
            .collect()
    };
    let (front, pts) = (parse(&front), parse(&pts));
    assert!(!front.is_empty());
    // The front is exactly the non-dominated evaluated points, each measured on the test images.
    for p in &pts {
        let dominated = pts.iter().any(|q| q.1 <= p.1 && q.2 >= p.2 && (q.1 < p.1 || q.2 > p.2));
        assert_eq!(front.iter().any(|f| f.0 == p.0), !dominated, "{p:?}");
    }
    assert!(front.iter().all(|f| f.3.is_some()), "front points have test accuracy");
    assert!(
        front.windows(2).all(|w| w[0].1 <= w[1].1 && w[0].2 < w[1].2),
        "sorted by energy, accuracy rising: {front:?}"
    );
    for f in ["report.md", "pareto.svg", "pareto.png", "uniform.csv"] {
        assert!(sel.join(f).is_file(), "{f}");
    }
    // Same seed → same search (determinism); the front's best point runs as an assignment.
    let again = tmp.path().join("sel2");
    run(&[
        "select",
        "--per-layer",
        "--model",
        m,
        "--scheme",
        "sign-magnitude",
        "--library",
        lib.to_str().unwrap(),
        "--n",
        "200",
        "--val",
        "200",
        "--population",
        "8",
        "--generations",
        "2",
        "--seed",
        "3",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(sel.join("points.csv")).unwrap(), std::fs::read(again.join("points.csv")).unwrap());
    // Robust accuracy as a third objective: the front is non-dominated in all three.
    let rob = tmp.path().join("sel3");
    run(&[
        "select",
        "--per-layer",
        "--model",
        m,
        "--scheme",
        "sign-magnitude",
        "--library",
        lib.to_str().unwrap(),
        "--n",
        "100",
        "--val",
        "100",
        "--population",
        "8",
        "--generations",
        "1",
        "--robust-attack",
        "fgsm",
        "--robust-eps",
        "0.1",
        "--out",
        rob.to_str().unwrap(),
    ]);
    let three = |f: &str| -> Vec<(String, f64, usize, usize)> {
        csv::Reader::from_reader(std::fs::read_to_string(rob.join(f)).unwrap().as_bytes())
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[0].to_string(), r[1].parse().unwrap(), r[3].parse().unwrap(), r[4].parse().expect("robust count"))
            })
            .collect()
    };
    let (rf, rp) = (three("front.csv"), three("points.csv"));
    for p in &rp {
        let dominated =
            rp.iter().any(|q| q.1 <= p.1 && q.2 >= p.2 && q.3 >= p.3 && (q.1 < p.1 || q.2 > p.2 || q.3 > p.3));
        assert_eq!(rf.iter().any(|f| f.0 == p.0), !dominated, "{p:?}");
    }
    assert!(rp.iter().any(|p| p.3 < p.2), "FGSM at 0.1 costs some assignment accuracy");
    assert!(std::fs::read_to_string(rob.join("report.md")).unwrap().contains("robust"));

    // Its names are file stems, resolved from the library like any --multiplier.
    let best = &front.last().unwrap().0;
    let v: serde_json::Value = serde_json::from_str(&run(&[
        "infer",
        "--model",
        m,
        "--scheme",
        "sign-magnitude",
        "--n",
        "200",
        "--json",
        "--multiplier",
        best,
    ]))
    .unwrap();
    let test_correct = front.last().unwrap().3.unwrap();
    assert_eq!(
        (v["accuracy"].as_f64().unwrap() * 200.0).round() as usize,
        test_correct,
        "front's test accuracy = infer's"
    );
}
