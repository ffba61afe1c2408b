//! `axdnn export` then `axdnn import`: the shipped LeNet-5 comes back as a model folder
//! whose integer accelerator run (an approximate multiplier, sign-magnitude) has the very same
//! logits hash, accuracy and cycles as the original's; a network for another dataset's images is
//! refused naming the file.

use std::process::Command;

fn axdnn() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_axdnn"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn ok(args: &[&str]) -> String {
    let o = axdnn().args(args).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn onnx_round_trip_runs_on_the_accelerator_bit_for_bit() {
    let (Some(_), Some(ev)) = (crate::common::data(), crate::common::evoapprox()) else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lenet.onnx");
    let out = dir.path().join("lenet-imported");
    let (f, o) = (file.to_str().unwrap(), out.to_str().unwrap());
    ok(&["export", "--model", "models/lenet5-mnist", "--onnx", f]);
    // The dataset follows from the input shape (1×28×28: MNIST).
    let line = ok(&["import", f, "--out", o, "--n", "1000"]);
    assert!(line.contains("11 nodes (a chain)") && line.contains(", 1000 images)"), "{line}");
    assert!(out.join("model.onnx").is_file());
    let ev = ev.to_str().unwrap();
    let infer = |model: &str| {
        let j = ok(&[
            "infer",
            "--model",
            model,
            "--n",
            "200",
            "--multiplier",
            "mul8u_L40",
            "--scheme",
            "sign-magnitude",
            "--evoapprox",
            ev,
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        (v["logits_sha256"].clone(), v["accuracy"].clone(), v["cycles_per_image"].clone())
    };
    assert_eq!(infer(o), infer("models/lenet5-mnist"));
    let err = |args: &[&str]| {
        let e = axdnn().args(args).output().unwrap();
        assert!(!e.status.success());
        String::from_utf8_lossy(&e.stderr).into_owned()
    };
    let e = err(&["import", f, "--dataset", "cifar10", "--out", o]);
    assert!(e.contains("lenet.onnx: the network takes 1x28x28 inputs, cifar10 images are 3x32x32"), "{e}");
    // --mean/--std add a normalization the file lacks (the shipped LeNet-5 has none) …
    let normed = dir.path().join("normed");
    let n = normed.to_str().unwrap();
    ok(&["import", f, "--out", n, "--n", "100", "--mean", "0.5", "--std", "0.25"]);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(normed.join("model.json")).unwrap()).unwrap();
    assert_eq!(json["arch"]["normalize"], serde_json::json!({"mean": [0.5], "std": [0.25]}));
    // … and are refused for a file that normalizes its input itself.
    let f2 = dir.path().join("normed.onnx");
    ok(&["export", "--model", n, "--onnx", f2.to_str().unwrap()]);
    let e = err(&["import", f2.to_str().unwrap(), "--out", o, "--mean", "0.5", "--std", "0.25"]);
    assert!(e.contains("normed.onnx: --mean/--std given, but the file normalizes its input itself"), "{e}");
    // One value or one per channel (CIFAR-10: three).
    let g = dir.path().join("alexnet.onnx");
    ok(&["export", "--model", "models/alexnet-cifar10", "--onnx", g.to_str().unwrap()]);
    let e = err(&["import", g.to_str().unwrap(), "--out", o, "--mean", "0.5,0.5", "--std", "0.25"]);
    assert!(e.contains("normalize.mean has 2 entries, the input has 3 channels"), "{e}");
}

/// The shipped LeNet-5 exported, then saved by ONNX's own `save_model` with every tensor in one
/// external data file (`weights.bin`): `axdnn import` reads it with the same float logits as the
/// file with its weights inside, keeps the data file beside its copy, and names the data file and
/// the tensor when it is missing.
#[test]
fn onnx_external_data_imports_the_same_and_a_missing_file_is_named() {
    let Some(data) = crate::common::data() else { return };
    let Some(mut py) = crate::common::python_with(&["onnx"]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    std::fs::create_dir(dir.path().join("ext")).unwrap();
    ok(&["export", "--model", "models/lenet5-mnist", "--onnx", &p("lenet.onnx")]);
    let save = "import onnx, sys; m = onnx.load(sys.argv[1]); \
                onnx.save_model(m, sys.argv[2], save_as_external_data=True, all_tensors_to_one_file=True, \
                location='weights.bin', size_threshold=0)";
    let o = py.args(["-c", save, &p("lenet.onnx"), &p("ext/lenet.onnx")]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (inside, outside) =
        (std::fs::metadata(p("lenet.onnx")).unwrap(), std::fs::metadata(p("ext/lenet.onnx")).unwrap());
    assert!(
        outside.len() * 10 < inside.len(),
        "the weights left the file: {} vs {} bytes",
        outside.len(),
        inside.len()
    );
    let data = data.to_str().unwrap();
    ok(&["import", &p("lenet.onnx"), "--out", &p("a"), "--n", "100", "--data", data]);
    ok(&["import", &p("ext/lenet.onnx"), "--out", &p("b"), "--n", "100", "--data", data]);
    assert!(dir.path().join("b/weights.bin").is_file(), "the data file is kept beside the copy");
    for m in ["a", "b"] {
        ok(&["eval", "--model", &p(m), "--n", "100", "--data", data, "--logits", &p(&format!("{m}.npy"))]);
    }
    assert_eq!(std::fs::read(p("a.npy")).unwrap(), std::fs::read(p("b.npy")).unwrap(), "the same logits");
    std::fs::remove_file(p("ext/weights.bin")).unwrap();
    let e = axdnn().args(["import", &p("ext/lenet.onnx"), "--out", &p("c"), "--data", data]).output().unwrap();
    assert!(!e.status.success());
    let e = String::from_utf8_lossy(&e.stderr);
    assert!(e.contains("lenet.onnx: tensor 'conv1.weight': external data file ") && e.contains("weights.bin: "), "{e}");
    assert_eq!(e.matches("weights.bin").count(), 1, "one error: {e}");
}
