//! A finished span as the exporter keeps it: ids, name, kind, times, attributes and
//! status — plain data, built by the layer when a span closes and encoded later, on the
//! exporter's thread. In the queue it is a [`Stored`] span of a [`Batch`], whose
//! attributes and strings are in buffers shared by the batch's spans (and reused), so
//! that a span costs the run no allocation of its own and the exporter frees nothing the
//! run's thread allocated: with the C allocator, each such free takes a lock the run's
//! thread also wants.

/// The most attributes a span keeps (ours have up to 7); later fields are left out.
pub const MAX_ATTRIBUTES: usize = 8;

/// An attribute's value, as OTLP types them; a string is a range of its text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Str(u32, u32),
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

/// A span's attributes, in the order first recorded, kept inline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attributes {
    items: [(&'static str, Value); MAX_ATTRIBUTES],
    len: usize,
}

impl Default for Attributes {
    fn default() -> Self {
        Attributes { items: [("", Value::Bool(false)); MAX_ATTRIBUTES], len: 0 }
    }
}

impl Attributes {
    /// Sets `key` (a field recorded again replaces its value); a key past the limit is
    /// left out.
    pub fn set(&mut self, key: &'static str, value: Value) {
        if let Some(slot) = self.items[..self.len].iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else if self.len < MAX_ATTRIBUTES {
            self.items[self.len] = (key, value);
            self.len += 1;
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &(&'static str, Value)> {
        self.items[..self.len].iter()
    }

    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<Value> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }
}

/// A span that has ended; its strings are ranges of its batch's text.
#[derive(Debug, Clone, Copy, PartialEq)]
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
    pub attributes: Attributes,
    /// Why the span failed (an event in it with an `error` field, or at level ERROR);
    /// `None`: its status stays unset.
    pub error: Option<(u32, u32)>,
}

/// A span in a [`Batch`]: its attributes and strings are ranges of the batch's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stored {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_id: Option<[u8; 8]>,
    pub name: &'static str,
    pub kind: Kind,
    pub start: u64,
    pub end: u64,
    attributes: (u32, u32),
    pub error: Option<(u32, u32)>,
}

/// Spans, their attributes and the text their strings are in: three buffers however
/// many spans, reused from one batch to the next.
#[derive(Debug, Default)]
pub struct Batch {
    pub spans: Vec<Stored>,
    attributes: Vec<(&'static str, Value)>,
    pub text: String,
}

impl Batch {
    /// Adds `span`, whose string ranges are into `text`.
    pub fn push(&mut self, span: &SpanData, text: &str) {
        if self.spans.capacity() == 0 {
            self.spans.reserve(256);
            self.attributes.reserve(256 * 6);
            self.text.reserve(256 * 64);
        }
        let by = self.text.len() as u32;
        self.text.push_str(text);
        let first = self.attributes.len() as u32;
        self.attributes.extend(span.attributes.iter().map(|&(key, value)| match value {
            Value::Str(start, end) => (key, Value::Str(start + by, end + by)),
            other => (key, other),
        }));
        self.spans.push(Stored {
            trace_id: span.trace_id,
            span_id: span.span_id,
            parent_id: span.parent_id,
            name: span.name,
            kind: span.kind,
            start: span.start,
            end: span.end,
            attributes: (first, self.attributes.len() as u32),
            error: span.error.map(|(s, e)| (s + by, e + by)),
        });
    }

    /// A stored span's attributes.
    pub fn attributes(&self, span: &Stored) -> &[(&'static str, Value)] {
        self.attributes.get(span.attributes.0 as usize..span.attributes.1 as usize).unwrap_or(&[])
    }

    /// The text of a range.
    pub fn str(&self, (start, end): (u32, u32)) -> &str {
        self.text.get(start as usize..end as usize).unwrap_or("")
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Empties it, keeping its room.
    pub fn clear(&mut self) {
        self.spans.clear();
        self.attributes.clear();
        self.text.clear();
    }
}

/// Appends `value` to `text` and returns its range.
pub fn append(text: &mut String, value: &str) -> (u32, u32) {
    let start = text.len() as u32;
    text.push_str(value);
    (start, text.len() as u32)
}
