//! The gate graph: a `petgraph` view of an [`Netlist`] (edges run fan-in → gate), logic
//! levels, statistics, and function-preserving passes in the spirit of Yosys's `opt_*`:
//! constant propagation, alias/buffer removal, dead-gate removal and structural hashing. Each
//! pass does one job and returns a new, still topologically ordered netlist with the same ports.

use std::collections::{BTreeMap, HashMap};

use petgraph::graph::{DiGraph, NodeIndex};

use super::ir::{Netlist, Node, NodeId, Op, Port};

/// The netlist as a directed graph; node weights are IR node ids, edge weights the fan-in slot.
pub fn to_graph(n: &Netlist) -> DiGraph<NodeId, u8> {
    let mut g = DiGraph::with_capacity(n.nodes.len(), n.nodes.len() * 2);
    for i in 0..n.nodes.len() {
        g.add_node(i as NodeId);
    }
    for (i, node) in n.nodes.iter().enumerate() {
        for (k, &f) in node.fanin[..node.op.arity()].iter().enumerate() {
            g.add_edge(NodeIndex::new(f as usize), NodeIndex::new(i), k as u8);
        }
    }
    g
}

/// Logic level of every node: inputs and constants are level 0, a gate is one more than its
/// deepest fan-in. Computed over a topological order of the petgraph view (so it also holds for
/// a node list that is not sorted); `None` if the graph has a cycle.
pub fn levels(n: &Netlist) -> Option<Vec<u32>> {
    let g = to_graph(n);
    let order = petgraph::algo::toposort(&g, None).ok()?;
    let mut level = vec![0u32; n.nodes.len()];
    for ix in order {
        let i = g[ix] as usize;
        let node = &n.nodes[i];
        if node.op.arity() > 0 {
            level[i] = 1 + node.fanin[..node.op.arity()].iter().map(|&f| level[f as usize]).max().unwrap_or(0);
        }
    }
    Some(level)
}

/// What `axdnn netlist stats` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// The netlist's (module) name.
    pub name: String,
    /// Gate count per source cell type (`AND2X1`, `FAX1`, `assign`, ...); one per output node,
    /// so a FAX1 with both outputs used counts twice.
    pub gates_by_cell: BTreeMap<String, usize>,
    /// Cell instances per type, counting a multi-output cell once (outputs sharing fan-in).
    pub gates: usize,
    /// Library cell instances (`assign` gates not included). A multi-output cell (HAX1, FAX1)
    /// is one instance; its output nodes are recognised by their shared cell type and fan-in.
    pub cell_instances: usize,
    /// Library cell instances per cell type (same counting as `cell_instances`).
    pub instances_by_cell: BTreeMap<String, usize>,
    /// Longest input-to-output path in gates (buffers included).
    pub depth: u32,
    /// Primary input bits, all ports together.
    pub input_bits: usize,
    /// Primary output bits, all ports together.
    pub output_bits: usize,
    /// Input ports with their widths in bits, in the module header's order.
    pub inputs: Vec<(String, usize)>,
    /// Output ports with their widths in bits, in the module header's order.
    pub outputs: Vec<(String, usize)>,
}

/// Gate, cell-instance and depth counts of `n`, as `axdnn netlist stats` prints them.
pub fn stats(n: &Netlist) -> Stats {
    let mut by_cell = BTreeMap::new();
    let mut gates = 0;
    for node in &n.nodes {
        if node.op.arity() > 0 {
            *by_cell.entry(node.cell.clone()).or_insert(0) += 1;
            gates += 1;
        }
    }
    // Output nodes of multi-output cells, per (cell, fan-in, output op); identical instances
    // (same cell on the same fan-in) are told apart by counting.
    let mut multi: HashMap<(&str, [NodeId; 3]), HashMap<Op, usize>> = HashMap::new();
    let mut instances_by_cell: BTreeMap<String, usize> = BTreeMap::new();
    for node in &n.nodes {
        match super::cells::lookup(&node.cell) {
            Some(c) if c.outputs.len() > 1 => {
                *multi.entry((node.cell.as_str(), node.fanin)).or_default().entry(node.op).or_insert(0) += 1;
            }
            Some(_) => *instances_by_cell.entry(node.cell.clone()).or_insert(0) += 1,
            None => {}
        }
    }
    for ((cell, _), per_op) in &multi {
        *instances_by_cell.entry(cell.to_string()).or_insert(0) += per_op.values().max().copied().unwrap_or(0);
    }
    let cell_instances = instances_by_cell.values().sum();
    let level = levels(n).expect("an ir::Netlist is acyclic");
    let depth = n.outputs.iter().flat_map(|p| &p.bits).map(|&b| level[b as usize]).max().unwrap_or(0);
    let ports = |ps: &[Port]| ps.iter().map(|p| (p.name.clone(), p.width())).collect::<Vec<_>>();
    Stats {
        name: n.name.clone(),
        gates_by_cell: by_cell,
        gates,
        cell_instances,
        instances_by_cell,
        depth,
        input_bits: n.inputs.iter().map(Port::width).sum(),
        output_bits: n.outputs.iter().map(Port::width).sum(),
        inputs: ports(&n.inputs),
        outputs: ports(&n.outputs),
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |ps: &[(String, usize)]| ps.iter().map(|(n, w)| format!("{n}[{w}]")).collect::<Vec<_>>().join(" ");
        writeln!(f, "module   {}", self.name)?;
        writeln!(f, "inputs   {} bits: {}", self.input_bits, list(&self.inputs))?;
        writeln!(f, "outputs  {} bits: {}", self.output_bits, list(&self.outputs))?;
        writeln!(f, "gates    {} (nodes; a multi-output cell counts once per output)", self.gates)?;
        writeln!(f, "cells    {} (library cell instances)", self.cell_instances)?;
        writeln!(f, "depth    {}", self.depth)?;
        writeln!(f, "  {:<10} {:>7} {:>7}", "type", "nodes", "cells")?;
        for (cell, count) in &self.gates_by_cell {
            let inst = self.instances_by_cell.get(cell).map_or("-".to_string(), |c| c.to_string());
            writeln!(f, "  {cell:<10} {count:>7} {inst:>7}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Passes.

/// Builds the output of a pass: nodes appended in topological order, old ids mapped to new.
struct Rebuild<'n> {
    old: &'n Netlist,
    nodes: Vec<Node>,
    map: Vec<NodeId>,
}

impl<'n> Rebuild<'n> {
    /// Starts with the primary inputs (kept in place and order, so ports stay valid).
    fn new(old: &'n Netlist) -> Self {
        let mut r =
            Rebuild { old, nodes: Vec::with_capacity(old.nodes.len()), map: vec![NodeId::MAX; old.nodes.len()] };
        for p in &old.inputs {
            for &b in &p.bits {
                if r.map[b as usize] == NodeId::MAX {
                    r.map[b as usize] = r.push(old.nodes[b as usize].clone());
                }
            }
        }
        r
    }

    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        (self.nodes.len() - 1) as NodeId
    }

    /// The old node's fan-in, mapped to new ids.
    fn fanin(&self, node: &Node) -> [NodeId; 3] {
        let mut f = [0; 3];
        for (slot, &old) in f.iter_mut().zip(&node.fanin[..node.op.arity()]) {
            *slot = self.map[old as usize];
        }
        f
    }

    fn finish(self) -> Netlist {
        let map = |ps: &[Port]| {
            ps.iter()
                .map(|p| Port { name: p.name.clone(), bits: p.bits.iter().map(|&b| self.map[b as usize]).collect() })
                .collect()
        };
        Netlist {
            name: self.old.name.clone(),
            inputs: map(&self.old.inputs),
            outputs: map(&self.old.outputs),
            nodes: self.nodes,
        }
    }
}

/// A node's function over its distinct non-constant fan-ins, as a truth table.
enum Reduced {
    Const(bool),
    /// Identity of the fan-in (an alias).
    Same(NodeId),
    /// A (possibly simpler) gate.
    Gate(Op, [NodeId; 3]),
    /// Nothing to simplify.
    Keep,
}

/// Simplify a gate whose fan-in contains constants or repeated signals, by tabulating its
/// function over the remaining distinct variables.
fn reduce(op: Op, fanin: [NodeId; 3], constant: impl Fn(NodeId) -> Option<bool>) -> Reduced {
    let ar = op.arity();
    let mut vars: Vec<NodeId> = Vec::with_capacity(3);
    let mut any_const = false;
    for &f in &fanin[..ar] {
        if constant(f).is_some() {
            any_const = true;
        } else if !vars.contains(&f) {
            vars.push(f);
        }
    }
    if !any_const && vars.len() == ar {
        return Reduced::Keep;
    }
    // Truth table over `vars` (bit k of the index = value of vars[k]).
    let eval = |assign: usize| {
        let v = |f: NodeId| {
            constant(f).unwrap_or_else(|| {
                let k = vars.iter().position(|&x| x == f).expect("a variable");
                (assign >> k) & 1 == 1
            })
        };
        op.eval_word(v(fanin[0]), ar > 1 && v(fanin[1]), ar > 2 && v(fanin[2]))
    };
    let rows = 1usize << vars.len();
    let mut table = 0u32;
    for a in 0..rows {
        table |= (eval(a) as u32) << a;
    }
    // Drop variables the function does not depend on.
    let mut k = 0;
    while k < vars.len() {
        let n = vars.len();
        let depends = (0..1usize << n).any(|a| (table >> a & 1) != (table >> (a ^ (1 << k)) & 1));
        if depends {
            k += 1;
            continue;
        }
        // Re-tabulate without variable k (take rows where it is 0).
        let mut t = 0u32;
        let mut j = 0;
        for a in 0..1usize << n {
            if a >> k & 1 == 0 {
                t |= (table >> a & 1) << j;
                j += 1;
            }
        }
        table = t;
        vars.remove(k);
    }
    match (vars.len(), table) {
        (0, t) => Reduced::Const(t & 1 == 1),
        (1, 0b10) => Reduced::Same(vars[0]),
        (1, 0b01) => Reduced::Gate(Op::Not, [vars[0], 0, 0]),
        (2, t) => {
            let op = match t {
                0b1000 => Op::And,
                0b1110 => Op::Or,
                0b0110 => Op::Xor,
                0b0111 => Op::Nand,
                0b0001 => Op::Nor,
                0b1001 => Op::Xnor,
                _ => return Reduced::Keep,
            };
            Reduced::Gate(op, [vars[0], vars[1], 0])
        }
        _ => Reduced::Keep,
    }
}

/// Constant propagation (and simplification of gates with repeated inputs): a gate whose value
/// no longer depends on some fan-in is replaced by a constant, an alias, or a simpler gate.
pub fn const_prop(n: &Netlist) -> Netlist {
    let mut r = Rebuild::new(n);
    let mut consts: [Option<NodeId>; 2] = [None, None];
    let mut value: Vec<Option<bool>> = Vec::with_capacity(n.nodes.len());
    for (i, node) in n.nodes.iter().enumerate() {
        if r.map[i] != NodeId::MAX {
            continue; // a primary input, already placed
        }
        let fanin = r.fanin(node);
        let c = |f: NodeId| value.get(f as usize).copied().flatten();
        let red = match node.op {
            Op::Const0 => Reduced::Const(false),
            Op::Const1 => Reduced::Const(true),
            Op::Input => Reduced::Keep,
            op => reduce(op, fanin, c),
        };
        let new = match red {
            Reduced::Const(b) => match consts[b as usize] {
                Some(id) => id,
                None => {
                    let op = if b { Op::Const1 } else { Op::Const0 };
                    let id = r.push(Node { op, fanin: [0; 3], cell: "const".into(), name: node.name.clone() });
                    consts[b as usize] = Some(id);
                    id
                }
            },
            Reduced::Same(f) => f,
            Reduced::Gate(op, fanin) => r.push(Node { op, fanin, cell: node.cell.clone(), name: node.name.clone() }),
            Reduced::Keep => r.push(Node { fanin, ..node.clone() }),
        };
        r.map[i] = new;
        value.resize(r.nodes.len(), None);
        if let Reduced::Const(b) = red {
            value[new as usize] = Some(b);
        }
    }
    r.finish()
}

/// Alias/buffer removal: every `Buf` (BUFX2 cells and `assign x = y;`) is replaced by its
/// fan-in, so readers and output ports connect to the driver directly.
pub fn remove_buffers(n: &Netlist) -> Netlist {
    let mut r = Rebuild::new(n);
    for (i, node) in n.nodes.iter().enumerate() {
        if r.map[i] != NodeId::MAX {
            continue;
        }
        let fanin = r.fanin(node);
        r.map[i] = if node.op == Op::Buf { fanin[0] } else { r.push(Node { fanin, ..node.clone() }) };
    }
    r.finish()
}

/// Dead-gate removal: keeps primary inputs and the transitive fan-in of the outputs.
pub fn remove_dead(n: &Netlist) -> Netlist {
    let mut live = vec![false; n.nodes.len()];
    for p in &n.outputs {
        for &b in &p.bits {
            live[b as usize] = true;
        }
    }
    for i in (0..n.nodes.len()).rev() {
        if live[i] {
            let node = &n.nodes[i];
            for &f in &node.fanin[..node.op.arity()] {
                live[f as usize] = true;
            }
        }
    }
    let mut r = Rebuild::new(n);
    for (i, node) in n.nodes.iter().enumerate() {
        if r.map[i] == NodeId::MAX && live[i] {
            let fanin = r.fanin(node);
            r.map[i] = r.push(Node { fanin, ..node.clone() });
        }
    }
    r.finish()
}

/// Fan-in in canonical order for hashing: symmetric inputs sorted.
fn canonical(op: Op, mut f: [NodeId; 3]) -> [NodeId; 3] {
    match op {
        Op::And | Op::Or | Op::Xor | Op::Nand | Op::Nor | Op::Xnor => f[..2].sort_unstable(),
        Op::Nand3 | Op::Nor3 | Op::Xor3 | Op::Maj => f.sort_unstable(),
        Op::Aoi21 | Op::Oai21 => f[..2].sort_unstable(),
        _ => {}
    }
    f
}

/// Structural hashing: gates with the same operation on the same (canonically ordered) fan-in
/// are merged into the first one. The cell tag of the first is kept.
pub fn strash(n: &Netlist) -> Netlist {
    let mut r = Rebuild::new(n);
    let mut seen: HashMap<(Op, [NodeId; 3]), NodeId> = HashMap::with_capacity(n.nodes.len());
    for (i, node) in n.nodes.iter().enumerate() {
        if r.map[i] != NodeId::MAX {
            continue;
        }
        let key = (node.op, canonical(node.op, r.fanin(node)));
        r.map[i] = match seen.get(&key) {
            Some(&id) => id,
            None => {
                let id = r.push(Node { fanin: key.1, ..node.clone() });
                seen.insert(key, id);
                id
            }
        };
    }
    r.finish()
}

/// The passes in a sensible order, repeated until the node count stops shrinking.
pub fn optimize(n: &Netlist) -> Netlist {
    let mut cur = n.clone();
    loop {
        let next = remove_dead(&strash(&remove_buffers(&const_prop(&cur))));
        if next.nodes.len() >= cur.nodes.len() {
            return cur;
        }
        cur = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(op: Op, fanin: [NodeId; 3], name: &str) -> Node {
        Node { op, fanin, cell: "assign".into(), name: name.into() }
    }

    /// a, b inputs; c1 = 1; x = a & c1 (= a); y = x ^ x (= 0); z = y | b (= b); w = Mux(a, a, b) (= a)
    fn sample() -> Netlist {
        Netlist {
            name: "t".into(),
            nodes: vec![
                node(Op::Input, [0; 3], "a"),
                node(Op::Input, [0; 3], "b"),
                node(Op::Const1, [0; 3], "c1"),
                node(Op::And, [0, 2, 0], "x"),
                node(Op::Xor, [3, 3, 0], "y"),
                node(Op::Or, [4, 1, 0], "z"),
                node(Op::Mux, [0, 0, 1], "w"),
                node(Op::Buf, [5, 0, 0], "zb"),
                node(Op::And, [1, 0, 0], "dead1"),
                node(Op::And, [0, 1, 0], "dead2"),
            ],
            inputs: vec![Port { name: "A".into(), bits: vec![0] }, Port { name: "B".into(), bits: vec![1] }],
            outputs: vec![Port { name: "O".into(), bits: vec![3, 4, 5, 6, 7, 8, 9] }],
        }
    }

    fn same_function(a: &Netlist, b: &Netlist) {
        for v in 0..4 {
            let ins = [vec![v & 1 == 1], vec![v & 2 == 2]];
            assert_eq!(a.eval_scalar(&ins), b.eval_scalar(&ins), "inputs {v:02b}");
        }
        for (i, node) in b.nodes.iter().enumerate() {
            assert!(node.fanin[..node.op.arity()].iter().all(|&f| (f as usize) < i), "not topological");
        }
    }

    #[test]
    fn const_prop_folds_constants_and_repeats() {
        let n = sample();
        let c = const_prop(&n);
        same_function(&n, &c);
        // x, y, z, w all collapse: only a, b, const0, buffer and the two dead ANDs remain.
        assert!(c.nodes.iter().all(|x| !matches!(x.op, Op::Xor | Op::Or | Op::Mux)), "{c:#?}");
        assert_eq!(c.outputs[0].bits[0], 0, "x = a");
        assert_eq!(c.outputs[0].bits[3], 0, "w = a");
    }

    #[test]
    fn buffers_dead_gates_and_hashing() {
        let n = sample();
        let b = remove_buffers(&n);
        same_function(&n, &b);
        assert!(b.nodes.iter().all(|x| x.op != Op::Buf));
        let s = strash(&n);
        same_function(&n, &s);
        assert_eq!(s.nodes.len(), n.nodes.len() - 1, "dead1 and dead2 are the same AND");
        let d = remove_dead(&s);
        same_function(&n, &d);
        let o = optimize(&n);
        same_function(&n, &o);
        // a, b, const0, and1 (b&a) for dead1/dead2
        assert_eq!(o.nodes.len(), 4, "{o:#?}");
        let st = stats(&n);
        assert_eq!((st.input_bits, st.output_bits, st.depth), (2, 7, 4));
    }
}
