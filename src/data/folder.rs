//! Image-folder datasets (`train/<class>/*.jpg|png`, `test/<class>/*`), read from a directory or
//! straight from a `.tar.gz`, converted once into CIFAR-10 binary files in a cache folder (the
//! dataset folder may be read-only).
//!
//! Record order is deterministic: sort by (class, file number), then shuffle with a fixed seed
//! per split, so the first N test images mix classes. Labels are the class folder names in sorted
//! order (for CIFAR-10 that is the official order airplane … truck).

use super::cifar::{train_file, RECORD, TEST_FILE};
use super::{io_err, DataError};
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Records per `data_batch_<i>.bin`, as in the official release.
const PER_FILE: usize = 10_000;
const SHUFFLE_SEED: [u64; 2] = [0x0c1f_a710, 0x0c1f_a711];

/// One image file of the folder.
struct Member {
    test: bool,
    class: String,
    number: Option<u64>,
    name: String,
    bytes: Vec<u8>,
}

/// An image-folder source inside `dir`: `dir` itself if it has `train/` and `test/`, else its
/// `.tar.gz` (`cifar10-jpeg.tar.gz` preferred).
pub fn find_source(dir: &Path) -> Option<PathBuf> {
    if dir.is_file() {
        return Some(dir.to_path_buf());
    }
    if dir.join("train").is_dir() && dir.join("test").is_dir() {
        return Some(dir.to_path_buf());
    }
    let preferred = dir.join("cifar10-jpeg.tar.gz");
    if preferred.is_file() {
        return Some(preferred);
    }
    let mut tars: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(".tar.gz"))
        .collect();
    tars.sort();
    tars.into_iter().next()
}

/// Where in `path` the split folder is: `…/train/<class>/<file>` → (test?, class, file name).
fn classify(path: &str) -> Option<(bool, String, String)> {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
    if parts.len() < 3 {
        return None;
    }
    let (split, class, file) = (parts[parts.len() - 3], parts[parts.len() - 2], parts[parts.len() - 1]);
    let lower = file.to_ascii_lowercase();
    if !(lower.ends_with(".jpg") || lower.ends_with(".jpeg") || lower.ends_with(".png")) {
        return None;
    }
    let test = match split {
        "train" => false,
        "test" => true,
        _ => return None,
    };
    Some((test, class.to_string(), file.to_string()))
}

/// `name` is the member's path (for messages), `file` its file name (whose stem is the number).
fn member(test: bool, class: String, name: String, file: &str, bytes: Vec<u8>) -> Member {
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let number = stem.parse::<u64>().ok();
    Member { test, class, number, name, bytes }
}

fn read_tar_gz(path: &Path) -> Result<Vec<Member>, DataError> {
    let f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(f)));
    let bad = |e: std::io::Error| DataError::BadGzip { path: path.into(), reason: e.to_string() };
    let mut out = Vec::new();
    for entry in ar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        if let Some((test, class, file)) = classify(&name) {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(bad)?;
            out.push(member(test, class, name, &file, bytes));
        }
    }
    Ok(out)
}

fn read_dir_tree(root: &Path) -> Result<Vec<Member>, DataError> {
    let mut out = Vec::new();
    for (test, split) in [(false, "train"), (true, "test")] {
        let sd = root.join(split);
        let mut classes: Vec<PathBuf> = std::fs::read_dir(&sd)
            .map_err(io_err(&sd))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        classes.sort();
        for cd in classes {
            let class = cd.file_name().unwrap_or_default().to_string_lossy().into_owned();
            let mut files: Vec<PathBuf> =
                std::fs::read_dir(&cd).map_err(io_err(&cd))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            for f in files {
                let rel = format!("{split}/{class}/{}", f.file_name().unwrap_or_default().to_string_lossy());
                if classify(&rel).is_some() {
                    let bytes = std::fs::read(&f).map_err(io_err(&f))?;
                    let file = f.file_name().unwrap_or_default().to_string_lossy().into_owned();
                    out.push(member(test, class.clone(), rel, &file, bytes));
                }
            }
        }
    }
    Ok(out)
}

/// Key of a source for the cache: sha256 of the archive, or of the folder's names and sizes.
fn source_key(src: &Path) -> Result<String, DataError> {
    let mut h = Sha256::new();
    // Bump when the record order or encoding changes, so stale caches are not reused.
    h.update(b"axdnn-image-folder-v1");
    if src.is_file() {
        let mut f = std::fs::File::open(src).map_err(io_err(src))?;
        std::io::copy(&mut f, &mut h).map_err(io_err(src))?;
    } else {
        for m in read_dir_tree(src)? {
            h.update(m.name.as_bytes());
            h.update((m.bytes.len() as u64).to_le_bytes());
            h.update(Sha256::digest(&m.bytes));
        }
    }
    Ok(h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect())
}

/// Decode every member to a CIFAR record, in the deterministic order, per split.
fn to_records(src: &Path, members: Vec<Member>, progress: bool) -> Result<[Vec<u8>; 2], DataError> {
    let classes: Vec<String> =
        members.iter().filter(|m| !m.test).map(|m| m.class.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    if classes.is_empty() {
        return Err(DataError::BadFolder { path: src.into(), reason: "no train/<class>/<image> files".into() });
    }
    if classes.len() > 10 {
        return Err(DataError::BadFolder {
            path: src.into(),
            reason: format!("{} classes; CIFAR-10 binary holds at most 10", classes.len()),
        });
    }
    if !members.iter().any(|m| m.test) {
        return Err(DataError::BadFolder { path: src.into(), reason: "no test/<class>/<image> files".into() });
    }
    if let Some(m) = members.iter().find(|m| !classes.contains(&m.class)) {
        return Err(DataError::BadFolder {
            path: src.into(),
            reason: format!("{}: class '{}' has no training images", m.name, m.class),
        });
    }
    let bar = if progress { ProgressBar::new(members.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("importing {prefix} {bar:40} {pos}/{len} [{elapsed}<{eta}]")
            .expect("valid template"),
    );
    bar.set_prefix(src.file_name().unwrap_or_default().to_string_lossy().into_owned());
    let mut out = [Vec::new(), Vec::new()];
    for test in [false, true] {
        let mut ms: Vec<&Member> = members.iter().filter(|m| m.test == test).collect();
        ms.sort_by(|a, b| (&a.class, a.number, &a.name).cmp(&(&b.class, b.number, &b.name)));
        ms.shuffle(&mut ChaCha8Rng::seed_from_u64(SHUFFLE_SEED[test as usize]));
        let recs: Vec<Result<Vec<u8>, DataError>> = ms
            .par_iter()
            .map(|m| {
                let r = decode(src, m, classes.iter().position(|c| *c == m.class).expect("class checked above") as u8);
                bar.inc(1);
                r
            })
            .collect();
        let buf = &mut out[test as usize];
        for r in recs {
            buf.extend(r?);
        }
    }
    bar.finish_and_clear();
    Ok(out)
}

fn decode(src: &Path, m: &Member, label: u8) -> Result<Vec<u8>, DataError> {
    let img = image::load_from_memory(&m.bytes)
        .map_err(|e| DataError::Undecodable { path: src.into(), member: m.name.clone(), reason: e.to_string() })?
        .to_rgb8();
    if img.width() != 32 || img.height() != 32 {
        return Err(DataError::WrongDimensions {
            path: src.into(),
            what: format!("member {}: {}x{} pixels, expected 32x32", m.name, img.width(), img.height()),
        });
    }
    let mut rec = Vec::with_capacity(RECORD);
    rec.push(label);
    for c in 0..3 {
        rec.extend(img.pixels().map(|p| p.0[c]));
    }
    Ok(rec)
}

/// Convert `src` (a `.tar.gz` or a folder) into CIFAR-10 binary files under `cache`, once.
/// Returns the folder holding `data_batch_*.bin` and `test_batch.bin`. Written into a temporary
/// folder and renamed, so a killed import leaves no half-written cache.
pub fn import_cached(src: &Path, cache: &Path, progress: bool) -> Result<PathBuf, DataError> {
    let key = source_key(src)?;
    let stem = src.file_name().unwrap_or_default().to_string_lossy().replace(".tar.gz", "");
    let dest = cache.join(format!("{stem}-{key}"));
    if dest.join(TEST_FILE).is_file() {
        return Ok(dest);
    }
    std::fs::create_dir_all(cache).map_err(io_err(cache))?;
    let members = if src.is_file() { read_tar_gz(src)? } else { read_dir_tree(src)? };
    let [train, test] = to_records(src, members, progress)?;
    let tmp = cache.join(format!(".tmp-{stem}-{key}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    let write = |name: &str, bytes: &[u8]| -> Result<(), DataError> {
        let p = tmp.join(name);
        let mut f = std::fs::File::create(&p).map_err(io_err(&p))?;
        f.write_all(bytes).map_err(io_err(&p))?;
        f.sync_all().map_err(io_err(&p))
    };
    for (i, chunk) in train.chunks(PER_FILE * RECORD).enumerate() {
        write(&train_file(i + 1), chunk)?;
    }
    write(TEST_FILE, &test)?;
    match std::fs::rename(&tmp, &dest) {
        Ok(()) => Ok(dest),
        // Another process finished the same import first: use theirs.
        Err(_) if dest.join(TEST_FILE).is_file() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(dest)
        }
        Err(e) => Err(DataError::Io { path: dest, cause: e }),
    }
}
