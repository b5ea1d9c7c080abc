//! The fuzz targets' bodies, one function per target, shared by the cargo-fuzz binaries
//! (`fuzz_targets/`, nightly) and the corpus replay `tests/it/fuzz_corpus.rs` (stable).
//! Each asserts "no panic, no hang" and a property of its parser where one is cheap; a
//! failed assertion is a crash to the fuzzer.

mod channel_updates;
mod config;
mod cron;
mod ipc;
mod mcp;
mod memory_query;
mod model_stream;
mod skill;
mod template;
mod webhook;

pub use channel_updates::channel_updates;
pub use config::config;
pub use cron::cron;
pub use ipc::ipc;
pub use mcp::mcp;
pub use memory_query::memory_query;
pub use model_stream::model_stream;
pub use skill::skill;
pub use template::template;
pub use webhook::webhook;

/// A target's name (its `corpus/NAME/` folder) and body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target by name, as `corpus/NAME/` names them.
pub const TARGETS: &[Target] = &[
    ("skill", skill),
    ("template", template),
    ("model_stream", model_stream),
    ("memory_query", memory_query),
    ("cron", cron),
    ("config", config),
    ("ipc", ipc),
    ("webhook", webhook),
    ("mcp", mcp),
    ("channel_updates", channel_updates),
];

use std::sync::OnceLock;

use syntax::diag::Diagnostic;
use syntax::source::SourceFile;

/// Asserts that a diagnostic points inside the file it names (or `file`), on character
/// boundaries once snapped, and that it renders as text and JSON.
fn check_diagnostic(file: &SourceFile, diag: &Diagnostic) {
    let file = diag.file_or(file);
    let len = file.text().len();
    let spans = diag.span.iter().chain(diag.related.iter().map(|(s, _)| s));
    for span in spans {
        assert!(
            span.start <= span.end && span.end <= len,
            "diagnostic `{}` ({}) has span {span:?} outside the {len}-byte input",
            diag.code,
            diag.message
        );
    }
    let _ = diag.render(file, false);
    let _ = diag.to_json(file);
}

/// Cuts `bytes` at up to `cuts.len()` points chosen by `cuts` (each byte a fraction of
/// the length), in order.
fn pieces<'a>(bytes: &'a [u8], cuts: &[u8]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| bytes.len() * usize::from(*c) / 255).collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for p in points {
        out.push(&bytes[start..p]);
        start = p;
    }
    out.push(&bytes[start..]);
    out
}

/// The built-in kinds, as `pyra run` has them (built once per process).
fn skill_kinds() -> &'static runtime::Kinds {
    static KINDS: OnceLock<runtime::Kinds> = OnceLock::new();
    KINDS.get_or_init(plugins::builtin_registry)
}
