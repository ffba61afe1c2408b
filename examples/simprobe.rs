//! Quick min-of-N timing probe for simulator tuning (noise-robust on a shared machine).
use axdnn::gen::{Kind, Spec};
use axdnn::mult::RowPort;
use axdnn::sim::Program;
use std::time::Instant;

fn min_time(mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..200 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    best * 1e6
}

fn main() {
    for spec in [
        Spec { n: 8, m: 8, kind: Kind::Exact },
        Spec { n: 8, m: 8, kind: Kind::Truncated { k: 8 } },
        Spec { n: 8, m: 8, kind: Kind::Bam { hbl: 3, vbl: 9 } },
    ] {
        let net = spec.netlist();
        let p = Program::compile(&net);
        let t1 = min_time(|| {
            axdnn::lut::exhaustive_lut_lanes::<1>(&net, &p, RowPort::B, false, false).unwrap();
        });
        let t4 = min_time(|| {
            axdnn::lut::exhaustive_lut_lanes::<4>(&net, &p, RowPort::B, false, false).unwrap();
        });
        let t8 = min_time(|| {
            axdnn::lut::exhaustive_lut_lanes::<8>(&net, &p, RowPort::B, false, false).unwrap();
        });
        let t16 = min_time(|| {
            axdnn::lut::exhaustive_lut_lanes::<16>(&net, &p, RowPort::B, false, false).unwrap();
        });
        let t32 = min_time(|| {
            axdnn::lut::exhaustive_lut_lanes::<32>(&net, &p, RowPort::B, false, false).unwrap();
        });
        let tc = min_time(|| {
            Program::compile(&net);
        });
        println!("{:<22} instrs {:>4} slots {:>4}: L1 {t1:.0} L4 {t4:.0} L8 {t8:.0} L16 {t16:.0} L32 {t32:.0} us; compile {tc:.1} us", net.name, p.instrs.len(), p.n_slots);
    }
}
