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

/// Per-layer products of the fast engine with an 8×8 table, chosen by [`TableKernel::choose`].
/// All three give the same wrapping-i32 sums as [`gemm`]; they differ only in memory and speed.
#[derive(Debug, Clone)]
pub enum TableKernel {
    /// The table is the exact product: multiply the operand values (no lookup).
    Exact(ExactKernel),
    /// The table folded with the layer's fixed weights into per-reduction-index rows.
    Columns(ColumnTable),
    /// Row gathers from the table rebased on the zero point (when columns exceed the budget).
    Gather(RebasedLut),
}

/// Largest [`ColumnTable`] built per layer. Covers every approximate layer of LeNet-5 (2.4 MiB)
/// and the convolutions of the AlexNet here (≤ 85 MiB); larger layers gather instead.
pub const COLUMN_BUDGET_BYTES: usize = 96 << 20;

impl TableKernel {
    /// The kernel for a layer whose weights (`k × nf` codes, optional negation masks) meet
    /// `table` (8×8, `signed` operands); `z` is the layer's most common activation code.
    pub fn choose(table: &crate::lut::Lut, z: u8, wgt: &[u8], neg: Option<&[i32]>, k: usize, nf: usize) -> TableKernel {
        if let Some(e) = ExactKernel::new(table, wgt, neg, k, nf) {
            return TableKernel::Exact(e);
        }
        if ColumnTable::bytes(k, nf) <= COLUMN_BUDGET_BYTES {
            return TableKernel::Columns(ColumnTable::new(&table.table, wgt, neg, k, nf));
        }
        TableKernel::Gather(RebasedLut::new(&table.table, z, wgt, neg, k, nf))
    }

    pub fn gemm(&self, ops: &GemmOperands, out: &mut Vec<i32>) {
        match self {
            TableKernel::Exact(e) => e.gemm(ops, out),
            TableKernel::Columns(c) => c.gemm(ops, out),
            TableKernel::Gather(r) => gemm_rebased(ops, r, out),
        }
    }

    /// [`Self::gemm`] leaving each pixel's row padded: returns the row stride (`≥ nf`; lanes past
    /// `nf` are not sums). Saves a copy when the consumer takes strided rows.
    pub fn gemm_rows(&self, ops: &GemmOperands, out: &mut Vec<i32>) -> usize {
        match self {
            TableKernel::Exact(e) => e.gemm_rows(ops, out),
            TableKernel::Columns(c) => c.gemm_rows(ops, out),
            TableKernel::Gather(r) => {
                gemm_rebased(ops, r, out);
                ops.nf
            }
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            TableKernel::Exact(_) => "exact",
            TableKernel::Columns(_) => "columns",
            TableKernel::Gather(_) => "gather",
        }
    }
}

/// Output channels padded to whole 8-lane vectors.
fn pad8(nf: usize) -> usize {
    nf.div_ceil(LANES) * LANES
}

/// The weights are stationary, so the product of reduction index `kk` and activation code `a`
/// with every output channel is one row known before any image arrives:
/// `rows[kk·stride + a·nf_pad + o] = ±LUT[a][w_kk,o]`. A pixel then costs one contiguous row load
/// and add per reduction index instead of `nf` scattered lookups.
///
/// Rows are stored in 16 bits whenever every entry fits (8×8 multipliers have 16-bit products:
/// unsigned ones fit `u16`, signed ones and most sign-magnitude layers `i16`), halving the bytes
/// the kernel streams; otherwise in `i32`.
#[derive(Debug, Clone)]
pub struct ColumnTable {
    k: usize,
    nf: usize,
    nf_pad: usize,
    /// Lanes from one reduction index's rows to the next: `256·nf_pad` plus one cache line, so
    /// that the same code's rows of successive indices (e.g. the zero point's, in every pixel)
    /// fall in different L1 sets instead of one (a power-of-two stride would thrash it).
    stride: usize,
    rows: Rows,
}

#[derive(Debug, Clone)]
enum Rows {
    U16(Vec<u16>),
    I16(Vec<i16>),
    I32(Vec<i32>),
}

/// A row element: widened to i32 lanes on load.
trait Elem: Copy {
    fn widen(self) -> i32;
    /// Eight elements at `p` as eight i32 lanes.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256i;
}

impl Elem for u16 {
    fn widen(self) -> i32 {
        self as i32
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const u16) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        _mm256_cvtepu16_epi32(_mm_loadu_si128(p as *const __m128i))
    }
}

impl Elem for i16 {
    fn widen(self) -> i32 {
        self as i32
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const i16) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        _mm256_cvtepi16_epi32(_mm_loadu_si128(p as *const __m128i))
    }
}

impl Elem for i32 {
    fn widen(self) -> i32 {
        self
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const i32) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        _mm256_loadu_si256(p as *const __m256i)
    }
}

impl ColumnTable {
    /// Upper bound of the table's size (32-bit rows).
    pub fn bytes(k: usize, nf: usize) -> usize {
        k * Self::stride(pad8(nf)) * 4
    }

    fn stride(nf_pad: usize) -> usize {
        256 * nf_pad + 16
    }

    pub fn new(table: &[i32], wgt: &[u8], neg: Option<&[i32]>, k: usize, nf: usize) -> ColumnTable {
        assert_eq!(table.len(), 65536, "8x8 table");
        let nf_pad = pad8(nf);
        let stride = Self::stride(nf_pad);
        let mut rows = vec![0i32; k * stride];
        for kk in 0..k {
            for o in 0..nf {
                let c = wgt[kk * nf + o] as usize;
                let m = neg.map_or(0, |m| m[kk * nf + o]);
                for a in 0..256 {
                    rows[kk * stride + a * nf_pad + o] = (table[a << 8 | c] ^ m).wrapping_sub(m);
                }
            }
        }
        let (lo, hi) = rows.iter().fold((0, 0), |(lo, hi), &v| (v.min(lo), v.max(hi)));
        let rows = if lo >= 0 && hi <= u16::MAX as i32 {
            Rows::U16(rows.iter().map(|&v| v as u16).collect())
        } else if lo >= i16::MIN as i32 && hi <= i16::MAX as i32 {
            Rows::I16(rows.iter().map(|&v| v as i16).collect())
        } else {
            Rows::I32(rows)
        };
        ColumnTable { k, nf, nf_pad, stride, rows }
    }

    /// Bits per stored entry (16 or 32).
    pub fn entry_bits(&self) -> u32 {
        match self.rows {
            Rows::U16(_) | Rows::I16(_) => 16,
            Rows::I32(_) => 32,
        }
    }

    pub fn gemm(&self, ops: &GemmOperands, out: &mut Vec<i32>) {
        let mut acc = Vec::new();
        self.gemm_rows(ops, &mut acc);
        unpad(&acc, self.nf_pad, ops.nf, out);
    }

    /// Sums in rows of `nf_pad` lanes (the returned stride).
    pub fn gemm_rows(&self, ops: &GemmOperands, acc: &mut Vec<i32>) -> usize {
        assert_eq!((ops.k, ops.nf), (self.k, self.nf), "column table built for another layer");
        acc.clear();
        acc.resize(ops.npix * self.nf_pad, 0);
        match &self.rows {
            Rows::U16(r) => self.run(r, ops, acc),
            Rows::I16(r) => self.run(r, ops, acc),
            Rows::I32(r) => self.run(r, ops, acc),
        }
        self.nf_pad
    }

    fn run<E: Elem>(&self, rows: &[E], ops: &GemmOperands, acc: &mut [i32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present; the kernel asserts the lengths its pointers rely on.
            unsafe { columns_avx2(self, rows, ops, acc) };
            return;
        }
        columns_body(self, rows, ops, acc);
    }
}

fn unpad(acc: &[i32], nf_pad: usize, nf: usize, out: &mut Vec<i32>) {
    out.clear();
    out.reserve(acc.len() / nf_pad * nf);
    for a in acc.chunks_exact(nf_pad) {
        out.extend_from_slice(&a[..nf]);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn columns_avx2<E: Elem>(t: &ColumnTable, rows: &[E], ops: &GemmOperands, acc: &mut [i32]) {
    let (k, np, st) = (t.k, t.nf_pad, t.stride);
    assert_eq!(rows.len(), k * st);
    assert_eq!(ops.act.len(), acc.len() / np * k);
    for (kb, ke) in kblocks(k, st * std::mem::size_of::<E>()) {
        let rows = rows.as_ptr().add(kb * st);
        for (p, accp) in acc.chunks_exact_mut(np).enumerate() {
            let a = &ops.act[p * k + kb..p * k + ke];
            let mut o0 = 0;
            // Tiles of up to 4 vectors (32 lanes) stay in registers across the block.
            while o0 < np {
                let v = ((np - o0) / LANES).min(4);
                let (acc_o, rows_o) = (accp.as_mut_ptr().add(o0), rows.add(o0));
                match v {
                    4 => tile_avx2::<4, E>(acc_o, rows_o, a, np, st),
                    3 => tile_avx2::<3, E>(acc_o, rows_o, a, np, st),
                    2 => tile_avx2::<2, E>(acc_o, rows_o, a, np, st),
                    _ => tile_avx2::<1, E>(acc_o, rows_o, a, np, st),
                }
                o0 += v * LANES;
            }
        }
    }
}

/// `acc[..8V] += Σ_j rows[j·stride + a_j·np ..][..8V]`.
/// SAFETY (caller): `acc` has `8V` lanes; `rows` points at `a.len()` blocks of `stride ≥ 256·np`
/// elements, of which elements `..8V` of every row are readable (codes are < 256).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn tile_avx2<const V: usize, E: Elem>(acc: *mut i32, rows: *const E, a: &[u8], np: usize, stride: usize) {
    use std::arch::x86_64::*;
    let mut s = [_mm256_setzero_si256(); V];
    for (v, sv) in s.iter_mut().enumerate() {
        *sv = _mm256_loadu_si256(acc.add(v * LANES) as *const __m256i);
    }
    let mut block = rows;
    for &q in a {
        let r = block.add(q as usize * np);
        for (v, sv) in s.iter_mut().enumerate() {
            *sv = _mm256_add_epi32(*sv, E::load8(r.add(v * LANES)));
        }
        block = block.add(stride);
    }
    for (v, sv) in s.iter().enumerate() {
        _mm256_storeu_si256(acc.add(v * LANES) as *mut __m256i, *sv);
    }
}

/// Blocks of reduction indices whose rows (`stride_bytes` each) fit in half of a 1 MiB L2: every
/// pixel of a GEMM (a batch of images) reuses a block's rows while they are cached.
fn kblocks(k: usize, stride_bytes: usize) -> impl Iterator<Item = (usize, usize)> {
    let kblock = ((512 << 10) / stride_bytes).max(1);
    (0..k).step_by(kblock).map(move |kb| (kb, (kb + kblock).min(k)))
}

/// Portable body (same sums as the AVX2 one).
fn columns_body<E: Elem>(t: &ColumnTable, rows: &[E], ops: &GemmOperands, acc: &mut [i32]) {
    let (k, np, st) = (t.k, t.nf_pad, t.stride);
    for (kb, ke) in kblocks(k, st * std::mem::size_of::<E>()) {
        let rows = &rows[kb * st..ke * st];
        for (p, accp) in acc.chunks_exact_mut(np).enumerate() {
            for (j, &q) in ops.act[p * k + kb..p * k + ke].iter().enumerate() {
                let r = &rows[j * st + q as usize * np..][..np];
                for (s, &v) in accp.iter_mut().zip(r) {
                    *s = s.wrapping_add(v.widen());
                }
            }
        }
    }
}

/// The exact multiplier's layers: `Σ ±a·w` on the operand values, chosen only after checking
/// that the table holds exactly those products.
#[derive(Debug, Clone)]
pub struct ExactKernel {
    signed: bool,
    k: usize,
    nf: usize,
    nf_pad: usize,
    /// `k × nf_pad` signed weight values (negation applied).
    w: Vec<i32>,
}

impl ExactKernel {
    /// `None` unless `table` is the exact product of 8-bit operands of its signedness.
    pub fn new(table: &crate::lut::Lut, wgt: &[u8], neg: Option<&[i32]>, k: usize, nf: usize) -> Option<ExactKernel> {
        let signed = table.signed;
        let val = |c: usize| if signed { c as u8 as i8 as i32 } else { c as i32 };
        if table.row_bits != 8 || table.col_bits != 8 || table.table.len() != 65536 {
            return None;
        }
        if !table.table.iter().enumerate().all(|(i, &v)| v == val(i >> 8) * val(i & 255)) {
            return None;
        }
        let nf_pad = pad8(nf);
        let mut w = vec![0i32; k * nf_pad];
        for kk in 0..k {
            for o in 0..nf {
                let m = neg.map_or(0, |m| m[kk * nf + o]);
                w[kk * nf_pad + o] = (val(wgt[kk * nf + o] as usize) ^ m).wrapping_sub(m);
            }
        }
        Some(ExactKernel { signed, k, nf, nf_pad, w })
    }

    pub fn gemm(&self, ops: &GemmOperands, out: &mut Vec<i32>) {
        let mut acc = Vec::new();
        self.gemm_rows(ops, &mut acc);
        unpad(&acc, self.nf_pad, ops.nf, out);
    }

    /// Sums in rows of `nf_pad` lanes (the returned stride).
    pub fn gemm_rows(&self, ops: &GemmOperands, acc: &mut Vec<i32>) -> usize {
        assert_eq!((ops.k, ops.nf), (self.k, self.nf), "weights built for another layer");
        acc.clear();
        acc.resize(ops.npix * self.nf_pad, 0);
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present (the body is safe code compiled for it).
            unsafe { exact_avx2(self, ops, acc) };
            return self.nf_pad;
        }
        exact_body(self, ops, acc);
        self.nf_pad
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn exact_avx2(e: &ExactKernel, ops: &GemmOperands, acc: &mut [i32]) {
    exact_body(e, ops, acc)
}

#[inline(always)]
fn exact_body(e: &ExactKernel, ops: &GemmOperands, acc: &mut [i32]) {
    let (k, np) = (e.k, e.nf_pad);
    for (p, accp) in acc.chunks_exact_mut(np).enumerate() {
        let a = &ops.act[p * k..(p + 1) * k];
        for (kk, &q) in a.iter().enumerate() {
            let v = if e.signed { q as i8 as i32 } else { q as i32 };
            let w = &e.w[kk * np..(kk + 1) * np];
            for (s, &wv) in accp.iter_mut().zip(w) {
                *s = s.wrapping_add(v.wrapping_mul(wv));
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

    /// Column tables in all three entry widths: the AVX2 kernel, the portable body and the
    /// definition agree (with and without negation masks).
    #[test]
    fn column_table_widths_and_bodies_agree() {
        use rand::{Rng, SeedableRng};
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        // (table, negation): u16 entries, i16 entries, i32 entries.
        let unsigned: Vec<i32> = (0..65536).map(|i: i32| (i >> 8) * (i & 255) + r.gen_range(0..400)).collect();
        let small: Vec<i32> = (0..65536).map(|_| r.gen_range(-32768..32768)).collect();
        let wide: Vec<i32> = (0..65536).map(|_| r.gen_range(-100_000..100_000)).collect();
        for (ti, (table, want_bits, use_neg)) in [(&unsigned, 16, false), (&small, 16, false), (&wide, 32, false), (&unsigned, 32, true)].into_iter().enumerate() {
            for nf in [1usize, 6, 8, 13, 16, 40] {
                let (npix, k) = (9, 23);
                let act: Vec<u8> = (0..npix * k).map(|_| r.gen()).collect();
                let wgt: Vec<u8> = (0..k * nf).map(|_| r.gen()).collect();
                let neg: Vec<i32> = (0..k * nf).map(|_| -(r.gen_bool(0.5) as i32)).collect();
                let n = use_neg.then_some(&neg[..]);
                let ops = GemmOperands { npix, k, nf, act: &act, wgt: &wgt, neg: n };
                let ct = ColumnTable::new(table, &wgt, n, k, nf);
                assert_eq!(ct.entry_bits(), want_bits, "table {ti}");
                let mut fast = Vec::new();
                ct.gemm(&ops, &mut fast);
                let mut portable = vec![0i32; npix * ct.nf_pad];
                match &ct.rows {
                    Rows::U16(rows) => columns_body(&ct, rows, &ops, &mut portable),
                    Rows::I16(rows) => columns_body(&ct, rows, &ops, &mut portable),
                    Rows::I32(rows) => columns_body(&ct, rows, &ops, &mut portable),
                }
                let mut portable_out = Vec::new();
                unpad(&portable, ct.nf_pad, nf, &mut portable_out);
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
                assert_eq!(fast, want, "table {ti}, nf {nf}");
                assert_eq!(portable_out, want, "table {ti}, nf {nf}");
            }
        }
    }

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
