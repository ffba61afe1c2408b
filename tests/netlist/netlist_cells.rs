//! The cell table agrees with the behavioural cell definitions that ship in the EvoApprox
//! generic files (after `/* mod */` markers): every distinct definition, elaborated on its own,
//! computes for every input combination what the table says. Needs the EvoApprox library
//! (`tests/common`: `AXDNN_EVOAPPROX` or `../shared/evoapprox`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use axdnn::netlist::{self, cells};

use crate::common;

fn verilog_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            verilog_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "v") && !p.to_string_lossy().ends_with("_pdk45.v") {
            out.push(p);
        }
    }
}

#[test]
fn shipped_cell_definitions_match_the_table() {
    let Some(root) = common::evoapprox() else { return };
    let mut files = Vec::new();
    verilog_files(&root, &mut files);
    // Distinct definitions, by (module name, text).
    let mut defs: BTreeSet<(String, String)> = BTreeSet::new();
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap();
        for chunk in src.split("/* mod */").skip(1) {
            let Some(end) = chunk.find("endmodule") else { continue };
            let text = chunk[..end + "endmodule".len()].trim().to_string();
            let name = text
                .trim_start_matches("module")
                .trim_start()
                .split(|c: char| c == '(' || c.is_whitespace())
                .next()
                .unwrap()
                .to_string();
            defs.insert((name, text));
        }
    }
    assert!(defs.len() >= 15, "{} definitions", defs.len());
    let mut names = BTreeSet::new();
    for (name, text) in &defs {
        let cell = cells::lookup(name).unwrap_or_else(|| panic!("{name} is not a known cell"));
        names.insert(cell.name);
        // Elaborate the definition as a top module of its own (a cell name would be mapped).
        let src = text.replacen(name.as_str(), "cell_under_test", 1);
        let p = netlist::parse_str(&src, Path::new("cell.v")).unwrap_or_else(|e| panic!("{name}: {e}"));
        let n = &p.netlist;
        let ins: Vec<&str> = n.inputs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(ins, cell.inputs, "{name}");
        for v in 0..1u32 << ins.len() {
            let bits: Vec<Vec<bool>> = (0..ins.len()).map(|k| vec![(v >> k) & 1 == 1]).collect();
            let out = n.eval_scalar(&bits);
            let [a, b, c] = [0, 1, 2].map(|k| (v >> k) & 1 == 1);
            for (port, value) in n.outputs.iter().zip(&out) {
                let pin = cell.output_index(&port.name).unwrap_or_else(|| panic!("{name}.{}", port.name));
                let want = cell.outputs[pin].op.eval_word(a, b, c);
                assert_eq!(value[0], want, "{name}.{} on {v:03b}", port.name);
            }
        }
    }
    eprintln!("{} distinct definitions of {} cell types agree with the table", defs.len(), names.len());
}
