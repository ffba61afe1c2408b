//! Cross-check with Icarus Verilog: an exhaustive testbench simulated by `iverilog`/`vvp` must
//! dump exactly the simulator's LUT. Without iverilog (or the library) the test is skipped, unless
//! `CI` is set (`tests/common`).

use axdnn::gen::{Kind, Spec};
use axdnn::lut::testbench::{compare_dump, icarus_compile, icarus_run, verilator_build, verilator_run, Dut};
use axdnn::mult::RowPort;
use axdnn::netlist::ir::Netlist;

use std::path::{Path, PathBuf};

use crate::common;

fn iverilog_available() -> bool {
    common::require_icarus()
}

fn cross_check(net: &Netlist, sources: &[&Path], signed: bool) {
    let dir = tempfile::tempdir().unwrap();
    let d = Dut::of(net).expect("A, B and one output");
    let image = icarus_compile(sources, &d, dir.path()).unwrap();
    let dump = icarus_run(&image, dir.path()).unwrap();
    for rp in [RowPort::B, RowPort::A] {
        let lut = axdnn::lut::exhaustive_lut(net, rp, signed).unwrap();
        let (bad, first) = compare_dump(&dump, &d, &lut, Path::new("tb_out.txt")).unwrap();
        assert_eq!(bad, 0, "{}: {bad} mismatches, first {first:?}", net.name);
    }
}

#[test]
fn generated_netlists_match_icarus() {
    if !iverilog_available() {
        return;
    }
    for spec in
        [Spec { n: 8, m: 8, kind: Kind::Bam { hbl: 2, vbl: 8 } }, Spec { n: 5, m: 3, kind: Kind::Truncated { k: 2 } }]
    {
        let net = spec.netlist();
        let dir = tempfile::tempdir().unwrap();
        let v = dir.path().join(format!("{}.v", spec.name()));
        std::fs::write(&v, axdnn::gen::to_verilog(&net, "test")).unwrap();
        cross_check(&net, &[&v], false);
    }
    let spec = Spec { n: 8, m: 8, kind: Kind::SignedExact };
    let net = spec.netlist();
    let dir = tempfile::tempdir().unwrap();
    let v = dir.path().join("s.v");
    std::fs::write(&v, axdnn::gen::to_verilog(&net, "test")).unwrap();
    cross_check(&net, &[&v], true);
}

/// A deliberately wrong LUT must be caught (the comparison can fail).
#[test]
fn comparison_detects_a_flipped_bit() {
    if !iverilog_available() {
        return;
    }
    let spec = Spec { n: 4, m: 4, kind: Kind::Exact };
    let net = spec.netlist();
    let dir = tempfile::tempdir().unwrap();
    let v = dir.path().join("m.v");
    std::fs::write(&v, axdnn::gen::to_verilog(&net, "test")).unwrap();
    let d = Dut::of(&net).unwrap();
    let mut lut = axdnn::lut::exhaustive_lut(&net, RowPort::B, false).unwrap();
    lut.table[37] ^= 4;
    let image = icarus_compile(&[&v], &d, dir.path()).unwrap();
    let dump = icarus_run(&image, dir.path()).unwrap();
    let (bad, _) = compare_dump(&dump, &d, &lut, Path::new("x")).unwrap();
    assert_eq!(bad, 1);
}

fn evoapprox() -> Option<PathBuf> {
    common::evoapprox()
}

/// A generic (dialect 1) and a PDK45 netlist (with our cell models) of the EvoApprox library.
#[test]
fn evoapprox_netlists_match_icarus() {
    if !iverilog_available() {
        return;
    }
    let Some(root) = evoapprox() else { return };
    let cells = Path::new(env!("CARGO_MANIFEST_DIR")).join("verilog/cells_pdk45.v");
    let lib = root.join("evoapproxlib/8x8_unsigned");
    let jv3 = lib.join("pareto_pwr_wce/mul8u_JV3.v");
    let jff = lib.join("pareto_pwr_mae/mul8u_1JFF_pdk45.v");
    let net = axdnn::netlist::parse_file(&jv3).unwrap().netlist;
    cross_check(&net, &[&jv3], false);
    let net = axdnn::netlist::parse_file(&jff).unwrap().netlist;
    // The 2032-bit N bus as scalar nets (same circuit; Icarus is ~50x faster on it).
    let dir = tempfile::tempdir().unwrap();
    let scalar = dir.path().join("mul8u_1JFF_pdk45.v");
    let text = axdnn::lut::testbench::scalarize_vectors(&std::fs::read_to_string(&jff).unwrap());
    assert!(!text.contains("wire [2031:0] N;") && text.contains("N_2031"));
    std::fs::write(&scalar, text).unwrap();
    cross_check(&net, &[&scalar, &cells], false);
    // A signed PDK45 netlist with HAX1/FAX1 cells.
    let s = root.join("evoapproxlib/8x8_signed/pareto_pwr_mae");
    let f = std::fs::read_dir(&s)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("_pdk45.v"))
        .min()
        .unwrap();
    let net = axdnn::netlist::parse_file(&f).unwrap().netlist;
    cross_check(&net, &[&f, &cells], true);
}

/// The same exhaustive testbench built by Verilator (C++ build ~30 s): a generic EvoApprox
/// netlist and a generated one dump exactly the simulator's LUT.
#[test]
fn netlists_match_verilator() {
    if !common::require_tool("verilator") {
        return;
    }
    let Some(root) = evoapprox() else { return };
    let dir = tempfile::tempdir().unwrap();
    let gen = dir.path().join("gen.v");
    let spec = Spec { n: 8, m: 8, kind: Kind::Bam { hbl: 2, vbl: 8 } };
    std::fs::write(&gen, axdnn::gen::to_verilog(&spec.netlist(), "test")).unwrap();
    let jv3 = root.join("evoapproxlib/8x8_unsigned/pareto_pwr_wce/mul8u_JV3.v");
    for v in [jv3, gen] {
        let net = axdnn::netlist::parse_file(&v).unwrap().netlist;
        let d = Dut::of(&net).unwrap();
        let sub = tempfile::tempdir().unwrap();
        let exe = verilator_build(&[&v], &d, sub.path()).unwrap_or_else(|e| panic!("{}: {e}", v.display()));
        let dump = verilator_run(&exe, sub.path()).unwrap();
        let lut = axdnn::lut::exhaustive_lut(&net, RowPort::B, false).unwrap();
        let (bad, first) = compare_dump(&dump, &d, &lut, Path::new("vl_out.txt")).unwrap();
        assert_eq!(bad, 0, "{}: {bad} mismatches, first {first:?}", net.name);
    }
}

/// Generated Verilog parses back to a netlist with the same table as the generator's IR.
#[test]
fn generated_verilog_parses_back_to_the_same_table() {
    for spec in axdnn::gen::default_set() {
        let net = spec.netlist();
        let text = axdnn::gen::to_verilog(&net, &axdnn::gen::header(&spec));
        let parsed = axdnn::netlist::parse_str(&text, Path::new("gen.v")).unwrap();
        let a = axdnn::lut::exhaustive_lut(&net, RowPort::B, false).unwrap();
        let b = axdnn::lut::exhaustive_lut(&parsed.netlist, RowPort::B, false).unwrap();
        assert_eq!(a.table, b.table, "{}", spec.name());
        // And the committed copy in netlists/gen is current.
        let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("netlists/gen").join(format!("{}.v", spec.name()));
        assert_eq!(std::fs::read_to_string(committed).unwrap(), text, "netlists/gen is stale: run `axdnn gen`");
    }
}
