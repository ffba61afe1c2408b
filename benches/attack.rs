//! Attack generation on the float model (the figures of docs/src/performance/history.csv, "attack generation"
//! table, axdnn side, as criterion measurements): FGSM, FGM, Linf/L2 BIM and Linf/L2 PGD with
//! Foolbox's default parameters on LeNet-5/MNIST (300 test images) and AlexNet/CIFAR-10 (64),
//! committed models and `AXDNN_DATA` test images (seeded stand-ins when absent, said on stderr).
//! Throughput is in images; `benches/foolbox/run.sh` times the Foolbox + JAX side against the
//! same images and prints the ratio.

use axdnn::attack::{self, Attack, Bounds, Criterion as Crit, Epsilon, FloatClassifier, SeededNoise};
use axdnn::data::DatasetName;
use axdnn::model::{Arch, Params, Shape};
use criterion::{Criterion, Throughput};
use rand::{Rng, SeedableRng};

const ATTACKS: [Attack; 6] =
    [Attack::Fgsm, Attack::Fgm, Attack::LinfBim, Attack::L2Bim, Attack::LinfPgd, Attack::L2Pgd];

fn setup(dir: &str, dataset: DatasetName, arch: &Arch, n: usize) -> (Params, Vec<f32>, Vec<u8>) {
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let params = match axdnn::model::io::load(std::path::Path::new(dir)) {
        Ok(m) if m.arch == *arch => m.params,
        _ => {
            eprintln!("{dir}: absent, random parameters");
            let mut p = Params::zeros(arch);
            for s in arch.params() {
                let b = (6.0 / s.fan_in as f32).sqrt();
                for v in &mut p.tensors.get_mut(&s.name).unwrap().data {
                    *v = r.gen_range(-b..b);
                }
            }
            p
        }
    };
    let test = std::env::var_os("AXDNN_DATA")
        .and_then(|d| axdnn::data::load(dataset, axdnn::data::Split::Test, d.as_ref()).ok());
    match test {
        Some(ds) => {
            let ds = ds.head(n);
            (params, ds.images, ds.labels)
        }
        None => {
            eprintln!("AXDNN_DATA unset or unreadable: random {dataset}-shaped images");
            let images = (0..n * arch.input.numel()).map(|_| r.gen_range(0.0..1.0f32)).collect();
            (params, images, (0..n).map(|i| (i % 10) as u8).collect())
        }
    }
}

fn bench(c: &mut Criterion) {
    let models = [
        (
            "lenet5_mnist",
            "models/lenet5-mnist",
            DatasetName::Mnist,
            Arch::lenet5(Shape::new(1, 28, 28), 10),
            300,
            0.1f32,
            1.0f32,
        ),
        (
            "alexnet_cifar10",
            "models/alexnet-cifar10",
            DatasetName::Cifar10,
            Arch::alexnet(Shape::new(3, 32, 32), 10),
            64,
            8.0 / 255.0,
            0.5,
        ),
    ];
    for (name, dir, dataset, arch, n, linf, l2) in models {
        let (params, x, y) = setup(dir, dataset, &arch, n);
        let model = FloatClassifier { arch: &arch, params: &params };
        let crit = Crit::Misclassification(y);
        let mut g = c.benchmark_group(format!("attack_{name}"));
        g.sample_size(10);
        g.throughput(Throughput::Elements(n as u64));
        for a in ATTACKS {
            let eps = Epsilon::new(if a.norm() == attack::Norm::Linf { linf } else { l2 }).unwrap();
            g.bench_function(a.name(), |b| {
                b.iter(|| {
                    attack::run(
                        a,
                        a.default_params(),
                        &model,
                        &Bounds::uniform(0.0, 1.0),
                        &x,
                        &crit,
                        &[eps],
                        &mut SeededNoise::new(0),
                    )
                    .unwrap()
                })
            });
        }
        g.finish();
    }
}

/// Every benchmark of this file, with criterion's settings from the command line (what
/// `criterion_group!` would generate, but documented).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
