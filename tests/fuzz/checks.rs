#![allow(dead_code)] // each fuzz target uses one of these checks
//! What the plan, results-store, ONNX and Liberty fuzz targets check, shared with the
//! stable-toolchain tests `tests/study/study_fuzz_seeds.rs` and `tests/energy/liberty_fuzz_seeds.rs`:
//! whatever the bytes, the readers return a value or a typed error (never panic), and what they
//! accept survives a write and a read unchanged.

use axdnn::study::{cell, plan, report, runner, store, Inputs, Plan};
use std::path::Path;

/// Plan files (`Plan::from_toml`, model folders relative to the working directory) and lock
/// files (`Plan::from_lock`); an accepted plan's lock file reads back as the same plan, and
/// a small one enumerates its cells and their report keys.
pub fn plan(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = Plan::from_toml(&text, Path::new("fuzz.toml"), &Inputs::default()) {
        let back =
            Plan::from_lock(&p.to_toml(), Path::new("plan.lock.toml")).expect("a checked plan's lock reads back");
        assert_eq!(back, p);
    }
    let _ = Plan::from_toml(&text, Path::new(plan::COMMAND_LINE), &Inputs::default()).map_err(|e| e.to_string());
    if let Ok(p) = Plan::from_lock(&text, Path::new("plan.lock.toml")) {
        assert_eq!(Plan::from_lock(&p.to_toml(), Path::new("plan.lock.toml")).expect("reads back"), p);
        let _ = p.sha256();
        let chunks = p.images.div_ceil(p.chunk);
        let per_model: usize = p.eps.values().map(Vec::len).sum::<usize>() * p.attack_seeds.len() * p.threats.len();
        if chunks.saturating_mul(per_model).saturating_mul(p.models.len()) <= 2000 {
            let info = vec![cell::ModelInfo { dataset: axdnn::data::DatasetName::Mnist, macs: 1 }; p.models.len()];
            let cells = cell::cells(&p, &info);
            let _ = cell::shard_costs(&cells, &info, 3);
        }
    }
}

/// Results files: rows are checked or refused; accepted rows written again read back the same;
/// they aggregate without panicking.
pub fn store(data: &[u8]) {
    let path = Path::new("results.csv");
    let Ok(rows) = store::rows_from_bytes(data, path) else { return };
    let refs: Vec<&axdnn::study::Row> = rows.iter().collect();
    let bytes = store::rows_to_bytes(&refs).expect("accepted rows serialize");
    let back = store::rows_from_bytes(&bytes, path).expect("written rows read back");
    assert_eq!(format!("{back:?}"), format!("{rows:?}"));
    for a in runner::aggregate(rows.iter()) {
        let p = a.proportion();
        let _ = (p.wilson(), report::pct(&p), report::column_of(&a.first));
    }
}

/// ONNX files (`model::onnx::import_bytes`): a network or a typed error, never a panic; an
/// accepted network exports and imports again with the same input, classes and parameters'
/// names.
pub fn onnx(data: &[u8]) {
    use axdnn::model::onnx;
    let Ok((arch, params, quant)) = onnx::import_bytes_quantized(data, Path::new("fuzz.onnx")) else { return };
    arch.validate().expect("an imported network is valid");
    // A QDQ file's own quantization builds an integer model or is refused, never panics
    // (small networks only: the calibration pass runs the float model).
    if let Some(q) = &quant {
        if arch.input.numel() <= 4096 && params.tensors.values().map(|t| t.data.len()).sum::<usize>() <= 100_000 {
            let calib = vec![0.5f32; arch.input.numel()];
            for scheme in [axdnn::quant::QuantScheme::SignMagnitude, axdnn::quant::QuantScheme::AsymU8] {
                let options = axdnn::quant::QuantOptions { scheme, ..Default::default() };
                let _ = axdnn::quant::QuantModel::build_given(&arch, &params, &calib, options, Some(q));
            }
        }
    }
    let (back, bp) =
        onnx::import_bytes(&onnx::export(&arch, &params), Path::new("export.onnx")).expect("an export reads back");
    assert_eq!((back.input, back.classes), (arch.input, arch.classes));
    assert_eq!(bp.tensors.len(), params.tensors.len());
}

/// Liberty files (`liberty::parse_str`): a library or a typed error with a position, never a
/// panic; an accepted library's tables hold as many values as their indices promise and look up
/// anywhere; its statement tree prints as text that parses back to the same tree.
pub fn liberty(data: &[u8]) {
    use axdnn::liberty;
    let text = String::from_utf8_lossy(data);
    let file = Path::new("fuzz.lib");
    match liberty::parse_str(&text, file) {
        Ok(lib) => {
            let _ = lib.supply_voltage();
            for p in lib.cells.iter().flat_map(|c| &c.pins) {
                let tables =
                    p.internal_power.iter().flat_map(|ip| [&ip.rise_power, &ip.fall_power, &ip.power]).flatten();
                for t in tables.chain(p.timing.iter().flat_map(|t| t.tables.iter().map(|(_, t)| t))) {
                    assert_eq!(t.values.len(), t.index.iter().map(Vec::len).product::<usize>());
                    for x in [-1.0, 0.0, 0.3, 1e9] {
                        let _ = t.at(x, x);
                    }
                }
            }
        }
        Err(e) => assert!(e.span().line >= 1 && e.span().col >= 1, "{e}"),
    }
    if let Ok(ast) = liberty::parse_ast(&text, file) {
        let printed = ast.to_string();
        let back = liberty::parse_ast(&printed, file).expect("a printed tree parses");
        assert_eq!(back.to_string(), printed);
    }
}
