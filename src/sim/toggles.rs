//! How often each net switches over an ordered stream of input vectors (for a multiplier: the
//! operand pairs one processing element sees, in the order it sees them) — the activity that
//! dynamic energy is made of.
//!
//! Bit-parallel over stream positions: lane `t` of a block is stream position `base + t`, so the
//! positions a net's word holds are consecutive, and the positions where it switched are the set
//! bits of `word ^ (word << 1 | last lane of the previous word)`; a popcount counts them. Every
//! gate evaluation therefore serves `64·L` positions, as in the exhaustive sweeps. The stream is
//! cut into fixed chunks simulated in parallel; the toggles across a cut are added from each
//! chunk's first and last values, so counts never depend on the thread count.
//!
//! A toggle is a change between consecutive vectors: `n` vectors have `n − 1` transitions (prepend
//! a reset vector to count the switching out of it). Zero delay: glitches are not counted.

use rayon::prelude::*;

use super::program::{BitSource, Lanes, Program};
use super::sweep::MulShape;
use super::transpose::lanes_to_planes;
use super::SimError;
use crate::netlist::ir::Netlist;

/// Words per block: `64·L` stream positions per instruction.
const L: usize = super::sweep::LANE_WORDS;

/// Stream positions per parallel work item (a multiple of `64·L`); fixed, so the split does not
/// depend on the thread count.
const CHUNK: usize = 1 << 14;

/// Toggle counts of every net over a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toggles {
    /// Number of vectors in the stream.
    pub vectors: usize,
    /// Per node of the netlist ([`crate::netlist::NodeId`] order): how many consecutive vectors
    /// it differs between. A buffer has its source's count (it is the same net).
    pub per_node: Vec<u64>,
    /// Per node: how many of those toggles are rises (0 → 1); the rest are falls.
    pub rises: Vec<u64>,
}

impl Toggles {
    /// Transitions in the stream (`vectors − 1`; 0 for an empty stream): the most any net can toggle.
    pub fn transitions(&self) -> u64 {
        self.vectors.saturating_sub(1) as u64
    }

    /// Toggles of node `i` per transition (0 for a stream without transitions).
    pub fn rate(&self, i: usize) -> f64 {
        match self.transitions() {
            0 => 0.0,
            t => self.per_node[i] as f64 / t as f64,
        }
    }
}

/// Toggle counts of every net of `net` over a stream given per input port: `stream[p][t]` is the
/// value of input port `p` (in `net.inputs` order) at position `t`, bit `k` = port bit `k`. All
/// columns have the stream's length; ports are at most 64 bits wide.
pub fn toggles(net: &Netlist, stream: &[&[u64]]) -> Result<Toggles, SimError> {
    let circuit = || net.name.clone();
    if stream.len() != net.inputs.len() {
        return Err(SimError::Stream {
            circuit: circuit(),
            what: format!("{} port columns for {} input ports", stream.len(), net.inputs.len()),
        });
    }
    let n = stream.first().map_or(0, |c| c.len());
    if let Some(p) = stream.iter().position(|c| c.len() != n) {
        return Err(SimError::Stream {
            circuit: circuit(),
            what: format!(
                "port {} has {} values, port {} has {n}",
                net.inputs[p].name,
                stream[p].len(),
                net.inputs[0].name
            ),
        });
    }
    if let Some(p) = net.inputs.iter().find(|p| p.width() > 64) {
        return Err(SimError::TooWide { circuit: circuit(), port: p.name.clone(), width: p.width(), max: 64 });
    }
    let (prog, slot_of) = Program::compile_observable(net);
    let parts: Vec<Part> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| chunk(&prog, stream, c * CHUNK, CHUNK.min(n - c * CHUNK)))
        .collect();
    let (mut counts, mut rises) = (vec![0u64; prog.n_slots], vec![0u64; prog.n_slots]);
    for (k, part) in parts.iter().enumerate() {
        for s in 0..prog.n_slots {
            counts[s] += part.counts[s];
            rises[s] += part.rises[s];
            if k > 0 && part.first[s] != parts[k - 1].last[s] {
                counts[s] += 1;
                rises[s] += part.first[s] as u64;
            }
        }
    }
    Ok(Toggles {
        vectors: n,
        per_node: slot_of.iter().map(|&s| counts[s as usize]).collect(),
        rises: slot_of.iter().map(|&s| rises[s as usize]).collect(),
    })
}

/// [`toggles`] of a multiplier over operand pairs in stream order: `rows[t]` goes to the row
/// operand's port and `cols[t]` to the column operand's (`shape`, e.g. from [`MulShape::of`]).
pub fn toggles_of_pairs(net: &Netlist, shape: &MulShape, rows: &[u32], cols: &[u32]) -> Result<Toggles, SimError> {
    if rows.len() != cols.len() {
        return Err(SimError::Stream {
            circuit: net.name.clone(),
            what: format!("{} row operands, {} column operands", rows.len(), cols.len()),
        });
    }
    let widen = |v: &[u32]| v.iter().map(|&x| x as u64).collect::<Vec<u64>>();
    let (r, c) = (widen(rows), widen(cols));
    let mut columns: Vec<&[u64]> = vec![&[]; net.inputs.len()];
    columns[shape.row_input] = &r;
    columns[shape.col_input] = &c;
    toggles(net, &columns)
}

/// One chunk's result, per value slot: toggles and rises inside the chunk, its first and last values.
struct Part {
    counts: Vec<u64>,
    rises: Vec<u64>,
    first: Vec<bool>,
    last: Vec<bool>,
}

fn chunk(prog: &Program, stream: &[&[u64]], start: usize, len: usize) -> Part {
    let ns = prog.n_slots;
    let mut slots = prog.scratch::<L>();
    let mut part = Part { counts: vec![0; ns], rises: vec![0; ns], first: vec![false; ns], last: vec![false; ns] };
    let mut vals = vec![0u64; 64 * L];
    let mut planes: Vec<Vec<Lanes<L>>> = prog.input_slots.iter().map(|p| vec![Lanes::ZERO; p.len()]).collect();
    let mut done = 0;
    while done < len {
        let m = (len - done).min(64 * L);
        for (p, col) in stream.iter().enumerate() {
            vals[..m].copy_from_slice(&col[start + done..start + done + m]);
            vals[m..].fill(0);
            lanes_to_planes(&vals, &mut planes[p]);
            for (j, src) in prog.input_slots[p].iter().enumerate() {
                if let BitSource::Slot(s) = src {
                    slots[*s as usize] = planes[p][j];
                }
            }
        }
        prog.run(&mut slots);
        let first_block = done == 0;
        let (last_word, last_bit) = ((m - 1) / 64, (m - 1) % 64);
        for (s, value) in slots.iter().enumerate().take(ns) {
            let v = &value.0;
            // Lane 0 of the chunk has no predecessor here: compare it with itself (no toggle).
            let mut carry = if first_block { v[0] & 1 } else { part.last[s] as u64 };
            let (mut t, mut r) = (0u64, 0u64);
            for (w, &x) in v.iter().enumerate().take(last_word + 1) {
                let mut d = x ^ ((x << 1) | carry);
                carry = x >> 63;
                if w == last_word && last_bit < 63 {
                    d &= (1u64 << (last_bit + 1)) - 1;
                }
                t += d.count_ones() as u64;
                r += (d & x).count_ones() as u64;
            }
            part.counts[s] += t;
            part.rises[s] += r;
            if first_block {
                part.first[s] = v[0] & 1 == 1;
            }
            part.last[s] = (v[last_word] >> last_bit) & 1 == 1;
        }
        done += m;
    }
    part
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlist::ir::{Node, Op, Port};

    /// `y = a ^ b`, `z = !y` through a buffer; a dead `and` nothing reads.
    fn tiny() -> Netlist {
        let node = |op, fanin, name: &str| Node { op, fanin, cell: "t".into(), name: name.into() };
        Netlist {
            name: "tiny".into(),
            nodes: vec![
                node(Op::Input, [0; 3], "a"),
                node(Op::Input, [0; 3], "b"),
                node(Op::Xor, [0, 1, 0], "y"),
                node(Op::Not, [2, 0, 0], "z"),
                node(Op::Buf, [3, 0, 0], "zb"),
                node(Op::And, [0, 1, 0], "dead"),
            ],
            inputs: vec![Port { name: "a".into(), bits: vec![0] }, Port { name: "b".into(), bits: vec![1] }],
            outputs: vec![Port { name: "o".into(), bits: vec![4] }],
        }
    }

    #[test]
    fn counts_changes_between_consecutive_vectors() {
        let a = [0, 1, 1, 0, 0, 1];
        let b = [0, 0, 1, 1, 0, 1];
        let t = toggles(&tiny(), &[&a, &b]).unwrap();
        // y = 0 1 0 1 0 0 → 4; z and zb the same; dead = 0 0 1 0 0 1 → 3.
        assert_eq!(t.per_node, [3, 3, 4, 4, 4, 3]);
        assert_eq!(t.rises, [2, 2, 2, 2, 2, 2]);
        assert_eq!(t.transitions(), 5);
        assert_eq!(t.rate(2), 0.8);
    }

    /// Across words, blocks and chunks (alternating input: every transition toggles).
    #[test]
    fn boundaries_of_words_blocks_and_chunks_count() {
        for n in [0, 1, 2, 63, 64, 65, 64 * L, 64 * L + 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 77] {
            let a: Vec<u64> = (0..n as u64).map(|t| t & 1).collect();
            let b = vec![0u64; n];
            let t = toggles(&tiny(), &[&a, &b]).unwrap();
            assert_eq!(t.per_node[0], n.saturating_sub(1) as u64, "n = {n}");
            assert_eq!(t.rises[0], n as u64 / 2, "n = {n}");
            assert_eq!(t.per_node[1], 0);
            assert_eq!(t.per_node[5], 0);
        }
    }

    #[test]
    fn shape_errors() {
        let a = [0u64; 3];
        let e = toggles(&tiny(), &[&a]).unwrap_err().to_string();
        assert_eq!(e, "circuit tiny: operand stream: 1 port columns for 2 input ports");
        let e = toggles(&tiny(), &[&a, &a[..2]]).unwrap_err().to_string();
        assert_eq!(e, "circuit tiny: operand stream: port b has 2 values, port a has 3");
    }
}
