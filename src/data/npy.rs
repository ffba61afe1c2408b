//! Images and labels from NumPy files, so that any tool's inputs can be run and its outputs
//! compared: images float32 `N×C×H×W` in [0, 1] (or `N×H×W` for one channel), or uint8 codes
//! 0–255 (divided by 255); labels uint8 or any integer dtype, one per image.

use super::{DataError, Shape};
use std::path::Path;

fn bad(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::Npy { path: path.to_path_buf(), reason: reason.into() }
}

fn read(path: &Path) -> Result<crate::util::npy::Npy, DataError> {
    let bytes = std::fs::read(path).map_err(super::io_err(path))?;
    crate::util::npy::parse(&bytes).map_err(|e| bad(path, e))
}

/// The images of `path` for a model whose input is `shape`: `n × shape.numel()` floats in [0, 1].
pub fn read_images(path: &Path, shape: Shape) -> Result<Vec<f32>, DataError> {
    let a = read(path)?;
    let want = format!("N×{}×{}×{}", shape.c, shape.h, shape.w);
    let ok = match a.shape[..] {
        [_, c, h, w] => [c, h, w] == [shape.c, shape.h, shape.w],
        [_, h, w] => shape.c == 1 && [h, w] == [shape.h, shape.w],
        _ => false,
    };
    if !ok || a.shape[0] == 0 {
        return Err(bad(path, format!("shape {:?}, expected {want} (N ≥ 1) for this model", a.shape)));
    }
    match a.descr.as_str() {
        "<f4" => {
            let v: Vec<f32> =
                a.data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
            if let Some(i) = v.iter().position(|x| !(0.0..=1.0).contains(x)) {
                let d = shape.numel();
                return Err(bad(
                    path,
                    format!(
                        "image {}, element {}: {} is outside [0, 1] (float32 images are pixels in [0, 1])",
                        i / d,
                        i % d,
                        v[i]
                    ),
                ));
            }
            Ok(v)
        }
        "|u1" | "<u1" => Ok(a.data.iter().map(|&b| b as f32 / 255.0).collect()),
        d => Err(bad(path, format!("dtype {d}: images must be float32 (<f4) in [0, 1] or uint8 (|u1)"))),
    }
}

/// One label per image from `path` (any integer dtype, 1-D), each below `classes`.
pub fn read_labels(path: &Path, n: usize, classes: usize) -> Result<Vec<u8>, DataError> {
    let a = read(path)?;
    if a.shape != [n] {
        return Err(bad(path, format!("shape {:?}, expected ({n},): one label per image", a.shape)));
    }
    // `<i8`, `|u1`, …: the kind is the second character.
    let kind = a.descr.as_bytes().get(1).copied();
    let (Some(size), Some(b'i' | b'u')) = (crate::util::npy::item_size(&a.descr), kind) else {
        return Err(bad(path, format!("dtype {}: labels must be integers", a.descr)));
    };
    let signed = kind == Some(b'i');
    let mut out = Vec::with_capacity(n);
    for (record, b) in a.data.chunks_exact(size).enumerate() {
        let mut buf = [0u8; 8];
        buf[..size].copy_from_slice(b);
        if signed && b[size - 1] & 0x80 != 0 {
            buf[size..].fill(0xff);
        }
        let v = i64::from_le_bytes(buf);
        if v < 0 || v as usize >= classes {
            return Err(DataError::LabelOutOfRange {
                path: path.into(),
                record,
                label: v.clamp(0, 255) as u8,
                classes,
            });
        }
        out.push(v as u8);
    }
    Ok(out)
}

/// The images of `images` with the labels of `labels` (none: unlabelled) as a dataset for a
/// model of input `shape` and `classes` classes.
pub fn read_dataset(
    images: &Path,
    labels: Option<&Path>,
    shape: Shape,
    classes: usize,
) -> Result<super::Dataset, DataError> {
    let x = read_images(images, shape)?;
    let labels = match labels {
        Some(l) => read_labels(l, x.len() / shape.numel(), classes)?,
        None => Vec::new(),
    };
    Ok(super::Dataset { shape, images: x, labels })
}
