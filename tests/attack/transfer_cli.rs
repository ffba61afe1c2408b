//! `axdnn transfer` (Table II): a source × target matrix of before/after accuracies; the white-box
//! diagonal is hurt at least as much as clean accuracy allows, and models of different datasets
//! are refused.

use crate::common;

use std::process::Command;

#[test]
fn transfer_matrix_and_dataset_check() {
    let Some(_) = common::data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let (l5, alx, l5c) = (
        format!("{root}/models/lenet5-mnist"),
        format!("{root}/models/alexnet-mnist"),
        format!("{root}/models/lenet5-cifar10"),
    );
    let o = Command::new(env!("CARGO_BIN_EXE_axdnn"))
        .args([
            "transfer",
            "--model",
            &l5,
            "--with",
            &alx,
            "--n",
            "40",
            "--eps",
            "0.1",
            "--calib",
            "32",
            "--json",
            "--out",
            tmp.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    for r in &rows {
        let (before, after) = (r["accuracy_before"].as_f64().unwrap(), r["accuracy_after"].as_f64().unwrap());
        assert!((0.0..=1.0).contains(&before) && (0.0..=1.0).contains(&after), "{r}");
        assert_eq!(r["n"], 40);
    }
    // LeNet-5 attacked white-box at eps 0.1 (BIM) loses much of its accuracy.
    let d = rows.iter().find(|r| r["source"] == l5 && r["target"] == l5).unwrap();
    assert!(d["accuracy_after"].as_f64().unwrap() < d["accuracy_before"].as_f64().unwrap() - 0.3, "{d}");
    let report = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    assert!(report.contains("## Transferability (Table II)"), "{report}");
    let o = Command::new(env!("CARGO_BIN_EXE_axdnn"))
        .args([
            "transfer",
            "--model",
            &l5,
            "--with",
            &l5c,
            "--n",
            "10",
            "--calib",
            "8",
            "--out",
            tmp.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("transfer needs one test set"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
