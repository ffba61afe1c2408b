//! The f32 input gradient on *confident* images (cross-entropy below 1e-4) of the committed
//! LeNet-5 must keep its precision: there `1 − p_y` is far below f32's resolution near 1, so a
//! label term computed as `p_y − 1` cancels (issue 9: 575 wrong signs in 54 of the first 300
//! MNIST test images). Compared with an f64 reference built without that subtraction.

use crate::common;

use axdnn::data::{self, DatasetName, Split};
use axdnn::model::engine::{input_gradient, Mode, Net};
use rand::Rng;

/// Stable per-image cross-entropy from f64 logits: `ln(1 + Σ_{c≠y} e^{z_c − z_y})`
/// (= logsumexp − z_y; `ln_1p` keeps it exact down to 1e-300).
fn ce(z: &[f64], y: usize) -> f64 {
    z.iter().enumerate().filter(|&(c, _)| c != y).map(|(_, &v)| (v - z[y]).exp()).sum::<f64>().ln_1p()
}

/// The f64 reference `dCE/dx = Σ_{c≠y} p_c (∇z_c − ∇z_y)`, with `∇z_c − ∇z_y` taken as
/// `G_y − G_c`, where `G_k` is the f64 engine's input gradient for label `k`
/// (`G_k = Σ_j p_j ∇z_j − ∇z_k`; the softmax part cancels exactly in the difference). Each
/// `G_c` (c ≠ y) is O(1) on a confident image, so nothing small is got by subtracting near-equal
/// numbers, whatever the engine does for the label term.
fn reference(net: &mut Net<f64>, x: &[f64], labels: &[u8], per: usize, classes: usize) -> Vec<f64> {
    let n = labels.len();
    let logits = net.forward(x, n, Mode::Eval);
    let g: Vec<Vec<f64>> =
        (0..classes).map(|k| net.backward(x, &vec![k as u8; n], Mode::Eval, 1.0, true).input_grad.unwrap()).collect();
    let mut out = vec![0f64; n * per];
    for i in 0..n {
        let (z, y) = (&logits[i * classes..(i + 1) * classes], labels[i] as usize);
        let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + z.iter().map(|&v| (v - m).exp()).sum::<f64>().ln();
        let o = &mut out[i * per..(i + 1) * per];
        for c in (0..classes).filter(|&c| c != y) {
            let p = (z[c] - lse).exp();
            for ((o, &gy), &gc) in o.iter_mut().zip(&g[y][i * per..(i + 1) * per]).zip(&g[c][i * per..(i + 1) * per]) {
                *o += p * (gy - gc);
            }
        }
    }
    out
}

#[test]
fn f32_gradient_exact_on_confident_images() {
    let Some(root) = common::data() else { return };
    let m =
        axdnn::model::io::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lenet5-mnist")).unwrap();
    let d = data::load(DatasetName::Mnist, Split::Test, &root).unwrap().head(300);
    let (arch, per, classes) = (&m.arch, m.arch.input.numel(), m.arch.classes);
    let mut net = Net::<f64>::from_params(arch, &m.params);

    // Confident images: f64 cross-entropy below 1e-4.
    let x64: Vec<f64> = d.images.iter().map(|&v| v as f64).collect();
    let z = net.forward(&x64, d.len(), Mode::Eval);
    let pick: Vec<usize> =
        (0..d.len()).filter(|&i| ce(&z[i * classes..(i + 1) * classes], d.labels[i] as usize) < 1e-4).collect();
    assert!(pick.len() >= 20, "only {} confident images", pick.len());
    let x: Vec<f32> = pick.iter().flat_map(|&i| d.image(i).iter().copied()).collect();
    let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let labels: Vec<u8> = pick.iter().map(|&i| d.labels[i]).collect();
    let zp: Vec<f64> = pick.iter().flat_map(|&i| z[i * classes..(i + 1) * classes].iter().copied()).collect();
    let min_ce = (0..pick.len())
        .map(|j| ce(&zp[j * classes..(j + 1) * classes], labels[j] as usize))
        .fold(f64::INFINITY, f64::min);
    let r = reference(&mut net, &xd, &labels, per, classes);

    // The reference itself against f64 central differences of the stable loss, on the four
    // largest and four random elements of the first few images.
    let mut rng = common::rng(9);
    let h = 1e-6;
    let mut worst_fd = 0f64;
    for j in 0..5 {
        let rj = &r[j * per..(j + 1) * per];
        let scale = rj.iter().fold(0f64, |a, v| a.max(v.abs()));
        let mut idx: Vec<usize> = (0..per).collect();
        idx.sort_by(|&a, &b| rj[b].abs().total_cmp(&rj[a].abs()));
        let mut els = idx[..4].to_vec();
        els.extend((0..4).map(|_| idx[rng.gen_range(4..200)]));
        let mut batch = Vec::with_capacity(2 * els.len() * per);
        for &e in &els {
            for s in [h, -h] {
                let mut xi = xd[j * per..(j + 1) * per].to_vec();
                xi[e] += s;
                batch.extend(xi);
            }
        }
        let zz = net.forward(&batch, 2 * els.len(), Mode::Eval);
        for (k, &e) in els.iter().enumerate() {
            let lp = ce(&zz[2 * k * classes..(2 * k + 1) * classes], labels[j] as usize);
            let lm = ce(&zz[(2 * k + 1) * classes..(2 * k + 2) * classes], labels[j] as usize);
            let fd = (lp - lm) / (2.0 * h);
            worst_fd = worst_fd.max((fd - rj[e]).abs() / scale);
        }
    }
    assert!(worst_fd < 1e-4, "reference vs central differences: relative error {worst_fd:e}");

    // The engine's f32 gradient (what the attacks use) against the reference.
    let (loss, g) = input_gradient(arch, &m.params, &x, &labels);
    // Its loss too: ln(1 + tiny) in f32 would round to 0.
    let loss_err = (0..pick.len())
        .map(|j| {
            let want = ce(&zp[j * classes..(j + 1) * classes], labels[j] as usize);
            (loss[j] as f64 - want).abs() / want
        })
        .fold(0f64, f64::max);
    let (mut wrong, mut bad_images, mut min_cos, mut checked) = (0usize, 0usize, 1f64, 0usize);
    for j in 0..pick.len() {
        let (gj, rj) = (&g[j * per..(j + 1) * per], &r[j * per..(j + 1) * per]);
        let thr = 1e-3 * rj.iter().fold(0f64, |a, v| a.max(v.abs()));
        let w = gj
            .iter()
            .zip(rj)
            .filter(|&(_, &r)| r.abs() > thr)
            .inspect(|_| checked += 1)
            .filter(|&(&g, &r)| (g as f64).signum() != r.signum() || g == 0.0)
            .count();
        wrong += w;
        bad_images += (w > 0) as usize;
        let dot: f64 = gj.iter().zip(rj).map(|(&g, &r)| g as f64 * r).sum();
        let ng = gj.iter().map(|&g| (g as f64).powi(2)).sum::<f64>().sqrt();
        let nr = rj.iter().map(|r| r * r).sum::<f64>().sqrt();
        min_cos = min_cos.min(dot / (ng * nr).max(f64::MIN_POSITIVE));
    }
    eprintln!(
        "{} confident images (CE down to {min_ce:.2e}); reference vs central differences {worst_fd:.1e}; \
         f32 loss relative error {loss_err:.1e}; f32 gradient: {wrong} wrong signs of {checked} checked in {bad_images} images, \
         min cosine {min_cos:.9} (1 − cos = {:.1e})",
        pick.len(),
        1.0 - min_cos
    );
    assert_eq!(wrong, 0, "{wrong} wrong gradient signs in {bad_images} images (min cosine {min_cos})");
    assert!(min_cos > 0.999, "min cosine similarity {min_cos}");
    assert!(loss_err < 1e-4, "f32 loss relative error {loss_err:e}");
}
