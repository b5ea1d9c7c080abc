//! `$PYRA_HOME`: where it is, and creating its folders with private permissions
//! (directories 0700, files 0600) when a command first writes there.

use std::fs;
use std::path::{Path, PathBuf};

use crate::failure::Failure;

/// The resolved home directory of this invocation.
#[derive(Debug, Clone)]
pub struct Home {
    pub root: PathBuf,
    /// The profile this home is (`--profile` / `PYRA_PROFILE`), if any: then the base
    /// home is `root/../..`.
    pub profile: Option<String>,
}

impl Home {
    /// `--home`, then `PYRA_HOME` (both via clap), then `~/.pyra`; `--profile NAME` (or
    /// `PYRA_PROFILE`) selects `<home>/profiles/NAME`.
    pub fn resolve(home: Option<&Path>, profile: Option<&str>) -> Result<Self, Failure> {
        let base = match home {
            Some(h) => h.to_path_buf(),
            None => {
                let user_home = std::env::var_os("HOME")
                    .ok_or_else(|| Failure::usage("cannot find the home directory: set PYRA_HOME or HOME"))?;
                PathBuf::from(user_home).join(".pyra")
            }
        };
        let root = match profile {
            Some(name) => {
                let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !ok {
                    return Err(Failure::usage(format!(
                        "invalid profile name `{name}`: use letters, digits, `-` and `_`"
                    )));
                }
                base.join("profiles").join(name)
            }
            None => base,
        };
        Ok(Self { root, profile: profile.map(str::to_string) })
    }

    /// A home at `root`, no profile.
    pub fn at(root: PathBuf) -> Self {
        Self { root, profile: None }
    }

    /// The active profile's name (`None`: the base home).
    pub fn profile(&self) -> Option<String> {
        self.profile.clone()
    }

    /// The base home the profiles live under.
    pub fn base(&self) -> PathBuf {
        match &self.profile {
            Some(_) => self.root.parent().and_then(Path::parent).map_or_else(|| self.root.clone(), Path::to_path_buf),
            None => self.root.clone(),
        }
    }

    pub fn skills_dir(&self) -> PathBuf {
        self.root.join("skills")
    }

    pub fn schema_file(&self) -> PathBuf {
        self.root.join("schemas").join("skill.schema.json")
    }

    /// Fixes (and reports, on stderr) permissions that are not private under the home.
    pub fn warn_permissions(&self) {
        for note in self.fix_permissions() {
            term::output::err(&format!("warning: {note}\n"));
        }
    }

    /// Checks that the home and what Pyra keeps in it are private (directories 0700, files
    /// 0600) and fixes what is not, returning one note per fix. It looks at the home, its
    /// direct entries, and everything in `vault/` and `logs/` — cheap enough for every
    /// command; user content such as skills is not walked.
    pub fn fix_permissions(&self) -> Vec<String> {
        let mut notes = Vec::new();
        let mut fix = |path: &Path, is_dir: bool| notes.extend(paths::make_private(path, is_dir));
        if !self.root.is_dir() {
            return notes;
        }
        fix(&self.root, true);
        let entries: Vec<_> = fs::read_dir(&self.root).into_iter().flatten().flatten().collect();
        for entry in entries {
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            fix(&path, is_dir);
            let name = entry.file_name();
            if is_dir && (name == "vault" || name == "logs") {
                for inner in fs::read_dir(&path).into_iter().flatten().flatten() {
                    let inner_dir = inner.file_type().is_ok_and(|t| t.is_dir());
                    fix(&inner.path(), inner_dir);
                }
            }
        }
        notes
    }

    /// Creates a directory under the home (and its parents up to the home) as 0700.
    pub fn ensure_dir(&self, dir: &Path) -> std::io::Result<()> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir)
    }
}

/// Writes a file atomically (temp file in the same directory, fsync, rename) with mode 0600.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    paths::write_atomic(path, contents)
}
