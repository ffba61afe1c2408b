//! A graph model folder (batch norm, depthwise convolution, residual add, max pool, global
//! average pool) through the commands a user runs: `eval`, `infer` (fast = cycle-stepped,
//! recovery), `attack` (transferred and BPDA) and `rtl cosim` of its depthwise layer.

use crate::common;
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
fn a_graph_model_runs_through_the_commands() {
    let (Some(data), Some(ev)) = (common::data(), common::evoapprox()) else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("graph-mnist");
    let arch = common::mnist_graph();
    arch.validate().unwrap();
    let params = common::graph_params(&arch, 3);
    let meta = crate::common::fixture_meta(axdnn::data::DatasetName::Mnist);
    axdnn::model::io::save(&model, &arch, &params, &meta).unwrap();
    let (m, data, ev) = (model.to_str().unwrap(), data.to_str().unwrap(), ev.to_str().unwrap());
    let line = ok(&["eval", "--model", m, "--n", "50", "--data", data]);
    assert!(line.contains("on 50 mnist test images"), "{line}");
    let infer = |extra: &[&str]| -> serde_json::Value {
        let mut a = vec!["infer", "--model", m, "--n", "12", "--data", data, "--evoapprox", ev, "--json"];
        a.extend_from_slice(extra);
        serde_json::from_str(&ok(&a)).unwrap()
    };
    let fast = infer(&["--multiplier", "mul8u_L40", "--scheme", "sign-magnitude", "--per-channel"]);
    let cycle =
        infer(&["--multiplier", "mul8u_L40", "--scheme", "sign-magnitude", "--per-channel", "--engine", "cycle"]);
    assert_eq!(fast["logits_sha256"], cycle["logits_sha256"]);
    assert_eq!(fast["layers"], cycle["layers"], "closed-form statistics = the stepped array's");
    let exact = infer(&["--scheme", "sign-magnitude", "--per-channel"]);
    assert_ne!(exact["logits_sha256"], fast["logits_sha256"]);
    // The depthwise layer: 8 groups of 784 × 9 × 1; the post-processing unit's nodes stated.
    let dw = fast["layers"].as_array().unwrap().iter().find(|l| l["name"] == "dw").unwrap();
    assert_eq!(dw["groups"], 8);
    assert_eq!(dw["group_gemm"], serde_json::json!({"npix": 784, "k": 9, "nf": 1}));
    let post: Vec<&str> =
        fast["post_processing"].as_array().unwrap().iter().map(|p| p["op"].as_str().unwrap()).collect();
    assert_eq!(post, ["relu", "add", "relu", "max_pool", "relu", "global_avg_pool", "flatten"]);
    assert!(fast["post_cycles_per_image"].as_u64().unwrap() > 0);
    let tuned =
        infer(&["--multiplier", "mul8u_L40", "--scheme", "sign-magnitude", "--per-channel", "--recover", "tune"]);
    assert_ne!(tuned["logits_sha256"], fast["logits_sha256"]);
    assert_eq!(tuned["recovery"]["layers"].as_array().unwrap().len(), 4, "the four convolutions");
    // Attacks, transferred and through the accelerator (BPDA).
    let out = dir.path().join("attack");
    let rows = ok(&[
        "attack",
        "--model",
        m,
        "--n",
        "10",
        "--data",
        data,
        "--evoapprox",
        ev,
        "--attack",
        "fgsm",
        "--eps",
        "0,0.1",
        "--multipliers",
        "exact,mul8u_L40",
        "--threats",
        "transfer,bpda",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    let rows: serde_json::Value = serde_json::from_str(&rows).unwrap();
    let rows = rows.as_array().unwrap();
    // Transferred: float, exact, mul8u_L40 at two budgets; BPDA: the two accelerators at two.
    assert_eq!(rows.len(), 3 * 2 + 2 * 2, "{rows:?}");
    assert_eq!(rows.iter().filter(|r| r["threat"] == "bpda").count(), 4);
    // The depthwise layer's groups through the emitted RTL, the rest in Rust; logits compared.
    if common::require_tool("iverilog") {
        let line = ok(&[
            "rtl",
            "cosim",
            "--model",
            m,
            "--multiplier",
            "mul8u_L40",
            "--array",
            "4x4",
            "--layers",
            "dw,fc",
            "--data",
            data,
            "--evoapprox",
            ev,
            "--approx-layers",
            "all",
        ]);
        assert!(line.matches("image 0 dw ").count() == 8 && line.contains("logits of every image equal"), "{line}");
    }
}
