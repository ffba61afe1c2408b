//! CIFAR-10 official binary format (raw or gzip'd): records of 1 label byte + 1024 R + 1024 G +
//! 1024 B bytes; `data_batch_1.bin` … `data_batch_5.bin` and `test_batch.bin`.

use super::Shape;
use super::{find_maybe_gz, read_maybe_gz, DataError, Dataset, Split};
use std::path::{Path, PathBuf};

/// Bytes per record: 1 label byte and 3 × 32 × 32 pixel bytes (channel-major).
pub const RECORD: usize = 1 + 3 * 32 * 32;
/// The test split's file name.
pub const TEST_FILE: &str = "test_batch.bin";

/// The `i`-th training file's name (`data_batch_1.bin` … `data_batch_5.bin`).
pub fn train_file(i: usize) -> String {
    format!("data_batch_{i}.bin")
}

/// Does `dir` hold the binary files (`test_batch.bin` and `data_batch_1.bin`, raw or gzip'd)?
pub fn has_binary(dir: &Path) -> bool {
    find_maybe_gz(dir, TEST_FILE).is_some() && find_maybe_gz(dir, &train_file(1)).is_some()
}

fn split_files(dir: &Path, split: Split) -> Vec<PathBuf> {
    match split {
        Split::Test => find_maybe_gz(dir, TEST_FILE).into_iter().collect(),
        Split::Train => (1..).map_while(|i| find_maybe_gz(dir, &train_file(i))).collect(),
    }
}

/// The split files present in `dir` (raw or gzip'd): training batches first, then the test batch.
pub fn binary_files(dir: &Path) -> Vec<PathBuf> {
    let mut v = split_files(dir, Split::Train);
    v.extend(split_files(dir, Split::Test));
    v
}

/// Parse one binary file's records, appending to `out`.
pub fn parse_into(path: &Path, bytes: &[u8], out: &mut Dataset) -> Result<(), DataError> {
    if !bytes.len().is_multiple_of(RECORD) {
        let record = bytes.len() / RECORD;
        return Err(DataError::Truncated {
            path: path.into(),
            record,
            expected: ((record + 1) * RECORD) as u64,
            found: bytes.len() as u64,
        });
    }
    for (r, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] >= 10 {
            return Err(DataError::LabelOutOfRange { path: path.into(), record: r, label: rec[0], classes: 10 });
        }
        out.labels.push(rec[0]);
        out.images.extend(rec[1..].iter().map(|&p| p as f32 / 255.0));
    }
    Ok(())
}

/// Read the `split` of CIFAR-10 from the binary files in `dir`.
pub fn load_dir(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let files = split_files(dir, split);
    if files.is_empty() {
        return Err(DataError::NotFound {
            dataset: super::DatasetName::Cifar10,
            root: dir.into(),
            looked_for: match split {
                Split::Train => "data_batch_1.bin".into(),
                Split::Test => TEST_FILE.into(),
            },
        });
    }
    let mut ds = Dataset { shape: Shape::new(3, 32, 32), images: Vec::new(), labels: Vec::new() };
    for f in files {
        parse_into(&f, &read_maybe_gz(&f)?, &mut ds)?;
    }
    Ok(ds)
}
