//! A netlist is read as a multiplier only if it has the ports of one (issue 22): exactly two
//! input buses A and B (of the widths its name states), one output of their summed width, and
//! both operands reaching it. An adder, a multiply-add with a third operand and products of the
//! wrong width are refused with one error naming the port, on every path that reads a netlist
//! as a multiplier (table sweep, sampling, bit-level simulation, the multiplier loader used by
//! `infer` and `study`, `axdnn lut gen`); closed-form generator levels beyond the product are
//! refused too.

use axdnn::mult::NetlistMultiplier;
use axdnn::mult::RowPort;
use axdnn::netlist::multiplier::{multiplier_ports, NotAMultiplier};
use axdnn::sim::{self, SimError};
use std::path::Path;
use std::process::Command;

use crate::common;

fn parse(src: &str) -> axdnn::netlist::Netlist {
    axdnn::netlist::parse_str(src, Path::new("t.v")).unwrap().netlist
}

/// The error of every path reading `src` as an unsigned multiplier: all the same, naming `port`.
fn refused(src: &str, port: &str, says: &str) -> NotAMultiplier {
    let net = parse(src);
    let e = multiplier_ports(&net).unwrap_err();
    assert_eq!(e.port, port, "{e}");
    assert!(e.to_string().contains(says), "{e}");
    let same = |r: SimError| match r {
        SimError::NotAMultiplier(x) => assert_eq!(x, e),
        other => panic!("{other}"),
    };
    same(axdnn::lut::exhaustive_lut(&net, RowPort::B, false).unwrap_err());
    same(sim::sample(&net, RowPort::A, false, 100, 1).unwrap_err());
    same(NetlistMultiplier::new(&net, RowPort::B, false).err().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("circuit.v");
    std::fs::write(&file, src).unwrap();
    let loaded = axdnn::mult::resolve::from_verilog(&file, false).err().unwrap().to_string();
    assert!(loaded.contains(&e.to_string()), "{loaded}");
    e
}

#[test]
fn an_adder_is_not_a_multiplier() {
    let e = refused(
        "module add8(A, B, O);\n input [7:0] A;\n input [7:0] B;\n output [8:0] O;\n assign O = A + B;\nendmodule\n",
        "O",
        "9 bits wide; the product of 8-bit A and 8-bit B needs 16 bits",
    );
    assert_eq!(e.circuit, "add8");
}

#[test]
fn a_third_operand_is_refused() {
    refused(
        "module mac8(A, B, C, O);\n input [7:0] A;\n input [7:0] B;\n input [7:0] C;\n output [15:0] O;\n assign O = A * B + C;\nendmodule\n",
        "C",
        "a third input",
    );
}

#[test]
fn products_of_the_wrong_width_are_refused() {
    for w in [4, 15, 17, 32] {
        let product = if w < 16 { format!("P[{}:0]", w - 1) } else { format!("{{{}'d0, P}}", w - 16) };
        refused(
            &format!(
                "module m(A, B, O);\n input [7:0] A;\n input [7:0] B;\n output [{}:0] O;\n wire [15:0] P;\n assign P = A * B;\n assign O = {product};\nendmodule\n",
                w - 1
            ),
            "O",
            &format!("{w} bits wide"),
        );
    }
    // Two outputs: the second is named.
    refused(
        "module m(A, B, O, P);\n input [3:0] A;\n input [3:0] B;\n output [7:0] O;\n output P;\n assign O = A * B;\n assign P = A[0];\nendmodule\n",
        "P",
        "a second output",
    );
}

#[test]
fn an_operand_the_output_ignores_is_refused() {
    refused(
        "module m(A, B, O);\n input [7:0] A;\n input [7:0] B;\n output [15:0] O;\n assign O = A * 8'd3;\nendmodule\n",
        "B",
        "no bit of B reaches the output O",
    );
    refused(
        "module m(A, B, O);\n input [7:0] A;\n input [7:0] B;\n output [15:0] O;\n assign O = {8'd0, B};\nendmodule\n",
        "A",
        "no bit of A reaches the output O",
    );
    // A constant product (the zero-power end of EvoApprox's Pareto sets, like mul8u_E9R) is a
    // degenerate multiplier, still measured.
    let zero = parse("module mul4u_zero(A, B, O);\n input [3:0] A;\n input [3:0] B;\n output [7:0] O;\n assign O = 8'd0;\nendmodule\n");
    multiplier_ports(&zero).unwrap();
    // Dropping some bits is what truncated multipliers do: accepted.
    let net = parse(
        "module m(A, B, O);\n input [3:0] A;\n input [3:0] B;\n output [7:0] O;\n assign O = {A[3:1], 1'b0} * B;\nendmodule\n",
    );
    let p = multiplier_ports(&net).unwrap();
    assert_eq!((p.a_bits, p.b_bits, p.out_bits), (4, 4, 8));
    axdnn::lut::exhaustive_lut(&net, RowPort::B, false).unwrap();
}

#[test]
fn widths_stated_by_the_name_must_match() {
    refused(
        "module mul8u_odd(A, B, O);\n input [3:0] A;\n input [7:0] B;\n output [11:0] O;\n assign O = A * B;\nendmodule\n",
        "A",
        "the name mul8u_odd states 8x8",
    );
    refused(
        "module mul8x4u_odd(A, B, O);\n input [7:0] A;\n input [7:0] B;\n output [15:0] O;\n assign O = A * B;\nendmodule\n",
        "B",
        "states 8x4",
    );
    // A missing operand: the sweep's own error names it first, the check names it too.
    let net = parse(
        "module m(X, B, O);\n input [3:0] X;\n input [3:0] B;\n output [7:0] O;\n assign O = X * B;\nendmodule\n",
    );
    let e = multiplier_ports(&net).unwrap_err();
    assert!(e.port == "A" && e.reason.contains("no such input"), "{e}");
    let e = axdnn::lut::exhaustive_lut(&net, RowPort::B, false).unwrap_err().to_string();
    assert!(e.contains("no input port named A"), "{e}");
}

/// Every multiplier shipped or generated here passes, and so does every one of the EvoApprox
/// library when it is present.
#[test]
fn real_multipliers_pass() {
    let mut files = Vec::new();
    common::verilog_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("netlists"), &mut files);
    let mut n = 0;
    for f in files.iter().filter(|f| f.file_name().unwrap().to_str().unwrap().starts_with("mul")) {
        multiplier_ports(&axdnn::netlist::parse_file(f).unwrap().netlist).unwrap_or_else(|e| panic!("{e}"));
        n += 1;
    }
    assert!(n >= 15, "{n} files");
    for s in axdnn::gen::default_set() {
        multiplier_ports(&s.netlist()).unwrap();
    }
    let Some(root) = common::evoapprox() else { return };
    let mut lib = Vec::new();
    common::verilog_files(&root, &mut lib);
    let parsed = axdnn::netlist::parse_files(&lib);
    let mut checked = 0;
    for (f, p) in lib.iter().zip(parsed) {
        let Ok(p) = p else { continue };
        multiplier_ports(&p.netlist).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        checked += 1;
    }
    assert!(checked > 1000, "{checked} library multipliers");
}

fn axdnn(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_axdnn")).current_dir(env!("CARGO_MANIFEST_DIR")).args(args).output().unwrap()
}

#[test]
fn the_command_line_refuses_them_too() {
    let tmp = tempfile::tempdir().unwrap();
    let add = tmp.path().join("add8.v");
    std::fs::write(
        &add,
        "module add8(A, B, O);\n input [7:0] A, B;\n output [8:0] O;\n assign O = A + B;\nendmodule\n",
    )
    .unwrap();
    let o = axdnn(&["lut", "gen", add.to_str().unwrap(), "--out", tmp.path().join("t.bin").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("circuit add8: port O: 9 bits wide"), "{err}");
    assert!(!tmp.path().join("t.bin").exists());
}

#[test]
fn generator_levels_beyond_the_product_are_refused() {
    use axdnn::gen::parse_spec;
    for (spec, says) in [
        ("trunc:8x8:99", "K = 99 drops every column of a 8x8 product (K <= 14)"),
        ("trunc:8x8:15", "K <= 14"),
        ("bam:8x8:8:6", "HBL = 8 drops every row of the 8-bit B (HBL <= 7)"),
        ("bam:8x4:1:11", "VBL = 11 drops every column of a 8x4 product (VBL <= 10)"),
    ] {
        let e = parse_spec(spec).unwrap_err();
        assert!(e.contains(says), "{spec}: {e}");
    }
    // The largest levels still make multipliers (each keeps the top partial product).
    for spec in ["trunc:8x8:14", "bam:8x8:7:14", "trunc:1x1:0", "bam:8x4:3:10"] {
        let net = parse_spec(spec).unwrap().netlist();
        multiplier_ports(&net).unwrap_or_else(|e| panic!("{spec}: {e}"));
    }
    let tmp = tempfile::tempdir().unwrap();
    let o = axdnn(&["gen", "trunc:8x8:99", "--out-dir", tmp.path().to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("K <= 14"), "{err}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "nothing written");
}
