//! Charts: markers and legend in the SVG, byte-identical output, valid PNGs, typed errors for
//! non-finite input, and no panic on degenerate input.

use crate::common;

use axdnn::plot::*;
use std::path::Path;

fn pt(x: f64, y: f64, ci: Option<(f64, f64)>) -> Point {
    Point { x, y, ci }
}

/// A robust-accuracy study as the CLI produces it: 10 models × 6 ε, 200 images, Wilson-like CIs.
fn study() -> LineChart {
    let eps = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2];
    let names = [
        "exact (int8)",
        "float",
        "mul8s_1KV6",
        "mul8s_1KV8",
        "mul8s_1KX2",
        "mul8s_1L2H",
        "mul8s_1L2J",
        "mul8s_1KR3",
        "mul8s_1KVL",
        "mul8s_1L12",
    ];
    let series = names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let role = match k {
                0 => Role::Baseline,
                1 => Role::Reference,
                _ => Role::Normal,
            };
            // Two multipliers coincide with the exact baseline, as the approximate-but-good ones do.
            let robustness = if k == 2 || k == 3 { 0.0 } else { k as f64 * 0.9 };
            let points = eps
                .iter()
                .map(|&e| {
                    let acc: f64 = if e == 0.0 {
                        98.5 - robustness * 0.2
                    } else {
                        98.5 / (1.0 + (e * (60.0 + robustness * 8.0)).powf(2.2))
                    };
                    let acc = (acc * 2.0).round() / 2.0; // 200 images → steps of 0.5 %
                    let half = 196.0 * (acc / 100.0 * (1.0 - acc / 100.0) / 200.0).sqrt();
                    pt(e, acc, Some(((acc - half).max(0.0), (acc + half).min(100.0))))
                })
                .collect();
            Series { label: name.to_string(), role, points }
        })
        .collect();
    LineChart {
        title: "FGSM (L∞) on LeNet-5 / MNIST, 200 images".into(),
        x_label: "ε".into(),
        y_label: "robust accuracy (%)".into(),
        y_range: (0.0, 100.0),
        series,
        thresholds: vec![
            Threshold { y: 90.0, label: "90 % accuracy (paper)".into() },
            Threshold { y: 85.0, label: "85 %".into() },
        ],
    }
}

/// ~30 multipliers: accuracy against power, the Pareto front marked.
fn pareto() -> ScatterChart {
    let mut pts: Vec<ScatterPoint> = (0..30)
        .map(|i| {
            let f = i as f64;
            let power = 0.06 + 0.013 * f + 0.02 * ((f * 1.7).sin() + 1.0);
            let acc = (99.0 - 40.0 * (-power * 9.0).exp() - 6.0 * ((f * 2.3).cos() + 1.0)).min(99.0);
            let half = 196.0 * (acc / 100.0 * (1.0 - acc / 100.0) / 200.0).sqrt();
            ScatterPoint {
                x: power,
                y: acc,
                label: format!("mul8s_{:02}{}", i, ["KV", "L2", "KX"][i % 3]),
                ci: Some((acc - half, (acc + half).min(100.0))),
                front: false,
            }
        })
        .collect();
    for i in 0..pts.len() {
        let dominated = pts.iter().any(|q| q.x <= pts[i].x && q.y >= pts[i].y && (q.x < pts[i].x || q.y > pts[i].y));
        pts[i].front = !dominated;
    }
    ScatterChart {
        title: "LeNet-5 / MNIST: clean accuracy vs multiplier power".into(),
        x_label: "power (mW)".into(),
        y_label: "accuracy (%)".into(),
        points: pts,
        thresholds: vec![Threshold { y: 90.0, label: "90 % accuracy".into() }],
        label_all: true,
    }
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn svg_has_one_marker_per_point_and_the_legend_labels() {
    let c = study();
    let svg = line_chart_svg(&c).unwrap();
    let points: usize = c.series.iter().map(|s| s.points.len()).sum();
    // One <polygon> per data point and one per legend entry, nothing else.
    assert_eq!(svg.matches("<polygon").count(), points + c.series.len());
    for s in &c.series {
        assert!(
            svg.contains(&format!(">{}<", s.label)) || svg.contains(&format!(">\n{}\n<", s.label)),
            "legend label {:?} missing",
            s.label
        );
    }
    assert!(svg.contains("90 % accuracy (paper)"));
    // ε has 6 distinct values: ticks sit at those (less any whose label would touch its left
    // neighbour, here 0.02 next to 0.01), compactly formatted.
    let ticks: Vec<&str> = svg.split("</text>").filter_map(|t| t.rsplit('>').next()).map(str::trim).collect();
    for tick in ["0", "0.01", "0.05", "0.1", "0.2"] {
        assert!(ticks.contains(&tick), "tick {tick} missing");
    }
    assert!(!ticks.contains(&"0.15"), "no ticks beyond the data's x values");
    assert!(!svg.contains("0.0200"));

    let s = pareto();
    let svg = scatter_chart_svg(&s).unwrap();
    assert_eq!(svg.matches("<polygon").count(), s.points.len() + 2);
    assert!(svg.contains("Pareto front"));
}

/// The pictures themselves: a wrong axis, a lost error bar or a moved legend changes the SVG.
#[test]
fn svgs_equal_the_golden_files() {
    common::golden("plot/robustness.svg", &line_chart_svg(&study()).unwrap());
    common::golden("plot/pareto.svg", &scatter_chart_svg(&pareto()).unwrap());
}

#[test]
fn output_is_byte_identical_across_calls() {
    assert_eq!(line_chart_svg(&study()).unwrap(), line_chart_svg(&study()).unwrap());
    assert_eq!(scatter_chart_svg(&pareto()).unwrap(), scatter_chart_svg(&pareto()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    line_chart(&study(), &a).unwrap();
    line_chart(&study(), &b).unwrap();
    assert_eq!(read(&a.with_extension("png")), read(&b.with_extension("png")));
    assert_eq!(read(&a.with_extension("svg")), read(&b.with_extension("svg")));
    scatter_chart(&pareto(), &a).unwrap();
    scatter_chart(&pareto(), &b).unwrap();
    assert_eq!(read(&a.with_extension("png")), read(&b.with_extension("png")));
}

#[test]
fn png_is_valid_sized_and_drawn_on() {
    let dir = tempfile::tempdir().unwrap();
    // A dotted stem keeps its dot: the extension is appended.
    let stem = dir.path().join("sub").join("fgsm_eps0.1");
    line_chart(&study(), &stem).unwrap();
    let png = dir.path().join("sub/fgsm_eps0.1.png");
    let img = image::open(&png).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (900, 560));
    let ink = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    assert!(ink > 10_000, "only {ink} non-white pixels");
    // Text is rendered: the title band (top 30 rows) has dark pixels.
    assert!((0..30).any(|y| (0..900).any(|x| img.get_pixel(x, y).0.iter().all(|&c| c < 100))));
    let svg = std::fs::read_to_string(dir.path().join("sub/fgsm_eps0.1.svg")).unwrap();
    assert!(svg.starts_with("<svg"));
    // Atomic writes leave no temp files behind.
    let names: Vec<String> = std::fs::read_dir(dir.path().join("sub"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn non_finite_input_is_an_error_naming_series_and_point() {
    let mut c = study();
    c.series[4].points[3].y = f64::NAN;
    let e = line_chart_svg(&c).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("mul8s_1KX2") && msg.contains("point 3") && msg.contains('y'), "{msg}");
    assert!(matches!(e, PlotError::NonFinite { index: 3, .. }));

    let mut c = study();
    c.series[0].points[1].ci = Some((f64::NAN, 1.0));
    let dir = tempfile::tempdir().unwrap();
    let msg = line_chart(&c, &dir.path().join("x")).unwrap_err().to_string();
    assert!(msg.contains("exact (int8)") && msg.contains("ci") && msg.contains("x.svg"), "{msg}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing written on error");

    let mut s = pareto();
    s.points[7].x = f64::INFINITY;
    assert!(scatter_chart_svg(&s).unwrap_err().to_string().contains(&s.points[7].label));
    let mut s = pareto();
    s.thresholds[0].y = f64::NAN;
    assert!(scatter_chart_svg(&s).unwrap_err().to_string().contains("threshold"));
}

#[test]
fn io_errors_name_the_file_and_are_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let e = line_chart(&study(), &blocker.join("chart")).unwrap_err();
    assert!(matches!(e, PlotError::Io { .. }) && e.to_string().contains("not-a-dir"), "{e}");
    // The message carries the inner error, so source() must not repeat it (src/error.rs).
    assert!(std::error::Error::source(&e).is_none());
}

#[test]
fn degenerate_input_does_not_panic() {
    let long = "a very long label that goes on and on ".repeat(20);
    let base = |series: Vec<Series>, y_range| LineChart {
        title: long.clone(),
        x_label: long.clone(),
        y_label: long.clone(),
        y_range,
        series,
        thresholds: vec![],
    };
    let one = |label: &str, role, points| Series { label: label.to_string(), role, points };
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("AXDNN_PLOT_SAMPLES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let cases = vec![
        base(vec![], (0.0, 100.0)),
        base(vec![one("empty", Role::Normal, vec![])], (0.0, 1.0)),
        base(vec![one("single", Role::Baseline, vec![pt(0.1, 50.0, Some((40.0, 60.0)))])], (0.0, 100.0)),
        base(vec![one(&long, Role::Normal, vec![pt(0.0, 1.0, None), pt(0.0, 2.0, None)])], (5.0, 5.0)),
        base(
            vec![one(
                "reversed range, CI beyond it",
                Role::Reference,
                vec![pt(1.0, 0.5, Some((-3.0, 9.0))), pt(2.0, 0.7, None)],
            )],
            (1.0, 0.0),
        ),
        base(
            (0..14)
                .map(|i| one(&format!("s{i}"), Role::Normal, vec![pt(0.0, 100.0, None), pt(1e-9, 100.0, None)]))
                .collect(),
            (0.0, 100.0),
        ),
    ];
    let extreme = vec![
        one(
            "<b>&amp \"x\"",
            Role::Normal,
            vec![pt(-f64::MAX, f64::MAX, None), pt(f64::MAX, -f64::MAX, Some((-f64::MAX, f64::MAX)))],
        ),
        one("tiny", Role::Normal, vec![pt(0.0, 0.0, None), pt(5e-324, 5e-324, None)]),
    ];
    let mut cases = cases;
    cases.push(base(extreme, (0.0, 100.0)));
    for (i, mut c) in cases.into_iter().enumerate() {
        c.thresholds = vec![
            Threshold { y: 0.5, label: long.clone() },
            Threshold { y: 0.5, label: "same y".into() },
            Threshold { y: 1e9, label: "off chart".into() },
        ];
        line_chart(&c, &dir.join(format!("degenerate-line{i}"))).unwrap_or_else(|e| panic!("case {i}: {e}"));
        // Markup in labels is escaped: the SVG stays well-formed.
        assert!(!line_chart_svg(&c).unwrap().contains("<b>"));
    }
    let sp = |x, y, front| ScatterPoint { x, y, label: long.clone(), ci: None, front };
    let scatters =
        vec![vec![], vec![sp(1.0, 1.0, true)], vec![sp(1.0, 1.0, true), sp(1.0, 1.0, false), sp(1.0, 1.0, true)]];
    for (i, points) in scatters.into_iter().enumerate() {
        let s = ScatterChart {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            points,
            thresholds: vec![Threshold { y: 1.0, label: "t".into() }],
            label_all: true,
        };
        scatter_chart(&s, &dir.join(format!("degenerate-scatter{i}")))
            .unwrap_or_else(|e| panic!("scatter case {i}: {e}"));
    }
}

/// Renders the realistic samples for eyeballing: set AXDNN_PLOT_SAMPLES=/tmp to keep them.
#[test]
fn samples_render() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::env::var_os("AXDNN_PLOT_SAMPLES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().to_path_buf());
    line_chart(&study(), &out.join("plot-sample")).unwrap();
    scatter_chart(&pareto(), &out.join("scatter-sample")).unwrap();
}
