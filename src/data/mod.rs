//! Datasets: MNIST (IDX), CIFAR-10 (official binary), and image folders (`train/<class>/*`,
//! `test/<class>/*`, plain or inside a `.tar.gz`) imported once into CIFAR-10 binary in a cache.
//!
//! Every dataset comes out as NCHW f32 pixels in [0,1] plus u8 labels.

pub mod cifar;
pub mod folder;
pub mod idx;
pub mod normalization;
pub mod npy;
pub mod shape;

pub use normalization::Normalization;
pub use shape::Shape;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The datasets the models are trained and tested on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetName {
    /// MNIST: 28 × 28 grayscale digits, 10 classes.
    Mnist,
    /// CIFAR-10: 32 × 32 RGB images, 10 classes.
    Cifar10,
}

crate::name_table!(DatasetName, "dataset": Mnist = "mnist", Cifar10 = "cifar10");

impl DatasetName {
    /// The usual input normalization of the dataset (torchvision statistics).
    pub fn normalization(self) -> Normalization {
        match self {
            DatasetName::Mnist => Normalization::mnist(),
            DatasetName::Cifar10 => Normalization::cifar10(),
        }
    }
}

impl DatasetName {
    /// Shape of one image.
    pub fn shape(&self) -> Shape {
        match self {
            DatasetName::Mnist => Shape::new(1, 28, 28),
            DatasetName::Cifar10 => Shape::new(3, 32, 32),
        }
    }
    /// Number of classes (10 for both).
    pub fn classes(&self) -> usize {
        10
    }
}

/// The training or test part of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training images.
    Train,
    /// The test images.
    Test,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

/// Images (NCHW, f32 in [0,1]) and their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Shape of one image.
    pub shape: Shape,
    /// Every image's pixels, image after image, each CHW, in 0 to 1.
    pub images: Vec<f32>,
    /// Class of each image, in image order (empty for unlabelled images read from a file).
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len() / self.shape.numel().max(1)
    }
    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }
    /// Whether every image has its label (images read from a file may have none).
    pub fn is_labelled(&self) -> bool {
        self.labels.len() == self.len()
    }
    /// Pixels of image `i` (CHW).
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.shape.numel();
        &self.images[i * n..(i + 1) * n]
    }
    /// The pixels of images `idx`, in that order (e.g. the calibration images).
    pub fn images_at(&self, idx: &[usize]) -> Vec<f32> {
        let mut out = Vec::with_capacity(idx.len() * self.shape.numel());
        for &i in idx {
            out.extend_from_slice(self.image(i));
        }
        out
    }
    /// Images `idx` with their labels, in that order.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        Dataset {
            shape: self.shape,
            images: self.images_at(idx),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
        }
    }
    /// The first `n` images (all if fewer).
    pub fn head(mut self, n: usize) -> Dataset {
        let n = n.min(self.len());
        self.images.truncate(n * self.shape.numel());
        self.labels.truncate(n);
        self
    }
}

/// Why a dataset could not be read. Each variant names the file and, where it applies, the record.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be read.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// A `.gz` file that does not decompress.
    #[error("{path}: not a valid gzip stream: {reason}")]
    BadGzip {
        /// The file.
        path: PathBuf,
        /// The decompressor's error.
        reason: String,
    },
    /// An IDX file whose magic number is not the images' or labels'.
    #[error("{path}: bad magic number 0x{found:08x} (expected 0x{expected:08x})")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The magic number of that file kind.
        expected: u32,
        /// The number found.
        found: u32,
    },
    /// Images of another size than the dataset's.
    #[error("{path}: wrong dimensions: {what}")]
    WrongDimensions {
        /// The file or folder.
        path: PathBuf,
        /// The dimensions found.
        what: String,
    },
    /// A file that ends inside a record.
    #[error("{path}: truncated at record {record}: file has {found} bytes, {expected} needed")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The incomplete record, 0-based.
        record: usize,
        /// Bytes needed to complete it.
        expected: u64,
        /// Bytes in the file.
        found: u64,
    },
    /// A label that is not a class of the dataset.
    #[error("{path}: record {record}: label {label} out of range 0..{classes}")]
    LabelOutOfRange {
        /// The file.
        path: PathBuf,
        /// The record, 0-based.
        record: usize,
        /// The label.
        label: u8,
        /// Number of classes.
        classes: usize,
    },
    /// An image file and its label file with different record counts.
    #[error("{path}: {images} images but {labels} labels in {labels_path}")]
    CountMismatch {
        /// The image file.
        path: PathBuf,
        /// Its image count.
        images: usize,
        /// The label count.
        labels: usize,
        /// The label file.
        labels_path: PathBuf,
    },
    /// An image of an image folder or archive that does not decode.
    #[error("{path}: member {member}: cannot decode image: {reason}")]
    Undecodable {
        /// The folder or archive.
        path: PathBuf,
        /// The image's path in it.
        member: String,
        /// The decoder's error.
        reason: String,
    },
    /// An image folder or archive without the `train/<class>/` and `test/<class>/` layout.
    #[error("{path}: {reason}")]
    BadFolder {
        /// The folder or archive.
        path: PathBuf,
        /// What is missing or inconsistent.
        reason: String,
    },
    /// A NumPy file of images or labels that is not what a model reads.
    #[error("{path}: {reason}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// None of the dataset's files under the data folder.
    #[error("{dataset} not found under {root}: looked for {looked_for}")]
    NotFound {
        /// The dataset looked for.
        dataset: DatasetName,
        /// The folder searched.
        root: PathBuf,
        /// The files looked for.
        looked_for: String,
    },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io { path: path.to_path_buf(), cause: source }
}

/// Whole file, gunzipped if it starts with the gzip magic.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(io_err(path))?;
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::BadGzip { path: path.to_path_buf(), reason: e.to_string() })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// `dir/name` or `dir/name.gz`, whichever exists.
pub(crate) fn find_maybe_gz(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(format!("{name}.gz"))].into_iter().find(|p| p.is_file())
}

/// The folder of a dataset: `root/<name>` if it exists, else `root` itself.
pub fn dataset_dir(name: DatasetName, root: &Path) -> PathBuf {
    let sub = root.join(name.to_string());
    if sub.is_dir() {
        sub
    } else {
        root.to_path_buf()
    }
}

/// Load a split. `root` is the data folder (`AXDNN_DATA`), holding `mnist/` and `cifar10/` (or the
/// dataset folder itself). CIFAR-10 is read from the official binary files if present, otherwise
/// from an image folder (`cifar10-jpeg.tar.gz`, any `*.tar.gz`, or `train/` + `test/`), imported
/// once into the cache.
pub fn load(name: DatasetName, split: Split, root: &Path) -> Result<Dataset, DataError> {
    let dir = dataset_dir(name, root);
    match name {
        DatasetName::Mnist => idx::load_mnist(&dir, split),
        DatasetName::Cifar10 => {
            if cifar::has_binary(&dir) {
                cifar::load_dir(&dir, split)
            } else if let Some(src) = folder::find_source(&dir) {
                let cached = folder::import_cached(&src, &crate::util::cache_dir(), true)?;
                cifar::load_dir(&cached, split)
            } else {
                Err(DataError::NotFound {
                    dataset: name,
                    root: root.to_path_buf(),
                    looked_for: "data_batch_1.bin / test_batch.bin, *.tar.gz, or train/ and test/ folders".into(),
                })
            }
        }
    }
}

/// The files a dataset is read from (for recording their sha256 next to a trained model).
pub fn source_files(name: DatasetName, root: &Path) -> Vec<PathBuf> {
    let dir = dataset_dir(name, root);
    let mut v: Vec<PathBuf> = match name {
        DatasetName::Mnist => idx::MNIST_FILES.iter().filter_map(|f| find_maybe_gz(&dir, f)).collect(),
        DatasetName::Cifar10 => {
            if cifar::has_binary(&dir) {
                cifar::binary_files(&dir)
            } else {
                folder::find_source(&dir).filter(|p| p.is_file()).into_iter().collect()
            }
        }
    };
    v.sort();
    v
}
