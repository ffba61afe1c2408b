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
    let e = axdnn().args(["onnx", "import", "--onnx", f, "--dataset", "cifar10", "--out", o]).output().unwrap();
    let err = String::from_utf8_lossy(&e.stderr);
    assert!(
        !e.status.success() && err.contains("lenet.onnx: the network takes 1x28x28 inputs, cifar10 images are 3x32x32"),
        "{err}"
    );
}
