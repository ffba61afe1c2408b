//! A netlist compiled once into a flat, levelized instruction program over packed words.
//!
//! Compilation removes buffers (aliases), drops gates no output depends on, and allocates value
//! slots by liveness so the working set stays small (a few hundred slots even for 2000-net
//! N-bus netlists). Evaluation then runs the instruction list over a block of `64·L` input vectors
//! at a time: every instruction is a word-wise boolean function over `[u64; L]`, which the
//! compiler vectorizes.

use crate::netlist::ir::{Netlist, NodeId, Op};

/// `64·L` simulation lanes: lane `64·w + i` is bit `i` of word `w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct Lanes<const L: usize>(pub [u64; L]);

impl<const L: usize> Lanes<L> {
    /// All lanes 0.
    pub const ZERO: Self = Lanes([0; L]);
    /// Number of lanes (input vectors) in one value: `64·L`.
    pub const LANES: usize = 64 * L;
}

// Index loops over `[u64; L]` are the form the compiler vectorizes most reliably.
#[allow(clippy::needless_range_loop)]
mod ops {
    use super::Lanes;
    use std::ops::{BitAnd, BitOr, BitXor, Not};
    macro_rules! lanes_op {
    ($tr:ident, $f:ident, $op:tt) => {
        impl<const L: usize> $tr for Lanes<L> {
            type Output = Self;
            #[inline(always)]
            fn $f(self, rhs: Self) -> Self {
                let mut r = [0u64; L];
                for i in 0..L {
                    r[i] = self.0[i] $op rhs.0[i];
                }
                Lanes(r)
            }
        }
    };
}
    lanes_op!(BitAnd, bitand, &);
    lanes_op!(BitOr, bitor, |);
    lanes_op!(BitXor, bitxor, ^);

    impl<const L: usize> Not for Lanes<L> {
        type Output = Self;
        #[inline(always)]
        fn not(self) -> Self {
            let mut r = [0u64; L];
            for i in 0..L {
                r[i] = !self.0[i];
            }
            Lanes(r)
        }
    }
}

/// One gate evaluation: `slots[dst] = op(slots[src0], slots[src1], slots[src2])`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instr {
    /// The gate's function.
    pub op: Op,
    /// Slot the result is written to.
    pub dst: u32,
    /// Fan-in slots; only the first `op.arity()` are read.
    pub src: [u32; 3],
}

/// Where a port bit lives during evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitSource {
    /// A value slot (an input, gate output or constant computed by the program).
    Slot(u32),
    /// An input bit nothing depends on; it is not loaded.
    Unused,
}

/// A compiled netlist: gate instructions over value slots, and where each port bit lives.
#[derive(Debug, Clone)]
pub struct Program {
    /// The netlist's name.
    pub name: String,
    /// Instructions in evaluation (topological) order.
    pub instrs: Vec<Instr>,
    /// Number of value slots a run needs (see [`Program::scratch`]).
    pub n_slots: usize,
    /// Per netlist input port, per bit (LSB first): the slot to load it into.
    pub input_slots: Vec<Vec<BitSource>>,
    /// Per netlist output port, per bit (LSB first): the slot holding it after `run`.
    pub output_slots: Vec<Vec<u32>>,
    /// Number of gates in the netlist before compilation (inputs excluded).
    pub source_gates: usize,
}

impl Program {
    /// Levelize and register-allocate `net` (already topologically ordered by construction).
    pub fn compile(net: &Netlist) -> Program {
        let n = net.nodes.len();
        // Resolve buffer chains: alias[i] is the node whose value node i carries.
        let mut alias: Vec<NodeId> = (0..n as NodeId).collect();
        for (i, node) in net.nodes.iter().enumerate() {
            if node.op == Op::Buf {
                alias[i] = alias[node.fanin[0] as usize];
            }
        }
        let fanins = |i: usize| {
            let node = &net.nodes[i];
            let k = node.op.arity();
            let mut f = [None; 3];
            for (j, slot) in f.iter_mut().enumerate().take(k) {
                *slot = Some(alias[node.fanin[j] as usize]);
            }
            f
        };
        // Liveness: walk back from the outputs.
        let mut live = vec![false; n];
        for p in &net.outputs {
            for &b in &p.bits {
                live[alias[b as usize] as usize] = true;
            }
        }
        for i in (0..n).rev() {
            if live[i] && alias[i] as usize == i {
                for f in fanins(i).into_iter().flatten() {
                    live[f as usize] = true;
                }
            }
        }
        // Last use of each live node (outputs are used "forever").
        const FOREVER: usize = usize::MAX;
        let mut last_use = vec![0usize; n];
        for i in 0..n {
            if live[i] && alias[i] as usize == i {
                for f in fanins(i).into_iter().flatten() {
                    last_use[f as usize] = last_use[f as usize].max(i);
                }
            }
        }
        for p in &net.outputs {
            for &b in &p.bits {
                last_use[alias[b as usize] as usize] = FOREVER;
            }
        }
        // Inputs are loaded before any gate runs, so they get their slots first and their
        // slots are freed after their last reader like any other value.
        let mut slot_of = vec![u32::MAX; n];
        let mut free: Vec<u32> = Vec::new();
        let mut n_slots = 0u32;
        let mut alloc = |free: &mut Vec<u32>| {
            free.pop().unwrap_or_else(|| {
                n_slots += 1;
                n_slots - 1
            })
        };
        for (i, node) in net.nodes.iter().enumerate() {
            if node.op == Op::Input && live[i] {
                slot_of[i] = alloc(&mut free);
            }
        }
        // Readers of each node, to free slots after the last one.
        let mut instrs = Vec::new();
        let mut source_gates = 0;
        for i in 0..n {
            let node = &net.nodes[i];
            if node.op != Op::Input {
                source_gates += 1;
            }
            if !live[i] || alias[i] as usize != i || node.op == Op::Input {
                continue;
            }
            let f = fanins(i);
            let src = f.map(|x| x.map_or(0, |x| slot_of[x as usize]));
            // Free fan-ins that die here before allocating the result: the word-wise evaluation
            // reads all operands before writing, so dst may reuse a source slot.
            for x in f.into_iter().flatten() {
                if last_use[x as usize] == i {
                    let s = slot_of[x as usize];
                    if !free.contains(&s) {
                        free.push(s);
                    }
                }
            }
            let dst = alloc(&mut free);
            slot_of[i] = dst;
            instrs.push(Instr { op: node.op, dst, src });
        }
        let input_slots = net
            .inputs
            .iter()
            .map(|p| {
                p.bits
                    .iter()
                    .map(|&b| {
                        let s = slot_of[b as usize];
                        if s == u32::MAX {
                            BitSource::Unused
                        } else {
                            BitSource::Slot(s)
                        }
                    })
                    .collect()
            })
            .collect();
        let output_slots =
            net.outputs.iter().map(|p| p.bits.iter().map(|&b| slot_of[alias[b as usize] as usize]).collect()).collect();
        Program {
            name: net.name.clone(),
            instrs,
            n_slots: (n_slots as usize).max(1),
            input_slots,
            output_slots,
            source_gates,
        }
    }

    /// Compile keeping every node observable, for per-net statistics such as toggle counts: no
    /// gate is dropped (a gate nothing reads still switches) and every node keeps its own slot for
    /// the whole run; a buffer shares its source's slot (the same net). Returns the program and
    /// the slot of each node ([`NodeId`] order).
    pub fn compile_observable(net: &Netlist) -> (Program, Vec<u32>) {
        let mut slot_of = vec![0u32; net.nodes.len()];
        let mut instrs = Vec::new();
        let mut n_slots = 0u32;
        for (i, node) in net.nodes.iter().enumerate() {
            if node.op == Op::Buf {
                slot_of[i] = slot_of[node.fanin[0] as usize];
                continue;
            }
            slot_of[i] = n_slots;
            n_slots += 1;
            if node.op != Op::Input {
                let src =
                    std::array::from_fn(|k| if k < node.op.arity() { slot_of[node.fanin[k] as usize] } else { 0 });
                instrs.push(Instr { op: node.op, dst: slot_of[i], src });
            }
        }
        let input_slots =
            net.inputs.iter().map(|p| p.bits.iter().map(|&b| BitSource::Slot(slot_of[b as usize])).collect()).collect();
        let output_slots = net.outputs.iter().map(|p| p.bits.iter().map(|&b| slot_of[b as usize]).collect()).collect();
        let program = Program {
            name: net.name.clone(),
            instrs,
            n_slots: (n_slots as usize).max(1),
            input_slots,
            output_slots,
            source_gates: net.nodes.iter().filter(|n| n.op != Op::Input).count(),
        };
        (program, slot_of)
    }

    /// A zeroed value store for `run`.
    pub fn scratch<const L: usize>(&self) -> Vec<Lanes<L>> {
        vec![Lanes::ZERO; self.n_slots]
    }

    /// Evaluate every instruction once over `64·L` lanes. Input slots must be loaded first.
    #[inline(always)]
    pub fn run<const L: usize>(&self, slots: &mut [Lanes<L>]) {
        assert!(slots.len() >= self.n_slots);
        for ins in &self.instrs {
            // SAFETY: slots were allocated below n_slots by construction and the length is checked
            // above.
            let (a, b, c) = unsafe {
                (
                    *slots.get_unchecked(ins.src[0] as usize),
                    *slots.get_unchecked(ins.src[1] as usize),
                    *slots.get_unchecked(ins.src[2] as usize),
                )
            };
            let r = ins.op.eval_word(a, b, c);
            // SAFETY: as above, `dst < n_slots ≤ slots.len()`.
            unsafe {
                *slots.get_unchecked_mut(ins.dst as usize) = r;
            }
        }
    }
}
