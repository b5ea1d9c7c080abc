//! The `telemetry:` section's checks: an `endpoint` (required; http or https, no
//! credentials), `headers` (HTTP header names; a credential only as `vault:NAME`),
//! `service_name`, `export_content` (a boolean) — each finding located, like the rest.

use syntax::diag::Diagnostic;
use syntax::yaml::{Node, Value};

use super::{Findings, looks_like_secret};
use crate::model::TelemetrySettings;

/// Words in a header's name that say its value is a credential, which must then come
/// from the vault.
const CREDENTIAL_WORDS: &[&str] = &["auth", "key", "token", "secret", "password", "cookie", "signature"];

/// Headers the exporter sets itself.
const OWN_HEADERS: &[&str] = &["content-type", "content-length", "host", "transfer-encoding", "connection"];

const ENDPOINT_HELP: &str = "add `endpoint: http://localhost:4318` (the collector's OTLP/HTTP address; spans go to \
                             `/v1/traces` under it), or remove `telemetry:` to export nothing";

/// An HTTP header name (RFC 9110's token).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A vault key name: letters, digits, `_`, `.`, `-`, with `:` between parts.
fn is_vault_key(key: &str) -> bool {
    key.len() <= 128
        && key.split(':').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)))
}

/// A vault key name to suggest for a header (`x-honeycomb-team` → `OTEL_X_HONEYCOMB_TEAM`).
fn suggested_key(header: &str) -> String {
    let name: String =
        header.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("OTEL_{name}")
}

impl Findings {
    pub(super) fn telemetry(&mut self, key: &Node, value: &Node) {
        if value.value == Value::Null {
            self.error("missing-key", "`telemetry` has no `endpoint`", key.span.clone()).help =
                Some(ENDPOINT_HELP.into());
            return;
        }
        self.map(key, value, "telemetry", |f, k, v| match k.key_text().as_str() {
            "endpoint" => {
                if let Some(url) = f.string("endpoint", k, v) {
                    f.url("endpoint", url, v.span.clone());
                }
            }
            "headers" => f.headers(k, v),
            _ => f.declared("telemetry", k, v),
        });
        if let Value::Map(entries) = &value.value
            && !entries.iter().any(|(k, _)| k.key_text() == "endpoint")
        {
            self.error("missing-key", "`telemetry` has no `endpoint`", key.span.clone()).help =
                Some(ENDPOINT_HELP.into());
        }
    }

    fn headers(&mut self, key: &Node, value: &Node) {
        match &value.value {
            Value::Null => {}
            Value::Map(entries) => {
                for (k, v) in entries {
                    self.header(k, v);
                }
            }
            _ => {
                self.error(
                    "config-type",
                    format!("`headers` must be a map of header names to values, found {}", value.type_name()),
                    Self::span_of(key, value),
                )
                .expected = Some("`headers: { x-scope: home, authorization: vault:OTEL_AUTHORIZATION }`".into());
            }
        }
    }

    fn header(&mut self, key: &Node, value: &Node) {
        let name = key.key_text();
        if !is_header_name(&name) {
            self.error("config-header", format!("`{name}` is not an HTTP header name"), key.span.clone()).help =
                Some("use letters, digits and `-` (e.g. `x-honeycomb-team`)".into());
            return;
        }
        let lower = name.to_ascii_lowercase();
        if OWN_HEADERS.contains(&lower.as_str()) {
            self.error("config-header", format!("`{name}` is set by the exporter itself"), key.span.clone()).help =
                Some("remove it".into());
            return;
        }
        let span = Self::span_of(key, value);
        if self.is_hidden(&span) {
            return;
        }
        let Some(text) = self.string(&format!("headers.{name}"), key, value) else { return };
        if let Some(vault_key) = text.strip_prefix(TelemetrySettings::VAULT_PREFIX) {
            let vault_key = vault_key.trim();
            if !is_vault_key(vault_key) {
                self.error(
                    "config-key-name",
                    format!("`vault:` must be followed by a vault key name, found `{vault_key}`"),
                    span,
                )
                .help = Some(format!(
                    "e.g. `vault:{0}`, after `pyra vault set {0}` stored the header's whole value",
                    suggested_key(&name)
                ));
            }
            return;
        }
        let credential = CREDENTIAL_WORDS.iter().any(|w| lower.contains(w));
        if credential || looks_like_secret(text) {
            self.hidden.push(span.clone());
            let why = if credential {
                format!("header `{name}` carries a credential")
            } else {
                format!("the value of header `{name}` looks like a secret")
            };
            self.diagnostics.push(
                Diagnostic::error("secret-in-config", format!("{why}; config.yaml never holds secrets"))
                    .at(span)
                    .with_label("read this from the vault")
                    .with_help(format!(
                        "store the header's whole value with `pyra vault set {0}` (it asks for it), then write \
                         `{name}: vault:{0}`",
                        suggested_key(&name)
                    )),
            );
        }
    }
}
