//! Front-end throughput: parse + elaborate + check, and petgraph build + optimisation, for two
//! 8x8 circuits (an N-bus PDK45-cell netlist and a flat-assign one). Throughput is in source
//! bytes. Then toggle counting over a 65,536-pair operand stream beside the exhaustive sweep of
//! the same number of pairs (throughput in pairs; the ratio is what to quote). Needs
//! `AXDNN_EVOAPPROX`; without it the bench prints why and does nothing.

use std::path::PathBuf;

use axdnn::netlist::{self, graph};
use criterion::{black_box, criterion_main, Criterion, Throughput};

const CASES: &[(&str, &str)] = &[
    ("mul8u_1JFF", "evoapproxlib/8x8_unsigned/pareto_pwr_mae/mul8u_1JFF.v"),
    ("mul8u_JV3", "evoapproxlib/8x8_unsigned/pareto_pwr_wce/mul8u_JV3.v"),
];

fn bench(c: &mut Criterion) {
    let Some(root) = std::env::var_os("AXDNN_EVOAPPROX").map(PathBuf::from) else {
        eprintln!("skipped: AXDNN_EVOAPPROX not set");
        return;
    };
    let mut g = c.benchmark_group("netlist");
    for &(name, rel) in CASES {
        let path = root.join(rel);
        let src = std::fs::read_to_string(&path).expect("library file");
        g.throughput(Throughput::Bytes(src.len() as u64));
        g.bench_function(format!("parse/{name}"), |b| b.iter(|| netlist::parse_str(black_box(&src), &path).unwrap()));
        let n = netlist::parse_str(&src, &path).unwrap().netlist;
        g.bench_function(format!("graph/{name}"), |b| b.iter(|| graph::to_graph(black_box(&n))));
        g.bench_function(format!("optimize/{name}"), |b| b.iter(|| graph::optimize(black_box(&n))));
    }
    g.finish();
    let mut g = c.benchmark_group("toggles");
    let n = 1usize << 16;
    g.throughput(Throughput::Elements(n as u64));
    for (name, rel) in [("mul8_280_pdk45", "evoapprox8b/source_v/mul8_280_pdk45.v"), CASES[1]] {
        let net = netlist::parse_file(&root.join(rel)).unwrap().netlist;
        // A pseudo-random stream (xorshift), the same every run.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x & 0xff
        };
        let a: Vec<u64> = (0..n).map(|_| next()).collect();
        let b: Vec<u64> = (0..n).map(|_| next()).collect();
        let cols: Vec<&[u64]> = net.inputs.iter().map(|p| if p.name == "A" { &a[..] } else { &b[..] }).collect();
        g.bench_function(format!("stream/{name}"), |bch| {
            bch.iter(|| axdnn::sim::toggles(black_box(&net), &cols).unwrap())
        });
        g.bench_function(format!("exhaustive/{name}"), |bch| {
            bch.iter(|| axdnn::sim::exhaustive(black_box(&net), axdnn::sim::RowPort::B, false).unwrap())
        });
    }
    g.finish();
}

/// Every benchmark of this file, with criterion's settings from the command line (what
/// `criterion_group!` would generate, but documented).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}
criterion_main!(benches);
