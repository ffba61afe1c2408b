//! AlexNet conv2 (32→64, 5×5, pad 2, 16×16), batch 128: run `reps` forward or forward+backward
//! passes and print the MACs done and the process CPU time, so GMAC per CPU-second can be
//! computed on a shared machine where wall time says little.
use axdnn::model::engine::{init_params, Mode, Net};
use axdnn::model::{Arch, ArchName, Layer, LayerKind, Shape};
use rand::{Rng, SeedableRng};

fn cpu_seconds() -> f64 {
    // utime + stime from /proc/self/stat (clock ticks, 100 Hz on Linux).
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "forward".into());
    let reps: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let arch = Arch {
        name: ArchName::Alexnet,
        input: Shape::new(32, 16, 16),
        classes: 64 * 16 * 16,
        layers: vec![Layer::new("conv2", LayerKind::Conv { out_ch: 64, k: 5, stride: 1, pad: 2.into(), groups: 1 })],
        normalize: None,
    };
    let n = 128;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let p = init_params(&arch, &mut rng);
    let mut net = Net::<f32>::from_params(&arch, &p);
    let x: Vec<f32> = (0..n * arch.input.numel()).map(|_| rng.gen_range(0.0..1.0)).collect();
    let y: Vec<u8> = vec![0; n];
    let per: u64 = arch.macs().iter().sum::<u64>() * n as u64;
    let _ = net.forward(&x, n, Mode::Eval); // warm-up (buffers)
    let (c0, t0) = (cpu_seconds(), std::time::Instant::now());
    let mut macs = 0u64;
    for _ in 0..reps {
        if mode == "forward" {
            let _ = net.forward(&x, n, Mode::Eval);
            macs += per;
        } else {
            let _ = net.backward(&x, &y, Mode::Eval, 1.0, true);
            macs += 3 * per;
        }
    }
    let (cpu, wall) = (cpu_seconds() - c0, t0.elapsed().as_secs_f64());
    println!(
        "conv2 {mode} batch {n} x{reps}: {:.2} GMAC, cpu {cpu:.2}s -> {:.2} GMAC per CPU-second; wall {wall:.2}s -> {:.2} GMAC/s",
        macs as f64 / 1e9,
        macs as f64 / 1e9 / cpu,
        macs as f64 / 1e9 / wall
    );
}
