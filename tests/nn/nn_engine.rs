//! The fast engine against the reference forward pass and against finite differences.

use axdnn::model::engine::{init_params, input_gradient_t, Mode, Net};
use axdnn::model::{Arch, ArchName, Params, Shape};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn setup(name: ArchName, input: Shape, seed: u64) -> (Arch, Params) {
    let arch = Arch::new(name, input, 10);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut p = init_params(&arch, &mut rng);
    // Non-zero biases so the bias paths are exercised too.
    for (name, t) in p.tensors.iter_mut() {
        if name.ends_with(".bias") {
            for v in &mut t.data {
                *v = rng.gen_range(-0.1..0.1);
            }
        }
    }
    (arch, p)
}

fn images(n: usize, s: Shape, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n * s.numel()).map(|_| rng.gen_range(0.0..1.0)).collect()
}

#[test]
fn logits_match_reference_forward() {
    for name in [ArchName::Lenet5, ArchName::Alexnet] {
        for input in [Shape::new(1, 28, 28), Shape::new(3, 32, 32)] {
            let (arch, p) = setup(name, input, 1);
            let n = 3;
            let x = images(n, input, 2);
            crate::common::logits_match_reference(&arch, &p, &x, n, &format!("{name} {input}"));
        }
    }
}

/// dLoss/dx in f64 against central differences of the f64 loss: relative error < 1e-3.
#[test]
fn input_gradient_matches_finite_differences() {
    for name in [ArchName::Lenet5, ArchName::Alexnet] {
        for input in [Shape::new(1, 28, 28), Shape::new(3, 32, 32)] {
            let (arch, p) = setup(name, input, 3);
            let n = 2;
            let x: Vec<f64> = images(n, input, 4).into_iter().map(|v| v as f64).collect();
            let labels = [3u8, 7];
            let (loss, g) = input_gradient_t::<f64>(&arch, &p, &x, &labels);
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            let h = 1e-5;
            let per = input.numel();
            let mut worst = 0f64;
            for _ in 0..24 {
                let j = rng.gen_range(0..x.len());
                let img = j / per;
                let mut xp = x.clone();
                xp[j] += h;
                let lp = input_gradient_t::<f64>(&arch, &p, &xp, &labels).0[img];
                xp[j] -= 2.0 * h;
                let lm = input_gradient_t::<f64>(&arch, &p, &xp, &labels).0[img];
                let fd = (lp - lm) / (2.0 * h);
                let scale = g[img * per..(img + 1) * per].iter().fold(0f64, |a, v| a.max(v.abs()));
                let err = (fd - g[j]).abs() / scale.max(1e-12);
                worst = worst.max(err);
            }
            assert!(worst < 1e-3, "{name} {input}: worst relative error {worst}, loss {loss:?}");
        }
    }
}

/// Parameter gradients of a training step (with BatchNorm) against finite differences.
#[test]
fn weight_gradient_matches_finite_differences() {
    let (arch, p) = setup(ArchName::Lenet5, Shape::new(1, 28, 28), 7);
    let net0 = Net::<f64>::from_params(&arch, &p).with_batchnorm();
    let n = 4;
    let x: Vec<f64> = images(n, arch.input, 8).into_iter().map(|v| v as f64).collect();
    let labels = [1u8, 2, 3, 4];
    let inv = 1.0 / n as f64;
    let mean_loss = |net: &Net<f64>| -> f64 {
        let mut m = net.clone();
        m.backward(&x, &labels, Mode::Train, inv, false).losses.iter().sum::<f64>() * inv
    };
    let b = net0.clone().backward(&x, &labels, Mode::Train, inv, false);
    let h = 1e-6;
    for (layer, idx) in [(0usize, 7usize), (3, 100), (6, 1000), (8, 50), (10, 3)] {
        let mut a = net0.clone();
        a.w[layer][idx] += h;
        let mut c = net0.clone();
        c.w[layer][idx] -= h;
        let fd = (mean_loss(&a) - mean_loss(&c)) / (2.0 * h);
        let g = b.grads.w[layer][idx];
        assert!((fd - g).abs() <= 1e-4 * (1e-3 + g.abs().max(fd.abs())), "layer {layer}[{idx}]: {g} vs fd {fd}");
    }
    let mut a = net0.clone();
    a.bn[3].as_mut().unwrap().gamma[2] += h;
    let mut c = net0.clone();
    c.bn[3].as_mut().unwrap().gamma[2] -= h;
    let fd = (mean_loss(&a) - mean_loss(&c)) / (2.0 * h);
    let g = b.grads.gamma[3][2];
    assert!((fd - g).abs() <= 1e-4 * (1e-3 + g.abs()), "gamma: {g} vs {fd}");
}

/// Results must not depend on the number of rayon threads.
#[test]
fn training_step_independent_of_thread_count() {
    let (arch, p) = setup(ArchName::Alexnet, Shape::new(3, 32, 32), 9);
    let x = images(8, arch.input, 10);
    let labels = [0u8, 1, 2, 3, 4, 5, 6, 7];
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut net = Net::<f32>::from_params(&arch, &p).with_batchnorm();
            let b = net.backward(&x, &labels, Mode::Train, 1.0 / 8.0, true);
            (b.losses, b.grads.w, b.input_grad)
        })
    };
    assert_eq!(run(1), run(3));
}
