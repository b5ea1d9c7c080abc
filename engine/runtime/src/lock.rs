//! One lock file per running run (`$PYRA_HOME/runs/<id>.lock`), held by the process
//! running it. A run whose status says running but whose lock is free was interrupted:
//! its process died (a crash, `kill -9`). Unlike a pid check, this cannot be fooled by a
//! reused pid.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// A held run lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

fn open(dir: &Path, run_id: &str) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(dir.join(format!("{run_id}.lock")))
}

impl RunLock {
    /// Takes the lock of a run; `Ok(None)` when another process holds it.
    pub fn acquire(dir: &Path, run_id: &str) -> std::io::Result<Option<Self>> {
        let file = open(dir, run_id)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _file: file, path: dir.join(format!("{run_id}.lock")) })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether some process holds the lock of this run.
pub fn is_held(dir: &Path, run_id: &str) -> bool {
    let path = dir.join(format!("{run_id}.lock"));
    let Ok(file) = File::open(&path) else { return false };
    matches!(file.try_lock(), Err(TryLockError::WouldBlock))
}
