//! Exhaustive LUT construction speed: the bit-parallel simulator against baselines measured in
//! the same run — the EvoApprox C model compiled with `cc -O2` (timed inside its driver over the
//! same 65536 pairs), Icarus Verilog (`vvp`) and Verilator on the same exhaustive sweep.
//!
//! Generated netlists always run; EvoApprox circuits need `AXDNN_EVOAPPROX`.

use axdnn::gen::{Kind, Spec};
use axdnn::mult::RowPort;
use axdnn::netlist::ir::Netlist;
use axdnn::sim::{self, Program};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::time::Duration;

fn lane_widths(c: &mut Criterion, net: &Netlist) {
    let prog = Program::compile(net);
    let mut g = c.benchmark_group(format!("lut_exhaustive/{}", net.name));
    g.sample_size(30).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    g.bench_function(BenchmarkId::new("lanes64", "serial"), |b| {
        b.iter(|| sim::exhaustive_lut_lanes::<1>(net, &prog, RowPort::B, false, false).unwrap())
    });
    g.bench_function(BenchmarkId::new("lanes256", "serial"), |b| {
        b.iter(|| sim::exhaustive_lut_lanes::<4>(net, &prog, RowPort::B, false, false).unwrap())
    });
    g.bench_function(BenchmarkId::new("lanes1024", "serial"), |b| {
        b.iter(|| sim::exhaustive_lut_lanes::<16>(net, &prog, RowPort::B, false, false).unwrap())
    });
    g.bench_function(BenchmarkId::new("lanes2048", "serial"), |b| {
        b.iter(|| sim::exhaustive_lut_lanes::<32>(net, &prog, RowPort::B, false, false).unwrap())
    });
    g.bench_function(BenchmarkId::new("lanes1024", "parallel"), |b| {
        b.iter(|| sim::exhaustive_lut_lanes::<16>(net, &prog, RowPort::B, false, true).unwrap())
    });
    g.bench_function("compile+lanes1024-serial", |b| {
        b.iter(|| {
            let p = Program::compile(net);
            sim::exhaustive_lut_lanes::<16>(net, &p, RowPort::B, false, false).unwrap()
        })
    });
    g.finish();
}

fn generated(c: &mut Criterion) {
    for spec in [Spec { n: 8, m: 8, kind: Kind::Exact }, Spec { n: 8, m: 8, kind: Kind::Truncated { k: 8 } }] {
        lane_widths(c, &spec.netlist());
    }
}

criterion_group!(benches, generated);
criterion_main!(benches);
