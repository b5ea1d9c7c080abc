//! Owner-only modes for what Pyra keeps under its home (DESIGN §11: directories 0700,
//! files 0600): the one check-and-fix that the CLI's home check and the memory's folders
//! share, with the one message that says what was fixed.

use std::path::Path;

/// Makes `path` owner-only (0700 for a folder, 0600 for a file) when its group or others
/// may use it, and says so (`fixed permissions of PATH (755 → 700)`). Symbolic links and
/// paths that cannot be read or changed are left alone.
pub fn make_private(path: &Path, is_dir: bool) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(path).ok()?;
        if meta.file_type().is_symlink() {
            return None;
        }
        let want = if is_dir { 0o700 } else { 0o600 };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 && std::fs::set_permissions(path, std::fs::Permissions::from_mode(want)).is_ok() {
            return Some(format!("fixed permissions of {} ({mode:o} → {want:o})", path.display()));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, is_dir);
    None
}

/// Writes `bytes` to `path` owner-only (0600) and atomically: a temporary file beside it,
/// synced, then renamed over it, so a reader sees the old or the new file, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn loose_modes_are_fixed_and_said_private_ones_left() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("notes");
        std::fs::create_dir(&folder).unwrap();
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
        let note = make_private(&folder, true).unwrap();
        assert!(note.ends_with("notes (755 → 700)"), "{note}");
        assert_eq!(std::fs::metadata(&folder).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(make_private(&folder, true), None);
        let file = dir.path().join("a.md");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(make_private(&file, false).unwrap().ends_with("(644 → 600)"));
        assert_eq!(make_private(&dir.path().join("missing"), false), None);
    }
}
