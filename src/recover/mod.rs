//! Accuracy recovery for an approximate multiplier (fitted here; the record and its
//! application are [`crate::quant::recovery`]), retraining-free, as changes of the quantized
//! model only (weight codes, the per-channel int32 bias and requantization multiplier), so every engine, the cycle-stepped
//! array and the RTL (which computes raw sums) stay consistent without knowing about it.
//!
//! * **compensate**: per output channel, the error of the approximate accumulator against the
//!   exact one over the calibration images' im2col rows is removed: its mean by an integer
//!   constant added to the bias (asym-u8, and the logits layer), or, with symmetric weights
//!   (sign-magnitude, sym-s8: signs outside or inside the multiplier, so a relative product error
//!   is a gain on the signal), an affine fit `acc~ ≈ g·acc + d`, inverted: `d` to the bias and
//!   `1/g` to the per-channel requantization multiplier.
//! * **tune** (ALWANN weight tuning): every weight code `w` of an approximate layer becomes the
//!   code `w'` of the scheme's domain (asym-u8 0..=255, sign-magnitude / sym-s8 −127..=127)
//!   minimising `Σ_x p(x)·|x·w − P(x, w')|` over the layer's activation-code histogram (`P` the
//!   product as the PE applies it, ties keep `w`); the exact correction `−z_x·Σw` keeps the
//!   intended weights (the difference folded into the bias); then compensation as above.
//!
//! Layers are recovered in order, and each layer's statistics are read from the engine running
//! the model with the earlier layers already recovered (the distribution the layer will see).
//! With the exact multiplier both methods leave the model unchanged.

pub mod finetune;

use crate::accel::{AccelConfig, AccelError, Accelerator};
use crate::mult::Multiplier;
use crate::quant::recovery::{apply_compensation, apply_tuning, weight_domain};
pub use crate::quant::recovery::{reapply, LayerRecovery, Recover, Recovery};
use crate::quant::{QGemm, QLayer, QuantModel, QuantScheme};

/// Why a recovery could not be fitted.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// The accelerator could not be built or run.
    #[error(transparent)]
    Accel(#[from] AccelError),
    /// The multiplier has no 8×8 table to fit against (its name).
    #[error("recovery needs the multiplier's 8x8 table; '{0}' has none and is not 8x8")]
    NoTable(String),
}

/// The multiplier's 8×8 products, row = activation operand byte.
fn product_table(mult: &dyn Multiplier) -> Result<Vec<i32>, RecoverError> {
    if let Some(t) = mult.table().filter(|t| t.row_bits == 8 && t.col_bits == 8) {
        return Ok(t.table.clone());
    }
    if mult.widths() != (8, 8) {
        return Err(RecoverError::NoTable(mult.name().into()));
    }
    let rows: Vec<u32> = (0..65536u32).map(|i| i >> 8).collect();
    let cols: Vec<u32> = (0..65536u32).map(|i| i & 255).collect();
    let mut out = vec![0i32; 65536];
    mult.mul_batch(&rows, &cols, &mut out);
    Ok(out)
}

/// Signed product of activation byte `x` and weight integer `w` as the PE applies it.
#[inline]
fn pe_product(table: &[i32], scheme: QuantScheme, x: u8, w: i32) -> i64 {
    let (c, neg) = scheme.wgt_operand(w);
    let p = table[(x as usize) << 8 | c as usize] as i64;
    if neg {
        -p
    } else {
        p
    }
}

/// Counts of each activation operand byte.
pub fn histogram(codes: &[u8]) -> Vec<u64> {
    let mut h = vec![0u64; 256];
    for &c in codes {
        h[c as usize] += 1;
    }
    h
}

/// At most this many im2col rows of a layer are used to fit the compensation (evenly strided),
/// and at most [`MAX_FIT_MACS`] multiply-accumulates' worth (all of LeNet-5's conv2 and conv3,
/// every second row of conv1; a sample of AlexNet's larger layers), at least [`MIN_FIT_ROWS`].
pub const MAX_FIT_ROWS: usize = 200_000;
/// At most this many multiply-accumulates' worth of rows are used to fit (see [`MAX_FIT_ROWS`]).
pub const MAX_FIT_MACS: usize = 200_000_000;
/// At least this many rows are used to fit, when the layer has them (see [`MAX_FIT_ROWS`]).
pub const MIN_FIT_ROWS: usize = 4096;

/// Int32 accumulators of the (sampled) calibration rows of one layer, `rows × nf`, with the
/// multiplier table `table` and weights of `g`.
fn accumulators(g: &QGemm, scheme: QuantScheme, table: &crate::lut::Lut, codes: &[u8], rows: &[usize]) -> Vec<i32> {
    let (k, nf) = (g.k, g.nf);
    let mut wgt = vec![0u8; k * nf];
    let mut neg = vec![0i32; k * nf];
    for o in 0..nf {
        for kk in 0..k {
            let (c, n) = scheme.wgt_operand(g.w[o * k + kk]);
            wgt[kk * nf + o] = c;
            neg[kk * nf + o] = -(n as i32);
        }
    }
    let mut act = Vec::with_capacity(rows.len() * k);
    for &r in rows {
        act.extend_from_slice(&codes[r * k..(r + 1) * k]);
    }
    let signed = scheme.act_range().0 < 0;
    let xsum: Vec<i32> = act
        .chunks_exact(k)
        .map(|row| if signed { row.iter().map(|&c| c as i8 as i32).sum() } else { row.iter().map(|&c| c as i32).sum() })
        .collect();
    let kernel =
        crate::accel::fast::TableKernel::choose(table, scheme.act_operand(g.input.zero_point), &wgt, Some(&neg), k, nf);
    let ops = crate::accel::fast::GemmOperands { npix: rows.len(), k, nf, act: &act, wgt: &wgt, neg: Some(&neg) };
    let mut sums = Vec::new();
    kernel.gemm(&ops, &mut sums);
    let mut acc = Vec::with_capacity(sums.len());
    for (r, row) in sums.chunks_exact(nf).enumerate() {
        acc.extend(row.iter().enumerate().map(|(o, &s)| g.accumulator(s, xsum[r], o)));
    }
    acc
}

/// Per channel, the mean and the root mean square of `got − want` (`rows × nf`).
fn error_stats(got: &[i32], want: &[i32], nf: usize) -> (Vec<f64>, Vec<f64>) {
    let n = (got.len() / nf).max(1) as f64;
    let (mut m, mut q) = (vec![0f64; nf], vec![0f64; nf]);
    for (gr, wr) in got.chunks_exact(nf).zip(want.chunks_exact(nf)) {
        for o in 0..nf {
            let e = gr[o] as f64 - wr[o] as f64;
            m[o] += e;
            q[o] += e * e;
        }
    }
    (m.iter().map(|v| v / n).collect(), q.iter().map(|v| (v / n).sqrt()).collect())
}

/// ALWANN tuning map: for every weight integer of the domain, the replacement minimising the
/// expected absolute product error under the activation histogram `p` (256 counts); a tie keeps
/// the weight itself, so the exact multiplier maps every weight to itself.
pub fn tuning_map(scheme: QuantScheme, table: &[i32], exact: &[i32], p: &[u64]) -> Vec<(i32, i32)> {
    let xs: Vec<(u8, f64)> = (0..256).filter(|&x| p[x] > 0).map(|x| (x as u8, p[x] as f64)).collect();
    let dom: Vec<i32> = weight_domain(scheme).collect();
    // Products of every candidate once: cand[j][i] = P(x_i, dom[j]).
    let cand: Vec<Vec<i64>> =
        dom.iter().map(|&w| xs.iter().map(|&(x, _)| pe_product(table, scheme, x, w)).collect()).collect();
    dom.iter()
        .map(|&w| {
            let target: Vec<i64> = xs.iter().map(|&(x, _)| pe_product(exact, scheme, x, w)).collect();
            let cost = |j: usize| -> f64 {
                xs.iter().zip(&target).zip(&cand[j]).map(|((&(_, c), &t), &v)| c * (t - v).abs() as f64).sum()
            };
            let own = (w - dom[0]) as usize;
            let mut best = (cost(own), own);
            for j in 0..dom.len() {
                let c = cost(j);
                if c < best.0 {
                    best = (c, j);
                }
            }
            (w, dom[best.1])
        })
        .collect()
}

/// `qm` recovered for `mult` by `method` (`calib`: the calibration images, N·C·H·W floats, the
/// same as the quantizer's). [`Recover::None`] returns the model as it is; [`Recover::Finetune`]
/// (a fine-tuned model) is tuned and compensated like [`Recover::Tune`], as in its training.
pub fn recover(
    qm: &QuantModel,
    mult: &dyn Multiplier,
    lut_sha256: &str,
    method: Recover,
    calib: &[f32],
) -> Result<QuantModel, RecoverError> {
    recover_layers(qm, mult, &[], mult.name(), lut_sha256, method, calib)
}

/// [`recover`] for a per-layer assignment (as [`Accelerator::with_layers`] takes it): each layer
/// is recovered for its own multiplier. `label` and `lut_sha256` name the assignment in the record.
pub fn recover_layers(
    qm: &QuantModel,
    mult: &dyn Multiplier,
    assigned: &[(&str, &dyn Multiplier)],
    label: &str,
    lut_sha256: &str,
    method: Recover,
    calib: &[f32],
) -> Result<QuantModel, RecoverError> {
    if method == Recover::None {
        return Ok(qm.clone());
    }
    let scheme = qm.options.scheme;
    let signed = scheme.signed_multiplier();
    let exact = crate::lut::Lut::exact(8, 8, signed);
    let mut out = qm.clone();
    let mut layers = Vec::new();
    let gemm_slots: Vec<usize> =
        out.layers.iter().enumerate().filter(|(_, l)| matches!(l, QLayer::Gemm(_))).map(|(i, _)| i).collect();
    let n_images = calib.len() / qm.arch.input.numel().max(1);
    for (gi, &slot) in gemm_slots.iter().enumerate() {
        let QLayer::Gemm(g) = &out.layers[slot] else { unreachable!("slot of a GEMM") };
        // Statistics from the engine running the model recovered so far.
        let acc = Accelerator::with_layers(&out, mult, assigned, AccelConfig::default())?;
        let Some(layer_mult) = acc.layer_multiplier(gi) else { continue };
        let lut = crate::lut::Lut {
            name: layer_mult.name().into(),
            row_bits: 8,
            col_bits: 8,
            signed,
            row_port: Default::default(),
            table: product_table(layer_mult)?,
            power_mw: None,
        };
        let codes = acc.layer_operands(calib, gi)?;
        let g = g.clone();
        let mut ng = g.clone();
        let mut tuned = 0;
        let mut map = Vec::new();
        if method != Recover::Compensate {
            let p = histogram(&codes);
            map = tuning_map(scheme, &lut.table, &exact.table, &p).into_iter().map(|(_, t)| t).collect();
            tuned = apply_tuning(&mut ng, scheme, &map);
        }
        // A grouped layer is fitted per channel group, each on the rows of its own group (the
        // operands come group by group).
        let (parts, tuned_parts) = (g.split_groups(), ng.split_groups());
        let block = codes.len() / parts.len();
        let (mut comp, mut gain) = (Vec::with_capacity(g.nf), Vec::with_capacity(g.nf));
        let (mut m0, mut r0, mut m1, mut r1) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut rows_fitted = 0;
        for (j, (part, tuned_part)) in parts.iter().zip(&tuned_parts).enumerate() {
            let fit =
                fit_compensation(part, tuned_part, tuned > 0, scheme, &exact, &lut, &codes[j * block..(j + 1) * block]);
            comp.extend(fit.comp);
            gain.extend(fit.gain);
            m0.extend(fit.mean_before);
            r0.extend(fit.rms_before);
            m1.extend(fit.mean_after);
            r1.extend(fit.rms_after);
            rows_fitted += fit.rows;
        }
        apply_compensation(&mut ng, &comp, &gain);
        let mean_abs = |v: &[f64]| v.iter().map(|e| e.abs()).sum::<f64>() / v.len().max(1) as f64;
        layers.push(LayerRecovery {
            name: g.name.clone(),
            map,
            compensation: comp,
            gain,
            tuned_weights: tuned,
            rows: rows_fitted,
            mean_error_before: mean_abs(&m0),
            mean_error_after: mean_abs(&m1),
            rms_error_before: mean_abs(&r0),
            rms_error_after: mean_abs(&r1),
        });
        out.layers[slot] = QLayer::Gemm(ng);
    }
    out.recovery = Some(Recovery {
        method,
        multiplier: label.into(),
        lut_sha256: lut_sha256.into(),
        calibration_images: n_images,
        layers,
    });
    Ok(out)
}

/// The compensation of one (ungrouped) layer fitted on its operand rows `codes`.
struct Fit {
    comp: Vec<i32>,
    gain: Vec<f64>,
    rows: usize,
    mean_before: Vec<f64>,
    rms_before: Vec<f64>,
    mean_after: Vec<f64>,
    rms_after: Vec<f64>,
}

/// Fit `g`'s per-channel compensation (`ng`: `g` with its weight codes tuned when `tuned`).
#[allow(clippy::too_many_arguments)]
fn fit_compensation(
    g: &QGemm,
    ng: &QGemm,
    tuned: bool,
    scheme: QuantScheme,
    exact: &crate::lut::Lut,
    lut: &crate::lut::Lut,
    codes: &[u8],
) -> Fit {
    let rows = (codes.len() / g.k) as u64;
    // Compensation: per channel, an affine map from the approximate to the exact
    // accumulator fitted on the calibration rows, `acc ≈ a·(acc~ + c)`; `c` goes to the
    // bias and `a` to the requantization multiplier, so an error proportional to the signal
    // (a gain) is not mistaken for an offset. `a = 1` (offset = the mean error) for asym-u8
    // and for the logits layer (no requantization).
    let cap = MAX_FIT_ROWS.min(MIN_FIT_ROWS.max(MAX_FIT_MACS / (g.k * g.nf).max(1)));
    let stride = rows.div_ceil(cap as u64).max(1) as usize;
    let sample: Vec<usize> = (0..rows as usize).step_by(stride).collect();
    let want = accumulators(g, scheme, exact, codes, &sample);
    let plain = accumulators(g, scheme, lut, codes, &sample);
    let tuned_acc = if tuned { accumulators(ng, scheme, lut, codes, &sample) } else { plain.clone() };
    let (nf, n) = (g.nf, sample.len().max(1) as f64);
    let mut comp = vec![0i32; nf];
    let mut gain = vec![1f64; nf];
    let identical = tuned_acc == want;
    // A gain only where signs are applied outside the multiplier or by it (symmetric
    // weights): a relative product error is then a gain on the signal. With asym-u8 codes
    // every raw product is positive and its error follows Σx and the zero points rather
    // than the signal (measured: a gain fitted there costs accuracy), so offset only.
    let gain_model = !scheme.asymmetric_weights();
    for o in 0..nf {
        let (mut sa, mut se) = (0f64, 0f64);
        for (a, e) in tuned_acc.iter().skip(o).step_by(nf).zip(want.iter().skip(o).step_by(nf)) {
            sa += *a as f64;
            se += *e as f64;
        }
        let (ma, me) = (sa / n, se / n);
        let (mut see, mut sae) = (0f64, 0f64);
        for (a, e) in tuned_acc.iter().skip(o).step_by(nf).zip(want.iter().skip(o).step_by(nf)) {
            let (da, de) = (*a as f64 - ma, *e as f64 - me);
            see += de * de;
            sae += da * de;
        }
        // The systematic part of the error: `acc~ ≈ g·acc + d` (approximate on exact, so
        // the multiplier's noise does not shrink the fit), inverted. A gain outside
        // [1/2, 2] is a fit on a (nearly) constant channel, not a gain error.
        let a = if gain_model && ng.output.is_some() && see > 0.0 && sae > 0.0 && !identical {
            (see / sae).clamp(0.5, 2.0)
        } else {
            1.0
        };
        let offset = |a: f64| ((me - a * ma) / a).round().clamp(i32::MIN as f64, i32::MAX as f64) as i32;
        gain[o] = a;
        comp[o] = offset(a);
    }
    let corrected: Vec<i32> = tuned_acc
        .iter()
        .enumerate()
        .map(|(i, &a)| (gain[i % nf] * (a as f64 + comp[i % nf] as f64)).round() as i32)
        .collect();
    let (m0, r0) = error_stats(&plain, &want, nf);
    let (m1, r1) = error_stats(&corrected, &want, nf);
    Fit { comp, gain, rows: sample.len(), mean_before: m0, rms_before: r0, mean_after: m1, rms_after: r1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Recover::ALL {
            assert_eq!(r.name().parse::<Recover>().unwrap(), r);
        }
        assert!("fine".parse::<Recover>().is_err());
    }

    /// The exact table maps every weight to itself, in every scheme, whatever the histogram
    /// (a point mass on code 0 makes every candidate cost 0: the tie must keep the weight).
    #[test]
    fn exact_tuning_is_identity() {
        for scheme in [QuantScheme::AsymU8, QuantScheme::SignMagnitude, QuantScheme::SymS8] {
            let exact = crate::lut::Lut::exact(8, 8, scheme.signed_multiplier()).table;
            let mut zero = vec![0u64; 256];
            zero[0] = 10;
            let spread: Vec<u64> = (0..256).map(|x| (x % 7) as u64).collect();
            for p in [zero, spread] {
                assert!(tuning_map(scheme, &exact, &exact, &p).iter().all(|&(w, t)| w == t), "{scheme}");
            }
        }
    }

    /// A table that is the exact product with column 5 moved to column 6 (and 6 broken) makes
    /// tuning send 5 → 6 under any activation histogram without zero mass only.
    #[test]
    fn tuning_finds_the_better_column() {
        let scheme = QuantScheme::AsymU8;
        let exact = crate::lut::Lut::exact(8, 8, false).table;
        let mut t = exact.clone();
        for x in 0..256usize {
            t[x << 8 | 6] = (x * 5) as i32;
            t[x << 8 | 5] = (x * 9) as i32;
        }
        let p: Vec<u64> = (0..256).map(|x| 1 + (x % 3) as u64).collect();
        let map = tuning_map(scheme, &t, &exact, &p);
        assert_eq!(map[5], (5, 6));
        assert_eq!(map[7], (7, 7));
    }
}
