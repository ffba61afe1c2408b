//! What the measuring commands print, built here so the CLI only prints it: Markdown or text
//! for people, JSON for programs (`accuracy-table` from the store alone, `infer` from a run).

use super::report::{self, Results};
use super::runner::Aggregate;
use super::stats::Proportion;
use super::target_spec::{Prepared, TargetSpec};
use crate::accel::{Accelerator, Engine, Inference};
use crate::quant::{QuantModel, QuantScheme, Recover};
use std::path::Path;

/// The accuracy of each multiplier (and recovery method) under each scheme on `target`, as a
/// Markdown table preceded by what was measured, and the same rows as JSON.
pub fn accuracy_table(
    res: &Results,
    t: &TargetSpec,
    multipliers: &[String],
    schemes: &[QuantScheme],
    recover: &[Recover],
    dir: &Path,
) -> (String, Vec<serde_json::Value>) {
    let get = |m: &str, s: QuantScheme, r: Recover| {
        res.find(|x| {
            x.target == "accel"
                && x.multiplier == m
                && x.scheme == s.to_string()
                && x.recover == if r == Recover::None { "" } else { r.name() }
        })
    };
    // A recovery column only when recovery is asked for (the table of plain runs is unchanged).
    let with_recover = recover != [Recover::None];
    let float = res.find(|x| x.target == "float");
    let pct = |p: &Proportion| report::pct_digits(p, 2);
    let mut s = format!(
        "Model `{}`: float accuracy {} % on {} test images. Integer inference on a {} {} array, approximate layers: {}, calibration {} training images (seed {}). \
         Accuracy: % ± half-width of the 95 % Wilson interval. Energy per image: multiplier only, E = P/f at {} GHz, exact layers charged the library's exact circuit power. \
         Measurements kept in `{}` (`axdnn study report` regenerates its report).\n\n",
        t.model.display(), float.map_or("-".into(), |f| pct(&f.proportion())), t.images.map_or("all".into(), |n| n.to_string()), t.array, t.dataflow, t.approx_layers, t.calib, t.calib_seed, t.clock_ghz, dir.display()
    );
    s += "| multiplier |";
    if with_recover {
        s += " recovery |";
    }
    s += " MAE % (table) | PDK45 power mW |";
    for sc in schemes {
        s += &format!(" accuracy {sc} % |");
    }
    s += " energy/image nJ |\n|---|---|---|";
    if with_recover {
        s += "---|";
    }
    for _ in schemes {
        s += "---|";
    }
    s += "---|\n";
    let mut json = Vec::new();
    for m in multipliers {
        for &rc in recover {
            let first = schemes.iter().find_map(|&sc| get(m, sc, rc));
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
            for &sc in schemes {
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
    (s, json)
}

/// The result of `axdnn infer`: a prepared target run on the accelerator with one multiplier.
pub struct Inferred<'a> {
    /// The target.
    pub prepared: &'a Prepared,
    /// The accelerator it ran on.
    pub acc: &'a Accelerator<'a>,
    /// What the run measured.
    pub result: &'a Inference,
    /// The multiplier's label.
    pub name: &'a str,
    /// The recovery method applied.
    pub recover: Recover,
    /// The (recovered) quantized model.
    pub qm: &'a QuantModel,
}

impl Inferred<'_> {
    /// Everything measured, per layer too, with the logits' sha256 (equal digests:
    /// bit-identical logits, whatever form the multiplier was given in).
    pub fn json(&self, engine: Engine, bit_level: bool) -> serde_json::Value {
        let (p, acc, r, name, recover, qm) = (self.prepared, self.acc, self.result, self.name, self.recover, self.qm);
        let t = &p.spec;
        let accuracy = p.test.is_labelled().then(|| r.accuracy(&p.test.labels));
        let energy = r.energy_per_image_pj();
        let layers: Vec<_> = r
            .layers
            .iter()
            .enumerate()
            .map(|(gi, l)| {
                let mut o = serde_json::json!({
                    "name": l.name, "multiplier": acc.layer_multiplier(gi).map_or("exact", |m| m.name()), "cycles": l.cycles, "folds": l.folds, "macs": l.macs,
                    "approx_macs": l.approx_macs, "exact_macs": l.exact_macs,
                    "utilization": l.utilization, "mapping_efficiency": l.mapping_efficiency,
                    "sram": l.sram, "energy_pj": l.energy_pj,
                });
                if l.groups > 1 {
                    o["groups"] = l.groups.into();
                    o["group_gemm"] = serde_json::json!(l.gemm);
                }
                o
            })
            .collect();
        let o = serde_json::json!({
            "model": t.model.display().to_string(), "dataset": p.dataset.to_string(),
            "multiplier": name, "scheme": t.scheme.to_string(), "array": t.array.to_string(),
            "dataflow": t.dataflow.to_string(), "engine": engine, "bit_level": bit_level,
            "accuracy": accuracy, "float_accuracy": p.float_accuracy, "n": r.n, "recover": recover.name(),
            "recovery": qm.recovery,
            "cycles_per_image": r.cycles_per_image(), "energy_per_image_pj": energy,
            // Equal digests = bit-identical logits (compares multipliers given in different forms).
            "logits_sha256": crate::util::sha256_hex(&r.logits.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()),
            "energy_convention": acc.config.energy.convention(), "layers": layers,
            "post_cycles_per_image": r.post_cycles_per_image(), "post_processing": r.post,
        });
        o
    }

    /// A summary line, the recovery per layer, and the per-layer table.
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        let (p, acc, r, name, recover, qm) = (self.prepared, self.acc, self.result, self.name, self.recover, self.qm);
        let t = &p.spec;
        let accuracy = match p.test.is_labelled() {
            true => format!("accuracy {:.4} (float {:.4})", r.accuracy(&p.test.labels), p.float_accuracy),
            false => "no labels: no accuracy".into(),
        };
        let energy = r.energy_per_image_pj();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} on {} {} ({}{}, {} images): {accuracy}",
            name,
            t.array,
            t.dataflow,
            t.scheme,
            if recover == Recover::None { String::new() } else { format!(", recover {recover}") },
            r.n,
        );
        if let Some(rec) = &qm.recovery {
            for l in &rec.layers {
                let _ = writeln!(s,
                    "recovery {}: {} weight codes tuned; accumulator error vs exact over {} calibration rows, per channel |mean| {:.1} -> {:.2}, rms {:.1} -> {:.1}",
                    l.name, l.tuned_weights, l.rows, l.mean_error_before, l.mean_error_after, l.rms_error_before, l.rms_error_after
                );
            }
        }
        let _ = writeln!(
            s,
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
            let _ = writeln!(
                s,
                "{:<8} {:>6} {:>9} {:>7} {:>9} {:>7.2} {:>7.2} {:>10} {:>10} {:>10} {:>12}  {}",
                if l.groups > 1 { format!("{} ({} groups)", l.name, l.groups) } else { l.name.clone() },
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
        let _ = writeln!(
            s,
            "cycles per image {}; energy per image {}",
            r.cycles_per_image(),
            energy.map_or("unknown (power not published)".into(), |e| format!("{e:.1} pJ"))
        );
        let _ = writeln!(
            s,
            "post-processing unit (pools, adds, concats; {} lanes): {} cycles per image more",
            acc.config.array.cols,
            r.post_cycles_per_image()
        );
        let _ = writeln!(s, "convention: {}", acc.config.energy.convention());
        s
    }
}

/// Clean accuracy per multiplier (and recovery method) of a `clean` plan's accelerator rows,
/// as JSON rows with n, correct, the 95 % Wilson interval, the table's MAE, power and energy.
pub fn clean_rows(rows: &[&Aggregate]) -> Vec<serde_json::Value> {
    rows.iter()
        .map(|x| {
            let (l, h) = x.proportion().wilson();
            serde_json::json!({
                "multiplier": x.first.multiplier, "recover": if x.first.recover.is_empty() { "none" } else { x.first.recover.as_str() }, "mae_pct": x.first.mae_pct, "power_mw": x.first.power_mw,
                "n": x.n, "correct": x.correct, "accuracy": x.proportion().value(), "ci_low": l, "ci_high": h,
                "energy_per_image_pj": x.first.energy_per_image_pj,
            })
        })
        .collect()
}

/// Robust accuracy per aggregate (attack, threat, budget, model column, scheme) as JSON rows
/// with n, correct and the 95 % Wilson interval.
pub fn robust_rows(aggs: &[&Aggregate]) -> Vec<serde_json::Value> {
    aggs.iter()
        .map(|x| {
            let (l, h) = x.proportion().wilson();
            serde_json::json!({
                "attack": x.first.attack, "threat": x.first.threat, "epsilon": report::eps_f64(x.first.epsilon),
                "model": report::column_of(&x.first), "scheme": x.first.scheme, "n": x.n, "correct": x.correct,
                "robust_accuracy": x.proportion().value(), "ci_low": l, "ci_high": h,
            })
        })
        .collect()
}

/// Transferability (the paper's Table II) from a cross-model results folder: accuracy of each
/// target before and after the attack from each source's float model.
pub struct Transfer<'a> {
    /// The results folder.
    pub results: &'a Results,
    /// Models, both sources and targets, in order.
    pub models: &'a [&'a Path],
    /// The targets' multiplier spec.
    pub multiplier: &'a str,
    /// The attack.
    pub attack: crate::attack::Attack,
    /// Its budget.
    pub eps: f32,
    /// The targets' scheme.
    pub scheme: QuantScheme,
    /// Test images.
    pub n: usize,
}

impl Transfer<'_> {
    /// (source, target, before, after) for every pair measured at both budgets.
    fn cells(&self) -> Vec<(&Path, &Path, &Aggregate, &Aggregate)> {
        let get = |src: &Path, tgt: &Path, e: f32| {
            self.results.find(|x| {
                x.source_model == src.display().to_string()
                    && x.target_model == tgt.display().to_string()
                    && x.target == "accel"
                    && x.epsilon.to_bits() == e.to_bits()
            })
        };
        let mut cells = Vec::new();
        for &src in self.models {
            for &tgt in self.models {
                if let (Some(b), Some(af)) = (get(src, tgt, 0.0), get(src, tgt, self.eps)) {
                    cells.push((src, tgt, b, af));
                }
            }
        }
        cells
    }

    /// One JSON row per measured pair.
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.cells()
            .iter()
            .map(|(s, t, b, af)| {
                serde_json::json!({
                    "source": s.display().to_string(), "target": t.display().to_string(), "multiplier": self.multiplier,
                    "attack": self.attack.name(), "epsilon": report::eps_f64(self.eps), "n": b.n,
                    "accuracy_before": b.proportion().value(), "before_ci": b.proportion().wilson(),
                    "accuracy_after": af.proportion().value(), "after_ci": af.proportion().wilson(),
                })
            })
            .collect()
    }

    /// A sentence saying what was measured, then the source × target table.
    pub fn markdown(&self) -> String {
        use std::fmt::Write as _;
        let label = |p: &Path| p.file_name().map_or_else(|| p.display().to_string(), |s| s.to_string_lossy().into());
        let cells = self.cells();
        let mut s = format!(
            "{} eps {} from each source's float model to each target, quantized ({}) with {}: accuracy % before / after (± half-width of the 95 % interval), {} test images\n\n",
            self.attack, self.eps, self.scheme, self.multiplier, self.n
        );
        let _ = writeln!(
            s,
            "| source (float) \\ target | {} |\n|---|{}",
            self.models.iter().map(|m| label(m)).collect::<Vec<_>>().join(" | "),
            "---|".repeat(self.models.len())
        );
        for &src in self.models {
            let line: Vec<String> = self
                .models
                .iter()
                .map(|&tgt| match cells.iter().find(|c| c.0 == src && c.1 == tgt) {
                    Some((_, _, b, af)) => {
                        format!("{} / {}", report::pct(&b.proportion()), report::pct(&af.proportion()))
                    }
                    None => "–".into(),
                })
                .collect();
            let _ = writeln!(s, "| {} | {} |", label(src), line.join(" | "));
        }
        s
    }
}
