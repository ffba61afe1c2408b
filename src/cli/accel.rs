//! `axdnn infer` and `axdnn select`: integer inference of a trained model on the systolic-array
//! model with any multiplier, and a library sweep with a Pareto plot.

use axdnn::accel::load::{self, LoadedMultiplier};
use axdnn::accel::{AccelConfig, Accelerator, ArrayShape, Dataflow, EnergyModel, Engine, Inference};
use axdnn::data::{self, Dataset, DatasetName, Split};
use axdnn::model::io;
use axdnn::quant::{calibration_indices, ApproxLayers, QuantModel, QuantOptions, QuantScheme, WeightGranularity};
use super::data_root;
use std::path::PathBuf;

#[derive(clap::Args, Clone)]
pub struct QuantArgs {
    /// Model folder (model.safetensors + model.json).
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long, default_value = "16x16")]
    pub array: ArrayShape,
    #[arg(long, default_value = "ws")]
    pub dataflow: Dataflow,
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
    /// Calibration images (chosen from the training set with --seed).
    #[arg(long, default_value_t = 256)]
    pub calib: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Assumed clock for the energy convention E = P / f.
    #[arg(long, default_value_t = 1.0)]
    pub clock_ghz: f64,
    /// Dataset folder (default: $AXDNN_DATA, else ../shared/data).
    #[arg(long)]
    pub data: Option<PathBuf>,
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
    #[arg(long, default_value = "fast")]
    pub engine: Engine,
    /// Simulate the multiplier's gates for every product instead of using its table.
    #[arg(long)]
    pub bit_level: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct SelectArgs {
    #[command(flatten)]
    pub q: QuantArgs,
    /// Folder of multiplier Verilog files (searched recursively; `*_pdk45.v` duplicates skipped).
    #[arg(long)]
    pub library: PathBuf,
    /// Output folder for select.csv and pareto.svg (default: select-<model folder name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The EvoApprox library: $AXDNN_EVOAPPROX, else ../shared/evoapprox (as for the data).
pub(crate) fn evoapprox_root() -> Option<PathBuf> {
    super::locate(None, "AXDNN_EVOAPPROX", "../shared/evoapprox")
}

/// A quantized model and its test set.
pub struct Prepared {
    pub qm: QuantModel,
    pub test: Dataset,
    pub dataset: DatasetName,
    pub float_accuracy: f64,
    pub exact_power_mw: Option<f64>,
    /// The float model the quantized one was built from.
    pub float: io::SavedModel,
}

pub fn prepare(q: &QuantArgs) -> anyhow::Result<Prepared> {
    // The model first: a bad model folder is reported even where no dataset is installed.
    let m = io::load(&q.model)?;
    let root = data_root(q.data.clone())?;
    let dataset = m.meta.dataset;
    let train = data::load(dataset, Split::Train, &root)?;
    let mut test = data::load(dataset, Split::Test, &root)?;
    if let Some(n) = q.n {
        test = test.head(n);
    }
    if test.shape != m.arch.input {
        anyhow::bail!("dataset images are {}, model expects {}", test.shape, m.arch.input);
    }
    let idx = calibration_indices(train.len(), q.calib, q.seed);
    let mut calib = Vec::with_capacity(idx.len() * m.arch.input.numel());
    for &i in &idx {
        calib.extend_from_slice(train.image(i));
    }
    let options = QuantOptions {
        scheme: q.scheme,
        weights: if q.per_channel { WeightGranularity::PerChannel } else { WeightGranularity::PerTensor },
        approx: q.approx_layers.clone(),
    };
    eprintln!("calibrating on {} training images (seed {})", idx.len(), q.seed);
    let mut qm = QuantModel::build(&m.arch, &m.params, &calib, options)?;
    qm.calibration.seed = Some(q.seed);
    let logits = axdnn::model::engine::logits(&m.arch, &m.params, &test.images, test.len());
    let float_accuracy = accuracy_of(&logits, &test.labels, m.arch.classes);
    // Exact layers are charged the published power of the library's exact 8×8 multiplier.
    let exact_name = if q.scheme.signed_multiplier() { "mul8s_1KV8" } else { "mul8u_1JFF" };
    let exact_power_mw = evoapprox_root()
        .and_then(|r| load::find_in_tree(&r, exact_name))
        .and_then(|p| axdnn::netlist::parse_file(&p).ok())
        .and_then(|p| p.published.pdk45_pwr_mw.map(|f| f.value));
    Ok(Prepared { qm, test, dataset, float_accuracy, exact_power_mw, float: m })
}

fn accuracy_of(logits: &[f32], labels: &[u8], classes: usize) -> f64 {
    let ok = logits
        .chunks_exact(classes)
        .zip(labels)
        .filter(|(l, &y)| axdnn::accel::infer::argmax(l) == y as usize)
        .count();
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

pub(crate) fn resolve(spec: &str, scheme: QuantScheme, bit_level: bool, exact_power_mw: Option<f64>) -> anyhow::Result<LoadedMultiplier> {
    let mut m = load::resolve(spec, scheme.signed_multiplier(), bit_level, evoapprox_root().as_deref())?;
    if spec == "exact" {
        // The built-in exact multiplier is charged the library's exact circuit power.
        let mut lut = m.lut.take().expect("exact table");
        lut.power_mw = exact_power_mw;
        m.power_mw = exact_power_mw;
        m.mult = Box::new(lut.clone());
        m.lut = Some(lut);
    }
    Ok(m)
}

pub fn infer_cmd(a: InferArgs) -> anyhow::Result<()> {
    let p = prepare(&a.q)?;
    let m = resolve(&a.multiplier, a.q.scheme, a.bit_level, p.exact_power_mw)?;
    let cfg = config(&a.q, a.engine, a.bit_level, p.exact_power_mw);
    let acc = Accelerator::new(&p.qm, m.mult.as_ref(), cfg)?;
    let r = run_all(&acc, &p.test, m.mult.name())?;
    let accuracy = r.accuracy(&p.test.labels);
    let energy = r.energy_per_image_pj();
    if a.json {
        let layers: Vec<_> = r
            .layers
            .iter()
            .map(|l| {
                serde_json::json!({
                    "name": l.name, "cycles": l.cycles, "folds": l.folds, "macs": l.macs,
                    "approx_macs": l.approx_macs, "exact_macs": l.exact_macs,
                    "utilization": l.utilization, "mapping_efficiency": l.mapping_efficiency,
                    "sram": l.sram, "energy_pj": l.energy_pj,
                })
            })
            .collect();
        let o = serde_json::json!({
            "model": a.q.model.display().to_string(), "dataset": p.dataset.to_string(),
            "multiplier": m.mult.name(), "scheme": a.q.scheme.to_string(), "array": a.q.array.to_string(),
            "dataflow": a.q.dataflow.to_string(), "engine": a.engine, "bit_level": a.bit_level,
            "accuracy": accuracy, "float_accuracy": p.float_accuracy, "n": r.n,
            "cycles_per_image": r.cycles_per_image(), "energy_per_image_pj": energy,
            // Equal digests = bit-identical logits (compares multipliers given in different forms).
            "logits_sha256": io::sha256_hex(&r.logits.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()),
            "energy_convention": cfg.energy.convention(), "layers": layers,
        });
        println!("{o}");
    } else {
        println!(
            "{} on {} {} ({}, {} images): accuracy {:.4} (float {:.4})",
            m.mult.name(), a.q.array, a.q.dataflow, a.q.scheme, r.n, accuracy, p.float_accuracy
        );
        println!(
            "{:<8} {:>6} {:>9} {:>7} {:>9} {:>7} {:>7} {:>10} {:>10} {:>10} {:>12}",
            "layer", "approx", "MACs", "folds", "cycles", "util%", "map%", "ifmap rd", "filter rd", "ofmap wr", "energy pJ"
        );
        for l in &r.layers {
            println!(
                "{:<8} {:>6} {:>9} {:>7} {:>9} {:>7.2} {:>7.2} {:>10} {:>10} {:>10} {:>12}",
                l.name, l.approximate, l.macs, l.folds, l.cycles, 100.0 * l.utilization, 100.0 * l.mapping_efficiency,
                l.sram.ifmap_reads, l.sram.filter_reads, l.sram.ofmap_writes,
                l.energy_pj.map_or("unknown".into(), |e| format!("{e:.1}"))
            );
        }
        println!("cycles per image {}; energy per image {}", r.cycles_per_image(), energy.map_or("unknown (power not published)".into(), |e| format!("{e:.1} pJ")));
        println!("convention: {}", cfg.energy.convention());
    }
    Ok(())
}

/// One row of select.csv.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SelectRow {
    pub name: String,
    pub mae_pct: f64,
    pub power_mw: Option<f64>,
    pub area_um2: Option<f64>,
    pub accuracy: f64,
    pub energy_per_image_pj: Option<f64>,
}

pub fn select_cmd(a: SelectArgs) -> anyhow::Result<()> {
    let p = prepare(&a.q)?;
    let out = a.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!("select-{}", a.q.model.file_name().unwrap_or_default().to_string_lossy()))
    });
    std::fs::create_dir_all(&out)?;
    let csv_path = out.join("select.csv");
    // Resume: keep the rows already written.
    let mut rows: Vec<SelectRow> = super::read_csv(&csv_path)?;
    let mut files = load::verilog_files(&a.library)?;
    // One file per circuit: drop `*_pdk45.v` twins and copies in other Pareto folders.
    files.retain(|f| !f.file_stem().and_then(|s| s.to_str()).is_some_and(|s| s.ends_with("_pdk45")));
    let mut seen = std::collections::BTreeSet::new();
    files.retain(|f| seen.insert(f.file_stem().map(|s| s.to_os_string())));
    let signed = a.q.scheme.signed_multiplier();
    for f in &files {
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        if rows.iter().any(|r| r.name == stem) {
            continue;
        }
        if load::name_is_signed(&stem) != signed {
            eprintln!("skipping {stem}: {} multiplier, scheme {} needs the other kind", if signed { "unsigned" } else { "signed" }, a.q.scheme);
            continue;
        }
        let m = match load::from_verilog(f, false) {
            Ok(m) => m,
            Err(e) => {
                // Every LoadError names the file already.
                eprintln!("skipping: {e}");
                continue;
            }
        };
        let lut = m.lut.as_ref().expect("table");
        if (lut.row_bits, lut.col_bits) != (8, 8) {
            eprintln!("skipping {stem}: {}x{} bits, need 8x8", lut.row_bits, lut.col_bits);
            continue;
        }
        let mae_pct = axdnn::lut::metrics::Metrics::of_lut(lut).mae_pct;
        let cfg = config(&a.q, Engine::Fast, false, p.exact_power_mw);
        let acc = Accelerator::new(&p.qm, m.mult.as_ref(), cfg)?;
        let r = run_all(&acc, &p.test, &stem)?;
        let row = SelectRow {
            name: stem.clone(),
            mae_pct,
            power_mw: m.power_mw,
            area_um2: m.area_um2,
            accuracy: r.accuracy(&p.test.labels),
            energy_per_image_pj: r.energy_per_image_pj(),
        };
        eprintln!("{stem}: MAE {:.4} %, accuracy {:.4}", row.mae_pct, row.accuracy);
        rows.push(row);
        super::write_csv(&csv_path, &rows)?;
    }
    super::write_csv(&csv_path, &rows)?;
    let threshold = match p.dataset {
        DatasetName::Mnist => 0.90,
        _ => 0.75,
    };
    let svg = pareto_svg(&rows, threshold, &format!("{} ({}, {} test images)", a.q.model.display(), a.q.scheme, p.test.len()));
    io::write_atomic(&out.join("pareto.svg"), svg.as_bytes())?;
    println!("{} multipliers; float accuracy {:.4}; wrote {} and {}", rows.len(), p.float_accuracy, csv_path.display(), out.join("pareto.svg").display());
    Ok(())
}

/// Points that no other point beats in both accuracy (higher) and power (lower).
fn pareto_front(pts: &[(f64, f64)]) -> Vec<bool> {
    pts.iter()
        .map(|&(p, a)| !pts.iter().any(|&(q, b)| q <= p && b >= a && (q < p || b > a)))
        .collect()
}

/// Accuracy against power, Pareto front joined, the paper's accuracy threshold dashed.
pub fn pareto_svg(rows: &[SelectRow], threshold: f64, title: &str) -> String {
    let pts: Vec<(f64, f64, &str)> =
        rows.iter().filter_map(|r| r.power_mw.map(|p| (p, r.accuracy, r.name.as_str()))).collect();
    let (w, h, ml, mr, mt, mb) = (800.0, 560.0, 70.0, 30.0, 50.0, 60.0);
    let pmax = pts.iter().map(|p| p.0).fold(0.0f64, f64::max).max(1e-3) * 1.05;
    let amin = pts.iter().map(|p| p.1).fold(threshold, f64::min).min(threshold) - 0.02;
    let amin = amin.max(0.0);
    let x = |p: f64| ml + (w - ml - mr) * p / pmax;
    let y = |a: f64| mt + (h - mt - mb) * (1.0 - (a - amin) / (1.0 - amin));
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"25\" font-size=\"14\" text-anchor=\"middle\">Accuracy vs multiplier power: {}</text>\n",
        w / 2.0,
        xml(title)
    );
    s += &format!("<line x1=\"{ml}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n", h - mb, w - mr, h - mb);
    s += &format!("<line x1=\"{ml}\" y1=\"{mt}\" x2=\"{ml}\" y2=\"{}\" stroke=\"black\"/>\n", h - mb);
    for i in 0..=5 {
        let p = pmax * i as f64 / 5.0;
        s += &format!("<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{p:.3}</text>\n", x(p), h - mb + 15.0);
        let a = amin + (1.0 - amin) * i as f64 / 5.0;
        s += &format!("<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{:.1}%</text>\n", ml - 5.0, y(a) + 4.0, a * 100.0);
    }
    s += &format!("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">PDK45 power (mW)</text>\n", (ml + w - mr) / 2.0, h - 20.0);
    s += &format!("<text x=\"18\" y=\"{}\" transform=\"rotate(-90 18 {})\" text-anchor=\"middle\">top-1 accuracy</text>\n", (mt + h - mb) / 2.0, (mt + h - mb) / 2.0);
    s += &format!(
        "<line x1=\"{ml}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"red\" stroke-dasharray=\"6,4\"/>\n<text x=\"{1}\" y=\"{2:.1}\" fill=\"red\" text-anchor=\"end\">paper threshold {3:.0}%</text>\n",
        y(threshold), w - mr, y(threshold) - 4.0, threshold * 100.0
    );
    let front = pareto_front(&pts.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>());
    let mut fp: Vec<_> = pts.iter().zip(&front).filter(|(_, &f)| f).map(|(p, _)| *p).collect();
    fp.sort_by(|a, b| a.0.total_cmp(&b.0));
    if fp.len() > 1 {
        let path: Vec<String> = fp.iter().map(|p| format!("{:.1},{:.1}", x(p.0), y(p.1))).collect();
        s += &format!("<polyline points=\"{}\" fill=\"none\" stroke=\"steelblue\"/>\n", path.join(" "));
    }
    for ((p, a, n), &f) in pts.iter().zip(&front) {
        let col = if f { "steelblue" } else { "gray" };
        s += &format!("<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{col}\"><title>{} {:.4}</title></circle>\n", x(*p), y(*a), xml(n), a);
        s += &format!("<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\">{}</text>\n", x(*p) + 5.0, y(*a) - 5.0, xml(n));
    }
    s += "</svg>\n";
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[derive(clap::Args)]
pub struct TableArgs {
    #[command(flatten)]
    pub q: QuantArgs,
    /// Comma-separated multiplier names/paths (resolved like --multiplier).
    #[arg(long, value_delimiter = ',')]
    pub multipliers: Vec<String>,
    /// Comma-separated schemes, one accuracy column each.
    #[arg(long, value_delimiter = ',', default_value = "asym-u8,sign-magnitude")]
    pub schemes: Vec<QuantScheme>,
    /// Markdown output file (written atomically).
    #[arg(long)]
    pub out: PathBuf,
}

/// Accuracy of a list of multipliers under several schemes, as a Markdown table.
pub fn table_cmd(a: TableArgs) -> anyhow::Result<()> {
    let mut cols = Vec::new();
    let mut float_acc = 0.0;
    let mut n = 0;
    let mut info: Vec<(String, Option<f64>, Option<f64>)> = Vec::new();
    for &scheme in &a.schemes {
        let q = QuantArgs { scheme, ..a.q.clone() };
        let p = prepare(&q)?;
        float_acc = p.float_accuracy;
        n = p.test.len();
        let mut accs = Vec::new();
        for spec in &a.multipliers {
            let m = resolve(spec, scheme, false, p.exact_power_mw)?;
            let mae = m.lut.as_ref().map(|l| axdnn::lut::metrics::Metrics::of_lut(l).mae_pct);
            let acc = Accelerator::new(&p.qm, m.mult.as_ref(), config(&q, Engine::Fast, false, p.exact_power_mw))?;
            let r = run_all(&acc, &p.test, m.mult.name())?;
            accs.push((r.accuracy(&p.test.labels), r.energy_per_image_pj()));
            if info.len() < a.multipliers.len() {
                info.push((m.mult.name().to_string(), mae, m.power_mw));
            }
        }
        cols.push(accs);
    }
    let mut s = format!(
        "Model `{}`: float accuracy {:.2} % on {n} test images. Integer inference on a {} {} array, \
         approximate layers: {:?}, calibration {} training images (seed {}). Energy per image: \
         multiplier only, E = P/f at {} GHz, exact layers charged the library's exact circuit power.\n\n",
        a.q.model.display(), float_acc * 100.0, a.q.array, a.q.dataflow, a.q.approx_layers, a.q.calib, a.q.seed, a.q.clock_ghz
    );
    s += "| multiplier | MAE % (table) | PDK45 power mW |";
    for sc in &a.schemes {
        s += &format!(" accuracy {sc} % |");
    }
    s += " energy/image nJ |\n|---|---|---|";
    for _ in &a.schemes {
        s += "---|";
    }
    s += "---|\n";
    for (i, (name, mae, pw)) in info.iter().enumerate() {
        s += &format!(
            "| {name} | {} | {} |",
            mae.map_or("-".into(), |v| format!("{v:.4}")),
            pw.map_or("-".into(), |v| format!("{v:.3}"))
        );
        for c in &cols {
            s += &format!(" {:.2} |", c[i].0 * 100.0);
        }
        s += &format!(" {} |\n", cols[0][i].1.map_or("-".into(), |e| format!("{:.1}", e / 1000.0)));
    }
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    io::write_atomic(&a.out, s.as_bytes())?;
    print!("{s}");
    Ok(())
}
