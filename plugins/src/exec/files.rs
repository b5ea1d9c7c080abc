//! Executors for `file.read` (a UTF-8 text file, size-limited; its content is untrusted)
//! and `file.write` (atomic replace through a temporary file in the same folder, or
//! append). Every path goes through [`NodeCtx::check_path`] first.

use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use paths::Access;
use runtime::{BoxFuture, Executor, LogLevel, NodeCtx, NodeError, Outcome, Output};
use serde_json::{Value, json};

/// Largest file `file.read` accepts unless `max_bytes` says otherwise.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// `file.read`: the file's text, as a JSON string.
pub struct FileRead;

/// `file.write`: writes `content`; the output is `{path, bytes}`.
pub struct FileWrite;

fn str_field<'a>(with: &'a Value, field: &str) -> &'a str {
    with.get(field).and_then(Value::as_str).unwrap_or_default()
}

/// An I/O error as a node error: passing trouble is worth a retry, the rest is not.
fn io_error(what: &str, path: &Path, e: &io::Error) -> NodeError {
    let message = format!("cannot {what} {}: {e}", path.display());
    match e.kind() {
        io::ErrorKind::Interrupted | io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            NodeError::Retryable(message)
        }
        _ => NodeError::Fatal(message),
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, NodeError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| NodeError::Fatal(format!("file task failed: {e}")))?
}

impl Executor for FileRead {
    fn execute(&self, ctx: NodeCtx, with: Value) -> BoxFuture<'static, Result<Outcome, NodeError>> {
        Box::pin(async move {
            let path = ctx.check_path(str_field(&with, "path"), Access::Read)?;
            let max = with.get("max_bytes").and_then(Value::as_u64).unwrap_or(DEFAULT_MAX_BYTES);
            if ctx.cancel.is_cancelled() {
                return Err(NodeError::Cancelled);
            }
            let text = blocking(move || read_text(&path, max)).await?;
            ctx.scan_untrusted("the file", &text)?;
            Ok(Outcome::Done(Output::untrusted(Value::String(text))))
        })
    }
}

/// Reads a UTF-8 text file of at most `max` bytes.
pub fn read_text(path: &Path, max: u64) -> Result<String, NodeError> {
    // Checked before opening: opening a FIFO would block until someone writes to it.
    let meta = fs::metadata(path).map_err(|e| io_error("read", path, &e))?;
    if meta.is_dir() {
        return Err(NodeError::Fatal(format!("{} is a folder, not a file", path.display())));
    }
    if !meta.is_file() {
        return Err(NodeError::Fatal(format!("{} is not a regular file", path.display())));
    }
    let file = fs::File::open(path).map_err(|e| io_error("read", path, &e))?;
    let too_big = |size: String| {
        NodeError::Fatal(format!(
            "{} is {size} bytes, more than max_bytes ({max}); raise `max_bytes` to read it",
            path.display()
        ))
    };
    if meta.len() > max {
        return Err(too_big(meta.len().to_string()));
    }
    // The size can change under us (or be unknown, for special files): never read past the limit.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| io_error("read", path, &e))?;
    if bytes.len() as u64 > max {
        return Err(too_big(format!("more than {max}")));
    }
    String::from_utf8(bytes).map_err(|e| {
        NodeError::Fatal(format!(
            "{} is not UTF-8 text (invalid byte at offset {}); file.read only reads text",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}

impl Executor for FileWrite {
    fn execute(&self, ctx: NodeCtx, with: Value) -> BoxFuture<'static, Result<Outcome, NodeError>> {
        Box::pin(async move {
            let path = ctx.check_path(str_field(&with, "path"), Access::Write)?;
            let content = str_field(&with, "content").to_string();
            let append = with.get("append").and_then(Value::as_bool).unwrap_or(false);
            let create_dirs = with.get("create_dirs").and_then(Value::as_bool).unwrap_or(false);
            if ctx.cancel.is_cancelled() {
                return Err(NodeError::Cancelled);
            }
            // Once started the write is finished: it is short, and a replace is atomic anyway.
            let target = path.clone();
            let bytes = blocking(move || write_text(&target, &content, append, create_dirs)).await?;
            let how = if append { "appended" } else { "wrote" };
            ctx.log(LogLevel::Info, format!("{how} {bytes} bytes to {}", path.display()));
            Ok(Outcome::Done(Output::trusted(json!({ "path": path.display().to_string(), "bytes": bytes }))))
        })
    }
}

/// Writes `content` to an already checked path; returns the number of bytes written.
pub fn write_text(path: &Path, content: &str, append: bool, create_dirs: bool) -> Result<usize, NodeError> {
    let parent = parent_of(path)?;
    if !parent.is_dir() {
        if parent.exists() {
            return Err(NodeError::Fatal(format!("{} is not a folder", parent.display())));
        }
        if !create_dirs {
            return Err(NodeError::Fatal(format!(
                "parent folder {} does not exist; set `create_dirs: true` to create it",
                parent.display()
            )));
        }
        fs::create_dir_all(&parent).map_err(|e| io_error("create folder", &parent, &e))?;
    }
    if path.is_dir() {
        return Err(NodeError::Fatal(format!("{} is a folder, not a file", path.display())));
    }
    if append {
        let mut file =
            OpenOptions::new().append(true).create(true).open(path).map_err(|e| io_error("open", path, &e))?;
        file.write_all(content.as_bytes()).map_err(|e| io_error("write", path, &e))?;
        file.sync_all().map_err(|e| io_error("write", path, &e))?;
    } else {
        replace(path, &parent, content.as_bytes())?;
    }
    Ok(content.len())
}

fn parent_of(path: &Path) -> Result<PathBuf, NodeError> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => Ok(p.to_path_buf()),
        _ => Err(NodeError::Fatal(format!("{} has no parent folder", path.display()))),
    }
}

/// Atomic replace: a temporary file in the same folder, synced, then renamed over `path`.
/// A new file gets the usual permissions (umask applies); an existing one keeps its own.
fn replace(path: &Path, parent: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(Permissions::from_mode(0o666))
        .tempfile_in(parent)
        .map_err(|e| io_error("create a temporary file in", parent, &e))?;
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o7777;
        fs::set_permissions(tmp.path(), Permissions::from_mode(mode)).map_err(|e| io_error("write", path, &e))?;
    }
    tmp.write_all(bytes).map_err(|e| io_error("write", path, &e))?;
    tmp.as_file().sync_all().map_err(|e| io_error("write", path, &e))?;
    tmp.persist(path).map_err(|e| io_error("replace", path, &e.error))?;
    // Make the rename itself durable; a failure here leaves the file written, so it is ignored.
    if let Ok(dir) = fs::File::open(parent) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fatal(r: Result<impl std::fmt::Debug, NodeError>) -> String {
        match r {
            Err(NodeError::Fatal(m)) => m,
            other => panic!("expected a fatal error, got {other:?}"),
        }
    }

    #[test]
    fn reads_text_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        fs::write(&path, "héllo\n").unwrap();
        assert_eq!(read_text(&path, 100).unwrap(), "héllo\n");
        assert_eq!(read_text(&path, 7).unwrap(), "héllo\n");
        let m = fatal(read_text(&path, 6));
        assert!(m.contains("7 bytes, more than max_bytes (6)"), "{m}");
    }

    #[test]
    fn refuses_binary_folders_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin");
        fs::write(&path, [b'o', b'k', 0xff, 0xfe]).unwrap();
        let m = fatal(read_text(&path, 100));
        assert!(m.contains("not UTF-8 text (invalid byte at offset 2)"), "{m}");
        assert!(fatal(read_text(dir.path(), 100)).contains("is a folder"));
        assert!(fatal(read_text(&dir.path().join("nope"), 100)).contains("cannot read"));
    }

    #[test]
    fn replaces_atomically_and_keeps_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        assert_eq!(write_text(&path, "one", false, false).unwrap(), 3);
        assert_eq!(fs::read_to_string(&path).unwrap(), "one");
        fs::set_permissions(&path, Permissions::from_mode(0o640)).unwrap();
        write_text(&path, "two", false, false).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "no temporary file left behind: {names:?}");
    }

    #[test]
    fn new_files_are_not_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.txt");
        write_text(&path, "x", false, false).unwrap();
        // The temporary file's 0600 must not leak into the result: same mode as a plain write.
        let plain = dir.path().join("plain.txt");
        fs::write(&plain, "x").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), mode(&plain));
    }

    #[test]
    fn appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.txt");
        write_text(&path, "a\n", true, false).unwrap();
        write_text(&path, "b\n", true, false).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "a\nb\n");
    }

    #[test]
    fn missing_parent_needs_create_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x/y/z.txt");
        let m = fatal(write_text(&path, "hi", false, false));
        assert!(m.contains("does not exist; set `create_dirs: true`"), "{m}");
        write_text(&path, "hi", false, true).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "hi");
        assert!(fatal(write_text(dir.path(), "hi", false, false)).contains("is a folder"));
    }
}
