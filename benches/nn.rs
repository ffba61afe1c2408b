//! Float engine throughput: training and inference images/s for LeNet-5 (MNIST shape) and AlexNet
//! (CIFAR-10 shape), and multiply-accumulates/s of AlexNet's conv2 alone (forward, and forward +
//! backward with both weight and input gradients). Small batches keep the bench short.

use axdnn::model::engine::{init_params, Mode, Net};
use axdnn::model::{Arch, ArchName, Layer, LayerKind, Shape};
use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

fn batch(arch: &Arch, n: usize) -> (Vec<f32>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x = (0..n * arch.input.numel()).map(|_| rng.gen_range(0.0..1.0)).collect();
    let y = (0..n).map(|i| (i % arch.classes) as u8).collect();
    (x, y)
}

fn models(c: &mut Criterion) {
    let mut g = c.benchmark_group("nn");
    g.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    for (name, input, n) in
        [(ArchName::Lenet5, Shape::new(1, 28, 28), 64), (ArchName::Alexnet, Shape::new(3, 32, 32), 16)]
    {
        let arch = Arch::new(name, input, 10);
        let p = init_params(&arch, &mut ChaCha8Rng::seed_from_u64(2));
        let (x, y) = batch(&arch, n);
        g.throughput(Throughput::Elements(n as u64));
        let mut net = Net::<f32>::from_params(&arch, &p).with_batchnorm();
        g.bench_function(BenchmarkId::new("train_images", format!("{name}-b{n}")), |b| {
            b.iter(|| net.backward(&x, &y, Mode::Train, 1.0 / n as f32, false).correct)
        });
        let mut plain = Net::<f32>::from_params(&arch, &p);
        g.bench_function(BenchmarkId::new("infer_images", format!("{name}-b{n}")), |b| {
            b.iter(|| plain.forward(&x, n, Mode::Eval).len())
        });
    }
    g.finish();
}

/// AlexNet's conv2 (32→64 channels, 5×5, pad 2, 16×16) as a one-layer network.
fn conv2(c: &mut Criterion) {
    let arch = Arch {
        name: ArchName::Alexnet,
        input: Shape::new(32, 16, 16),
        classes: 64 * 16 * 16,
        layers: vec![Layer::new("conv2", LayerKind::Conv { out_ch: 64, k: 5, stride: 1, pad: 2.into(), groups: 1 })],
        normalize: None,
    };
    let n = 32;
    let macs: u64 = arch.macs().iter().sum::<u64>() * n as u64;
    let p = init_params(&arch, &mut ChaCha8Rng::seed_from_u64(3));
    let (x, y) = batch(&arch, n);
    let mut net = Net::<f32>::from_params(&arch, &p);
    let mut g = c.benchmark_group("conv2_macs");
    g.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(macs));
    g.bench_function("forward", |b| b.iter(|| net.forward(&x, n, Mode::Eval).len()));
    // Forward + dW + dX: three times the forward MACs.
    g.throughput(Throughput::Elements(3 * macs));
    g.bench_function("forward_backward", |b| b.iter(|| net.backward(&x, &y, Mode::Eval, 1.0, true).correct));
    g.finish();
}

/// Every benchmark of this file, with criterion's settings from the command line (what
/// `criterion_group!` would generate, but documented).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    models(&mut c);
    conv2(&mut c);
}
criterion_main!(benches);
