//! ONNX's own conformance data (the `pytorch-converted` and `pytorch-operator` model tests that
//! ship in the `onnx` package, under `$AXDNN_PYDEPS/onnx/backend/test/data`): every model axdnn
//! imports must reproduce the expected output with the float engine (ONNX's backend tolerances,
//! rtol 1e-3, atol 1e-7 … relaxed to atol 1e-5 for f32 sums); every other one must be refused
//! with an error, never answered wrongly. The list of models that must import is fixed here, so
//! a regression in coverage fails too.

use axdnn::model::engine::logits;
use axdnn::model::onnx::{self, proto};
use prost::Message;
use std::path::{Path, PathBuf};

/// The models that import and must match (others are refused).
const MUST_IMPORT: &[&str] = &[
    "test_AvgPool2d",
    "test_AvgPool2d_stride",
    "test_BatchNorm2d_eval",
    "test_BatchNorm2d_momentum_eval",
    "test_Conv2d_depthwise",
    "test_Conv2d_depthwise_padded",
    "test_Conv2d_depthwise_strided",
    "test_Conv2d_depthwise_with_multiplier",
    "test_Conv2d_padding",
    "test_Conv2d_strided",
    "test_Linear",
    "test_Linear_no_bias",
    "test_MaxPool2d",
    "test_ReLU",
    "test_operator_clip",
    "test_operator_conv",
    "test_operator_flatten",
];

fn data_dir() -> Option<PathBuf> {
    let base = std::env::var_os("AXDNN_PYDEPS").filter(|v| !v.is_empty()).map(PathBuf::from);
    let dir = base.map(|b| b.join("onnx/backend/test/data"));
    match dir {
        Some(d) if d.is_dir() => Some(d),
        _ => {
            crate::common::skip("AXDNN_PYDEPS has no onnx/backend/test/data (pip install --target it onnx)");
            None
        }
    }
}

fn read_tensor(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let t = proto::TensorProto::decode(&std::fs::read(path).unwrap()[..]).unwrap();
    onnx::tensor_f32(&t).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn onnx_conformance_models_match_or_are_refused() {
    let Some(data) = data_dir() else { return };
    let mut imported = Vec::new();
    let mut refused = Vec::new();
    for suite in ["pytorch-converted", "pytorch-operator"] {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(data.join(suite)).unwrap().map(|e| e.unwrap().path()).collect();
        dirs.sort();
        for dir in dirs {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            let model = dir.join("model.onnx");
            let set = dir.join("test_data_set_0");
            let inputs = std::fs::read_dir(&set).map(|r| r.count()).unwrap_or(0);
            match onnx::import(&model) {
                Err(e) => refused.push(format!("{name}: {e}")),
                Ok((arch, params)) => {
                    assert_eq!(inputs, 2, "{name}: one input and one output expected, {inputs} files");
                    let (xd, x) = read_tensor(&set.join("input_0.pb"));
                    let (yd, want) = read_tensor(&set.join("output_0.pb"));
                    let n = xd[0];
                    assert_eq!(x.len(), n * arch.input.numel(), "{name}: input {xd:?} vs {}", arch.input);
                    let got = logits(&arch, &params, &x, n);
                    assert_eq!(got.len(), want.len(), "{name}: output {yd:?}");
                    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                        assert!((g - w).abs() <= 1e-5 + 1e-3 * w.abs(), "{name}: value {i}: {g} vs expected {w}");
                    }
                    imported.push(name);
                }
            }
        }
    }
    eprintln!("imported and matched: {imported:?}");
    for r in &refused {
        eprintln!("refused: {r}");
    }
    for m in MUST_IMPORT {
        assert!(imported.iter().any(|i| i == m), "{m} no longer imports");
    }
}
