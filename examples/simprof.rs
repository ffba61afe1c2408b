//! Profiling loop: repeated exhaustive sweeps of one generated netlist (use under `perf record`).
use axdnn::gen::{Kind, Spec};
use axdnn::mult::RowPort;
use axdnn::sim::{self, Program};
fn main() {
    let net = Spec { n: 8, m: 8, kind: Kind::Bam { hbl: 3, vbl: 9 } }.netlist();
    let p = Program::compile(&net);
    for _ in 0..2000 {
        std::hint::black_box(sim::exhaustive_lut_lanes::<16>(&net, &p, RowPort::B, false, false).unwrap());
    }
}
