//! Attack throughput of the float model, the axdnn half of `benches/foolbox/run.sh`: loads a
//! committed model and the first N test images, then times `attack::run` alone (no loading, no
//! quantization, no study bookkeeping) for each requested attack and budget, one JSON line each,
//! after an untimed warm-up run of the same attack.
//! `--dump DIR` writes the exact pixels and labels (`images.npy`, `labels.npy`) so the Foolbox
//! side attacks the same inputs.

use axdnn::attack::{self, Attack, Bounds, Criterion, Epsilon, FloatClassifier, SeededNoise};
use axdnn::data::{self, Split};
use clap::Parser;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Time the float-model attacks of axdnn (images/s per attack)")]
struct Args {
    /// Model folder (model.json + model.safetensors).
    #[arg(long)]
    model: PathBuf,
    /// Test images (the first N).
    #[arg(long, default_value_t = 300)]
    n: usize,
    /// Attacks to time (comma-separated command-line names).
    #[arg(long, value_delimiter = ',', default_value = "fgsm,fgm,linf-bim,l2-bim,linf-pgd,l2-pgd")]
    attacks: Vec<Attack>,
    /// Budgets of the Linf attacks (comma-separated, pixel units).
    #[arg(long, value_delimiter = ',', default_value = "0.03")]
    linf_eps: Vec<f32>,
    /// Budgets of the L2 attacks (comma-separated, pixel units).
    #[arg(long, value_delimiter = ',', default_value = "0.5")]
    l2_eps: Vec<f32>,
    /// Seed of the random starts.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Dataset root (default: $AXDNN_DATA, else ../shared/data beside the repository).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Skip the untimed first run of each attack (by default it warms up the thread pool and the
    /// allocator, as the Foolbox side's warm-up call compiles its jit functions).
    #[arg(long)]
    no_warmup: bool,
    /// Write images.npy (float32 N×C×H×W) and labels.npy (int64) here and exit.
    #[arg(long)]
    dump: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let m = axdnn::model::io::load(&a.model)?;
    let root = a
        .data
        .clone()
        .or_else(|| std::env::var_os("AXDNN_DATA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")));
    let d = data::load(m.meta.dataset, Split::Test, &root)?.head(a.n);
    anyhow::ensure!(d.len() == a.n, "only {} test images", d.len());
    if let Some(dir) = &a.dump {
        std::fs::create_dir_all(dir)?;
        let s = m.arch.input;
        std::fs::write(dir.join("images.npy"), axdnn::lut::io::npy_f32(&[d.len(), s.c, s.h, s.w], &d.images))?;
        let mut labels = axdnn::lut::io::npy_header("<i8", &[d.len()]);
        labels.extend(d.labels.iter().flat_map(|&l| (l as i64).to_le_bytes()));
        std::fs::write(dir.join("labels.npy"), labels)?;
        return Ok(());
    }
    let model = FloatClassifier { arch: &m.arch, params: &m.params };
    let criterion = Criterion::Misclassification(d.labels.clone());
    for &atk in &a.attacks {
        let eps: Vec<Epsilon> = match atk.norm() {
            attack::Norm::Linf => &a.linf_eps,
            attack::Norm::L2 => &a.l2_eps,
        }
        .iter()
        .map(|&e| Epsilon::new(e))
        .collect::<Result<_, _>>()?;
        if !a.no_warmup {
            attack::run(
                atk,
                atk.default_params(),
                &model,
                &Bounds::default(),
                &d.images,
                &criterion,
                &eps,
                &mut SeededNoise::new(a.seed),
            )?;
        }
        let mut noise = SeededNoise::new(a.seed);
        let t = Instant::now();
        let out = attack::run(
            atk,
            atk.default_params(),
            &model,
            &Bounds::default(),
            &d.images,
            &criterion,
            &eps,
            &mut noise,
        )?;
        let secs = t.elapsed().as_secs_f64();
        let successes: Vec<usize> = out.success.iter().map(|s| s.iter().filter(|&&b| b).count()).collect();
        // Fingerprint of every output bit: a speed change must leave it unchanged.
        let bytes: Vec<u8> = out.raw.iter().chain(&out.clipped).flatten().flat_map(|v| v.to_le_bytes()).collect();
        println!(
            "{}",
            serde_json::json!({
                "side": "axdnn", "attack": atk.foolbox_name(), "eps": eps.iter().map(|e| e.0).collect::<Vec<_>>(),
                "images": d.len(), "seconds": secs, "images_per_s": d.len() as f64 / secs, "successes": successes,
                "outputs_sha256": axdnn::util::sha256_hex(&bytes),
            })
        );
    }
    Ok(())
}
