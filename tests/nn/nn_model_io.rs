//! Model files: round trip, and one typed error per kind of damage.

use axdnn::data::DatasetName;
use axdnn::model::engine::init_params;
use axdnn::model::io::{self, ModelIoError, ModelMeta};
use axdnn::model::{Arch, ArchName, Shape};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

fn meta() -> ModelMeta {
    ModelMeta {
        dataset: DatasetName::Mnist,
        dataset_files: vec![],
        epochs: 1,
        seed: 3,
        optimizer: "sgd".into(),
        test_accuracy: 0.5,
        test_n: 10,
        batchnorm_folded: false,
        train_seconds: 1.0,
        command: "test".into(),
        sha256: String::new(),
        finetune: None,
        quantization: None,
    }
}

fn saved(dir: &Path) -> (Arch, axdnn::model::Params) {
    let arch = Arch::new(ArchName::Lenet5, Shape::new(1, 28, 28), 10);
    let p = init_params(&arch, &mut ChaCha8Rng::seed_from_u64(1));
    io::save(dir, &arch, &p, &meta()).unwrap();
    (arch, p)
}

/// Point model.json's sha256 at the current weights file (to reach the parser's own checks).
fn reseal(dir: &Path) {
    let bytes = std::fs::read(dir.join(io::WEIGHTS_FILE)).unwrap();
    let j = std::fs::read_to_string(dir.join(io::META_FILE)).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&j).unwrap();
    v["sha256"] = axdnn::util::sha256_hex(&bytes).into();
    std::fs::write(dir.join(io::META_FILE), v.to_string()).unwrap();
}

#[test]
fn round_trip() {
    let d = tempfile::tempdir().unwrap();
    let (arch, p) = saved(d.path());
    let m = io::load(d.path()).unwrap();
    assert_eq!(m.arch, arch);
    assert_eq!(m.params, p);
    assert_eq!(m.meta.seed, 3);
    assert_eq!(m.meta.sha256, axdnn::util::sha256_file(&d.path().join(io::WEIGHTS_FILE)).unwrap());
    // PyTorch names and layouts.
    assert_eq!(m.params.get("conv1.weight").unwrap().shape, vec![6, 1, 5, 5]);
    assert_eq!(m.params.get("fc1.weight").unwrap().shape, vec![84, 120]);
}

#[test]
fn truncated_safetensors() {
    let d = tempfile::tempdir().unwrap();
    saved(d.path());
    let w = d.path().join(io::WEIGHTS_FILE);
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() - 100]).unwrap();
    // Without resealing the sha check fires first …
    assert!(matches!(io::load(d.path()), Err(ModelIoError::ShaMismatch { .. })));
    // … and with a matching sha the parser reports the truncation.
    reseal(d.path());
    let e = io::load(d.path()).unwrap_err();
    assert!(matches!(e, ModelIoError::BadWeights { .. }), "{e:?}");
    assert!(e.to_string().contains("model.safetensors"), "{e}");
}

#[test]
fn sha_mismatch() {
    let d = tempfile::tempdir().unwrap();
    saved(d.path());
    let w = d.path().join(io::WEIGHTS_FILE);
    let mut bytes = std::fs::read(&w).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&w, &bytes).unwrap();
    match io::load(d.path()) {
        Err(ModelIoError::ShaMismatch { path, expected, found }) => {
            assert_eq!(path, w);
            assert_ne!(expected, found);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_json() {
    let d = tempfile::tempdir().unwrap();
    saved(d.path());
    std::fs::write(d.path().join(io::META_FILE), "{\n  \"arch\": {\n    \"name\": \"lenet5\",\n    oops\n").unwrap();
    match io::load(d.path()) {
        Err(e @ ModelIoError::BadJson { line: 4, .. }) => assert!(e.to_string().contains("model.json:4:"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_tensor_shape() {
    let d = tempfile::tempdir().unwrap();
    let (arch, mut p) = saved(d.path());
    p.tensors.get_mut("fc2.bias").unwrap().shape = vec![2, 5];
    io::save(d.path(), &arch, &p, &meta()).unwrap();
    let e = io::load(d.path()).unwrap_err();
    match &e {
        ModelIoError::ShapeMismatch { name, found, expected, dim, .. } => {
            assert_eq!((name.as_str(), &found[..], &expected[..], *dim), ("fc2.bias", &[2, 5][..], &[10][..], 0));
        }
        other => panic!("{other:?}"),
    }
    let w = d.path().join(io::WEIGHTS_FILE);
    assert_eq!(
        e.to_string(),
        format!(
            "{}: tensor fc2.bias: shape [2, 5] differs from [10] of model.json's architecture at dimension 0",
            w.display()
        )
    );
    // A shape that agrees in its leading dimensions names the first one that differs.
    p.tensors.get_mut("fc2.bias").unwrap().shape = vec![10];
    p.tensors.get_mut("conv1.weight").unwrap().shape = vec![6, 1, 25, 1];
    io::save(d.path(), &arch, &p, &meta()).unwrap();
    let e = io::load(d.path()).unwrap_err();
    assert!(matches!(&e, ModelIoError::ShapeMismatch { name, dim: 2, .. } if name == "conv1.weight"), "{e:?}");
}

/// Overwrite element `index` of tensor `name` inside model.safetensors, as a user editing the
/// file would (the bytes at the header's data offsets), then reseal model.json's sha256.
fn poke(dir: &Path, name: &str, index: usize, value: f32) {
    let w = dir.join(io::WEIGHTS_FILE);
    let mut bytes = std::fs::read(&w).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let begin = header[name]["data_offsets"][0].as_u64().unwrap() as usize;
    let at = 8 + n + begin + 4 * index;
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    std::fs::write(&w, &bytes).unwrap();
    reseal(dir);
}

#[test]
fn nan_weight_names_tensor_and_first_index() {
    let d = tempfile::tempdir().unwrap();
    saved(d.path());
    // conv2.weight is 16x6x5x5: flat 1234 = [8, 1, 1, 4]; a later NaN must not be the one named.
    poke(d.path(), "conv2.weight", 1234, f32::NAN);
    poke(d.path(), "conv2.weight", 2000, f32::NAN);
    let e = io::load(d.path()).unwrap_err();
    match &e {
        ModelIoError::NonFinite { name, index, multi_index, value, .. } => {
            assert_eq!((name.as_str(), *index, &multi_index[..]), ("conv2.weight", 1234, &[8, 1, 1, 4][..]));
            assert!(value.is_nan());
        }
        other => panic!("{other:?}"),
    }
    let w = d.path().join(io::WEIGHTS_FILE);
    assert_eq!(
        e.to_string(),
        format!(
            "{}: tensor conv2.weight: element 1234 (index [8, 1, 1, 4] of shape [16, 6, 5, 5]) is NaN",
            w.display()
        )
    );
}

#[test]
fn infinite_weights_are_refused() {
    let d = tempfile::tempdir().unwrap();
    saved(d.path());
    poke(d.path(), "fc1.bias", 7, f32::INFINITY);
    let e = io::load(d.path()).unwrap_err();
    assert!(
        matches!(&e, ModelIoError::NonFinite { name, index: 7, value, .. } if name == "fc1.bias" && *value == f32::INFINITY),
        "{e:?}"
    );
    assert!(e.to_string().ends_with("tensor fc1.bias: element 7 (index [7] of shape [84]) is inf"), "{e}");
    // Tensors are checked in model order: conv1 comes before fc1.
    poke(d.path(), "conv1.weight", 0, f32::NEG_INFINITY);
    let e = io::load(d.path()).unwrap_err();
    assert!(
        e.to_string().ends_with("tensor conv1.weight: element 0 (index [0, 0, 0, 0] of shape [6, 1, 5, 5]) is -inf"),
        "{e}"
    );
}

/// Every command that loads a model goes through `model::io::load`: the binary fails with the
/// library's message, said once, before it looks for a dataset.
#[test]
fn eval_and_infer_refuse_a_nan_model() {
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("bad");
    saved(&m);
    poke(&m, "conv2.weight", 1234, f32::NAN);
    let want = format!(
        "{}: tensor conv2.weight: element 1234 (index [8, 1, 1, 4] of shape [16, 6, 5, 5]) is NaN",
        m.join(io::WEIGHTS_FILE).display()
    );
    let exe = env!("CARGO_BIN_EXE_axdnn");
    let empty = d.path().join("no-data");
    std::fs::create_dir_all(&empty).unwrap();
    for args in [&["eval"][..], &["infer", "--multiplier", "exact"][..]] {
        let out = std::process::Command::new(exe)
            .args(args)
            .arg("--model")
            .arg(&m)
            .arg("--data")
            .arg(&empty)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end(), format!("error: {want}"), "{args:?}");
    }
}
