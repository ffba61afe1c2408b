//! A model directory: `model.safetensors` (PyTorch names and layouts, f32) and `model.json`
//! (architecture, provenance, accuracy, sha256 of the weights file, checked at load).

use super::arch::Arch;
use super::params::{Params, Tensor};
use crate::data::DatasetName;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const META_FILE: &str = "model.json";

/// One input file of the dataset with its sha256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileHash {
    pub file: String,
    pub sha256: String,
}

/// What `model.json` records besides the architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    pub dataset: DatasetName,
    #[serde(default)]
    pub dataset_files: Vec<FileHash>,
    pub epochs: usize,
    pub seed: u64,
    /// e.g. "sgd(momentum=0.9, nesterov, weight_decay=5e-4), one-cycle lr 0.1, batch 128".
    pub optimizer: String,
    /// Float test accuracy (fraction) over `test_n` images.
    pub test_accuracy: f64,
    pub test_n: usize,
    #[serde(default)]
    pub batchnorm_folded: bool,
    #[serde(default)]
    pub train_seconds: f64,
    #[serde(default)]
    pub command: String,
    /// sha256 of `model.safetensors` (filled in by `save`).
    #[serde(default)]
    pub sha256: String,
    /// Present when the weights were fine-tuned for one multiplier ([`super::finetune`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finetune: Option<super::finetune::FinetuneRecord>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ModelJson {
    arch: Arch,
    #[serde(flatten)]
    meta: ModelMeta,
}

#[derive(Debug, Clone)]
pub struct SavedModel {
    pub arch: Arch,
    pub params: Params,
    pub meta: ModelMeta,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelIoError {
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("{path}:{line}:{col}: bad model description: {reason}")]
    BadJson { path: PathBuf, line: usize, col: usize, reason: String },
    #[error("{path}: arch.{reason}")]
    BadNormalization { path: PathBuf, reason: String },
    #[error("{path}: sha256 {found} does not match {expected} recorded in model.json")]
    ShaMismatch { path: PathBuf, expected: String, found: String },
    #[error("{path}: not a valid safetensors file: {reason}")]
    BadWeights { path: PathBuf, reason: String },
    #[error("{path}: tensor {name}: {reason}")]
    BadTensor { path: PathBuf, name: String, reason: String },
    /// `dim`: the first dimension that differs (or the first one past the shorter shape).
    #[error("{path}: tensor {name}: shape {found:?} differs from {expected:?} of model.json's architecture at dimension {dim}")]
    ShapeMismatch { path: PathBuf, name: String, found: Vec<usize>, expected: Vec<usize>, dim: usize },
    /// The first NaN or ±Inf in row-major order: flat `index` and its multi-index in `shape`.
    #[error("{path}: tensor {name}: element {index} (index {multi_index:?} of shape {shape:?}) is {value}")]
    NonFinite { path: PathBuf, name: String, index: usize, multi_index: Vec<usize>, shape: Vec<usize>, value: f32 },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ModelIoError + '_ {
    move |source| ModelIoError::Io { path: path.to_path_buf(), cause: source }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut h = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut h)?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Write `bytes` to `path` atomically (temp file in the same folder, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp =
        dir.join(format!(".{}.tmp{}", path.file_name().unwrap_or_default().to_string_lossy(), std::process::id()));
    let r = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if r.is_err() {
        // A failed write (disk full, ...) leaves the old file and no partial temporary.
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// Serialize named f32 tensors (in order) to safetensors bytes.
pub fn tensors_to_bytes(
    tensors: &[(String, Vec<usize>, &[f32])],
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>, String> {
    let raw: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, d)| (n.clone(), s.clone(), d.iter().flat_map(|v| v.to_le_bytes()).collect()))
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = raw
        .iter()
        .map(|(n, s, b)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).map(|v| (n.clone(), v))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    safetensors::serialize(views, &metadata).map_err(|e| e.to_string())
}

/// Tensors by name, and the file's free-form metadata.
pub type TensorsAndMetadata = (HashMap<String, Tensor>, Option<HashMap<String, String>>);

/// Parse safetensors bytes into name → (shape, f32 data).
pub fn tensors_from_bytes(path: &Path, bytes: &[u8]) -> Result<TensorsAndMetadata, ModelIoError> {
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| ModelIoError::BadWeights { path: path.into(), reason: e.to_string() })?;
    let (_, md) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| ModelIoError::BadWeights { path: path.into(), reason: e.to_string() })?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(ModelIoError::BadTensor {
                path: path.into(),
                name,
                reason: format!("dtype {:?}, expected F32", view.dtype()),
            });
        }
        let data = view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        out.insert(name, Tensor { shape: view.shape().to_vec(), data });
    }
    Ok((out, md.metadata().clone()))
}

/// Row-major multi-index of flat `index` in `shape`.
fn unravel(mut index: usize, shape: &[usize]) -> Vec<usize> {
    let mut out = vec![0; shape.len()];
    for (o, &d) in out.iter_mut().zip(shape).rev() {
        *o = index % d.max(1);
        index /= d.max(1);
    }
    out
}

/// Write `dir/model.safetensors` then `dir/model.json` (with the weights' sha256), atomically.
pub fn save(dir: &Path, arch: &Arch, params: &Params, meta: &ModelMeta) -> Result<(), ModelIoError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let wpath = dir.join(WEIGHTS_FILE);
    let list: Vec<(String, Vec<usize>, &[f32])> = arch
        .params()
        .into_iter()
        .map(|spec| {
            let t = params.get(&spec.name).ok_or_else(|| ModelIoError::BadTensor {
                path: wpath.clone(),
                name: spec.name.clone(),
                reason: "missing from the parameters being saved".into(),
            })?;
            Ok((spec.name, t.shape.clone(), &t.data[..]))
        })
        .collect::<Result<_, ModelIoError>>()?;
    let bytes =
        tensors_to_bytes(&list, None).map_err(|reason| ModelIoError::BadWeights { path: wpath.clone(), reason })?;
    write_atomic(&wpath, &bytes).map_err(io(&wpath))?;
    let mut meta = meta.clone();
    meta.sha256 = sha256_hex(&bytes);
    let json = serde_json::to_string_pretty(&ModelJson { arch: arch.clone(), meta }).expect("model json serializes");
    let jpath = dir.join(META_FILE);
    write_atomic(&jpath, format!("{json}\n").as_bytes()).map_err(io(&jpath))
}

/// Read a model directory, checking the weights' sha256, every tensor's shape against the arch
/// and that every value is finite.
pub fn load(dir: &Path) -> Result<SavedModel, ModelIoError> {
    let jpath = dir.join(META_FILE);
    let mj = read_json(&jpath)?;
    // The layers must be exactly what the named architecture builds (the input normalization
    // in front of them is the model's own).
    let expect =
        Arch { normalize: mj.arch.normalize.clone(), ..Arch::new(mj.arch.name, mj.arch.input, mj.arch.classes) };
    if expect != mj.arch {
        return Err(ModelIoError::BadJson {
            path: jpath,
            line: 1,
            col: 1,
            reason: format!("layers differ from {} for input {}", mj.arch.name, mj.arch.input),
        });
    }
    let wpath = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&wpath).map_err(io(&wpath))?;
    let found = sha256_hex(&bytes);
    if found != mj.meta.sha256 {
        return Err(ModelIoError::ShaMismatch { path: wpath, expected: mj.meta.sha256.clone(), found });
    }
    let (mut tensors, _) = tensors_from_bytes(&wpath, &bytes)?;
    let mut params = Params::default();
    for spec in mj.arch.params() {
        let t = tensors.remove(&spec.name).ok_or_else(|| ModelIoError::BadTensor {
            path: wpath.clone(),
            name: spec.name.clone(),
            reason: "missing".into(),
        })?;
        if t.shape != spec.shape {
            let dim = t.shape.iter().zip(&spec.shape).take_while(|(a, b)| a == b).count();
            return Err(ModelIoError::ShapeMismatch {
                path: wpath.clone(),
                name: spec.name.clone(),
                found: t.shape,
                expected: spec.shape,
                dim,
            });
        }
        // A NaN or Inf weight does not stop inference: it silently skews accuracy, so refuse it.
        if let Some(index) = t.data.iter().position(|v| !v.is_finite()) {
            return Err(ModelIoError::NonFinite {
                path: wpath.clone(),
                name: spec.name.clone(),
                index,
                multi_index: unravel(index, &t.shape),
                shape: t.shape.clone(),
                value: t.data[index],
            });
        }
        params.tensors.insert(spec.name, t);
    }
    Ok(SavedModel { arch: mj.arch, params, meta: mj.meta })
}

/// Read `model.json` only (architecture and provenance, no weights): for checking a plan
/// before any work starts.
pub fn load_meta(dir: &Path) -> Result<(Arch, ModelMeta), ModelIoError> {
    let mj = read_json(&dir.join(META_FILE))?;
    Ok((mj.arch, mj.meta))
}

fn read_json(jpath: &Path) -> Result<ModelJson, ModelIoError> {
    let text = std::fs::read_to_string(jpath).map_err(io(jpath))?;
    let mj: ModelJson = serde_json::from_str(&text).map_err(|e| ModelIoError::BadJson {
        path: jpath.to_path_buf(),
        line: e.line(),
        col: e.column(),
        reason: e.to_string(),
    })?;
    if let Some(norm) = &mj.arch.normalize {
        norm.check(mj.arch.input.c)
            .map_err(|reason| ModelIoError::BadNormalization { path: jpath.to_path_buf(), reason })?;
    }
    Ok(mj)
}
