//! Gate-graph passes preserve the function: each pass alone and the full pipeline are compared
//! with the original on exhaustive inputs (fixtures) or seeded random inputs (library circuits,
//! with the EvoApprox library). Also checks levels and statistics against hand counts.

use crate::common;
use common::evoapprox;

use std::path::Path;

use axdnn::netlist::{self, graph, Netlist, Op};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

type Pass = (&'static str, fn(&Netlist) -> Netlist);

const PASSES: &[Pass] = &[
    ("const_prop", graph::const_prop),
    ("remove_buffers", graph::remove_buffers),
    ("remove_dead", graph::remove_dead),
    ("strash", graph::strash),
    ("optimize", graph::optimize),
];

fn inputs_for(n: &Netlist, rng: &mut ChaCha8Rng) -> Vec<Vec<bool>> {
    n.inputs.iter().map(|p| (0..p.width()).map(|_| rng.gen()).collect()).collect()
}

fn exhaustive_inputs(n: &Netlist) -> Vec<Vec<Vec<bool>>> {
    let total: usize = n.inputs.iter().map(|p| p.width()).sum();
    assert!(total <= 16);
    (0..1u32 << total)
        .map(|v| {
            let mut k = 0;
            n.inputs
                .iter()
                .map(|p| {
                    (0..p.width())
                        .map(|_| {
                            k += 1;
                            (v >> (k - 1)) & 1 == 1
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn well_formed(n: &Netlist) {
    for (i, node) in n.nodes.iter().enumerate() {
        assert!(node.fanin[..node.op.arity()].iter().all(|&f| (f as usize) < i), "{}: not topological", n.name);
    }
    for p in n.inputs.iter().chain(&n.outputs) {
        assert!(p.bits.iter().all(|&b| (b as usize) < n.nodes.len()));
    }
}

fn check_passes(n: &Netlist, vectors: &[Vec<Vec<bool>>]) {
    let want: Vec<_> = vectors.iter().map(|v| n.eval_scalar(v)).collect();
    for (name, pass) in PASSES {
        let m = pass(n);
        well_formed(&m);
        assert_eq!(
            m.inputs.iter().map(|p| p.width()).collect::<Vec<_>>(),
            n.inputs.iter().map(|p| p.width()).collect::<Vec<_>>()
        );
        assert!(m.nodes.len() <= n.nodes.len() + 2, "{name} grew {}", n.name);
        for (v, w) in vectors.iter().zip(&want) {
            assert_eq!(&m.eval_scalar(v), w, "{name} changed {} on {v:?}", n.name);
        }
    }
    let o = graph::optimize(n);
    assert!(o.nodes.iter().all(|x| x.op != Op::Buf), "{}: buffers left", n.name);
}

#[test]
fn passes_preserve_fixtures_exhaustively() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("netlists");
    for name in [
        "mul2x2_assign.v",
        "mul2x2_pdk45.v",
        "mul2x2_generic.v",
        "mul2x2_hier.v",
        "mul2x2_behav.v",
        "mul3x3s_behav.v",
        "cells_all.v",
    ] {
        let p = netlist::parse_file(&dir.join(name)).unwrap();
        check_passes(&p.netlist, &exhaustive_inputs(&p.netlist));
    }
}

#[test]
fn levels_and_stats_of_a_fixture() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("netlists");
    let p = netlist::parse_file(&dir.join("mul2x2_pdk45.v")).unwrap();
    let st = graph::stats(&p.netlist);
    // 4 AND2X1, 2 HAX1 (two nodes each), 8 input fan-out buffers + 4 output buffers.
    assert_eq!(st.gates_by_cell.get("AND2X1"), Some(&4));
    assert_eq!(st.gates_by_cell.get("HAX1"), Some(&4));
    assert_eq!(st.gates_by_cell.get("assign"), Some(&12));
    assert_eq!(st.instances_by_cell.get("HAX1"), Some(&2));
    assert_eq!(st.cell_instances, 6);
    // buf -> AND -> HAX1.YC -> HAX1.YS/YC -> output buf
    assert_eq!(st.depth, 5);
    assert_eq!((st.input_bits, st.output_bits), (4, 4));
    let o = graph::stats(&graph::optimize(&p.netlist));
    assert_eq!(o.gates, 8);
    assert_eq!(o.depth, 3);
    let levels = graph::levels(&p.netlist).unwrap();
    assert!(p.netlist.inputs.iter().flat_map(|p| &p.bits).all(|&b| levels[b as usize] == 0));
}

#[test]
fn passes_preserve_library_circuits() {
    let Some(root) = evoapprox() else { return };
    let lib = root.join("evoapproxlib");
    let files = [
        "8x8_unsigned/pareto_pwr_mae/mul8u_1JFF.v",
        "8x8_unsigned/pareto_pwr_mae/mul8u_13QR.v",
        "8x8_signed/pareto_pwr_ep/mul8s_1KR3_pdk45.v",
        "12x12_unsigned/pareto_pwr_ep/mul12u_35V.v",
        "16x16_signed/pareto_pwr_ep/mul16s_HEB.v",
        "16x16_unsigned/pareto_pwr_mae/mul16u_5FA.v",
        "16x16_unsigned/pareto_pwr_mse/mul16u_G9P.v",
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for f in files {
        let p = netlist::parse_file(&lib.join(f)).unwrap_or_else(|e| panic!("{e}"));
        let vectors: Vec<_> = (0..300).map(|_| inputs_for(&p.netlist, &mut rng)).collect();
        check_passes(&p.netlist, &vectors);
    }
    for f in ["mul8_000.v", "mul8_123_pdk45.v", "mul8_WallaceTreeMultiplier_Using_CarrySelectAdder.v"] {
        let p = netlist::parse_file(&root.join("evoapprox8b/source_v").join(f)).unwrap();
        check_passes(&p.netlist, &exhaustive_inputs(&p.netlist)[..].iter().step_by(37).cloned().collect::<Vec<_>>());
    }
}
