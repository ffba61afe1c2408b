//! A model directory: `model.safetensors` (PyTorch names and layouts, f32) and `model.json`
//! (architecture, provenance, accuracy, sha256 of the weights file, checked at load).

use super::arch::Arch;
use super::params::{Params, Tensor};
use crate::data::DatasetName;
use crate::util::{sha256_hex, write_atomic};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What a fine-tuned model folder was tuned for (`crate::recover::finetune` writes it,
/// `--recover finetune` checks it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneRecord {
    /// How the weights were tuned, in one line.
    pub method: String,
    /// The model folder fine-tuning started from, and the sha256 of its weights.
    pub base_model: String,
    /// sha256 of the base model's weights file.
    pub base_sha256: String,
    /// The multiplier tuned for (its name).
    pub multiplier: String,
    /// sha256 of the multiplier's table ([`crate::lut::Lut::sha256`]).
    pub lut_sha256: String,
    /// The quantization scheme as serde writes `quant::QuantScheme` (`AsymU8`, `SignMagnitude`,
    /// `SymS8`); read back typed by `recover::finetune::recorded_scheme`.
    pub scheme: String,
    /// Whether weights were quantized per output channel (else per tensor).
    pub per_channel: bool,
    /// The layers on the approximate multiplier: `conv`, `all` or a comma-separated list of names.
    pub approx_layers: String,
    /// Training images used to calibrate the activation ranges.
    pub calib: usize,
    /// Seed choosing them.
    pub calib_seed: u64,
    /// Fine-tuning epochs.
    pub epochs: usize,
    /// Seed of the fine-tuning (image order).
    pub seed: u64,
    /// Initial learning rate.
    pub lr: f32,
    /// Images per step.
    pub batch: usize,
    /// Accuracy of the quantized model on the multiplier over `eval_n` test images, before and
    /// after fine-tuning.
    pub eval_n: usize,
    /// Quantized accuracy (fraction) before fine-tuning.
    pub accuracy_before: f64,
    /// Quantized accuracy (fraction) after fine-tuning.
    pub accuracy_after: f64,
}

/// The weights file of a model folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The description file of a model folder.
pub const META_FILE: &str = "model.json";

/// One input file of the dataset with its sha256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileHash {
    /// The file's name.
    pub file: String,
    /// The file's sha256 (hex).
    pub sha256: String,
}

/// What `model.json` records besides the architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// The dataset trained on.
    pub dataset: DatasetName,
    /// The dataset files trained on, with their sha256 (empty when not recorded).
    #[serde(default)]
    pub dataset_files: Vec<FileHash>,
    /// Training epochs.
    pub epochs: usize,
    /// Training seed.
    pub seed: u64,
    /// e.g. "sgd(momentum=0.9, nesterov, weight_decay=5e-4), one-cycle lr 0.1, batch 128".
    pub optimizer: String,
    /// Float test accuracy (fraction) over `test_n` images.
    pub test_accuracy: f64,
    /// Test images `test_accuracy` was measured on.
    pub test_n: usize,
    /// Whether BatchNorm was trained and folded into the convolutions' weights and biases.
    #[serde(default)]
    pub batchnorm_folded: bool,
    /// Wall-clock seconds spent training (fine-tuning included).
    #[serde(default)]
    pub train_seconds: f64,
    /// The command line that made the model.
    #[serde(default)]
    pub command: String,
    /// sha256 of `model.safetensors` (filled in by `save`).
    #[serde(default)]
    pub sha256: String,
    /// Present when the weights were fine-tuned for one multiplier ([`super::finetune`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finetune: Option<FinetuneRecord>,
    /// Present when the model came from a quantized file: its own scales and zero points,
    /// which the integer model then uses instead of calibrating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<super::QuantRecord>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ModelJson {
    arch: Arch,
    #[serde(flatten)]
    meta: ModelMeta,
}

/// A loaded model folder: architecture, weights and description.
#[derive(Debug, Clone)]
pub struct SavedModel {
    /// The architecture.
    pub arch: Arch,
    /// The weights and biases.
    pub params: Params,
    /// Everything else `model.json` records.
    pub meta: ModelMeta,
}

/// Why a model folder could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ModelIoError {
    /// A model file could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// `model.json` does not parse as a model description.
    #[error("{path}:{line}:{col}: bad model description: {reason}")]
    BadJson {
        /// The file.
        path: PathBuf,
        /// Line of the error, 1-based.
        line: usize,
        /// Column of the error, 1-based.
        col: usize,
        /// The JSON error.
        reason: String,
    },
    /// `model.json`'s input normalization does not fit the input channels.
    #[error("{path}: arch.{reason}")]
    BadNormalization {
        /// The file.
        path: PathBuf,
        /// What is wrong (after `arch.`).
        reason: String,
    },
    /// The weights file is not the one `model.json` records.
    #[error("{path}: sha256 {found} does not match {expected} recorded in model.json")]
    ShaMismatch {
        /// The weights file.
        path: PathBuf,
        /// The sha256 recorded in `model.json`.
        expected: String,
        /// The weights file's sha256.
        found: String,
    },
    /// The weights file is not a valid safetensors file.
    #[error("{path}: not a valid safetensors file: {reason}")]
    BadWeights {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        reason: String,
    },
    /// A tensor is missing, of another type than f32, or otherwise unusable.
    #[error("{path}: tensor {name}: {reason}")]
    BadTensor {
        /// The weights file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// `dim`: the first dimension that differs (or the first one past the shorter shape).
    #[error("{path}: tensor {name}: shape {found:?} differs from {expected:?} of model.json's architecture at dimension {dim}")]
    ShapeMismatch {
        /// The weights file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// Its shape in the file.
        found: Vec<usize>,
        /// The shape the architecture needs.
        expected: Vec<usize>,
        /// The first dimension that differs.
        dim: usize,
    },
    /// The first NaN or ±Inf in row-major order: flat `index` and its multi-index in `shape`.
    #[error("{path}: tensor {name}: element {index} (index {multi_index:?} of shape {shape:?}) is {value}")]
    NonFinite {
        /// The weights file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// Flat index of the element.
        index: usize,
        /// Its index per dimension.
        multi_index: Vec<usize>,
        /// The tensor's shape.
        shape: Vec<usize>,
        /// The element (NaN or ±Inf).
        value: f32,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ModelIoError + '_ {
    move |source| ModelIoError::Io { path: path.to_path_buf(), cause: source }
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
    // A graph must be well formed; a built-in name must come with exactly the layers it builds
    // (the input normalization in front of them is the model's own).
    mj.arch.validate().map_err(|e| ModelIoError::BadJson {
        path: jpath.clone(),
        line: 1,
        col: 1,
        reason: e.to_string(),
    })?;
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
