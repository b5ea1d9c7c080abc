//! OTLP/HTTP JSON: a batch of spans as the body of `POST {endpoint}/v1/traces`, following
//! the OTLP specification's JSON mapping of the protobuf messages — ids as lowercase hex
//! (not base64), 64-bit integers (times, `intValue`) as decimal strings, enums as numbers,
//! field names in lowerCamelCase. Written by hand (straight into the body's text, which
//! costs a tenth of building a `serde_json::Value` first): the opentelemetry crates would
//! bring a second HTTP stack (see ARCHITECTURE.md).
//!
//! Every string that leaves here — attribute values and status messages — passes the
//! process's masker (the vault values this process read) and the key-shape redactor.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write;

use crate::span::{Batch, Stored, Value};

/// What the exported spans are attributed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `service.name` (config `telemetry.service_name`, default `pyra`).
    pub service_name: String,
    /// `service.version`.
    pub service_version: String,
}

/// The instrumentation scope's name.
pub const SCOPE: &str = "pyra";

/// Lowercase hex, as OTLP/JSON writes trace and span ids.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
}

/// A string as it may leave the process: vault values this process read become
/// `[secret:NAME]`, key-shaped text is redacted.
pub fn masked(text: &str) -> String {
    let masker = runtime::secrets::process_masker();
    let text: Cow<'_, str> = masker.mask(text);
    security::redact::redact(&text).into_owned()
}

/// Writes `text` as a JSON string (quotes included): runs of bytes that need no escape
/// are copied whole (ids, names and most values are one run).
fn string(out: &mut String, text: &str) {
    out.push('"');
    let mut from = 0;
    for (i, b) in text.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            b if b < 0x20 => "",
            _ => continue,
        };
        // Every byte escaped is ASCII, so `from..i` ends on a character boundary.
        out.push_str(&text[from..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(escape);
        }
        from = i + 1;
    }
    out.push_str(&text[from..]);
    out.push('"');
}

/// Writes the body. Strings are masked once per distinct text in a batch: most repeat
/// (a run's id and skill are on each of its spans).
struct Writer<'a> {
    out: String,
    batch: &'a Batch,
    masked: HashMap<&'a str, String>,
}

impl<'a> Writer<'a> {
    /// A string that came from a run (an attribute's value, a status message), masked.
    fn masked(&mut self, (start, end): (u32, u32)) {
        let text = self.batch.str((start, end));
        let shown = self.masked.entry(text).or_insert_with(|| masked(text));
        string(&mut self.out, shown);
    }

    fn key(&mut self, key: &str) {
        self.out.push_str("{\"key\":");
        string(&mut self.out, key);
        self.out.push_str(",\"value\":{");
    }

    /// A resource attribute (ours, not masked).
    fn resource(&mut self, key: &str, value: &str) {
        self.key(key);
        self.out.push_str("\"stringValue\":");
        string(&mut self.out, value);
        self.out.push_str("}}");
    }

    fn attribute(&mut self, key: &str, value: Value) {
        self.key(key);
        match value {
            Value::Str(start, end) => {
                self.out.push_str("\"stringValue\":");
                self.masked((start, end));
            }
            Value::Int(i) => {
                let _ = write!(self.out, "\"intValue\":\"{i}\"");
            }
            Value::Bool(b) => {
                let _ = write!(self.out, "\"boolValue\":{b}");
            }
            // JSON has no NaN or infinity; they travel as text.
            Value::Double(d) if !d.is_finite() => {
                self.out.push_str("\"stringValue\":");
                string(&mut self.out, &d.to_string());
            }
            Value::Double(d) => {
                let _ = write!(self.out, "\"doubleValue\":{d:?}");
            }
        }
        self.out.push_str("}}");
    }

    fn span(&mut self, span: &Stored) {
        self.out.push_str("{\"traceId\":\"");
        push_hex(&mut self.out, &span.trace_id);
        self.out.push_str("\",\"spanId\":\"");
        push_hex(&mut self.out, &span.span_id);
        self.out.push('"');
        if let Some(parent) = &span.parent_id {
            self.out.push_str(",\"parentSpanId\":\"");
            push_hex(&mut self.out, parent);
            self.out.push('"');
        }
        self.out.push_str(",\"name\":");
        string(&mut self.out, span.name);
        let _ = write!(
            self.out,
            ",\"kind\":{},\"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\",\"attributes\":[",
            span.kind.code(),
            span.start,
            span.end.max(span.start)
        );
        for (i, (key, value)) in self.batch.attributes(span).iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.attribute(key, *value);
        }
        self.out.push(']');
        if let Some(error) = span.error {
            // STATUS_CODE_ERROR.
            self.out.push_str(",\"status\":{\"code\":2,\"message\":");
            self.masked(error);
            self.out.push('}');
        }
        self.out.push('}');
    }
}

/// The request body for `spans`, of `batch`: one resource, one scope.
pub fn body(resource: &Resource, batch: &Batch, spans: &[Stored]) -> Vec<u8> {
    let mut w = Writer { out: String::with_capacity(256 + spans.len() * 400), batch, masked: HashMap::new() };
    w.out.push_str("{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    w.resource("service.name", &resource.service_name);
    w.out.push(',');
    w.resource("service.version", &resource.service_version);
    w.out.push_str("]},\"scopeSpans\":[{\"scope\":{\"name\":");
    string(&mut w.out, SCOPE);
    w.out.push_str(",\"version\":");
    string(&mut w.out, &resource.service_version);
    w.out.push_str("},\"spans\":[");
    for (i, span) in spans.iter().enumerate() {
        if i > 0 {
            w.out.push(',');
        }
        w.span(span);
    }
    w.out.push_str("]}]}]}");
    w.out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{Attributes, Kind, SpanData, append};
    use serde_json::{Value as Json, json};

    fn resource() -> Resource {
        Resource { service_name: "pyra".into(), service_version: "0.1.0".into() }
    }

    /// A value as the tests give it.
    enum V {
        S(&'static str),
        I(i64),
        B(bool),
        D(f64),
    }

    /// A span with these attributes and error, and the text they are in.
    fn make(attributes: &[(&'static str, V)], error: Option<&str>) -> (SpanData, String) {
        let mut text = String::new();
        let mut attrs = Attributes::default();
        for (k, v) in attributes {
            let value = match v {
                V::S(s) => {
                    let (a, b) = append(&mut text, s);
                    Value::Str(a, b)
                }
                V::I(i) => Value::Int(*i),
                V::B(b) => Value::Bool(*b),
                V::D(d) => Value::Double(*d),
            };
            attrs.set(k, value);
        }
        let error = error.map(|e| append(&mut text, e));
        let span = SpanData {
            trace_id: [0x0a; 16],
            span_id: [0, 1, 2, 3, 4, 5, 6, 0xff],
            parent_id: None,
            name: "run",
            kind: Kind::Internal,
            start: 1_765_000_000_123_456_789,
            end: 1_765_000_001_000_000_000,
            attributes: attrs,
            error,
        };
        (span, text)
    }

    fn sample() -> (SpanData, String) {
        make(
            &[
                ("run_id", V::S("r1")),
                ("depth", V::I(0)),
                ("resumed", V::B(false)),
                ("ratio", V::D(0.5)),
                ("odd", V::D(f64::NAN)),
            ],
            None,
        )
    }

    fn batch(spans: Vec<(SpanData, String)>) -> Batch {
        let mut batch = Batch::default();
        for (span, text) in spans {
            batch.push(&span, &text);
        }
        batch
    }

    fn decoded(spans: Vec<(SpanData, String)>) -> Json {
        let batch = batch(spans);
        serde_json::from_slice(&body(&resource(), &batch, &batch.spans)).expect("JSON")
    }

    fn first_span(body: &Json) -> &Json {
        &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    }

    #[test]
    fn the_body_is_one_resource_with_one_scope() {
        let body = decoded(vec![sample()]);
        let first = &body["resourceSpans"][0];
        assert_eq!(
            first["resource"]["attributes"][0],
            json!({ "key": "service.name", "value": { "stringValue": "pyra" } })
        );
        assert_eq!(first["scopeSpans"][0]["scope"]["name"], "pyra");
        assert_eq!(first["scopeSpans"][0]["spans"].as_array().map(Vec::len), Some(1));
        let custom = Resource { service_name: "home-pyra".into(), ..resource() };
        let body: Json = serde_json::from_slice(&super::body(&custom, &Batch::default(), &[])).unwrap();
        assert_eq!(body["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"], "home-pyra");
        assert_eq!(body["resourceSpans"][0]["scopeSpans"][0]["spans"], json!([]));
    }

    #[test]
    fn ids_are_lowercase_hex_and_times_decimal_strings() {
        let (mut child, text) = sample();
        child.parent_id = Some([0xab; 8]);
        child.kind = Kind::Client;
        let body = decoded(vec![sample(), (child, text)]);
        let spans = &body["resourceSpans"][0]["scopeSpans"][0]["spans"];
        let root = &spans[0];
        assert_eq!(root["traceId"], "0a".repeat(16));
        assert_eq!(root["traceId"].as_str().map(str::len), Some(32));
        assert_eq!(root["spanId"], "00010203040506ff");
        assert!(root.get("parentSpanId").is_none(), "a root has no parent id: {root}");
        assert_eq!(root["startTimeUnixNano"], "1765000000123456789");
        assert_eq!(root["endTimeUnixNano"], "1765000001000000000");
        assert_eq!(root["name"], "run");
        assert_eq!(root["kind"], 1);
        assert!(root.get("status").is_none(), "unset unless it failed: {root}");
        assert_eq!(spans[1]["parentSpanId"], "abababababababab");
        assert_eq!(spans[1]["kind"], 3);
        let mut hex = String::new();
        push_hex(&mut hex, &[0, 0x0f, 0xf0, 0xff]);
        assert_eq!(hex, "000ff0ff");
    }

    #[test]
    fn attributes_are_typed_as_otlp_any_values() {
        // The second span's strings are further into the batch's text.
        let body = decoded(vec![sample(), sample()]);
        for i in 0..2 {
            let attributes = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][i]["attributes"];
            assert_eq!(
                attributes,
                &json!([
                    { "key": "run_id", "value": { "stringValue": "r1" } },
                    { "key": "depth", "value": { "intValue": "0" } },
                    { "key": "resumed", "value": { "boolValue": false } },
                    { "key": "ratio", "value": { "doubleValue": 0.5 } },
                    { "key": "odd", "value": { "stringValue": "NaN" } },
                ])
            );
        }
    }

    #[test]
    fn a_failed_span_has_an_error_status_and_strings_are_masked() {
        runtime::secrets::process_masker().add("otel:test", "encode-s3cret-value");
        let failed = make(
            &[
                ("note", V::S("said encode-s3cret-value")),
                ("key", V::S("sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789")),
            ],
            Some("exit 3: encode-s3cret-value"),
        );
        let batch = batch(vec![failed]);
        let text = String::from_utf8(body(&resource(), &batch, &batch.spans)).unwrap();
        assert!(!text.contains("encode-s3cret-value") && text.contains("[secret:otel:test]"), "{text}");
        assert!(!text.contains("abcdefghijklmnopqrstuvwxyz0123456789"), "{text}");
        let body: Json = serde_json::from_str(&text).unwrap();
        let span = first_span(&body);
        assert_eq!(span["status"], json!({ "code": 2, "message": "exit 3: [secret:otel:test]" }));
        assert_eq!(span["attributes"][0]["value"]["stringValue"], "said [secret:otel:test]");
    }

    #[test]
    fn strings_are_escaped_as_json_wants() {
        let text = "quote \" backslash \\ newline \n tab \t bell \u{7} é 😀";
        let body = decoded(vec![make(&[("note", V::S(text))], Some(text))]);
        let span = first_span(&body);
        assert_eq!(span["attributes"][0]["value"]["stringValue"], text);
        assert_eq!(span["status"]["message"], text);
    }

    #[test]
    fn an_end_before_its_start_is_clamped() {
        let (mut odd, text) = sample();
        odd.end = odd.start - 5;
        let body = decoded(vec![(odd, text)]);
        let span = first_span(&body);
        assert_eq!(span["endTimeUnixNano"], span["startTimeUnixNano"]);
    }

    #[test]
    fn a_span_keeps_its_first_attributes() {
        let mut attributes = Attributes::default();
        for (i, key) in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n"].iter().enumerate() {
            attributes.set(key, Value::Int(i as i64));
        }
        attributes.set("a", Value::Int(100));
        assert_eq!(attributes.len(), crate::span::MAX_ATTRIBUTES);
        assert_eq!((attributes.get("a"), attributes.get("m")), (Some(Value::Int(100)), None));
    }
}
