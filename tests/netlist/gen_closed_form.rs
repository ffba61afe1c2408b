//! Generated multipliers against closed-form arithmetic, computed here independently of
//! `gen`: exact = a·b; truncated = a·b minus the dropped partial products; BAM likewise.

use axdnn::gen::{Kind, Spec};
use axdnn::lut::Metrics;
use axdnn::mult::RowPort;

fn dropped(n: u32, m: u32, a: u64, b: u64, drop: impl Fn(u32, u32) -> bool) -> u64 {
    let mut s = 0;
    for i in 0..n {
        for j in 0..m {
            if drop(i, j) && (a >> i) & 1 == 1 && (b >> j) & 1 == 1 {
                s += 1u64 << (i + j);
            }
        }
    }
    s
}

fn check(spec: Spec, drop: impl Fn(u32, u32) -> bool) {
    let net = spec.netlist();
    let lut = axdnn::lut::exhaustive_lut(&net, RowPort::A, false).unwrap();
    for a in 0..1u64 << spec.n {
        for b in 0..1u64 << spec.m {
            let want = a * b - dropped(spec.n, spec.m, a, b, &drop);
            assert_eq!(lut.get(a as u32, b as u32) as u64, want, "{} a={a} b={b}", spec.name());
        }
    }
}

#[test]
fn exact_multipliers_of_many_shapes() {
    for (n, m) in [(1, 1), (2, 3), (4, 4), (8, 8), (8, 3), (5, 7), (10, 10)] {
        check(Spec { n, m, kind: Kind::Exact }, |_, _| false);
    }
}

#[test]
fn truncated_multipliers() {
    for k in [1, 4, 6, 8, 11] {
        check(Spec { n: 8, m: 8, kind: Kind::Truncated { k } }, |i, j| i + j < k);
    }
    check(Spec { n: 8, m: 4, kind: Kind::Truncated { k: 3 } }, |i, j| i + j < 3);
}

#[test]
fn broken_array_multipliers() {
    for (hbl, vbl) in [(0, 6), (1, 6), (2, 8), (3, 9), (4, 0)] {
        check(Spec { n: 8, m: 8, kind: Kind::Bam { hbl, vbl } }, |i, j| j < hbl || i + j < vbl);
    }
}

#[test]
fn exact_has_zero_error_and_truncation_has_negative_bias() {
    let exact =
        axdnn::lut::exhaustive_lut(&Spec { n: 8, m: 8, kind: Kind::Exact }.netlist(), RowPort::B, false).unwrap();
    assert_eq!(exact.table, axdnn::Lut::exact(8, 8, false).table);
    let m = Metrics::of_lut(&exact);
    assert_eq!((m.mae, m.wce, m.ep_pct, m.hd), (0.0, 0.0, 0.0, 0.0));
    let t = Metrics::of_lut(
        &axdnn::lut::exhaustive_lut(&Spec { n: 8, m: 8, kind: Kind::Truncated { k: 8 } }.netlist(), RowPort::B, false)
            .unwrap(),
    );
    assert!(t.mean_error < 0.0 && (t.mean_error + t.mae).abs() < 1e-9, "truncation only removes value");
}

#[test]
fn verilog_text_lists_every_gate() {
    let spec = Spec { n: 4, m: 4, kind: Kind::Truncated { k: 2 } };
    let net = spec.netlist();
    let v = axdnn::gen::to_verilog(&net, &axdnn::gen::header(&spec));
    assert!(v.contains("module mul4u_gen_trunc2 (A, B, O);"));
    let gates =
        net.nodes.iter().filter(|n| !matches!(n.op, axdnn::netlist::Op::Input | axdnn::netlist::Op::Const0)).count();
    assert_eq!(v.matches("assign sig_").count(), gates);
    assert_eq!(v.matches("assign O[").count(), 8);
}

#[test]
fn signed_baugh_wooley_is_exact() {
    for (n, m) in [(2, 2), (4, 4), (8, 8), (5, 3), (3, 6), (8, 4)] {
        let spec = Spec { n, m, kind: Kind::SignedExact };
        let lut = axdnn::lut::exhaustive_lut(&spec.netlist(), RowPort::A, true).unwrap();
        assert_eq!(lut.table, axdnn::Lut::exact(n, m, true).table, "{}", spec.name());
        for (a, b) in [(0u64, 0u64), (1, (1 << m) - 1), ((1 << (n - 1)), (1 << (m - 1)))] {
            let code = spec.closed_form(a, b);
            let want = axdnn::mult::Exact::value(code as u32, n + m, true);
            assert_eq!(lut.get(a as u32, b as u32) as i64, want);
        }
    }
    assert_eq!(Spec { n: 8, m: 8, kind: Kind::SignedExact }.name(), "mul8s_gen_exact");
}
