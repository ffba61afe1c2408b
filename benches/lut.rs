//! Exhaustive LUT construction speed: the bit-parallel simulator against baselines measured in
//! the same run — the EvoApprox C model compiled with `cc -O2` (timed inside its driver over the
//! same 65536 pairs, `CModel::time_sweep`), Icarus Verilog (`vvp`) and Verilator on the same
//! exhaustive sweep (whole process: start, 65536 vectors, dump file).
//!
//! Generated netlists always run; EvoApprox circuits need `AXDNN_EVOAPPROX`; Icarus/Verilator
//! baselines run when the tools are installed. At the end the ratios are printed.

use axdnn::gen::{Kind, Spec};
use axdnn::lut::cmodel::CModel;
use axdnn::lut::testbench::{self, Dut};
use axdnn::mult::RowPort;
use axdnn::netlist::ir::Netlist;
use axdnn::sim::Program;
use criterion::{criterion_main, BenchmarkId, Criterion};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn sim_benches(c: &mut Criterion, net: &Netlist, all_widths: bool) {
    let prog = Program::compile(net);
    let mut g = c.benchmark_group(format!("lut_exhaustive/{}", net.name));
    g.sample_size(30).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    if all_widths {
        g.bench_function(BenchmarkId::new("sim_lanes64", "serial"), |b| {
            b.iter(|| axdnn::lut::exhaustive_lut_lanes::<1>(net, &prog, RowPort::B, false, false).unwrap())
        });
        g.bench_function(BenchmarkId::new("sim_lanes256", "serial"), |b| {
            b.iter(|| axdnn::lut::exhaustive_lut_lanes::<4>(net, &prog, RowPort::B, false, false).unwrap())
        });
        g.bench_function(BenchmarkId::new("sim_lanes2048", "serial"), |b| {
            b.iter(|| axdnn::lut::exhaustive_lut_lanes::<32>(net, &prog, RowPort::B, false, false).unwrap())
        });
    }
    g.bench_function(BenchmarkId::new("sim_lanes1024", "serial"), |b| {
        b.iter(|| axdnn::lut::exhaustive_lut_lanes::<16>(net, &prog, RowPort::B, false, false).unwrap())
    });
    g.bench_function(BenchmarkId::new("sim_lanes1024", "parallel"), |b| {
        b.iter(|| axdnn::lut::exhaustive_lut_lanes::<16>(net, &prog, RowPort::B, false, true).unwrap())
    });
    g.bench_function("compile+sim_lanes1024_serial", |b| {
        b.iter(|| {
            let p = Program::compile(net);
            axdnn::lut::exhaustive_lut_lanes::<16>(net, &p, RowPort::B, false, false).unwrap()
        })
    });
    g.finish();
}

fn generated(c: &mut Criterion) {
    for spec in [Spec { n: 8, m: 8, kind: Kind::Exact }, Spec { n: 8, m: 8, kind: Kind::Truncated { k: 8 } }] {
        sim_benches(c, &spec.netlist(), true);
    }
}

/// Minimum of `n` wall-clock runs of `f` (a robust summary on a shared machine).
fn min_of(n: usize, mut f: impl FnMut()) -> Duration {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn evoapprox(c: &mut Criterion) {
    let Some(root) = std::env::var_os("AXDNN_EVOAPPROX").map(PathBuf::from) else {
        eprintln!("skipped: AXDNN_EVOAPPROX not set (EvoApprox benches)");
        return;
    };
    let lib = root.join("evoapproxlib/8x8_unsigned");
    let cells = Path::new(env!("CARGO_MANIFEST_DIR")).join("verilog/cells_pdk45.v");
    let mut summary = Vec::new();
    for (v, cfile, name, pdk) in [
        (lib.join("pareto_pwr_wce/mul8u_JV3.v"), lib.join("pareto_pwr_wce/mul8u_JV3.c"), "mul8u_JV3", false),
        (lib.join("pareto_pwr_mae/mul8u_1JFF_pdk45.v"), lib.join("pareto_pwr_mae/mul8u_1JFF.c"), "mul8u_1JFF", true),
    ] {
        let parsed = axdnn::netlist::parse_file(&v).unwrap();
        let net = parsed.netlist;
        sim_benches(c, &net, false);
        let prog = Program::compile(&net);
        let mut g = c.benchmark_group(format!("lut_exhaustive/{name}"));
        g.sample_size(30).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
        g.bench_function("parse+compile+sim_serial", |b| {
            b.iter(|| {
                let n = axdnn::netlist::parse_file(&v).unwrap().netlist;
                let p = Program::compile(&n);
                axdnn::lut::exhaustive_lut_lanes::<16>(&n, &p, RowPort::B, false, false).unwrap()
            })
        });
        // C model -O2: the driver times `iters` sweeps of all 65536 pairs in-process.
        let cm = CModel::build(&cfile, name, 8, 8, false).unwrap();
        g.bench_function("c_model_O2", |b| {
            b.iter_custom(|iters| Duration::from_secs_f64(cm.time_sweep(iters.max(1) as u32).unwrap() * iters as f64))
        });
        g.finish();
        // Same-run summary with min-of-N (the criterion report has the distributions).
        let t_sim = min_of(200, || {
            axdnn::lut::exhaustive_lut_lanes::<16>(&net, &prog, RowPort::B, false, false).unwrap();
        });
        let t_par = min_of(200, || {
            axdnn::lut::exhaustive_lut_lanes::<16>(&net, &prog, RowPort::B, false, true).unwrap();
        });
        let t_c = (0..20).map(|_| cm.time_sweep(20).unwrap()).fold(f64::MAX, f64::min);
        let dir = tempfile::tempdir().unwrap();
        let d = Dut::of(&net).unwrap();
        let src_text = std::fs::read_to_string(&v).unwrap();
        let dut = dir.path().join("dut.v");
        std::fs::write(&dut, testbench::scalarize_vectors(&src_text)).unwrap();
        let mut sources: Vec<&Path> = vec![&dut];
        if pdk {
            sources.push(&cells);
        }
        let lut = axdnn::lut::exhaustive_lut(&net, RowPort::B, false).unwrap();
        let t_ivl = testbench::icarus_compile(&sources, &d, dir.path()).ok().map(|img| {
            let dump = testbench::icarus_run(&img, dir.path()).unwrap();
            let (bad, _) = testbench::compare_dump(&dump, &d, &lut, Path::new("ivl")).unwrap();
            eprintln!("{name}: Icarus dump vs axdnn LUT: {bad} mismatches");
            min_of(3, || {
                testbench::icarus_run(&img, dir.path()).unwrap();
            })
        });
        let t_vl = testbench::verilator_build(&sources, &d, dir.path()).ok().map(|exe| {
            let dump = testbench::verilator_run(&exe, dir.path()).unwrap();
            let (bad, _) = testbench::compare_dump(&dump, &d, &lut, Path::new("vl")).unwrap();
            eprintln!("{name}: Verilator dump vs axdnn LUT: {bad} mismatches");
            min_of(5, || {
                testbench::verilator_run(&exe, dir.path()).unwrap();
            })
        });
        summary.push((name, prog.instrs.len(), t_sim, t_par, t_c, t_ivl, t_vl));
    }
    println!("\nSame-run summary (min of N runs; 65536 pairs each):");
    println!(
        "{:<12} {:>6} {:>12} {:>12} {:>12} {:>8} {:>12} {:>12}",
        "circuit", "instrs", "sim serial", "sim 2 thr", "C -O2", "C/sim", "Icarus", "Verilator"
    );
    for (name, n, s, p, cc, i, v) in summary {
        let f = |d: Option<Duration>| d.map_or("n/a".into(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3));
        println!(
            "{name:<12} {n:>6} {:>9.1} us {:>9.1} us {:>9.1} us {:>7.1}x {:>12} {:>12}",
            s.as_secs_f64() * 1e6,
            p.as_secs_f64() * 1e6,
            cc * 1e6,
            cc / s.as_secs_f64(),
            f(i),
            f(v)
        );
    }
}

/// Every benchmark of this file, with criterion's settings from the command line (what
/// `criterion_group!` would generate, but documented).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    generated(&mut c);
    evoapprox(&mut c);
}
criterion_main!(benches);
