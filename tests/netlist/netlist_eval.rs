//! Functional checks of parsed library circuits against figures nobody here wrote: circuits
//! whose published error probability is 0 must multiply exactly, every circuit must stay within
//! its published worst-case error, and generic and `_pdk45` twins must agree. Needs
//! the EvoApprox library (`tests/common`); uses the scalar oracle `Netlist::eval_scalar` on seeded random pairs.

use crate::common;
use common::{evoapprox, verilog_files};

use std::path::{Path, PathBuf};

use axdnn::netlist::{self, Netlist, Parsed};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn bits(v: u64, w: usize) -> Vec<bool> {
    (0..w).map(|i| (v >> i) & 1 != 0).collect()
}

/// Output of the circuit for operand codes `a`, `b` as an integer (sign-extended if `signed`).
fn eval(n: &Netlist, a: u64, b: u64, signed: bool) -> i64 {
    let (wa, wb) = (n.input("A").unwrap().width(), n.input("B").unwrap().width());
    let out = &n.eval_scalar(&[bits(a, wa), bits(b, wb)])[0];
    let mut v: i64 = 0;
    for (i, &x) in out.iter().enumerate() {
        v |= (x as i64) << i;
    }
    if signed && out.len() < 64 && out.last() == Some(&true) {
        v -= 1i64 << out.len();
    }
    v
}

fn exact(n: &Netlist, a: u64, b: u64, signed: bool) -> i64 {
    let (wa, wb) = (n.input("A").unwrap().width(), n.input("B").unwrap().width());
    let sx = |v: u64, w: usize| if signed && (v >> (w - 1)) & 1 == 1 { v as i64 - (1i64 << w) } else { v as i64 };
    sx(a, wa) * sx(b, wb)
}

fn is_signed(p: &Path) -> bool {
    p.to_string_lossy().contains("_signed")
}

/// Seeded random operand pairs (plus the corners).
fn pairs(n: &Netlist, count: usize, seed: u64) -> Vec<(u64, u64)> {
    let (wa, wb) = (n.input("A").unwrap().width(), n.input("B").unwrap().width());
    let (ma, mb) = ((1u64 << wa) - 1, (1u64 << wb) - 1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v = vec![(0, 0), (ma, mb), (ma, 0), (0, mb), (ma >> 1, mb >> 1), ((ma >> 1) + 1, (mb >> 1) + 1)];
    v.extend((0..count).map(|_| (rng.gen::<u64>() & ma, rng.gen::<u64>() & mb)));
    v
}

fn parsed(f: &Path) -> Parsed {
    netlist::parse_file(f).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn zero_error_circuits_multiply_exactly_and_all_respect_their_wce() {
    let Some(root) = evoapprox() else { return };
    let mut files = Vec::new();
    verilog_files(&root, &mut files);
    let (mut exact_files, mut wce_files) = (0, 0);
    for f in &files {
        let p = parsed(f);
        let signed = is_signed(f);
        let published = &p.published;
        let ep = published.ep_pct.as_ref().or(published.ep_8b_pct.as_ref()).map(|x| x.value);
        let wce = published.wce.as_ref().or(published.wce_8b.as_ref()).map(|x| x.value);
        let n = &p.netlist;
        let sample = pairs(n, 200, 7);
        if ep == Some(0.0) {
            exact_files += 1;
            for &(a, b) in &sample {
                assert_eq!(eval(n, a, b, signed), exact(n, a, b, signed), "{} a={a} b={b}", f.display());
            }
        }
        if let Some(wce) = wce {
            wce_files += 1;
            for &(a, b) in &sample {
                let e = (eval(n, a, b, signed) - exact(n, a, b, signed)).abs() as f64;
                assert!(e <= wce, "{}: a={a} b={b} error {e} > published WCE {wce}", f.display());
            }
        }
    }
    eprintln!("{exact_files} files with EP 0 checked exact, {wce_files} files checked against WCE");
    assert!(exact_files > 50 && wce_files > 1000);
}

#[test]
fn generic_and_pdk45_twins_agree() {
    let Some(root) = evoapprox() else { return };
    let mut files = Vec::new();
    verilog_files(&root, &mut files);
    let mut twins = 0;
    for f in files.iter().filter(|f| f.to_string_lossy().ends_with("_pdk45.v")) {
        let generic = PathBuf::from(f.to_string_lossy().replace("_pdk45.v", ".v"));
        let (p, q) = (parsed(f), parsed(&generic));
        let signed = is_signed(f);
        for (a, b) in pairs(&p.netlist, 64, 11) {
            assert_eq!(eval(&p.netlist, a, b, signed), eval(&q.netlist, a, b, signed), "{} a={a} b={b}", f.display());
        }
        twins += 1;
    }
    eprintln!("{twins} generic/_pdk45 pairs agree");
    assert!(twins >= 591);
}

#[test]
fn exact_8x8_designs_give_the_product_exhaustively() {
    let Some(root) = evoapprox() else { return };
    for rel in [
        "evoapprox8b/source_v/mul8_RippleCarryArrayMultiplier.v",
        "evoapprox8b/source_v/mul8_WallaceTreeMultiplier_Using_CarryLookaheadAdder_pdk45.v",
        "evoapproxlib/8x8_unsigned/pareto_pwr_mae/mul8u_1JFF.v",
    ] {
        let p = parsed(&root.join(rel));
        for a in 0..256 {
            for b in 0..256 {
                assert_eq!(eval(&p.netlist, a, b, false), (a * b) as i64, "{rel} {a}*{b}");
            }
        }
    }
}
