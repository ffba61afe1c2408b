//! The report's figures (issue 27), from a small fixed store: a subset of the committed
//! `lenet5-mnist-recovered` study (exact, 12N4, L40, JV3; FGSM and L2 uniform noise at two
//! budgets; transfer, BPDA and hardware; unrecovered and tuned). Each figure kind is compared
//! with its golden SVG after normalising floating-point text, so a wrong picture fails here; the
//! heatmap's dots are checked against the verdict's own Holm-corrected tests.

use crate::common;

use axdnn::study::report;
use std::path::{Path, PathBuf};

const MULTIPLIERS: [&str; 4] = ["exact", "mul8u_12N4", "mul8u_L40", "mul8u_JV3"];
/// (attack, budgets kept, eps 0 included).
const EPS: [(&str, &[&str]); 2] = [("fgsm", &["0.0", "0.1", "0.25"]), ("l2-uniform", &["0.0", "1.0", "3.0"])];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The small store: the committed plan narrowed to [`MULTIPLIERS`] and [`EPS`], and its rows.
fn small_store(tmp: &Path) -> PathBuf {
    let src = root().join("results/reproduce/lenet5-mnist-recovered");
    let dir = tmp.join("figures");
    std::fs::create_dir_all(&dir).unwrap();
    let mut lock = String::new();
    for line in std::fs::read_to_string(src.join("plan.lock.toml")).unwrap().lines() {
        let key = line.split(" = ").next().unwrap_or("");
        let eps = EPS.iter().find(|(a, _)| *a == key);
        if key == "multipliers" {
            lock += &format!("multipliers = {MULTIPLIERS:?}\n");
        } else if key == "attacks" {
            lock += &format!("attacks = {:?}\n", EPS.iter().map(|e| e.0).collect::<Vec<_>>());
        } else if let Some((a, e)) = eps {
            lock += &format!("{a} = [{}]\n", e.join(", "));
        } else if key.contains('-') || ["fgm", "fgsm"].contains(&key) {
            // Another attack's budgets.
        } else {
            lock += &format!("{line}\n");
        }
    }
    std::fs::write(dir.join("plan.lock.toml"), lock).unwrap();
    let csv = std::fs::read_to_string(src.join("results.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (attack, eps, mult, target) = (col("attack"), col("epsilon"), col("multiplier"), col("target"));
    let mut out = header.join(",") + "\n";
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        let keep_eps = EPS.iter().any(|(a, e)| *a == f[attack] && e.contains(&f[eps]));
        if keep_eps && (f[target] == "float" || MULTIPLIERS.contains(&f[mult])) {
            out += l;
            out += "\n";
        }
    }
    std::fs::write(dir.join("results.csv"), out).unwrap();
    dir
}

/// Every decimal number rounded to one decimal (`-0.0` as `0.0`): what a platform's float
/// printing could change, nothing a reader would see.
fn normalise(svg: &str) -> String {
    let b: Vec<char> = svg.chars().collect();
    let mut out = String::with_capacity(svg.len());
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == '_')) {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == '.') {
                i += 1;
            }
            let num: String = b[start..i].iter().collect();
            match num.parse::<f64>() {
                Ok(v) if num.contains('.') => {
                    let neg = out.ends_with('-');
                    let s = format!("{v:.1}");
                    if neg && s == "0.0" {
                        out.pop();
                    }
                    out += &s;
                }
                _ => out += &num,
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const CONFIG: &str = "models-lenet5-mnist-sign-magnitude-16x16-ws-conv";

#[test]
fn figures_equal_their_golden_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = small_store(tmp.path());
    let md = report::write(&dir).unwrap();
    let plots = dir.join("plots");
    for (golden, file) in [
        ("study/verdict-heatmap.svg", format!("verdict-transfer-{CONFIG}.svg")),
        ("study/small-multiples.svg", format!("{CONFIG}-fgsm-seed-0.svg")),
        ("study/recovery.svg", format!("recovery-{CONFIG}.svg")),
    ] {
        assert!(md.contains(&format!("](plots/{file})")), "report.md embeds {file}");
        common::golden(golden, &normalise(&read(&plots.join(&file))));
    }
    // Every figure the report embeds exists as SVG and PNG; no other file is written.
    let embedded: Vec<&str> =
        md.split("](plots/").skip(1).map(|t| t.split(')').next().unwrap().trim_end_matches(".svg")).collect();
    let mut files: Vec<String> =
        std::fs::read_dir(&plots).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    let mut want: Vec<String> = embedded.iter().flat_map(|s| [format!("{s}.png"), format!("{s}.svg")]).collect();
    want.sort();
    assert_eq!(files, want);
    // Per (threat, recovery): a heatmap; per (configuration, attack): one small-multiples figure.
    assert_eq!(embedded.iter().filter(|s| s.starts_with("verdict-")).count(), 6, "{embedded:?}");
    assert_eq!(embedded.iter().filter(|s| s.starts_with(CONFIG)).count(), 4, "{embedded:?}");
}

/// A dot marks a cell exactly when the verdict line's Holm-corrected McNemar test rejects; the
/// rows are the approximate multipliers by falling power, each with its clean accuracy.
#[test]
fn heatmap_dots_are_the_verdicts_significant_cells() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = small_store(tmp.path());
    report::write(&dir).unwrap();
    let res = report::Results::open(&dir).unwrap();
    let cs = report::comparisons(&res);
    for threat in ["transfer", "bpda", "hardware"] {
        let line: Vec<&report::Comparison> = cs.iter().filter(|c| c.threat == threat && c.recover.is_empty()).collect();
        let sig = report::holm(&line.iter().map(|c| c.p).collect::<Vec<_>>(), report::ALPHA);
        let svg = read(&dir.join("plots").join(format!("verdict-{threat}-{CONFIG}.svg")));
        // One circle per significant cell, one in the key.
        assert_eq!(svg.matches("<circle").count(), sig.iter().filter(|s| **s).count() + 1, "{threat}");
        let at = |s: &str| svg.find(&format!(">\n{s}\n<")).unwrap_or_else(|| panic!("{threat}: no {s}"));
        // Falling power: L40 0.189, 12N4 0.142, JV3 0.034 mW.
        assert!(at("mul8u_L40") < at("mul8u_12N4") && at("mul8u_12N4") < at("mul8u_JV3"), "{threat}: power order");
        assert!(!svg.contains(">\nexact\n<"), "exact is the reference, not a row");
        assert!(svg.contains(&report::pct(&line.iter().find(|c| c.multiplier == "mul8u_JV3").unwrap().approx_clean)));
    }
}

/// Empty, single and non-finite input: no panic, and a non-finite value is an error naming it.
#[test]
fn degenerate_figures_do_not_panic() {
    use axdnn::plot::*;
    let cell = |v: f64| Some(HeatCell { value: v, marked: true });
    let row = |label: &str, cells| HeatRow { label: label.into(), ident: None, cells, side: vec![] };
    let heat = |groups: Vec<(String, Vec<String>)>, rows| Heatmap {
        title: String::new(),
        note: String::new(),
        groups,
        rows,
        side: vec!["clean %".into()],
        scale_label: String::new(),
    };
    heatmap_svg(&heat(vec![], vec![])).unwrap();
    heatmap_svg(&heat(vec![("a".into(), vec!["1".into()])], vec![row("r", vec![cell(0.0), None, cell(1e9)])])).unwrap();
    let e = heatmap_svg(&heat(vec![("a".into(), vec!["1".into()])], vec![row("bad", vec![cell(f64::NAN)])]));
    assert!(e.unwrap_err().to_string().contains("bad"));
    let panels = |cells| Panels {
        title: String::new(),
        x_label: String::new(),
        y_label: String::new(),
        y_range: (0.0, 100.0),
        columns: vec![],
        rows: vec![],
        cells,
    };
    panels_svg(&panels(vec![])).unwrap();
    let one = PanelSeries { label: "x".into(), ident: Ident::Exact, points: vec![Point { x: 1.0, y: 5.0, ci: None }] };
    panels_svg(&Panels { columns: vec!["c".into()], ..panels(vec![vec![vec![one]]]) }).unwrap();
    let rec = |points| RecoveryChart {
        title: String::new(),
        x_label: String::new(),
        y_label: String::new(),
        methods: vec!["tune".into()],
        points,
        thresholds: vec![],
    };
    recovery_chart_svg(&rec(vec![])).unwrap();
    let p = Recovered { label: "m".into(), ident: Ident::Multiplier(9), x: 0.1, before: None, after: vec![] };
    recovery_chart_svg(&rec(vec![p.clone()])).unwrap();
    let bad = Recovered { x: f64::INFINITY, before: Some((1.0, (0.0, 2.0))), ..p };
    assert!(recovery_chart_svg(&rec(vec![bad])).unwrap_err().to_string().contains("\"m\""));
}
