//! The one place a path from a skill becomes a file-system path: `~` expanded, made
//! absolute, symlinks resolved, then checked: never inside the vault or Pyra's own
//! database and config, and always under one of the allowed roots.

use std::path::{Component, Path, PathBuf};

/// What a node wants to do with a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// A working directory for a program.
    Directory,
}

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path `{given}`: {reason}")]
    Unusable { given: String, reason: String },
    #[error("path `{given}` resolves to `{resolved}`, inside Pyra's {what}; no node may touch it")]
    Protected { given: String, resolved: String, what: &'static str },
    #[error("path `{given}` resolves to `{resolved}`, outside the allowed folders ({roots})")]
    OutsideRoots { given: String, resolved: String, roots: String },
}

/// Allowed roots and protected places.
#[derive(Debug, Clone)]
pub struct PathPolicy {
    roots: Vec<PathBuf>,
    protected: Vec<(PathBuf, &'static str)>,
    base: PathBuf,
    user_home: Option<PathBuf>,
}

fn canonical_or_self(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

impl PathPolicy {
    /// The default policy: the user's home, the current directory and the temporary
    /// directory are allowed (plus `PYRA_ALLOWED_PATHS`, `:`-separated); the vault, the
    /// run database and the config under `pyra_home` are protected.
    pub fn new(pyra_home: &Path) -> Self {
        let user_home = std::env::var_os("HOME").map(PathBuf::from);
        let base = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let mut roots: Vec<PathBuf> = Vec::new();
        roots.extend(user_home.clone());
        roots.push(base.clone());
        roots.push(std::env::temp_dir());
        if let Some(extra) = std::env::var_os("PYRA_ALLOWED_PATHS") {
            roots.extend(std::env::split_paths(&extra).filter(|p| p.is_absolute()));
        }
        let roots = roots.iter().map(|r| canonical_or_self(r)).collect();
        let home = canonical_or_self(pyra_home);
        let protected = vec![
            (home.join("vault"), "vault"),
            (home.join("pyra.db"), "run database"),
            (home.join("pyra.db-wal"), "run database"),
            (home.join("pyra.db-shm"), "run database"),
            (home.join("config.yaml"), "config"),
            (home.join("runs"), "run locks"),
            // `pyra security audit`'s report: the assistant never reads its own audit.
            (home.join("security_audit.md"), "security audit report"),
        ];
        Self { roots, protected, base, user_home }
    }

    /// Resolves `given` and checks it for `access`.
    pub fn check(&self, given: &str, access: Access) -> Result<PathBuf, PathError> {
        let unusable = |reason: &str| PathError::Unusable { given: given.to_string(), reason: reason.to_string() };
        if given.is_empty() {
            return Err(unusable("is empty"));
        }
        if given.contains('\0') {
            return Err(unusable("contains a NUL byte"));
        }
        let expanded = if given == "~" || given.starts_with("~/") {
            let home = self.user_home.as_ref().ok_or_else(|| unusable("`~` used but HOME is not set"))?;
            expand_home(given, Some(home))
        } else {
            PathBuf::from(given)
        };
        let absolute = if expanded.is_absolute() { expanded } else { self.base.join(expanded) };
        let resolved = match access {
            Access::Read | Access::Directory => std::fs::canonicalize(&absolute).map_err(|e| {
                unusable(&if e.kind() == std::io::ErrorKind::NotFound {
                    "does not exist".to_string()
                } else {
                    e.to_string()
                })
            })?,
            Access::Write => resolve_for_write(&absolute).map_err(|r| unusable(&r))?,
        };
        for (place, what) in &self.protected {
            if resolved.starts_with(place) {
                return Err(PathError::Protected {
                    given: given.to_string(),
                    resolved: resolved.display().to_string(),
                    what,
                });
            }
        }
        if !self.roots.iter().any(|root| resolved.starts_with(root)) {
            let roots = self.roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", ");
            return Err(PathError::OutsideRoots {
                given: given.to_string(),
                resolved: resolved.display().to_string(),
                roots,
            });
        }
        if access == Access::Directory && !resolved.is_dir() {
            return Err(unusable("is not a directory"));
        }
        Ok(resolved)
    }
}

/// For a file that may not exist yet: resolve the deepest existing ancestor (symlinks
/// included) and append the rest, which may not contain `..`. An existing symlink at the
/// path itself is followed, so a link into the vault is caught.
fn resolve_for_write(path: &Path) -> Result<PathBuf, String> {
    if let Ok(real) = std::fs::canonicalize(path) {
        return Ok(real);
    }
    let mut existing = path.to_path_buf();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        if std::fs::symlink_metadata(&existing).is_ok() {
            break;
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => return Err("has no existing parent directory".into()),
        }
    }
    let mut resolved =
        std::fs::canonicalize(&existing).map_err(|e| format!("cannot resolve `{}`: {e}", existing.display()))?;
    for part in rest.iter().rev() {
        if Path::new(part).components().any(|c| matches!(c, Component::ParentDir)) {
            return Err("contains `..` after a folder that does not exist".into());
        }
        resolved.push(part);
    }
    Ok(resolved)
}

/// `~` and `~/…` expanded with `home` (none, or another path: unchanged). Settings that
/// name a file for another program (an ssh key, an rclone config) use it with the user's
/// HOME; [`PathPolicy::check`] with its own.
pub fn expand_home(path: &str, home: Option<&Path>) -> PathBuf {
    match home {
        Some(home) if path == "~" => home.to_path_buf(),
        Some(home) if path.starts_with("~/") => home.join(path[2..].trim_start_matches('/')),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_is_expanded_only_for_a_leading_tilde() {
        let home = Path::new("/home/ada");
        assert_eq!(expand_home("~", Some(home)), PathBuf::from("/home/ada"));
        assert_eq!(expand_home("~/.ssh/id", Some(home)), PathBuf::from("/home/ada/.ssh/id"));
        assert_eq!(expand_home("~bob/x", Some(home)), PathBuf::from("~bob/x"));
        assert_eq!(expand_home("/etc/~/x", Some(home)), PathBuf::from("/etc/~/x"));
        assert_eq!(expand_home("~/x", None), PathBuf::from("~/x"));
    }

    #[test]
    fn refuses_the_vault_even_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("vault")).unwrap();
        std::fs::write(home.join("vault/secrets.age"), "x").unwrap();
        let mut policy = PathPolicy::new(&home);
        policy.roots.push(canonical_or_self(dir.path()));
        let link = dir.path().join("innocent.txt");
        std::os::unix::fs::symlink(home.join("vault/secrets.age"), &link).unwrap();
        let err = policy.check(link.to_str().unwrap(), Access::Read).unwrap_err();
        assert!(matches!(err, PathError::Protected { what: "vault", .. }), "{err}");
        let err = policy.check(link.to_str().unwrap(), Access::Write).unwrap_err();
        assert!(matches!(err, PathError::Protected { .. }), "{err}");
        let ok = policy.check(dir.path().join("new/file.txt").to_str().unwrap(), Access::Write).unwrap();
        assert!(ok.ends_with("new/file.txt"));
        assert!(policy.check("/etc/../etc/passwd", Access::Read).is_err());
    }
}
