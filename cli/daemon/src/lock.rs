//! One daemon per home: `run/daemon.lock` under the home, locked (`flock`) for the daemon's
//! whole life and holding its pid. The kernel releases the lock when the process ends,
//! however it ends, so there is never a stale lock to clean up; the pid is only what
//! `status` and a second `start` show.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The folder under the home for the lock and the control socket.
pub const RUN_DIR: &str = "run";

/// The lock file's name in [`RUN_DIR`].
pub const LOCK_FILE: &str = "daemon.lock";

/// The held lock of a home's daemon; released when dropped or when the process dies.
#[derive(Debug)]
pub struct HomeLock {
    file: File,
    dir: PathBuf,
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("a daemon is already running for this home{}", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Held { pid: Option<u32> },
    #[error("cannot use {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// The run folder of a home, created owner-only (0700), its mode fixed if loosened.
pub fn run_dir(home: &Path) -> Result<PathBuf, LockError> {
    let dir = home.join(RUN_DIR);
    let io = |source| LockError::Io { path: dir.display().to_string(), source };
    std::fs::create_dir_all(&dir).map_err(io)?;
    paths::make_private(&dir, true);
    Ok(dir)
}

fn open(dir: &Path) -> Result<File, LockError> {
    let path = dir.join(LOCK_FILE);
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).read(true).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(&path).map_err(|source| LockError::Io { path: path.display().to_string(), source })
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

impl HomeLock {
    /// Takes the lock of the home whose run folder is `dir` (see [`run_dir`]) and writes
    /// this process's pid into it. `Err(Held)` names the running daemon's pid.
    pub fn acquire(dir: &Path) -> Result<HomeLock, LockError> {
        let mut file = open(dir)?;
        // A `holder` check by another command holds a shared lock for an instant and
        // writes no pid: try again briefly before saying a daemon runs.
        for attempt in 0..20 {
            match file.try_lock() {
                Ok(()) => {
                    let io = |source| LockError::Io { path: dir.join(LOCK_FILE).display().to_string(), source };
                    file.set_len(0).map_err(io)?;
                    file.rewind().map_err(io)?;
                    writeln!(file, "{}", std::process::id()).map_err(io)?;
                    file.sync_data().map_err(io)?;
                    return Ok(HomeLock { file, dir: dir.to_path_buf() });
                }
                Err(TryLockError::WouldBlock) => {
                    if let Some(pid) = read_pid(&mut file) {
                        return Err(LockError::Held { pid: Some(pid) });
                    }
                    if attempt < 19 {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                }
                Err(TryLockError::Error(source)) => {
                    return Err(LockError::Io { path: dir.join(LOCK_FILE).display().to_string(), source });
                }
            }
        }
        Err(LockError::Held { pid: None })
    }

    /// The run folder this lock guards.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for HomeLock {
    fn drop(&mut self) {
        // The pid goes first, so nobody reads a dead daemon's pid as a live one's.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// A daemon found running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Running {
    /// Its pid; `None` in the instant after it took the lock and before it wrote it.
    pub pid: Option<u32>,
}

/// The daemon running for the home whose run folder is `dir`, if one runs. Takes a shared
/// lock for an instant to find out, so it never mistakes a dead daemon's leftover file
/// for a live one.
pub fn holder(dir: &Path) -> Result<Option<Running>, LockError> {
    if !dir.join(LOCK_FILE).exists() {
        return Ok(None);
    }
    let mut file = open(dir)?;
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            Ok(None)
        }
        Err(TryLockError::WouldBlock) => Ok(Some(Running { pid: read_pid(&mut file) })),
        Err(TryLockError::Error(source)) => {
            Err(LockError::Io { path: dir.join(LOCK_FILE).display().to_string(), source })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_the_pid_is_known() {
        let home = tempfile::tempdir().unwrap();
        let dir = run_dir(home.path()).unwrap();
        assert_eq!(holder(&dir).unwrap(), None);
        let lock = HomeLock::acquire(&dir).unwrap();
        assert_eq!(holder(&dir).unwrap(), Some(Running { pid: Some(std::process::id()) }));
        // A second taker in this process gets its own open file, so the lock refuses it.
        match HomeLock::acquire(&dir) {
            Err(LockError::Held { pid }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Held, got {other:?}"),
        }
        drop(lock);
        assert_eq!(holder(&dir).unwrap(), None, "released on drop");
        let again = HomeLock::acquire(&dir).unwrap();
        assert_eq!(again.dir(), dir);
    }

    #[test]
    fn the_run_folder_is_owner_only_even_if_loosened() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let dir = run_dir(home.path()).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        run_dir(home.path()).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        let _lock = HomeLock::acquire(&dir).unwrap();
        assert_eq!(std::fs::metadata(dir.join(LOCK_FILE)).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
