//! `axdnn attack` end to end on the committed LeNet-5/MNIST model (Algorithm 1 for one attack):
//! rows per epsilon and model, eps 0 reproduces clean accuracy, FGSM hurts the float model,
//! the CSV equals the JSON, a fixed seed reproduces PGD, and bad arguments fail clearly.

use std::process::Command;

fn axdnn(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_axdnn")).args(args).output().unwrap()
}

#[test]
fn attack_on_float_and_accelerator() {
    let Some(_) = std::env::var_os("AXDNN_DATA") else {
        eprintln!("skipped: AXDNN_DATA not set");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/lenet5-mnist");
    let o = axdnn(&["attack", "--model", model, "--attack", "fgsm", "--eps", "0,0.15", "--n", "60", "--batch", "25", "--json", "--out", out]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 4, "2 eps × (float, exact)");
    let get = |m: &str, e: f64| rows.iter().find(|r| r["model"].as_str().unwrap().starts_with(m) && r["epsilon"].as_f64().unwrap() == e).unwrap()["robust_accuracy"].as_f64().unwrap();
    // eps 0: clean accuracy of a 99.45 % model on 60 digits; the quantized exact model agrees.
    assert!(get("float", 0.0) >= 0.95, "{rows:?}");
    assert!((get("exact", 0.0) - get("float", 0.0)).abs() <= 0.02, "{rows:?}");
    // FGSM at 0.15 fools a large share of the undefended model.
    assert!(get("float", 0.15) < get("float", 0.0) - 0.2, "{rows:?}");
    let csv = std::fs::read_to_string(tmp.path().join("attack.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(csv.lines().nth(1).unwrap().starts_with("fgsm,asym-u8,0.0,float,"), "{csv}");

    // PGD draws its random start from the seed: same seed, same numbers.
    let pgd = |seed: &str| {
        let o = axdnn(&["attack", "--model", model, "--attack", "linf-pgd", "--eps", "0.1", "--n", "20", "--seed", seed, "--json", "--out", out]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    assert_eq!(pgd("3"), pgd("3"));
}

/// Contrast reduction does not look at the model, so running it against the accelerator itself
/// (`--on-hardware`) must give exactly the transferred numbers; gradient attacks are refused there.
#[test]
fn hardware_in_the_loop() {
    let Some(_) = std::env::var_os("AXDNN_DATA") else {
        eprintln!("skipped: AXDNN_DATA not set");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/lenet5-mnist");
    let trunc = concat!(env!("CARGO_MANIFEST_DIR"), "/netlists/gen/mul8u_gen_trunc8.v");
    let mults = format!("exact,{trunc}");
    let o = axdnn(&["attack", "--model", model, "--attack", "l2-contrast", "--eps", "0,1,2", "--n", "40", "--multipliers", &mults, "--on-hardware", "--json", "--out", out]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 3 * 3 + 3 * 2, "float + 2 transferred + 2 on hardware, 3 eps");
    for r in rows.iter().filter(|r| r["attack"] == "l2-contrast@hw") {
        let twin = rows.iter().find(|t| t["attack"] == "l2-contrast" && t["model"] == r["model"] && t["epsilon"] == r["epsilon"]).unwrap();
        assert_eq!(r["robust_accuracy"], twin["robust_accuracy"], "{r} vs {twin}");
    }
    let o = axdnn(&["attack", "--model", model, "--attack", "fgsm", "--eps", "0.1", "--n", "5", "--on-hardware", "--out", out]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("needs gradients the accelerator does not have"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn bad_arguments_fail_clearly() {
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/lenet5-mnist");
    let o = axdnn(&["attack", "--model", model, "--attack", "deepfool"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown attack 'deepfool'"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = axdnn(&["attack", "--model", model, "--eps", "0.1,-2", "--data", "/nonexistent"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("epsilon -2"), "{}", String::from_utf8_lossy(&o.stderr));
}
