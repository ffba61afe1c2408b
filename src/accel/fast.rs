//! The fast engine's GEMM core: the same products and sums as the cycle-stepped array, without
//! the clock. With a table: one 256-entry LUT row per activation (`&table[q_act << 8..]`) and a
//! gather over the weight codes of all output channels. Without one (bit-level netlist
//! simulation): `Multiplier::mul_batch` over blocks of products.

use crate::mult::Multiplier;

/// Operands of one im2col GEMM: activation codes (LUT row), weight codes (LUT column) and, for
/// sign-magnitude, a per-weight negation mask (`0` or `−1`).
#[derive(Debug, Clone, Copy)]
pub struct GemmOperands<'a> {
    /// Output pixels (rows of the im2col matrix).
    pub npix: usize,
    /// Reduction length (`Fh·Fw·Cin`, or the input size of a linear layer).
    pub k: usize,
    /// Output channels (filters).
    pub nf: usize,
    /// `npix × k`, pixel-major.
    pub act: &'a [u8],
    /// `k × nf`, reduction-major (a weight-stationary column reads `wgt[k*nf + o]`).
    pub wgt: &'a [u8],
    /// `k × nf`: `−1` where the product is subtracted (sign-magnitude), else `0`.
    pub neg: Option<&'a [i32]>,
}

impl GemmOperands<'_> {
    /// The GEMM's dimensions.
    pub fn shape(&self) -> super::timing::GemmShape {
        super::timing::GemmShape { npix: self.npix, k: self.k, nf: self.nf }
    }

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
    /// `table` (8×8, `signed` operands); `z` is the code to rebase on (the input zero point:
    /// the most common code after a ReLU).
    pub fn choose(table: &crate::lut::Lut, z: u8, wgt: &[u8], neg: Option<&[i32]>, k: usize, nf: usize) -> TableKernel {
        if let Some(e) = ExactKernel::new(table, wgt, neg, k, nf) {
            return TableKernel::Exact(e);
        }
        if ColumnTable::bytes(k, nf) <= COLUMN_BUDGET_BYTES {
            return TableKernel::Columns(ColumnTable::new(&table.table, wgt, neg, k, nf, z));
        }
        TableKernel::Gather(RebasedLut::new(&table.table, z, wgt, neg, k, nf))
    }

    /// `out[p·nf + o]`: the same sums as [`gemm`] (wrapping i32), by this kernel.
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

    /// The kernel's name: `exact`, `columns` or `gather`.
    pub fn kind(&self) -> &'static str {
        match self {
            TableKernel::Exact(_) => "exact",
            TableKernel::Columns(_) => "columns",
            TableKernel::Gather(_) => "gather",
        }
    }
}

/// The offset that brings every entry into `i16` (0 when they already fit), if their span allows.
fn bias16(v: &[i32]) -> Option<i32> {
    let (lo, hi) = v.iter().fold((0i64, 0i64), |(lo, hi), &x| (lo.min(x as i64), hi.max(x as i64)));
    if lo >= i16::MIN as i64 && hi <= i16::MAX as i64 {
        Some(0)
    } else if hi - lo <= u16::MAX as i64 {
        Some((lo + 32768) as i32)
    } else {
        None
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
/// the kernel streams; otherwise in `i32`. 16-bit rows are stored as `i16` (what AVX-512 VNNI's
/// `vpdpwssd` sums) less a bias that makes unsigned ones fit; each sum gets the bias back once
/// per entry it visited, exactly, as wrapping i32 arithmetic is a ring. Rows may be rebased on
/// a code `z` (`rows_kk[a] − rows_kk[z]`, the `z` rows' sums added back once), which makes that
/// code's entries zero so that a kernel may skip them.
#[derive(Debug, Clone)]
pub struct ColumnTable {
    k: usize,
    nf: usize,
    nf_pad: usize,
    /// Lanes from one reduction index's rows to the next: `256·nf_pad` plus one cache line, so
    /// that the same code's rows of successive indices (e.g. the zero point's, in every pixel)
    /// fall in different L1 sets instead of one (a power-of-two stride would thrash it).
    stride: usize,
    /// The code whose rows were subtracted from every row of its reduction index (a ReLU's zero
    /// point, the most common code): its products are then zero and a kernel may skip it.
    /// `None` when the rebased rows would not fit 16 bits.
    skip: Option<u8>,
    /// `Σ_kk rows_kk[skip]` per lane (`nf_pad`, zero without rebasing): every sum starts there.
    base: Vec<i32>,
    rows: Rows,
}

#[derive(Debug, Clone)]
enum Rows {
    /// Entries less `bias` (0 when they fit `i16`, else chosen so that they do).
    I16 {
        rows: Vec<i16>,
        bias: i32,
    },
    I32(Vec<i32>),
}

/// A row element: widened to i32 lanes on load.
trait Elem: Copy {
    fn widen(self) -> i32;
    /// Eight elements at `p` as eight i32 lanes.
    ///
    /// # Safety
    /// The CPU supports AVX2, and `p` is valid for reads of eight elements (no alignment needed).
    #[cfg(target_arch = "x86_64")]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256i;
}

impl Elem for i16 {
    fn widen(self) -> i32 {
        self as i32
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const i16) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        // SAFETY: the caller guarantees AVX2 and eight readable `i16` (16 bytes) at `p`.
        unsafe { _mm256_cvtepi16_epi32(_mm_loadu_si128(p as *const __m128i)) }
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
        // SAFETY: the caller guarantees AVX2 and eight readable `i32` (32 bytes) at `p`.
        unsafe { _mm256_loadu_si256(p as *const __m256i) }
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

    /// `z`: the code to rebase on when that keeps 16-bit rows — the accelerator passes the
    /// layer's input zero point, the most common code after a ReLU (any code gives the same sums).
    pub fn new(table: &[i32], wgt: &[u8], neg: Option<&[i32]>, k: usize, nf: usize, z: u8) -> ColumnTable {
        assert_eq!(table.len(), 65536, "8x8 table");
        let nf_pad = pad8(nf);
        let stride = Self::stride(nf_pad);
        assert!(k * stride < u32::MAX as usize, "column table offsets are 32-bit");
        // `t` (a 65536-entry table) folded with the weights into per-index rows.
        let fold = |t: &[i32]| {
            let mut rows = vec![0i32; k * stride];
            for kk in 0..k {
                for o in 0..nf {
                    let c = wgt[kk * nf + o] as usize;
                    let m = neg.map_or(0, |m| m[kk * nf + o]);
                    for a in 0..256 {
                        rows[kk * stride + a * nf_pad + o] = (t[a << 8 | c] ^ m).wrapping_sub(m);
                    }
                }
            }
            rows
        };
        // The gather kernel's rebasing (`delta`, `base`), folded the same way.
        let rl = RebasedLut::new(table, z, wgt, neg, k, nf);
        let rebased = fold(&rl.delta);
        let (skip, rows, base, bias) = match bias16(&rebased) {
            Some(b) => (Some(z), rebased, rl.base, Some(b)),
            None => {
                let rows = fold(table);
                let b = bias16(&rows);
                (None, rows, vec![0; nf_pad], b)
            }
        };
        let rows = match bias {
            Some(bias) => Rows::I16 { rows: rows.iter().map(|&v| v.wrapping_sub(bias) as i16).collect(), bias },
            None => Rows::I32(rows),
        };
        ColumnTable { k, nf, nf_pad, stride, skip, base, rows }
    }

    /// Whether the rows were rebased on a code (whose products the AVX-512 kernel skips).
    pub fn skips(&self) -> Option<u8> {
        self.skip
    }

    /// Bits per stored entry (16 or 32).
    pub fn entry_bits(&self) -> u32 {
        match self.rows {
            Rows::I16 { .. } => 16,
            Rows::I32(_) => 32,
        }
    }

    /// The same sums as [`gemm`] (wrapping i32), `npix × nf` in `out`.
    pub fn gemm(&self, ops: &GemmOperands, out: &mut Vec<i32>) {
        let mut acc = Vec::new();
        let stride = self.gemm_rows(ops, &mut acc);
        unpad(&acc, stride, ops.nf, out);
    }

    /// Sums in rows of at least `nf` lanes (the returned stride).
    pub fn gemm_rows(&self, ops: &GemmOperands, acc: &mut Vec<i32>) -> usize {
        assert_eq!((ops.k, ops.nf), (self.k, self.nf), "column table built for another layer");
        acc.clear();
        match &self.rows {
            Rows::I16 { rows, bias } => {
                // One 8-lane vector (nf ≤ 8) is cheaper with AVX2: a 32-lane one would be three
                // quarters padding, and sums four times as wide would go through memory.
                #[cfg(target_arch = "x86_64")]
                if vnni() && self.nf_pad > LANES {
                    // SAFETY: AVX-512 F/BW/VL/VNNI are present; the kernel asserts the lengths its
                    // pointers rely on.
                    return unsafe { columns_vnni(self, rows, *bias, ops, acc) };
                }
                #[cfg(target_arch = "x86_64")]
                if self.skip.is_some() && self.nf_pad >= SKIP_MIN_LANES && std::is_x86_feature_detected!("avx2") {
                    // SAFETY: AVX2 is present; the kernel asserts the lengths its pointers rely on.
                    unsafe { columns_avx2_skip(self, rows, *bias, ops, acc) };
                    return self.nf_pad;
                }
                self.init(ops.npix, *bias, acc);
                self.run(rows, ops, acc)
            }
            Rows::I32(r) => {
                self.init(ops.npix, 0, acc);
                self.run(r, ops, acc)
            }
        }
        self.nf_pad
    }

    /// Sums before the first reduction index of kernels that visit every entry: the rebasing
    /// base plus `bias` once per index.
    fn init(&self, npix: usize, bias: i32, acc: &mut Vec<i32>) {
        let b = bias.wrapping_mul(self.k as i32);
        acc.clear();
        for _ in 0..npix {
            acc.extend(self.base.iter().map(|v| v.wrapping_add(b)));
        }
    }

    /// The AVX2 kernel, else the portable body.
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

/// [`columns_body`] with AVX2: `acc` (rows of `nf_pad` sums, already initialized) gets every
/// pixel's row entries added. Safe to call on a CPU with AVX2 (hence `unsafe` only at the
/// runtime-dispatched call sites): the asserts and the table's layout bound every pointer.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn columns_avx2<E: Elem>(t: &ColumnTable, rows: &[E], ops: &GemmOperands, acc: &mut [i32]) {
    let (k, np, st) = (t.k, t.nf_pad, t.stride);
    assert_eq!(rows.len(), k * st);
    assert_eq!(ops.act.len(), acc.len() / np * k);
    for (kb, ke) in kblocks(k, st * std::mem::size_of::<E>()) {
        let rows = &rows[kb * st..];
        for (p, accp) in acc.chunks_exact_mut(np).enumerate() {
            let a = &ops.act[p * k + kb..p * k + ke];
            let mut o0 = 0;
            // Tiles of up to 4 vectors (32 lanes) stay in registers across the block.
            while o0 < np {
                let v = ((np - o0) / LANES).min(4);
                let (acc_o, rows_o) = (accp[o0..].as_mut_ptr(), rows[o0..].as_ptr());
                // SAFETY: AVX2 is enabled here. `np` is a multiple of 8, so `o0 + 8v ≤ np` lanes of
                // `accp` exist. `rows_o` starts `a.len() = ke − kb` blocks of `st = 256·np + 16`
                // elements (`rows.len() = k·st`); a code `q < 256` reads elements
                // `q·np + o0 .. q·np + o0 + 8v ≤ 256·np` of its block.
                unsafe {
                    match v {
                        4 => tile_avx2::<4, E>(acc_o, rows_o, a, np, st),
                        3 => tile_avx2::<3, E>(acc_o, rows_o, a, np, st),
                        2 => tile_avx2::<2, E>(acc_o, rows_o, a, np, st),
                        _ => tile_avx2::<1, E>(acc_o, rows_o, a, np, st),
                    }
                }
                o0 += v * LANES;
            }
        }
    }
}

/// Narrowest rows for which listing a pixel's codes to skip the rebased one pays (AVX2): with
/// fewer vectors per code the list costs more than the additions it saves.
const SKIP_MIN_LANES: usize = 64;

/// [`columns_avx2`] for rebased 16-bit rows, skipping the rebased code (whose entries are zero):
/// each pixel's other codes in a block become a list of row offsets (32 codes compared per
/// instruction), and the sums get `bias` back once per entry visited. AlexNet's conv2, the
/// largest layer here, has 98 % of its input codes at the zero point. Safe to call on a CPU with
/// AVX2: the asserts and the table's layout bound every pointer.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn columns_avx2_skip(t: &ColumnTable, rows: &[i16], bias: i32, ops: &GemmOperands, acc: &mut Vec<i32>) {
    use std::arch::x86_64::*;
    let (k, np, st) = (t.k, t.nf_pad, t.stride);
    let z = t.skip.expect("rebased rows");
    assert_eq!(rows.len(), k * st);
    assert_eq!(ops.act.len(), ops.npix * k);
    assert_eq!(t.base.len(), np);
    acc.clear();
    for _ in 0..ops.npix {
        acc.extend_from_slice(&t.base);
    }
    let mut visited = vec![0u32; ops.npix];
    let mut offs: Vec<u32> = Vec::with_capacity(k);
    let mut pad = [z; 32];
    let zv = _mm256_set1_epi8(z as i8);
    let (_, sparse) = block_stretch(ops.act, t.skip);
    for (kb, ke) in kblocks(k, (st * 2).div_ceil(sparse)) {
        for (p, n) in visited.iter_mut().enumerate() {
            offs.clear();
            let codes = &ops.act[p * k + kb..p * k + ke];
            for (j, c) in codes.chunks(32).enumerate() {
                // A short group is read in place where the buffer goes on (it does but for the
                // last pixels), else from a copy; either way the bytes past it are masked off.
                let at = p * k + kb + 32 * j;
                let src = if at + 32 <= ops.act.len() {
                    ops.act[at..].as_ptr()
                } else {
                    pad[..c.len()].copy_from_slice(c);
                    pad.as_ptr()
                };
                // SAFETY: AVX2 is enabled here; `src` has 32 readable bytes (`act[at..at + 32]`,
                // or the 32-byte `pad`).
                let v = unsafe { _mm256_loadu_si256(src as *const __m256i) };
                let live = if c.len() == 32 { u32::MAX } else { (1u32 << c.len()) - 1 };
                let mut m = !(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, zv)) as u32) & live;
                let kk0 = kb + 32 * j;
                while m != 0 {
                    let b = m.trailing_zeros() as usize;
                    // SAFETY: `m ⊆ live`, so bit `b` is below `c.len()`.
                    let code = unsafe { *c.get_unchecked(b) };
                    offs.push(((kk0 + b) * st + code as usize * np) as u32);
                    m &= m - 1;
                }
            }
            *n += offs.len() as u32;
            let accp = &mut acc[p * np..(p + 1) * np];
            let mut o0 = 0;
            while o0 < np {
                let v = ((np - o0) / LANES).min(4);
                let (acc_o, rows_o) = (accp[o0..].as_mut_ptr(), rows[o0..].as_ptr());
                // SAFETY: AVX2 is enabled here. `np` is a multiple of 8, so `o0 + 8v ≤ np` lanes of
                // the pixel's row exist. An offset is `kk·st + code·np` with `kk < k`, `code < 256`
                // (`new` keeps `k·st` below 2³²), so elements `o0 + off .. o0 + off + 8v` lie
                // within `(k − 1)·st + 256·np < rows.len() = k·st`.
                unsafe {
                    match v {
                        4 => tile_offs_avx2::<4>(acc_o, rows_o, &offs),
                        3 => tile_offs_avx2::<3>(acc_o, rows_o, &offs),
                        2 => tile_offs_avx2::<2>(acc_o, rows_o, &offs),
                        _ => tile_offs_avx2::<1>(acc_o, rows_o, &offs),
                    }
                }
                o0 += v * LANES;
            }
        }
    }
    if bias != 0 {
        for (row, &n) in acc.chunks_exact_mut(np).zip(&visited) {
            let b = bias.wrapping_mul(n as i32);
            row.iter_mut().for_each(|v| *v = v.wrapping_add(b));
        }
    }
}

/// `acc[..8V] += Σ_j rows[offs_j ..][..8V]` (entries widened from i16).
///
/// # Safety
/// The CPU supports AVX2; `acc` is valid for reads and writes of `8V` `i32`; for every `o` in
/// `offs`, `rows + o` is valid for reads of `8V` `i16` (no alignment needed for either).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn tile_offs_avx2<const V: usize>(acc: *mut i32, rows: *const i16, offs: &[u32]) {
    use std::arch::x86_64::*;
    let mut s = [_mm256_setzero_si256(); V];
    for (v, sv) in s.iter_mut().enumerate() {
        // SAFETY: lanes `8v..8v + 8` of `acc` are readable (`v < V`; caller's contract).
        *sv = unsafe { _mm256_loadu_si256(acc.add(v * LANES) as *const __m256i) };
    }
    for &o in offs {
        // SAFETY: `rows + o` starts `8V` readable elements (caller's contract).
        let r = unsafe { rows.add(o as usize) };
        for (v, sv) in s.iter_mut().enumerate() {
            // SAFETY: elements `8v..8v + 8` from `r` are readable (`v < V`), and AVX2 is present.
            *sv = _mm256_add_epi32(*sv, unsafe { i16::load8(r.add(v * LANES)) });
        }
    }
    for (v, sv) in s.iter().enumerate() {
        // SAFETY: lanes `8v..8v + 8` of `acc` are writable (`v < V`; caller's contract).
        unsafe { _mm256_storeu_si256(acc.add(v * LANES) as *mut __m256i, *sv) };
    }
}

/// `acc[..8V] += Σ_j rows[j·stride + a_j·np ..][..8V]`.
///
/// # Safety
/// The CPU supports AVX2; `acc` is valid for reads and writes of `8V` `i32`; for every
/// `j < a.len()`, `rows + j·stride + a[j]·np` is valid for reads of `8V` elements (e.g. `rows`
/// starts `a.len()` blocks of `stride ≥ 256·np` elements and `8V ≤ np`, as codes are < 256).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn tile_avx2<const V: usize, E: Elem>(acc: *mut i32, rows: *const E, a: &[u8], np: usize, stride: usize) {
    use std::arch::x86_64::*;
    let mut s = [_mm256_setzero_si256(); V];
    for (v, sv) in s.iter_mut().enumerate() {
        // SAFETY: lanes `8v..8v + 8` of `acc` are readable (`v < V`; caller's contract).
        *sv = unsafe { _mm256_loadu_si256(acc.add(v * LANES) as *const __m256i) };
    }
    // `block` is `rows + j·stride` for the `j`-th code (stepped with `wrapping_add`: past the
    // last code it may point beyond the rows, and is never used there).
    let mut block = rows;
    for &q in a {
        // SAFETY: `block + q·np` starts `8V` readable elements of the current block (caller's
        // contract).
        let r = unsafe { block.add(q as usize * np) };
        for (v, sv) in s.iter_mut().enumerate() {
            // SAFETY: elements `8v..8v + 8` from `r` are readable (`v < V`), and AVX2 is present.
            *sv = _mm256_add_epi32(*sv, unsafe { E::load8(r.add(v * LANES)) });
        }
        block = block.wrapping_add(stride);
    }
    for (v, sv) in s.iter().enumerate() {
        // SAFETY: lanes `8v..8v + 8` of `acc` are writable (`v < V`; caller's contract).
        unsafe { _mm256_storeu_si256(acc.add(v * LANES) as *mut __m256i, *sv) };
    }
}

/// AVX-512 (F, BW, VL) with VNNI (`vpdpwssd`), unless `AXDNN_NO_AVX512` is set (to measure and
/// test the AVX2 kernel on the same machine).
#[cfg(target_arch = "x86_64")]
fn vnni() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512vnni")
            && std::env::var_os("AXDNN_NO_AVX512").is_none()
    })
}

/// The 16-bit rows with AVX-512: a row's 32 entries in one load, summed into even and odd
/// output channels by two `vpdpwssd` against `(1, 0)` and `(0, 1)` word pairs — two
/// instructions per 32 products, no widening shuffles (the AVX2 kernel needs eight). Entries of
/// the rebased code are zero and skipped: a pixel's codes become a list of row offsets (in
/// AlexNet's conv2 here 98 % of the codes are the zero point).
///
/// Sums stay in that split order (per 32 channels: 16 even, then 16 odd) in rows of a whole
/// number of vectors until the end, so that resuming a tile costs plain loads; a block of
/// reduction indices is sized for one channel tile's slice of the rows and every tile of the
/// block runs over all pixels before the next block. Returns the row stride of `acc`. Safe to
/// call on a CPU with these features: the asserts and the table's layout bound every pointer.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
fn columns_vnni(t: &ColumnTable, rows: &[i16], bias: i32, ops: &GemmOperands, acc: &mut Vec<i32>) -> usize {
    use std::arch::x86_64::*;
    let (k, np, st) = (t.k, t.nf_pad, t.stride);
    let np32 = np.div_ceil(VNNI_LANES) * VNNI_LANES;
    assert_eq!(rows.len(), k * st);
    assert_eq!(ops.act.len(), ops.npix * k);
    assert!(k > 0);
    // Not zero-filled: the first block's tiles write every lane before anything reads it.
    acc.clear();
    acc.reserve(ops.npix * np32);
    let tile = np.min(4 * VNNI_LANES);
    let mut ends = vec![0usize; ops.npix];
    // Entries visited per pixel (each owes `bias` back).
    let mut visited = vec![0u32; ops.npix];
    let (kept, sparse) = block_stretch(ops.act, t.skip);
    let mut offs = OFFSETS.take();
    let skip = _mm512_set1_epi8(t.skip.unwrap_or(0) as i8);
    let npv = _mm512_set1_epi32(np as i32);
    let lane = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(st as i32),
    );
    for (kb, ke) in kblocks(k, (256 * tile * 2).div_ceil(sparse)) {
        let first = kb == 0;
        // Row offsets `kk·stride + code·np` of every pixel's codes in the block but the skipped
        // one: 64 codes compared at a time; sparse groups walk their set bits, dense ones are
        // compressed 16 at a time. Written through the spare capacity (no zero fill: blocks of
        // sparse layers are long).
        offs.clear();
        offs.reserve((ops.npix * (ke - kb)).min(kept) + 64);
        let mut n = 0;
        for (p, end) in ends.iter_mut().enumerate() {
            let start = n;
            let codes = &ops.act[p * k + kb..p * k + ke];
            for (j, c) in codes.chunks(64).enumerate() {
                let all = if c.len() == 64 { u64::MAX } else { (1u64 << c.len()) - 1 };
                // SAFETY: the mask covers the `c.len()` bytes of `c`; masked-off bytes are not
                // accessed.
                let v = unsafe { _mm512_maskz_loadu_epi8(all, c.as_ptr() as *const _) };
                let mut m = if t.skip.is_some() { all & _mm512_cmpneq_epi8_mask(v, skip) } else { all };
                let kk0 = kb + 64 * j;
                if m.count_ones() <= 8 {
                    while m != 0 {
                        let b = m.trailing_zeros() as usize;
                        // SAFETY: `m ⊆ all`, so `b < c.len()`; `n` is below the count of listed
                        // codes, at most the capacity reserved above.
                        unsafe {
                            *offs.as_mut_ptr().add(n) = ((kk0 + b) * st + *c.get_unchecked(b) as usize * np) as u32
                        };
                        n += 1;
                        m &= m - 1;
                    }
                    continue;
                }
                let quarters = [
                    _mm512_extracti32x4_epi32::<0>(v),
                    _mm512_extracti32x4_epi32::<1>(v),
                    _mm512_extracti32x4_epi32::<2>(v),
                    _mm512_extracti32x4_epi32::<3>(v),
                ];
                for (q, c16) in quarters.into_iter().enumerate() {
                    let mq = (m >> (16 * q)) as u16;
                    let kk = _mm512_add_epi32(_mm512_set1_epi32(((kk0 + 16 * q) * st) as i32), lane);
                    let off = _mm512_add_epi32(kk, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(c16), npv));
                    // SAFETY: 16 lanes from `n` lie within the capacity: `n` is at most the block's
                    // listed codes, and the reserve added 64 to that bound.
                    unsafe {
                        _mm512_storeu_si512(offs.as_mut_ptr().add(n) as *mut _, _mm512_maskz_compress_epi32(mq, off))
                    };
                    n += mq.count_ones() as usize;
                }
            }
            *end = n;
            visited[p] += (n - start) as u32;
        }
        // SAFETY: entries `..n` were written above, within the reserved capacity.
        unsafe { offs.set_len(n) };
        let mut o0 = 0;
        while o0 < np {
            let lanes = (np - o0).min(4 * VNNI_LANES);
            let rows_o = rows[o0..].as_ptr();
            let mut start = 0;
            for (p, &end) in ends.iter().enumerate() {
                // In the capacity reserved for `npix·np32` sums (`o0 < np ≤ np32`).
                let (o, acc_o) = (&offs[start..end], acc.as_mut_ptr().wrapping_add(p * np32 + o0));
                // `vpdpwssd` has a latency of about 5 cycles: narrow tiles keep several partial
                // sums per vector (successive listed entries in turn) to have ≥ 8 in flight.
                // SAFETY: the features are enabled here. Tiles start at multiples of 128 lanes, so
                // `o0 + 32·⌈lanes/32⌉ ≤ np32`: the tile's lanes lie in pixel `p`'s row of the
                // reserved capacity, written by the first block (`first`) before any later block
                // reads them. An offset is `kk·st + code·np` (`kk < k`, `code < 256`), so elements
                // `..lanes` from `rows_o + off` end by `(k − 1)·st + 256·np < rows.len()`.
                unsafe {
                    match lanes.div_ceil(VNNI_LANES) {
                        4 => tile_vnni::<4, 2>(acc_o, rows_o, o, lanes, first),
                        3 => tile_vnni::<3, 2>(acc_o, rows_o, o, lanes, first),
                        2 => tile_vnni::<2, 2>(acc_o, rows_o, o, lanes, first),
                        _ => tile_vnni::<1, 4>(acc_o, rows_o, o, lanes, first),
                    }
                }
                start = end;
            }
            o0 += lanes;
        }
    }
    OFFSETS.set(offs);
    // SAFETY: the first block wrote lanes `..np32` of every pixel's row (tiles of 32V lanes from
    // `o0` end at `np32`), within the capacity reserved for `npix·np32`.
    unsafe { acc.set_len(ops.npix * np32) };
    // Back to channel order, from the rebasing base, with `bias` given back once per visited
    // entry (the stored entries are less `bias`).
    let lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    let mut base = t.base.clone();
    base.resize(np32, 0);
    for (row, &n) in acc.chunks_exact_mut(np32).zip(&visited) {
        let b = _mm512_set1_epi32(bias.wrapping_mul(n as i32));
        for (v, base) in row.chunks_exact_mut(VNNI_LANES).zip(base.chunks_exact(VNNI_LANES)) {
            let (p, base) = (v.as_mut_ptr(), base.as_ptr());
            // SAFETY: `v` and `base` are chunks of 32 `i32`: two 16-lane vectors each.
            unsafe {
                let (e, o) = (_mm512_loadu_si512(p as *const _), _mm512_loadu_si512(p.add(16) as *const _));
                let b0 = _mm512_add_epi32(b, _mm512_loadu_si512(base as *const _));
                let b1 = _mm512_add_epi32(b, _mm512_loadu_si512(base.add(16) as *const _));
                _mm512_storeu_si512(p as *mut _, _mm512_add_epi32(b0, _mm512_permutex2var_epi32(e, lo, o)));
                _mm512_storeu_si512(p.add(16) as *mut _, _mm512_add_epi32(b1, _mm512_permutex2var_epi32(e, hi, o)));
            }
        }
    }
    np32
}

#[cfg(target_arch = "x86_64")]
thread_local! {
    /// Row offsets of `columns_vnni`, kept per thread across GEMMs.
    static OFFSETS: std::cell::Cell<Vec<u32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// 16-bit lanes of one AVX-512 vector.
#[cfg(target_arch = "x86_64")]
const VNNI_LANES: usize = 32;

/// `acc[..32V] += Σ_j rows[offs_j ..][..lanes]` in split order (per vector: the even lanes'
/// sums, then the odd lanes'), `lanes ≤ 32V`; the last vector is loaded under a mask. `first`:
/// `acc` is not read (uninitialized) but written.
///
/// # Safety
/// The CPU supports AVX-512 F/BW/VNNI; `32(V − 1) < lanes ≤ 32V`; `acc` is valid for writes of
/// `32V` `i32`, and also for reads of them (initialized) unless `first`; for every `o` in
/// `offs`, `rows + o` is valid for reads of `lanes` `i16` (no alignment needed).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn tile_vnni<const V: usize, const S: usize>(
    acc: *mut i32,
    rows: *const i16,
    offs: &[u32],
    lanes: usize,
    first: bool,
) {
    use std::arch::x86_64::*;
    let n = lanes - (V - 1) * VNNI_LANES;
    let last: u32 = if n == VNNI_LANES { u32::MAX } else { (1u32 << n) - 1 };
    let (even, odd) = (_mm512_set1_epi32(1), _mm512_set1_epi32(1 << 16));
    // S sets of partial sums, listed entry j going to set j mod S; set 0 starts from `acc`.
    let mut e = [[_mm512_setzero_si512(); V]; S];
    let mut o = [[_mm512_setzero_si512(); V]; S];
    for v in 0..V {
        if !first {
            // SAFETY: lanes `32v..32v + 32` of `acc` are initialized and readable (`v < V`, not
            // `first`; caller's contract).
            unsafe {
                e[0][v] = _mm512_loadu_si512(acc.add(v * VNNI_LANES) as *const _);
                o[0][v] = _mm512_loadu_si512(acc.add(v * VNNI_LANES + 16) as *const _);
            }
        }
    }
    // `step` is only given `r = rows + o` for an `o` in `offs` (see the calls below): its first
    // `lanes` elements are readable (caller's contract).
    let step = |e: &mut [__m512i; V], o: &mut [__m512i; V], r: *const i16| {
        for v in 0..V {
            // SAFETY: vectors before the last read 32 whole lanes below `32(V − 1) < lanes`; the
            // last one reads only the `lanes − 32(V − 1)` lanes under `last`.
            let x = unsafe {
                if v + 1 == V {
                    _mm512_maskz_loadu_epi16(last, r.add(v * VNNI_LANES))
                } else {
                    _mm512_loadu_si512(r.add(v * VNNI_LANES) as *const _)
                }
            };
            e[v] = _mm512_dpwssd_epi32(e[v], x, even);
            o[v] = _mm512_dpwssd_epi32(o[v], x, odd);
        }
    };
    let chunks = offs.chunks_exact(S);
    let tail = chunks.remainder();
    for c in chunks {
        for s in 0..S {
            // SAFETY: `rows + c[s]` is in bounds: `c[s]` is in `offs` (caller's contract).
            step(&mut e[s], &mut o[s], unsafe { rows.add(c[s] as usize) });
        }
    }
    for &q in tail {
        // SAFETY: `rows + q` is in bounds: `q` is in `offs` (caller's contract).
        step(&mut e[0], &mut o[0], unsafe { rows.add(q as usize) });
    }
    for v in 0..V {
        for s in 1..S {
            e[0][v] = _mm512_add_epi32(e[0][v], e[s][v]);
            o[0][v] = _mm512_add_epi32(o[0][v], o[s][v]);
        }
        // SAFETY: lanes `32v..32v + 32` of `acc` are writable (`v < V`; caller's contract).
        unsafe {
            _mm512_storeu_si512(acc.add(v * VNNI_LANES) as *mut _, e[0][v]);
            _mm512_storeu_si512(acc.add(v * VNNI_LANES + 16) as *mut _, o[0][v]);
        }
    }
}

/// The codes a skipping kernel visits (all but `skip`), and how many times longer its blocks of
/// reduction indices may run: a block's rows need to stay cached only where visited, so with a
/// fraction `d` of the codes kept blocks run 1/d times longer (up to 16×), saving each pixel's
/// per-block overhead.
fn block_stretch(act: &[u8], skip: Option<u8>) -> (usize, usize) {
    let kept = match skip {
        Some(z) => act.iter().filter(|&&c| c != z).count(),
        None => act.len(),
    };
    (kept, (act.len() / kept.max(1)).clamp(1, 16))
}

/// Blocks of reduction indices whose rows (`stride_bytes` each) fit in half of the L2 cache:
/// every pixel of a GEMM (a batch of images) reuses a block's rows while they are cached.
fn kblocks(k: usize, stride_bytes: usize) -> impl Iterator<Item = (usize, usize)> {
    let kblock = (l2_bytes() / 2 / stride_bytes).max(1);
    (0..k).step_by(kblock).map(move |kb| (kb, (kb + kblock).min(k)))
}

/// Per-core L2 size as Linux reports it for CPU 0, else 1 MiB.
fn l2_bytes() -> usize {
    static L2: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *L2.get_or_init(|| {
        let size = std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cache/index2/size").unwrap_or_default();
        let size = size.trim();
        let (num, mul) = match size.strip_suffix('K') {
            Some(n) => (n, 1 << 10),
            None => (size.strip_suffix('M').unwrap_or(""), 1 << 20),
        };
        num.parse::<usize>().map_or(1 << 20, |n| (n * mul).clamp(256 << 10, 8 << 20))
    })
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
    /// The same weights as `i16` pairs of successive reduction indices per channel, channels
    /// padded to 16: `w16[(i·nf16 + o)·2 + j] = w[2i + j][o]` (zero past `k`), what
    /// `vpdpwssd` multiplies against a broadcast pair of activations.
    w16: Vec<i16>,
    nf16: usize,
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
        let nf16 = nf.div_ceil(16) * 16;
        let mut w16 = vec![0i16; k.div_ceil(2) * nf16 * 2];
        for kk in 0..k {
            for o in 0..nf {
                // Operand values are 8-bit and negation keeps them within ±255.
                w16[((kk / 2) * nf16 + o) * 2 + kk % 2] = w[kk * nf_pad + o] as i16;
            }
        }
        Some(ExactKernel { signed, k, nf, nf_pad, w, w16, nf16 })
    }

    /// The same sums as [`gemm`] (wrapping i32), `npix × nf` in `out`.
    pub fn gemm(&self, ops: &GemmOperands, out: &mut Vec<i32>) {
        let mut acc = Vec::new();
        let stride = self.gemm_rows(ops, &mut acc);
        unpad(&acc, stride, ops.nf, out);
    }

    /// Sums in rows of at least `nf` lanes (the returned stride).
    pub fn gemm_rows(&self, ops: &GemmOperands, acc: &mut Vec<i32>) -> usize {
        assert_eq!((ops.k, ops.nf), (self.k, self.nf), "weights built for another layer");
        acc.clear();
        #[cfg(target_arch = "x86_64")]
        if vnni() {
            // SAFETY: AVX-512 F/BW/VL/VNNI are present; the kernel asserts what its pointers
            // rely on.
            unsafe { exact_vnni(self, ops, acc) };
            return self.nf16;
        }
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

/// The exact layers with AVX2: per pixel, each pair of successive activations is broadcast and
/// `vpmaddwd` forms both products for 8 channels and adds them in i32 (16 MACs per instruction;
/// `vpmulld` on i32 lanes did 8 at a lower rate). Pairs whose two values are zero are skipped
/// (MNIST background, ReLU zeros). Each pixel's row of `nf_pad` sums is overwritten. Safe to
/// call on a CPU with AVX2: the asserts bound every pointer.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn exact_avx2(e: &ExactKernel, ops: &GemmOperands, acc: &mut [i32]) {
    use std::arch::x86_64::*;
    let (k, n16, np) = (e.k, e.nf16, e.nf_pad);
    let kp = k.div_ceil(2);
    assert_eq!(ops.act.len(), ops.npix * k);
    assert_eq!(e.w16.len(), kp * n16 * 2);
    assert_eq!(acc.len(), ops.npix * np);
    assert!(np <= n16);
    // The pixel's values as i16, zero past `k` (never written), and the pairs not both zero.
    let mut a16 = vec![0i16; 2 * kp + 16];
    let mut nz: Vec<u32> = Vec::with_capacity(kp);
    for (p, accp) in acc.chunks_exact_mut(np).enumerate() {
        for (d, &q) in a16.iter_mut().zip(&ops.act[p * k..(p + 1) * k]) {
            *d = if e.signed { q as i8 as i16 } else { q as i16 };
        }
        nz.clear();
        for i0 in (0..kp).step_by(8) {
            // SAFETY: pairs `i0..i0 + 8` lie within `a16` (`2·i0 + 16 ≤ 2·kp + 14`).
            let v = unsafe { _mm256_loadu_si256(a16.as_ptr().add(2 * i0) as *const __m256i) };
            let zero = _mm256_cmpeq_epi32(v, _mm256_setzero_si256());
            // Pairs past `kp` are zero (never written), so they are never listed.
            let mut m = !(_mm256_movemask_ps(_mm256_castsi256_ps(zero)) as u32) & 0xff;
            while m != 0 {
                nz.push((i0 + m.trailing_zeros() as usize) as u32);
                m &= m - 1;
            }
        }
        let mut o0 = 0;
        while o0 < np {
            let v = ((np - o0) / LANES).min(4);
            let (out, w) = (accp[o0..].as_mut_ptr(), e.w16.as_ptr().wrapping_add(o0 * 2));
            // SAFETY: AVX2 is enabled here. `np` is a multiple of 8, so `o0 + 8v ≤ np` lanes of
            // `accp` exist. A listed pair `i < kp` is in `a16`, and its weight row, elements
            // `2(i·n16 + o0) ..` (16v of them), ends by `2(i·n16 + np) ≤ 2(i + 1)·n16 ≤ w16.len()`.
            unsafe {
                match v {
                    4 => exact_tile_avx2::<4>(out, w, &a16, &nz, n16),
                    3 => exact_tile_avx2::<3>(out, w, &a16, &nz, n16),
                    2 => exact_tile_avx2::<2>(out, w, &a16, &nz, n16),
                    _ => exact_tile_avx2::<1>(out, w, &a16, &nz, n16),
                }
            }
            o0 += v * LANES;
        }
    }
}

/// `out[..8V] = Σ_{i ∈ pairs} a16[2i..2i+2] · w[i·2·n16 ..][..16V]` (one `vpmaddwd` and one add
/// per vector and pair: the add is the only chained instruction, so one set of sums suffices).
///
/// # Safety
/// The CPU supports AVX2; `out` is valid for writes of `8V` `i32`; for every `i` in `pairs`,
/// `2i + 2 ≤ a16.len()` and `w + 2i·n16` is valid for reads of `16V` `i16` (no alignment needed).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn exact_tile_avx2<const V: usize>(out: *mut i32, w: *const i16, a16: &[i16], pairs: &[u32], n16: usize) {
    use std::arch::x86_64::*;
    let mut s = [_mm256_setzero_si256(); V];
    for &i in pairs {
        let i = i as usize;
        // SAFETY: `a16[2i..2i + 2]` exists (caller's contract); read as one unaligned `i32`.
        let a = _mm256_set1_epi32(unsafe { (a16.as_ptr().add(2 * i) as *const i32).read_unaligned() });
        // SAFETY: `w + 2i·n16` starts `16V` readable elements (caller's contract).
        let wi = unsafe { w.add(i * 2 * n16) };
        for (v, sv) in s.iter_mut().enumerate() {
            // SAFETY: elements `16v..16v + 16` from `wi` are readable (`v < V`).
            let wv = unsafe { _mm256_loadu_si256(wi.add(v * 16) as *const __m256i) };
            *sv = _mm256_add_epi32(*sv, _mm256_madd_epi16(a, wv));
        }
    }
    for (v, sv) in s.iter().enumerate() {
        // SAFETY: lanes `8v..8v + 8` of `out` are writable (`v < V`; caller's contract).
        unsafe { _mm256_storeu_si256(out.add(v * LANES) as *mut __m256i, *sv) };
    }
}

/// The exact layers with AVX-512 VNNI: per pixel, each pair of successive activations is
/// broadcast and `vpdpwssd` adds both products for 16 channels at once (32 MACs per
/// instruction; 8-bit values and their products' pair sums are exact in i16 × i16 → i32).
/// Pairs whose two values are zero are skipped. Rows of `nf16` sums. Safe to call on a CPU with
/// these features: the asserts bound every pointer.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
fn exact_vnni(e: &ExactKernel, ops: &GemmOperands, acc: &mut Vec<i32>) {
    use std::arch::x86_64::*;
    let (k, n16) = (e.k, e.nf16);
    let kp = k.div_ceil(2);
    assert_eq!(ops.act.len(), ops.npix * k);
    assert_eq!(e.w16.len(), kp * n16 * 2);
    acc.resize(ops.npix * n16, 0);
    // The pixel's activation values as i16, one zero past an odd `k`, and the pairs that are
    // not both zero (a zero value's products are zero: ReLU outputs are mostly zeros).
    let mut a16 = vec![0i16; 2 * kp + 32];
    let mut nz: Vec<u32> = Vec::with_capacity(kp + 16);
    let ramp = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (p, accp) in acc.chunks_exact_mut(n16).enumerate() {
        for (d, &q) in a16.iter_mut().zip(&ops.act[p * k..(p + 1) * k]) {
            *d = if e.signed { q as i8 as i16 } else { q as i16 };
        }
        nz.clear();
        let mut n = 0;
        for i0 in (0..kp).step_by(16) {
            let m = if kp - i0 >= 16 { u16::MAX } else { (1u16 << (kp - i0)) - 1 };
            // SAFETY: the mask selects pairs `i0..kp`, within `a16` (masked-off lanes are not
            // accessed).
            let pairs = unsafe { _mm512_maskz_loadu_epi32(m, a16.as_ptr().add(2 * i0) as *const _) };
            let m = _mm512_mask_test_epi32_mask(m, pairs, pairs);
            let idx = _mm512_add_epi32(ramp, _mm512_set1_epi32(i0 as i32));
            // SAFETY: `n ≤ i0 < kp`, so 16 lanes from `n` lie in the reserved capacity `kp + 16`.
            unsafe { _mm512_storeu_si512(nz.as_mut_ptr().add(n) as *mut _, _mm512_maskz_compress_epi32(m, idx)) };
            n += m.count_ones() as usize;
        }
        // SAFETY: the compressing stores wrote entries `..n` (`n ≤ kp`, within the capacity).
        unsafe { nz.set_len(n) };
        let mut o0 = 0;
        while o0 < n16 {
            let v = ((n16 - o0) / 16).min(4);
            let (out, w) = (accp[o0..].as_mut_ptr(), e.w16.as_ptr().wrapping_add(o0 * 2));
            // ≥ 8 independent sums in flight (the instruction's latency is about 5 cycles).
            // SAFETY: the features are enabled here. `n16` is a multiple of 16, so `o0 + 16v ≤ n16`
            // lanes of `accp` exist. A listed pair `i < kp` is in `a16`, and its weight row,
            // elements `2(i·n16 + o0) ..` (32v of them), ends by `2(i + 1)·n16 ≤ w16.len()`.
            unsafe {
                match v {
                    4 => exact_tile::<4, 2>(out, w, &a16, &nz, n16),
                    3 => exact_tile::<3, 3>(out, w, &a16, &nz, n16),
                    2 => exact_tile::<2, 4>(out, w, &a16, &nz, n16),
                    _ => exact_tile::<1, 8>(out, w, &a16, &nz, n16),
                }
            }
            o0 += v * 16;
        }
    }
}

/// `out[..16V] = Σ_{i ∈ pairs} a16[2i..2i+2] · w[i·2·n16 ..][..32V]`, over S sets of sums.
///
/// # Safety
/// The CPU supports AVX-512 F/BW/VNNI; `out` is valid for writes of `16V` `i32`; for every `i`
/// in `pairs`, `2i + 2 ≤ a16.len()` and `w + 2i·n16` is valid for reads of `32V` `i16` (no
/// alignment needed).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn exact_tile<const V: usize, const S: usize>(
    out: *mut i32,
    w: *const i16,
    a16: &[i16],
    pairs: &[u32],
    n16: usize,
) {
    use std::arch::x86_64::*;
    let mut s = [[_mm512_setzero_si512(); V]; S];
    // `i` is always an entry of `pairs` (see the calls).
    let step = |s: &mut [__m512i; V], i: u32| {
        let i = i as usize;
        // SAFETY: `a16[2i..2i + 2]` exists (caller's contract); read as one unaligned `i32`.
        let a = _mm512_set1_epi32(unsafe { (a16.as_ptr().add(2 * i) as *const i32).read_unaligned() });
        // SAFETY: `w + 2i·n16` starts `32V` readable elements (caller's contract).
        let wi = unsafe { w.add(i * 2 * n16) };
        for (v, sv) in s.iter_mut().enumerate() {
            // SAFETY: elements `32v..32v + 32` from `wi` are readable (`v < V`).
            let wv = unsafe { _mm512_loadu_si512(wi.add(v * 32) as *const _) };
            *sv = _mm512_dpwssd_epi32(*sv, a, wv);
        }
    };
    let chunks = pairs.chunks_exact(S);
    let tail = chunks.remainder();
    for c in chunks {
        for (sj, &i) in s.iter_mut().zip(c) {
            step(sj, i);
        }
    }
    for &i in tail {
        step(&mut s[0], i);
    }
    for v in 0..V {
        let mut t = s[0][v];
        for sj in &s[1..] {
            t = _mm512_add_epi32(t, sj[v]);
        }
        // SAFETY: lanes `16v..16v + 16` of `out` are writable (`v < V`; caller's contract).
        unsafe { _mm512_storeu_si512(out.add(v * 16) as *mut _, t) };
    }
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
    /// The activation code the table is rebased on.
    pub z: u8,
    /// `delta[a << 8 | c] = LUT[a][c] − LUT[z][c]` (wrapping), 65 536 entries.
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
    /// Rebases the 8×8 `table` on code `z` for a layer's `k × nf` weight codes `wgt` (and negation
    /// masks `neg`).
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
        // SAFETY: AVX2 is present (the kernel asserts what its pointers rely on).
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

/// [`rebased_scalar`] with AVX2 gathers. Safe to call on a CPU with AVX2: the asserts bound
/// every pointer.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn rebased_avx2<const NEG: bool>(ops: &GemmOperands, rl: &RebasedLut, out: &mut [i32]) {
    use std::arch::x86_64::*;
    let nf = ops.nf;
    let np = rl.nf_pad;
    assert_eq!(rl.delta.len(), 65536);
    assert_eq!(rl.wgt.len(), ops.k * np);
    // `base` is public: its length is checked, not assumed.
    assert_eq!(rl.base.len(), np);
    let neg = rl.neg.as_deref().unwrap_or(&[]);
    assert!(!NEG || neg.len() == rl.wgt.len(), "negation masks");
    let (mut nz_k, mut nz_a) = (Vec::new(), Vec::new());
    for (p, dst) in out.chunks_exact_mut(nf).enumerate() {
        nonzero(ops, p, rl.z, &mut nz_k, &mut nz_a);
        for o0 in (0..np).step_by(LANES) {
            // SAFETY: `np` is a multiple of 8 and `base.len() = np`, so lanes `o0..o0 + 8` exist.
            let mut acc = unsafe { _mm256_loadu_si256(rl.base.as_ptr().add(o0) as *const __m256i) };
            for (&kk, &q) in nz_k.iter().zip(&nz_a) {
                // kk < k and o0 + 8 <= np, so off + 8 <= k·np = wgt.len() (= neg.len()).
                let off = kk as usize * np + o0;
                // SAFETY: bytes `off..off + 8` of `wgt` exist (above).
                let idx = _mm256_cvtepu8_epi32(unsafe { _mm_loadl_epi64(rl.wgt.as_ptr().add(off) as *const __m128i) });
                // Row q (< 256) of a 65,536-entry table, column indices < 256.
                // SAFETY: `q·256 + idx < 65536 = delta.len()` for every gathered lane.
                let mut v = unsafe {
                    let row = rl.delta.as_ptr().add((q as usize) << 8);
                    _mm256_i32gather_epi32::<4>(row, idx)
                };
                if NEG {
                    // SAFETY: lanes `off..off + 8` of `neg` exist (`neg.len() = wgt.len()`).
                    let m = unsafe { _mm256_loadu_si256(neg.as_ptr().add(off) as *const __m256i) };
                    v = _mm256_sub_epi32(_mm256_xor_si256(v, m), m);
                }
                acc = _mm256_add_epi32(acc, v);
            }
            let mut tmp = [0i32; LANES];
            // SAFETY: `tmp` has 8 lanes.
            unsafe { _mm256_storeu_si256(tmp.as_mut_ptr() as *mut __m256i, acc) };
            let n = (nf - o0).min(LANES);
            dst[o0..o0 + n].copy_from_slice(&tmp[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Column tables in both entry widths, rebased on the most common code or not: the
    /// dispatched kernel (AVX-512 VNNI where present), the AVX2 kernel, the portable body and the
    /// definition agree (with and without negation masks), and without `AXDNN_NO_AVX512` the
    /// AVX-512 kernel is what ran.
    #[test]
    fn column_table_widths_and_bodies_agree() {
        use rand::{Rng, SeedableRng};
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        // (table, rebasing code, entry bits, negation, rebased?): an unsigned table with
        // `0 × w = 0` rebased on 0 (u16 entries, biased), random u16 entries (rebased, they
        // would span 17 bits), i16 entries, i32 entries, negated unsigned entries (i32).
        let unsigned: Vec<i32> =
            (0..65536).map(|i: i32| (i >> 8) * (i & 255) + if i >> 8 == 0 { 0 } else { r.gen_range(0..400) }).collect();
        let random16: Vec<i32> = (0..65536).map(|_| r.gen_range(0..65536)).collect();
        let small: Vec<i32> = (0..65536).map(|_| r.gen_range(-16384..16384)).collect();
        let wide: Vec<i32> = (0..65536).map(|_| r.gen_range(-100_000..100_000)).collect();
        let cases = [
            (&unsigned, 0u8, 16, false, true),
            (&random16, 77, 16, false, false),
            (&small, 5, 16, false, true),
            (&wide, 9, 32, false, false),
            (&unsigned, 0, 32, true, false),
        ];
        for (ti, (table, z, want_bits, use_neg, rebased)) in cases.into_iter().enumerate() {
            for nf in [1usize, 6, 8, 13, 16, 40, 72, 136, 200] {
                // Reductions of one padded group and of two whole groups and a padded one (32 codes each).
                let (npix, k) = (9, if nf % 2 == 0 { 75 } else { 23 });
                let act: Vec<u8> = (0..npix * k).map(|_| if r.gen_bool(0.6) { z } else { r.gen() }).collect();
                let wgt: Vec<u8> = (0..k * nf).map(|_| r.gen()).collect();
                let neg: Vec<i32> = (0..k * nf).map(|_| -(r.gen_bool(0.5) as i32)).collect();
                let n = use_neg.then_some(&neg[..]);
                let ops = GemmOperands { npix, k, nf, act: &act, wgt: &wgt, neg: n };
                let ct = ColumnTable::new(table, &wgt, n, k, nf, z);
                assert_eq!(ct.entry_bits(), want_bits, "table {ti}");
                assert_eq!(ct.skips(), rebased.then_some(z), "table {ti}");
                let mut fast = Vec::new();
                let stride = ct.gemm_rows(&ops, &mut fast);
                #[cfg(target_arch = "x86_64")]
                if want_bits == 16 && nf > LANES && std::env::var_os("AXDNN_NO_AVX512").is_none() && vnni() {
                    assert_eq!(stride, ct.nf_pad.div_ceil(VNNI_LANES) * VNNI_LANES, "AVX-512 kernel ran");
                }
                let mut fast_out = Vec::new();
                unpad(&fast, stride, nf, &mut fast_out);
                let mut portable = Vec::new();
                match &ct.rows {
                    Rows::I16 { rows, bias } => {
                        ct.init(npix, *bias, &mut portable);
                        let start = portable.clone();
                        columns_body(&ct, rows, &ops, &mut portable);
                        #[cfg(target_arch = "x86_64")]
                        if std::is_x86_feature_detected!("avx2") {
                            let mut avx2 = start;
                            // SAFETY: AVX2 checked just above.
                            unsafe { columns_avx2(&ct, rows, &ops, &mut avx2) };
                            assert_eq!(avx2, portable, "AVX2 kernel, table {ti}, nf {nf}");
                            if ct.skips().is_some() {
                                let mut skip = Vec::new();
                                // SAFETY: AVX2 checked above.
                                unsafe { columns_avx2_skip(&ct, rows, *bias, &ops, &mut skip) };
                                assert_eq!(skip, portable, "AVX2 skipping kernel, table {ti}, nf {nf}");
                            }
                        }
                    }
                    Rows::I32(rows) => {
                        ct.init(npix, 0, &mut portable);
                        columns_body(&ct, rows, &ops, &mut portable)
                    }
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
                assert_eq!(fast_out, want, "table {ti}, nf {nf}");
                assert_eq!(portable_out, want, "table {ti}, nf {nf}");
            }
        }
    }

    /// The exact kernel's AVX-512 (dispatched where present), AVX2 and portable bodies agree,
    /// signed and unsigned, dense and mostly-zero activations, odd `k`, up to 150 channels.
    #[test]
    fn exact_kernel_bodies_agree() {
        use rand::{Rng, SeedableRng};
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(6);
        for case in 0..24 {
            let signed = case % 2 == 1;
            let (npix, k, nf) = (r.gen_range(1..12), r.gen_range(1..60), r.gen_range(1..150));
            let act: Vec<u8> =
                (0..npix * k).map(|_| if case % 3 == 0 && r.gen_bool(0.8) { 0 } else { r.gen() }).collect();
            let wgt: Vec<u8> = (0..k * nf).map(|_| r.gen()).collect();
            let neg: Vec<i32> = (0..k * nf).map(|_| -(r.gen_bool(0.5) as i32)).collect();
            let n = (case % 4 >= 2).then_some(&neg[..]);
            let ops = GemmOperands { npix, k, nf, act: &act, wgt: &wgt, neg: n };
            let e = ExactKernel::new(&crate::lut::Lut::exact(8, 8, signed), &wgt, n, k, nf).unwrap();
            let mut got = Vec::new();
            e.gemm(&ops, &mut got);
            let mut portable = vec![0; npix * e.nf_pad];
            exact_body(&e, &ops, &mut portable);
            let mut want = Vec::new();
            unpad(&portable, e.nf_pad, nf, &mut want);
            assert_eq!(got, want, "case {case}");
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                let mut avx2 = vec![0; npix * e.nf_pad];
                // SAFETY: AVX2 checked just above.
                unsafe { exact_avx2(&e, &ops, &mut avx2) };
                assert_eq!(avx2, portable, "AVX2, case {case}");
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
