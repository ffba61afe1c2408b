//! The report of a results folder, built from `plan.lock.toml` and `results.csv` alone:
//! robust-accuracy tables with 95 % intervals, the verdict on "is approximation universally
//! defensive?" (paired exact McNemar tests, Holm-corrected), quantization vs float (Fig. 8),
//! transferability (Table II), clean accuracy per multiplier, and plots.

use super::cell::{self, Cell, ModelInfo, Target};
use super::figures::{self, Palette};
use super::masking;
use super::runner::{aggregate, Aggregate};
use super::stats::Proportion;
use super::store::{self, Row};
use super::{Plan, StudyError};
use crate::plot::{self, ScatterChart, ScatterPoint, Threshold};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

/// The paper's clean-accuracy threshold (Algorithm 1, line 2): multipliers below it are
/// discarded — 90 % for LeNet-5/MNIST, 75 % for AlexNet/CIFAR-10.
pub fn accuracy_threshold(dataset: crate::data::DatasetName) -> f64 {
    match dataset {
        crate::data::DatasetName::Mnist => 0.90,
        crate::data::DatasetName::Cifar10 => 0.75,
    }
}

/// Significance level of the verdict's tests.
pub const ALPHA: f64 = 0.05;

/// Exact two-sided McNemar test on paired outcomes: `b` images right only under A, `c` right
/// only under B. p = P(|X − (b+c)/2| ≥ |b − (b+c)/2|), X ~ Bin(b + c, ½).
pub fn mcnemar_exact(b: usize, c: usize) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // ln C(n, i) − n ln 2, summed for i ≤ k.
    let ln_half_n = n as f64 * std::f64::consts::LN_2;
    let mut ln_c = 0.0f64; // ln C(n, 0)
    let mut tail = 0.0f64;
    for i in 0..=k {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_c - ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

/// Holm's step-down correction: which of `p` are rejected at family-wise level `alpha`.
pub fn holm(p: &[f64], alpha: f64) -> Vec<bool> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
    let m = p.len();
    let mut out = vec![false; m];
    for (rank, &i) in order.iter().enumerate() {
        if p[i] <= alpha / (m - rank) as f64 {
            out[i] = true;
        } else {
            break;
        }
    }
    out
}

/// Discordant pairs of two outcome vectors over the same images: (right only in `a`, right only in `b`).
pub fn discordant(a: &[bool], b: &[bool]) -> (usize, usize) {
    a.iter().zip(b).fold((0, 0), |(x, y), (&p, &q)| (x + (p && !q) as usize, y + (!p && q) as usize))
}

/// `value ± half-width` of the 95 % Wilson interval, in percent.
pub fn pct(p: &Proportion) -> String {
    pct_digits(p, 1)
}

/// [`pct`] with `digits` decimals.
pub fn pct_digits(p: &Proportion, digits: usize) -> String {
    let (l, h) = p.wilson();
    format!("{:.digits$} ± {:.digits$}", 100.0 * p.value(), 50.0 * (h - l))
}

/// A p-value for tables: three decimals, scientific below 0.001.
pub fn fmt_p(p: f64) -> String {
    if p >= 0.001 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    }
}

/// The exact baseline of a plan: `exact`, else the exact circuit mul8u_1JFF.
pub fn exact_name(plan: &Plan) -> &'static str {
    if plan.multipliers.iter().any(|m| m == "exact") {
        "exact"
    } else {
        "mul8u_1JFF"
    }
}

/// [`config_of`] without the recovery method: what recovered and unrecovered targets share.
pub(super) fn base_config(r: &Row) -> String {
    config_of(&Row { recover: String::new(), ..r.clone() })
}

/// Identity of a target configuration (everything but the multiplier).
pub(super) fn config_of(r: &Row) -> String {
    if r.target == "float" {
        "float".into()
    } else {
        let recover = if r.recover.is_empty() { String::new() } else { format!(" recover {}", r.recover) };
        format!(
            "{} {}{} {} {}{recover}",
            r.scheme,
            if r.per_channel { "per-channel " } else { "" },
            r.array,
            r.dataflow,
            r.approx_layers
        )
    }
}

/// A multiplier spec for display: a file's stem (`netlists/gen/mul8u_gen_trunc8.v` →
/// `mul8u_gen_trunc8`), names as they are.
pub fn short_name(spec: &str) -> String {
    let file = spec.strip_suffix(":signed").or_else(|| spec.strip_suffix(":unsigned")).unwrap_or(spec);
    if file.contains('/') || file.ends_with(".v") || crate::lut::table_file::parse_spec(file).is_some() {
        std::path::Path::new(file).file_stem().map_or(spec.to_string(), |s| s.to_string_lossy().into_owned())
    } else {
        spec.to_string()
    }
}

/// Column label of a target (`@bpda`: adaptive gradient attack through that accelerator;
/// `@hw`: decision-based attack querying it; no suffix: transferred from the float model).
pub fn column_of(r: &Row) -> String {
    let base = if r.target == "float" { "float".to_string() } else { short_name(&r.multiplier) };
    match r.threat.as_str() {
        "hardware" => format!("{base} @hw"),
        "bpda" => format!("{base} @bpda"),
        _ => base,
    }
}

/// Distinct column labels in first-seen order.
fn columns(v: &[&Aggregate]) -> Vec<String> {
    v.iter().map(|a| column_of(&a.first)).fold(Vec::new(), |mut c, x| {
        if !c.contains(&x) {
            c.push(x);
        }
        c
    })
}

/// Robust accuracy `% ± half-width`, budgets as rows, targets as columns (Markdown).
pub fn robust_table(v: &[&Aggregate]) -> String {
    let cols = columns(v);
    let mut eps: Vec<f32> = v.iter().map(|a| a.first.epsilon).collect();
    eps.sort_by(f32::total_cmp);
    eps.dedup();
    let mut s = format!("| eps | {} |\n|---|{}\n", cols.join(" | "), "---:|".repeat(cols.len()));
    for e in &eps {
        s += &format!("| {e} |");
        for c in &cols {
            match v.iter().find(|a| column_of(&a.first) == *c && a.first.epsilon == *e) {
                Some(a) => s += &format!(" {} |", pct(&a.proportion())),
                None => s += " – |",
            }
        }
        s += "\n";
    }
    s
}

/// A budget as the decimal number it was written as (f32 `0.15` → f64 `0.15`, not 0.15000000596).
pub fn eps_f64(e: f32) -> f64 {
    e.to_string().parse().expect("a float prints as a float")
}

/// Whether a multiplier is an exact circuit (not counted as an approximate one).
pub fn is_exact_multiplier(name: &str) -> bool {
    name == "exact" || name.ends_with("mul8u_1JFF") || name.ends_with("mul8s_1KV8") || name.ends_with("1JFF.v")
}

/// Results of a folder, grouped over image chunks, with the plan.
pub struct Results {
    /// The plan of the folder (its lock file).
    pub plan: Plan,
    /// The plan's result rows, grouped over image chunks.
    pub aggs: Vec<Aggregate>,
    /// Image chunks per aggregate the plan has.
    pub chunks: usize,
}

impl Results {
    /// Read a study folder's plan and results.
    pub fn open(dir: &Path) -> Result<Results, StudyError> {
        let plan = store::read_lock(dir)?.ok_or_else(|| {
            StudyError::Report(format!("{}: no {}: not a study folder", dir.display(), store::LOCK_FILE))
        })?;
        let rows = store::read_rows(&dir.join(store::RESULTS_FILE))?;
        let mine: Vec<&Row> = rows.iter().filter(|r| store::order_key(&plan, r).is_some()).collect();
        let chunks = plan.images.div_ceil(plan.chunk);
        let aggs = aggregate(mine.into_iter());
        Ok(Results { plan, aggs, chunks })
    }

    /// Every planned measurement (a cell over all its image chunks × one target) whose rows do
    /// not cover the plan's images, in plan order: what the tables below leave out. `Err` when
    /// the plan cannot be enumerated (a cross-model plan whose model folders are unreadable).
    pub fn missing(&self) -> Result<Vec<Missing>, String> {
        let plan = &self.plan;
        let info: Vec<ModelInfo> = plan
            .models
            .iter()
            .map(|m| match crate::model::io::load_meta(m) {
                Ok((arch, meta)) => Ok(ModelInfo { dataset: meta.dataset, macs: arch.macs().iter().sum() }),
                // Only a cross-model plan's targets depend on the dataset.
                Err(_) if !plan.cross_models => Ok(ModelInfo { dataset: crate::data::DatasetName::Mnist, macs: 0 }),
                Err(e) => Err(format!("{}: {e}", m.display())),
            })
            .collect::<Result<_, _>>()?;
        let mut have: HashMap<store::OrderKey, usize> = HashMap::new();
        for a in &self.aggs {
            if let Some(mut k) = store::order_key(plan, &a.first) {
                k[5] = 0;
                let n = have.entry(k).or_default();
                *n = (*n).max(a.n);
            }
        }
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for c in cell::cells(plan, &info) {
            for t in &c.targets {
                let Some(k) = planned_key(plan, &c, t) else { continue };
                if !seen.insert(k) {
                    continue;
                }
                let images = have.get(&k).copied().unwrap_or(0);
                if images < plan.images {
                    out.push(Missing {
                        source: plan.models[c.source].display().to_string(),
                        threat: c.threat.name().into(),
                        attack: c.attack.name().into(),
                        attack_seed: c.attack_seed,
                        epsilon: c.epsilon,
                        target: target_label(plan, t),
                        images,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Aggregates with all of the plan's image chunks.
    pub fn complete(&self) -> impl Iterator<Item = &Aggregate> {
        self.aggs.iter().filter(move |a| a.chunks == self.chunks)
    }

    /// The aggregate matching `f`, complete ones only.
    pub fn find(&self, f: impl Fn(&Row) -> bool) -> Option<&Aggregate> {
        self.complete().find(|a| f(&a.first))
    }
}

/// A planned measurement short of rows ([`Results::missing`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Missing {
    /// The source model of the adversarial examples.
    pub source: String,
    /// The threat model.
    pub threat: String,
    /// The attack (or `clean`).
    pub attack: String,
    /// The attack seed.
    pub attack_seed: u64,
    /// The budget.
    pub epsilon: f32,
    /// `float <model>`, or the model, configuration and multiplier of an accelerator.
    pub target: String,
    /// Images with rows (of the plan's `images`).
    pub images: usize,
}

/// [`store::order_key`] of the rows (`cell`, `target`) would have, image chunk 0.
fn planned_key(plan: &Plan, c: &Cell, t: &Target) -> Option<store::OrderKey> {
    let eps = plan.eps.get(c.attack.name())?;
    let head = [
        c.source,
        plan.threats.iter().position(|x| *x == c.threat)?,
        plan.attacks.iter().position(|a| a == c.attack.name())?,
        plan.attack_seeds.iter().position(|&s| s == c.attack_seed)?,
        eps.iter().position(|e| e.to_bits() == c.epsilon.to_bits())?,
        0,
        t.model(),
    ];
    let tail = match *t {
        Target::Float { .. } => [0; 7],
        Target::Accel { scheme, per_channel, array, dataflow, multiplier, recover, .. } => [
            1,
            plan.schemes.iter().position(|x| *x == scheme.to_string())?,
            plan.per_channel.iter().position(|&p| p == per_channel)?,
            plan.arrays.iter().position(|x| *x == array.to_string())?,
            plan.dataflows.iter().position(|&d| d == dataflow)?,
            multiplier,
            plan.recover.iter().position(|x| x == recover.name())?,
        ],
    };
    let mut k = [0; 14];
    k[..7].copy_from_slice(&head);
    k[7..].copy_from_slice(&tail);
    Some(k)
}

/// A target as the missing-measurements table names it.
fn target_label(plan: &Plan, t: &Target) -> String {
    match *t {
        Target::Float { model } => format!("float {}", plan.models[model].display()),
        Target::Accel { model, scheme, per_channel, array, dataflow, multiplier, recover } => {
            let recover =
                if recover == crate::quant::Recover::None { String::new() } else { format!(" recover {recover}") };
            format!(
                "{} on {}: {scheme} {}{array} {dataflow} {}{recover}",
                short_name(&plan.multipliers[multiplier]),
                plan.models[model].display(),
                if per_channel { "per-channel " } else { "" },
                plan.approx_layers
            )
        }
    }
}

/// The "Missing measurements" section: one line per source, threat, attack, seed and target,
/// its budgets short of rows with the images they have. Nothing when the folder is complete.
fn missing_text(s: &mut String, res: &Results) {
    let missing = match res.missing() {
        Ok(m) => m,
        Err(e) => {
            let _ = writeln!(s, "**Missing measurements not listed**: the plan cannot be enumerated ({e}).\n");
            return;
        }
    };
    if missing.is_empty() {
        return;
    }
    let none = missing.iter().filter(|m| m.images == 0).count();
    let _ = writeln!(
        s,
        "## Missing measurements\n\n{} planned measurements have no rows and {} lack some of their image chunks (a shard or a run still to finish, or rows removed); \
         every table below leaves them out. `axdnn study run` of this folder's plan.lock.toml into it measures them.\n",
        none,
        missing.len() - none
    );
    let _ = writeln!(
        s,
        "| source | threat | attack | seed | target | budgets (images with rows, of {}) |\n|---|---|---|---|---|---|",
        res.plan.images
    );
    // One line per target, budgets gathered (the plan enumerates budgets outside targets).
    let mut lines: Vec<(&Missing, Vec<String>)> = Vec::new();
    for m in &missing {
        let budget = format!("{} ({})", m.epsilon, m.images);
        let same = |x: &Missing| {
            (x.source == m.source && x.threat == m.threat && x.attack == m.attack)
                && x.attack_seed == m.attack_seed
                && x.target == m.target
        };
        match lines.iter_mut().find(|(x, _)| same(x)) {
            Some((_, b)) => b.push(budget),
            None => lines.push((m, vec![budget])),
        }
    }
    for (m, budgets) in lines {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            m.source,
            m.threat,
            m.attack,
            m.attack_seed,
            m.target,
            budgets.join(", ")
        );
    }
    s.push('\n');
}

/// One approximate-vs-exact comparison of the verdict.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The source model (folder).
    pub source: String,
    /// The threat model.
    pub threat: String,
    /// The accelerator configuration (scheme, weights, array, dataflow, approximate layers,
    /// recovery), as reports print it.
    pub config: String,
    /// The recovery method of both targets (empty: none).
    pub recover: String,
    /// The attack.
    pub attack: String,
    /// The budget.
    pub epsilon: f32,
    /// The approximate multiplier.
    pub multiplier: String,
    /// Robust accuracy under the approximate multiplier.
    pub approx: Proportion,
    /// Robust accuracy under the exact multiplier.
    pub exact: Proportion,
    /// Clean accuracy under the approximate multiplier.
    pub approx_clean: Proportion,
    /// Clean accuracy under the exact multiplier.
    pub exact_clean: Proportion,
    /// Right only under the approximate / only under the exact multiplier.
    pub b: usize,
    /// Images right only under the exact multiplier.
    pub c: usize,
    /// Exact two-sided McNemar p-value of `b` against `c`.
    pub p: f64,
    /// Whether the approximate multiplier's clean accuracy meets the paper's threshold
    /// ([`accuracy_threshold`]).
    pub passes_threshold: bool,
}

impl Comparison {
    /// Robust accuracy difference approx − exact (fraction).
    pub fn diff(&self) -> f64 {
        self.approx.value() - self.exact.value()
    }
    /// Accuracy lost to the attack, relative to each model's own clean accuracy:
    /// (clean − robust) / clean.
    pub fn relative_loss(p: &Proportion, clean: &Proportion) -> f64 {
        if clean.correct == 0 {
            return 0.0;
        }
        1.0 - p.value() / clean.value()
    }
    /// Relative loss to the attack under the approximate multiplier minus that under the exact one
    /// (fraction).
    pub fn loss_gap(&self) -> f64 {
        Self::relative_loss(&self.approx, &self.approx_clean) - Self::relative_loss(&self.exact, &self.exact_clean)
    }
}

/// Every (source, threat, configuration, attack, seed, epsilon > 0, approximate multiplier)
/// cell against the exact multiplier of the same configuration, on the same images.
pub fn comparisons(res: &Results) -> Vec<Comparison> {
    let mut out = Vec::new();
    let by_dataset: BTreeMap<String, crate::data::DatasetName> = res
        .plan
        .models
        .iter()
        .filter_map(|m| crate::model::io::load_meta(m).ok().map(|(_, meta)| (m.display().to_string(), meta.dataset)))
        .collect();
    for a in res.complete() {
        let r = &a.first;
        if r.target != "accel"
            || r.epsilon <= 0.0
            || is_exact_multiplier(&r.multiplier)
            || r.source_model != r.target_model
        {
            continue;
        }
        let same = |x: &Row, eps: f32| {
            x.source_sha256 == r.source_sha256
                && x.target_sha256 == r.target_sha256
                && x.threat == r.threat
                && x.attack == r.attack
                && x.attack_seed == r.attack_seed
                && config_of(x) == config_of(r)
                && x.epsilon.to_bits() == eps.to_bits()
        };
        let exact_name = exact_name(&res.plan);
        let Some(ex) = res.find(|x| same(x, r.epsilon) && x.multiplier == exact_name) else { continue };
        // Clean accuracy of both: the attack's own eps-0 row (transfer), or the clean cell.
        let clean_of = |m: &str| {
            res.find(|x| same(x, 0.0) && x.multiplier == m).or_else(|| {
                res.find(|x| {
                    x.attack == "clean"
                        && x.target_sha256 == r.target_sha256
                        && config_of(x) == config_of(r)
                        && x.multiplier == m
                })
            })
        };
        let (Some(ac), Some(ec)) = (clean_of(&r.multiplier), clean_of(exact_name)) else { continue };
        let (b, c) = discordant(&a.bits, &ex.bits);
        let threshold = by_dataset.get(&r.target_model).map_or(0.0, |d| accuracy_threshold(*d));
        out.push(Comparison {
            source: r.source_model.clone(),
            threat: r.threat.clone(),
            config: config_of(r),
            recover: r.recover.clone(),
            attack: r.attack.clone(),
            epsilon: r.epsilon,
            multiplier: r.multiplier.clone(),
            approx: a.proportion(),
            exact: ex.proportion(),
            approx_clean: ac.proportion(),
            exact_clean: ec.proportion(),
            b,
            c,
            p: mcnemar_exact(b, c),
            passes_threshold: ac.proportion().value() >= threshold,
        });
    }
    out
}

/// Counts of the verdict over a set of comparisons.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Verdict {
    /// Comparisons counted.
    pub cells: usize,
    /// Significantly more / less robust than exact (McNemar, Holm over these cells, α = 0.05).
    pub better: usize,
    /// Comparisons significantly less robust than exact.
    pub worse: usize,
    /// Of the significant ones: mean difference in points.
    pub better_mean_points: f64,
    /// Mean robust accuracy difference of the significantly worse ones, in percentage points (≤ 0).
    pub worse_mean_points: f64,
    /// Relative loss to the attack significantly... counted by sign of the loss gap among the
    /// significant cells.
    pub smaller_loss: usize,
    /// Significant comparisons whose relative loss to the attack is larger than exact's.
    pub larger_loss: usize,
    /// Never significantly worse, and significantly better in more than half of the comparisons.
    pub universally_defensive: bool,
}

/// The verdict over `cs`: McNemar p-values, Holm-corrected at α = 0.05.
pub fn verdict(cs: &[&Comparison]) -> Verdict {
    let p: Vec<f64> = cs.iter().map(|c| c.p).collect();
    let sig = holm(&p, ALPHA);
    let mut v = Verdict { cells: cs.len(), ..Default::default() };
    let (mut bs, mut ws) = (0.0, 0.0);
    for (c, &s) in cs.iter().zip(&sig) {
        if !s {
            continue;
        }
        if c.diff() > 0.0 {
            v.better += 1;
            bs += 100.0 * c.diff();
        } else {
            v.worse += 1;
            ws += 100.0 * c.diff();
        }
        if c.loss_gap() < 0.0 {
            v.smaller_loss += 1;
        } else if c.loss_gap() > 0.0 {
            v.larger_loss += 1;
        }
    }
    v.better_mean_points = if v.better > 0 { bs / v.better as f64 } else { 0.0 };
    v.worse_mean_points = if v.worse > 0 { ws / v.worse as f64 } else { 0.0 };
    // "Universally defensive": never significantly worse, and significantly better in most
    // cells (one better cell among a hundred ties is no defence).
    v.universally_defensive = v.cells > 0 && v.worse == 0 && 2 * v.better > v.cells;
    v
}

/// The verdict of one threat model and recovery method: over all multipliers, and over those
/// passing the clean-accuracy threshold.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerdictGroup {
    /// The threat model.
    pub threat: String,
    /// `none`, `compensate`, `tune` or `finetune`.
    pub recover: String,
    /// Over every approximate multiplier.
    pub all: Verdict,
    /// Over the multipliers passing the clean-accuracy threshold.
    pub passing_threshold: Verdict,
}

impl VerdictGroup {
    /// The recovery method as rows store it (empty for none).
    fn recover_key(&self) -> &str {
        if self.recover == "none" {
            ""
        } else {
            &self.recover
        }
    }
}

/// One verdict per (threat model, recovery method), in name order: recovery removes the
/// clean-accuracy confound, and pooling methods would hide what it changes.
pub fn verdict_groups(cs: &[Comparison]) -> Vec<VerdictGroup> {
    let keys: std::collections::BTreeSet<(&str, &str)> =
        cs.iter().map(|c| (c.threat.as_str(), c.recover.as_str())).collect();
    keys.into_iter()
        .map(|(t, r)| {
            let all: Vec<&Comparison> = cs.iter().filter(|c| c.threat == t && c.recover == r).collect();
            let kept: Vec<&Comparison> = all.iter().copied().filter(|c| c.passes_threshold).collect();
            VerdictGroup {
                threat: t.into(),
                recover: if r.is_empty() { "none".into() } else { r.into() },
                all: verdict(&all),
                passing_threshold: verdict(&kept),
            }
        })
        .collect()
}

/// The cells of one verdict line per multiplier (significance as in that line: Holm over all
/// its cells), with each multiplier's clean accuracy beside the exact one's.
fn per_multiplier_text(s: &mut String, cs: &[&Comparison]) {
    if cs.is_empty() {
        return;
    }
    let sig = holm(&cs.iter().map(|c| c.p).collect::<Vec<_>>(), ALPHA);
    let mut names: Vec<&str> = Vec::new();
    for c in cs {
        if !names.contains(&c.multiplier.as_str()) {
            names.push(&c.multiplier);
        }
    }
    let _ = writeln!(
        s,
        "\n  | multiplier | clean % (exact) | cells | more robust | less robust |\n  |---|---|---|---|---|"
    );
    for m in names {
        let mine: Vec<(&&Comparison, bool)> =
            cs.iter().zip(sig.iter().copied()).filter(|(c, _)| c.multiplier == m).collect();
        let first = mine[0].0;
        let better = mine.iter().filter(|(c, s)| *s && c.diff() > 0.0).count();
        let worse = mine.iter().filter(|(c, s)| *s && c.diff() < 0.0).count();
        let _ = writeln!(
            s,
            "  | {} | {} ({}) | {} | {better} | {worse} |",
            short_name(m),
            pct(&first.approx_clean),
            pct(&first.exact_clean),
            mine.len()
        );
    }
    s.push('\n');
}

fn verdict_text(s: &mut String, label: &str, cs: &[&Comparison]) {
    let v = verdict(cs);
    let _ = writeln!(
        s,
        "- **{label}**: {} cells; significantly more robust than exact in **{}** (mean {:+.1} points), significantly less robust in **{}** (mean {:+.1} points); \
         among the significant cells the accuracy lost to the attack (relative to each model's own clean accuracy) is smaller in {} and larger in {}. \
         Universally defensive (never significantly worse, better in most cells): **{}**.",
        v.cells,
        v.better,
        v.better_mean_points,
        v.worse,
        v.worse_mean_points,
        v.smaller_loss,
        v.larger_loss,
        if v.universally_defensive { "yes" } else { "no" }
    );
    if let Some(w) = cs.iter().filter(|c| c.p < ALPHA).max_by(|a, b| a.loss_gap().total_cmp(&b.loss_gap())) {
        let _ = writeln!(
            s,
            "  Largest gap in relative loss: {} eps {} with {} ({}): {:.1} % of its clean accuracy lost vs {:.1} % for exact (robust {} vs {} %, McNemar p = {}).",
            w.attack,
            w.epsilon,
            short_name(&w.multiplier),
            w.threat,
            100.0 * Comparison::relative_loss(&w.approx, &w.approx_clean),
            100.0 * Comparison::relative_loss(&w.exact, &w.exact_clean),
            pct(&w.approx),
            pct(&w.exact),
            fmt_p(w.p)
        );
    }
}

/// Write `report.md` and `plots/` into `dir` from its store; returns the report text.
pub fn write(dir: &Path) -> Result<String, StudyError> {
    let res = Results::open(dir)?;
    let plan = &res.plan;
    let mut s = String::new();
    let _ = writeln!(s, "# Study `{}`\n", plan.name);
    let _ = writeln!(
        s,
        "Models {}; schemes {}; multipliers {}; {} test images from #{} in cells of {}; calibration {} training images (seed {}); attack seeds {:?}; threat models {}; budgets in {} units{}. \
         Every accuracy is `% ± half-width of the 95 % Wilson interval` over the images; comparisons between multipliers are paired (same images, exact McNemar test).\n",
        plan.models.iter().map(|m| format!("`{}`", m.display())).collect::<Vec<_>>().join(", "),
        plan.schemes.join(", "),
        plan.multipliers.join(", "),
        plan.images,
        plan.image_start,
        plan.chunk,
        plan.calib,
        plan.calib_seed,
        plan.attack_seeds,
        plan.threats.iter().map(|t| t.name()).collect::<Vec<_>>().join(", "),
        plan.eps_units,
        match plan.eps_units {
            crate::attack::EpsUnits::Pixel => " of [0, 1]",
            crate::attack::EpsUnits::Normalized => " ((x − mean)/std per channel: the model's own normalization, else MNIST 0.1307/0.3081, CIFAR-10 (0.4914, 0.4822, 0.4465)/(0.2470, 0.2435, 0.2616); an Linf ε is ε·std in pixels)",
        }
    );
    let total = store::read_rows(&dir.join(store::RESULTS_FILE))?.len();
    let complete = res.complete().count();
    if complete < res.aggs.len() {
        let _ = writeln!(s, "**Incomplete**: {} of {} measurements lack image chunks (a shard or a run still to finish); they are left out below.\n", res.aggs.len() - complete, res.aggs.len());
    }
    missing_text(&mut s, &res);
    let pal = Palette::of(&res);
    let cs = comparisons(&res);
    if !cs.is_empty() {
        let _ = writeln!(s, "## Is approximation universally defensive?\n");
        let _ = writeln!(
            s,
            "Each approximate multiplier against the exact one in the same configuration, at every attacked budget (eps > 0), per threat model; \
             exact McNemar test on the same images, Holm-corrected over the cells of each line (α = {ALPHA}). The exact circuit mul8u_1JFF is not counted.\n"
        );
        let several =
            verdict_groups(&cs).iter().map(|g| &g.recover).collect::<std::collections::BTreeSet<_>>().len() > 1;
        for g in verdict_groups(&cs) {
            let label = if several { format!("{}, recover {}", g.threat, g.recover) } else { g.threat.clone() };
            let all: Vec<&Comparison> =
                cs.iter().filter(|c| c.threat == g.threat && c.recover == g.recover_key()).collect();
            let kept: Vec<&Comparison> = all.iter().copied().filter(|c| c.passes_threshold).collect();
            verdict_text(&mut s, &format!("{label}, all multipliers"), &all);
            verdict_text(&mut s, &format!("{label}, multipliers passing the clean-accuracy threshold (Algorithm 1 line 2: 90 % MNIST, 75 % CIFAR-10)"), &kept);
            per_multiplier_text(&mut s, &all);
            s += &figures::heatmaps(&res, &all, &pal, dir)?;
        }
        s.push('\n');
    }
    masking_text(&mut s, &res);
    fig8(&mut s, &res);
    clean_table(&mut s, &res, dir)?;
    figures::recovery(&mut s, &res, &pal, dir)?;
    table2(&mut s, &res);
    attack_tables(&mut s, &res, &pal, dir)?;
    let _ = writeln!(
        s,
        "\n---\n{total} rows in `results.csv`; regenerate this report with `axdnn study report {}`.",
        dir.display()
    );
    store::write_atomic(&dir.join("report.md"), s.as_bytes())?;
    Ok(s)
}

/// The attacked series of a study as the gradient-masking checks see them: per target (the float
/// model, or a model on an accelerator configuration and multiplier), attack, threat model and
/// seed, the per-image bits over the budgets > 0. White box: gradient attacks on the float model
/// (`transfer`) and through the accelerator (`bpda`); black box: query attacks on the float
/// model (`transfer`) and on the accelerator (`hardware`); transferred examples on the
/// accelerator are compared with nothing.
pub fn masking_series(res: &Results) -> Vec<masking::Series> {
    use crate::attack::{Access, Attack};
    let seeds = res.plan.attack_seeds.len() > 1;
    let mut out: Vec<masking::Series> = Vec::new();
    for a in res.complete() {
        let r = &a.first;
        let Ok(attack) = r.attack.parse::<Attack>() else { continue };
        if r.epsilon <= 0.0 || r.source_model != r.target_model {
            continue;
        }
        let query = attack.access() == Access::Query;
        let access = match (r.target.as_str(), r.threat.as_str()) {
            ("float", "transfer") if query => masking::Access::BlackBox,
            ("float", "transfer") => masking::Access::WhiteBox,
            ("accel", "bpda") => masking::Access::WhiteBox,
            ("accel", "hardware") => masking::Access::BlackBox,
            _ => masking::Access::Other,
        };
        let seed = if seeds { format!(" seed {}", r.attack_seed) } else { String::new() };
        let target = if r.target == "float" {
            format!("{} float{seed}", short_name(&r.target_model))
        } else {
            format!("{} {} {}{seed}", short_name(&r.target_model), config_of(r), short_name(&r.multiplier))
        };
        let point = (r.epsilon, a.bits.clone());
        match out.iter_mut().find(|s| s.target == target && s.attack == r.attack && s.threat == r.threat) {
            Some(s) => s.points.push(point),
            None => out.push(masking::Series {
                target,
                attack: r.attack.clone(),
                threat: r.threat.clone(),
                access,
                gradient: !query,
                norm: attack.norm(),
                points: vec![point],
            }),
        }
    }
    out
}

/// The gradient-masking section: every flag, or what was checked and found clean.
fn masking_text(s: &mut String, res: &Results) {
    let series = masking_series(res);
    if series.is_empty() {
        return;
    }
    // The largest input of the plan's models (an unreadable model: no L2 budget counts as
    // unbounded).
    let input_len = res
        .plan
        .models
        .iter()
        .filter_map(|m| crate::model::io::load_meta(m).ok().map(|(arch, _)| arch.input.numel()))
        .max()
        .unwrap_or(usize::MAX);
    let flags = masking::flags(&series, input_len);
    let white = series.iter().filter(|x| x.access == masking::Access::WhiteBox).count();
    let black = series.iter().filter(|x| x.access == masking::Access::BlackBox).count();
    let _ = writeln!(s, "## Gradient-masking checks\n");
    let _ = writeln!(
        s,
        "Over {} attacked series ({white} white-box gradient, {black} black-box query): a query attack beating every gradient attack on the same target and budget; \
         a gradient attack's robust accuracy not falling from its smallest to its largest budget, or rising significantly between two (McNemar p < 0.05); \
         an unbounded budget (Linf ≥ 1, L2 ≥ √input size) leaving an image robust. \
         Dead gradients (zero or non-finite for > 1 % of the images) are checked where gradients are computed, not from a store.\n",
        series.len()
    );
    if flags.is_empty() {
        let _ = writeln!(s, "No flag raised.\n");
    } else {
        let _ = writeln!(s, "{} flag(s):\n", flags.len());
        for f in &flags {
            let _ = writeln!(s, "- {f}");
        }
        s.push('\n');
    }
}

/// Quantization vs float (the paper's Fig. 8): the float model against the quantized model
/// with the exact multiplier, same adversarial examples.
fn fig8(s: &mut String, res: &Results) {
    let mut lines = Vec::new();
    let mut any_bpda = false;
    for a in res.complete().filter(|a| {
        a.first.target == "float"
            && a.first.source_model == a.first.target_model
            && a.first.threat == "transfer"
            && a.first.attack != "clean"
            && a.first.epsilon > 0.0
    }) {
        let r = &a.first;
        let exact_under = |threat: &str, config: &str| {
            res.complete().find(|q| {
                let x = &q.first;
                x.target == "accel"
                    && x.multiplier == "exact"
                    && x.source_sha256 == r.source_sha256
                    && x.target_sha256 == r.target_sha256
                    && x.attack == r.attack
                    && x.attack_seed == r.attack_seed
                    && x.epsilon.to_bits() == r.epsilon.to_bits()
                    && x.threat == threat
                    && config_of(x) == config
            })
        };
        let vs = |q: &Aggregate| {
            let (b, c) = discordant(&q.bits, &a.bits);
            format!(
                "{} | {:+.1} | {}",
                pct(&q.proportion()),
                100.0 * (q.proportion().value() - a.proportion().value()),
                fmt_p(mcnemar_exact(b, c))
            )
        };
        for q in res.complete().filter(|q| {
            let x = &q.first;
            x.target == "accel"
                && x.multiplier == "exact"
                && x.source_sha256 == r.source_sha256
                && x.target_sha256 == r.target_sha256
                && x.attack == r.attack
                && x.attack_seed == r.attack_seed
                && x.epsilon.to_bits() == r.epsilon.to_bits()
                && x.threat == r.threat
        }) {
            let config = config_of(&q.first);
            let bpda = exact_under("bpda", &config);
            any_bpda |= bpda.is_some();
            lines.push((
                format!(
                    "| {} | {} | {} | {} | {} | {} |",
                    r.source_model,
                    config,
                    r.attack,
                    r.epsilon,
                    pct(&a.proportion()),
                    vs(q)
                ),
                bpda.map(|b| format!(" {} |", vs(b))),
            ));
        }
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "## Quantization vs float (Fig. 8)\n\nFloat model (attacked white-box) vs the 8-bit quantized model with the exact multiplier on the accelerator: under the adversarial examples \
         transferred from the float model (the paper's setting){}. Differences and McNemar p against the float column, same images.\n",
        if any_bpda { ", and under BPDA against the quantized model itself (like with like: each model attacked through its own forward pass)" } else { "" }
    );
    if any_bpda {
        let _ = writeln!(s, "| model | quantized | attack | eps | float % | quantized exact, transferred % | difference (points) | McNemar p | quantized exact, BPDA % | difference (points) | McNemar p |\n|---|---|---|---|---|---|---|---|---|---|---|");
    } else {
        let _ = writeln!(s, "| model | quantized | attack | eps | float % | quantized exact % | difference (points) | McNemar p |\n|---|---|---|---|---|---|---|---|");
    }
    for (l, b) in lines {
        let tail = if any_bpda { b.unwrap_or_else(|| " - | - | - |".into()) } else { String::new() };
        let _ = writeln!(s, "{l}{tail}");
    }
    s.push('\n');
}

/// Clean accuracy of every target (the `clean` pseudo-attack), with the multipliers' figures
/// and an accuracy–power scatter.
fn clean_table(s: &mut String, res: &Results, dir: &Path) -> Result<(), StudyError> {
    let rows: Vec<&Aggregate> = res.complete().filter(|a| a.first.attack == "clean").collect();
    if rows.is_empty() {
        return Ok(());
    }
    let _ = writeln!(s, "## Clean accuracy\n\n| model | configuration | multiplier | MAE % | PDK45 power mW | accuracy % | cycles/image | energy/image nJ |\n|---|---|---|---|---|---|---|---|");
    for a in &rows {
        let r = &a.first;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.target_model,
            config_of(r),
            column_of(r),
            r.mae_pct.map_or("-".into(), |v| format!("{v:.4}")),
            r.power_mw.map_or("-".into(), |v| format!("{v:.3}")),
            pct(&a.proportion()),
            r.cycles_per_image.map_or("-".into(), |v| v.to_string()),
            r.energy_per_image_pj.map_or("-".into(), |e| format!("{:.1}", e / 1000.0))
        );
    }
    s.push('\n');
    let mut groups: BTreeMap<(String, String), Vec<&Aggregate>> = BTreeMap::new();
    for a in rows.iter().filter(|a| a.first.target == "accel" && a.first.power_mw.is_some()) {
        groups.entry((a.first.target_model.clone(), config_of(&a.first))).or_default().push(a);
    }
    for ((model, config), g) in groups {
        let pts: Vec<(f64, f64)> =
            g.iter().map(|a| (a.first.power_mw.unwrap_or(0.0), a.proportion().value())).collect();
        let front = pareto_front(&pts);
        let dataset = crate::model::io::load_meta(Path::new(&model)).ok().map(|(_, m)| m.dataset);
        let chart = ScatterChart {
            title: format!("{model} ({config}): accuracy vs multiplier power"),
            x_label: "PDK45 power (mW)".into(),
            y_label: "top-1 accuracy (%)".into(),
            points: g
                .iter()
                .zip(&front)
                .map(|(a, &f)| {
                    let (l, h) = a.proportion().wilson();
                    ScatterPoint {
                        x: a.first.power_mw.unwrap_or(0.0),
                        y: 100.0 * a.proportion().value(),
                        label: short_name(&a.first.multiplier),
                        ci: Some((100.0 * l, 100.0 * h)),
                        front: f,
                    }
                })
                .collect(),
            thresholds: dataset
                .map(|d| Threshold {
                    y: 100.0 * accuracy_threshold(d),
                    label: format!("paper threshold {:.0} %", 100.0 * accuracy_threshold(d)),
                })
                .into_iter()
                .collect(),
            label_all: g.len() <= 20,
        };
        let stem = format!("pareto-{}-{}", slug(&model), slug(&config));
        plot_dir(dir)?;
        plot::scatter_chart(&chart, &dir.join("plots").join(&stem)).map_err(|e| StudyError::Report(e.to_string()))?;
        let _ = writeln!(s, "![accuracy vs power](plots/{stem}.svg)\n");
    }
    Ok(())
}

/// Points no other point beats in both power (lower) and accuracy (higher).
pub fn pareto_front(pts: &[(f64, f64)]) -> Vec<bool> {
    pts.iter().map(|&(p, a)| !pts.iter().any(|&(q, b)| q <= p && b >= a && (q < p || b > a))).collect()
}

/// Transferability (Table II): accuracy before/after, sources × targets, per multiplier.
fn table2(s: &mut String, res: &Results) {
    if !res.plan.cross_models {
        return;
    }
    let _ = writeln!(s, "## Transferability (Table II)\n\nAdversarial examples from each source's float model, classified by each target (quantized, on the accelerator). `before / after` = accuracy % (± half-width of the 95 % interval) at eps 0 / at eps.\n");
    let attacked: Vec<&Aggregate> = res
        .complete()
        .filter(|a| a.first.target == "accel" && a.first.epsilon > 0.0 && a.first.threat == "transfer")
        .collect();
    let mut keys: Vec<(String, f32, String, String)> = attacked
        .iter()
        .map(|a| (a.first.attack.clone(), a.first.epsilon, config_of(&a.first), a.first.multiplier.clone()))
        .collect();
    keys.dedup();
    let mut seen = Vec::new();
    keys.retain(|k| {
        if seen.contains(k) {
            false
        } else {
            seen.push(k.clone());
            true
        }
    });
    let models: Vec<String> = res.plan.models.iter().map(|m| m.display().to_string()).collect();
    for (attack, eps, config, mult) in keys {
        let _ = writeln!(
            s,
            "**{attack} eps {eps}, {config}, multiplier {mult}**\n\n| source (float) \\ target | {} |\n|---|{}",
            models.join(" | "),
            "---|".repeat(models.len())
        );
        for src in &models {
            let mut line = format!("| {src} |");
            for tgt in &models {
                let get = |e: f32| {
                    res.find(|x| {
                        x.source_model == *src
                            && x.target_model == *tgt
                            && x.attack == attack
                            && x.epsilon.to_bits() == e.to_bits()
                            && config_of(x) == config
                            && x.multiplier == mult
                            && x.threat == "transfer"
                    })
                };
                match (get(0.0), get(eps)) {
                    (Some(b), Some(a)) => line += &format!(" {} / {} |", pct(&b.proportion()), pct(&a.proportion())),
                    _ => line += " – |",
                }
            }
            let _ = writeln!(s, "{line}");
        }
        s.push('\n');
    }
}

/// One table and one figure per (source, configuration, attack, seed): budgets as rows, targets
/// as columns, the threat models side by side (transferred, `@bpda`, `@hw`); the figure's small
/// multiples have one panel per threat model and group of multipliers
/// ([`figures::small_multiples`]).
fn attack_tables(s: &mut String, res: &Results, pal: &Palette, dir: &Path) -> Result<(), StudyError> {
    let mut groups: Vec<(String, Vec<&Aggregate>)> = Vec::new();
    for a in res.complete().filter(|a| a.first.attack != "clean" && a.first.source_model == a.first.target_model) {
        let r = &a.first;
        // The float column belongs to every configuration of its cell.
        let configs: Vec<String> = if r.target == "float" {
            let mut v: Vec<String> = Vec::new();
            for x in res.complete().filter(|x| {
                x.first.target == "accel" && x.first.source_sha256 == r.source_sha256 && x.first.attack == r.attack
            }) {
                let c = config_of(&x.first);
                if !v.contains(&c) {
                    v.push(c);
                }
            }
            v
        } else {
            vec![config_of(r)]
        };
        for config in configs {
            let g = format!("{} | {} | {} | seed {}", r.source_model, config, r.attack, r.attack_seed);
            match groups.iter_mut().find(|(k, _)| *k == g) {
                Some((_, v)) => {
                    if !v.iter().any(|x| std::ptr::eq(*x, a)) {
                        v.push(a)
                    }
                }
                None => groups.push((g, vec![a])),
            }
        }
    }
    if groups.is_empty() {
        return Ok(());
    }
    let _ = writeln!(s, "## Robust accuracy per attack\n");
    for (g, v) in groups {
        let _ = writeln!(s, "### {g}\n\n{}", robust_table(&v));
        let title = g.replace(" | ", ", ");
        let stem = figures::small_multiples(res, &title, &v, pal, dir)?;
        let _ = writeln!(s, "\n![{title}](plots/{stem}.svg)\n");
    }
    Ok(())
}

pub(super) fn plot_dir(dir: &Path) -> Result<(), StudyError> {
    let p = dir.join("plots");
    std::fs::create_dir_all(&p).map_err(|source| StudyError::Io { path: p, cause: source })
}

/// A file-name-safe version of a label.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() || ch == '.' {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_known_values() {
        // scipy.stats.binomtest(k, n, 0.5).pvalue (two-sided, exact).
        assert!((mcnemar_exact(0, 0) - 1.0).abs() < 1e-12);
        assert!((mcnemar_exact(0, 6) - 0.03125).abs() < 1e-12);
        assert!((mcnemar_exact(2, 10) - 0.038_574_218_75).abs() < 1e-10);
        assert!((mcnemar_exact(5, 5) - 1.0).abs() < 1e-12);
        assert!((mcnemar_exact(40, 70) - 0.005_447_429_5).abs() < 1e-9, "{}", mcnemar_exact(40, 70));
    }

    #[test]
    fn holm_steps_down() {
        assert_eq!(holm(&[0.01, 0.04, 0.03, 0.005], 0.05), vec![true, false, false, true]);
        assert_eq!(holm(&[0.01, 0.02, 0.03], 0.1), vec![true, true, true]);
        assert_eq!(holm(&[], 0.05), Vec::<bool>::new());
    }
}
