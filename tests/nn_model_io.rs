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
    v["sha256"] = io::sha256_hex(&bytes).into();
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
    assert_eq!(m.meta.sha256, io::sha256_file(&d.path().join(io::WEIGHTS_FILE)).unwrap());
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
    assert!(matches!(&e, ModelIoError::BadTensor { name, .. } if name == "fc2.bias"), "{e:?}");
}
