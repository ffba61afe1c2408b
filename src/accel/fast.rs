//! The fast engine's GEMM core: the same products and sums as the cycle-stepped array, without
//! the clock. With a table: one 256-entry LUT row per activation (`&table[q_act << 8..]`) and a
//! gather over the weight codes of all output channels. Without one (bit-level netlist
//! simulation): `Multiplier::mul_batch` over blocks of products.

use crate::mult::Multiplier;

/// Operands of one im2col GEMM: activation codes (LUT row), weight codes (LUT column) and, for
/// sign-magnitude, a per-weight negation mask (`0` or `−1`).
#[derive(Debug, Clone, Copy)]
pub struct GemmOperands<'a> {
    pub npix: usize,
    pub k: usize,
    pub nf: usize,
    /// `npix × k`, pixel-major.
    pub act: &'a [u8],
    /// `k × nf`, reduction-major (a weight-stationary column reads `wgt[k*nf + o]`).
    pub wgt: &'a [u8],
    /// `k × nf`: `−1` where the product is subtracted (sign-magnitude), else `0`.
    pub neg: Option<&'a [i32]>,
}

impl GemmOperands<'_> {
    /// Signed product of activation `a` and weight slot `(kk, o)` as the PE applies it.
    #[inline(always)]
    pub fn signed(&self, prod: i32, kk: usize, o: usize) -> i32 {
        match self.neg {
            Some(m) => {
                let m = m[kk * self.nf + o];
                (prod ^ m).wrapping_sub(m)
            }
            None => prod,
        }
    }
}

/// `out[p·nf + o] = Σ_k ±P(act[p][k], wgt[k][o])`, wrapping i32 (the order of a wrapping sum
/// does not change it, so every engine and dataflow gives the same bits).
pub fn gemm(ops: &GemmOperands, mult: &dyn Multiplier, use_table: bool, out: &mut Vec<i32>) {
    out.clear();
    out.resize(ops.npix * ops.nf, 0);
    match (use_table, mult.table()) {
        (true, Some(lut)) if lut.row_bits == 8 && lut.col_bits == 8 => match ops.neg {
            None => gemm_lut::<false>(ops, &lut.table, out),
            Some(_) => gemm_lut::<true>(ops, &lut.table, out),
        },
        _ => gemm_batch(ops, mult, out),
    }
}

fn gemm_lut<const NEG: bool>(ops: &GemmOperands, table: &[i32], out: &mut [i32]) {
    let (k, nf) = (ops.k, ops.nf);
    let table: &[i32; 65536] = table.try_into().expect("8x8 table");
    for (p, acc) in out.chunks_exact_mut(nf).enumerate() {
        let a = &ops.act[p * k..(p + 1) * k];
        // Blocks of output channels accumulate in registers; one LUT row per activation code.
        let mut o0 = 0;
        while o0 < nf {
            let left = nf - o0;
            if left >= 8 {
                acc[o0..o0 + 8].copy_from_slice(&block::<8, NEG>(a, ops, o0, table));
                o0 += 8;
            } else if left >= 4 {
                acc[o0..o0 + 4].copy_from_slice(&block::<4, NEG>(a, ops, o0, table));
                o0 += 4;
            } else {
                acc[o0..o0 + 1].copy_from_slice(&block::<1, NEG>(a, ops, o0, table));
                o0 += 1;
            }
        }
    }
}

/// Sums of output channels `o0..o0+B` of one pixel (activation codes `a`).
#[inline(always)]
fn block<const B: usize, const NEG: bool>(a: &[u8], ops: &GemmOperands, o0: usize, table: &[i32; 65536]) -> [i32; B] {
    let nf = ops.nf;
    let mut acc = [0i32; B];
    let neg = ops.neg.unwrap_or(&[]);
    for (kk, &q) in a.iter().enumerate() {
        let row: &[i32; 256] = table[(q as usize) << 8..][..256].try_into().unwrap();
        let w: &[u8; B] = ops.wgt[kk * nf + o0..][..B].try_into().unwrap();
        if NEG {
            let m: &[i32; B] = neg[kk * nf + o0..][..B].try_into().unwrap();
            for j in 0..B {
                acc[j] = acc[j].wrapping_add((row[w[j] as usize] ^ m[j]).wrapping_sub(m[j]));
            }
        } else {
            for j in 0..B {
                acc[j] = acc[j].wrapping_add(row[w[j] as usize]);
            }
        }
    }
    acc
}

/// Products through `mul_batch` (one call per block of pixels), for multipliers without a table.
fn gemm_batch(ops: &GemmOperands, mult: &dyn Multiplier, out: &mut [i32]) {
    let (k, nf) = (ops.k, ops.nf);
    let per_pix = k * nf;
    let block = (8192 / per_pix.max(1)).max(1);
    let mut rows = Vec::with_capacity(block * per_pix);
    let mut cols = Vec::with_capacity(block * per_pix);
    let mut prods = Vec::with_capacity(block * per_pix);
    for p0 in (0..ops.npix).step_by(block) {
        let p1 = (p0 + block).min(ops.npix);
        rows.clear();
        cols.clear();
        for p in p0..p1 {
            for kk in 0..k {
                let a = ops.act[p * k + kk] as u32;
                for o in 0..nf {
                    rows.push(a);
                    cols.push(ops.wgt[kk * nf + o] as u32);
                }
            }
        }
        prods.clear();
        prods.resize(rows.len(), 0);
        mult.mul_batch(&rows, &cols, &mut prods);
        let mut i = 0;
        for p in p0..p1 {
            let acc = &mut out[p * nf..(p + 1) * nf];
            for kk in 0..k {
                for (o, s) in acc.iter_mut().enumerate() {
                    *s = s.wrapping_add(ops.signed(prods[i], kk, o));
                    i += 1;
                }
            }
        }
    }
}

/// A layer's table rebased on one activation code `z` (the zero point: padding, ReLU zeros,
/// MNIST background): `delta[a][c] = LUT[a][c] − LUT[z][c]` and, per output channel,
/// `base[o] = Σ_k ±LUT[z][w_ko]`. Then `Σ_k ±LUT[a_k][w_ko] = base[o] + Σ_{a_k ≠ z} ±delta[a_k][w_ko]`
/// exactly (wrapping i32), so activations equal to `z` cost nothing — and every one of them still
/// contributes the multiplier's `LUT[z][w]`, whatever it is.
#[derive(Debug, Clone)]
pub struct RebasedLut {
    pub z: u8,
    pub delta: Vec<i32>,
    pub base: Vec<i32>,
}

impl RebasedLut {
    pub fn new(table: &[i32], z: u8, wgt: &[u8], neg: Option<&[i32]>, k: usize, nf: usize) -> RebasedLut {
        let zrow = &table[(z as usize) << 8..][..256];
        let delta = table.iter().enumerate().map(|(i, &v)| v.wrapping_sub(zrow[i & 255])).collect();
        let mut base = vec![0i32; nf];
        for kk in 0..k {
            for (o, b) in base.iter_mut().enumerate() {
                let v = zrow[wgt[kk * nf + o] as usize];
                let m = neg.map_or(0, |m| m[kk * nf + o]);
                *b = b.wrapping_add((v ^ m).wrapping_sub(m));
            }
        }
        RebasedLut { z, delta, base }
    }
}

/// [`gemm`] with a [`RebasedLut`]: only activations different from `z` are visited.
pub fn gemm_rebased(ops: &GemmOperands, rl: &RebasedLut, out: &mut Vec<i32>) {
    out.clear();
    out.resize(ops.npix * ops.nf, 0);
    match ops.neg {
        None => gemm_rebased_inner::<false>(ops, rl, out),
        Some(_) => gemm_rebased_inner::<true>(ops, rl, out),
    }
}

fn gemm_rebased_inner<const NEG: bool>(ops: &GemmOperands, rl: &RebasedLut, out: &mut [i32]) {
    let (k, nf) = (ops.k, ops.nf);
    let delta: &[i32; 65536] = rl.delta[..].try_into().expect("8x8 table");
    let mut nz_k: Vec<u32> = Vec::with_capacity(k);
    let mut nz_a: Vec<u8> = Vec::with_capacity(k);
    for (p, acc) in out.chunks_exact_mut(nf).enumerate() {
        nz_k.clear();
        nz_a.clear();
        for (kk, &q) in ops.act[p * k..(p + 1) * k].iter().enumerate() {
            if q != rl.z {
                nz_k.push(kk as u32);
                nz_a.push(q);
            }
        }
        let mut o0 = 0;
        while o0 < nf {
            let left = nf - o0;
            if left >= 8 {
                sparse_block::<8, NEG>(&nz_k, &nz_a, ops, o0, delta, &rl.base, &mut acc[o0..o0 + 8]);
                o0 += 8;
            } else if left >= 4 {
                sparse_block::<4, NEG>(&nz_k, &nz_a, ops, o0, delta, &rl.base, &mut acc[o0..o0 + 4]);
                o0 += 4;
            } else {
                sparse_block::<1, NEG>(&nz_k, &nz_a, ops, o0, delta, &rl.base, &mut acc[o0..o0 + 1]);
                o0 += 1;
            }
        }
    }
}

#[inline(always)]
fn sparse_block<const B: usize, const NEG: bool>(
    nz_k: &[u32],
    nz_a: &[u8],
    ops: &GemmOperands,
    o0: usize,
    delta: &[i32; 65536],
    base: &[i32],
    dst: &mut [i32],
) {
    let nf = ops.nf;
    let mut acc: [i32; B] = base[o0..o0 + B].try_into().unwrap();
    let neg = ops.neg.unwrap_or(&[]);
    for (&kk, &q) in nz_k.iter().zip(nz_a) {
        let kk = kk as usize;
        let row: &[i32; 256] = delta[(q as usize) << 8..][..256].try_into().unwrap();
        let w: &[u8; B] = ops.wgt[kk * nf + o0..][..B].try_into().unwrap();
        if NEG {
            let m: &[i32; B] = neg[kk * nf + o0..][..B].try_into().unwrap();
            for j in 0..B {
                acc[j] = acc[j].wrapping_add((row[w[j] as usize] ^ m[j]).wrapping_sub(m[j]));
            }
        } else {
            for j in 0..B {
                acc[j] = acc[j].wrapping_add(row[w[j] as usize]);
            }
        }
    }
    dst.copy_from_slice(&acc);
}
