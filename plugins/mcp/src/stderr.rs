//! A stdio server's stderr: drained as fast as it comes (a 10 MB flood never blocks the
//! server on a full pipe), the last lines kept in a bounded buffer whose tail appears in
//! every error, and the lines written, masked, to `plugins/NAME/stderr.log` (rotated at
//! 1 MiB, one old file kept) for `pyra plugin logs NAME`.

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;

/// The most bytes of stderr kept in memory.
const KEEP: usize = 16 << 10;
/// One line is cut here (a server that never prints a newline).
const MAX_LINE: usize = 4 << 10;
/// The log file is rotated past this size.
const ROTATE_AT: u64 = 1 << 20;

#[derive(Default)]
struct Inner {
    lines: VecDeque<String>,
    kept: usize,
    total: u64,
}

/// The tail of a server's stderr.
#[derive(Clone, Default)]
pub struct Tail {
    inner: Arc<Mutex<Inner>>,
}

impl Tail {
    fn push(&self, line: String) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.kept += line.len();
        inner.lines.push_back(line);
        while inner.kept > KEEP {
            match inner.lines.pop_front() {
                Some(old) => inner.kept -= old.len(),
                None => break,
            }
        }
    }

    /// The last `n` lines, masked.
    pub fn last(&self, n: usize) -> Vec<String> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let masker = runtime::secrets::process_masker();
        let skip = inner.lines.len().saturating_sub(n);
        inner.lines.iter().skip(skip).map(|l| masker.mask(l).into_owned()).collect()
    }

    /// Bytes written to stderr so far.
    pub fn total(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).total
    }

    /// The tail as an indented block for an error message ("" when the server said nothing).
    pub fn for_error(&self) -> String {
        let lines = self.last(12);
        if lines.is_empty() {
            return String::new();
        }
        let total = self.total();
        let head = if total > KEEP as u64 {
            format!("last lines of its stderr ({total} bytes in all)")
        } else {
            "its stderr".into()
        };
        format!("\n  {head}:\n{}", lines.iter().map(|l| format!("    | {l}")).collect::<Vec<_>>().join("\n"))
    }
}

/// Reads `stream` until it closes, feeding `tail` and the log file.
pub async fn drain(mut stream: tokio::process::ChildStderr, tail: Tail, log: Option<PathBuf>) {
    let mut buf = vec![0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    let mut file = log.as_ref().and_then(open_log);
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        tail.inner.lock().unwrap_or_else(|e| e.into_inner()).total += n as u64;
        for &b in &buf[..n] {
            if b == b'\n' || line.len() >= MAX_LINE {
                finish(&mut line, &tail, &mut file, log.as_ref());
                if b == b'\n' {
                    continue;
                }
            }
            line.push(b);
        }
    }
    if !line.is_empty() {
        finish(&mut line, &tail, &mut file, log.as_ref());
    }
}

fn finish(line: &mut Vec<u8>, tail: &Tail, file: &mut Option<std::fs::File>, log: Option<&PathBuf>) {
    let text = String::from_utf8_lossy(line).trim_end_matches('\r').to_string();
    line.clear();
    if let (Some(f), Some(path)) = (file.as_mut(), log) {
        let masked = runtime::secrets::process_masker().mask(&text).into_owned();
        let _ = writeln!(f, "{masked}");
        if f.metadata().is_ok_and(|m| m.len() > ROTATE_AT) {
            let _ = std::fs::rename(path, path.with_extension("log.1"));
            *file = open_log(path);
        }
    }
    tail.push(text);
}

fn open_log(path: &PathBuf) -> Option<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).ok()
}
