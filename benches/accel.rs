//! LeNet-5/MNIST and AlexNet/CIFAR-10 through the fast engine with an approximate LUT multiplier
//! vs the float inference of the same model (the float engine and the per-image reference),
//! measured in the same run. Trained parameters from `models/lenet5-mnist` and
//! `models/alexnet-cifar10`, test images from `AXDNN_DATA`, and the paper's `mul8u_L40` simulated
//! from its netlist under `AXDNN_EVOAPPROX`; each falls back to a seeded stand-in (random
//! parameters/images, exact product plus noise) when absent. After the criterion groups, prints
//! images/s, LUT-MAC/s and the ratio per model from criterion's estimates.

use axdnn::accel::{AccelConfig, Accelerator};
use axdnn::data::DatasetName;
use axdnn::model::{forward_reference, Arch, Params, Shape};
use axdnn::quant::{QuantModel, QuantOptions};
use axdnn::Lut;
use criterion::{Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

const N: usize = 256;

/// The benchmarked models: criterion group, model folder, dataset, architecture.
fn models() -> [(&'static str, &'static str, DatasetName, Arch); 2] {
    [
        ("lenet5_mnist", "models/lenet5-mnist", DatasetName::Mnist, Arch::lenet5(Shape::new(1, 28, 28), 10)),
        ("alexnet_cifar10", "models/alexnet-cifar10", DatasetName::Cifar10, Arch::alexnet(Shape::new(3, 32, 32), 10)),
    ]
}

/// The model's trained parameters when present, else seeded random ones; its test images when
/// `AXDNN_DATA` is set, else seeded random ones.
fn setup(dir: &str, dataset: DatasetName, arch: &Arch) -> (Params, Vec<f32>, String) {
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let (params, pdesc) = match axdnn::model::io::load(std::path::Path::new(dir)) {
        Ok(m) if m.arch == *arch => (m.params, "trained"),
        _ => {
            let mut p = Params::zeros(arch);
            for s in arch.params() {
                let b = (6.0 / s.fan_in as f32).sqrt();
                for v in &mut p.tensors.get_mut(&s.name).unwrap().data {
                    *v = r.gen_range(-b..b);
                }
            }
            (p, "random")
        }
    };
    let test = std::env::var_os("AXDNN_DATA")
        .and_then(|d| axdnn::data::load(dataset, axdnn::data::Split::Test, d.as_ref()).ok());
    let (imgs, idesc) = match test {
        Some(ds) => (ds.head(N).images, format!("{dataset} test")),
        None => ((0..N * arch.input.numel()).map(|_| r.gen_range(0.0..1.0f32)).collect(), "random".into()),
    };
    (params, imgs, format!("{pdesc} params, {idesc} images"))
}

/// `mul8u_L40` (LeNet-5 multiplier of the paper) from the library, else a seeded approximate
/// table (exact product plus noise).
fn approx_lut() -> Lut {
    if let Some(root) = std::env::var_os("AXDNN_EVOAPPROX") {
        if let Ok(m) = axdnn::mult::resolve::resolve("mul8u_L40", false, false, Some(root.as_ref())) {
            if let Some(l) = m.lut {
                return l;
            }
        }
    }
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let mut l = Lut::exact(8, 8, false);
    for v in &mut l.table {
        *v = (*v + r.gen_range(-200..200)).max(0);
    }
    l.name = "bench_approx".into();
    l
}

fn bench(c: &mut Criterion) {
    let lut = approx_lut();
    eprintln!("bench multiplier: {}", lut.name);
    for (group, dir, dataset, arch) in models() {
        let (params, imgs, desc) = setup(dir, dataset, &arch);
        eprintln!("{group} bench input: {desc}");
        let qm = QuantModel::build(&arch, &params, &imgs[..32 * arch.input.numel()], QuantOptions::default()).unwrap();
        let acc = Accelerator::new(&qm, &lut, AccelConfig::default()).unwrap();
        let st = acc.stats();
        MACS.lock().unwrap().push((group, st.iter().map(|l| l.approx_macs).sum(), st.iter().map(|l| l.macs).sum()));
        let d = arch.input.numel();
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(N as u64));
        g.sample_size(10);
        g.bench_function("accel_fast_lut", |b| b.iter(|| acc.run(&imgs).unwrap()));
        // The float engine (im2col + GEMM) of the same model on the same images.
        g.bench_function("float_engine", |b| b.iter(|| axdnn::model::engine::logits(&arch, &params, &imgs, N)));
        g.bench_function("float_reference", |b| {
            b.iter(|| {
                (0..N)
                    .into_par_iter()
                    .map(|i| forward_reference(&arch, &params, &imgs[i * d..(i + 1) * d]).pop().unwrap())
                    .collect::<Vec<_>>()
            })
        });
        g.finish();
    }
}

/// Every benchmark of this file, with criterion's settings from the command line (what
/// `criterion_group!` would generate, but documented).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}

/// Per model: criterion group, MACs per image through the approximate table (the default
/// approximate layers), all MACs per image.
static MACS: std::sync::Mutex<Vec<(&'static str, u64, u64)>> = std::sync::Mutex::new(Vec::new());

fn mean_ns(group: &str, id: &str) -> Option<f64> {
    let p = format!("target/criterion/{group}/{id}/new/estimates.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

/// Whether this run measured `id`: an estimate left by an earlier run must not be quoted as if
/// it were measured now.
fn filter_allows(id: &str) -> bool {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    filters.is_empty() || filters.iter().any(|f| alternative_matches(f, id))
}

/// Criterion's filters are regexes; the ones used here are alternatives of plain words.
fn alternative_matches(filter: &str, id: &str) -> bool {
    filter.split('|').any(|w| id.contains(w))
}

fn main() {
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
    for &(group, approx_macs, macs) in MACS.lock().unwrap().iter() {
        let Some(a) = mean_ns(group, "accel_fast_lut") else { continue };
        let Some(f) = mean_ns(group, "float_engine") else { continue };
        let ips = N as f64 / (a * 1e-9);
        let fips = N as f64 / (f * 1e-9);
        // The per-image reference is slow on AlexNet; a run filtered to the other two
        // (`cargo bench --bench accel -- 'accel_fast_lut|float_engine'`) leaves it out.
        let reference = match mean_ns(group, "float_reference") {
            Some(r) if filter_allows("float_reference") => {
                let rips = N as f64 / (r * 1e-9);
                format!("; float reference {rips:.0} images/s (ratio {:.2})", ips / rips)
            }
            _ => String::new(),
        };
        println!(
            "summary {group}: fast engine {ips:.0} images/s, {:.3e} LUT-MAC/s ({approx_macs} of {macs} MACs per image through the table), {:.3e} MAC/s in all; float engine {fips:.0} images/s (ratio {:.2}){reference}; {} rayon threads",
            ips * approx_macs as f64,
            ips * macs as f64,
            ips / fips,
            rayon::current_num_threads()
        );
    }
}
