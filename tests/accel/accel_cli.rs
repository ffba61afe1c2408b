//! `axdnn infer` / `axdnn select` end to end on a saved (random-parameter) LeNet-5 and MNIST.

use crate::common;

use axdnn::model::io;
use axdnn::model::{Arch, Shape};
use std::process::Command;

fn saved_lenet(dir: &std::path::Path) {
    let arch = Arch::lenet5(Shape::new(1, 28, 28), 10);
    let params = common::random_params(&arch, 9);
    let meta = crate::common::fixture_meta(axdnn::data::DatasetName::Mnist);
    io::save(dir, &arch, &params, &meta).unwrap();
}

#[test]
fn infer_json_and_select() {
    let Some(data) = common::data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("lenet");
    saved_lenet(&model);
    let bin = env!("CARGO_BIN_EXE_axdnn");
    let out = Command::new(bin)
        .args(["infer", "--model", model.to_str().unwrap(), "--n", "40", "--calib", "16", "--json"])
        .arg("--data")
        .arg(&data)
        .args(["--array", "16x16", "--dataflow", "ws"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["n"], 40);
    let acc = v["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    // Sum of the SCALE-Sim LeNet-5 row for 16×16 WS (peers.md §5.1).
    assert_eq!(v["cycles_per_image"], 1659 + 1459 + 9399 + 2255 + 281);
    let layers = v["layers"].as_array().unwrap();
    let names: Vec<_> = layers.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["conv1", "conv2", "conv3", "fc1", "fc2"]);
    assert_eq!(layers[0]["folds"], 2);
    assert_eq!(layers[0]["macs"], 117_600);
    assert!(layers.iter().all(|l| l["utilization"].as_f64().unwrap() > 0.0));

    // --dataflow is: SCALE-Sim's 8×8 IS row (peers.md §5.1), the same predictions as WS.
    let is = Command::new(bin)
        .args(["infer", "--model", model.to_str().unwrap(), "--n", "40", "--calib", "16", "--json"])
        .arg("--data")
        .arg(&data)
        .args(["--array", "8x8", "--dataflow", "is"])
        .output()
        .unwrap();
    assert!(is.status.success(), "{}", String::from_utf8_lossy(&is.stderr));
    let w: serde_json::Value = serde_json::from_slice(&is.stdout).unwrap();
    assert_eq!(w["cycles_per_image"], 10975 + 9385 + 7099 + 1589 + 351);
    assert_eq!(w["dataflow"], "is");
    assert_eq!(w["accuracy"], v["accuracy"]);

    // Errors are typed messages, not panics.
    let bad = Command::new(bin).args(["infer", "--model", model.to_str().unwrap(), "--array", "0x4"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("array"));

    // select over a folder holding one generated multiplier, resumable.
    let lib = tmp.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    let spec = axdnn::gen::parse_spec("trunc:8x8:4").unwrap();
    let text = axdnn::gen::to_verilog(&spec.netlist(), &axdnn::gen::header(&spec));
    std::fs::write(lib.join(format!("{}.v", spec.name())), text).unwrap();
    let sel = tmp.path().join("sel");
    for _ in 0..2 {
        let out = Command::new(bin)
            .args(["select", "--model", model.to_str().unwrap(), "--n", "20", "--calib", "16"])
            .arg("--data")
            .arg(&data)
            .args(["--library", lib.to_str().unwrap(), "--out", sel.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // float + the one multiplier, one chunk.
    let csv = std::fs::read_to_string(sel.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.lines().nth(2).unwrap().contains("mul8u_gen_trunc4.v"), "{csv}");
    let report = std::fs::read_to_string(sel.join("report.md")).unwrap();
    assert!(report.contains("## Clean accuracy") && report.contains("mul8u_gen_trunc4"), "{report}");
}
