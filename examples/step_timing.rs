//! Times one AlexNet training step and one inference batch (for choosing engine settings).
use axdnn::model::engine::{init_params, Mode, Net};
use axdnn::model::{Arch, ArchName, Shape};
use rand::{Rng, SeedableRng};
use std::time::Instant;

fn main() {
    let b: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(128);
    let arch = Arch::new(ArchName::Alexnet, Shape::new(3, 32, 32), 10);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let p = init_params(&arch, &mut rng);
    let mut net = Net::<f32>::from_params(&arch, &p).with_batchnorm();
    let x: Vec<f32> = (0..b * 3072).map(|_| rng.gen_range(0.0..1.0)).collect();
    let labels: Vec<u8> = (0..b).map(|i| (i % 10) as u8).collect();
    let macs: u64 = arch.macs().iter().sum();
    for _ in 0..std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(3) {
        let t = Instant::now();
        let _ = net.backward(&x, &labels, Mode::Train, 1.0 / b as f32, false);
        let s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let _ = net.forward(&x, b, Mode::Eval);
        let f = t.elapsed().as_secs_f64();
        println!(
            "batch {b}: train step {:.3}s ({:.1} img/s, {:.2} GMAC/s at 3x), forward {:.3}s ({:.2} GMAC/s)",
            s,
            b as f64 / s,
            3.0 * (macs * b as u64) as f64 / s / 1e9,
            f,
            (macs * b as u64) as f64 / f / 1e9
        );
    }
}
