//! OTLP/HTTP JSON: a batch of spans as the body of `POST {endpoint}/v1/traces`, following
//! the OTLP specification's JSON mapping of the protobuf messages — ids as lowercase hex
//! (not base64), 64-bit integers (times, `intValue`) as decimal strings, enums as numbers,
//! field names in lowerCamelCase. Written by hand with serde_json: the opentelemetry
//! crates would bring a second HTTP stack (see ARCHITECTURE.md).
//!
//! Every string that leaves here — attribute values and status messages — passes the
//! process's masker (the vault values this process read) and the key-shape redactor.

use std::borrow::Cow;
use std::fmt::Write;

use serde_json::{Value as Json, json};

use crate::span::{SpanData, Value};

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
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A string as it may leave the process: vault values this process read become
/// `[secret:NAME]`, key-shaped text is redacted.
pub fn masked(text: &str) -> String {
    let masker = runtime::secrets::process_masker();
    let text: Cow<'_, str> = masker.mask(text);
    security::redact::redact(&text).into_owned()
}

fn any_value(value: &Value) -> Json {
    match value {
        Value::String(s) => json!({ "stringValue": masked(s) }),
        Value::Int(i) => json!({ "intValue": i.to_string() }),
        Value::Bool(b) => json!({ "boolValue": b }),
        // JSON has no NaN or infinity; they travel as text.
        Value::Double(d) if !d.is_finite() => json!({ "stringValue": d.to_string() }),
        Value::Double(d) => json!({ "doubleValue": d }),
    }
}

fn attribute(key: &str, value: &Value) -> Json {
    json!({ "key": key, "value": any_value(value) })
}

fn span(span: &SpanData) -> Json {
    let mut out = serde_json::Map::new();
    out.insert("traceId".into(), hex(&span.trace_id).into());
    out.insert("spanId".into(), hex(&span.span_id).into());
    if let Some(parent) = &span.parent_id {
        out.insert("parentSpanId".into(), hex(parent).into());
    }
    out.insert("name".into(), span.name.into());
    out.insert("kind".into(), span.kind.code().into());
    out.insert("startTimeUnixNano".into(), span.start.to_string().into());
    out.insert("endTimeUnixNano".into(), span.end.max(span.start).to_string().into());
    out.insert("attributes".into(), span.attributes.iter().map(|(k, v)| attribute(k, v)).collect::<Vec<_>>().into());
    if let Some(error) = &span.error {
        // STATUS_CODE_ERROR.
        out.insert("status".into(), json!({ "code": 2, "message": masked(error) }));
    }
    Json::Object(out)
}

/// The request body for `spans`: one resource, one scope.
pub fn body(resource: &Resource, spans: &[SpanData]) -> Vec<u8> {
    let body = json!({
        "resourceSpans": [{
            "resource": { "attributes": [
                attribute("service.name", &Value::String(resource.service_name.clone())),
                attribute("service.version", &Value::String(resource.service_version.clone())),
            ] },
            "scopeSpans": [{
                "scope": { "name": SCOPE, "version": resource.service_version },
                "spans": spans.iter().map(span).collect::<Vec<_>>(),
            }],
        }],
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Kind;

    fn resource() -> Resource {
        Resource { service_name: "pyra".into(), service_version: "0.1.0".into() }
    }

    fn sample() -> SpanData {
        SpanData {
            trace_id: [0x0a; 16],
            span_id: [0, 1, 2, 3, 4, 5, 6, 0xff],
            parent_id: None,
            name: "run",
            kind: Kind::Internal,
            start: 1_765_000_000_123_456_789,
            end: 1_765_000_001_000_000_000,
            attributes: vec![
                ("run_id", Value::String("r1".into())),
                ("depth", Value::Int(0)),
                ("resumed", Value::Bool(false)),
                ("ratio", Value::Double(0.5)),
                ("odd", Value::Double(f64::NAN)),
            ],
            error: None,
        }
    }

    fn decoded(spans: &[SpanData]) -> Json {
        serde_json::from_slice(&body(&resource(), spans)).expect("JSON")
    }

    #[test]
    fn the_body_is_one_resource_with_one_scope() {
        let body = decoded(&[sample()]);
        let first = &body["resourceSpans"][0];
        assert_eq!(
            first["resource"]["attributes"][0],
            json!({ "key": "service.name", "value": { "stringValue": "pyra" } })
        );
        assert_eq!(first["scopeSpans"][0]["scope"]["name"], "pyra");
        assert_eq!(first["scopeSpans"][0]["spans"].as_array().map(Vec::len), Some(1));
        let custom = Resource { service_name: "home-pyra".into(), ..resource() };
        let body: Json = serde_json::from_slice(&super::body(&custom, &[])).unwrap();
        assert_eq!(body["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"], "home-pyra");
        assert_eq!(body["resourceSpans"][0]["scopeSpans"][0]["spans"], json!([]));
    }

    #[test]
    fn ids_are_lowercase_hex_and_times_decimal_strings() {
        let mut child = sample();
        child.parent_id = Some([0xab; 8]);
        child.kind = Kind::Client;
        let body = decoded(&[sample(), child]);
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
    }

    #[test]
    fn attributes_are_typed_as_otlp_any_values() {
        let body = decoded(&[sample()]);
        let attributes = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"];
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

    #[test]
    fn a_failed_span_has_an_error_status_and_strings_are_masked() {
        runtime::secrets::process_masker().add("otel:test", "encode-s3cret-value");
        let mut failed = sample();
        failed.error = Some("exit 3: encode-s3cret-value".into());
        failed.attributes.push(("note", Value::String("said encode-s3cret-value".into())));
        failed.attributes.push(("key", Value::String("sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789".into())));
        let text = String::from_utf8(body(&resource(), &[failed])).unwrap();
        assert!(!text.contains("encode-s3cret-value") && text.contains("[secret:otel:test]"), "{text}");
        assert!(!text.contains("abcdefghijklmnopqrstuvwxyz0123456789"), "{text}");
        let body: Json = serde_json::from_str(&text).unwrap();
        let span = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["status"], json!({ "code": 2, "message": "exit 3: [secret:otel:test]" }));
    }

    #[test]
    fn an_end_before_its_start_is_clamped() {
        let mut odd = sample();
        odd.end = odd.start - 5;
        let body = decoded(&[odd]);
        let span = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["endTimeUnixNano"], span["startTimeUnixNano"]);
    }
}
