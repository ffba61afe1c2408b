//! `axdnn energy`: the JSON report's per-net toggles are the simulator's, its per-cell energies
//! add up to its totals, a hand-computed instance agrees; inputs it cannot use are one clear error.

use crate::common;

use std::path::Path;
use std::process::Command;

use axdnn::energy::Model;
use axdnn::netlist;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn npy_pairs(path: &Path, pairs: &[[i32; 2]]) {
    let mut bytes = axdnn::util::npy::header("<i4", &[pairs.len(), 2]);
    bytes.extend(pairs.iter().flatten().flat_map(|v| v.to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}

fn axdnn(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_axdnn")).args(args).output().unwrap()
}

#[test]
fn json_report_adds_up_and_matches_the_simulator() {
    let Some(root) = common::evoapprox() else { return };
    let Some(lib_path) = common::gscl45nm() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ops = dir.path().join("pairs.npy");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let pairs: Vec<[i32; 2]> = (0..3000).map(|_| [rng.gen_range(0..256), rng.gen_range(0..256)]).collect();
    npy_pairs(&ops, &pairs);
    let (evo, lib) = (root.to_str().unwrap(), lib_path.to_str().unwrap());
    let out = axdnn(&[
        "energy",
        "--multiplier",
        "mul8_280",
        "--operands",
        ops.to_str().unwrap(),
        "--liberty",
        lib,
        "--evoapprox",
        evo,
        "--json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["vectors"], 3000);
    assert_eq!(r["cycles"], 2999);

    // Per-net toggles are the simulator's.
    let net = netlist::parse_file(&root.join("evoapprox8b/source_v/mul8_280_pdk45.v")).unwrap().netlist;
    let a: Vec<u64> = pairs.iter().map(|p| p[0] as u64).collect();
    let b: Vec<u64> = pairs.iter().map(|p| p[1] as u64).collect();
    let cols: Vec<&[u64]> = net.inputs.iter().map(|p| if p.name == "A" { &a[..] } else { &b[..] }).collect();
    let t = axdnn::sim::toggles(&net, &cols).unwrap();
    let by_name: std::collections::HashMap<&str, u64> =
        net.nodes.iter().zip(&t.per_node).map(|(n, &c)| (n.name.as_str(), c)).collect();
    let nets = r["nets"].as_array().unwrap();
    for n in nets {
        assert_eq!(n["toggles"].as_u64().unwrap(), by_name[n["net"].as_str().unwrap()], "{n}");
    }

    // Cells add up to the totals; 70 instances (the header's Nodes).
    let cells = r["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 70);
    let sum = |k: &str| cells.iter().map(|c| c[k].as_f64().unwrap()).sum::<f64>();
    for k in ["internal_j", "switching_j", "leakage_j", "total_j"] {
        let total = r["total"][k].as_f64().unwrap();
        assert!((sum(k) - total).abs() <= 1e-12 * total, "{k}");
    }
    let per = r["total"]["per_cycle_j"].as_f64().unwrap();
    assert!((per * 2999.0 - r["total"]["total_j"].as_f64().unwrap()).abs() < 1e-9 * per * 2999.0);
    // Leakage: every cell's cell_leakage_power for 2999 cycles of 1 ns.
    let library = axdnn::liberty::parse_file(&lib_path).unwrap();
    let leak: f64 = cells
        .iter()
        .map(|c| library.cell(c["cell"].as_str().unwrap()).unwrap().leakage_power.unwrap() * 1e-9 * 2999e-9)
        .sum();
    assert!((leak - r["total"]["leakage_j"].as_f64().unwrap()).abs() < 1e-9 * leak);

    // The text form states the same totals.
    let text = axdnn(&[
        "energy",
        "--multiplier",
        "mul8_280",
        "--operands",
        ops.to_str().unwrap(),
        "--liberty",
        lib,
        "--evoapprox",
        evo,
    ]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains(&format!("per cycle {:.4}", per * 1e15)), "{text}");
}

/// One inverter driving two NAND2X1 inputs, by hand from the library's tables: load = the two
/// input capacitances (the larger of the rise and fall sums), input slew 0 (a primary input).
#[test]
fn an_inverter_by_hand() {
    let Some(lib_path) = common::gscl45nm() else { return };
    let lib = axdnn::liberty::parse_file(&lib_path).unwrap();
    let src = "module t(A, B, O); input [1:0] A; input [0:0] B; output [1:0] O; wire n;\n\
               INVX1 i0(.A(A[0]), .Y(n));\nNAND2X1 g0(.A(n), .B(B[0]), .Y(O[0]));\nNAND2X1 g1(.A(A[1]), .B(n), .Y(O[1]));\nendmodule\n";
    let net = netlist::parse_str(src, Path::new("t.v")).unwrap().netlist;
    let m = Model::new(&net, &lib).unwrap();
    assert_eq!(m.instances.len(), 3);
    let inv = &m.instances[0];
    assert_eq!(inv.cell, "INVX1");
    let nand = lib.cell("NAND2X1").unwrap();
    let (pa, pb) = (nand.pin("A").unwrap(), nand.pin("B").unwrap());
    let load = (pa.rise_capacitance.unwrap() + pb.rise_capacitance.unwrap())
        .max(pa.fall_capacitance.unwrap() + pb.fall_capacitance.unwrap());
    let o = &inv.outputs[0];
    assert!((o.load_f - load * 1e-12).abs() < 1e-24);
    assert!((o.switching_j - 0.5 * load * 1e-12 * 1.1 * 1.1).abs() < 1e-27);
    let ip = &lib.cell("INVX1").unwrap().pin("Y").unwrap().internal_power[0];
    assert!((o.rise_j - ip.rise_power.as_ref().unwrap().at(load, 0.0).unwrap() * 1e-12).abs() < 1e-24);
    assert!((o.fall_j - ip.fall_power.as_ref().unwrap().at(load, 0.0).unwrap() * 1e-12).abs() < 1e-24);
    let inv_y = lib.cell("INVX1").unwrap().pin("Y").unwrap();
    // Linear extrapolation to so small a load goes below zero; a transition time cannot.
    let rise_slew = inv_y.timing[0].table("rise_transition").unwrap().at(load, 0.0).unwrap().max(0.0);
    assert!((o.slew_s[0] - rise_slew * 1e-9).abs() < 1e-21, "{:?} vs {rise_slew}", o.slew_s);
    assert_eq!(inv.leakage_w, lib.cell("INVX1").unwrap().leakage_power.unwrap() * 1e-9);
    // A stream A[0] = 0, 1, 0, 1: the inverter's output toggles 3 times (1 rise, 2 falls).
    let a = [0u64, 1, 0, 1];
    let b = [1u64; 4];
    let t = axdnn::sim::toggles(&net, &[&a, &b]).unwrap();
    let r = m.energy(&net, &t, 2e-9).unwrap();
    let c = &r.cells[0];
    assert!((c.internal_j - (o.rise_j + 2.0 * o.fall_j)).abs() < 1e-27);
    assert!((c.switching_j - 3.0 * o.switching_j).abs() < 1e-27);
    assert!((c.leakage_j - 3.0 * 2e-9 * inv.leakage_w).abs() < 1e-30);
}

#[test]
fn inputs_it_cannot_use_are_errors() {
    let Some(root) = common::evoapprox() else { return };
    let Some(lib_path) = common::gscl45nm() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ops = dir.path().join("pairs.npy");
    npy_pairs(&ops, &[[1, 2], [300, 4]]);
    let (evo, lib) = (root.to_str().unwrap(), lib_path.to_str().unwrap());
    let run = |m: &str, ops: &Path| {
        let out = axdnn(&[
            "energy",
            "--multiplier",
            m,
            "--operands",
            ops.to_str().unwrap(),
            "--liberty",
            lib,
            "--evoapprox",
            evo,
        ]);
        assert!(!out.status.success(), "{m}: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8(out.stderr).unwrap()
    };
    let e = run("mul8_280", &ops);
    assert!(e.contains("pair 1: operand 0 = 300 does not fit a 8-bit port"), "{e}");
    // A netlist of expressions (EvoApproxLib's generic file) has no cells to charge.
    let generic = root.join("evoapproxlib/8x8_unsigned/pareto_pwr_mae/mul8u_13QR.v");
    npy_pairs(&ops, &[[1, 2], [3, 4]]);
    let e = run(generic.to_str().unwrap(), &ops);
    assert!(e.contains("is computed by an expression") && e.contains("cell-mapped netlist"), "{e}");
    let e = run("nosuchname", &ops);
    assert!(e.contains("no nosuchname_pdk45.v under"), "{e}");
    let bad = dir.path().join("bad.npy");
    std::fs::write(&bad, axdnn::util::npy::f32_file(&[2, 2], &[0.0; 4])).unwrap();
    let e = run("mul8_280", &bad);
    assert!(e.contains("expected an integer dtype, found '<f4'"), "{e}");
}
