//! The `daemon:` section's checks: `skill_dirs` (paths, `~` only as the user's home),
//! `max_runs` and the webhook's `rate_per_minute` and `burst` in their declared ranges
//! with what they mean, and the webhook's `listen` (an IP address with a port, on loopback
//! only, with help for the usual mistakes) — each finding located, like the rest.

use std::net::{IpAddr, SocketAddr};

use syntax::diag::Diagnostic;
use syntax::source::Span;
use syntax::yaml::{Node, Value};

use super::Findings;
use crate::model::{DaemonSettings, WebSettings, WebhookSettings};

/// The port suggested in help.
const DEFAULT_PORT: u16 = WebhookSettings::DEFAULT_LISTEN.port();

impl Findings {
    pub(super) fn daemon(&mut self, key: &Node, value: &Node) {
        self.map(key, value, "daemon", |f, k, v| match k.key_text().as_str() {
            "skill_dirs" => f.skill_dirs(k, v),
            "max_runs" => f.whole_number(
                "daemon",
                k,
                v,
                &format!(
                    "the most triggered runs the daemon runs at once; more wait their turn (default {})",
                    DaemonSettings::DEFAULT_MAX_RUNS
                ),
            ),
            "webhook" => f.map(k, v, "daemon.webhook", |f, k, v| match k.key_text().as_str() {
                "listen" => f.listen(k, v),
                "rate_per_minute" => f.whole_number(
                    "daemon.webhook",
                    k,
                    v,
                    &format!(
                        "requests a minute each hook may receive; more are refused (default {})",
                        WebhookSettings::DEFAULT_RATE_PER_MINUTE
                    ),
                ),
                "burst" => f.whole_number(
                    "daemon.webhook",
                    k,
                    v,
                    &format!(
                        "requests a hook may receive at once before `rate_per_minute` applies (default {})",
                        WebhookSettings::DEFAULT_BURST
                    ),
                ),
                _ => f.declared("daemon.webhook", k, v),
            }),
            "web" => {
                if v.value != Value::Null {
                    f.map(k, v, "daemon.web", |f, k, v| match k.key_text().as_str() {
                        "listen" => f.loopback_listen(
                            k,
                            v,
                            WebSettings::DEFAULT_LISTEN,
                            "the web UI shows and runs your skills for whoever can reach it",
                        ),
                        _ => f.declared("daemon.web", k, v),
                    });
                }
            }
            _ => f.declared("daemon", k, v),
        });
    }

    /// `daemon.skill_dirs`: paths, where only `~` and `~/…` name the user's home (`~bob`
    /// would silently be a folder named `~bob` under `$PYRA_HOME`).
    fn skill_dirs(&mut self, key: &Node, value: &Node) {
        let before = self.diagnostics.len();
        self.list("skill_dirs", "a path", key, value);
        let Value::Seq(items) = &value.value else { return };
        let nulls: Vec<&Span> = items.iter().filter(|i| i.value == Value::Null).map(|i| &i.span).collect();
        for d in &mut self.diagnostics[before..] {
            if d.span.as_ref().is_some_and(|s| nulls.contains(&s)) {
                d.help = Some("a bare `~` is YAML's null: write your home as `\"~\"`".into());
            }
        }
        for item in items {
            if let Value::String(dir) = &item.value
                && dir.starts_with('~')
                && dir != "~"
                && !dir.starts_with("~/")
            {
                let user = dir[1..].split('/').next().unwrap_or_default();
                self.error("config-path", format!("`{dir}`: only `~` and `~/…` are expanded"), item.span.clone())
                    .help = Some(format!(
                    "`~` is your home ($HOME); for {user}'s, write the full path (e.g. `/home/{user}/…`)"
                ));
            }
        }
    }

    /// `daemon.webhook.listen`: an IP address and a port, on loopback only.
    fn listen(&mut self, key: &Node, value: &Node) {
        let Some(text) = self.string("listen", key, value) else { return };
        let span = value.span.clone();
        let addr = match text.parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                self.diagnostics.push(
                    Diagnostic::error("config-address", format!("`listen` is not an IP address with a port: `{text}`"))
                        .at(span)
                        .with_label("expected ADDRESS:PORT")
                        .with_help(listen_help(text)),
                );
                return;
            }
        };
        let port = if addr.port() == 0 { DEFAULT_PORT } else { addr.port() };
        if !addr.ip().is_loopback() {
            let every = if addr.ip().is_unspecified() {
                format!("`{}` means every network interface; ", addr.ip())
            } else {
                String::new()
            };
            self.diagnostics.push(
                Diagnostic::error("config-loopback", format!("`listen` must be a loopback address, found `{addr}`"))
                    .at(span)
                    .with_label("not a loopback address")
                    .with_help(format!(
                        "{every}the webhook is for senders on this machine, so it listens on 127.0.0.0/8 or ::1 \
                         (e.g. `127.0.0.1:{port}`); for remote senders, put a reverse proxy (with TLS) in front \
                         of it that forwards to that address"
                    )),
            );
        } else if addr.port() == 0 {
            self.diagnostics.push(
                Diagnostic::error("config-address", format!("`listen` needs a port, found port 0 in `{addr}`"))
                    .at(span)
                    .with_label("port 0")
                    .with_help(format!(
                        "port 0 picks a free port at random, which no sender could know; e.g. `{}`",
                        SocketAddr::new(addr.ip(), port)
                    )),
            );
        }
    }
}

/// What to do about a `listen:` value that does not parse as `ADDRESS:PORT`.
fn listen_help(text: &str) -> String {
    let (host, port) = text.rsplit_once(':').unwrap_or((text, ""));
    let port_is_digits = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    let brackets = || format!("an IPv6 address with a port goes in brackets: `listen: \"[{host}]:{port}\"`");
    if let Ok(ip) = text.parse::<IpAddr>() {
        // `::1:8787` is an address, but far more likely `::1` with a port.
        if ip.is_ipv6() && port_is_digits && host.parse::<IpAddr>().is_ok() {
            return brackets();
        }
        return format!("add a port: `{}`", SocketAddr::new(ip, DEFAULT_PORT));
    }
    if let Some((_, rest)) = text.split_once("://")
        && let Ok(addr) = rest.trim_end_matches('/').parse::<SocketAddr>()
    {
        return format!("give the address without a scheme: `{addr}`");
    }
    let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    match bracketed.unwrap_or(host).parse::<IpAddr>() {
        Ok(ip) if port.is_empty() => format!("add a port: `{}`", SocketAddr::new(ip, DEFAULT_PORT)),
        Ok(IpAddr::V6(_)) if bracketed.is_none() && port_is_digits => brackets(),
        Ok(_) if port.bytes().all(|b| b.is_ascii_digit()) => "a port is a number from 1 to 65535".into(),
        Err(_) if host.chars().any(|c| c.is_ascii_alphabetic()) && !host.contains([':', '/']) => {
            let port = if port_is_digits { port.to_string() } else { DEFAULT_PORT.to_string() };
            format!("give an IP address, not a host name (`{host}` is not looked up): `127.0.0.1:{port}`")
        }
        _ => format!(
            "e.g. `listen: 127.0.0.1:{DEFAULT_PORT}` (an IPv6 address goes in brackets: `listen: \"[::1]:{DEFAULT_PORT}\"`)"
        ),
    }
}
