//! Permission drift under the home: Pyra creates every file 0600 and every folder 0700, so
//! anything more open was changed after (a `cp`, an editor, a umask, a sync tool). The home
//! itself and the daemon's socket readable by others are high; a symlink that points out
//! of the home inside a folder Pyra writes to (a write through it lands elsewhere) is high.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{Finding, Report, Severity};
use crate::home::Home;

/// Folders Pyra writes into: a symlink in them that leaves the home redirects its writes.
const WRITTEN: &[&str] = &["memory", "logs", "runs", "run", "plugins", "skills", "vault"];

pub fn check(home: &Home, report: &mut Report) {
    let root = &home.root;
    let canonical_root = root.canonicalize().unwrap_or_else(|_| root.clone());
    if let Ok(meta) = std::fs::metadata(root)
        && meta.mode() & 0o077 != 0
    {
        report.add(
            Finding::new(
                Severity::High,
                "permissions",
                ".",
                format!("the Pyra home is {:04o}: other users can list or read it", meta.mode() & 0o7777),
            )
            .fix(format!("chmod 700 {}", root.display())),
        );
    }
    let mut stack: Vec<PathBuf> = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            let kind = meta.file_type();
            if kind.is_symlink() {
                link(&canonical_root, &path, &rel, report);
                continue;
            }
            let mode = meta.permissions().mode() & 0o7777;
            if kind.is_dir() {
                if mode & 0o077 != 0 {
                    report.add(drift(&rel, mode, "folder", 0o700));
                }
                stack.push(path);
            } else if kind.is_socket() {
                if mode & 0o077 != 0 {
                    report.add(
                        Finding::new(
                            Severity::High,
                            "permissions",
                            &rel,
                            format!("the socket is {mode:04o}: other users could talk to the daemon"),
                        )
                        .fix("restart the daemon (`pyra daemon restart`), which makes it 0600"),
                    );
                }
            } else if mode & 0o077 != 0 {
                report.add(drift(&rel, mode, "file", 0o600));
            }
        }
    }
}

fn drift(rel: &str, mode: u32, what: &str, want: u32) -> Finding {
    // What holds secrets or everything Pyra did is worse when readable.
    let sensitive =
        rel.starts_with("vault") || rel.starts_with("pyra.db") || rel == "config.yaml" || rel.starts_with("logs");
    let severity = if sensitive { Severity::High } else { Severity::Medium };
    Finding::new(severity, "permissions", rel, format!("the {what} is {mode:04o}, not {want:04o}: others can read it"))
        .fix(format!("chmod {want:o} '{rel}' (from the Pyra home)"))
}

/// A symlink: one out of the home inside a folder Pyra writes to.
fn link(root: &Path, path: &Path, rel: &str, report: &mut Report) {
    let top = rel.split('/').next().unwrap_or("");
    if !WRITTEN.contains(&top) {
        return;
    }
    let target = std::fs::canonicalize(path);
    let outside = match &target {
        Ok(t) => !t.starts_with(root),
        // A dangling link: where it would lead is decided when something writes to it.
        Err(_) => true,
    };
    if outside {
        let shown = std::fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
        report.add(
            Finding::new(
                Severity::High,
                "permissions",
                rel,
                format!("a symlink out of the home ({shown}) where Pyra writes: its writes would land there"),
            )
            .fix(format!("remove it (`rm '{rel}'` from the Pyra home) unless you made it on purpose")),
        );
    }
}
