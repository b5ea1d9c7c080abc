//! A finished span as the exporter keeps it: ids, name, kind, times, attributes and
//! status — plain data, built by the layer when a span closes and encoded later, on the
//! exporter's thread.

/// An attribute's value, as OTLP types them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Int(i64),
    Bool(bool),
    Double(f64),
}

/// OTLP's span kind: what the span stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Work inside Pyra (a run, a node attempt, a tool call, an approval).
    Internal,
    /// A request to another service (a model call, an HTTP request).
    Client,
}

impl Kind {
    /// The kind of a span by its name: `model.call` and `http.request` leave the process.
    pub fn of(name: &str) -> Kind {
        match name {
            "model.call" | "http.request" => Kind::Client,
            _ => Kind::Internal,
        }
    }

    /// OTLP's number for it (`SPAN_KIND_INTERNAL` = 1, `SPAN_KIND_CLIENT` = 3).
    pub fn code(self) -> u8 {
        match self {
            Kind::Internal => 1,
            Kind::Client => 3,
        }
    }
}

/// A span that has ended.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanData {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// `None` for a trace's root.
    pub parent_id: Option<[u8; 8]>,
    pub name: &'static str,
    pub kind: Kind,
    /// Nanoseconds since the Unix epoch.
    pub start: u64,
    pub end: u64,
    /// The span's fields, in the order they were recorded (a field recorded again
    /// replaces its value).
    pub attributes: Vec<(&'static str, Value)>,
    /// Why the span failed (an event in it with an `error` field, or at level ERROR);
    /// `None`: its status stays unset.
    pub error: Option<String>,
}
