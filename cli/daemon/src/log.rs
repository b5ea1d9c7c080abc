//! The daemon's log, `logs/daemon.log` under the home: one line per thing worth knowing
//! (start, stop, reloads, broken skills, slots, runs, task restarts), 0600, rotated by
//! size — past [`MAX_BYTES`] the file becomes `daemon.log.1` (the older ones shift, at
//! most [`KEEP`] kept). Also written to stderr when that is a terminal or a service
//! manager's journal (`--foreground`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Size at which the log rotates.
pub const MAX_BYTES: u64 = 5 << 20;

/// Rotated files kept (`daemon.log.1` … `daemon.log.3`).
pub const KEEP: usize = 3;

/// The log file's name under `logs/`.
pub const FILE: &str = "daemon.log";

/// An append-only, size-rotated log.
pub struct Log {
    path: PathBuf,
    file: Mutex<Option<(File, u64)>>,
    stderr: bool,
}

/// Opens the log file for appending, 0600.
pub fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

impl Log {
    /// The log of the home at `home`; `stderr`: also copy each line there.
    pub fn new(home: &Path, stderr: bool) -> Self {
        Self { path: home.join("logs").join(FILE), file: Mutex::new(None), stderr }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one line: time, level, message. Failing to log never stops the daemon.
    pub fn line(&self, level: &str, message: &str) {
        let at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let mut text = String::new();
        for (i, part) in message.lines().enumerate() {
            if i == 0 {
                text.push_str(&format!("{at} {level:<5} {part}\n"));
            } else {
                text.push_str(&format!("    {part}\n"));
            }
        }
        if self.stderr {
            // Never a panic when stderr is closed (eprint! would).
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
        let mut slot = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|(_, size)| *size + text.len() as u64 > MAX_BYTES) {
            *slot = None;
            self.rotate();
        }
        if slot.is_none() {
            let Ok(file) = open_append(&self.path) else { return };
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            *slot = Some((file, size));
        }
        if let Some((file, size)) = slot.as_mut()
            && file.write_all(text.as_bytes()).is_ok()
        {
            *size += text.len() as u64;
        }
    }

    pub fn info(&self, message: &str) {
        self.line("INFO", message);
    }

    pub fn warn(&self, message: &str) {
        self.line("WARN", message);
    }

    pub fn error(&self, message: &str) {
        self.line("ERROR", message);
    }

    fn rotate(&self) {
        let name = |i: usize| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{i}"));
            PathBuf::from(p)
        };
        let _ = std::fs::remove_file(name(KEEP));
        for i in (1..KEEP).rev() {
            let _ = std::fs::rename(name(i), name(i + 1));
        }
        let _ = std::fs::rename(&self.path, name(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn lines_are_appended_private_and_rotated_by_size() {
        let home = tempfile::tempdir().unwrap();
        let log = Log::new(home.path(), false);
        log.info("first\nsecond line");
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert!(text.contains("INFO  first\n    second line\n"), "{text}");
        assert_eq!(std::fs::metadata(log.path()).unwrap().permissions().mode() & 0o777, 0o600);
        let big = "x".repeat(1 << 20);
        for _ in 0..12 {
            log.info(&big);
        }
        let dir = home.path().join("logs");
        assert!(dir.join("daemon.log.1").exists() && dir.join("daemon.log.2").exists());
        assert!(!dir.join("daemon.log.4").exists(), "at most {KEEP} kept");
        assert!(std::fs::metadata(log.path()).unwrap().len() <= MAX_BYTES);
    }
}
