//! Every Verilog file of the EvoApprox libraries parses, elaborates and checks, with ports of the
//! widths its folder promises. Needs `AXDNN_EVOAPPROX`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use axdnn::netlist::{self, Netlist};

fn library() -> Option<PathBuf> {
    match std::env::var_os("AXDNN_EVOAPPROX") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            eprintln!("skipped: AXDNN_EVOAPPROX not set");
            None
        }
    }
}

fn verilog_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            verilog_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "v") {
            out.push(p);
        }
    }
}

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

#[test]
fn every_library_file_parses_with_the_folder_interface() {
    let Some(root) = library() else { return };
    let mut files = Vec::new();
    verilog_files(&root, &mut files);
    assert!(files.len() >= 793 + 505 * 2, "only {} files", files.len());
    let t = Instant::now();
    let mut failures = Vec::new();
    let mut gates = 0usize;
    for f in &files {
        match netlist::parse_file(f) {
            Ok(p) => {
                check_interface(&p.netlist, f);
                gates += p.netlist.nodes.len();
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    eprintln!(
        "parsed {} files ({} nodes) in {:.3} s",
        files.len(),
        gates,
        t.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
