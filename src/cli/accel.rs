//! `axdnn infer` and `axdnn select`: integer inference of a trained model on the systolic-array
//! model with any multiplier, and a library sweep with a Pareto plot.

use super::data_root;
use axdnn::accel::{AccelConfig, Accelerator, ArrayShape, Dataflow, EnergyModel, Engine, Inference};
use axdnn::data::{self, Dataset, DatasetName, Split};
use axdnn::model::io;
use axdnn::mult::resolve::{self as load, LoadedMultiplier};
use axdnn::quant::{
    calibration_indices, ApproxLayers, QuantModel, QuantOptions, QuantScheme, Recover, WeightGranularity,
};
use std::path::PathBuf;

#[derive(clap::Args, Clone)]
pub struct QuantArgs {
    /// Model folder (model.safetensors + model.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Array shape RxC.
    #[arg(long, default_value = "16x16")]
    pub array: ArrayShape,
    /// ws | os | is (weight-, output-, input-stationary).
    #[arg(long, default_value = "ws")]
    pub dataflow: Dataflow,
    /// asym-u8 | sign-magnitude | sym-s8.
    #[arg(long, default_value = "asym-u8")]
    pub scheme: QuantScheme,
    /// Per-output-channel weight scales and zero points.
    #[arg(long)]
    pub per_channel: bool,
    /// conv | all | comma-separated layer names.
    #[arg(long, default_value = "conv")]
    pub approx_layers: ApproxLayers,
    /// Evaluate the first N test images (default: all).
    #[arg(long)]
    pub n: Option<usize>,
    /// Calibration images (chosen from the training set with --calib-seed).
    #[arg(long, default_value_t = 256)]
    pub calib: usize,
    /// Seed choosing the calibration images.
    #[arg(long, default_value_t = 0)]
    pub calib_seed: u64,
    /// Assumed clock for the energy convention E = P / f.
    #[arg(long, default_value_t = 1.0)]
    pub clock_ghz: f64,
    /// Accuracy recovery for the multiplier: none | compensate (per-channel bias correction of
    /// the expected product error) | tune (ALWANN weight tuning, then compensation) | finetune
    /// (--model is a folder written by `axdnn finetune` for this multiplier and scheme).
    #[arg(long, default_value = "none")]
    pub recover: Recover,
    #[command(flatten)]
    pub inputs: super::Inputs,
}

#[derive(clap::Args)]
pub struct InferArgs {
    #[command(flatten)]
    pub q: QuantArgs,
    /// `exact`, a Verilog file, an EvoApprox name found under $AXDNN_EVOAPPROX, or a table file
    /// FILE.bin|FILE.npy|FILE.h|FILE.csv (row = activation), optionally FILE:signed / FILE:unsigned
    /// (else from the file's header or name mul8s_/mul8u_, else inferred from its entries).
    #[arg(long, default_value = "exact")]
    pub multiplier: String,
    /// fast (bit-exact table kernels) | cycle (the cycle-stepped array).
    #[arg(long, default_value = "fast")]
    pub engine: Engine,
    /// Simulate the multiplier's gates for every product instead of using its table.
    #[arg(long)]
    pub bit_level: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A quantized model and its test set.
pub struct Prepared {
    pub qm: QuantModel,
    pub test: Dataset,
    pub dataset: DatasetName,
    pub float_accuracy: f64,
    pub exact_power_mw: Option<f64>,
    /// The calibration images (recovery reads its statistics from them).
    pub calib: Vec<f32>,
    pub meta: io::ModelMeta,
}

impl Prepared {
    /// The quantized model recovered for `m` per `q.recover`.
    pub fn recovered(&self, q: &QuantArgs, m: &LoadedMultiplier, spec: &str) -> anyhow::Result<QuantModel> {
        let sha = m.lut_sha256();
        if q.recover == Recover::Finetune {
            axdnn::recover::finetune::check_record(&self.meta, &q.model, &sha, q.scheme, q.per_channel)?;
        }
        let label = if m.is_assignment() { load::canonical_spec(spec) } else { m.mult.name().to_string() };
        Ok(axdnn::recover::recover_layers(
            &self.qm,
            m.mult.as_ref(),
            &m.layer_refs(),
            &label,
            &sha,
            q.recover,
            &self.calib,
        )?)
    }
}

pub fn prepare(q: &QuantArgs) -> anyhow::Result<Prepared> {
    // The model first: a bad model folder is reported even where no dataset is installed.
    let m = io::load(&q.model)?;
    let inputs = q.inputs.resolve();
    let root = data_root(inputs.data.clone())?;
    let dataset = m.meta.dataset;
    let train = data::load(dataset, Split::Train, &root)?;
    let mut test = data::load(dataset, Split::Test, &root)?;
    if let Some(n) = q.n {
        test = test.head(n);
    }
    if test.shape != m.arch.input {
        anyhow::bail!("dataset images are {}, model expects {}", test.shape, m.arch.input);
    }
    let idx = calibration_indices(train.len(), q.calib, q.calib_seed);
    let calib = train.images_at(&idx);
    let options = QuantOptions {
        scheme: q.scheme,
        weights: if q.per_channel { WeightGranularity::PerChannel } else { WeightGranularity::PerTensor },
        approx: q.approx_layers.clone(),
    };
    eprintln!("calibrating on {} training images (seed {})", idx.len(), q.calib_seed);
    let mut qm = QuantModel::build(&m.arch, &m.params, &calib, options)?;
    qm.calibration.seed = Some(q.calib_seed);
    let logits = axdnn::model::engine::logits(&m.arch, &m.params, &test.images, test.len());
    let float_accuracy = accuracy_of(&logits, &test.labels, m.arch.classes);
    // Exact layers are charged the published power of the library's exact 8×8 multiplier.
    let exact_power_mw = load::exact_power_mw(inputs.evoapprox.as_deref(), q.scheme.signed_multiplier());
    Ok(Prepared { qm, test, dataset, float_accuracy, exact_power_mw, calib, meta: m.meta })
}

fn accuracy_of(logits: &[f32], labels: &[u8], classes: usize) -> f64 {
    let ok =
        logits.chunks_exact(classes).zip(labels).filter(|(l, &y)| axdnn::accel::infer::argmax(l) == y as usize).count();
    ok as f64 / labels.len().max(1) as f64
}

/// Run the test set in chunks with a progress bar (stderr).
pub fn run_all(acc: &Accelerator, test: &Dataset, label: &str) -> anyhow::Result<Inference> {
    let d = test.shape.numel();
    let n = test.len();
    let pb = indicatif::ProgressBar::new(n as u64);
    pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    pb.set_style(indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} images ({eta})")?);
    pb.set_message(label.to_string());
    let chunk = match acc.config.engine {
        Engine::Fast => 500,
        Engine::Cycle => 4,
    };
    let mut all: Option<Inference> = None;
    for s in (0..n).step_by(chunk) {
        let e = (s + chunk).min(n);
        let r = acc.run(&test.images[s * d..e * d])?;
        pb.inc((e - s) as u64);
        match &mut all {
            None => all = Some(r),
            Some(a) => {
                a.acc.extend_from_slice(&r.acc);
                a.logits.extend_from_slice(&r.logits);
                a.n += r.n;
            }
        }
    }
    pb.finish_and_clear();
    all.ok_or_else(|| anyhow::anyhow!("no test images"))
}

pub(crate) fn config(q: &QuantArgs, engine: Engine, bit_level: bool, exact_power_mw: Option<f64>) -> AccelConfig {
    AccelConfig {
        array: q.array,
        dataflow: q.dataflow,
        engine,
        use_table: !bit_level,
        energy: EnergyModel { clock_ghz: q.clock_ghz, exact_power_mw },
    }
}

/// A multiplier or per-layer assignment; the built-in exact multiplier is charged the library's
/// exact circuit power.
pub(crate) fn resolve(
    spec: &str,
    scheme: QuantScheme,
    bit_level: bool,
    exact_power_mw: Option<f64>,
    evoapprox: Option<&std::path::Path>,
) -> anyhow::Result<LoadedMultiplier> {
    Ok(load::resolve_charged(spec, scheme.signed_multiplier(), bit_level, evoapprox, exact_power_mw)?)
}

pub fn infer_cmd(a: InferArgs) -> anyhow::Result<()> {
    let p = prepare(&a.q)?;
    let m =
        resolve(&a.multiplier, a.q.scheme, a.bit_level, p.exact_power_mw, a.q.inputs.resolve().evoapprox.as_deref())?;
    let cfg = config(&a.q, a.engine, a.bit_level, p.exact_power_mw);
    let qm = p.recovered(&a.q, &m, &a.multiplier)?;
    let acc = axdnn::accel::Accelerator::for_loaded(&qm, &m, cfg)?;
    let name = if m.is_assignment() { load::canonical_spec(&a.multiplier) } else { m.mult.name().to_string() };
    let r = run_all(&acc, &p.test, &name)?;
    let accuracy = r.accuracy(&p.test.labels);
    let energy = r.energy_per_image_pj();
    if a.json {
        let layers: Vec<_> = r
            .layers
            .iter()
            .enumerate()
            .map(|(gi, l)| {
                serde_json::json!({
                    "name": l.name, "multiplier": acc.layer_multiplier(gi).map_or("exact", |m| m.name()), "cycles": l.cycles, "folds": l.folds, "macs": l.macs,
                    "approx_macs": l.approx_macs, "exact_macs": l.exact_macs,
                    "utilization": l.utilization, "mapping_efficiency": l.mapping_efficiency,
                    "sram": l.sram, "energy_pj": l.energy_pj,
                })
            })
            .collect();
        let o = serde_json::json!({
            "model": a.q.model.display().to_string(), "dataset": p.dataset.to_string(),
            "multiplier": name, "scheme": a.q.scheme.to_string(), "array": a.q.array.to_string(),
            "dataflow": a.q.dataflow.to_string(), "engine": a.engine, "bit_level": a.bit_level,
            "accuracy": accuracy, "float_accuracy": p.float_accuracy, "n": r.n, "recover": a.q.recover.name(),
            "recovery": qm.recovery,
            "cycles_per_image": r.cycles_per_image(), "energy_per_image_pj": energy,
            // Equal digests = bit-identical logits (compares multipliers given in different forms).
            "logits_sha256": axdnn::util::sha256_hex(&r.logits.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()),
            "energy_convention": cfg.energy.convention(), "layers": layers,
        });
        println!("{o}");
    } else {
        println!(
            "{} on {} {} ({}{}, {} images): accuracy {:.4} (float {:.4})",
            name,
            a.q.array,
            a.q.dataflow,
            a.q.scheme,
            if a.q.recover == Recover::None { String::new() } else { format!(", recover {}", a.q.recover) },
            r.n,
            accuracy,
            p.float_accuracy
        );
        if let Some(rec) = &qm.recovery {
            for l in &rec.layers {
                println!(
                    "recovery {}: {} weight codes tuned; accumulator error vs exact over {} calibration rows, per channel |mean| {:.1} -> {:.2}, rms {:.1} -> {:.1}",
                    l.name, l.tuned_weights, l.rows, l.mean_error_before, l.mean_error_after, l.rms_error_before, l.rms_error_after
                );
            }
        }
        println!(
            "{:<8} {:>6} {:>9} {:>7} {:>9} {:>7} {:>7} {:>10} {:>10} {:>10} {:>12}  multiplier",
            "layer",
            "approx",
            "MACs",
            "folds",
            "cycles",
            "util%",
            "map%",
            "ifmap rd",
            "filter rd",
            "ofmap wr",
            "energy pJ"
        );
        for (gi, l) in r.layers.iter().enumerate() {
            println!(
                "{:<8} {:>6} {:>9} {:>7} {:>9} {:>7.2} {:>7.2} {:>10} {:>10} {:>10} {:>12}  {}",
                l.name,
                l.approximate,
                l.macs,
                l.folds,
                l.cycles,
                100.0 * l.utilization,
                100.0 * l.mapping_efficiency,
                l.sram.ifmap_reads,
                l.sram.filter_reads,
                l.sram.ofmap_writes,
                l.energy_pj.map_or("unknown".into(), |e| format!("{e:.1}")),
                acc.layer_multiplier(gi).map_or("exact", |m| m.name())
            );
        }
        println!(
            "cycles per image {}; energy per image {}",
            r.cycles_per_image(),
            energy.map_or("unknown (power not published)".into(), |e| format!("{e:.1} pJ"))
        );
        println!("convention: {}", cfg.energy.convention());
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct SelectArgs {
    #[command(flatten)]
    pub t: super::attack::TargetArgs,
    /// Folder of multiplier Verilog files (searched recursively; `*_pdk45.v` twins and copies
    /// in other folders skipped, other widths and the other signedness left out).
    #[arg(long)]
    pub library: PathBuf,
    /// Results folder (default: runs/select-<model>-<scheme>, with --per-layer
    /// runs/select-per-layer-<model>-<scheme>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the rows as JSON.
    #[arg(long)]
    pub json: bool,
    /// Search per-layer assignments (one library multiplier per approximate layer) for the
    /// energy–accuracy Pareto front instead of ranking single multipliers: exhaustive when
    /// small, NSGA-II otherwise; objectives on validation images from the training set, the
    /// front then measured on the first --n test images.
    #[arg(long)]
    pub per_layer: bool,
    /// Validation images (from the training set, outside the calibration set) for --per-layer.
    #[arg(long, default_value_t = 1000)]
    pub val: usize,
    /// NSGA-II population (--per-layer).
    #[arg(long, default_value_t = 48)]
    pub population: usize,
    /// NSGA-II generations (--per-layer).
    #[arg(long, default_value_t = 30)]
    pub generations: usize,
    /// Search exhaustively when (multipliers)^(layers) is at most this (--per-layer).
    #[arg(long, default_value_t = 2000)]
    pub exhaustive_limit: u64,
    /// Seed of the search and of the validation images (--per-layer).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Third objective (--per-layer): robust accuracy under this attack, transferred from the
    /// float model (e.g. linf-pgd), at --robust-eps (pixel units).
    #[arg(long)]
    pub robust_attack: Option<axdnn::attack::Attack>,
    /// Budget of --robust-attack (pixel units of [0, 1]).
    #[arg(long, default_value_t = 0.1)]
    pub robust_eps: f32,
}

/// `select --per-layer`: the per-layer assignment search ([`axdnn::study::perlayer`]).
fn select_per_layer(a: &SelectArgs, scheme: QuantScheme, files: &[PathBuf]) -> anyhow::Result<()> {
    use axdnn::study::perlayer::{self, Choice, SearchConfig};
    let inputs = a.t.inputs.resolve();
    let model = io::load(&a.t.model)?;
    let root = data_root(inputs.data.clone())?;
    let train = data::load(model.meta.dataset, Split::Train, &root)?;
    let test = data::load(model.meta.dataset, Split::Test, &root)?;
    anyhow::ensure!(
        train.shape == model.arch.input,
        "dataset images are {}, model expects {}",
        train.shape,
        model.arch.input
    );
    anyhow::ensure!(a.t.recover.len() == 1, "--per-layer takes one --recover method, not {}", a.t.recover.len());
    anyhow::ensure!(
        a.t.recover[0] != Recover::Finetune,
        "--per-layer --recover finetune: a fine-tuned model is tied to one multiplier"
    );
    let exact_power = load::exact_power_mw(inputs.evoapprox.as_deref(), scheme.signed_multiplier());
    let mut choices = Vec::new();
    for f in files {
        let loaded = resolve(&f.display().to_string(), scheme, false, exact_power, inputs.evoapprox.as_deref())?;
        let name = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        choices.push(Choice { name, loaded });
    }
    let options = QuantOptions {
        scheme,
        weights: if a.t.per_channel { WeightGranularity::PerChannel } else { WeightGranularity::PerTensor },
        approx: a.t.approx_layers.parse().map_err(anyhow::Error::msg)?,
    };
    let accel = AccelConfig {
        array: a.t.array.parse().map_err(anyhow::Error::msg)?,
        dataflow: a.t.dataflow.parse().map_err(anyhow::Error::msg)?,
        engine: Engine::Fast,
        use_table: true,
        energy: EnergyModel { clock_ghz: a.t.clock_ghz, exact_power_mw: exact_power },
    };
    let cfg = SearchConfig {
        options,
        accel,
        calib: a.t.calib,
        calib_seed: a.t.calib_seed,
        recover: a.t.recover[0],
        val: a.val,
        test: a.t.n,
        seed: a.seed,
        population: a.population,
        generations: a.generations,
        exhaustive_limit: a.exhaustive_limit,
        robust: a.robust_attack.map(|x| (x, a.robust_eps)),
    };
    let t0 = std::time::Instant::now();
    let s = perlayer::search(&model, &train, &test, &choices, &cfg, true)?;
    let label = super::model_label(&a.t.model);
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/select-per-layer-{label}-{scheme}")));
    let command = std::iter::once("axdnn".to_string()).chain(std::env::args().skip(1)).collect::<Vec<_>>().join(" ");
    let about = format!(
        "## Per-layer multiplier assignment: `{}`, {scheme}\n\n`{command}`\n\n{} {} array, recovery {}, calibration {} training images (seed {}), {} validation images (seed {}), {} test images; {} multipliers of `{}`.{}",
        a.t.model.display(), a.t.array, a.t.dataflow, cfg.recover, cfg.calib, cfg.calib_seed, a.val, a.seed, a.t.n.min(test.len()), choices.len(), a.library.display(),
        cfg.robust.map_or(String::new(), |(at, e)| format!(" Third objective: robust accuracy under {at} at ε = {e} (pixel units), transferred from the float model."))
    );
    s.write(&out, &about)?;
    if a.json {
        let front: Vec<_> = s.front.iter().map(|&i| &s.points[i]).collect();
        println!("{}", serde_json::to_string_pretty(&front)?);
    } else {
        println!(
            "{} assignments evaluated ({}) in {:.1} s; Pareto front of {}:",
            s.points.len(),
            s.method,
            t0.elapsed().as_secs_f64(),
            s.front.len()
        );
        for &i in &s.front {
            let p = &s.points[i];
            let (l, h) = p.test.map_or((0.0, 0.0), |t| t.wilson());
            println!(
                "  {:>9.2} nJ  val {:.2} %  test {:.2} % [{:.2}, {:.2}]  {}",
                p.energy_pj / 1000.0,
                100.0 * p.val.value(),
                100.0 * p.test.map_or(0.0, |t| t.value()),
                100.0 * l,
                100.0 * h,
                p.assignment
            );
        }
        println!("wrote {} (report.md, front.csv, points.csv, uniform.csv, pareto.svg|png)", out.display());
    }
    Ok(())
}

/// The 8×8 multipliers of a library folder usable with `scheme`, one file per circuit.
pub fn library_multipliers(dir: &std::path::Path, scheme: QuantScheme) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = load::verilog_files(dir)?;
    files.retain(|f| !f.file_stem().and_then(|s| s.to_str()).is_some_and(|s| s.ends_with("_pdk45")));
    let mut seen = std::collections::BTreeSet::new();
    files.retain(|f| seen.insert(f.file_stem().map(|s| s.to_os_string())));
    let signed = scheme.signed_multiplier();
    let mut out = Vec::new();
    for f in files {
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        if (axdnn::mult::signed_from_name(&stem) == Some(true)) != signed {
            continue;
        }
        match axdnn::netlist::parse_file(&f) {
            Ok(p) => {
                let widths: Vec<usize> = p.netlist.inputs.iter().map(|i| i.width()).collect();
                if widths == [8, 8] {
                    out.push(f);
                } else {
                    eprintln!("skipping {stem}: inputs {widths:?} bits, need 8x8");
                }
            }
            Err(e) => eprintln!("skipping {}: {e}", f.display()),
        }
    }
    Ok(out)
}

/// Clean accuracy of every multiplier of a library folder: a `clean` plan.
pub fn select_cmd(a: SelectArgs) -> anyhow::Result<()> {
    use toml::Value;
    let inputs = a.t.inputs.resolve();
    let scheme: QuantScheme = a.t.scheme.parse().map_err(anyhow::Error::msg)?;
    let files = library_multipliers(&a.library, scheme)?;
    anyhow::ensure!(
        !files.is_empty(),
        "{}: no 8x8 {} multipliers found",
        a.library.display(),
        if scheme.signed_multiplier() { "signed" } else { "unsigned" }
    );
    if a.per_layer {
        return select_per_layer(&a, scheme, &files);
    }
    let label = super::model_label(&a.t.model);
    let mut t = a.t.plan_table(&[&a.t.model]);
    t.insert("name".into(), Value::String(format!("select-{label}-{scheme}")));
    t.insert("attacks".into(), Value::Array(vec![Value::String("clean".into())]));
    t.insert(
        "multipliers".into(),
        Value::Array(files.iter().map(|f| Value::String(f.display().to_string())).collect()),
    );
    t.insert("chunk".into(), Value::Integer(a.t.n.max(1) as i64));
    let plan = super::attack::plan_from_table(&t, "<command line>", &inputs)?;
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/select-{label}-{scheme}")));
    let sum = axdnn::study::Runner::new(plan, inputs).run(&out)?;
    axdnn::study::report::write(&out)?;
    let res = axdnn::study::report::Results::open(&out)?;
    let rows: Vec<_> = res.complete().filter(|x| x.first.target == "accel").collect();
    if a.json {
        let v: Vec<_> = rows
            .iter()
            .map(|x| {
                let (l, h) = x.proportion().wilson();
                serde_json::json!({
                    "multiplier": x.first.multiplier, "recover": if x.first.recover.is_empty() { "none" } else { x.first.recover.as_str() }, "mae_pct": x.first.mae_pct, "power_mw": x.first.power_mw,
                    "n": x.n, "correct": x.correct, "accuracy": x.proportion().value(), "ci_low": l, "ci_high": h,
                    "energy_per_image_pj": x.first.energy_per_image_pj,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{} multipliers of {} on {label} ({scheme}, {} test images); {sum}",
            rows.len(),
            a.library.display(),
            a.t.n
        );
        println!("wrote {} (results.csv, report.md with the accuracy table, plots/pareto-*.svg|png)", out.display());
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct TableArgs {
    #[command(flatten)]
    pub t: super::attack::TargetArgs,
    /// Comma-separated multiplier names/paths (resolved like --multiplier); per-layer
    /// assignments (`conv1=A,conv2=B`) are separated by `;`.
    #[arg(long, required = true)]
    pub multipliers: Vec<String>,
    /// Comma-separated schemes, one accuracy column each.
    #[arg(long, value_delimiter = ',', default_value = "asym-u8,sign-magnitude")]
    pub schemes: Vec<QuantScheme>,
    /// Markdown output file (written atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Results folder the measurements are kept in (default: runs/accuracy-<model>).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Print the rows as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Accuracy of a list of multipliers under several schemes, as a Markdown table: a `clean` plan.
pub fn table_cmd(a: TableArgs) -> anyhow::Result<()> {
    use toml::Value;
    let inputs = a.t.inputs.resolve();
    let label = super::model_label(&a.t.model);
    let mut t = a.t.plan_table(&[&a.t.model]);
    t.insert("name".into(), Value::String(format!("accuracy-{label}")));
    t.insert("schemes".into(), Value::Array(a.schemes.iter().map(|s| Value::String(s.to_string())).collect()));
    t.insert("attacks".into(), Value::Array(vec![Value::String("clean".into())]));
    let multipliers = load::split_list(&a.multipliers);
    t.insert("multipliers".into(), Value::Array(multipliers.iter().map(|m| Value::String(m.clone())).collect()));
    t.insert("chunk".into(), Value::Integer(a.t.n.max(1) as i64));
    let plan = super::attack::plan_from_table(&t, "<command line>", &inputs)?;
    let dir = a.store.clone().unwrap_or_else(|| PathBuf::from(format!("runs/accuracy-{label}")));
    axdnn::study::Runner::new(plan, inputs).run(&dir)?;
    let res = axdnn::study::report::Results::open(&dir)?;
    let get = |m: &str, s: QuantScheme, r: Recover| {
        res.find(|x| {
            x.target == "accel"
                && x.multiplier == m
                && x.scheme == s.to_string()
                && x.recover == if r == Recover::None { "" } else { r.name() }
        })
    };
    // A recovery column only when recovery is asked for (the table of plain runs is unchanged).
    let with_recover = a.t.recover != [Recover::None];
    let float = res.find(|x| x.target == "float");
    let pct = |p: &axdnn::study::Proportion| {
        let (l, h) = p.wilson();
        format!("{:.2} ± {:.2}", 100.0 * p.value(), 50.0 * (h - l))
    };
    let mut s = format!(
        "Model `{}`: float accuracy {} % on {} test images. Integer inference on a {} {} array, approximate layers: {}, calibration {} training images (seed {}). \
         Accuracy: % ± half-width of the 95 % Wilson interval. Energy per image: multiplier only, E = P/f at {} GHz, exact layers charged the library's exact circuit power. \
         Measurements kept in `{}` (`axdnn study report` regenerates its report).\n\n",
        a.t.model.display(), float.map_or("-".into(), |f| pct(&f.proportion())), a.t.n, a.t.array, a.t.dataflow, a.t.approx_layers, a.t.calib, a.t.calib_seed, a.t.clock_ghz, dir.display()
    );
    s += "| multiplier |";
    if with_recover {
        s += " recovery |";
    }
    s += " MAE % (table) | PDK45 power mW |";
    for sc in &a.schemes {
        s += &format!(" accuracy {sc} % |");
    }
    s += " energy/image nJ |\n|---|---|---|";
    if with_recover {
        s += "---|";
    }
    for _ in &a.schemes {
        s += "---|";
    }
    s += "---|\n";
    let mut json = Vec::new();
    for m in &multipliers {
        for &rc in &a.t.recover {
            let first = a.schemes.iter().find_map(|&sc| get(m, sc, rc));
            let Some(f) = first else { continue };
            s += &format!("| {m} |");
            if with_recover {
                s += &format!(" {rc} |");
            }
            s += &format!(
                " {} | {} |",
                f.first.mae_pct.map_or("-".into(), |v| format!("{v:.4}")),
                f.first.power_mw.map_or("-".into(), |v| format!("{v:.3}"))
            );
            for &sc in &a.schemes {
                match get(m, sc, rc) {
                    Some(x) => {
                        s += &format!(" {} |", pct(&x.proportion()));
                        let (l, h) = x.proportion().wilson();
                        json.push(serde_json::json!({"multiplier": m, "recover": rc.name(), "scheme": sc.to_string(), "n": x.n, "correct": x.correct, "accuracy": x.proportion().value(), "ci_low": l, "ci_high": h}));
                    }
                    None => s += " – |",
                }
            }
            s += &format!(" {} |\n", f.first.energy_per_image_pj.map_or("-".into(), |e| format!("{:.1}", e / 1000.0)));
        }
    }
    if let Some(d) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d)?;
    }
    axdnn::util::write_atomic(&a.out, s.as_bytes())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print!("{s}");
    }
    Ok(())
}
