//! Siddique & Hoque's quoted numbers (`../shared/docs/paper.txt`) beside ours, and whether each
//! of the paper's three answers holds on this accelerator. The paper's accurate model in
//! Figs. 4–7 is its multiplier M1 (mul8u_1JFF, quantized); its M8 on LeNet-5 is mul8u_L40.
//! An "accuracy loss" is clean accuracy minus robust accuracy, in points.

use super::report::{self, discordant, mcnemar_exact, Results, ALPHA};
use super::stats::Proportion;
use super::store::Row;
use std::fmt::Write as _;

/// One number the paper quotes.
struct Quote {
    what: &'static str,
    attack: &'static str,
    eps: f32,
    /// (multiplier, the paper's loss in points)
    losses: [(&'static str, f64); 2],
}

const LENET_QUOTES: [Quote; 7] = [
    Quote {
        what: "Linf BIM (Fig. 4a)",
        attack: "linf-bim",
        eps: 0.2,
        losses: [("mul8u_1JFF", 44.0), ("mul8u_L40", 67.0)],
    },
    Quote {
        what: "Linf FGM = FGSM (Fig. 4c)",
        attack: "fgsm",
        eps: 0.25,
        losses: [("mul8u_1JFF", 37.0), ("mul8u_L40", 49.0)],
    },
    Quote { what: "L2 FGM (Fig. 4d)", attack: "fgm", eps: 2.0, losses: [("mul8u_1JFF", 9.0), ("mul8u_JV3", 28.0)] },
    Quote { what: "L2 PGD (Fig. 5a)", attack: "l2-pgd", eps: 2.0, losses: [("mul8u_1JFF", 17.0), ("mul8u_JV3", 36.0)] },
    Quote {
        what: "Linf PGD (Fig. 5b)",
        attack: "linf-pgd",
        eps: 0.05,
        losses: [("mul8u_1JFF", 1.0), ("mul8u_JV3", 23.0)],
    },
    Quote {
        what: "L2 contrast reduction (Fig. 6a)",
        attack: "l2-contrast",
        eps: 1.5,
        losses: [("mul8u_1JFF", 0.06), ("mul8u_L40", 53.0)],
    },
    Quote {
        what: "Linf repeated additive uniform noise (Fig. 5d)",
        attack: "linf-uniform",
        eps: 1.0,
        losses: [("mul8u_1JFF", 50.0), ("mul8u_L40", 75.0)],
    },
];

fn find(r: &Results, f: impl Fn(&Row) -> bool) -> Option<&super::runner::Aggregate> {
    r.find(|x| x.threat == "transfer" && x.source_model == x.target_model && f(x))
}

fn pct(p: &Proportion) -> String {
    let (l, h) = p.wilson();
    format!("{:.1} [{:.1}, {:.1}]", 100.0 * p.value(), 100.0 * l, 100.0 * h)
}

/// The first float clean accuracy of a study (eps-0 float row of any attack, or the clean cell).
fn float_clean(r: &Results) -> Option<Proportion> {
    find(r, |x| x.target == "float" && x.epsilon == 0.0).map(|a| a.proportion())
}

/// Loss (points) of a multiplier under an attack: clean − robust, with both measurements. The
/// paper's accurate M1 (mul8u_1JFF) is read from our built-in exact multiplier when the plan
/// has no 1JFF (their products are identical).
fn loss(r: &Results, mult: &str, attack: &str, eps: f32) -> Option<(f64, Proportion, Proportion)> {
    let has = |m: &str| r.plan.multipliers.iter().any(|x| x == m);
    let mult = if mult == "mul8u_1JFF" && !has(mult) { "exact" } else { mult };
    let pick = |e: f32| {
        find(r, |x| {
            x.target == "accel" && x.multiplier == mult && x.attack == attack && x.epsilon.to_bits() == e.to_bits()
        })
    };
    let (c, a) = (pick(0.0)?, pick(eps)?);
    Some((100.0 * (c.proportion().value() - a.proportion().value()), c.proportion(), a.proportion()))
}

/// `report.md` of `axdnn reproduce`: every quoted number beside ours, the three answers.
///
/// `lenet` is the LeNet-5 study in the units the paper's numbers match (normalized), `lenet_pixel`
/// the same study with the same numbers read as pixel budgets; each quoted number is set beside
/// both.
pub fn compare(
    lenet: Option<&Results>,
    lenet_pixel: Option<&Results>,
    alexnet: Option<&Results>,
    transfer: &[(&str, &Results)],
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Reproduction of Siddique & Hoque, \"Is Approximation Universally Defensive Against Adversarial Attacks in DNNs?\"\n");
    let _ = writeln!(
        s,
        "Every number below is computed from the study folders next to this file. Intervals are 95 % Wilson intervals over the test images used. \
         The paper does not state the units of its budgets; its LeNet-5 numbers match budgets in units of the normalized input (x − 0.1307)/0.3081 (an Linf ε is 0.3081·ε in pixels of [0, 1]), \
         so the LeNet-5 study runs in those units and every quoted number is also set beside the same budget read as pixels. The paper's accurate model is its multiplier M1 (mul8u_1JFF; our built-in exact multiplier where a plan has no 1JFF — the products are identical), M8 is mul8u_L40. \
         An accuracy loss is clean minus robust accuracy, in points; the paper's figures are read from its text.\n"
    );
    let _ = writeln!(s, "## Baselines\n\n| model | paper | ours (float, clean) |\n|---|---|---|");
    for (name, paper, r) in [("LeNet-5 / MNIST", "98 %", lenet), ("AlexNet / CIFAR-10", "81 %", alexnet)] {
        let ours = r.and_then(float_clean).map_or("not run".into(), |p| pct(&p));
        let _ = writeln!(s, "| {name} | {paper} | {ours} |");
    }
    if lenet.is_some() || lenet_pixel.is_some() {
        let units = |r: Option<&Results>| r.map(|r| r.plan.eps_units.name()).unwrap_or("-");
        let _ = writeln!(
            s,
            "\n## Quoted accuracy losses (LeNet-5 / MNIST, transferred from the float model as in the paper)\n\n\
             | case | eps | multiplier | paper loss (points) | ours, {} units: loss (points) | clean % | robust % | ours, {} units: loss (points) | clean % | robust % |\n|---|---|---|---|---|---|---|---|---|---|",
            units(lenet),
            units(lenet_pixel)
        );
        for q in &LENET_QUOTES {
            for (m, paper) in q.losses {
                let cols = |r: Option<&Results>| match r.and_then(|r| loss(r, m, q.attack, q.eps)) {
                    Some(o) => format!("{:.1} | {} | {}", o.0, pct(&o.1), pct(&o.2)),
                    None => "not in plan | - | -".into(),
                };
                let _ =
                    writeln!(s, "| {} | {} | {m} | {paper} | {} | {} |", q.what, q.eps, cols(lenet), cols(lenet_pixel));
            }
        }
    }
    if let Some(r) = lenet {
        // Fig. 8: PGD eps 0.2, quantization +58 points over float; approximation −35 (M8 vs quantized exact).
        let at = |mult: Option<&str>| {
            find(r, |x| {
                x.attack == "linf-pgd"
                    && x.epsilon.to_bits() == 0.2f32.to_bits()
                    && match mult {
                        None => x.target == "float",
                        Some(m) => x.target == "accel" && x.multiplier == m,
                    }
            })
        };
        let _ = writeln!(s, "\n## Quantization vs approximation (Fig. 8, Linf PGD eps 0.2)\n\n| comparison | paper (points) | ours (points) | McNemar p |\n|---|---|---|---|");
        let exact = at(Some("exact")).or_else(|| at(Some("mul8u_1JFF")));
        let diff = |a: Option<&super::runner::Aggregate>, b: Option<&super::runner::Aggregate>| match (a, b) {
            (Some(a), Some(b)) => {
                let (x, y) = discordant(&a.bits, &b.bits);
                (
                    format!(
                        "{:+.1} ({} vs {})",
                        100.0 * (a.proportion().value() - b.proportion().value()),
                        pct(&a.proportion()),
                        pct(&b.proportion())
                    ),
                    report::fmt_p(mcnemar_exact(x, y)),
                )
            }
            _ => ("not in plan".into(), "-".into()),
        };
        let (d, p) = diff(exact, at(None));
        let _ = writeln!(s, "| quantized exact − float | +58 | {d} | {p} |");
        let (d, p) = diff(at(Some("mul8u_L40")), exact);
        let _ = writeln!(s, "| M8 (L40) − quantized exact | −35 | {d} | {p} |");
    }
    if !transfer.is_empty() {
        let _ = writeln!(s, "\n## Transferability (Table II, Linf BIM eps 0.05, before/after %)\n");
        let _ = writeln!(s, "Paper: MNIST AccL5→AxL5 98/97, AccL5→AxAlx 67/43, AccAlx→AxL5 98/9, AccAlx→AxAlx 67/11; CIFAR-10 AccL5→AxL5 54/9, AccL5→AxAlx 53/4, AccAlx→AxL5 54/20, AccAlx→AxAlx 53/10.\n");
        for (name, r) in transfer {
            let _ = writeln!(
                s,
                "**{name}** (ours):\n\n| source (float) \\ target (accelerator) | {} |\n|---|{}",
                r.plan.models.iter().map(|m| m.display().to_string()).collect::<Vec<_>>().join(" | "),
                "---|".repeat(r.plan.models.len())
            );
            for src in &r.plan.models {
                let mut line = format!("| {} |", src.display());
                for tgt in &r.plan.models {
                    let get = |e: f32| {
                        r.find(|x| {
                            x.source_model == src.display().to_string()
                                && x.target_model == tgt.display().to_string()
                                && x.target == "accel"
                                && x.attack == "linf-bim"
                                && x.epsilon.to_bits() == e.to_bits()
                                && !report::is_exact_multiplier(&x.multiplier)
                        })
                    };
                    match (get(0.0), get(0.05)) {
                        (Some(b), Some(a)) => {
                            line += &format!(
                                " {} / {} ({}) |",
                                report::pct(&b.proportion()),
                                report::pct(&a.proportion()),
                                b.first.multiplier
                            )
                        }
                        _ => line += " – |",
                    }
                }
                let _ = writeln!(s, "{line}");
            }
            s.push('\n');
        }
    }
    let _ = writeln!(s, "\n## The paper's three answers, on this accelerator\n");
    // A1: not universally defensive — some approximate cell significantly less robust than exact.
    let a1: Vec<String> = [("LeNet-5", lenet), ("AlexNet", alexnet)]
        .iter()
        .filter_map(|(n, r)| {
            let r = (*r)?;
            let cs = report::comparisons(r);
            let per: Vec<String> = r
                .plan
                .threats
                .iter()
                .filter_map(|t| {
                    let all: Vec<&report::Comparison> = cs.iter().filter(|c| c.threat == t.name()).collect();
                    let v = report::verdict(&all);
                    (v.cells > 0).then(|| {
                        format!(
                            "{t}: {} of {} cells significantly less robust than exact, {} more robust",
                            v.worse, v.cells, v.better
                        )
                    })
                })
                .collect();
            Some(format!("{n} ({})", per.join("; ")))
        })
        .collect();
    let a1_holds = [lenet, alexnet].iter().flatten().any(|r| {
        let cs = report::comparisons(r);
        report::verdict(&cs.iter().filter(|c| c.threat == "transfer").collect::<Vec<_>>()).worse > 0
    });
    let _ = writeln!(
        s,
        "- **A1** (approximation is not universally defensive): **{}** — {}.",
        if a1.is_empty() {
            "not run"
        } else if a1_holds {
            "holds"
        } else {
            "does not hold"
        },
        a1.join("; ")
    );
    // A2: attacks transfer — accuracy after the attack significantly below before, off the diagonal.
    let mut a2 = Vec::new();
    for (name, r) in transfer {
        for a in r.complete().filter(|a| {
            a.first.target == "accel" && a.first.source_model != a.first.target_model && a.first.epsilon > 0.0
        }) {
            let x = &a.first;
            if let Some(b) = r.find(|y| {
                y.source_model == x.source_model
                    && y.target_model == x.target_model
                    && y.target == "accel"
                    && y.multiplier == x.multiplier
                    && y.scheme == x.scheme
                    && y.attack == x.attack
                    && y.epsilon == 0.0
            }) {
                let (p, q) = discordant(&b.bits, &a.bits);
                a2.push((
                    format!("{name}: {} → {} ({})", x.source_model, x.target_model, x.multiplier),
                    mcnemar_exact(p, q) < ALPHA && a.proportion().value() < b.proportion().value(),
                ));
            }
        }
    }
    let _ = writeln!(
        s,
        "- **A2** (attacks transfer from accurate float models to approximate accelerators of another structure): **{}** — significant accuracy drop (exact McNemar, before vs after on the same images, α = 0.05 per cell) in {} of {} cross-model cells.",
        if a2.is_empty() { "not run" } else if a2.iter().all(|x| x.1) { "holds" } else { "holds partly" },
        a2.iter().filter(|x| x.1).count(),
        a2.len()
    );
    // A3: quantization improves robustness, approximation undoes it. Paired tests, Holm over
    // each family of cells.
    let a3 = lenet.map(|r| {
        let (mut pq, mut dq, mut pa, mut da) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for f in r.complete().filter(|a| {
            a.first.target == "float"
                && a.first.threat == "transfer"
                && a.first.epsilon > 0.0
                && a.first.source_model == a.first.target_model
        }) {
            let x = &f.first;
            let same = |y: &Row| {
                y.target == "accel"
                    && y.attack == x.attack
                    && y.epsilon.to_bits() == x.epsilon.to_bits()
                    && y.threat == "transfer"
                    && y.source_model == y.target_model
            };
            if let Some(q) = r.find(|y| same(y) && y.multiplier == "exact") {
                let (b, c) = discordant(&q.bits, &f.bits);
                pq.push(mcnemar_exact(b, c));
                dq.push(b as i64 - c as i64);
                if let Some(m8) = r.find(|y| same(y) && y.multiplier == "mul8u_L40") {
                    let (b, c) = discordant(&m8.bits, &q.bits);
                    pa.push(mcnemar_exact(b, c));
                    da.push(b as i64 - c as i64);
                }
            }
        }
        let count = |p: &[f64], d: &[i64]| {
            let sig = report::holm(p, ALPHA);
            let up = sig.iter().zip(d).filter(|(s, d)| **s && **d > 0).count();
            let down = sig.iter().zip(d).filter(|(s, d)| **s && **d < 0).count();
            (up, down, p.len())
        };
        (count(&pq, &dq), count(&pa, &da))
    });
    match a3 {
        Some(((qu, qd, qn), (au, ad, an))) => {
            let verdict = if qu > qd && ad > au {
                "holds"
            } else if ad > au {
                "holds for approximation only: quantization alone makes no significant difference here"
            } else {
                "does not hold"
            };
            let _ = writeln!(
                s,
                "- **A3** (quantization and approximation act antagonistically): **{verdict}** — quantized exact vs float over {qn} (attack, eps > 0) cells: significantly more robust in {qu}, less in {qd}; \
                 M8 (L40) vs quantized exact over {an} cells: significantly more robust in {au}, less in {ad} (exact McNemar, Holm, α = {ALPHA})."
            );
        }
        None => {
            let _ = writeln!(s, "- **A3**: not run (needs the LeNet-5 study).");
        }
    }
    s
}
