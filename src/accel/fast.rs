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
/// contributes the multiplier's `LUT[z][w]`, whatever it is. Weights are re-laid out with the
/// output channels padded to a multiple of 8 (padding lanes are computed and dropped).
#[derive(Debug, Clone)]
pub struct RebasedLut {
    pub z: u8,
    pub delta: Vec<i32>,
    /// Per padded output channel.
    pub base: Vec<i32>,
    nf_pad: usize,
    /// `k × nf_pad` weight codes and negation masks.
    wgt: Vec<u8>,
    neg: Option<Vec<i32>>,
}

const LANES: usize = 8;

impl RebasedLut {
    pub fn new(table: &[i32], z: u8, wgt: &[u8], neg: Option<&[i32]>, k: usize, nf: usize) -> RebasedLut {
        let zrow = &table[(z as usize) << 8..][..256];
        let delta = table.iter().enumerate().map(|(i, &v)| v.wrapping_sub(zrow[i & 255])).collect();
        let nf_pad = nf.div_ceil(LANES) * LANES;
        let mut pw = vec![0u8; k * nf_pad];
        let mut pn = vec![0i32; k * nf_pad];
        let mut base = vec![0i32; nf_pad];
        for kk in 0..k {
            for o in 0..nf {
                let c = wgt[kk * nf + o];
                let m = neg.map_or(0, |m| m[kk * nf + o]);
                pw[kk * nf_pad + o] = c;
                pn[kk * nf_pad + o] = m;
                base[o] = base[o].wrapping_add((zrow[c as usize] ^ m).wrapping_sub(m));
            }
        }
        RebasedLut { z, delta, base, nf_pad, wgt: pw, neg: neg.map(|_| pn) }
    }
}

/// Same sums as [`gemm`] through a [`RebasedLut`] built from the same operands' weights: only
/// activations different from `z` are visited (AVX2 gathers when the CPU has them).
pub fn gemm_rebased(ops: &GemmOperands, rl: &RebasedLut, out: &mut Vec<i32>) {
    out.clear();
    out.resize(ops.npix * ops.nf, 0);
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present; all indices are in bounds by construction (see the kernel).
        unsafe {
            match rl.neg {
                None => rebased_avx2::<false>(ops, rl, out),
                Some(_) => rebased_avx2::<true>(ops, rl, out),
            }
        }
        return;
    }
    match rl.neg {
        None => rebased_scalar::<false>(ops, rl, out),
        Some(_) => rebased_scalar::<true>(ops, rl, out),
    }
}

/// Non-`z` activations of pixel `p`: reduction indices and codes.
#[inline(always)]
fn nonzero(ops: &GemmOperands, p: usize, z: u8, nz_k: &mut Vec<u32>, nz_a: &mut Vec<u8>) {
    nz_k.clear();
    nz_a.clear();
    for (kk, &q) in ops.act[p * ops.k..(p + 1) * ops.k].iter().enumerate() {
        if q != z {
            nz_k.push(kk as u32);
            nz_a.push(q);
        }
    }
}

fn rebased_scalar<const NEG: bool>(ops: &GemmOperands, rl: &RebasedLut, out: &mut [i32]) {
    let nf = ops.nf;
    let np = rl.nf_pad;
    let delta: &[i32; 65536] = rl.delta[..].try_into().expect("8x8 table");
    let neg = rl.neg.as_deref().unwrap_or(&[]);
    let (mut nz_k, mut nz_a) = (Vec::new(), Vec::new());
    for (p, dst) in out.chunks_exact_mut(nf).enumerate() {
        nonzero(ops, p, rl.z, &mut nz_k, &mut nz_a);
        for o0 in (0..np).step_by(LANES) {
            let mut acc: [i32; LANES] = rl.base[o0..o0 + LANES].try_into().unwrap();
            for (&kk, &q) in nz_k.iter().zip(&nz_a) {
                let off = kk as usize * np + o0;
                let row: &[i32; 256] = delta[(q as usize) << 8..][..256].try_into().unwrap();
                let w: &[u8; LANES] = rl.wgt[off..off + LANES].try_into().unwrap();
                for j in 0..LANES {
                    let v = row[w[j] as usize];
                    acc[j] = acc[j].wrapping_add(if NEG { (v ^ neg[off + j]).wrapping_sub(neg[off + j]) } else { v });
                }
            }
            let n = (nf - o0).min(LANES);
            dst[o0..o0 + n].copy_from_slice(&acc[..n]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn rebased_avx2<const NEG: bool>(ops: &GemmOperands, rl: &RebasedLut, out: &mut [i32]) {
    use std::arch::x86_64::*;
    let nf = ops.nf;
    let np = rl.nf_pad;
    assert_eq!(rl.delta.len(), 65536);
    assert_eq!(rl.wgt.len(), ops.k * np);
    let neg = rl.neg.as_deref().unwrap_or(&[]);
    let (mut nz_k, mut nz_a) = (Vec::new(), Vec::new());
    for (p, dst) in out.chunks_exact_mut(nf).enumerate() {
        nonzero(ops, p, rl.z, &mut nz_k, &mut nz_a);
        for o0 in (0..np).step_by(LANES) {
            let mut acc = _mm256_loadu_si256(rl.base.as_ptr().add(o0) as *const __m256i);
            for (&kk, &q) in nz_k.iter().zip(&nz_a) {
                // kk < k and o0 + 8 <= np, so off + 8 <= k·np = wgt.len() (= neg.len()).
                let off = kk as usize * np + o0;
                let idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64(rl.wgt.as_ptr().add(off) as *const __m128i));
                // Row q (< 256) of a 65,536-entry table, column indices < 256.
                let row = rl.delta.as_ptr().add((q as usize) << 8);
                let mut v = _mm256_i32gather_epi32::<4>(row, idx);
                if NEG {
                    let m = _mm256_loadu_si256(neg.as_ptr().add(off) as *const __m256i);
                    v = _mm256_sub_epi32(_mm256_xor_si256(v, m), m);
                }
                acc = _mm256_add_epi32(acc, v);
            }
            let mut tmp = [0i32; LANES];
            _mm256_storeu_si256(tmp.as_mut_ptr() as *mut __m256i, acc);
            let n = (nf - o0).min(LANES);
            dst[o0..o0 + n].copy_from_slice(&tmp[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_and_simd_rebased_agree() {
        use rand::{Rng, SeedableRng};
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let table: Vec<i32> = (0..65536).map(|_| r.gen_range(-70000..70000)).collect();
        for nf in [1usize, 6, 8, 13, 16] {
            let (npix, k) = (7, 11);
            let z: u8 = r.gen();
            let act: Vec<u8> = (0..npix * k).map(|_| if r.gen() { z } else { r.gen() }).collect();
            let wgt: Vec<u8> = (0..k * nf).map(|_| r.gen()).collect();
            let neg: Vec<i32> = (0..k * nf).map(|_| -(r.gen_bool(0.5) as i32)).collect();
            for n in [None, Some(&neg[..])] {
                let ops = GemmOperands { npix, k, nf, act: &act, wgt: &wgt, neg: n };
                let rl = RebasedLut::new(&table, z, &wgt, n, k, nf);
                let mut a = vec![0; npix * nf];
                rebased_scalar::<false>(&ops, &rl, &mut a);
                if n.is_some() {
                    rebased_scalar::<true>(&ops, &rl, &mut a);
                }
                let mut b = Vec::new();
                gemm_rebased(&ops, &rl, &mut b);
                let mut want = vec![0i32; npix * nf];
                for p in 0..npix {
                    for o in 0..nf {
                        for kk in 0..k {
                            let v = table[((act[p * k + kk] as usize) << 8) | wgt[kk * nf + o] as usize];
                            let m = n.map_or(0, |m| m[kk * nf + o]);
                            want[p * nf + o] = want[p * nf + o].wrapping_add((v ^ m).wrapping_sub(m));
                        }
                    }
                }
                assert_eq!(a, want);
                assert_eq!(b, want);
            }
        }
    }
}
