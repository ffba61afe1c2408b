//! The elaborated, flat gate-level form of a circuit: what the simulator, the LUT builder and the
//! RTL emitter consume. Produced by the parser/elaborator (`netlist::parse` + `netlist::build`)
//! and by the generator (`gen`).
//!
//! One node = one single-bit signal. Primary inputs and constants are nodes too; every other node
//! is a gate whose fan-in are earlier nodes, so `nodes` is always in topological order (a node's
//! fan-in ids are smaller than its own id). Multi-output cells (HAX1, FAX1) become one node per
//! output; `Node::cell` remembers which library cell a node came from, for statistics.

use serde::{Deserialize, Serialize};

/// Index of a node in [`Netlist::nodes`].
pub type NodeId = u32;

/// Primitive single-output operations the simulator evaluates. Three-input forms exist because the
/// PDK45 cells have them and keeping them whole keeps the gate count honest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Op {
    /// Primary input bit (no fan-in).
    Input,
    /// Constant 0 (no fan-in).
    Const0,
    /// Constant 1 (no fan-in).
    Const1,
    /// `a` (a buffer).
    Buf,
    /// `~a`
    Not,
    /// `a & b`
    And,
    /// `a | b`
    Or,
    /// `a ^ b`
    Xor,
    /// `~(a & b)`
    Nand,
    /// `~(a | b)`
    Nor,
    /// `~(a ^ b)`
    Xnor,
    /// `~(a & b & c)`
    Nand3,
    /// `~(a | b | c)`
    Nor3,
    /// `~((a & b) | c)`
    Aoi21,
    /// `~((a | b) & c)`
    Oai21,
    /// `s ? b : a` with fan-in `[a, b, s]`
    Mux,
    /// `a ^ b ^ c` (full-adder sum)
    Xor3,
    /// majority of three (full-adder carry)
    Maj,
}

impl Op {
    /// Number of fan-in signals.
    pub fn arity(self) -> usize {
        match self {
            Op::Input | Op::Const0 | Op::Const1 => 0,
            Op::Buf | Op::Not => 1,
            Op::And | Op::Or | Op::Xor | Op::Nand | Op::Nor | Op::Xnor => 2,
            Op::Nand3 | Op::Nor3 | Op::Aoi21 | Op::Oai21 | Op::Mux | Op::Xor3 | Op::Maj => 3,
        }
    }

    /// Evaluate on packed words: each bit position is an independent input vector.
    #[inline(always)]
    pub fn eval_word<W>(self, a: W, b: W, c: W) -> W
    where
        W: Copy
            + std::ops::BitAnd<Output = W>
            + std::ops::BitOr<Output = W>
            + std::ops::BitXor<Output = W>
            + std::ops::Not<Output = W>,
    {
        match self {
            Op::Input => a,
            // `a & !a` is all-zero lanes of the word type without needing a zero constant.
            Op::Const0 => a & !a,
            Op::Const1 => a | !a,
            Op::Buf => a,
            Op::Not => !a,
            Op::And => a & b,
            Op::Or => a | b,
            Op::Xor => a ^ b,
            Op::Nand => !(a & b),
            Op::Nor => !(a | b),
            Op::Xnor => !(a ^ b),
            Op::Nand3 => !(a & b & c),
            Op::Nor3 => !(a | b | c),
            Op::Aoi21 => !((a & b) | c),
            Op::Oai21 => !((a | b) & c),
            Op::Mux => (a & !c) | (b & c),
            Op::Xor3 => a ^ b ^ c,
            Op::Maj => (a & b) | (a & c) | (b & c),
        }
    }
}

/// One single-bit signal: a primary input, a constant or a gate over earlier nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// What the node computes from its fan-in.
    pub op: Op,
    /// Fan-in; only the first `op.arity()` entries are meaningful (the rest are 0).
    pub fanin: [NodeId; 3],
    /// The library cell or expression operator this node came from (e.g. "FAX1", "assign"),
    /// for per-type statistics.
    pub cell: String,
    /// A human-readable net name (e.g. `N[32]`, `sig_17`), for error messages and dumps.
    pub name: String,
}

/// A named multi-bit port; `bits[0]` is the least significant bit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// The port's name (e.g. `A`, `O`).
    pub name: String,
    /// The port's nodes, least significant bit first.
    pub bits: Vec<NodeId>,
}

impl Port {
    /// Width in bits.
    pub fn width(&self) -> usize {
        self.bits.len()
    }
}

/// A flat, topologically ordered combinational circuit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Netlist {
    /// Module name (for EvoApprox circuits, the circuit name such as `mul8u_1JFF`).
    pub name: String,
    /// Every node, in topological order (fan-in ids are smaller than a node's own id).
    pub nodes: Vec<Node>,
    /// Primary input ports, in the module header's order.
    pub inputs: Vec<Port>,
    /// Primary output ports, in the module header's order.
    pub outputs: Vec<Port>,
}

impl Netlist {
    /// The input port named `name`.
    pub fn input(&self, name: &str) -> Option<&Port> {
        self.inputs.iter().find(|p| p.name == name)
    }

    /// The output port named `name`.
    pub fn output(&self, name: &str) -> Option<&Port> {
        self.outputs.iter().find(|p| p.name == name)
    }

    /// Reference evaluation, one vector at a time: `inputs[i]` holds the bits of `self.inputs[i]`
    /// (LSB first). Returns one `Vec<bool>` per output port. Slow; it is the oracle the
    /// bit-parallel simulator is tested against.
    pub fn eval_scalar(&self, inputs: &[Vec<bool>]) -> Vec<Vec<bool>> {
        let v = self.eval_nodes_scalar(inputs);
        self.outputs.iter().map(|p| p.bits.iter().map(|&id| v[id as usize]).collect()).collect()
    }

    /// Every node's value for one input vector (as [`Netlist::eval_scalar`] takes it), indexed
    /// by [`NodeId`]: the oracle of per-net simulation results such as toggle counts.
    pub fn eval_nodes_scalar(&self, inputs: &[Vec<bool>]) -> Vec<bool> {
        let mut v = vec![false; self.nodes.len()];
        for (port, bits) in self.inputs.iter().zip(inputs) {
            for (&id, &b) in port.bits.iter().zip(bits) {
                v[id as usize] = b;
            }
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if n.op == Op::Input {
                continue;
            }
            let [a, b, c] = n.fanin.map(|f| v[f as usize]);
            v[i] = n.op.eval_word(a, b, c);
        }
        v
    }
}
