//! `gscl45nm.lib` reads without loss: every cell, pin and table, the units, values spot-checked
//! against the text; the cells of the project's PDK45 models are all there with the same pins;
//! the summed cell areas of the 505 evoapprox8b PDK45 netlists are their published `Area (45)`.

use crate::common;

use std::path::Path;

use axdnn::liberty::{self, ast::Statement, Direction};
use axdnn::netlist::{self, cells::CELLS};

fn read() -> Option<(String, liberty::Library)> {
    let path = common::gscl45nm()?;
    let text = std::fs::read_to_string(&path).unwrap();
    let lib = liberty::parse_file(&path).unwrap_or_else(|e| panic!("{e}"));
    Some((text, lib))
}

/// Lines of `text` that start (after indentation) with `word` followed by `(` or `:`: counted
/// on the raw text, independently of the parser.
fn lines_starting(text: &str, word: &str) -> usize {
    text.lines()
        .filter(|l| {
            let t = l.trim_start();
            t.strip_prefix(word).is_some_and(|r| r.trim_start().starts_with(['(', ':']))
        })
        .count()
}

#[test]
fn every_cell_pin_and_table_reads() {
    let Some((text, lib)) = read() else { return };
    assert_eq!(lib.name, "gscl45nm");
    assert_eq!(lib.cells.len(), lines_starting(&text, "cell"));
    assert_eq!(lib.cells.len(), 32);
    let u = lib.units;
    assert_eq!((u.time, u.voltage, u.current, u.resistance), (1e-9, 1.0, 1e-6, 1e3));
    assert_eq!((u.leakage_power, u.capacitance), (1e-9, 1e-12));
    assert!((u.energy() - 1e-12).abs() < 1e-27);
    assert!((lib.supply_voltage() - 1.1).abs() < 1e-12);
    assert_eq!(
        lib.templates.len(),
        lines_starting(&text, "lu_table_template") + lines_starting(&text, "power_lut_template")
    );

    let pins: usize = lib.cells.iter().map(|c| c.pins.len()).sum();
    assert_eq!(pins, lines_starting(&text, "pin"));
    let timing: usize = lib.cells.iter().flat_map(|c| &c.pins).map(|p| p.timing.len()).sum();
    assert_eq!(timing, lines_starting(&text, "timing"));
    let power: usize = lib.cells.iter().flat_map(|c| &c.pins).map(|p| p.internal_power.len()).sum();
    assert_eq!(power, lines_starting(&text, "internal_power"));
    // Every table of the file is a typed table with as many values as its index promises.
    let mut tables = 0;
    for p in lib.cells.iter().flat_map(|c| &c.pins) {
        for t in &p.timing {
            for (_, tab) in &t.tables {
                assert_eq!(tab.values.len(), tab.index.iter().map(Vec::len).product::<usize>());
                tables += 1;
            }
        }
        for ip in &p.internal_power {
            tables += [&ip.rise_power, &ip.fall_power, &ip.power].iter().filter(|t| t.is_some()).count();
        }
    }
    assert_eq!(tables, lines_starting(&text, "values"));
    for c in &lib.cells {
        assert!(c.area > 0.0 && c.leakage_power.is_some_and(|l| l > 0.0), "{}", c.name);
        for p in &c.pins {
            if p.direction == Direction::Input {
                assert!(p.capacitance > 0.0, "{}.{}", c.name, p.name);
            }
        }
    }
    let seq: usize = lib.cells.iter().map(|c| c.sequential.len()).sum();
    assert_eq!(seq, lines_starting(&text, "ff") + lines_starting(&text, "latch"));
}

/// What the typed model does not keep typed it keeps verbatim: the file's statement tree prints
/// as Liberty text that parses back to the same tree.
#[test]
fn the_statement_tree_round_trips() {
    let Some(path) = common::gscl45nm() else { return };
    let text = std::fs::read_to_string(&path).unwrap();
    let ast = liberty::parse_ast(&text, &path).unwrap();
    let printed = ast.to_string();
    let back = liberty::parse_ast(&printed, Path::new("printed.lib")).unwrap();
    assert_eq!(back.to_string(), printed);
    assert_eq!(back.count_statements(), ast.count_statements());
    // Statements the model has no field for are kept at their level (e.g. timing_type on
    // constraint arcs, min_pulse_width on clock pins, cell_footprint on cells).
    let lib = liberty::parse_str(&printed, Path::new("printed.lib")).unwrap();
    let dff = lib.cell("DFFPOSX1").unwrap();
    let clk = dff.pin("CLK").unwrap();
    assert!(clk.clock);
    assert!(clk.other.iter().any(|s| matches!(s, Statement::Simple { name, .. } if name == "min_pulse_width_high")));
    let original = liberty::parse_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(typed(&lib), typed(&original));
}

/// The typed part of a library (positions left out): units, templates, and per cell its area,
/// leakage and every pin's numbers and tables.
fn typed(lib: &liberty::Library) -> String {
    let mut s = format!("{:?} {:?} {:?}\n", lib.units, lib.templates, lib.operating_conditions);
    for c in &lib.cells {
        s += &format!("{} {} {:?} {:?}\n", c.name, c.area, c.leakage_power, c.leakage);
        for p in &c.pins {
            s += &format!(
                "  {} {:?} {} {:?} {:?} {:?} {:?} {}\n",
                p.name,
                p.direction,
                p.capacitance,
                p.rise_capacitance,
                p.fall_capacitance,
                p.max_capacitance,
                p.function,
                p.clock
            );
            for ip in &p.internal_power {
                s += &format!(
                    "    {:?} {:?} {:?} {:?} {:?}\n",
                    ip.related_pin, ip.when, ip.rise_power, ip.fall_power, ip.power
                );
            }
            for t in &p.timing {
                s += &format!("    {:?} {:?} {:?} {:?}\n", t.related_pins, t.timing_sense, t.timing_type, t.tables);
            }
        }
    }
    s
}

#[test]
fn spot_values_are_the_texts() {
    let Some((_, lib)) = read() else { return };
    let and2 = lib.cell("AND2X1").unwrap();
    assert_eq!(and2.area, 2.3465);
    assert_eq!(and2.leakage_power, Some(15.6059));
    let a = and2.pin("A").unwrap();
    assert_eq!(
        (a.capacitance, a.rise_capacitance, a.fall_capacitance),
        (0.00229149, Some(0.00229149), Some(0.00187144))
    );
    let y = and2.pin("Y").unwrap();
    assert_eq!(y.function.as_deref(), Some("(A B)"));
    assert_eq!(y.max_capacitance, Some(0.137429));
    let ip = y.internal_power.iter().find(|p| p.related_pin.as_deref() == Some("A")).unwrap();
    let rise = ip.rise_power.as_ref().unwrap();
    assert_eq!(rise.index, vec![vec![0.1, 0.5, 1.2, 3.0, 4.0, 5.0], vec![0.06, 0.24, 0.48, 0.9, 1.2, 1.8]]);
    assert_eq!(rise.values[0], 0.00245);
    assert_eq!(rise.values[35], 0.023883);
    // Grid points are the table's values; between them, bilinear.
    assert_eq!(rise.at(0.1, 0.06), Some(0.00245));
    let mid = rise.at(0.3, 0.15).unwrap();
    let want = (0.00245 + 0.005241 + 0.00238 + 0.005179) / 4.0;
    assert!((mid - want).abs() < 1e-15, "{mid} vs {want}");
    let t = &y.timing[0];
    assert_eq!(t.related_pins, ["A"]);
    assert_eq!(t.timing_sense.as_deref(), Some("positive_unate"));
    assert_eq!(t.table("cell_rise").unwrap().values[0], 0.335241);
    let dff = lib.cell("DFFNEGX1").unwrap();
    let clk_power = dff.pin("CLK").unwrap().internal_power[0].rise_power.as_ref().unwrap();
    assert_eq!(clk_power.index, vec![vec![0.06, 0.24, 0.48, 0.9, 1.2, 1.8]]);
    assert_eq!(clk_power.values[5], 0.057907);
}

/// The cells of the project's PDK45 models exist with the same pins and directions, and every
/// output has internal-power tables (rise and fall) for each input of the cell.
#[test]
fn the_project_cells_are_in_the_library() {
    let Some((_, lib)) = read() else { return };
    for c in CELLS {
        let lc = lib.cell(c.name).unwrap_or_else(|| panic!("{} not in gscl45nm", c.name));
        for &i in c.inputs {
            assert_eq!(lc.pin(i).map(|p| p.direction), Some(Direction::Input), "{}.{i}", c.name);
        }
        for o in c.outputs {
            let p = lc.pin(o.pin).unwrap_or_else(|| panic!("{}.{}", c.name, o.pin));
            assert_eq!(p.direction, Direction::Output);
            for &i in c.inputs {
                let ip = p.internal_power.iter().find(|ip| ip.related_pin.as_deref() == Some(i));
                let ip = ip.unwrap_or_else(|| panic!("{}.{}: no internal power for {i}", c.name, o.pin));
                assert!(ip.rise_power.is_some() && ip.fall_power.is_some());
            }
        }
        assert_eq!(lc.pins.len(), c.inputs.len() + c.outputs.len(), "{}", c.name);
    }
}

/// Σ over cell instances of the cell's area equals the published `Area (45)` within 0.5 µm² for
/// all 505 evoapprox8b PDK45 netlists (multi-output cells counted once per instance).
#[test]
fn areas_of_the_pdk45_netlists_are_the_published_area_45() {
    let Some((_, lib)) = read() else { return };
    let Some(root) = common::evoapprox() else { return };
    let mut files = Vec::new();
    common::verilog_files(&root.join("evoapprox8b"), &mut files);
    files.retain(|f| f.to_string_lossy().ends_with("_pdk45.v"));
    assert_eq!(files.len(), 505);
    let mut worst = 0.0f64;
    for (f, p) in files.iter().zip(netlist::parse_files(&files)) {
        let p = p.unwrap_or_else(|e| panic!("{e}"));
        let stats = netlist::graph::stats(&p.netlist);
        let area: f64 = stats.instances_by_cell.iter().map(|(c, &n)| n as f64 * lib.cell(c).unwrap().area).sum();
        let published = p.published.area_45.as_ref().expect("Area (45)").value;
        worst = worst.max((area - published).abs());
        assert!((area - published).abs() <= 0.5, "{}: {area:.4} µm² vs published {published}", f.display());
    }
    eprintln!("505 PDK45 netlists: summed cell area within {worst:.4} µm² of Area (45)");
}

/// Errors name the file, line and column of what cannot be read.
#[test]
fn errors_name_file_line_and_column() {
    let lib = |body: &str| format!("library (x) {{\n  time_unit : \"1ns\";\n{body}\n}}\n");
    let cases = [
        ("  area = 3;", "t.lib:3:8: syntax error: expected ':' or '(', found '='"),
        ("  cell (A) { area : big; }", "t.lib:3:21: area: expected a number, found 'big'"),
        ("  cell (A) { pin (Y) { capacitance : 1; } }", "t.lib:3:14: pin 'Y': no direction"),
        ("  voltage_unit : \"1Q\";", "t.lib:3:18: voltage_unit: expected a number and a unit of V (e.g. \"1nV\"), found '1Q'"),
        (
            "  cell (A) { pin (Y) { direction : output; internal_power () { rise_power (nope) { values (\"1\"); } } } }",
            "t.lib:3:76: rise_power: unknown table template 'nope'",
        ),
        (
            "  power_lut_template (t) { variable_1 : input_transition_time; index_1 (\"1, 2\"); }\n  cell (A) { pin (Y) { direction : output;\n internal_power () { rise_power (t) { values (\"1, \\\n 2x\"); } } } }",
            "t.lib:6:2: values: expected a number, found '2x'",
        ),
        (
            "  power_lut_template (t) { variable_1 : input_transition_time; index_1 (\"1, 2\"); }\n  cell (A) { pin (Y) { direction : output;\n internal_power () { rise_power (t) { values (\"1, 2, 3\"); } } } }",
            "t.lib:5:39: values: 3 numbers, but the index is 2 = 2",
        ),
        ("  lu_table_template (t) { variable_1 : x; index_1 (\"2, 1\"); }", "t.lib:3:43: index_1: the points are not strictly increasing"),
        ("  cell (A) { }\n  cell (A) { }", "t.lib:4:3: cell 'A' is defined twice"),
    ];
    for (body, want) in cases {
        let e = liberty::parse_str(&lib(body), Path::new("t.lib")).unwrap_err();
        assert_eq!(e.to_string(), want, "{body}");
    }
    let e = liberty::parse_file(Path::new("/nonexistent/x.lib")).unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/x.lib:1:1: cannot read file"), "{e}");
}
