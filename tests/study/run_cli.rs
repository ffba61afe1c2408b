//! `axdnn run`, the main job, end to end on the committed LeNet-5/MNIST model: every built-in
//! multiplier is checked against arithmetic, the paper's multipliers against their published
//! figures, clean accuracy lands in the accuracy/ store, PGD robustness in robustness/, and a
//! second run resumes instead of recomputing.

use crate::common;

use std::process::Command;

#[test]
fn main_job_runs_and_resumes() {
    let (Some(_), Some(_)) = (common::data(), common::evoapprox()) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("main");
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/lenet5-mnist");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_axdnn"))
            .args(["run", "--model", model, "--n", "100", "--no-c", "--out", out.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let o = run();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(out.join("accuracy/results.csv")).unwrap();
    // float + (exact + 8 built-in 8×8 unsigned + 8 paper multipliers) × two schemes, plus the header.
    assert_eq!(csv.lines().count(), 1 + 1 + 2 * 17, "{csv}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let exact = report.lines().find(|l| l.starts_with("| exact |")).expect("exact row");
    let acc: Vec<f64> = exact.split('|').filter_map(|c| c.trim().parse().ok()).collect();
    // MAE 0, power, asym-u8 and sign-magnitude accuracy: a trained LeNet-5 on 100 MNIST digits.
    assert!(acc[2] >= 95.0 && acc[3] >= 95.0, "{exact}");
    // Step 4: PGD robustness, 4 epsilons × (float + the 17 multipliers), one chunk of 100.
    let rob = std::fs::read_to_string(out.join("robustness/results.csv")).unwrap();
    assert_eq!(rob.lines().count(), 1 + 4 * 18, "{rob}");
    assert!(report.contains("## Robustness on the accelerator"), "{report}");
    let o2 = run();
    assert!(o2.status.success());
    assert_eq!(
        std::fs::read_to_string(out.join("accuracy/results.csv")).unwrap(),
        csv,
        "resume must not recompute rows"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("robustness/results.csv")).unwrap(),
        rob,
        "resume must not recompute robustness"
    );
    assert!(String::from_utf8_lossy(&o2.stderr).is_empty() || !String::from_utf8_lossy(&o2.stderr).contains("error"));
}
