//! Logging, on `tracing`: the runtime, the model client, the plugins and the daemon emit
//! spans and events (run → node → attempt → model call / tool call / HTTP request, with
//! run id, skill, node, kind, attempt, trigger), and this module installs who reads them.
//!
//! - A command ([`init_cli`]): nothing unless `PYRA_LOG` (EnvFilter syntax, e.g.
//!   `PYRA_LOG=runtime=debug`) or `-v` (info), `-vv` (debug), `-vvv` (trace) asks; then
//!   plain lines on stderr. The progress view stays as it is.
//! - The daemon ([`init_daemon`]): JSON lines in `logs/daemon.log` (0600, rotated past
//!   [`MAX_BYTES`], [`KEEP`] kept), `info` and up unless `PYRA_LOG` says otherwise; plain
//!   lines on stderr too when that is a terminal or a service manager's journal.
//!
//! - Either may be given an [`Extra`] layer: the CLI's OpenTelemetry export (crate
//!   `telemetry`, which this crate does not depend on: it would bring reqwest). It has
//!   its own filter, so the readers above then get theirs per layer instead of one global
//!   filter, and a command exports its spans while showing nothing — through the
//!   export's subscriber of its own when it brings one and nothing else reads.
//!
//! **Invariant:** every byte any of them writes passes [`Masked`]: the values of the
//! vault this process has read are replaced by `[secret:NAME]` and key-shaped strings are
//! redacted — at the writer, so no call site can forget it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// A reader installed beside the others (the OpenTelemetry export): a layer with its own
/// filter, and possibly the same reader as a subscriber of its own, installed instead
/// when nothing else reads (a command without `-v`) — without the registry under it, a
/// span costs it about half.
pub struct Extra {
    pub layer: Box<dyn Layer<Registry> + Send + Sync>,
    pub alone: Option<Box<dyn Subscriber + Send + Sync>>,
}

impl From<Box<dyn Layer<Registry> + Send + Sync>> for Extra {
    fn from(layer: Box<dyn Layer<Registry> + Send + Sync>) -> Extra {
        Extra { layer, alone: None }
    }
}

/// Size at which the log rotates.
pub const MAX_BYTES: u64 = 5 << 20;

/// Rotated files kept (`daemon.log.1` … `daemon.log.3`).
pub const KEEP: usize = 3;

/// The log file's name under `logs/`.
pub const FILE: &str = "daemon.log";

/// The environment variable that selects what is logged (EnvFilter syntax).
pub const ENV: &str = "PYRA_LOG";

/// Opens a file for appending, 0600 (its folder created).
pub fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

/// The daemon's messages: `tracing` events under the target `pyra::daemon`.
pub struct Log {
    path: PathBuf,
}

impl Log {
    /// The log of the home at `home` (where [`init_daemon`] writes).
    pub fn new(home: &Path) -> Self {
        Self { path: home.join("logs").join(FILE) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn info(&self, message: &str) {
        tracing::info!(target: "pyra::daemon", "{message}");
    }

    pub fn warn(&self, message: &str) {
        tracing::warn!(target: "pyra::daemon", "{message}");
    }

    pub fn error(&self, message: &str) {
        tracing::error!(target: "pyra::daemon", "{message}");
    }
}

/// A file that rotates by size: past [`MAX_BYTES`] it becomes `NAME.1` (older ones
/// shift, [`KEEP`] kept) and a new one starts. Each write is one whole line.
pub struct RotatingFile {
    path: PathBuf,
    file: Mutex<Option<(File, u64)>>,
}

impl RotatingFile {
    pub fn new(path: PathBuf) -> Self {
        Self { path, file: Mutex::new(None) }
    }

    fn write_line(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut slot = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|(_, size)| *size + bytes.len() as u64 > MAX_BYTES) {
            *slot = None;
            self.rotate();
        }
        if slot.is_none() {
            let file = open_append(&self.path)?;
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            if size + bytes.len() as u64 > MAX_BYTES && size > 0 {
                drop(file);
                self.rotate();
                let file = open_append(&self.path)?;
                *slot = Some((file, 0));
            } else {
                *slot = Some((file, size));
            }
        }
        if let Some((file, size)) = slot.as_mut() {
            file.write_all(bytes)?;
            *size += bytes.len() as u64;
        }
        Ok(())
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

/// One line on its way to a [`RotatingFile`].
pub struct FileLine<'a>(&'a RotatingFile);

impl Write for FileLine<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_line(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for RotatingFile {
    type Writer = FileLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        FileLine(self)
    }
}

/// A writer maker whose every record is masked before it reaches `inner`: the vault
/// values this process read become `[secret:NAME]`, key-shaped strings are redacted.
pub struct Masked<M> {
    inner: M,
}

impl<M> Masked<M> {
    pub fn new(inner: M) -> Self {
        Self { inner }
    }
}

/// One record, collected whole, masked, then written once (when dropped).
pub struct MaskedRecord<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> Write for MaskedRecord<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for MaskedRecord<W> {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.buf);
        let masker = runtime::secrets::process_masker();
        let masked = masker.mask(&text);
        let redacted = security::redact::redact(&masked);
        // Failing to log never stops anything.
        let _ = self.inner.write_all(redacted.as_bytes());
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Masked<M> {
    type Writer = MaskedRecord<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        MaskedRecord { inner: self.inner.make_writer(), buf: Vec::new() }
    }
}

fn filter(default: &str) -> EnvFilter {
    match std::env::var(ENV) {
        Ok(spec) if !spec.trim().is_empty() => {
            EnvFilter::try_new(spec.trim()).unwrap_or_else(|_| EnvFilter::new(default))
        }
        _ => EnvFilter::new(default),
    }
}

/// Plain lines on stderr, masked.
fn plain<S>() -> impl Layer<S> + Send + Sync
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer().with_writer(Masked::new(std::io::stderr)).with_ansi(false).with_target(true)
}

/// JSON lines into `logs/daemon.log` under `home`, masked.
fn json<S>(home: &Path) -> impl Layer<S> + Send + Sync
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let file = RotatingFile::new(home.join("logs").join(FILE));
    tracing_subscriber::fmt::layer().json().with_current_span(true).with_span_list(false).with_writer(Masked::new(file))
}

/// A command's logging: silent unless `PYRA_LOG` is set or `verbosity` > 0 (then plain
/// lines on stderr); `extra` (the OpenTelemetry export) is installed either way. Returns
/// whether anything was installed.
pub fn init_cli(verbosity: u8, extra: Option<Extra>) -> bool {
    let asked = verbosity > 0 || std::env::var(ENV).is_ok_and(|s| !s.trim().is_empty());
    let default = match verbosity {
        0 | 1 => "info",
        2 => "debug",
        _ => "trace",
    };
    match (extra, asked) {
        (None, false) => false,
        (None, true) => tracing_subscriber::registry().with(filter(default)).with(plain()).try_init().is_ok(),
        (Some(Extra { alone: Some(alone), .. }), false) => tracing::subscriber::set_global_default(alone).is_ok(),
        (Some(extra), false) => tracing_subscriber::registry().with(extra.layer).try_init().is_ok(),
        (Some(extra), true) => tracing_subscriber::registry()
            .with(extra.layer)
            .with(plain().with_filter(filter(default)))
            .try_init()
            .is_ok(),
    }
}

/// The daemon's logging: JSON lines into `logs/daemon.log` under `home`, and plain lines on
/// stderr when `stderr` (a terminal, or a journal); `extra` (the OpenTelemetry export)
/// beside them.
pub fn init_daemon(home: &Path, stderr: bool, extra: Option<Extra>) -> bool {
    match extra {
        // One filter for both (a global one: callsites it turns off cost nothing at all).
        None => tracing_subscriber::registry()
            .with(filter("info"))
            .with(json(home))
            .with(stderr.then(plain))
            .try_init()
            .is_ok(),
        // The export wants spans the log does not (node attempts are `debug`): a filter
        // per reader. A callsite every filter turns off still costs nothing.
        Some(extra) => tracing_subscriber::registry()
            .with(extra.layer)
            .with(json(home).with_filter(filter("info")))
            .with(stderr.then(|| plain().with_filter(filter("info"))))
            .try_init()
            .is_ok(),
    }
}

/// A JSON log line as a person reads it: time, level, message, then the fields and the
/// span's (`run_id`, `skill`, `node`, …). A line that is not JSON is returned as it is.
pub fn human(line: &str) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(line) else {
        return line.to_string();
    };
    let text = |v: Option<&serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let fields = map.get("fields").and_then(|f| f.as_object());
    let mut out = format!(
        "{} {:<5} {}",
        text(map.get("timestamp")),
        text(map.get("level")),
        text(fields.and_then(|f| f.get("message")))
    );
    let mut extra = Vec::new();
    if let Some(fields) = fields {
        for (k, v) in fields {
            if k != "message" {
                extra.push(format!("{k}={}", text(Some(v))));
            }
        }
    }
    if let Some(serde_json::Value::Object(span)) = map.get("span") {
        for (k, v) in span {
            if k != "name" {
                extra.push(format!("{k}={}", text(Some(v))));
            }
        }
    }
    if !extra.is_empty() {
        out.push_str(&format!("  [{}]", extra.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn lines_are_appended_private_and_rotated_by_size() {
        let home = tempfile::tempdir().unwrap();
        let file = RotatingFile::new(home.path().join("logs").join(FILE));
        file.write_line(b"first\n").unwrap();
        let path = home.path().join("logs").join(FILE);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first\n");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let big = vec![b'x'; 1 << 20];
        for _ in 0..12 {
            file.write_line(&big).unwrap();
        }
        let dir = home.path().join("logs");
        assert!(dir.join("daemon.log.1").exists() && dir.join("daemon.log.2").exists());
        assert!(!dir.join("daemon.log.4").exists(), "at most {KEEP} kept");
        assert!(std::fs::metadata(&path).unwrap().len() <= MAX_BYTES);
    }

    #[test]
    fn every_record_is_masked_before_it_is_written() {
        runtime::secrets::process_masker().add("test:token", "s3cr3t-v4lue-xyz");
        let sink = std::sync::Arc::new(Mutex::new(Vec::<u8>::new()));
        struct Sink(std::sync::Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let masked = Masked::new({
            let sink = sink.clone();
            move || Sink(sink.clone())
        });
        let mut record = masked.make_writer();
        record.write_all(b"calling with s3cr3t-v4lue-xyz and ").unwrap();
        record.write_all(b"sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789\n").unwrap();
        drop(record);
        let written = String::from_utf8(sink.lock().unwrap().clone()).unwrap();
        assert!(written.contains("[secret:test:token]") && !written.contains("s3cr3t-v4lue-xyz"), "{written}");
        assert!(!written.contains("abcdefghijklmnopqrstuvwxyz0123456789"), "key-shaped text is redacted: {written}");
    }

    #[test]
    fn a_json_line_reads_as_time_level_message_and_fields() {
        let line = r#"{"timestamp":"2026-12-07T10:00:00Z","level":"INFO","fields":{"message":"run ended","status":"succeeded"},"target":"runtime","span":{"name":"run","run_id":"r1","skill":"s"}}"#;
        let shown = human(line);
        assert!(shown.starts_with("2026-12-07T10:00:00Z INFO  run ended"), "{shown}");
        assert!(
            shown.contains("status=succeeded") && shown.contains("run_id=r1") && shown.contains("skill=s"),
            "{shown}"
        );
        assert_eq!(human("not json"), "not json");
    }
}
