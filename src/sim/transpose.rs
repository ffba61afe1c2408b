//! Bit-matrix transposes between "bit planes" (word `j` holds bit `j` of 64 lanes) and per-lane
//! integers. Used to turn simulator output planes into products and operands into input planes.

use super::program::Lanes;

/// In-place transpose of a 64×64 bit matrix: afterwards bit `c` of `a[r]` is the former bit `r`
/// of `a[c]`. Recursive block swap (Hacker's Delight §7-3), 6 rounds of 32 masked swaps; each
/// round is written as contiguous runs so the wide rounds vectorize.
#[inline(always)]
pub fn transpose64(a: &mut [u64; 64]) {
    #[inline(always)]
    fn round<const J: usize>(a: &mut [u64; 64], m: u64) {
        let mut base = 0;
        while base < 64 {
            for k in base..base + J {
                let t = ((a[k] >> J) ^ a[k + J]) & m;
                a[k] ^= t << J;
                a[k + J] ^= t;
            }
            base += 2 * J;
        }
    }
    round::<32>(a, 0x0000_0000_FFFF_FFFF);
    round::<16>(a, 0x0000_FFFF_0000_FFFF);
    round::<8>(a, 0x00FF_00FF_00FF_00FF);
    round::<4>(a, 0x0F0F_0F0F_0F0F_0F0F);
    round::<2>(a, 0x3333_3333_3333_3333);
    round::<1>(a, 0x5555_5555_5555_5555);
}

/// Rows of the 64×64 matrix each 64-lane word contributes when `n_bits`-wide values are packed
/// several words per transpose: `n_bits` rounded up to a power of two.
#[inline]
pub fn pad(n_bits: usize) -> usize {
    n_bits.max(1).next_power_of_two()
}

/// Bit planes → lane values. `planes[j]` holds bit `j` of every lane; writes `out[lane]` for all
/// `64·L` lanes (bits above `planes.len()` are zero). `planes.len()` must be at most 64.
///
/// With `n` planes padded to `p = 2^k ≥ n` rows, each 64-bit word holds `64/p` independent
/// `p×p` bit blocks side by side; the last `k` rounds of the 64×64 transpose turn every block
/// around at once, on whole `Lanes<L>` rows (so the rounds vectorize across the `L` words).
/// Afterwards row `r` holds, in its `c`-th `p`-bit field, the value of lane `p·c + r`.
#[inline(always)]
pub fn planes_to_lanes<const L: usize>(planes: &[Lanes<L>], out: &mut [u64]) {
    let n = planes.len();
    let mut rows = vec![Lanes::<L>::ZERO; pad(n)];
    rows[..n].copy_from_slice(planes);
    planes_to_lanes_in_place(&mut rows, out)
}

/// [`planes_to_lanes`] on a caller-provided buffer: `rows.len()` must be a power of two ≤ 64
/// (rows beyond the real planes zero); `rows` is overwritten.
#[inline(always)]
pub fn planes_to_lanes_in_place<const L: usize>(rows: &mut [Lanes<L>], out: &mut [u64]) {
    let np = rows.len();
    assert!(np.is_power_of_two() && np <= 64 && out.len() >= 64 * L);
    #[inline(always)]
    fn round<const L: usize>(rows: &mut [Lanes<L>], np: usize, j: usize, m: u64) {
        let mut base = 0;
        while base < np {
            for k in base..base + j {
                for w in 0..L {
                    let t = ((rows[k].0[w] >> j) ^ rows[k + j].0[w]) & m;
                    rows[k].0[w] ^= t << j;
                    rows[k + j].0[w] ^= t;
                }
            }
            base += 2 * j;
        }
    }
    const MASKS: [u64; 6] = [
        0x5555_5555_5555_5555,
        0x3333_3333_3333_3333,
        0x0F0F_0F0F_0F0F_0F0F,
        0x00FF_00FF_00FF_00FF,
        0x0000_FFFF_0000_FFFF,
        0x0000_0000_FFFF_FFFF,
    ];
    let k = np.trailing_zeros() as usize;
    for lvl in (0..k).rev() {
        round(rows, np, 1 << lvl, MASKS[lvl]);
    }
    let mask = if np == 64 { u64::MAX } else { (1u64 << np) - 1 };
    let fields = 64 / np;
    for w in 0..L {
        let o = &mut out[w * 64..w * 64 + 64];
        for c in 0..fields {
            for r in 0..np {
                o[c * np + r] = (rows[r].0[w] >> (c * np)) & mask;
            }
        }
    }
}

/// Lane values → bit planes: the inverse of [`planes_to_lanes`]. `vals` holds `64·L` lanes;
/// only the low `planes.len()` bits of each are used.
pub fn lanes_to_planes<const L: usize>(vals: &[u64], planes: &mut [Lanes<L>]) {
    let n = planes.len();
    assert!(n <= 64 && vals.len() >= 64 * L);
    let np = pad(n);
    let per = 64 / np;
    let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
    let mut m = [0u64; 64];
    let mut w0 = 0;
    while w0 < L {
        let cnt = per.min(L - w0);
        m.fill(0);
        for g in 0..cnt {
            let base = (w0 + g) * 64;
            let sh = g * np;
            for (i, &v) in vals[base..base + 64].iter().enumerate() {
                m[i] |= (v & mask) << sh;
            }
        }
        transpose64(&mut m);
        for g in 0..cnt {
            for (j, p) in planes.iter_mut().enumerate() {
                p.0[w0 + g] = m[g * np + j];
            }
        }
        w0 += cnt;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose64_matches_naive() {
        let mut a = [0u64; 64];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for v in a.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *v = x;
        }
        let orig = a;
        transpose64(&mut a);
        for (r, &row) in a.iter().enumerate() {
            for (c, &col) in orig.iter().enumerate() {
                assert_eq!((row >> c) & 1, (col >> r) & 1, "r={r} c={c}");
            }
        }
    }

    #[test]
    fn planes_round_trip_for_every_width() {
        for n in [1usize, 3, 8, 10, 16, 17, 24, 32, 33, 64] {
            let vals: Vec<u64> = (0..256u64)
                .map(|i| i.wrapping_mul(0x2545_F491_4F6C_DD1D) & if n == 64 { !0 } else { (1 << n) - 1 })
                .collect();
            let mut planes = vec![Lanes::<4>::ZERO; n];
            lanes_to_planes(&vals, &mut planes);
            for (j, p) in planes.iter().enumerate() {
                for (lane, &v) in vals.iter().enumerate() {
                    assert_eq!((p.0[lane / 64] >> (lane % 64)) & 1, (v >> j) & 1);
                }
            }
            let mut back = vec![0u64; 256];
            planes_to_lanes(&planes, &mut back);
            assert_eq!(back, vals, "n={n}");
        }
    }
}
