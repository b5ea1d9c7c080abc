//! The `channels:` section's checks, each finding located like the rest; the keys, the
//! choices, the ranges and the required keys are the declared ones ([`crate::fields`]).
//! Every channel: `challenge` (pairing or passphrase), `passphrase` (an Argon2id hash,
//! never the passphrase: a plain value is refused and hidden from the message),
//! `rate_per_hour` (1–10,000). `telegram`: `allow` and `approvers` (Telegram's numeric
//! user ids: whole numbers, never names), `groups` (group chat ids, negative), `api_url`
//! (http or https; tests point it at a local Bot API). `signal`: `account` (an E.164
//! number), `allow` and `approvers` (UUIDs or numbers), `groups`, `cli`, `address`
//! (loopback `host:port`). `matrix`: `homeserver` (a URL), `user`, `allow` and
//! `approvers` (full Matrix ids), `groups` (room ids).

use syntax::yaml::{Node, Value};

use super::Findings;
use crate::fields;
use crate::model::TelegramSettings;

impl Findings {
    pub(super) fn channels(&mut self, key: &Node, value: &Node) {
        if value.value == Value::Null {
            return;
        }
        self.map(key, value, "channels", |f, k, v| {
            if v.value == Value::Null {
                return;
            }
            match k.key_text().as_str() {
                "telegram" => f.telegram(k, v),
                "signal" => f.signal(k, v),
                "matrix" => f.matrix(k, v),
                _ => f.declared("channels", k, v),
            }
        });
    }

    fn telegram(&mut self, key: &Node, value: &Node) {
        const PATH: &str = "channels.telegram";
        self.map(key, value, PATH, |f, k, v| match k.key_text().as_str() {
            "allow" | "approvers" => f.user_ids(k, v, false),
            "groups" => f.user_ids(k, v, true),
            "recipients" => f.recipients(
                k,
                v,
                "a Telegram chat id (a whole number)",
                |v| matches!(v, Value::Number(n) if n.as_i64().is_some()),
            ),
            "challenge" | "rate_per_hour" => f.common(PATH, k, v),
            "api_url" => {
                if let Some(url) = f.string("api_url", k, v) {
                    f.url("api_url", url, v.span.clone());
                }
            }
            _ => f.declared(PATH, k, v),
        });
        self.required(key, value, PATH);
    }

    /// `challenge` and `rate_per_hour`: the same under every channel (its `passphrase` is
    /// a declared hash, checked as one).
    fn common(&mut self, path: &str, k: &Node, v: &Node) {
        match k.key_text().as_str() {
            "challenge" => {
                let choices = fields::section(path).and_then(|s| s.field("challenge")).map_or(&[][..], |f| f.choices());
                self.choice("challenge", k, v, choices, "`pairing` (the owner approves a code) or `passphrase`");
            }
            _ => self.whole_number(
                path,
                k,
                v,
                &format!(
                    "messages a sender may send in a rolling hour; more are refused with one notice (default {})",
                    TelegramSettings::DEFAULT_RATE_PER_HOUR
                ),
            ),
        }
    }

    fn signal(&mut self, key: &Node, value: &Node) {
        const PATH: &str = "channels.signal";
        self.map(key, value, PATH, |f, k, v| match k.key_text().as_str() {
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
            "challenge" | "rate_per_hour" => f.common(PATH, k, v),
            _ => f.declared(PATH, k, v),
        });
        self.required(key, value, PATH);
    }

    fn matrix(&mut self, key: &Node, value: &Node) {
        const PATH: &str = "channels.matrix";
        self.map(key, value, PATH, |f, k, v| match k.key_text().as_str() {
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
            "challenge" | "rate_per_hour" => f.common(PATH, k, v),
            _ => f.declared(PATH, k, v),
        });
        self.required(key, value, PATH);
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

    /// The keys a channel cannot do without (its declared required fields).
    fn required(&mut self, key: &Node, value: &Node, path: &str) {
        let Value::Map(entries) = &value.value else { return };
        for field in fields::section(path).into_iter().flat_map(|s| s.fields).filter(|f| f.required) {
            if !entries.iter().any(|(k, _)| k.key_text() == field.key) {
                self.error("config-missing", format!("`{path}` needs `{}`", field.key), key.span.clone());
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
