//! Every Verilog file of the EvoApprox libraries parses, elaborates and checks, with ports of the
//! widths its folder promises. Needs the EvoApprox library (`tests/common`).

use crate::common;
use common::{evoapprox, verilog_files};

use std::path::Path;
use std::time::Instant;

use axdnn::netlist::{self, Netlist};

/// Operand widths and signedness from the folder name (`8x3_unsigned`; evoapprox8b is 8x8u).
fn folder_widths(path: &Path) -> (usize, usize) {
    for c in path.components() {
        let s = c.as_os_str().to_string_lossy();
        if let Some((dims, _)) = s.split_once('_') {
            if let Some((n, m)) = dims.split_once('x') {
                if let (Ok(n), Ok(m)) = (n.parse(), m.parse()) {
                    return (n, m);
                }
            }
        }
    }
    (8, 8)
}

fn check_interface(n: &Netlist, path: &Path) {
    let (wa, wb) = folder_widths(path);
    assert_eq!(n.inputs.len(), 2, "{}", path.display());
    assert_eq!(n.input("A").map(|p| p.width()), Some(wa), "{}", path.display());
    assert_eq!(n.input("B").map(|p| p.width()), Some(wb), "{}", path.display());
    assert_eq!(n.outputs.len(), 1, "{}", path.display());
    let o = &n.outputs[0];
    assert!(o.name == "O" || o.name == "Z", "{}", path.display());
    assert_eq!(o.width(), wa + wb, "{}", path.display());
    for (i, node) in n.nodes.iter().enumerate() {
        for &f in &node.fanin[..node.op.arity()] {
            assert!((f as usize) < i, "{}: node {i} not topological", path.display());
        }
    }
}

/// Every header carries its figures: EvoApproxLib the `// KEY = value` block, evoapprox8b the
/// 2017 block naming the circuit (the file name without `_pdk45`).
fn check_published(p: &netlist::Published, path: &Path) {
    let stem = path.file_stem().unwrap().to_string_lossy().replace("_pdk45", "");
    if path.to_string_lossy().contains("evoapprox8b") {
        assert_eq!(p.library.as_deref(), Some("EvoApprox8b"), "{}", path.display());
        // The five exact designs use short names there (mul8_CSAM_wt__CSA, ...).
        if stem[5..].bytes().all(|b| b.is_ascii_digit()) {
            assert_eq!(p.circuit.as_deref(), Some(stem.as_str()), "{}", path.display());
        }
        assert!(p.circuit.is_some());
        for f in [&p.area_45, &p.delay_45, &p.power_45, &p.mae_8b, &p.wce_8b, &p.ep_8b_pct, &p.hd] {
            assert!(f.is_some(), "{}: {p:?}", path.display());
        }
    } else {
        for f in [&p.mae_pct, &p.mae, &p.wce_pct, &p.wce, &p.ep_pct, &p.mre_pct, &p.mse, &p.pdk45_pwr_mw] {
            assert!(f.is_some(), "{}: {p:?}", path.display());
        }
        assert!(p.library.is_none() && p.mae_8b.is_none());
    }
}

/// evoapprox8b headers publish `Nodes`, the number of cell instances of the circuit; every file
/// (generic with mangled names, and _pdk45) must elaborate to exactly that many.
#[test]
fn evoapprox8b_cell_counts_match_published_nodes() {
    let Some(root) = evoapprox() else { return };
    let mut files = Vec::new();
    verilog_files(&root.join("evoapprox8b"), &mut files);
    assert_eq!(files.len(), 1010);
    for f in &files {
        let p = netlist::parse_file(f).unwrap();
        let nodes = p.published.nodes.as_ref().expect("Nodes line").value as usize;
        let st = netlist::graph::stats(&p.netlist);
        assert_eq!(st.cell_instances, nodes, "{}", f.display());
    }
}

#[test]
fn every_library_file_parses_with_the_folder_interface() {
    let Some(root) = evoapprox() else { return };
    let mut files = Vec::new();
    verilog_files(&root, &mut files);
    assert!(files.len() >= 793 + 505 * 2, "only {} files", files.len());
    let t = Instant::now();
    let results = netlist::parse_files(&files);
    let elapsed = t.elapsed().as_secs_f64();
    let mut failures = Vec::new();
    let mut gates = 0usize;
    for (f, r) in files.iter().zip(results) {
        match r {
            Ok(p) => {
                check_interface(&p.netlist, f);
                check_published(&p.published, f);
                gates += p.netlist.nodes.len();
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    eprintln!(
        "parsed {} files ({} nodes) in {:.3} s on {} threads",
        files.len(),
        gates,
        elapsed,
        rayon::current_num_threads()
    );
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
