//! The report's figures, from the store alone: the verdict heatmap per threat model (is each
//! approximate multiplier more or less robust than exact, where, and is it significant?), small
//! multiples of robust accuracy per attack (one panel per threat model and group of
//! multipliers) and the recovery figure (what does recovery buy in clean accuracy, at what
//! power?). A multiplier has one colour, marker and dash in every figure of a report
//! ([`Palette`]).

use super::report::{self, Comparison, Results};
use super::runner::Aggregate;
use super::StudyError;
use crate::plot::{self, HeatCell, HeatRow, Heatmap, Ident, PanelSeries, Panels, Point, Recovered, RecoveryChart};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

/// Most approximate multipliers in one panel (with float and exact: at most seven series).
pub const PER_PANEL: usize = 5;

/// Each multiplier's place in a report's figures: the plan's multipliers but the exact
/// baseline, by falling power (closest to exact first; unknown power last, in plan order).
#[derive(Debug, Clone)]
pub struct Palette {
    /// The exact baseline's name (`exact`, else the exact circuit `mul8u_1JFF`).
    pub exact: String,
    /// (multiplier, power mW) in figure order.
    pub order: Vec<(String, Option<f64>)>,
}

impl Palette {
    /// The palette of a results folder.
    pub fn of(res: &Results) -> Palette {
        let exact = report::exact_name(&res.plan);
        let power = |m: &str| res.aggs.iter().find(|a| a.first.multiplier == m).and_then(|a| a.first.power_mw);
        let mut order: Vec<(String, Option<f64>)> =
            res.plan.multipliers.iter().filter(|m| **m != exact).map(|m| (m.clone(), power(m))).collect();
        // Stable: equal or unknown powers keep plan order.
        order.sort_by(|a, b| match (a.1, b.1) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        Palette { exact: exact.to_string(), order }
    }

    /// How `multiplier` is drawn (`float` for the float model).
    pub fn ident(&self, multiplier: &str) -> Ident {
        if multiplier == self.exact {
            return Ident::Exact;
        }
        match self.order.iter().position(|(m, _)| m == multiplier) {
            Some(i) => Ident::Multiplier(i),
            None => Ident::Multiplier(self.order.len()),
        }
    }

    /// The multiplier's power in mW, if the store has it.
    pub fn power(&self, multiplier: &str) -> Option<f64> {
        self.order.iter().find(|(m, _)| m == multiplier).and_then(|x| x.1)
    }

    /// `ms` in figure order, cut into groups of at most [`PER_PANEL`], as equal in size as can be.
    pub fn groups<'a>(&self, ms: &[&'a str]) -> Vec<Vec<&'a str>> {
        let mut ms: Vec<&str> = ms.to_vec();
        ms.sort_by_key(|m| match self.ident(m) {
            Ident::Multiplier(i) => i,
            _ => 0,
        });
        let k = ms.len().div_ceil(PER_PANEL).max(1);
        let (base, extra) = (ms.len() / k, ms.len() % k);
        let mut out = Vec::new();
        let mut it = ms.into_iter();
        for g in 0..k {
            out.push(it.by_ref().take(base + usize::from(g < extra)).collect());
        }
        out
    }
}

fn draw_err(e: plot::PlotError) -> StudyError {
    StudyError::Report(e.to_string())
}

/// A 95 % interval in percent.
fn ci_pct(a: &Aggregate) -> (f64, f64) {
    let (l, h) = a.proportion().wilson();
    (100.0 * l, 100.0 * h)
}

/// The verdict heatmaps of one verdict line (`cs`: its comparisons, Holm over all of them, as the
/// line counts them), one per source and configuration; writes them and returns the Markdown.
pub fn heatmaps(res: &Results, cs: &[&Comparison], pal: &Palette, dir: &Path) -> Result<String, StudyError> {
    let sig = report::holm(&cs.iter().map(|c| c.p).collect::<Vec<_>>(), report::ALPHA);
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for c in cs {
        if !keys.contains(&(c.source.as_str(), c.config.as_str())) {
            keys.push((&c.source, &c.config));
        }
    }
    let mut md = String::new();
    for (source, config) in keys {
        let mine: Vec<(&Comparison, bool)> = cs
            .iter()
            .zip(&sig)
            .filter(|(c, _)| c.source == source && c.config == config)
            .map(|(c, &s)| (*c, s))
            .collect();
        let threat = &mine[0].0.threat;
        // Columns: attacks in plan order, budgets ascending.
        let mut groups: Vec<(String, Vec<f32>)> = Vec::new();
        for a in &res.plan.attacks {
            let mut eps: Vec<f32> = mine.iter().filter(|(c, _)| c.attack == *a).map(|(c, _)| c.epsilon).collect();
            eps.sort_by(f32::total_cmp);
            eps.dedup();
            if !eps.is_empty() {
                groups.push((a.clone(), eps));
            }
        }
        let names: BTreeSet<&str> = mine.iter().map(|(c, _)| c.multiplier.as_str()).collect();
        let rows: Vec<HeatRow> = pal
            .order
            .iter()
            .filter(|(m, _)| names.contains(m.as_str()))
            .map(|(m, power)| {
                let cells = groups
                    .iter()
                    .flat_map(|(a, eps)| eps.iter().map(move |e| (a, e)))
                    .map(|(a, e)| {
                        mine.iter()
                            .find(|(c, _)| c.multiplier == *m && c.attack == *a && c.epsilon.to_bits() == e.to_bits())
                            .map(|(c, s)| HeatCell { value: 100.0 * c.diff(), marked: *s })
                    })
                    .collect();
                let clean = mine.iter().find(|(c, _)| c.multiplier == *m).map(|(c, _)| c.approx_clean);
                HeatRow {
                    label: report::short_name(m),
                    ident: Some(pal.ident(m)),
                    cells,
                    side: vec![
                        clean.map_or("-".into(), |p| report::pct(&p)),
                        power.map_or("-".into(), |p| format!("{p:.3}")),
                    ],
                }
            })
            .collect();
        let exact_clean = report::pct(&mine[0].0.exact_clean);
        let chart = Heatmap {
            title: format!("{source}, {config}, {threat}: robust accuracy vs exact"),
            note: format!(
                "cell: approximate − exact robust accuracy (points), same images; dot: significant (exact McNemar, Holm over the line's {} cells, α = {}); exact: clean {exact_clean} %, {} mW",
                cs.len(),
                report::ALPHA,
                res.aggs
                    .iter()
                    .find(|a| a.first.multiplier == pal.exact && a.first.power_mw.is_some())
                    .and_then(|a| a.first.power_mw)
                    .map_or("-".into(), |p| format!("{p:.3}"))
            ),
            groups: groups.iter().map(|(a, eps)| (a.clone(), eps.iter().map(|e| e.to_string()).collect())).collect(),
            rows,
            side: vec!["clean %".into(), "power mW".into()],
            scale_label: "points vs exact".into(),
        };
        let stem = format!("verdict-{}-{}-{}", report::slug(threat), report::slug(source), report::slug(config));
        report::plot_dir(dir)?;
        plot::heatmap(&chart, &dir.join("plots").join(&stem)).map_err(draw_err)?;
        let _ = writeln!(md, "![verdict heatmap: {source}, {config}, {threat}](plots/{stem}.svg)\n");
    }
    Ok(md)
}

/// The small multiples of one attack table: one column per threat model, one row per group of
/// at most [`PER_PANEL`] approximate multipliers, each panel with float (where measured), exact
/// and that group. Returns the figure's stem.
pub fn small_multiples(
    res: &Results,
    title: &str,
    v: &[&Aggregate],
    pal: &Palette,
    dir: &Path,
) -> Result<String, StudyError> {
    let threats: Vec<&str> =
        res.plan.threats.iter().map(|t| t.name()).filter(|t| v.iter().any(|a| a.first.threat == *t)).collect();
    let mut approx: Vec<&str> = Vec::new();
    for a in v {
        let m = a.first.multiplier.as_str();
        if a.first.target == "accel" && m != pal.exact && !approx.contains(&m) {
            approx.push(m);
        }
    }
    let groups = pal.groups(&approx);
    let series = |threat: &str, target: &str, m: &str| -> Option<PanelSeries> {
        let mut pts: Vec<&&Aggregate> = v
            .iter()
            .filter(|a| {
                a.first.threat == threat && a.first.target == target && (target == "float" || a.first.multiplier == m)
            })
            .collect();
        if pts.is_empty() {
            return None;
        }
        pts.sort_by(|a, b| a.first.epsilon.total_cmp(&b.first.epsilon));
        Some(PanelSeries {
            label: if target == "float" { "float".into() } else { report::short_name(m) },
            ident: if target == "float" { Ident::Float } else { pal.ident(m) },
            points: pts
                .iter()
                .map(|a| Point {
                    x: report::eps_f64(a.first.epsilon),
                    y: 100.0 * a.proportion().value(),
                    ci: Some(ci_pct(a)),
                })
                .collect(),
        })
    };
    let cells: Vec<Vec<Vec<PanelSeries>>> = groups
        .iter()
        .map(|g| {
            threats
                .iter()
                .map(|t| {
                    let head = [series(t, "float", ""), series(t, "accel", &pal.exact)];
                    head.into_iter().chain(g.iter().map(|m| series(t, "accel", m))).flatten().collect()
                })
                .collect()
        })
        .collect();
    let rows = groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let ps: Vec<f64> = g.iter().filter_map(|m| pal.power(m)).collect();
            match (ps.first(), ps.last()) {
                (Some(hi), Some(lo)) if ps.len() == g.len() && groups.len() > 1 => format!("{hi:.3}–{lo:.3} mW"),
                _ if groups.len() > 1 => format!("group {} of {}", i + 1, groups.len()),
                _ => String::new(),
            }
        })
        .collect();
    let chart = Panels {
        title: title.to_string(),
        x_label: "epsilon".into(),
        y_label: "robust accuracy (%)".into(),
        y_range: (0.0, 100.0),
        columns: threats.iter().map(|t| threat_title(t)).collect(),
        rows,
        cells,
    };
    let stem = report::slug(title);
    report::plot_dir(dir)?;
    plot::panels(&chart, &dir.join("plots").join(&stem)).map_err(draw_err)?;
    Ok(stem)
}

/// A threat model as a panel header.
fn threat_title(t: &str) -> String {
    match t {
        "transfer" => "transferred from float".into(),
        "bpda" => "BPDA through the accelerator".into(),
        "hardware" => "querying the hardware".into(),
        _ => t.to_string(),
    }
}

/// The recovery section: per source model and configuration with an unrecovered and a recovered
/// clean accuracy of some multiplier, clean accuracy against power with arrows. Clean accuracy:
/// the `clean` pseudo-attack, else the first attack's eps-0 transferred row (the same images,
/// unperturbed).
pub fn recovery(s: &mut String, res: &Results, pal: &Palette, dir: &Path) -> Result<(), StudyError> {
    let clean: Vec<&Aggregate> = {
        let direct: Vec<&Aggregate> =
            res.complete().filter(|a| a.first.attack == "clean" && a.first.target == "accel").collect();
        if !direct.is_empty() {
            direct
        } else {
            let first = res.plan.attacks.iter().find(|at| {
                res.complete().any(|a| a.first.attack == **at && a.first.epsilon == 0.0 && a.first.threat == "transfer")
            });
            res.complete()
                .filter(|a| {
                    Some(&a.first.attack) == first
                        && a.first.epsilon == 0.0
                        && a.first.threat == "transfer"
                        && a.first.target == "accel"
                        && a.first.source_model == a.first.target_model
                })
                .collect()
        }
    };
    let methods: Vec<&str> = res.plan.recover.iter().map(String::as_str).filter(|m| *m != "none").collect();
    if methods.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<(String, String)> = Vec::new();
    for a in &clean {
        let k = (a.first.target_model.clone(), report::base_config(&a.first));
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let mut md = String::new();
    for (model, config) in keys {
        let mine: Vec<&&Aggregate> =
            clean.iter().filter(|a| a.first.target_model == model && report::base_config(&a.first) == config).collect();
        let at = |m: &str, recover: &str| {
            mine.iter()
                .find(|a| a.first.multiplier == m && a.first.recover == recover)
                .map(|a| (100.0 * a.proportion().value(), ci_pct(a), a.first.power_mw))
        };
        let mut names: Vec<&str> =
            std::iter::once(pal.exact.as_str()).chain(pal.order.iter().map(|(m, _)| m.as_str())).collect();
        names.retain(|m| mine.iter().any(|a| a.first.multiplier == *m));
        let points: Vec<Recovered> = names
            .iter()
            .filter_map(|m| {
                let before = at(m, "");
                let power = before
                    .and_then(|b| b.2)
                    .or_else(|| methods.iter().find_map(|r| at(m, r).and_then(|a| a.2)))
                    .or_else(|| pal.power(m))?;
                Some(Recovered {
                    label: report::short_name(m),
                    ident: pal.ident(m),
                    x: power,
                    before: before.map(|(y, ci, _)| (y, ci)),
                    after: methods
                        .iter()
                        .enumerate()
                        .filter_map(|(k, r)| at(m, r).map(|(y, ci, _)| (k, y, ci)))
                        .collect(),
                })
            })
            .collect();
        if !points.iter().any(|p| p.before.is_some() && !p.after.is_empty()) {
            continue;
        }
        let dataset = crate::model::io::load_meta(Path::new(&model)).ok().map(|(_, m)| m.dataset);
        let chart = RecoveryChart {
            title: format!("{model} ({config}): clean accuracy before and after recovery"),
            x_label: "PDK45 power (mW)".into(),
            y_label: "clean top-1 accuracy (%)".into(),
            methods: methods.iter().map(|m| m.to_string()).collect(),
            points,
            thresholds: dataset
                .map(|d| plot::Threshold {
                    y: 100.0 * report::accuracy_threshold(d),
                    label: format!("paper threshold {:.0} %", 100.0 * report::accuracy_threshold(d)),
                })
                .into_iter()
                .collect(),
        };
        let stem = format!("recovery-{}-{}", report::slug(&model), report::slug(&config));
        report::plot_dir(dir)?;
        plot::recovery_chart(&chart, &dir.join("plots").join(&stem)).map_err(draw_err)?;
        let _ = writeln!(md, "![clean accuracy before and after recovery: {model}, {config}](plots/{stem}.svg)\n");
    }
    if !md.is_empty() {
        let _ = writeln!(
            s,
            "## Accuracy recovery\n\nClean accuracy of each multiplier against its power: an arrow from the unrecovered accuracy (open marker) to the recovered one (filled) per method ({}); bars: 95 % Wilson intervals.\n\n{md}",
            methods.join(", ")
        );
    }
    Ok(())
}
