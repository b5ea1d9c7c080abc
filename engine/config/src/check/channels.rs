//! The `channels:` section's checks, each finding located like the rest. Every channel:
//! `challenge` (pairing or passphrase), `passphrase` (an Argon2id hash, never the
//! passphrase: a plain value is refused and hidden from the message), `rate_per_hour`
//! (1–10,000). `telegram`: `allow` and `approvers` (Telegram's numeric user ids: whole
//! numbers, never names), `groups` (group chat ids, negative), `api_url` (http or https;
//! tests point it at a local Bot API). `signal`: `account` (an E.164 number), `allow` and
//! `approvers` (UUIDs or numbers), `groups`, `cli`, `address` (loopback `host:port`).
//! `matrix`: `homeserver` (a URL), `user`, `allow` and `approvers` (full Matrix ids),
//! `groups` (room ids).

use syntax::yaml::{Node, Value};

use super::Findings;
use crate::model::TelegramSettings;

/// The keys under `channels:`.
pub(crate) const CHANNELS_KEYS: &[&str] = &["telegram", "signal", "matrix"];
/// The keys under `channels.telegram:`.
pub(crate) const TELEGRAM_KEYS: &[&str] =
    &["allow", "approvers", "groups", "challenge", "passphrase", "rate_per_hour", "api_url", "recipients"];
/// The keys under `channels.signal:`.
pub(crate) const SIGNAL_KEYS: &[&str] = &[
    "account",
    "allow",
    "approvers",
    "groups",
    "challenge",
    "passphrase",
    "rate_per_hour",
    "cli",
    "address",
    "recipients",
];
/// The keys under `channels.matrix:`.
pub(crate) const MATRIX_KEYS: &[&str] =
    &["homeserver", "user", "allow", "approvers", "groups", "challenge", "passphrase", "rate_per_hour", "recipients"];
/// The highest `rate_per_hour`.
const MAX_RATE_PER_HOUR: u32 = 10_000;

impl Findings {
    pub(super) fn channels(&mut self, key: &Node, value: &Node) {
        if value.value == Value::Null {
            return;
        }
        self.map(key, value, "channels", CHANNELS_KEYS, |f, k, v| {
            if v.value == Value::Null {
                return;
            }
            match k.key_text().as_str() {
                "signal" => f.signal(k, v),
                "matrix" => f.matrix(k, v),
                _ => f.map(k, v, "channels.telegram", TELEGRAM_KEYS, |f, k, v| match k.key_text().as_str() {
                    "allow" | "approvers" => f.user_ids(k, v, false),
                    "groups" => f.user_ids(k, v, true),
                    "recipients" => f.recipients(
                        k,
                        v,
                        "a Telegram chat id (a whole number)",
                        |v| matches!(v, Value::Number(n) if n.as_i64().is_some()),
                    ),
                    "challenge" | "passphrase" | "rate_per_hour" => f.common(k, v, "telegram"),
                    _ => {
                        if let Some(url) = f.string("api_url", k, v) {
                            f.url("api_url", url, v.span.clone());
                        }
                    }
                }),
            }
        });
    }

    /// `challenge`, `passphrase`, `rate_per_hour`: the same under every channel.
    fn common(&mut self, k: &Node, v: &Node, channel: &str) {
        match k.key_text().as_str() {
            "challenge" => {
                if let Some(c) = self.string("challenge", k, v)
                    && !matches!(c, "pairing" | "passphrase")
                {
                    self.error(
                        "config-value",
                        format!("`challenge` is not one of pairing, passphrase: `{c}`"),
                        v.span.clone(),
                    )
                    .help = Some("`pairing` (the owner approves a code) or `passphrase`".into());
                }
            }
            "passphrase" => {
                if let Some(p) = self.string("passphrase", k, v)
                    && !p.starts_with("$argon2id$")
                {
                    self.hidden.push(v.span.clone());
                    self.error(
                        "config-value",
                        "`passphrase` must be an Argon2id hash, not the passphrase itself",
                        v.span.clone(),
                    )
                    .help = Some(format!("set it with `pyra channels passphrase {channel}`, which writes the hash"));
                }
            }
            _ => self.whole_number(
                "rate_per_hour",
                k,
                v,
                MAX_RATE_PER_HOUR,
                &format!(
                    "messages a sender may send in a rolling hour; more are refused with one notice (default {})",
                    TelegramSettings::DEFAULT_RATE_PER_HOUR
                ),
            ),
        }
    }

    fn signal(&mut self, key: &Node, value: &Node) {
        self.map(key, value, "channels.signal", SIGNAL_KEYS, |f, k, v| match k.key_text().as_str() {
            "account" => {
                if let Some(a) = f.string("account", k, v)
                    && !is_number(a)
                {
                    f.error("config-value", format!("`account` must be a phone number like +4915112345678, found `{a}`"), v.span.clone())
                        .help = Some("the number signal-cli registered or linked (`signal-cli listAccounts`)".into());
                }
            }
            "allow" | "approvers" => f.ids(k, v, "a Signal UUID or a phone number (+…)", |s| {
                is_number(s) || is_uuid(s)
            }),
            "groups" => f.ids(k, v, "a Signal group id (base64, as signal-cli lists it)", |s| {
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=-_".contains(&b))
            }),
            "cli" => {
                let _ = f.string("cli", k, v);
            }
            "recipients" => f.recipients(k, v, "a Signal UUID, a phone number or group:ID", |v| {
                matches!(v, Value::String(s) if is_number(s) || is_uuid(s) || s.strip_prefix("group:").is_some_and(|g| !g.is_empty()))
            }),
            "address" => {
                if let Some(a) = f.string("address", k, v) {
                    let loopback = a.parse::<std::net::SocketAddr>().is_ok_and(|s| s.ip().is_loopback())
                        || a.strip_prefix("localhost:").is_some_and(|p| p.parse::<u16>().is_ok());
                    if !loopback {
                        f.error("config-value", format!("`address` must be a loopback host:port, found `{a}`"), v.span.clone())
                            .help = Some(
                            "signal-cli's daemon has no authentication: run it on this machine (`signal-cli daemon --tcp 127.0.0.1:7583`)".into(),
                        );
                    }
                }
            }
            _ => f.common(k, v, "signal"),
        });
        self.required(key, value, "channels.signal", &["account"]);
    }

    fn matrix(&mut self, key: &Node, value: &Node) {
        self.map(key, value, "channels.matrix", MATRIX_KEYS, |f, k, v| match k.key_text().as_str() {
            "homeserver" => {
                if let Some(url) = f.string("homeserver", k, v) {
                    f.url("homeserver", url, v.span.clone());
                }
            }
            "user" => f.ids_one(k, v),
            "recipients" => f.recipients(
                k,
                v,
                "a room id (!…) or a Matrix id (@…)",
                |v| matches!(v, Value::String(s) if is_mxid(s) || (s.starts_with('!') && s.len() > 1)),
            ),
            "allow" | "approvers" => f.ids(k, v, "a full Matrix id like @alice:example.org", is_mxid),
            "groups" => f.ids(k, v, "a room id like !abc…", |s| s.starts_with('!') && s.len() > 1),
            _ => f.common(k, v, "matrix"),
        });
        self.required(key, value, "channels.matrix", &["homeserver", "user"]);
    }

    /// `user:` — one full Matrix id.
    fn ids_one(&mut self, k: &Node, v: &Node) {
        if let Some(u) = self.string("user", k, v)
            && !is_mxid(u)
        {
            self.error(
                "config-value",
                format!("`user` must be a full Matrix id like @pyra:example.org, found `{u}`"),
                v.span.clone(),
            );
        }
    }

    /// A list of string ids, each passing `valid`.
    fn ids(&mut self, key: &Node, value: &Node, what: &str, valid: impl Fn(&str) -> bool) {
        let Value::Seq(items) = &value.value else {
            if value.value != Value::Null {
                self.error(
                    "config-type",
                    format!("`{}` must be a list of ids, found {}", key.key_text(), value.type_name()),
                    Self::span_of(key, value),
                );
            }
            return;
        };
        for item in items {
            let ok = matches!(&item.value, Value::String(s) if valid(s));
            if !ok {
                self.error(
                    "config-value",
                    format!("each item of `{}` must be {what}, found {}", key.key_text(), item.type_name()),
                    Self::span_of(key, item),
                )
                .help = Some(
                    "display names can be changed or taken over: use the stable id, or approve the person's \
                     pairing code with `pyra channels pair CODE`, which records it"
                        .into(),
                );
            }
        }
    }

    /// `recipients:` — a map of names to ids, each passing `valid`.
    fn recipients(&mut self, key: &Node, value: &Node, what: &str, valid: impl Fn(&Value) -> bool) {
        let Value::Map(entries) = &value.value else {
            if value.value != Value::Null {
                self.error(
                    "config-type",
                    format!("`recipients` must be a map of names to ids, found {}", value.type_name()),
                    Self::span_of(key, value),
                )
                .expected = Some("`recipients: { family: ID }`".into());
            }
            return;
        };
        for (name, id) in entries {
            if !valid(&id.value) {
                self.error(
                    "config-value",
                    format!("recipient `{}` must be {what}, found {}", name.key_text(), id.type_name()),
                    Self::span_of(name, id),
                );
            }
        }
    }

    /// Keys a channel cannot do without.
    fn required(&mut self, key: &Node, value: &Node, place: &str, needed: &[&str]) {
        let Value::Map(entries) = &value.value else { return };
        for name in needed {
            if !entries.iter().any(|(k, _)| k.key_text() == *name) {
                self.error("config-missing", format!("`{place}` needs `{name}`"), key.span.clone());
            }
        }
    }

    /// `allow:` — Telegram user ids (whole numbers): a name or `@username` can change hands.
    fn user_ids(&mut self, key: &Node, value: &Node, groups: bool) {
        let Value::Seq(items) = &value.value else {
            if value.value != Value::Null {
                self.error(
                    "config-type",
                    format!("`{}` must be a list of Telegram user ids, found {}", key.key_text(), value.type_name()),
                    Self::span_of(key, value),
                )
                .expected = Some("`allow: [123456789]`".into());
            }
            return;
        };
        for item in items {
            let ok = if groups {
                matches!(&item.value, Value::Number(n) if n.as_i64().is_some_and(|n| n < 0))
            } else {
                matches!(&item.value, Value::Number(n) if n.as_u64().is_some_and(|n| n > 0))
            };
            if !ok {
                self.error(
                    "config-value",
                    format!(
                        "each item of `allow` must be a Telegram user id (a positive whole number), found {}",
                        item.type_name()
                    ),
                    Self::span_of(key, item),
                )
                .help = Some(
                    "usernames and display names can be changed or taken over; ask the person to message the bot \
                     and approve their pairing code with `pyra channels pair CODE`, which records their id"
                        .into(),
                );
            }
        }
    }
}

/// An E.164 phone number: `+` and 6 to 15 digits.
fn is_number(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| (6..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// A UUID in its 8-4-4-4-12 hex form.
fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts.iter().zip([8, 4, 4, 4, 12]).all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A full Matrix user id: `@localpart:server`.
fn is_mxid(s: &str) -> bool {
    s.strip_prefix('@')
        .and_then(|r| r.split_once(':'))
        .is_some_and(|(l, server)| !l.is_empty() && !server.is_empty() && !s.chars().any(char::is_whitespace))
}
