//! OpenTelemetry export of Pyra's tracing spans (config.yaml `telemetry:`; the `cli`
//! crate's `telemetry` feature): [`layer`] is a `tracing` layer that turns each run into
//! a trace — the `run` span its root, node attempts, model calls (GenAI names), tool
//! calls, HTTP requests and approvals its spans — and sends them as OTLP/HTTP JSON to
//! `{endpoint}/v1/traces`, in batches, from a background thread.
//!
//! - `span.rs`: a finished span as plain data; `encode.rs`: the OTLP/JSON body, written
//!   by hand (see ARCHITECTURE.md: one HTTP stack);
//! - `layer.rs`: the layer (ids, attributes, status) and its per-callsite filter;
//! - `alone.rs`: the same as a subscriber of its own, for a process where the export is
//!   the only reader (no registry under it: half the cost per span);
//! - `export.rs`: the bounded queue and the exporter thread.
//!
//! **Architecture invariant:** a run never waits for telemetry — a span is pushed onto
//! a bounded queue without blocking, and when the queue is full or the collector cannot
//! be reached spans are dropped and counted ([`stats`]); every string exported passes
//! the process's masker and the key-shape redactor; a run's content (fields named
//! `input*`, `output*`, `gen_ai.prompt*`, `gen_ai.completion*`) is left out unless
//! [`Settings::export_content`]. No terminal IO; the only network is the collector.

mod alone;
mod encode;
mod export;
mod layer;
mod span;

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use encode::Resource;
pub use export::{BATCH, CAPACITY, Header, INTERVAL, MAX_TEXT, TIMEOUT};
pub use layer::{SPANS, is_content};

/// What to export where (built by the CLI from config.yaml's `telemetry:`).
pub struct Settings {
    /// The collector's base URL (`http://localhost:4318`); spans go to
    /// [`traces_url`] of it.
    pub endpoint: String,
    /// Extra request headers (a collector's key: [`Header::Vault`]).
    pub headers: Vec<(String, Header)>,
    /// `service.name` (default `pyra`).
    pub service_name: String,
    /// Export fields that carry a run's content ([`is_content`]), masked.
    pub export_content: bool,
    /// Reads [`Header::Vault`] values when the first batch is sent.
    pub secrets: Option<Arc<dyn runtime::secrets::SecretSource>>,
}

/// Where spans are posted: `{endpoint}/v1/traces`, or the endpoint as it is when it
/// already ends so.
pub fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with("/v1/traces") { base.to_string() } else { format!("{base}/v1/traces") }
}

/// The process's exporter (the first [`layer`] made), for [`stats`] and [`shutdown`].
static EXPORTER: OnceLock<Arc<export::Exporter>> = OnceLock::new();

/// The export layer, with its filter ([`SPANS`] and the events that fail them). Its
/// exporter becomes the process's: [`stats`] counts it, [`shutdown`] flushes it.
pub fn layer<S>(settings: Settings) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    export(settings).layer
}

/// The export, ready to be installed either way; both share one exporter.
pub struct Export<S> {
    /// A layer beside other readers (a log), with its own filter.
    pub layer: Box<dyn Layer<S> + Send + Sync>,
    /// The same export as the process's only subscriber, without `tracing_subscriber`'s
    /// registry: what a command installs when nothing else reads its spans.
    pub subscriber: Box<dyn Subscriber + Send + Sync>,
}

/// The export for `settings`, as a layer and as a subscriber of its own. Its exporter
/// becomes the process's: [`stats`] counts it, [`shutdown`] flushes it.
pub fn export<S>(settings: Settings) -> Export<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let target = export::Target {
        url: traces_url(&settings.endpoint),
        headers: settings.headers,
        secrets: settings.secrets,
        resource: Resource {
            service_name: settings.service_name,
            service_version: env!("CARGO_PKG_VERSION").to_string(),
        },
    };
    let exporter = Arc::new(export::Exporter::new(target, CAPACITY));
    let exporter = EXPORTER.get_or_init(|| exporter).clone();
    exporter.start();
    Export {
        layer: Box::new(layer::OtlpLayer::new(exporter.clone(), settings.export_content).with_filter(layer::Wanted)),
        subscriber: Box::new(alone::Alone::new(exporter, settings.export_content)),
    }
}

/// What the exporter has done so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Where spans go.
    pub url: String,
    /// Spans the collector took.
    pub exported: u64,
    /// Spans dropped (the queue full, or their batch not taken by the collector).
    pub dropped: u64,
    /// Why the last batch was not taken.
    pub last_error: Option<String>,
}

impl Stats {
    /// As `pyra daemon status --json` shows it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "endpoint": self.url,
            "exported": self.exported,
            "dropped": self.dropped,
            "last_error": self.last_error.as_deref().map(encode::masked),
        })
    }
}

/// The counts of this process's exporter; `None` when telemetry is off.
pub fn stats() -> Option<Stats> {
    let exporter = EXPORTER.get()?;
    let counters = &exporter.counters;
    Some(Stats {
        url: exporter.url.clone(),
        exported: counters.exported.load(Ordering::Relaxed),
        dropped: counters.dropped.load(Ordering::Relaxed),
        last_error: counters.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    })
}

/// The longest [`shutdown`] waits.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// Sends what is queued before the process exits, waiting at most [`SHUTDOWN_WAIT`].
/// Returns whether everything queued was handled in time (sent or dropped).
pub fn shutdown() -> bool {
    EXPORTER.get().is_none_or(|e| e.flush(SHUTDOWN_WAIT))
}
