//! File-system side of memory: private folders and files, atomic writes, the writers' lock,
//! and the scan of `memory/**.md` that reconciliation compares with the index.
//!
//! Folders are made 0700 also when they already exist (a folder created by hand, or by a
//! sync tool, is usually 0755), through [`paths::make_private`], as the CLI's
//! check of the home's top level does.

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

/// Makes an existing folder owner-only (0700) when group or others may use it; returns a
/// note saying what was fixed (symbolic links are left alone).
pub fn fix_dir_mode(dir: &Path) -> Option<String> {
    std::fs::symlink_metadata(dir).ok().filter(|m| m.is_dir())?;
    paths::make_private(dir, true)
}

/// Creates `dir` and any missing parents, owner-only; an existing `dir` that others may
/// use is made owner-only, and the note saying so is returned.
pub fn private_dir(dir: &Path) -> Result<Option<String>, MemoryError> {
    if dir.is_dir() {
        return Ok(fix_dir_mode(dir));
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map(|()| None).map_err(|e| io(format!("cannot create {}", dir.display()), e))
}

/// Makes sure `path` exists as an owner-only file (before SQLite opens it).
pub fn private_file(path: &Path) -> Result<(), MemoryError> {
    db::create_private(path).map_err(|e| io(format!("cannot create {}", path.display()), e))
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

/// What [`scan`] found.
#[derive(Debug, Default)]
pub struct Scan {
    pub found: Vec<Found>,
    /// Markdown files (or folders) that cannot be notes: their names are not UTF-8.
    pub skipped: usize,
    /// One line per skipped entry or unreadable folder.
    pub warnings: Vec<String>,
    /// One line per folder made owner-only (done once, so reported apart).
    pub fixed: Vec<String>,
}

/// Lists `root/**.md`, skipping hidden entries, symbolic links and the generated
/// `MEMORY_INDEX.md`. Markdown files and folders whose names are not UTF-8 are counted
/// and reported; folders that others may use are made owner-only and reported.
pub fn scan(root: &Path) -> Result<Scan, MemoryError> {
    let mut scan = Scan::default();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if dir == root => return Err(io(format!("cannot read {}", dir.display()), e)),
            Err(e) => {
                scan.warnings.push(format!("cannot read {}: {e}", dir.display()));
                continue;
            }
        };
        for entry in entries {
            let entry = entry.map_err(|e| io(format!("cannot read {}", dir.display()), e))?;
            let path = entry.path();
            let Some(file_name) = entry.file_name().to_str().map(str::to_string) else {
                let lossy = entry.file_name().to_string_lossy().into_owned();
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                if !lossy.starts_with('.') && (is_dir || lossy.ends_with(".md")) {
                    scan.skipped += 1;
                    scan.warnings.push(format!(
                        "skipped {}: the name is not UTF-8\n  help: rename it (e.g. `convmv -f latin1 -t utf-8`) \
                         or move it out of the memory folder",
                        path.display()
                    ));
                }
                continue;
            };
            if file_name.starts_with('.') {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            if meta.is_dir() {
                scan.fixed.extend(fix_dir_mode(&path));
                stack.push((path, format!("{prefix}{file_name}/")));
            } else if meta.is_file()
                && let Some(stem) = file_name.strip_suffix(".md")
            {
                if prefix.is_empty() && stem == super::INDEX_NOTE {
                    continue;
                }
                scan.found.push(Found {
                    name: format!("{prefix}{stem}"),
                    path,
                    mtime: mtime_ns(&meta),
                    size: i64::try_from(meta.len()).unwrap_or(i64::MAX),
                });
            }
        }
    }
    Ok(scan)
}
