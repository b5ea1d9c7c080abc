//! The `channels:` section's checks: `telegram` — `allow` and `approvers` (Telegram's
//! numeric user ids: whole numbers, never names), `groups` (group chat ids, negative),
//! `challenge` (pairing or passphrase), `passphrase` (an Argon2id hash, never the
//! passphrase: a plain value is refused and hidden from the message), `rate_per_hour` (1–10,000), `api_url` (http or https;
//! tests point it at a local Bot API) — each finding located, like the rest.

use syntax::yaml::{Node, Value};

use super::Findings;
use crate::model::TelegramSettings;

/// The keys under `channels:`.
pub(crate) const CHANNELS_KEYS: &[&str] = &["telegram"];
/// The keys under `channels.telegram:`.
pub(crate) const TELEGRAM_KEYS: &[&str] =
    &["allow", "approvers", "groups", "challenge", "passphrase", "rate_per_hour", "api_url"];
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
            f.map(k, v, "channels.telegram", TELEGRAM_KEYS, |f, k, v| match k.key_text().as_str() {
                "allow" | "approvers" => f.user_ids(k, v, false),
                "groups" => f.user_ids(k, v, true),
                "challenge" => {
                    if let Some(c) = f.string("challenge", k, v)
                        && !matches!(c, "pairing" | "passphrase")
                    {
                        f.error(
                            "config-value",
                            format!("`challenge` is not one of pairing, passphrase: `{c}`"),
                            v.span.clone(),
                        )
                        .help = Some("`pairing` (the owner approves a code) or `passphrase`".into());
                    }
                }
                "passphrase" => {
                    if let Some(p) = f.string("passphrase", k, v)
                        && !p.starts_with("$argon2id$")
                    {
                        f.hidden.push(v.span.clone());
                        f.error(
                            "config-value",
                            "`passphrase` must be an Argon2id hash, not the passphrase itself",
                            v.span.clone(),
                        )
                        .help = Some("set it with `pyra channels passphrase telegram`, which writes the hash".into());
                    }
                }
                "rate_per_hour" => f.whole_number(
                    "rate_per_hour",
                    k,
                    v,
                    MAX_RATE_PER_HOUR,
                    &format!(
                        "messages a sender may send in a rolling hour; more are refused with one notice (default {})",
                        TelegramSettings::DEFAULT_RATE_PER_HOUR
                    ),
                ),
                _ => {
                    if let Some(url) = f.string("api_url", k, v) {
                        f.url("api_url", url, v.span.clone());
                    }
                }
            });
        });
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
