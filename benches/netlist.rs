//! Front-end throughput: parse + elaborate + check, and petgraph build + optimisation, for two
//! 8x8 circuits (an N-bus PDK45-cell netlist and a flat-assign one). Throughput is in source
//! bytes. Needs `AXDNN_EVOAPPROX`; without it the bench prints why and does nothing.

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
}

/// Every benchmark of this file, with criterion's settings from the command line (what
/// `criterion_group!` would generate, but documented).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}
criterion_main!(benches);
