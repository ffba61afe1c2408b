//! `axdnn train` and `axdnn eval` end to end on a tiny MNIST-format folder.

use std::io::Write;
use std::process::Command;

fn idx(path: &std::path::Path, magic: u32, dims: &[u32], body: &[u8]) {
    let mut v = Vec::new();
    v.extend(magic.to_be_bytes());
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend(body);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&v).unwrap();
    std::fs::write(path, e.finish().unwrap()).unwrap();
}

fn split(dir: &std::path::Path, prefix: &str, n: usize) {
    let labels: Vec<u8> = (0..n).map(|i| (i % 2) as u8).collect();
    // Class 0: dark image; class 1: bright left half.
    let px: Vec<u8> =
        (0..n).flat_map(|i| (0..784).map(move |p| if i % 2 == 1 && p % 28 < 14 { 200 } else { 0 })).collect();
    idx(&dir.join(format!("{prefix}-images-idx3-ubyte.gz")), 0x803, &[n as u32, 28, 28], &px);
    idx(&dir.join(format!("{prefix}-labels-idx1-ubyte.gz")), 0x801, &[n as u32], &labels);
}

#[test]
fn train_then_eval_json() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir_all(data.join("mnist")).unwrap();
    split(&data.join("mnist"), "train", 48);
    split(&data.join("mnist"), "t10k", 20);
    let out = d.path().join("m");
    let exe = env!("CARGO_BIN_EXE_axdnn");
    let st = Command::new(exe)
        .args(["train", "--model", "lenet5", "--dataset", "mnist", "--epochs", "2", "--batch", "8", "--lr", "0.05"])
        .arg("--out")
        .arg(&out)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("model.json")).unwrap()).unwrap();
    assert_eq!(meta["dataset"], "mnist");
    assert_eq!(meta["dataset_files"].as_array().unwrap().len(), 4);
    let ev =
        Command::new(exe).args(["eval", "--json"]).arg("--model").arg(&out).arg("--data").arg(&data).output().unwrap();
    assert!(ev.status.success(), "{}", String::from_utf8_lossy(&ev.stderr));
    let v: serde_json::Value = serde_json::from_slice(&ev.stdout).unwrap();
    assert_eq!(v["n"], 20);
    assert_eq!(v["dataset"], "mnist");
    assert_eq!(v["accuracy"], meta["test_accuracy"]);
    // Damaged weights: one clear error, non-zero exit, no panic.
    let w = out.join("model.safetensors");
    let b = std::fs::read(&w).unwrap();
    std::fs::write(&w, &b[..b.len() / 2]).unwrap();
    let ev = Command::new(exe).args(["eval"]).arg("--model").arg(&out).arg("--data").arg(&data).output().unwrap();
    assert!(!ev.status.success());
    let err = String::from_utf8_lossy(&ev.stderr);
    assert!(err.contains("sha256") && !err.contains("panicked"), "{err}");
}
