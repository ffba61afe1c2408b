//! The hand-written fixtures under `netlists/`: every error class yields its typed error at the
//! right file:line:col, and every valid dialect elaborates to the function it was written for.

use std::path::{Path, PathBuf};

use axdnn::netlist::{self, graph, Netlist, NetlistError};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("netlists").join(name)
}

fn err(name: &str) -> NetlistError {
    match netlist::parse_file(&fixture(name)) {
        Ok(_) => panic!("{name} parsed"),
        Err(e) => e,
    }
}

/// Asserts the error's position and that its message starts with `file:line:col: `.
fn at(e: &NetlistError, name: &str, line: u32, col: u32) {
    let s = e.span();
    assert_eq!((s.line, s.col), (line, col), "{e}");
    assert_eq!(s.file, fixture(name));
    assert!(e.to_string().starts_with(&format!("{}:{line}:{col}: ", fixture(name).display())), "{e}");
}

#[test]
fn combinational_loop_names_the_nets() {
    let e = err("err_loop.v");
    at(&e, "err_loop.v", 9, 10);
    let NetlistError::CombinationalLoop { nets, .. } = &e else { panic!("{e:?}") };
    assert!(nets.contains(&"sig_1".to_string()) && nets.contains(&"sig_2".to_string()), "{nets:?}");
    assert!(!nets.contains(&"sig_0".to_string()));
}

#[test]
fn undriven_net() {
    let e = err("err_undriven.v");
    at(&e, "err_undriven.v", 9, 24);
    assert!(matches!(&e, NetlistError::UndrivenNet { net, .. } if net == "sig_1"), "{e:?}");
}

#[test]
fn multiply_driven_net() {
    let e = err("err_multi_driven.v");
    at(&e, "err_multi_driven.v", 8, 10);
    let NetlistError::MultiplyDriven { net, first, .. } = &e else { panic!("{e:?}") };
    assert_eq!(net, "N[4]");
    assert_eq!((first.line, first.col), (7, 10));
}

#[test]
fn unknown_cell() {
    let e = err("err_unknown_cell.v");
    at(&e, "err_unknown_cell.v", 7, 3);
    assert!(matches!(&e, NetlistError::UnknownCell { name, .. } if name == "AND4X1"), "{e:?}");
}

#[test]
fn unknown_port() {
    let e = err("err_unknown_port.v");
    at(&e, "err_unknown_port.v", 6, 32);
    assert!(matches!(&e, NetlistError::UnknownPort { cell, port, .. } if cell == "HAX1" && port == "Y"), "{e:?}");
}

#[test]
fn width_mismatch() {
    let e = err("err_width.v");
    at(&e, "err_width.v", 6, 14);
    assert!(matches!(e, NetlistError::WidthMismatch { expected: 4, found: 3, .. }), "{e:?}");
}

#[test]
fn output_never_assigned() {
    let e = err("err_output_unassigned.v");
    at(&e, "err_output_unassigned.v", 6, 10);
    assert!(matches!(&e, NetlistError::OutputNeverAssigned { port, .. } if port == "P"), "{e:?}");
}

#[test]
fn truncated_file() {
    let e = err("err_truncated.v");
    at(&e, "err_truncated.v", 8, 1);
    assert!(matches!(&e, NetlistError::Syntax { found, .. } if found == "end of file"), "{e:?}");
}

#[test]
fn bad_token() {
    let e = err("err_bad_token.v");
    at(&e, "err_bad_token.v", 7, 22);
    assert!(matches!(&e, NetlistError::Syntax { found, .. } if found == "'#'"), "{e:?}");
}

#[test]
fn missing_file_is_an_io_error() {
    let e = err("no_such_file.v");
    assert!(matches!(e, NetlistError::Io { .. }));
}

/// More error kinds, inline; `diagnose_str` reports all independent errors, sorted.
#[test]
fn inline_errors_and_collecting_all_of_them() {
    let f = Path::new("inline.v");
    let src = "module m(A, B, O);\n input [1:0] A, B;\n output [1:0] O;\n\
               assign O[0] = A[2];\n assign O[1] = C;\n AND2X1 u(.A(A[0]), .A(B[0]), .Y(O[1]));\nendmodule\n";
    let errors = netlist::diagnose_str(src, f).unwrap_err();
    let kinds: Vec<(u32, u32, &str)> = errors
        .iter()
        .map(|e| {
            let s = e.span();
            let k = match e {
                NetlistError::IndexOutOfRange { .. } => "range",
                NetlistError::UndeclaredNet { .. } => "undeclared",
                NetlistError::DuplicateConnection { .. } => "dup",
                _ => "other",
            };
            (s.line, s.col, k)
        })
        .collect();
    assert_eq!(kinds, vec![(4, 17, "range"), (5, 16, "undeclared"), (6, 22, "dup")], "{errors:#?}");

    let e = netlist::parse_str("module m(A,O); input [1:0] A; output O; assign A[0] = O; endmodule", f).unwrap_err();
    assert!(matches!(e, NetlistError::NotAssignable { .. }), "{e:?}");
    let e =
        netlist::parse_str("module m(A,O); input A; output O; FAX1 u(.A(A), .B(A), .YS(O)); endmodule", f).unwrap_err();
    assert!(matches!(&e, NetlistError::UnconnectedInput { port, .. } if port == "C"), "{e:?}");
    let e =
        netlist::parse_str("module m(A,O); input [1:0] A; output O; AND2X1 u(.A(A), .B(A[0]), .Y(O)); endmodule", f)
            .unwrap_err();
    assert!(matches!(e, NetlistError::WidthMismatch { expected: 1, found: 2, .. }), "{e:?}");
    let e =
        netlist::parse_str("module m(A,O); input [1:0] A; output O; assign O = A[0] - A[1]; endmodule", f).unwrap_err();
    assert!(matches!(e, NetlistError::Unsupported { .. }), "{e:?}");
    let e = netlist::parse_str("module m(A,O); input A; output O; m u(.A(A), .O(O)); endmodule", f).unwrap_err();
    assert!(matches!(e, NetlistError::Hierarchy { .. }), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// Valid fixtures.

fn value(bits: &[bool]) -> u64 {
    bits.iter().enumerate().map(|(i, &b)| (b as u64) << i).sum()
}

fn to_bits(v: u64, w: usize) -> Vec<bool> {
    (0..w).map(|i| (v >> i) & 1 == 1).collect()
}

/// Evaluate every operand pair; `f(a, b)` is the expected output code.
fn exhaustive(n: &Netlist, f: impl Fn(u64, u64) -> u64) {
    let (wa, wb) = (n.input("A").unwrap().width(), n.input("B").unwrap().width());
    for a in 0..1u64 << wa {
        for b in 0..1u64 << wb {
            let out = n.eval_scalar(&[to_bits(a, wa), to_bits(b, wb)]);
            assert_eq!(value(&out[0]), f(a, b), "{}: a={a} b={b}", n.name);
        }
    }
}

#[test]
fn exact_2x2_in_every_dialect() {
    for name in ["mul2x2_assign.v", "mul2x2_pdk45.v", "mul2x2_generic.v", "mul2x2_hier.v", "mul2x2_behav.v"] {
        let p = netlist::parse_file(&fixture(name)).unwrap_or_else(|e| panic!("{e}"));
        assert!(p.warnings.is_empty(), "{name}: {:?}", p.warnings);
        exhaustive(&p.netlist, |a, b| a * b);
        exhaustive(&graph::optimize(&p.netlist), |a, b| a * b);
    }
    let p = netlist::parse_file(&fixture("mul2x2_assign.v")).unwrap();
    assert_eq!(p.published.ep_pct.as_ref().map(|f| f.value), Some(0.0));
    assert_eq!(p.published.wce.as_ref().map(|f| f.value), Some(0.0));
    // Cell and net names are the source's.
    let p = netlist::parse_file(&fixture("mul2x2_pdk45.v")).unwrap();
    let n12 = p.netlist.nodes.iter().find(|n| n.name == "N[12]").unwrap();
    assert_eq!(n12.cell, "HAX1");
    let p = netlist::parse_file(&fixture("mul2x2_generic.v")).unwrap();
    let n11 = p.netlist.nodes.iter().find(|n| n.name == "N[11]").unwrap();
    assert_eq!((n11.cell.as_str(), n11.op), ("NAND2X1", axdnn::netlist::Op::Nand));
}

#[test]
fn signed_behavioural_3x3() {
    let p = netlist::parse_file(&fixture("mul3x3s_behav.v")).unwrap();
    assert_eq!(p.netlist.outputs[0].name, "Z");
    let sx = |v: u64| if v & 4 != 0 { v as i64 - 8 } else { v as i64 };
    exhaustive(&p.netlist, |a, b| ((sx(a) * sx(b)) as u64) & 63);
}

#[test]
fn all_fifteen_cells() {
    let p = netlist::parse_file(&fixture("cells_all.v")).unwrap();
    assert_eq!(p.warnings.len(), 1, "B is unused");
    assert!(p.warnings[0].message.contains("'B'"));
    assert_eq!(p.warnings[0].span.line, 6);
    let st = graph::stats(&p.netlist);
    assert_eq!(st.gates_by_cell.len(), 15, "{st}");
    for v in 0..8u64 {
        let (a, b, c) = (v & 1 == 1, v & 2 == 2, v & 4 == 4);
        let o = &p.netlist.eval_scalar(&[to_bits(v, 3), vec![false]])[0];
        let want = [
            a & b,
            a | b,
            !(a & b),
            !(a | b),
            a ^ b,
            !(a ^ b),
            !(a & b & c),
            !(a | b | c),
            !((a & b) | c),
            !((a | b) & c),
            !a,
            a,
            if c { b } else { a },
            a ^ b,
            a & b,
            a ^ b ^ c,
            (a & b) | (a & c) | (b & c),
        ];
        assert_eq!(o.as_slice(), want.as_slice(), "inputs {v:03b}");
    }
}

/// Every error variant, with its position: (source, expected variant name, line, col).
#[test]
fn every_error_variant_with_its_position() {
    let head = "module m(A, B, O);\n input [1:0] A, B;\n output [1:0] O;\n";
    let cases: &[(&str, &str, u32, u32)] = &[
        ("assign O = A & ;\nendmodule\n", "Syntax", 4, 16),
        ("AND9X1 u(.A(A[0]), .B(B[0]), .Y(O[0]));\nassign O[1] = A[1];\nendmodule\n", "UnknownCell", 4, 1),
        ("AND2X1 u(.A(A[0]), .B(B[0]), .Q(O[0]));\nassign O[1] = A[1];\nendmodule\n", "UnknownPort", 4, 31),
        ("AND2X1 u(.A(A[0]), .B(B[0]), .B(B[1]), .Y(O[0]));\nendmodule\n", "DuplicateConnection", 4, 31),
        ("AND2X1 u(.A(A[0]), .Y(O[0]));\nassign O[1] = A[1];\nendmodule\n", "UnconnectedInput", 4, 8),
        ("assign O = A & X;\nendmodule\n", "UndeclaredNet", 4, 16),
        ("wire s;\n wire s;\nassign O = A;\nendmodule\n", "DuplicateDeclaration", 5, 7),
        ("wire s;\nassign O[0] = s;\nassign O[1] = A[1];\nendmodule\n", "UndrivenNet", 5, 15),
        ("assign O = A;\nassign O[1] = B[1];\nendmodule\n", "MultiplyDriven", 5, 8),
        ("wire s, t;\nassign s = t;\nassign t = s;\nassign O = {s, A[0]};\nendmodule\n", "CombinationalLoop", 5, 8),
        ("assign O = {A, B};\nendmodule\n", "WidthMismatch", 4, 12),
        ("wire s;\nassign s = A[0];\nendmodule\n", "OutputNeverAssigned", 3, 15),
        ("assign O = A[2:1];\nendmodule\n", "IndexOutOfRange", 4, 14),
        ("assign A = B;\nassign O = B;\nendmodule\n", "NotAssignable", 4, 8),
        ("assign O = A[B[0]:0];\nendmodule\n", "NotConstant", 4, 14),
        ("assign O = A / B;\nendmodule\n", "Unsupported", 4, 12),
        (
            "sub u(.x(A[0]));\nassign O = A;\nendmodule\nmodule sub(x); input x; sub v(.x(x)); endmodule\n",
            "Hierarchy",
            7,
            25,
        ),
    ];
    for &(body, variant, line, col) in cases {
        let src = format!("{head}{body}");
        let e = netlist::parse_str(&src, Path::new("case.v")).unwrap_err();
        let name = format!("{e:?}");
        assert!(name.starts_with(variant), "{variant}: got {e}");
        let s = e.span();
        assert_eq!((s.line, s.col), (line, col), "{variant}: {e}");
        assert!(e.to_string().starts_with(&format!("case.v:{line}:{col}: ")), "{e}");
    }
    // Unsized literals take the context width when they fit; they are no width mismatch.
    let ok = "module m(A,O); input [1:0] A; output [3:0] O; wire [1:0] z; assign z = 0; \
              AND2X1 u(.A(A[0]), .B(1), .Y(O[0])); assign O[3:1] = 5; endmodule";
    let p = netlist::parse_str(ok, Path::new("case.v")).unwrap();
    assert_eq!(p.netlist.eval_scalar(&[vec![true, false]])[0], vec![true, true, false, true]);
    let e = netlist::parse_str(&ok.replace("= 5", "= 9"), Path::new("case.v")).unwrap_err();
    assert!(matches!(e, NetlistError::WidthMismatch { .. }), "{e:?}");
    let dup =
        "module m(A,O); input A; output O; assign O = A; endmodule\nmodule m(A,O); input A; output O; endmodule\n";
    let e = netlist::parse_str(dup, Path::new("case.v")).unwrap_err();
    assert!(matches!(e, NetlistError::DuplicateModule { .. }), "{e:?}");
    assert_eq!((e.span().line, e.span().col), (2, 8));
}
