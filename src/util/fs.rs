//! Files written whole or not at all, and the one cache folder.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Write `bytes` to `path` atomically: a uniquely named temporary file in the same folder
/// (created if missing), fsynced, then renamed over `path`. A reader sees the old file or the
/// new one, never a torn one; on any failure the temporary file is removed (`tempfile` deletes
/// it on drop unless persisted), so failed writes leave nothing behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let prefix = format!(".{}.", path.file_name().unwrap_or_default().to_string_lossy());
    let mut tmp = tempfile::Builder::new().prefix(&prefix).suffix(".tmp").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The cache folder (imported datasets, compiled C models): `$AXDNN_CACHE` if set and not
/// empty, else `$XDG_CACHE_HOME/axdnn`, else `~/.cache/axdnn`, else `axdnn-cache` in the
/// system's temporary folder.
pub fn cache_dir() -> PathBuf {
    let var = |k: &str| std::env::var_os(k).filter(|s| !s.is_empty()).map(PathBuf::from);
    if let Some(p) = var("AXDNN_CACHE") {
        return p;
    }
    if let Some(p) = var("XDG_CACHE_HOME") {
        return p.join("axdnn");
    }
    if let Some(p) = var("HOME") {
        return p.join(".cache").join("axdnn");
    }
    std::env::temp_dir().join("axdnn-cache")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/x.csv");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(d.path().join("sub")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.csv")]);
        // A failed rename (the target is a folder) removes the temporary file.
        std::fs::create_dir(d.path().join("sub/dir")).unwrap();
        std::fs::write(d.path().join("sub/dir/keep"), b"").unwrap();
        assert!(write_atomic(&d.path().join("sub/dir"), b"x").is_err());
        assert_eq!(std::fs::read_dir(d.path().join("sub")).unwrap().count(), 2);
    }
}
