//! File-system side of memory: private folders and files, atomic writes, the writers' lock,
//! and the scan of `memory/**.md` that reconciliation compares with the index.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::MemoryError;

fn io(what: impl std::fmt::Display, e: std::io::Error) -> MemoryError {
    MemoryError::Io(format!("{what}: {e}"))
}

/// Open options that create files readable by the owner only.
pub fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Creates `dir` and any missing parents, owner-only.
pub fn private_dir(dir: &Path) -> Result<(), MemoryError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| io(format!("cannot create {}", dir.display()), e))
}

/// Makes sure `path` exists as an owner-only file (before SQLite opens it).
pub fn private_file(path: &Path) -> Result<(), MemoryError> {
    private_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map(drop)
        .map_err(|e| io(format!("cannot create {}", path.display()), e))
}

/// Writes `bytes` to `path` atomically: a temp file beside it, fsync, rename, fsync the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), MemoryError> {
    let dir = path.parent().ok_or_else(|| MemoryError::Io(format!("{} has no folder", path.display())))?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{file_name}.{}.{:016x}.tmp", std::process::id(), fastrand::u64(..)));
    let result = (|| {
        let mut file = private_options()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| io(format!("cannot write {}", temp.display()), e))?;
        file.write_all(bytes).map_err(|e| io(format!("cannot write {}", temp.display()), e))?;
        file.sync_all().map_err(|e| io(format!("cannot sync {}", temp.display()), e))?;
        drop(file);
        std::fs::rename(&temp, path).map_err(|e| io(format!("cannot replace {}", path.display()), e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Takes the exclusive writers' lock `dir/.lock`; it is released when the file is dropped.
pub fn lock(dir: &Path) -> Result<File, MemoryError> {
    let path = dir.join(".lock");
    let file = private_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io("cannot open the memory lock", e))?;
    file.lock().map_err(|e| io("cannot lock the memory", e))?;
    Ok(file)
}

/// Modification time in nanoseconds since the epoch (0 when unknown).
pub fn mtime_ns(meta: &Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// One markdown file found by [`scan`].
#[derive(Debug)]
pub struct Found {
    /// Path relative to the memory folder without `.md`, segments joined by `/`.
    pub name: String,
    pub path: PathBuf,
    pub mtime: i64,
    pub size: i64,
}

/// Lists `root/**.md`, skipping hidden entries, symbolic links and the generated
/// `MEMORY_INDEX.md`. Names that are not UTF-8 are reported in `warnings`.
pub fn scan(root: &Path, warnings: &mut Vec<String>) -> Result<Vec<Found>, MemoryError> {
    let mut found = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if dir == root => return Err(io(format!("cannot read {}", dir.display()), e)),
            Err(e) => {
                warnings.push(format!("cannot read {}: {e}", dir.display()));
                continue;
            }
        };
        for entry in entries {
            let entry = entry.map_err(|e| io(format!("cannot read {}", dir.display()), e))?;
            let path = entry.path();
            let Some(file_name) = entry.file_name().to_str().map(str::to_string) else {
                warnings.push(format!("skipped {}: the name is not UTF-8", path.display()));
                continue;
            };
            if file_name.starts_with('.') {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            if meta.is_dir() {
                stack.push((path, format!("{prefix}{file_name}/")));
            } else if meta.is_file()
                && let Some(stem) = file_name.strip_suffix(".md")
            {
                if prefix.is_empty() && stem == super::INDEX_NOTE {
                    continue;
                }
                found.push(Found {
                    name: format!("{prefix}{stem}"),
                    path,
                    mtime: mtime_ns(&meta),
                    size: i64::try_from(meta.len()).unwrap_or(i64::MAX),
                });
            }
        }
    }
    Ok(found)
}
