//! `axdnn netlist stats` and `axdnn netlist check` as a user runs them.

use std::path::Path;
use std::process::Command;

fn axdnn(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_axdnn"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run axdnn");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn stats_prints_cells_depth_and_ports() {
    let (ok, out, err) = axdnn(&["netlist", "stats", "--opt", "netlists/mul2x2_pdk45.v"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert!(lines.contains(&"AND2X1           4       4"), "{out}");
    assert!(lines.contains(&"HAX1             4       2"), "{out}");
    assert!(lines.contains(&"assign          12       -"), "{out}");
    assert!(lines.contains(&"depth    5"), "{out}");
    assert!(lines.contains(&"inputs   4 bits: A[2] B[2]"), "{out}");
    assert!(lines.contains(&"outputs  4 bits: O[4]"), "{out}");
    // After optimisation the 12 buffers are gone.
    let after = out.split("after optimisation:").nth(1).expect("--opt section");
    assert!(!after.contains("assign"), "{out}");
    assert!(after.contains("depth    3"), "{out}");
}

#[test]
fn check_reports_errors_with_positions_and_fails() {
    let (ok, out, _) = axdnn(&["netlist", "check", "netlists/err_loop.v"]);
    assert!(!ok);
    assert!(out.starts_with("netlists/err_loop.v:9:10: combinational loop through"), "{out}");
    let (ok, out, _) = axdnn(&["netlist", "check", "netlists/cells_all.v"]);
    assert!(ok);
    assert!(out.contains("cells_all.v:6:15: warning: input 'B' is never used"), "{out}");
    assert!(Path::new(env!("CARGO_MANIFEST_DIR")).join("netlists/err_loop.v").exists());
}
