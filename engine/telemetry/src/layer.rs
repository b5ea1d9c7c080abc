//! The tracing layer: each span it is given becomes an OTLP span. A span gets a random
//! 8-byte id and its parent's trace id (a span without one — a top-level run — starts a
//! trace with a random 16-byte id); its fields become attributes, also those recorded
//! later (token counts); an event inside it with an `error` field, or at level ERROR,
//! sets its status to error; when it closes it is queued for the exporter.
//!
//! [`Wanted`] is the layer's own filter, decided once per callsite: the spans named in
//! [`SPANS`] (node attempts are `debug`, so they are exported without `-v`) and the events
//! that can fail a span; everything else costs nothing.

use std::fmt::Write;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::export::Exporter;
use crate::span::{Attributes as Attrs, Kind, SpanData, Value, append};

/// The spans exported, by name: a run (a trace's root), a node attempt, a model call, a
/// tool call, an HTTP request, an approval.
pub const SPANS: &[&str] = &["run", "node", "model.call", "tool.call", "http.request", "approval"];

/// Whether a field carries a run's content (inputs, outputs, prompts, completions),
/// exported only when `telemetry.export_content` is on.
pub fn is_content(field: &str) -> bool {
    // Asked for every field of every span: most names start with none of `i`, `o`, `g`.
    matches!(field.as_bytes().first(), Some(b'i' | b'o' | b'g'))
        && ["input", "output", "gen_ai.prompt", "gen_ai.completion"].iter().any(|p| field.starts_with(p))
}

/// Nanoseconds since the Unix epoch.
fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// A random id that is not all zeros (OTLP's "invalid").
fn random_id<const N: usize>() -> [u8; N] {
    loop {
        let mut id = [0u8; N];
        for chunk in id.chunks_mut(8) {
            let bytes = fastrand::u64(..).to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        if id.iter().any(|b| *b != 0) {
            return id;
        }
    }
}

/// A span still open: kept in the registry's extensions by [`OtlpLayer`], in its own
/// table by [`crate::alone::Alone`].
#[derive(Default)]
pub(crate) struct Open {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent_id: Option<[u8; 8]>,
    start: u64,
    /// Its string values, one after another (one allocation, reused by `Alone`).
    text: String,
    attributes: Attrs,
    error: Option<(u32, u32)>,
}

impl Open {
    /// A span starting now under `parent` (its trace id and span id; none: a new
    /// trace), its string values to go into `text` (emptied), its fields recorded.
    pub(crate) fn start(
        parent: Option<([u8; 16], [u8; 8])>,
        mut text: String,
        attrs: &Attributes<'_>,
        content: bool,
    ) -> Open {
        let (trace_id, parent_id) = match parent {
            Some((trace, parent)) => (trace, Some(parent)),
            None => (random_id(), None),
        };
        text.clear();
        let mut open = Open {
            trace_id,
            span_id: random_id(),
            parent_id,
            start: now(),
            text,
            attributes: Attrs::default(),
            error: None,
        };
        attrs.record(&mut Fields { text: &mut open.text, attributes: &mut open.attributes, content });
        open
    }

    /// Its trace id and span id, for a child.
    pub(crate) fn ids(&self) -> ([u8; 16], [u8; 8]) {
        (self.trace_id, self.span_id)
    }

    /// Fields recorded after it started (token counts).
    pub(crate) fn record(&mut self, values: &Record<'_>, content: bool) {
        values.record(&mut Fields { text: &mut self.text, attributes: &mut self.attributes, content });
    }

    /// An event inside it: one with an `error` field, or at level ERROR, fails it.
    pub(crate) fn event(&mut self, event: &Event<'_>) {
        let mut failure = Failure { text: &mut self.text, error: None, message: None };
        event.record(&mut failure);
        let why = match (failure.error, failure.message) {
            (Some(error), _) => Some(error),
            (None, message) if *event.metadata().level() == Level::ERROR => {
                Some(message.unwrap_or_else(|| append(&mut self.text, "error")))
            }
            _ => None,
        };
        if why.is_some() {
            // The last one: a run's end says why it failed.
            self.error = why;
        }
    }

    /// Ends it now and queues it as `name` (its text stays, for reuse).
    pub(crate) fn close(&self, name: &'static str, exporter: &Exporter) {
        let data = SpanData {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_id: self.parent_id,
            name,
            kind: Kind::of(name),
            start: self.start,
            end: now(),
            attributes: self.attributes,
            error: self.error,
        };
        exporter.push(&data, &self.text);
    }

    /// Adds what was recorded into `other` (a scratch span): its attributes replace
    /// these, its error this one.
    pub(crate) fn merge(&mut self, other: &Open) {
        let by = self.text.len() as u32;
        self.text.push_str(&other.text);
        for &(key, value) in other.attributes.iter() {
            let value = match value {
                Value::Str(start, end) => Value::Str(start + by, end + by),
                other => other,
            };
            self.attributes.set(key, value);
        }
        if let Some((start, end)) = other.error {
            self.error = Some((start + by, end + by));
        }
    }

    /// Takes its text out (for reuse), leaving it empty.
    pub(crate) fn take_text(&mut self) -> String {
        std::mem::take(&mut self.text)
    }
}

/// Records fields as attributes (content fields only when allowed).
struct Fields<'a> {
    text: &'a mut String,
    attributes: &'a mut Attrs,
    content: bool,
}

impl Fields<'_> {
    fn wanted(&self, field: &Field) -> bool {
        self.content || !is_content(field.name())
    }

    fn set(&mut self, field: &Field, value: Value) {
        if self.wanted(field) {
            self.attributes.set(field.name(), value);
        }
    }
}

impl Visit for Fields<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field, Value::Int(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(v) => self.set(field, Value::Int(v)),
            Err(_) => self.record_str(field, &value.to_string()),
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, Value::Bool(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field, Value::Double(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.wanted(field) {
            let (start, end) = append(self.text, value);
            self.attributes.set(field.name(), Value::Str(start, end));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if self.wanted(field) {
            let start = self.text.len() as u32;
            let _ = write!(self.text, "{value:?}");
            self.attributes.set(field.name(), Value::Str(start, self.text.len() as u32));
        }
    }
}

/// An event's `error` field and message, written into the span's text.
struct Failure<'a> {
    text: &'a mut String,
    error: Option<(u32, u32)>,
    message: Option<(u32, u32)>,
}

impl Visit for Failure<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "error" => self.error = Some(append(self.text, value)),
            "message" => self.message = Some(append(self.text, value)),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let slot = match field.name() {
            "error" => &mut self.error,
            "message" => &mut self.message,
            _ => return,
        };
        let start = self.text.len() as u32;
        let _ = write!(self.text, "{value:?}");
        *slot = Some((start, self.text.len() as u32));
    }
}

/// Turns spans into OTLP spans for an [`Exporter`].
pub struct OtlpLayer {
    exporter: Arc<Exporter>,
    export_content: bool,
}

impl OtlpLayer {
    pub fn new(exporter: Arc<Exporter>, export_content: bool) -> OtlpLayer {
        OtlpLayer { exporter, export_content }
    }
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let parent = span.parent().and_then(|p| p.extensions().get::<Open>().map(Open::ids));
        let open = Open::start(parent, String::with_capacity(96), attrs, self.export_content);
        span.extensions_mut().insert(open);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(open) = span.extensions_mut().get_mut::<Open>() {
            open.record(values, self.export_content);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else { return };
        if let Some(open) = span.extensions_mut().get_mut::<Open>() {
            open.event(event);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let open = span.extensions_mut().remove::<Open>();
        if let Some(open) = open {
            open.close(span.metadata().name(), &self.exporter);
        }
    }
}

/// The layer's filter: the spans in [`SPANS`] (`debug` and up) and the events that can fail one (an
/// `error` field, or level ERROR; `info` and up), decided once per callsite.
pub struct Wanted;

impl Wanted {
    pub fn wants(meta: &Metadata<'_>) -> bool {
        let level = *meta.level();
        if meta.is_span() {
            return level <= Level::DEBUG && SPANS.contains(&meta.name());
        }
        level <= Level::INFO && (level == Level::ERROR || meta.fields().field("error").is_some())
    }
}

impl<S> Filter<S> for Wanted {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        Self::wants(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if Self::wants(meta) { Interest::always() } else { Interest::never() }
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        // Node attempts are `debug` spans.
        Some(tracing::level_filters::LevelFilter::DEBUG)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    /// An attribute's value with its text.
    #[derive(Debug, Clone, PartialEq)]
    enum V {
        S(String),
        I(i64),
        B(bool),
    }

    /// A queued span with its strings.
    struct Got {
        data: crate::span::Stored,
        attributes: Vec<(&'static str, V)>,
        error: Option<String>,
    }

    impl std::ops::Deref for Got {
        type Target = crate::span::Stored;
        fn deref(&self) -> &crate::span::Stored {
            &self.data
        }
    }

    impl Got {
        fn attr(&self, key: &str) -> Option<V> {
            self.attributes.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
        }
    }

    /// Runs `f` under a subscriber with only this layer, and under the export's subscriber
    /// of its own (`Alone`); checks that both queued the same spans (names, attributes,
    /// statuses, parents and traces) and returns the layer's.
    fn capture(content: bool, f: impl Fn()) -> Vec<Got> {
        let layered = capture_with(false, content, &f);
        let alone = capture_with(true, content, &f);
        assert_eq!(shape(&layered), shape(&alone), "the subscriber of its own exports what the layer does");
        layered
    }

    /// The spans without their ids and times: each one's parent and trace as the position
    /// of the span (the first span of the trace) in the list.
    #[allow(clippy::type_complexity)]
    fn shape(spans: &[Got]) -> Vec<(&'static str, Kind, Vec<(&'static str, V)>, Option<String>, Option<usize>, usize)> {
        spans
            .iter()
            .map(|s| {
                let parent = s.parent_id.map(|p| spans.iter().position(|o| o.span_id == p).expect("the parent"));
                let trace = spans.iter().position(|o| o.trace_id == s.trace_id).unwrap_or(0);
                (s.name, s.kind, s.attributes.clone(), s.error.clone(), parent, trace)
            })
            .collect()
    }

    fn capture_with(alone: bool, content: bool, f: &dyn Fn()) -> Vec<Got> {
        let exporter = Arc::new(Exporter::detached(1024));
        if alone {
            tracing::subscriber::with_default(crate::alone::Alone::new(exporter.clone(), content), f);
        } else {
            let layer = OtlpLayer::new(exporter.clone(), content).with_filter(Wanted);
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
        }
        let batch = exporter.take_queued();
        batch
            .spans
            .iter()
            .map(|span| Got {
                data: *span,
                attributes: batch
                    .attributes(span)
                    .iter()
                    .map(|(k, v)| {
                        let v = match *v {
                            Value::Str(a, b) => V::S(batch.str((a, b)).to_string()),
                            Value::Int(i) => V::I(i),
                            Value::Bool(b) => V::B(b),
                            Value::Double(d) => V::S(d.to_string()),
                        };
                        (*k, v)
                    })
                    .collect(),
                error: span.error.map(|r| batch.str(r).to_string()),
            })
            .collect()
    }

    #[test]
    fn a_run_is_a_trace_its_nodes_and_calls_children() {
        let spans = capture(false, || {
            let run = tracing::info_span!("run", run_id = "r1", skill = "s", depth = 0u32, resumed = false);
            run.in_scope(|| {
                let node = tracing::debug_span!("node", node = "a", kind = "llm", attempt = 1u32);
                node.in_scope(|| {
                    // A span not exported sits between: its child hangs from the node.
                    let inner = tracing::info_span!("something.else");
                    inner.in_scope(|| {
                        let call = tracing::info_span!(
                            "model.call",
                            gen_ai.request.model = "m",
                            gen_ai.usage.input_tokens = tracing::field::Empty,
                            gen_ai.usage.output_tokens = tracing::field::Empty,
                        );
                        call.record("gen_ai.usage.input_tokens", 12u64);
                    });
                });
            });
            // Another top-level run: another trace.
            let _ = tracing::info_span!("run", run_id = "r2");
        });
        let names: Vec<&str> = spans.iter().map(|s| s.name).collect();
        // Closed innermost first; the second run (dropped at once) before the first.
        assert_eq!(names, ["model.call", "node", "run", "run"]);
        let (call, node, other, run) = (&spans[0], &spans[1], &spans[2], &spans[3]);
        assert_eq!(run.parent_id, None);
        assert_eq!(node.parent_id, Some(run.span_id));
        assert_eq!(call.parent_id, Some(node.span_id));
        assert!(call.trace_id == run.trace_id && node.trace_id == run.trace_id);
        assert_ne!(other.trace_id, run.trace_id);
        assert_ne!(run.trace_id, [0; 16]);
        assert_ne!(node.span_id, run.span_id);
        assert_eq!((run.kind, node.kind, call.kind), (Kind::Internal, Kind::Internal, Kind::Client));
        assert!(run.start <= node.start && node.end <= run.end && run.start > 0);
        assert_eq!(run.attr("run_id"), Some(V::S("r1".into())));
        assert_eq!(run.attr("depth"), Some(V::I(0)));
        assert_eq!(run.attr("resumed"), Some(V::B(false)));
        assert_eq!(node.attr("attempt"), Some(V::I(1)));
        // A count recorded late is there; one never recorded is absent, not 0.
        assert_eq!(call.attr("gen_ai.usage.input_tokens"), Some(V::I(12)));
        assert_eq!(call.attr("gen_ai.usage.output_tokens"), None);
        assert_eq!(call.attr("gen_ai.request.model"), Some(V::S("m".into())));
    }

    #[test]
    fn an_error_inside_a_span_sets_its_status() {
        let spans = capture(false, || {
            let run = tracing::info_span!("run", run_id = "r1");
            run.in_scope(|| {
                let node = tracing::debug_span!("node", node = "a", attempt = 1u32);
                node.in_scope(|| tracing::warn!(error = "exit 3", "node attempt failed"));
                let ok = tracing::debug_span!("node", node = "b", attempt = 1u32);
                ok.in_scope(|| tracing::info!("fine"));
                let logged = tracing::debug_span!("node", node = "c", attempt = 1u32);
                logged.in_scope(|| tracing::error!("blocked (on_injection: block)"));
                tracing::info!(status = "failed", error = %"node a failed", "run ended");
            });
        });
        let by_node = |n: &str| spans.iter().find(|s| s.attr("node") == Some(V::S(n.into()))).expect("the node's span");
        assert_eq!(by_node("a").error.as_deref(), Some("exit 3"));
        assert_eq!(by_node("b").error, None);
        assert_eq!(by_node("c").error.as_deref(), Some("blocked (on_injection: block)"));
        let run = spans.iter().find(|s| s.name == "run").unwrap();
        assert_eq!(run.error.as_deref(), Some("node a failed"));
        assert_eq!(by_node("b").attr("attempt"), Some(V::I(1)));
    }

    #[test]
    fn content_fields_are_exported_only_when_asked() {
        let make = || {
            let _ = tracing::info_span!(
                "tool.call",
                gen_ai.tool.name = "weather",
                input = "{\"city\":\"Paris\"}",
                output_text = "sunny",
                gen_ai.prompt = "hi",
                gen_ai.completion = "hello",
                gen_ai.usage.input_tokens = 3u64,
            );
        };
        let without = capture(false, make);
        let keys: Vec<&str> = without[0].attributes.iter().map(|(k, _)| *k).collect();
        assert_eq!(without[0].attr("gen_ai.usage.input_tokens"), Some(V::I(3)));
        assert_eq!(keys, ["gen_ai.tool.name", "gen_ai.usage.input_tokens"]);
        let with = capture(true, make);
        assert_eq!(with[0].attributes.len(), 6);
    }

    #[test]
    fn only_the_named_spans_and_failing_events_are_wanted() {
        let spans = capture(false, || {
            let _ = tracing::info_span!("scheduler.turn");
            let _ = tracing::trace_span!("node", node = "x");
            let _ = tracing::info_span!("approval", node = "ok", outcome = "approved");
            let _ = tracing::info_span!("http.request", http.method = "GET");
        });
        let names: Vec<&str> = spans.iter().map(|s| s.name).collect();
        assert_eq!(names, ["approval", "http.request"]);
        assert_eq!(spans[1].kind, Kind::Client);
        assert!(is_content("output") && is_content("inputs") && !is_content("gen_ai.usage.output_tokens"));
    }
    #[test]
    fn the_subscriber_of_its_own_counts_handles_reuses_slots_and_knows_the_current_span() {
        let exporter = Arc::new(Exporter::detached(1024));
        let queued = || exporter.take_queued().spans.len();
        let alone = crate::alone::Alone::new(exporter.clone(), false);
        tracing::subscriber::with_default(alone, || {
            let run = tracing::info_span!("run", run_id = "r1", skill = "a skill with a long name");
            let held = run.clone();
            run.in_scope(|| {
                let current = tracing::Span::current();
                assert_eq!(current.id(), run.id());
                // An explicit parent, and an explicit root (a trace of its own).
                let _ = tracing::debug_span!(parent: &current, "node", node = "a");
                let _ = tracing::debug_span!(parent: None, "node", node = "b");
            });
            assert_eq!(queued(), 2);
            drop(run);
            assert_eq!(queued(), 0, "open while a handle lives");
            assert!(tracing::Span::current().is_none());
            drop(held);
            assert_eq!(queued(), 1);
            // The run's slot again: nothing of the run in it.
            let _ = tracing::info_span!("tool.call", attempt = 2u32);
        });
        let batch = exporter.take_queued();
        assert_eq!(batch.spans.len(), 1);
        let call = &batch.spans[0];
        assert_eq!((call.name, call.parent_id, call.error), ("tool.call", None, None));
        assert_eq!(batch.attributes(call), [("attempt", Value::Int(2))]);
        assert_eq!(batch.text, "");

        // A stale id (its span closed, its slot taken again) reaches nothing.
        let exporter = Arc::new(Exporter::detached(1024));
        let dispatch = tracing::Dispatch::new(crate::alone::Alone::new(exporter.clone(), false));
        tracing::dispatcher::with_default(&dispatch, || {
            let first = tracing::info_span!("run", run_id = "a");
            let stale = first.id().expect("enabled");
            drop(first);
            let second = tracing::info_span!("run", run_id = "b");
            assert_ne!(second.id(), Some(stale.clone()));
            assert!(!dispatch.try_close(stale.clone()));
            assert_eq!(dispatch.clone_span(&stale), stale);
            assert_eq!(exporter.take_queued().spans.len(), 1, "only the first closed");
        });
        assert_eq!(exporter.take_queued().spans.len(), 1, "the second closed once, at its drop");
    }
}
