//! Dataset loaders: good files load, each kind of bad file gives its own typed error.

use crate::common;

use axdnn::data::{self, cifar, folder, idx, DataError, DatasetName, Split};
use std::io::Write;
use std::path::Path;

fn idx_images(n_header: u32, records: usize, magic: u32) -> Vec<u8> {
    let mut v = Vec::new();
    for w in [magic, n_header, 28, 28] {
        v.extend(w.to_be_bytes());
    }
    v.extend((0..records * 784).map(|i| (i % 256) as u8));
    v
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(0x801u32.to_be_bytes());
    v.extend((labels.len() as u32).to_be_bytes());
    v.extend(labels);
    v
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn idx_good_raw_and_gzip() {
    let d = tempfile::tempdir().unwrap();
    let (i, l) = (d.path().join("i"), d.path().join("l.gz"));
    std::fs::write(&i, idx_images(3, 3, 0x803)).unwrap();
    std::fs::write(&l, gz(&idx_labels(&[1, 2, 9]))).unwrap();
    let ds = idx::load_pair(&i, &l).unwrap();
    assert_eq!(ds.len(), 3);
    assert_eq!(ds.labels, vec![1, 2, 9]);
    assert_eq!(ds.image(1)[0], (784 % 256) as f32 / 255.0);
    assert!(ds.images.iter().all(|&p| (0.0..=1.0).contains(&p)));
}

#[test]
fn idx_truncated() {
    let d = tempfile::tempdir().unwrap();
    let (i, l) = (d.path().join("i"), d.path().join("l"));
    std::fs::write(&i, idx_images(3, 2, 0x803)).unwrap();
    std::fs::write(&l, idx_labels(&[1, 2, 3])).unwrap();
    match idx::load_pair(&i, &l) {
        Err(DataError::Truncated { path, record: 2, .. }) => assert_eq!(path, i),
        other => panic!("{other:?}"),
    }
}

#[test]
fn idx_truncated_gzip_stream() {
    let d = tempfile::tempdir().unwrap();
    let (i, l) = (d.path().join("i.gz"), d.path().join("l"));
    let z = gz(&idx_images(3, 3, 0x803));
    std::fs::write(&i, &z[..z.len() / 2]).unwrap();
    std::fs::write(&l, idx_labels(&[1, 2, 3])).unwrap();
    let e = idx::load_pair(&i, &l).unwrap_err();
    assert!(matches!(e, DataError::BadGzip { .. }), "{e:?}");
    assert!(e.to_string().contains("i.gz"), "{e}");
}

#[test]
fn idx_bad_magic() {
    let d = tempfile::tempdir().unwrap();
    let (i, l) = (d.path().join("i"), d.path().join("l"));
    std::fs::write(&i, idx_images(3, 3, 0x801)).unwrap();
    std::fs::write(&l, idx_labels(&[1, 2, 3])).unwrap();
    let e = idx::load_pair(&i, &l).unwrap_err();
    assert!(matches!(e, DataError::BadMagic { found: 0x801, expected: 0x803, .. }), "{e:?}");
    assert!(e.to_string().contains("bad magic"), "{e}");
}

#[test]
fn idx_label_out_of_range() {
    let d = tempfile::tempdir().unwrap();
    let (i, l) = (d.path().join("i"), d.path().join("l"));
    std::fs::write(&i, idx_images(3, 3, 0x803)).unwrap();
    std::fs::write(&l, idx_labels(&[1, 12, 3])).unwrap();
    let e = idx::load_pair(&i, &l).unwrap_err();
    assert!(matches!(e, DataError::LabelOutOfRange { record: 1, label: 12, .. }), "{e:?}");
}

#[test]
fn idx_count_mismatch() {
    let d = tempfile::tempdir().unwrap();
    let (i, l) = (d.path().join("i"), d.path().join("l"));
    std::fs::write(&i, idx_images(3, 3, 0x803)).unwrap();
    std::fs::write(&l, idx_labels(&[1, 2])).unwrap();
    assert!(matches!(idx::load_pair(&i, &l), Err(DataError::CountMismatch { images: 3, labels: 2, .. })));
}

fn cifar_records(labels: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for (r, &l) in labels.iter().enumerate() {
        v.push(l);
        v.extend((0..3072).map(|i| ((i + r) % 256) as u8));
    }
    v
}

fn cifar_dir(train: &[u8], test: Vec<u8>) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("data_batch_1.bin"), cifar_records(train)).unwrap();
    std::fs::write(d.path().join("test_batch.bin.gz"), gz(&test)).unwrap();
    d
}

#[test]
fn cifar_binary_good() {
    let d = cifar_dir(&[0, 5, 9], cifar_records(&[3, 4]));
    let tr = cifar::load_dir(d.path(), Split::Train).unwrap();
    let te = data::load(DatasetName::Cifar10, Split::Test, d.path()).unwrap();
    assert_eq!((tr.len(), te.len()), (3, 2));
    assert_eq!(te.labels, vec![3, 4]);
    // Record 1 of the test file: R plane starts with byte (0+1)%256, G plane with (1024+1)%256.
    assert_eq!(te.image(1)[0], 1.0 / 255.0);
    assert_eq!(te.image(1)[1024], ((1024 + 1) % 256) as f32 / 255.0);
}

#[test]
fn cifar_binary_truncated() {
    let mut t = cifar_records(&[3, 4, 5]);
    t.truncate(2 * 3073 + 100);
    let d = cifar_dir(&[0], t);
    match data::load(DatasetName::Cifar10, Split::Test, d.path()) {
        Err(DataError::Truncated { path, record: 2, .. }) => assert!(path.ends_with("test_batch.bin.gz")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn cifar_binary_label_out_of_range() {
    let d = cifar_dir(&[0, 10], cifar_records(&[1]));
    let e = data::load(DatasetName::Cifar10, Split::Train, d.path()).unwrap_err();
    assert!(matches!(e, DataError::LabelOutOfRange { record: 1, label: 10, .. }), "{e:?}");
}

fn png32(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([seed, x as u8 * 8, y as u8 * 8]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn tar_gz(path: &Path, files: &[(&str, Vec<u8>)]) {
    let f = std::fs::File::create(path).unwrap();
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(f, flate2::Compression::fast()));
    for (name, bytes) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, &bytes[..]).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap();
}

#[test]
fn image_folder_tar_gz_imports_deterministically() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("tiny.tar.gz");
    let mut files = Vec::new();
    for (ci, class) in ["bird", "airplane", "cat"].iter().enumerate() {
        for k in 0..4u8 {
            files.push((format!("tiny/train/{class}/{k:04}.png"), png32(ci as u8 * 10 + k)));
            files.push((format!("tiny/test/{class}/{k}.png"), png32(100 + ci as u8 * 10 + k)));
        }
    }
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    tar_gz(&src, &refs);
    let cache = d.path().join("cache");
    let a = folder::import_cached(&src, &cache, false).unwrap();
    let te = cifar::load_dir(&a, Split::Test).unwrap();
    let tr = cifar::load_dir(&a, Split::Train).unwrap();
    assert_eq!((tr.len(), te.len()), (12, 12));
    // Labels are the sorted class names: airplane 0, bird 1, cat 2; the red channel encodes
    // (class in file order, number) so every record can be traced to its file.
    for ds in [&tr, &te] {
        for i in 0..ds.len() {
            let red = (ds.image(i)[0] * 255.0).round() as u8 % 100;
            let file_class = red / 10;
            let label = ["bird", "airplane", "cat"][file_class as usize];
            assert_eq!(ds.labels[i], ["airplane", "bird", "cat"].iter().position(|c| *c == label).unwrap() as u8);
        }
    }
    // Shuffled: the first four test images are not all one class.
    assert!(te.labels[..4].iter().any(|&l| l != te.labels[0]), "{:?}", te.labels);
    // A second import into a fresh cache gives byte-identical files.
    let b = folder::import_cached(&src, &d.path().join("cache2"), false).unwrap();
    for f in ["data_batch_1.bin", "test_batch.bin"] {
        assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap());
    }
}

#[test]
fn image_folder_undecodable_jpeg() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("bad.tar.gz");
    tar_gz(
        &src,
        &[
            ("train/cat/0.png", png32(1)),
            ("test/cat/0.png", png32(2)),
            ("test/cat/1.jpg", b"\xff\xd8\xff\xe0 definitely not a jpeg".to_vec()),
        ],
    );
    let e = folder::import_cached(&src, &d.path().join("cache"), false).unwrap_err();
    match &e {
        DataError::Undecodable { path, member, .. } => {
            assert_eq!(path, &src);
            assert_eq!(member, "test/cat/1.jpg");
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("test/cat/1.jpg"), "{e}");
    assert!(!d.path().join("cache").read_dir().unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("bad")));
}

#[test]
fn image_folder_wrong_size() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("big.tar.gz");
    let mut out = std::io::Cursor::new(Vec::new());
    image::RgbImage::new(33, 32).write_to(&mut out, image::ImageFormat::Png).unwrap();
    tar_gz(&src, &[("train/cat/0.png", png32(1)), ("test/cat/0.png", out.into_inner())]);
    let e = folder::import_cached(&src, &d.path().join("cache"), false).unwrap_err();
    assert!(matches!(e, DataError::WrongDimensions { .. }), "{e:?}");
}

fn data_root() -> Option<std::path::PathBuf> {
    common::data()
}

#[test]
fn real_mnist_matches_published_histograms() {
    let Some(root) = data_root() else { return };
    let tr = data::load(DatasetName::Mnist, Split::Train, &root).unwrap();
    let te = data::load(DatasetName::Mnist, Split::Test, &root).unwrap();
    let hist = |l: &[u8]| (0..10).map(|c| l.iter().filter(|&&x| x == c).count()).collect::<Vec<_>>();
    assert_eq!(hist(&tr.labels), vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    assert_eq!(hist(&te.labels), vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    // Mean pixel on the 0..255 scale as in the data README (33.315 / 33.789).
    let mean = |d: &data::Dataset| d.images.iter().map(|&p| p as f64).sum::<f64>() / d.images.len() as f64 * 255.0;
    assert!((mean(&tr) - 33.315).abs() < 0.01 && (mean(&te) - 33.789).abs() < 0.01);
}

#[test]
fn real_cifar10_from_jpeg_folder() {
    let Some(root) = data_root() else { return };
    let tr = data::load(DatasetName::Cifar10, Split::Train, &root).unwrap();
    let te = data::load(DatasetName::Cifar10, Split::Test, &root).unwrap();
    assert_eq!((tr.len(), te.len()), (50000, 10000));
    for c in 0..10u8 {
        assert_eq!(tr.labels.iter().filter(|&&l| l == c).count(), 5000);
        assert_eq!(te.labels.iter().filter(|&&l| l == c).count(), 1000);
    }
    let first: std::collections::BTreeSet<u8> = te.labels[..20].iter().copied().collect();
    assert!(first.len() >= 5, "first 20 test labels {:?}", &te.labels[..20]);
}
