//! Profiling loop: repeated exhaustive sweeps of one netlist file, or a generated one (use under
//! `perf record`): `simprof [FILE.v]`.
use axdnn::gen::{Kind, Spec};
use axdnn::mult::RowPort;
use axdnn::sim::Program;
fn main() {
    let net = match std::env::args().nth(1) {
        Some(f) => axdnn::netlist::parse_file(f.as_ref()).unwrap().netlist,
        None => Spec { n: 8, m: 8, kind: Kind::Bam { hbl: 3, vbl: 9 } }.netlist(),
    };
    let p = Program::compile(&net);
    let mut best = f64::MAX;
    for _ in 0..3000 {
        let t = std::time::Instant::now();
        std::hint::black_box(axdnn::lut::exhaustive_lut_lanes::<16>(&net, &p, RowPort::B, false, false).unwrap());
        best = best.min(t.elapsed().as_secs_f64());
    }
    eprintln!("min {:.1} us per LUT", best * 1e6);
}
