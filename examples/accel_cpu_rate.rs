//! LUT-MAC per CPU-second of the fast engine on LeNet-5 (random seeded parameters), single
//! thread, measured by process CPU time so a loaded machine does not distort it.
use axdnn::accel::{AccelConfig, Accelerator};
use axdnn::model::{Arch, Params, Shape};
use axdnn::quant::{QuantModel, QuantOptions};
use axdnn::Lut;
use rand::{Rng, SeedableRng};

fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

fn main() {
    let arch = Arch::lenet5(Shape::new(1, 28, 28), 10);
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut p = Params::zeros(&arch);
    for s in arch.params() {
        let b = (6.0 / s.fan_in as f32).sqrt();
        for v in &mut p.tensors.get_mut(&s.name).unwrap().data {
            *v = r.gen_range(-b..b);
        }
    }
    let n = 2000;
    let imgs: Vec<f32> = match std::env::var_os("AXDNN_DATA") {
        Some(d) => {
            axdnn::data::load(axdnn::data::DatasetName::Mnist, axdnn::data::Split::Test, d.as_ref())
                .unwrap()
                .head(n)
                .images
        }
        None => (0..n * arch.input.numel()).map(|_| r.gen_range(0.0..1.0f32)).collect(),
    };
    let qm = QuantModel::build(&arch, &p, &imgs[..32 * 784], QuantOptions::default()).unwrap();
    let mut lut = Lut::exact(8, 8, false);
    for v in &mut lut.table {
        *v = (*v + r.gen_range(-200..200)).max(0);
    }
    let acc = Accelerator::new(&qm, &lut, AccelConfig::default()).unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let t0 = cpu_seconds();
    let w0 = std::time::Instant::now();
    let out = pool.install(|| acc.run(&imgs).unwrap());
    let t = cpu_seconds() - t0;
    let macs = arch.macs().iter().sum::<u64>() as f64 * n as f64;
    println!(
        "{n} images in {t:.2} CPU-s ({:.2} wall-s): {:.0} images/CPU-s, {:.3e} LUT-MAC/CPU-s (checksum {})",
        w0.elapsed().as_secs_f64(),
        n as f64 / t,
        macs / t,
        out.acc.iter().map(|&v| v as i64).sum::<i64>()
    );
}
