//! `axdnn study` end to end: rows for every attack × epsilon × model, plots and report written,
//! a second run skips finished attacks, and an attack removed from the CSV (as after a kill) is
//! recomputed to the same numbers (seeded, deterministic).

use std::process::Command;

#[test]
fn study_runs_resumes_and_recomputes_identically() {
    let Some(_) = std::env::var_os("AXDNN_DATA") else {
        eprintln!("skipped: AXDNN_DATA not set");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let model = format!("{root}/models/lenet5-mnist");
    let mults = format!("exact,{root}/netlists/gen/mul8u_gen_trunc6.v");
    let run = || {
        let o = Command::new(env!("CARGO_BIN_EXE_axdnn"))
            .args(["study", "--model", &model, "--n", "30", "--scheme", "sign-magnitude", "--attacks", "fgsm,l2-uniform", "--multipliers", &mults, "--out", out])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    run();
    let csv_path = tmp.path().join("results.csv");
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    // 2 attacks × 6 epsilons × (float, exact, trunc6) + header.
    assert_eq!(csv.lines().count(), 1 + 2 * 6 * 3, "{csv}");
    assert!(csv.contains("l2-uniform,sign-magnitude,0.0,mul8u_gen_trunc6,"), "{csv}");
    let report = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    assert!(report.contains("## fgsm") && report.contains("## l2-uniform") && report.contains("Is approximation universally defensive?"));
    for p in ["fgsm", "l2-uniform"] {
        let svg = std::fs::read_to_string(tmp.path().join(format!("plots/{p}.svg"))).unwrap();
        assert_eq!(svg.matches("<polyline").count(), 3, "{p}: one line per model");
    }
    // Second run: nothing recomputed.
    let err = run();
    assert!(err.contains("fgsm: already in") && err.contains("l2-uniform: already in"), "{err}");
    assert_eq!(std::fs::read_to_string(&csv_path).unwrap(), csv);
    // Drop one attack's rows (a kill before it was written): only it reruns, to the same numbers.
    let kept: String = csv.lines().filter(|l| !l.starts_with("l2-uniform,")).map(|l| format!("{l}\n")).collect();
    std::fs::write(&csv_path, kept).unwrap();
    let err = run();
    assert!(err.contains("fgsm: already in") && !err.contains("l2-uniform: already in"), "{err}");
    assert_eq!(std::fs::read_to_string(&csv_path).unwrap(), csv, "recomputed rows must equal the first run's");
}
