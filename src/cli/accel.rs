//! `axdnn infer` and `axdnn select`: integer inference of a trained model on the systolic-array
//! model with any multiplier, and a library sweep with a Pareto plot.

use super::target::{flag_of, TargetArgs, MULTIPLIER_HELP};
use axdnn::accel::{Accelerator, Engine};
use axdnn::mult::resolve as load;
use axdnn::quant::QuantScheme;
use axdnn::study::PlanKeys;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct InferArgs {
    #[command(flatten)]
    pub t: TargetArgs,
    #[arg(long, default_value = "exact", help = MULTIPLIER_HELP)]
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

pub fn infer_cmd(a: InferArgs) -> anyhow::Result<()> {
    let inputs = a.t.inputs.resolve();
    let recover = a.t.one_recover()?;
    let p = a.t.spec().prepare(&inputs)?;
    eprintln!("calibrated on {} training images (seed {})", a.t.calib, a.t.calib_seed);
    let m = p.resolve(&a.multiplier, a.bit_level, inputs.evoapprox.as_deref())?;
    let cfg = p.spec.accel_config(a.engine, a.bit_level, p.exact_power_mw);
    let qm = p.recovered(&m, &a.multiplier, recover)?;
    let acc = Accelerator::for_loaded(&qm, &m, cfg)?;
    let name = m.label(&a.multiplier);
    let r = acc.run_with_progress(&p.test.images, &name)?;
    let rep = axdnn::study::tables::Inferred { prepared: &p, acc: &acc, result: &r, name: &name, recover, qm: &qm };
    if a.json {
        println!("{}", rep.json(a.engine, a.bit_level));
    } else {
        print!("{}", rep.text());
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct SelectArgs {
    #[command(flatten)]
    pub t: TargetArgs,
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
    #[command(flatten)]
    pub search: axdnn::study::perlayer::SearchFlags,
}

/// `select --per-layer`: the per-layer assignment search ([`axdnn::study::perlayer::select`]).
fn select_per_layer(a: &SelectArgs, files: &[PathBuf]) -> anyhow::Result<()> {
    let label = super::model_label(&a.t.model);
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/select-per-layer-{label}-{}", a.t.scheme)));
    let t0 = std::time::Instant::now();
    let inputs = a.t.inputs.resolve();
    let (spec, recover) = (a.t.spec(), a.t.one_recover()?);
    let command = super::command_line();
    let s = axdnn::study::perlayer::select(&spec, recover, &a.search, &a.library, files, &inputs, &out, &command)?;
    if a.json {
        let front: Vec<_> = s.front.iter().map(|&i| &s.points[i]).collect();
        println!("{}", serde_json::to_string_pretty(&front)?);
    } else {
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "{} assignments evaluated ({}) in {secs:.1} s; Pareto front of {}:",
            s.points.len(),
            s.method,
            s.front.len()
        );
        print!("{}", s.front_text());
        println!("wrote {} (report.md, front.csv, points.csv, uniform.csv, pareto.svg|png)", out.display());
    }
    Ok(())
}

/// Clean accuracy of every multiplier of a library folder: a `clean` plan.
pub fn select_cmd(a: SelectArgs) -> anyhow::Result<()> {
    let inputs = a.t.inputs.resolve();
    let scheme = a.t.scheme;
    let (files, skipped) = load::library(&a.library, scheme.signed_multiplier())?;
    skipped.iter().for_each(|s| eprintln!("skipping {s}"));
    anyhow::ensure!(
        !files.is_empty(),
        "{}: no 8x8 {} multipliers found",
        a.library.display(),
        if scheme.signed_multiplier() { "signed" } else { "unsigned" }
    );
    if a.per_layer {
        return select_per_layer(&a, &files);
    }
    let label = super::model_label(&a.t.model);
    let keys = PlanKeys {
        name: Some(format!("select-{label}-{scheme}")),
        attacks: vec!["clean".into()],
        multipliers: files.iter().map(|f| f.display().to_string()).collect(),
        ..a.t.keys(&[&a.t.model])
    };
    let plan = keys.plan(&inputs, &flag_of)?;
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
    pub t: TargetArgs,
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
    let inputs = a.t.inputs.resolve();
    let label = super::model_label(&a.t.model);
    let multipliers = load::split_list(&a.multipliers);
    let keys = PlanKeys {
        name: Some(format!("accuracy-{label}")),
        schemes: a.schemes.iter().map(|s| s.to_string()).collect(),
        attacks: vec!["clean".into()],
        multipliers: multipliers.clone(),
        ..a.t.keys(&[&a.t.model])
    };
    let plan = keys.plan(&inputs, &flag_of)?;
    let dir = a.store.clone().unwrap_or_else(|| PathBuf::from(format!("runs/accuracy-{label}")));
    axdnn::study::Runner::new(plan, inputs).run(&dir)?;
    let res = axdnn::study::report::Results::open(&dir)?;
    let (s, json) =
        axdnn::study::tables::accuracy_table(&res, &a.t.spec(), &multipliers, &a.schemes, &a.t.recover, &dir);
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
