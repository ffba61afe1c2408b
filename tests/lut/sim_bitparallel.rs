//! The bit-parallel simulator against the scalar oracle `Netlist::eval_scalar`, on random
//! netlists using every gate type, both row ports and both interpretations.

use axdnn::lut::Metrics;
use axdnn::mult::NetlistMultiplier;
use axdnn::mult::{Exact, Multiplier, RowPort};
use axdnn::netlist::ir::{Netlist, Node, Op, Port};
use axdnn::sim::{self, Program};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const OPS: [Op; 17] = [
    Op::Const0,
    Op::Const1,
    Op::Buf,
    Op::Not,
    Op::And,
    Op::Or,
    Op::Xor,
    Op::Nand,
    Op::Nor,
    Op::Xnor,
    Op::Nand3,
    Op::Nor3,
    Op::Aoi21,
    Op::Oai21,
    Op::Mux,
    Op::Xor3,
    Op::Maj,
];

fn random_netlist(n: usize, m: usize, gates: usize, seed: u64) -> Netlist {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut nodes = Vec::new();
    let port = |name: &str, w: usize, nodes: &mut Vec<Node>| Port {
        name: name.into(),
        bits: (0..w)
            .map(|i| {
                nodes.push(Node { op: Op::Input, fanin: [0; 3], cell: "in".into(), name: format!("{name}[{i}]") });
                (nodes.len() - 1) as u32
            })
            .collect(),
    };
    let a = port("A", n, &mut nodes);
    let b = port("B", m, &mut nodes);
    for g in 0..gates {
        let op = OPS[rng.gen_range(0..OPS.len())];
        let k = nodes.len() as u32;
        let mut fanin = [0u32; 3];
        for f in fanin.iter_mut().take(op.arity()) {
            *f = rng.gen_range(0..k);
        }
        nodes.push(Node { op, fanin, cell: "x".into(), name: format!("g{g}") });
    }
    let total = nodes.len() as u32;
    let o = Port { name: "O".into(), bits: (0..n + m).map(|_| rng.gen_range(0..total)).collect() };
    Netlist { name: format!("rand{seed}"), nodes, inputs: vec![b, a], outputs: vec![o] }
}

fn scalar(net: &Netlist, a: u32, b: u32, signed: bool) -> i64 {
    let bits = |p: &Port, v: u32| (0..p.width()).map(|i| (v >> i) & 1 == 1).collect::<Vec<_>>();
    let ins: Vec<Vec<bool>> = net.inputs.iter().map(|p| bits(p, if p.name == "A" { a } else { b })).collect();
    let out = &net.eval_scalar(&ins)[0];
    let code = out.iter().enumerate().fold(0u64, |acc, (i, &x)| acc | (x as u64) << i);
    Exact::value(code as u32, out.len() as u32, signed)
}

#[test]
fn exhaustive_lut_matches_scalar_oracle() {
    for seed in 0..12u64 {
        let (n, m) = [(4, 3), (3, 5), (5, 5), (2, 2)][seed as usize % 4];
        let net = random_netlist(n, m, 60, seed);
        for signed in [false, true] {
            for rp in [RowPort::A, RowPort::B] {
                let lut = axdnn::lut::exhaustive_lut(&net, rp, signed).unwrap();
                let (rb, cb) = if rp == RowPort::A { (n, m) } else { (m, n) };
                assert_eq!((lut.row_bits, lut.col_bits), (rb as u32, cb as u32));
                for r in 0..1u32 << rb {
                    for c in 0..1u32 << cb {
                        let (a, b) = if rp == RowPort::A { (r, c) } else { (c, r) };
                        assert_eq!(lut.get(r, c) as i64, scalar(&net, a, b, signed), "seed {seed} a={a} b={b}");
                    }
                }
            }
        }
    }
}

#[test]
fn lane_widths_agree_and_serial_equals_parallel() {
    let net = random_netlist(7, 6, 300, 99);
    let prog = Program::compile(&net);
    let l1 = axdnn::lut::exhaustive_lut_lanes::<1>(&net, &prog, RowPort::B, false, false).unwrap();
    let l4 = axdnn::lut::exhaustive_lut_lanes::<4>(&net, &prog, RowPort::B, false, true).unwrap();
    let l16 = axdnn::lut::exhaustive_lut_lanes::<16>(&net, &prog, RowPort::B, false, true).unwrap();
    let l32 = axdnn::lut::exhaustive_lut_lanes::<32>(&net, &prog, RowPort::B, false, false).unwrap();
    assert_eq!(l1, l4);
    assert_eq!(l1, l16);
    assert_eq!(l1, l32);
    // Spot-check against the oracle too.
    for (a, b) in [(0u32, 0u32), (127, 63), (5, 9), (100, 1)] {
        assert_eq!(l1.get(b, a) as i64, scalar(&net, a, b, false));
    }
}

#[test]
fn netlist_multiplier_batch_equals_lut() {
    let net = random_netlist(6, 6, 200, 7);
    for signed in [false, true] {
        let lut = axdnn::lut::exhaustive_lut(&net, RowPort::B, signed).unwrap();
        let m = NetlistMultiplier::new(&net, RowPort::B, signed).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let rows: Vec<u32> = (0..1000).map(|_| rng.gen_range(0..64)).collect();
        let cols: Vec<u32> = (0..1000).map(|_| rng.gen_range(0..64)).collect();
        let mut out = vec![0; 1000];
        m.mul_batch(&rows, &cols, &mut out);
        for i in 0..1000 {
            assert_eq!(out[i], lut.get(rows[i], cols[i]));
        }
        assert_eq!(m.mul(rows[3], cols[3]), lut.get(rows[3], cols[3]));
    }
}

#[test]
fn sampling_is_seeded_and_consistent_with_exhaustive() {
    let net = axdnn::gen::Spec { n: 8, m: 8, kind: axdnn::gen::Kind::Truncated { k: 6 } }.netlist();
    let lut = axdnn::lut::exhaustive_lut(&net, RowPort::B, false).unwrap();
    let s1 = sim::sample(&net, RowPort::B, false, 20_000, 42).unwrap();
    let s2 = sim::sample(&net, RowPort::B, false, 20_000, 42).unwrap();
    let s3 = sim::sample(&net, RowPort::B, false, 20_000, 43).unwrap();
    assert_eq!(s1, s2);
    assert_ne!(s1.rows, s3.rows);
    for i in 0..s1.rows.len() {
        assert_eq!(s1.products[i], lut.get(s1.rows[i], s1.cols[i]) as i64);
    }
    // Sampled MAE is an estimate close to the exhaustive one.
    let me = Metrics::of_lut(&lut);
    let ms = Metrics::of_samples(&s1);
    assert!((me.mae - ms.mae).abs() < 0.05 * me.mae, "{} vs {}", me.mae, ms.mae);
}

#[test]
fn rejects_too_large_and_missing_ports() {
    let net = random_netlist(11, 11, 10, 3);
    assert!(matches!(axdnn::lut::exhaustive_lut(&net, RowPort::B, false), Err(sim::SimError::TooLarge { .. })));
    let mut bad = random_netlist(3, 3, 10, 4);
    bad.inputs[0].name = "X".into();
    assert!(matches!(axdnn::lut::exhaustive_lut(&bad, RowPort::B, false), Err(sim::SimError::MissingInput { .. })));
}
