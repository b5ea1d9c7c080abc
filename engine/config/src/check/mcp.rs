//! The `mcp:` section's checks: `serve.skills` (names or globs, each a non-empty string
//! without spaces) and `serve.http.listen` (an IP address on loopback with a port; port 0
//! picks a free one) — each finding located, like the rest.

use std::net::SocketAddr;

use syntax::diag::Diagnostic;
use syntax::yaml::{Node, Value};

use super::Findings;
use crate::model::McpHttpSettings;

impl Findings {
    pub(super) fn mcp(&mut self, key: &Node, value: &Node) {
        if value.value == Value::Null {
            return;
        }
        self.map(key, value, "mcp", |f, k, v| {
            if v.value == Value::Null {
                return;
            }
            match k.key_text().as_str() {
                "serve" => f.map(k, v, "mcp.serve", |f, k, v| match k.key_text().as_str() {
                    "skills" => f.exposed_skills(k, v),
                    "http" => {
                        if v.value != Value::Null {
                            f.map(k, v, "mcp.serve.http", |f, k, v| match k.key_text().as_str() {
                                "listen" => f.loopback_listen(
                                    k,
                                    v,
                                    McpHttpSettings::DEFAULT_LISTEN,
                                    "the MCP endpoint runs your skills for whoever can reach it",
                                ),
                                _ => f.declared("mcp.serve.http", k, v),
                            });
                        }
                    }
                    _ => f.declared("mcp.serve", k, v),
                }),
                _ => f.declared("mcp", k, v),
            }
        });
    }

    /// `mcp.serve.skills`: skill names or globs.
    fn exposed_skills(&mut self, key: &Node, value: &Node) {
        self.list("skills", "a skill name or a glob", key, value);
        let Value::Seq(items) = &value.value else { return };
        for item in items {
            if let Value::String(s) = &item.value
                && s.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                self.error("config-type", format!("`{}` is not a skill name or glob", s.trim()), item.span.clone())
                    .help = Some("a skill's name (its file name without `.yaml`) or a glob like `notes-*`".into());
            }
        }
    }

    /// A `listen:` of a loopback service (`mcp.serve.http`, `daemon.web`): an IP address
    /// with a port on loopback only, port 0 allowed (a free port, written under `run/`); `why`
    /// says what the service does for whoever can reach it.
    pub(super) fn loopback_listen(&mut self, key: &Node, value: &Node, default: SocketAddr, why: &str) {
        let Some(text) = self.string("listen", key, value) else { return };
        let Ok(addr) = text.parse::<SocketAddr>() else {
            self.diagnostics.push(
                Diagnostic::error("config-address", format!("`listen` is not an IP address with a port: `{text}`"))
                    .at(value.span.clone())
                    .with_label("expected ADDRESS:PORT")
                    .with_help(format!(
                        "e.g. `listen: {default}` (port 0 picks a free one; an IPv6 address goes in brackets: \
                         `\"[::1]:{}\"`)",
                        default.port()
                    )),
            );
            return;
        };
        if !addr.ip().is_loopback() {
            self.diagnostics.push(
                Diagnostic::error("config-loopback", format!("`listen` must be a loopback address, found `{addr}`"))
                    .at(value.span.clone())
                    .with_label("not a loopback address")
                    .with_help(format!(
                        "{why}, so it listens on 127.0.0.0/8 or ::1 only (e.g. `127.0.0.1:{}`)",
                        addr.port()
                    )),
            );
        }
    }
}
