//! The watch source's file-system looks: a file's size and mtime, its hash, a folder's
//! identity, a root's files (the scan), and whether a mount can be trusted to deliver
//! events (statfs).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256};

use super::arm::Root;
use super::{Digest, Known, Stamp, WatchDef};
use crate::history::IndexRow;

pub(super) fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// A file's size and mtime, and how old that mtime is; `None` for no regular file.
pub(super) fn look(path: &Path) -> (Stamp, Option<Duration>) {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {
            let mtime = m.modified().ok();
            let ns =
                mtime.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as i64);
            let age = mtime.and_then(|t| SystemTime::now().duration_since(t).ok());
            (Some((m.len(), ns)), age)
        }
        _ => (None, None),
    }
}

pub(super) fn hash(path: &Path) -> Option<Digest> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).ok()?;
    Some(hasher.finalize().into())
}

/// A digest as the index stores it (hex).
pub(super) fn hex(digest: &Digest) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A stored digest; `None` when it is not 64 hex digits (then the file counts as changed).
pub(super) fn unhex(text: &str) -> Option<Digest> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Why a path's file system cannot be trusted to deliver events (statfs).
pub(super) fn untrusted_fs(path: &Path) -> Option<&'static str> {
    let mut at = path;
    loop {
        if let Ok(st) = rustix::fs::statfs(at) {
            #[allow(clippy::unnecessary_cast)]
            let magic = (st.f_type as u64) & 0xFFFF_FFFF;
            return match magic {
                0x6969 => Some("nfs"),
                0x517B => Some("smb"),
                0xFF53_4D42 | 0xFE53_4D42 => Some("cifs"),
                0x6573_5546 => Some("fuse"),
                _ => None,
            };
        }
        at = at.parent()?;
    }
}

pub(super) fn sysctl(name: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/{}", name.replace('.', "/")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

pub(super) fn row(path: &Path, known: &Known) -> IndexRow {
    IndexRow {
        path: path.to_string_lossy().into_owned(),
        size: known.size,
        mtime_ns: known.mtime_ns,
        hash: hex(&known.hash),
    }
}

/// Each file of a root that the trigger looks at, with its size and mtime, one at a time
/// (a tree of many files is never held in memory). Symlinked
/// folders are not followed (no loops).
pub(super) fn scan(root: &Root, def: &WatchDef, each: &mut dyn FnMut(PathBuf, (u64, i64))) {
    if root.file {
        if let (Some(stamp), _) = look(&root.path) {
            each(root.path.clone(), stamp);
        }
        return;
    }
    let mut folders = vec![root.path.clone()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                if def.recursive {
                    folders.push(path);
                }
                continue;
            }
            let relative = path.strip_prefix(&root.path).unwrap_or(&path);
            if !def.filter.matches(relative) {
                continue;
            }
            if let (Some(stamp), _) = look(&path) {
                each(path, stamp);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_goes_to_hex_and_back() {
        let digest: Digest = std::array::from_fn(|i| (i * 7) as u8);
        assert_eq!(unhex(&hex(&digest)), Some(digest));
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex(&"g".repeat(64)), None);
    }
}
