//! Sweeps of a multiplier netlist over operand pairs: exhaustive (every pair, LUT order) and
//! seeded random sampling. Work is split into fixed chunks evaluated in parallel, so results never
//! depend on the number of threads.

use super::operand::{exact_product, RowPort};
use super::program::{BitSource, Lanes, Program};
use super::transpose::{lanes_to_planes, planes_to_lanes};
use super::SimError;
use crate::netlist::ir::Netlist;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Largest operand-bit total swept exhaustively (2^20 pairs).
pub const MAX_EXHAUSTIVE_BITS: u32 = 20;

/// Lanes per block used by the sweeps (`64·LANE_WORDS` vectors per instruction).
pub const LANE_WORDS: usize = 16;

/// Pairs per parallel work item; fixed so the split does not depend on the thread count.
const CHUNK: usize = 1 << 13;

/// How a two-operand netlist is read as a multiplier: which input ports are the LUT row and
/// column, which output is the product, and how codes are interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MulShape {
    /// Which operand port (`A` or `B`) is the table row.
    pub row_port: RowPort,
    /// Index of the row / column operand in `Netlist::inputs`.
    pub row_input: usize,
    /// Index of the column operand's port in `Netlist::inputs`.
    pub col_input: usize,
    /// Width of the row operand in bits (at most 31).
    pub row_bits: u32,
    /// Width of the column operand in bits (at most 31).
    pub col_bits: u32,
    /// Width of the product port in bits (at most 64).
    pub out_bits: u32,
    /// Whether operand and product codes are two's complement.
    pub signed: bool,
}

impl MulShape {
    /// Operand ports are `A` and `B`; the product is the single output port (`O`, or `Z` in a few
    /// behavioural files).
    pub fn of(net: &Netlist, row_port: RowPort, signed: bool) -> Result<MulShape, SimError> {
        let find = |name: &str| {
            net.inputs
                .iter()
                .position(|p| p.name == name)
                .ok_or_else(|| SimError::MissingInput { circuit: net.name.clone(), port: name.to_string() })
        };
        let a = find("A")?;
        let b = find("B")?;
        crate::netlist::multiplier::multiplier_ports(net)?;
        if net.outputs.len() != 1 {
            return Err(SimError::Outputs { circuit: net.name.clone(), found: net.outputs.len() });
        }
        let (row_input, col_input) = match row_port {
            RowPort::A => (a, b),
            RowPort::B => (b, a),
        };
        let check = |p: &crate::netlist::ir::Port, max: usize| {
            if p.width() > max || p.width() == 0 {
                Err(SimError::TooWide { circuit: net.name.clone(), port: p.name.clone(), width: p.width(), max })
            } else {
                Ok(p.width() as u32)
            }
        };
        let row_bits = check(&net.inputs[row_input], 31)?;
        let col_bits = check(&net.inputs[col_input], 31)?;
        let out_bits = check(&net.outputs[0], 64)?;
        Ok(MulShape { row_port, row_input, col_input, row_bits, col_bits, out_bits, signed })
    }

    /// Interpret an output code (sign-extended from `out_bits` when signed).
    #[inline]
    pub fn product(&self, code: u64) -> i64 {
        let n = self.out_bits;
        if self.signed && n < 64 && (code >> (n - 1)) & 1 == 1 {
            (code | (!0u64 << n)) as i64
        } else {
            code as i64
        }
    }

    /// The exact product of two operand codes.
    #[inline]
    pub fn exact(&self, row: u32, col: u32) -> i64 {
        exact_product(row, self.row_bits, col, self.col_bits, self.signed)
    }

    /// Bits of an operand pair (`row_bits + col_bits`): the table has `2^pair_bits` entries.
    pub fn pair_bits(&self) -> u32 {
        self.row_bits + self.col_bits
    }
}

/// Load the planes of `vals`-style operands: bit `k` of the combined index `row << col_bits | col`
/// of lane `g = base + lane`. `base` is a multiple of `64·L` or zero.
#[inline(always)]
fn load_index_planes<const L: usize>(prog: &Program, shape: &MulShape, base: u64, slots: &mut [Lanes<L>]) {
    const PAT: [u64; 6] = [
        0xAAAA_AAAA_AAAA_AAAA,
        0xCCCC_CCCC_CCCC_CCCC,
        0xF0F0_F0F0_F0F0_F0F0,
        0xFF00_FF00_FF00_FF00,
        0xFFFF_0000_FFFF_0000,
        0xFFFF_FFFF_0000_0000,
    ];
    let plane = |k: u32| -> Lanes<L> {
        let mut r = [0u64; L];
        for (w, x) in r.iter_mut().enumerate() {
            let g = base + (w as u64) * 64;
            *x = if k < 6 {
                PAT[k as usize]
            } else if (g >> k) & 1 == 1 {
                !0
            } else {
                0
            };
        }
        Lanes(r)
    };
    for (input, offset) in [(shape.col_input, 0u32), (shape.row_input, shape.col_bits)] {
        for (j, src) in prog.input_slots[input].iter().enumerate() {
            if let BitSource::Slot(s) = src {
                slots[*s as usize] = plane(offset + j as u32);
            }
        }
    }
}

/// Gather the output planes after `run` and decode `64·L` products into `out`.
#[inline(always)]
fn read_products<const L: usize>(
    prog: &Program,
    shape: &MulShape,
    slots: &[Lanes<L>],
    planes: &mut Vec<Lanes<L>>,
    codes: &mut [u64],
) {
    // Output planes, zero-padded to a power of two, transposed in place into lane values.
    planes.clear();
    planes.extend(prog.output_slots[0].iter().map(|&s| slots[s as usize]));
    planes.resize(super::transpose::pad(shape.out_bits as usize), Lanes::ZERO);
    super::transpose::planes_to_lanes_in_place(planes, codes);
}

/// Products of the pairs `start..start + chunk.len()` in LUT order. Dispatches once per chunk to
/// an AVX2 build of the same code when the CPU has it (bit-identical results).
fn fill_chunk<const L: usize>(prog: &Program, shape: &MulShape, start: usize, chunk: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { fill_chunk_avx2::<L>(prog, shape, start, chunk) };
            return;
        }
    }
    fill_chunk_impl::<L>(prog, shape, start, chunk)
}

/// [`fill_chunk_impl`] compiled for AVX2 (safe code; callable where AVX2 is known present).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn fill_chunk_avx2<const L: usize>(prog: &Program, shape: &MulShape, start: usize, chunk: &mut [i32]) {
    fill_chunk_impl::<L>(prog, shape, start, chunk)
}

#[inline(always)]
fn fill_chunk_impl<const L: usize>(prog: &Program, shape: &MulShape, start: usize, chunk: &mut [i32]) {
    let mut slots = prog.scratch::<L>();
    let mut planes = Vec::with_capacity(shape.out_bits as usize);
    let mut codes = vec![0u64; 64 * L];
    let mut done = 0;
    while done < chunk.len() {
        load_index_planes(prog, shape, (start + done) as u64, &mut slots);
        prog.run(&mut slots);
        read_products(prog, shape, &slots, &mut planes, &mut codes);
        let n = (chunk.len() - done).min(64 * L);
        for (o, &c) in chunk[done..done + n].iter_mut().zip(&codes) {
            *o = shape.product(c) as i32;
        }
        done += n;
    }
}

/// Every product of a netlist over all operand pairs, in table order (`row << col_bits | col`).
#[derive(Debug, Clone, PartialEq)]
pub struct Products {
    /// How the netlist was read as a multiplier.
    pub shape: MulShape,
    /// `2^(row_bits + col_bits)` products; signed products are sign-extended.
    pub table: Vec<i32>,
}

/// Every product of `net` in table order, with `64·L`-lane blocks.
pub fn exhaustive_lanes<const L: usize>(
    net: &Netlist,
    prog: &Program,
    row_port: RowPort,
    signed: bool,
    parallel: bool,
) -> Result<Products, SimError> {
    exhaustive_upto::<L>(net, prog, row_port, signed, parallel, MAX_EXHAUSTIVE_BITS)
}

/// [`exhaustive_lanes`] with an explicit limit on operand bits (at most 26: the table is
/// `4·2^bits` bytes).
pub fn exhaustive_upto<const L: usize>(
    net: &Netlist,
    prog: &Program,
    row_port: RowPort,
    signed: bool,
    parallel: bool,
    max_bits: u32,
) -> Result<Products, SimError> {
    let max_bits = max_bits.min(26);
    let shape = MulShape::of(net, row_port, signed)?;
    let bits = shape.pair_bits();
    if bits > max_bits {
        return Err(SimError::TooLarge { circuit: net.name.clone(), bits, max: max_bits });
    }
    let total = 1usize << bits;
    let mut table = vec![0i32; total];
    let work = |ci: usize, chunk: &mut [i32]| fill_chunk::<L>(prog, &shape, ci * CHUNK, chunk);
    if parallel {
        table.par_chunks_mut(CHUNK).enumerate().for_each(|(ci, ch)| work(ci, ch));
    } else {
        table.chunks_mut(CHUNK).enumerate().for_each(|(ci, ch)| work(ci, ch));
    }
    Ok(Products { shape, table })
}

/// Every product of `net` (parallel over fixed chunks).
pub fn exhaustive(net: &Netlist, row_port: RowPort, signed: bool) -> Result<Products, SimError> {
    let prog = Program::compile(net);
    exhaustive_lanes::<LANE_WORDS>(net, &prog, row_port, signed, true)
}

/// A seeded random sample of operand pairs and the circuit's products for them.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// How the netlist was read as a multiplier.
    pub shape: MulShape,
    /// The seed the pairs were drawn with.
    pub seed: u64,
    /// Row operand codes, one per pair.
    pub rows: Vec<u32>,
    /// Column operand codes, one per pair.
    pub cols: Vec<u32>,
    /// The circuit's product for each pair (sign-extended when signed).
    pub products: Vec<i64>,
}

/// Simulate `n` uniformly random operand pairs. Pair `i` depends only on `seed` and `i` (chunk
/// `i / CHUNK` draws from ChaCha8 stream `i / CHUNK`), never on the thread count.
pub fn sample(net: &Netlist, row_port: RowPort, signed: bool, n: usize, seed: u64) -> Result<Samples, SimError> {
    const L: usize = LANE_WORDS;
    let prog = Program::compile(net);
    let shape = MulShape::of(net, row_port, signed)?;
    let n_chunks = n.div_ceil(CHUNK);
    let parts: Vec<(Vec<u32>, Vec<u32>, Vec<i64>)> = (0..n_chunks)
        .into_par_iter()
        .map(|ci| {
            let len = CHUNK.min(n - ci * CHUNK);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(ci as u64);
            let mut slots = prog.scratch::<L>();
            let mut planes = Vec::new();
            let mut codes = vec![0u64; 64 * L];
            let mut opnd = vec![0u64; 64 * L];
            let (mut rows, mut cols, mut prods) =
                (Vec::with_capacity(len), Vec::with_capacity(len), Vec::with_capacity(len));
            let mut done = 0;
            while done < len {
                // Random planes are uniformly random operands; read them back as integers.
                let mut operand = |input: usize, bits: u32, slots: &mut [Lanes<L>], out: &mut Vec<u32>| {
                    let mut pl = vec![Lanes::<L>::ZERO; bits as usize];
                    for p in pl.iter_mut() {
                        for w in p.0.iter_mut() {
                            *w = rng.next_u64();
                        }
                    }
                    for (j, src) in prog.input_slots[input].iter().enumerate() {
                        if let BitSource::Slot(s) = src {
                            slots[*s as usize] = pl[j];
                        }
                    }
                    planes_to_lanes(&pl, &mut opnd);
                    let m = (len - done).min(64 * L);
                    out.extend(opnd[..m].iter().map(|&v| v as u32));
                };
                operand(shape.row_input, shape.row_bits, &mut slots, &mut rows);
                operand(shape.col_input, shape.col_bits, &mut slots, &mut cols);
                prog.run(&mut slots);
                read_products(&prog, &shape, &slots, &mut planes, &mut codes);
                let m = (len - done).min(64 * L);
                prods.extend(codes[..m].iter().map(|&c| shape.product(c)));
                done += m;
            }
            (rows, cols, prods)
        })
        .collect();
    let mut s = Samples {
        shape,
        seed,
        rows: Vec::with_capacity(n),
        cols: Vec::with_capacity(n),
        products: Vec::with_capacity(n),
    };
    for (r, c, p) in parts {
        s.rows.extend(r);
        s.cols.extend(c);
        s.products.extend(p);
    }
    Ok(s)
}

/// Evaluate arbitrary operand pairs (`64·L` at a time): used by the bit-level multiplier.
pub(crate) fn eval_pairs<const L: usize>(
    prog: &Program,
    shape: &MulShape,
    rows: &[u32],
    cols: &[u32],
    out: &mut [i32],
) {
    let mut slots = prog.scratch::<L>();
    let mut planes = Vec::new();
    let mut codes = vec![0u64; 64 * L];
    let mut vals = vec![0u64; 64 * L];
    let mut pl_r = vec![Lanes::<L>::ZERO; shape.row_bits as usize];
    let mut pl_c = vec![Lanes::<L>::ZERO; shape.col_bits as usize];
    let mut done = 0;
    while done < out.len() {
        let m = (out.len() - done).min(64 * L);
        for (pl, src, input) in [(&mut pl_r, rows, shape.row_input), (&mut pl_c, cols, shape.col_input)] {
            vals.fill(0);
            for (v, &x) in vals.iter_mut().zip(&src[done..done + m]) {
                *v = x as u64;
            }
            lanes_to_planes(&vals, pl);
            for (j, s) in prog.input_slots[input].iter().enumerate() {
                if let BitSource::Slot(s) = s {
                    slots[*s as usize] = pl[j];
                }
            }
        }
        prog.run(&mut slots);
        read_products(prog, shape, &slots, &mut planes, &mut codes);
        for (o, &c) in out[done..done + m].iter_mut().zip(&codes) {
            *o = shape.product(c) as i32;
        }
        done += m;
    }
}
