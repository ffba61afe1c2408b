//! `axdnn import` / `axdnn export`: between an ONNX file and a model folder (the form
//! every other command reads). An imported folder keeps a copy of its ONNX file (with its
//! external data files, if any) and records its sha256, the dataset, and the float test accuracy
//! measured here.

use super::{export, import, OnnxError};
use crate::data::{self, DatasetName, Normalization, Split};
use crate::model::io::{self, FileHash, ModelIoError, ModelMeta};
use crate::model::train::{accuracy, TrainError};
use crate::util::write_atomic;
use std::path::PathBuf;

/// The ONNX file kept in a model folder.
pub const ONNX_FILE: &str = "model.onnx";

/// Why an import or export failed.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    /// The ONNX file.
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    /// The model folder.
    #[error(transparent)]
    Model(#[from] ModelIoError),
    /// The dataset.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The flags do not fit the file.
    #[error("{file}: {reason}")]
    Flags {
        /// The ONNX file.
        file: PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// The network's input is not the dataset's image shape.
    #[error("{file}: the network takes {network} inputs, {dataset} images are {images}")]
    Shape {
        /// The ONNX file.
        file: PathBuf,
        /// The network's input.
        network: String,
        /// The dataset.
        dataset: DatasetName,
        /// Its images.
        images: String,
    },
}

/// `axdnn import`: an ONNX file into a model folder.
#[derive(clap::Args, Debug, Clone)]
pub struct ImportFlags {
    /// The ONNX file (opset 7 or later; weights inside it or in external data files beside it).
    pub file: PathBuf,
    /// Output model folder (model.json, model.safetensors and a copy of the ONNX file).
    #[arg(long)]
    pub out: PathBuf,
    /// The dataset the network classifies: mnist | cifar10 [default: the one whose images have
    /// the network's input shape]. Its test images give the float accuracy in model.json.
    #[arg(long)]
    pub dataset: Option<DatasetName>,
    /// Per-channel means of an input normalization the file does not contain (comma-separated,
    /// one value or one per channel; pixels in [0, 1]), e.g. 0.4914,0.4822,0.4465.
    #[arg(long, value_delimiter = ',', requires = "std")]
    pub mean: Vec<f32>,
    /// Per-channel standard deviations of that normalization.
    #[arg(long, value_delimiter = ',', requires = "mean")]
    pub std: Vec<f32>,
    /// Test images for the recorded accuracy: the first N [default: all].
    #[arg(long, value_parser = crate::util::values::parse_count)]
    pub n: Option<usize>,
    /// Dataset folder (default: $AXDNN_DATA, else ../shared/data).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// What `axdnn import` wrote.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The model folder.
    pub out: PathBuf,
    /// Graph nodes.
    pub nodes: usize,
    /// Parameters (weights, biases, batch-norm statistics).
    pub params: usize,
    /// Whether the network is a plain chain (which the integer accelerator runs today).
    pub chain: bool,
    /// Float test accuracy.
    pub accuracy: f64,
    /// Test images.
    pub n: usize,
}

impl ImportFlags {
    /// Import, measure the float accuracy, write the folder (recording `command`).
    pub fn run(&self, command: &str) -> Result<Imported, FolderError> {
        let bytes = std::fs::read(&self.file).map_err(|cause| OnnxError::Io { path: self.file.clone(), cause })?;
        let (mut arch, params, quantization) = super::import_bytes_quantized(&bytes, &self.file)?;
        if !self.mean.is_empty() {
            if arch.normalize.is_some() {
                return Err(FolderError::Flags {
                    file: self.file.clone(),
                    reason: "--mean/--std given, but the file normalizes its input itself".into(),
                });
            }
            let norm = Normalization { mean: self.mean.clone(), std: self.std.clone() };
            norm.check(arch.input.c).map_err(|reason| FolderError::Flags { file: self.file.clone(), reason })?;
            arch.normalize = Some(norm);
        }
        let dataset = match self.dataset {
            Some(d) => d,
            None => DatasetName::ALL.iter().copied().find(|d| d.shape() == arch.input).ok_or_else(|| {
                FolderError::Flags {
                    file: self.file.clone(),
                    reason: format!("no dataset has {} images: give --dataset", arch.input),
                }
            })?,
        };
        let root = crate::util::inputs::data_folder(self.data.clone()).ok_or(TrainError::NoData)?;
        let mut te = data::load(dataset, Split::Test, &root).map_err(TrainError::from)?;
        if let Some(n) = self.n {
            te = te.head(n);
        }
        if te.shape != arch.input {
            return Err(FolderError::Shape {
                file: self.file.clone(),
                network: arch.input.to_string(),
                dataset,
                images: te.shape.to_string(),
            });
        }
        let acc = accuracy(&arch, &params, &te);
        let dataset_files = data::source_files(dataset, &root)
            .into_iter()
            .map(|p| {
                let sha256 =
                    crate::util::sha256_file(&p).map_err(|cause| ModelIoError::Io { path: p.clone(), cause })?;
                Ok(FileHash { file: p.file_name().unwrap_or_default().to_string_lossy().into_owned(), sha256 })
            })
            .collect::<Result<Vec<_>, ModelIoError>>()?;
        let meta = ModelMeta {
            dataset,
            dataset_files,
            epochs: 0,
            seed: 0,
            optimizer: format!(
                "imported from ONNX {} (sha256 {})",
                self.file.file_name().unwrap_or_default().to_string_lossy(),
                crate::util::sha256_hex(&bytes)
            ),
            test_accuracy: acc,
            test_n: te.len(),
            batchnorm_folded: false,
            train_seconds: 0.0,
            command: command.into(),
            sha256: String::new(),
            finetune: None,
            quantization,
        };
        io::save(&self.out, &arch, &params, &meta)?;
        let kept = self.out.join(ONNX_FILE);
        write_atomic(&kept, &bytes).map_err(|cause| ModelIoError::Io { path: kept.clone(), cause })?;
        // Its external data files beside it, so that the copy reads as the original does.
        let dir = self.file.parent().unwrap_or(std::path::Path::new(""));
        for loc in super::external_files(&bytes) {
            let to = self.out.join(&loc);
            let io = |cause| ModelIoError::Io { path: to.clone(), cause };
            std::fs::create_dir_all(to.parent().unwrap_or(&self.out)).map_err(io)?;
            std::fs::copy(dir.join(&loc), &to).map_err(io)?;
        }
        Ok(Imported {
            out: self.out.clone(),
            nodes: arch.layers.len(),
            params: params.tensors.values().map(|t| t.data.len()).sum(),
            chain: arch.is_chain(),
            accuracy: acc,
            n: te.len(),
        })
    }
}

impl std::fmt::Display for Imported {
    /// One line: what was written and how the float model scores.
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let (lo, hi) = crate::model::train::accuracy_interval(self.accuracy, self.n);
        write!(
            f,
            "{}: {} nodes ({}), {} parameters, float test accuracy {:.4} (95 % interval {:.4}–{:.4}, {} images)",
            self.out.display(),
            self.nodes,
            if self.chain { "a chain" } else { "a graph" },
            self.params,
            self.accuracy,
            lo,
            hi,
            self.n
        )
    }
}

/// `axdnn export`: a model folder as an ONNX file (opset 13) that ONNX Runtime runs.
#[derive(clap::Args, Debug, Clone)]
pub struct ExportFlags {
    /// Model folder (model.safetensors + model.json).
    #[arg(long)]
    pub model: PathBuf,
    /// The ONNX file to write.
    #[arg(long)]
    pub onnx: PathBuf,
}

impl ExportFlags {
    /// Write the file; returns its size in bytes.
    pub fn run(&self) -> Result<usize, FolderError> {
        let m = io::load(&self.model)?;
        let bytes = export(&m.arch, &m.params);
        write_atomic(&self.onnx, &bytes).map_err(|cause| ModelIoError::Io { path: self.onnx.clone(), cause })?;
        // What was written reads back (a cheap guard against an export this reader cannot take).
        import(&self.onnx)?;
        Ok(bytes.len())
    }
}
