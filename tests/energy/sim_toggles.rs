//! Toggle counts of the bit-parallel simulator over ordered operand streams equal a naive count
//! (every net evaluated one vector at a time) and Icarus Verilog's value changes in a VCD dump
//! (zero delay), on netlists of each EvoApprox dialect — flat `assign` (EvoApproxLib mul8u_13QR),
//! PDK45 cell instances (both libraries; expression connections in mul8s_1KR3_pdk45) and generic
//! files with mangled cell names (evoapprox8b, EvoApproxLib mul8u_1JFF; mixed with `assign`
//! expressions in mul8s_1KR3) — and three streams:
//! uniform random pairs, a weight-stationary stream (a weight held for 64 cycles, 60 % zero
//! activations) and a counting walk (long carry chains).

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use axdnn::netlist::{self, ir::Netlist};
use axdnn::sim::{self, hdl, sweep::MulShape, RowPort};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The test netlists under the EvoApprox folder, with the extra Verilog sources Icarus needs.
fn netlists(root: &Path) -> Vec<(PathBuf, bool)> {
    let lib = root.join("evoapproxlib");
    let b8 = root.join("evoapprox8b/source_v");
    vec![
        (lib.join("8x8_unsigned/pareto_pwr_mae/mul8u_13QR.v"), false),
        (lib.join("8x8_unsigned/pareto_pwr_mae/mul8u_1JFF.v"), false),
        (lib.join("8x8_unsigned/pareto_pwr_mae/mul8u_1JFF_pdk45.v"), true),
        (lib.join("8x8_signed/pareto_pwr_mae/mul8s_1KR3.v"), false),
        (lib.join("8x8_signed/pareto_pwr_mae/mul8s_1KR3_pdk45.v"), true),
        (b8.join("mul8_280.v"), false),
        (b8.join("mul8_280_pdk45.v"), true),
    ]
}

/// Three operand streams (port A, port B), each with a length that leaves a partial block.
fn streams() -> Vec<(&'static str, Vec<u64>, Vec<u64>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(28);
    let n = 1000;
    let uniform = ((0..n).map(|_| rng.gen_range(0..256)).collect(), (0..n).map(|_| rng.gen_range(0..256)).collect());
    let n = 1037;
    let mut w = 0;
    let (mut acts, mut weights) = (Vec::new(), Vec::new());
    for t in 0..n {
        if t % 64 == 0 {
            w = rng.gen_range(100..156u64);
        }
        weights.push(w);
        acts.push(if rng.gen_bool(0.6) { 0 } else { rng.gen_range(1..256) });
    }
    let walk: Vec<u64> = (0..777u64).map(|i| 0x3f00 + 13 * i).collect();
    vec![
        ("uniform", uniform.0, uniform.1),
        ("weight-stationary", weights, acts),
        ("counting", walk.iter().map(|i| (i >> 8) & 255).collect(), walk.iter().map(|i| i & 255).collect()),
    ]
}

/// Port columns in `net.inputs` order.
fn columns<'s>(net: &Netlist, a: &'s [u64], b: &'s [u64]) -> Vec<&'s [u64]> {
    net.inputs.iter().map(|p| if p.name == "A" { a } else { b }).collect()
}

/// Every node evaluated one vector at a time; toggles = changes between consecutive vectors.
fn naive(net: &Netlist, a: &[u64], b: &[u64]) -> (Vec<u64>, Vec<u64>) {
    let mut counts = vec![0u64; net.nodes.len()];
    let mut rises = vec![0u64; net.nodes.len()];
    let mut prev: Option<Vec<bool>> = None;
    for (&x, &y) in a.iter().zip(b) {
        let inputs: Vec<Vec<bool>> = net
            .inputs
            .iter()
            .map(|p| {
                let v = if p.name == "A" { x } else { y };
                (0..p.width()).map(|k| (v >> k) & 1 == 1).collect()
            })
            .collect();
        let now = net.eval_nodes_scalar(&inputs);
        if let Some(p) = &prev {
            for (k, (u, v)) in p.iter().zip(&now).enumerate() {
                counts[k] += (u != v) as u64;
                rises[k] += (!u && *v) as u64;
            }
        }
        prev = Some(now);
    }
    (counts, rises)
}

#[test]
fn bit_parallel_toggles_equal_a_naive_count() {
    let Some(root) = common::evoapprox() else { return };
    let mut nets = 0;
    for (path, _) in netlists(&root) {
        let net = netlist::parse_file(&path).unwrap_or_else(|e| panic!("{e}")).netlist;
        for (name, a, b) in streams() {
            let t = sim::toggles(&net, &columns(&net, &a, &b)).unwrap();
            assert_eq!((t.per_node.clone(), t.rises.clone()), naive(&net, &a, &b), "{} {name}", net.name);
            assert_eq!(t.vectors, a.len());
        }
        nets += net.nodes.len();
    }
    eprintln!("{nets} nodes × 3 streams: bit-parallel toggles = naive");
}

/// A stream of several parallel chunks (40,000 pairs): the cuts between chunks count too; the
/// operand-pair form (row, column) gives the same counts as the port form.
#[test]
fn long_streams_across_chunks() {
    let Some(root) = common::evoapprox() else { return };
    let net = netlist::parse_file(&root.join("evoapprox8b/source_v/mul8_280_pdk45.v")).unwrap().netlist;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let n = 40_000;
    // Runs of equal operands make chunk boundaries fall both inside and outside a run.
    let (mut a, mut b) = (Vec::new(), Vec::new());
    while a.len() < n {
        let (x, y, k) = (rng.gen_range(0..256u64), rng.gen_range(0..256u64), rng.gen_range(1..300));
        a.extend(std::iter::repeat_n(x, k));
        b.extend(std::iter::repeat_n(y, k));
    }
    a.truncate(n);
    b.truncate(n);
    let t = sim::toggles(&net, &columns(&net, &a, &b)).unwrap();
    assert_eq!((t.per_node.clone(), t.rises.clone()), naive(&net, &a, &b));
    for rp in [RowPort::A, RowPort::B] {
        let shape = MulShape::of(&net, rp, false).unwrap();
        let (rows, cols) = match rp {
            RowPort::A => (&a, &b),
            RowPort::B => (&b, &a),
        };
        let narrow = |v: &[u64]| v.iter().map(|&x| x as u32).collect::<Vec<u32>>();
        let p = sim::toggles_of_pairs(&net, &shape, &narrow(rows), &narrow(cols)).unwrap();
        assert_eq!(p, t);
    }
}

/// The testbench: apply the stream one vector per time unit, dump the DUT's own nets.
fn testbench(net: &Netlist, dir: &Path, a: &[u64], b: &[u64]) -> PathBuf {
    let width = |n: &str| net.input(n).unwrap().width();
    let out = &net.outputs[0];
    for (file, v) in [("a.hex", a), ("b.hex", b)] {
        let text: String = v.iter().map(|x| format!("{x:x}\n")).collect();
        std::fs::write(dir.join(file), text).unwrap();
    }
    let src = format!(
        "`timescale 1ns/1ps\nmodule axdnn_toggle_tb;\n  reg [{wa}:0] A;\n  reg [{wb}:0] B;\n  wire [{wo}:0] O;\n  \
         reg [{wa}:0] ma [0:{last}];\n  reg [{wb}:0] mb [0:{last}];\n  integer i;\n  {m} dut (.A(A), .B(B), .{o}(O));\n  \
         initial begin\n    $readmemh(\"{d}/a.hex\", ma);\n    $readmemh(\"{d}/b.hex\", mb);\n    \
         $dumpfile(\"{d}/t.vcd\");\n    $dumpvars(1, dut);\n    for (i = 0; i < {n}; i = i + 1) begin\n      \
         A = ma[i]; B = mb[i]; #1;\n    end\n    $finish;\n  end\nendmodule\n",
        wa = width("A") - 1,
        wb = width("B") - 1,
        wo = out.width() - 1,
        last = a.len() - 1,
        m = net.name,
        o = out.name,
        d = dir.display(),
        n = a.len(),
    );
    let path = dir.join("tb.v");
    std::fs::write(&path, src).unwrap();
    path
}

/// Per-bit value changes in a VCD: for every dumped net bit (`name` or `name[index]`), how often
/// its settled value (the last one written at a time step) differs from the previous step's; and
/// how many raw value-change records differ from the record before them (which would also count
/// glitches inside a time step).
fn vcd_toggles(vcd: &str) -> (HashMap<String, u64>, HashMap<String, u64>) {
    // code -> (name, msb, lsb) for each variable of the dumped scope.
    let mut vars: HashMap<&str, Vec<(String, i64, i64)>> = HashMap::new();
    let mut tokens = vcd.split_whitespace().peekable();
    while let Some(tok) = tokens.next() {
        match tok {
            "$var" => {
                let _kind = tokens.next();
                let size: i64 = tokens.next().unwrap().parse().unwrap();
                let code = tokens.next().unwrap();
                let name = tokens.next().unwrap().to_string();
                let (msb, lsb) = match tokens.peek() {
                    Some(r) if r.starts_with('[') => {
                        let r = tokens.next().unwrap().trim_matches(['[', ']']);
                        match r.split_once(':') {
                            Some((m, l)) => (m.parse().unwrap(), l.parse().unwrap()),
                            None => (r.parse().unwrap(), r.parse().unwrap()),
                        }
                    }
                    _ => (size - 1, 0),
                };
                vars.entry(code).or_default().push((name, msb, lsb));
            }
            "$enddefinitions" => break,
            _ => {}
        }
    }
    let bit_name = |name: &str, msb: i64, lsb: i64, pos: i64| {
        if msb == lsb && msb == 0 && !name.contains('[') {
            name.to_string()
        } else {
            let idx = if msb >= lsb { msb - pos } else { msb + pos };
            format!("{name}[{idx}]")
        }
    };
    let mut st = Changes::default();
    while let Some(tok) = tokens.next() {
        if let Some(t) = tok.strip_prefix('#') {
            st.settle();
            st.time = t.parse().unwrap();
        } else if tok.starts_with('$') {
            continue;
        } else if let Some(bits) = tok.strip_prefix(['b', 'B']) {
            let code = tokens.next().unwrap();
            for (name, msb, lsb) in vars.get(code).into_iter().flatten() {
                let w = (msb - lsb).unsigned_abs() as usize + 1;
                // A shorter value is left-extended with 0, or with x / z if it starts with one.
                let pad = ['x', 'z'].into_iter().find(|&c| bits.starts_with(c)).unwrap_or('0');
                let full: String = std::iter::repeat_n(pad, w.saturating_sub(bits.len())).chain(bits.chars()).collect();
                for (pos, v) in full.chars().enumerate() {
                    st.set(bit_name(name, *msb, *lsb, pos as i64), v);
                }
            }
        } else {
            let (v, code) = tok.split_at(1);
            for (name, msb, lsb) in vars.get(code).into_iter().flatten() {
                st.set(bit_name(name, *msb, *lsb, 0), v.chars().next().unwrap());
            }
        }
    }
    st.settle();
    (st.counts, st.raw)
}

/// Value-change bookkeeping of [`vcd_toggles`].
#[derive(Default)]
struct Changes {
    time: i64,
    cur: HashMap<String, char>,
    settled: HashMap<String, char>,
    last_raw: HashMap<String, char>,
    dirty: Vec<String>,
    counts: HashMap<String, u64>,
    raw: HashMap<String, u64>,
}

impl Changes {
    fn set(&mut self, bit: String, v: char) {
        if let Some(old) = self.last_raw.insert(bit.clone(), v) {
            if old != v && self.time > 0 {
                *self.raw.entry(bit.clone()).or_insert(0) += 1;
            }
        }
        self.cur.insert(bit.clone(), v);
        self.dirty.push(bit);
    }

    /// The time step ends: its last values are the settled ones.
    fn settle(&mut self) {
        for bit in std::mem::take(&mut self.dirty) {
            let v = self.cur[&bit];
            match self.settled.insert(bit.clone(), v) {
                Some(old) if self.time > 0 && old != v => *self.counts.entry(bit).or_insert(0) += 1,
                _ => {}
            }
        }
    }
}

/// The 2017 generic files instantiate mangled cell names (`XNPDKGENOR2X1`) but define only some
/// of them: for each one used and not defined, a module of that name around the cell it stands
/// for (`PDKGEN` deleted, the EvoApprox README's rule) from `verilog/cells_pdk45.v`.
fn mangled_wrappers(src: &str) -> String {
    let defined: std::collections::HashSet<&str> = src
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("module "))
        .map(|r| r.split(['(', ' ']).next().unwrap())
        .collect();
    let mut used: Vec<&str> = src
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.contains("PDKGEN") && !defined.contains(w))
        .collect();
    used.sort();
    used.dedup();
    let mut out = String::new();
    for m in used {
        let cell = netlist::cells::lookup(m).unwrap_or_else(|| panic!("{m}: no cell"));
        let pins = cell.pins();
        let decl: Vec<String> = cell
            .inputs
            .iter()
            .map(|p| format!("input {p}"))
            .chain(cell.outputs.iter().map(|o| format!("output {}", o.pin)))
            .collect();
        let conn: Vec<String> = pins.iter().map(|p| format!(".{p}({p})")).collect();
        out += &format!("module {m}({}); {} u({}); endmodule\n", decl.join(", "), cell.name, conn.join(", "));
    }
    out
}

/// Netlists of the three dialects × three streams: every named net's toggle count is Icarus's.
#[test]
fn toggles_equal_icarus_vcd_value_changes() {
    let Some(root) = common::evoapprox() else { return };
    if !common::require_icarus() {
        return;
    }
    let cells = Path::new(env!("CARGO_MANIFEST_DIR")).join("verilog/cells_pdk45.v");
    let (mut nets_checked, mut toggles_total, mut glitchy) = (0, 0u64, 0);
    for (path, pdk45) in netlists(&root) {
        let net = netlist::parse_file(&path).unwrap_or_else(|e| panic!("{e}")).netlist;
        for (name, a, b) in streams() {
            let dir = tempfile::tempdir().unwrap();
            let tb = testbench(&net, dir.path(), &a, &b);
            let wrappers = dir.path().join("mangled.v");
            let w = mangled_wrappers(&std::fs::read_to_string(&path).unwrap());
            let wrappers_empty = w.is_empty();
            std::fs::write(&wrappers, w).unwrap();
            let mut sources: Vec<&Path> = vec![&tb, &path, &wrappers];
            if pdk45 || !wrappers_empty {
                sources.push(&cells);
            }
            let c = hdl::compile(hdl::Simulator::Icarus, "axdnn_toggle_tb", &sources, dir.path(), "").unwrap();
            c.run(&[]).unwrap();
            let vcd = std::fs::read_to_string(dir.path().join("t.vcd")).unwrap();
            let (icarus, raw) = vcd_toggles(&vcd);
            let ours = sim::toggles(&net, &columns(&net, &a, &b)).unwrap();
            let mut named = 0;
            for (node, &count) in net.nodes.iter().zip(&ours.per_node) {
                if node.name.starts_with('$') {
                    continue; // an expression's temporary: no net of the source
                }
                assert!(
                    vcd.contains(&format!(" {} ", node.name.split('[').next().unwrap())),
                    "{}: {} not dumped",
                    net.name,
                    node.name
                );
                let theirs = icarus.get(&node.name).copied().unwrap_or(0);
                assert_eq!(count, theirs, "{} {name}: net {} toggles {count}, Icarus {theirs}", net.name, node.name);
                glitchy += (raw.get(&node.name).copied().unwrap_or(0) != theirs) as usize;
                named += 1;
                toggles_total += count;
            }
            // Nothing Icarus saw switching is missing from the netlist.
            let names: std::collections::HashSet<&str> = net.nodes.iter().map(|n| n.name.as_str()).collect();
            for (bit, &c) in &icarus {
                assert!(
                    c == 0 || names.contains(bit.as_str()),
                    "{} {name}: Icarus net {bit} toggles {c}, not in the IR",
                    net.name
                );
            }
            nets_checked += named;
        }
    }
    eprintln!(
        "toggles equal Icarus on {nets_checked} (net, stream) pairs (7 netlists × 3 streams), {toggles_total} toggles; \
         {glitchy} nets with extra raw records inside a time step"
    );
}
