//! MNIST in IDX format (raw or gzip'd): big-endian u32 header, then u8 records.

use super::Shape;
use super::{find_maybe_gz, read_maybe_gz, DataError, Dataset, Split};
use std::path::{Path, PathBuf};

/// The IDX file names: training images and labels, then test images and labels.
pub const MNIST_FILES: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn header(path: &Path, bytes: &[u8], words: usize) -> Result<(), DataError> {
    if bytes.len() < 4 * words {
        return Err(DataError::Truncated {
            path: path.into(),
            record: 0,
            expected: 4 * words as u64,
            found: bytes.len() as u64,
        });
    }
    Ok(())
}

/// IDX3 image file → (count, rows, cols, pixels).
pub fn parse_images(path: &Path, bytes: &[u8]) -> Result<(usize, usize, usize, Vec<u8>), DataError> {
    header(path, bytes, 1)?;
    let magic = be32(bytes, 0);
    if magic != IMAGES_MAGIC {
        return Err(DataError::BadMagic { path: path.into(), expected: IMAGES_MAGIC, found: magic });
    }
    header(path, bytes, 4)?;
    let (n, rows, cols) = (be32(bytes, 4) as usize, be32(bytes, 8) as usize, be32(bytes, 12) as usize);
    if rows == 0 || cols == 0 || rows > 4096 || cols > 4096 {
        return Err(DataError::WrongDimensions { path: path.into(), what: format!("{rows}x{cols} images") });
    }
    let per = rows * cols;
    let body = &bytes[16..];
    if body.len() < n * per {
        let record = body.len() / per;
        return Err(DataError::Truncated {
            path: path.into(),
            record,
            expected: (16 + n * per) as u64,
            found: bytes.len() as u64,
        });
    }
    Ok((n, rows, cols, body[..n * per].to_vec()))
}

/// IDX1 label file → labels, each checked against `classes`.
pub fn parse_labels(path: &Path, bytes: &[u8], classes: usize) -> Result<Vec<u8>, DataError> {
    header(path, bytes, 1)?;
    let magic = be32(bytes, 0);
    if magic != LABELS_MAGIC {
        return Err(DataError::BadMagic { path: path.into(), expected: LABELS_MAGIC, found: magic });
    }
    header(path, bytes, 2)?;
    let n = be32(bytes, 4) as usize;
    let body = &bytes[8..];
    if body.len() < n {
        return Err(DataError::Truncated {
            path: path.into(),
            record: body.len(),
            expected: (8 + n) as u64,
            found: bytes.len() as u64,
        });
    }
    if let Some(record) = body[..n].iter().position(|&l| l as usize >= classes) {
        return Err(DataError::LabelOutOfRange { path: path.into(), record, label: body[record], classes });
    }
    Ok(body[..n].to_vec())
}

/// Load an images file and a labels file (raw or gzip'd) as one dataset.
pub fn load_pair(images: &Path, labels: &Path) -> Result<Dataset, DataError> {
    let (n, rows, cols, px) = parse_images(images, &read_maybe_gz(images)?)?;
    let lab = parse_labels(labels, &read_maybe_gz(labels)?, 10)?;
    if lab.len() != n {
        return Err(DataError::CountMismatch {
            path: images.into(),
            images: n,
            labels: lab.len(),
            labels_path: labels.into(),
        });
    }
    Ok(Dataset {
        shape: Shape::new(1, rows, cols),
        images: px.iter().map(|&p| p as f32 / 255.0).collect(),
        labels: lab,
    })
}

/// Read the `split` of MNIST from the IDX files in `dir` (raw or `.gz`).
pub fn load_mnist(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let (i, l) = match split {
        Split::Train => (MNIST_FILES[0], MNIST_FILES[1]),
        Split::Test => (MNIST_FILES[2], MNIST_FILES[3]),
    };
    let find = |name: &str| -> Result<PathBuf, DataError> {
        find_maybe_gz(dir, name).ok_or_else(|| DataError::NotFound {
            dataset: super::DatasetName::Mnist,
            root: dir.into(),
            looked_for: format!("{name} or {name}.gz"),
        })
    };
    load_pair(&find(i)?, &find(l)?)
}
