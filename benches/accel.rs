//! LeNet-5/MNIST through the fast engine with an approximate LUT multiplier vs the float
//! inference of the same model (the float engine and the per-image reference), measured in the
//! same run. Trained parameters from `models/lenet5-mnist`, MNIST test images from `AXDNN_DATA`,
//! and the paper's `mul8u_L40` simulated from its netlist under `AXDNN_EVOAPPROX`; each falls back
//! to a seeded stand-in (random parameters/images, exact product plus noise) when absent.
//! After the criterion groups, prints images/s, LUT-MAC/s and the ratio from criterion's estimates.

use axdnn::accel::{AccelConfig, Accelerator};
use axdnn::model::{forward_reference, Arch, Params, Shape};
use axdnn::quant::{QuantModel, QuantOptions};
use axdnn::Lut;
use criterion::{criterion_group, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

const N: usize = 256;

/// LeNet-5 on MNIST test images when `AXDNN_DATA` is set (trained parameters from
/// `models/lenet5-mnist` when present), else seeded random parameters and images.
fn setup() -> (Arch, Params, Vec<f32>, &'static str) {
    let arch = Arch::lenet5(Shape::new(1, 28, 28), 10);
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let (params, pdesc) = match axdnn::model::io::load(std::path::Path::new("models/lenet5-mnist")) {
        Ok(m) if m.arch == arch => (m.params, "trained"),
        _ => {
            let mut p = Params::zeros(&arch);
            for s in arch.params() {
                let b = (6.0 / s.fan_in as f32).sqrt();
                for v in &mut p.tensors.get_mut(&s.name).unwrap().data {
                    *v = r.gen_range(-b..b);
                }
            }
            (p, "random")
        }
    };
    let mnist = std::env::var_os("AXDNN_DATA")
        .and_then(|d| axdnn::data::load(axdnn::data::DatasetName::Mnist, axdnn::data::Split::Test, d.as_ref()).ok());
    let (imgs, idesc) = match mnist {
        Some(ds) => (ds.head(N).images, "MNIST test"),
        None => ((0..N * arch.input.numel()).map(|_| r.gen_range(0.0..1.0f32)).collect(), "random"),
    };
    let desc = match (pdesc, idesc) {
        ("trained", "MNIST test") => "trained params, MNIST test images",
        ("random", "MNIST test") => "random params, MNIST test images",
        ("trained", _) => "trained params, random images",
        _ => "random params, random images",
    };
    (arch, params, imgs, desc)
}

/// `mul8u_L40` (LeNet-5 multiplier of the paper) from the library, else a seeded approximate
/// table (exact product plus noise).
fn approx_lut() -> Lut {
    if let Some(root) = std::env::var_os("AXDNN_EVOAPPROX") {
        if let Ok(m) = axdnn::accel::load::resolve("mul8u_L40", false, false, Some(root.as_ref())) {
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
    let (arch, params, imgs, desc) = setup();
    eprintln!("bench input: {desc}");
    let qm = QuantModel::build(&arch, &params, &imgs[..32 * arch.input.numel()], QuantOptions::default()).unwrap();
    let lut = approx_lut();
    eprintln!("bench multiplier: {}", lut.name);
    let cfg = AccelConfig::default();
    let acc = Accelerator::new(&qm, &lut, cfg).unwrap();
    let st = acc.stats();
    let _ = MACS.set((st.iter().map(|l| l.approx_macs).sum(), st.iter().map(|l| l.macs).sum()));
    let d = arch.input.numel();
    let mut g = c.benchmark_group("lenet5_mnist");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.bench_function("accel_fast_lut", |b| b.iter(|| acc.run(&imgs).unwrap()));
    // The float engine (im2col + GEMM) of the same model on the same images.
    g.bench_function("float_engine", |b| b.iter(|| axdnn::model::engine::logits(&arch, &params, &imgs, N)));
    g.bench_function("float_reference", |b| {
        b.iter(|| {
            (0..N).into_par_iter().map(|i| forward_reference(&arch, &params, &imgs[i * d..(i + 1) * d]).pop().unwrap()).collect::<Vec<_>>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);

/// Per image: MACs through the approximate table (the default approximate layers), all MACs.
static MACS: std::sync::OnceLock<(u64, u64)> = std::sync::OnceLock::new();

fn mean_ns(id: &str) -> Option<f64> {
    let p = format!("target/criterion/lenet5_mnist/{id}/new/estimates.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn main() {
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
    let (approx_macs, macs) = MACS.get().copied().unwrap_or_default();
    if let (Some(a), Some(f), Some(r)) = (mean_ns("accel_fast_lut"), mean_ns("float_engine"), mean_ns("float_reference")) {
        let ips = N as f64 / (a * 1e-9);
        let fips = N as f64 / (f * 1e-9);
        let rips = N as f64 / (r * 1e-9);
        println!(
            "summary: fast engine {ips:.0} images/s, {:.3e} LUT-MAC/s ({approx_macs} of {macs} MACs per image through the table), {:.3e} MAC/s in all; float engine {fips:.0} images/s (ratio {:.2}); float reference {rips:.0} images/s (ratio {:.2}); {} rayon threads",
            ips * approx_macs as f64,
            ips * macs as f64,
            ips / fips,
            ips / rips,
            rayon::current_num_threads()
        );
    }
}
