//! `axdnn attack` end to end on the committed LeNet-5/MNIST model (Algorithm 1 for one attack):
//! rows per epsilon and model, eps 0 reproduces clean accuracy, FGSM hurts the float model,
//! rows carry n and a 95 % interval, a fixed seed reproduces PGD, and bad arguments fail clearly.

use crate::common;

use std::process::Command;

fn axdnn(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_axdnn")).args(args).output().unwrap()
}

#[test]
fn attack_on_float_and_accelerator() {
    let Some(_) = common::data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/lenet5-mnist");
    let o = axdnn(&[
        "attack", "--model", model, "--attack", "fgsm", "--eps", "0,0.15", "--n", "60", "--batch", "25", "--json",
        "--out", out,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 4, "2 eps × (float, exact)");
    let get = |m: &str, e: f64| {
        rows.iter()
            .find(|r| r["model"].as_str().unwrap().starts_with(m) && r["epsilon"].as_f64().unwrap() == e)
            .unwrap()["robust_accuracy"]
            .as_f64()
            .unwrap()
    };
    // eps 0: clean accuracy of a 99.45 % model on 60 digits; the quantized exact model agrees.
    assert!(get("float", 0.0) >= 0.95, "{rows:?}");
    assert!((get("exact", 0.0) - get("float", 0.0)).abs() <= 0.02, "{rows:?}");
    // FGSM at 0.15 fools a large share of the undefended model.
    assert!(get("float", 0.15) < get("float", 0.0) - 0.2, "{rows:?}");
    for r in &rows {
        assert_eq!(r["n"], 60);
        let (l, a, h) =
            (r["ci_low"].as_f64().unwrap(), r["robust_accuracy"].as_f64().unwrap(), r["ci_high"].as_f64().unwrap());
        assert!(l <= a && a <= h && h - l > 0.0, "{r}");
    }
    // The results store: (float, exact) × 2 eps × 3 chunks of 25, 25, 10 images.
    let csv = std::fs::read_to_string(tmp.path().join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 2 * 3, "{csv}");
    assert!(std::fs::read_to_string(tmp.path().join("report.md")).unwrap().contains("### "));

    // PGD draws its random start from the seed: same seed, same numbers.
    let pgd = |seed: &str| {
        let o = axdnn(&[
            "attack",
            "--model",
            model,
            "--attack",
            "linf-pgd",
            "--eps",
            "0.1",
            "--n",
            "20",
            "--attack-seed",
            seed,
            "--json",
            "--out",
            out,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    assert_eq!(pgd("3"), pgd("3"));
}

/// `--on-hardware` adds the hardware threat model (the library test
/// `hardware_contrast_equals_transfer_image_by_image` checks its numbers); gradient attacks are refused there.
#[test]
fn hardware_threat_flags() {
    let Some(_) = common::data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/lenet5-mnist");
    let o = axdnn(&[
        "attack",
        "--model",
        model,
        "--attack",
        "l2-contrast",
        "--eps",
        "0,1",
        "--n",
        "20",
        "--on-hardware",
        "--json",
        "--out",
        out,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.iter().filter(|r| r["threat"] == "hardware").count(), 2, "{rows:?}");
    let o = axdnn(&[
        "attack",
        "--model",
        model,
        "--attack",
        "fgsm",
        "--eps",
        "0.1",
        "--n",
        "5",
        "--on-hardware",
        "--out",
        out,
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("needs gradients the accelerator does not have"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `--save` writes the clipped adversarial examples as float32 .npy (N×C×H×W, test-set order):
/// eps 0 gives the clean images back, FGSM stays inside its ball; `eval --logits` writes the
/// float logits whose argmax gives the reported accuracy.
#[test]
fn saved_examples_and_logits() {
    let Some(data) = common::data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/lenet5-mnist");
    let base = tmp.path().join("adv.npy");
    let o = axdnn(&[
        "attack",
        "--model",
        model,
        "--attack",
        "fgsm",
        "--eps",
        "0,0.1",
        "--n",
        "30",
        "--batch",
        "20",
        "--save",
        base.to_str().unwrap(),
        "--out",
        tmp.path().join("s").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let test = axdnn::data::load(axdnn::data::DatasetName::Mnist, axdnn::data::Split::Test, &data).unwrap();
    let clean = &test.images[..30 * 784];
    let read = |p: &std::path::Path| -> Vec<f32> {
        let b = std::fs::read(p).unwrap();
        assert_eq!(&b[..6], b"\x93NUMPY");
        let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
        let header = std::str::from_utf8(&b[10..10 + hl]).unwrap();
        assert!(header.contains("'descr': '<f4'") && header.contains("'shape': (30, 1, 28, 28)"), "{header}");
        b[10 + hl..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    };
    assert_eq!(read(&tmp.path().join("adv-eps0.npy")), clean, "eps 0: the clean images");
    let adv = read(&tmp.path().join("adv-eps0.1.npy"));
    let dmax = adv.iter().zip(clean).map(|(a, x)| (a - x).abs()).fold(0.0f32, f32::max);
    assert!(dmax <= 0.1 + 1e-6 && dmax > 0.05, "Linf distance {dmax}");
    // Rerun: rows reused, the examples regenerated identically.
    std::fs::remove_file(tmp.path().join("adv-eps0.1.npy")).unwrap();
    let o = axdnn(&[
        "attack",
        "--model",
        model,
        "--attack",
        "fgsm",
        "--eps",
        "0,0.1",
        "--n",
        "30",
        "--batch",
        "20",
        "--save",
        base.to_str().unwrap(),
        "--out",
        tmp.path().join("s").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(read(&tmp.path().join("adv-eps0.1.npy")), adv);

    let logits = tmp.path().join("logits.npy");
    let o = axdnn(&["eval", "--model", model, "--n", "200", "--json", "--logits", logits.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let b = std::fs::read(&logits).unwrap();
    let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
    assert!(std::str::from_utf8(&b[10..10 + hl]).unwrap().contains("'shape': (200, 10)"));
    let z: Vec<f32> = b[10 + hl..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let ok =
        z.chunks_exact(10).zip(&test.labels).filter(|(l, &y)| axdnn::accel::infer::argmax(l) == y as usize).count();
    assert_eq!(ok as f64 / 200.0, v["accuracy"].as_f64().unwrap());
}

#[test]
fn bad_arguments_fail_clearly() {
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/lenet5-mnist");
    let o = axdnn(&["attack", "--model", model, "--attack", "deepfool"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown attack 'deepfool'"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = axdnn(&["attack", "--model", model, "--eps", "0.1,-2", "--data", "/nonexistent"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("epsilon -2"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = axdnn(&[
        "attack",
        "--model",
        model,
        "--multipliers",
        "exact,no_such_mult",
        "--data",
        "/nonexistent",
        "--evoapprox",
        "/nonexistent",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no_such_mult"), "{}", String::from_utf8_lossy(&o.stderr));
}
