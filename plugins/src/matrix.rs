//! A small Matrix client-server API client on Pyra's reqwest, for the daemon's Matrix
//! channel (`cli/channels`) and `pyra channels add matrix`: password login, `whoami`, a
//! filtered long-poll `/sync`, `join`, and sending text, reactions and redactions — no
//! end-to-end encryption (an encrypted room is reported, never read).
//!
//! Why by hand: matrix-sdk without E2EE adds ~110 crates for five endpoints (research
//! channels.md §c). The rules it follows: the access token travels only in the
//! `Authorization` header, and no error carries it (reqwest errors lose their URL, server
//! text passes the redactor and loses the token); room and event ids are opaque (room v12
//! ids have no `:server`) and every path segment is percent-encoded; sends are `PUT`s with
//! a caller-given transaction id and are retried with the *same* id, so the server's
//! de-duplication (per access token and id) makes a retry deliver at most one event;
//! [`parse_sync`] is total — unknown or hostile shapes are skipped, never a panic.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

/// Event types a sync asks for (the rest of a room's traffic never reaches Pyra).
pub const SYNC_TYPES: &[&str] =
    &["m.room.message", "m.reaction", "m.room.encrypted", "m.room.encryption", "m.room.member"];
/// Events per room and sync; more since the last one gives `limited: true` (a gap).
pub const TIMELINE_LIMIT: u32 = 50;
/// The most characters of one event's `body`.
pub const MAX_CHARS: usize = 16_000;
/// The most bytes of one `body` as JSON (quotes and control characters escaped), well
/// under the 64 KiB cap on a whole event.
pub const MAX_JSON_BYTES: usize = 40_000;
/// Retries of one send after a 429 or an answer that may have been lost.
const MAX_RETRIES: u32 = 5;
/// The longest wait a 429 may ask of a send.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No (usable) answer. `sent`: the request may have reached the homeserver.
    Net { message: String, sent: bool },
    /// The homeserver answered with an error (`errcode` is empty when the body was not a
    /// Matrix error, e.g. a proxy's page).
    Api { status: u16, errcode: String, error: String, retry_after_ms: Option<u64> },
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Net { message, .. } => write!(f, "cannot reach the Matrix homeserver: {message}"),
            ApiError::Api { errcode, .. } if errcode == "M_UNKNOWN_TOKEN" || errcode == "M_MISSING_TOKEN" => f
                .write_str(
                    "the Matrix homeserver refused the access token (logged out?): run `pyra channels add matrix` again",
                ),
            ApiError::Api { status, errcode, error, retry_after_ms: Some(ms) } => {
                write!(f, "the Matrix homeserver answered {status} {errcode}: {error} (retry after {ms} ms)")
            }
            ApiError::Api { status, errcode, error, .. } if errcode.is_empty() => {
                write!(f, "the Matrix homeserver answered {status}: {error}")
            }
            ApiError::Api { status, errcode, error, .. } => {
                write!(f, "the Matrix homeserver answered {status} {errcode}: {error}")
            }
        }
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    fn rate_limited(&self) -> Option<Duration> {
        match self {
            ApiError::Api { status, errcode, retry_after_ms, .. }
                if *status == 429 || errcode == "M_LIMIT_EXCEEDED" =>
            {
                Some(Duration::from_millis(retry_after_ms.unwrap_or(1000)).min(MAX_RETRY_WAIT))
            }
            _ => None,
        }
    }
}

/// One account on one homeserver. `Debug` shows the homeserver only.
pub struct Client {
    http: reqwest::Client,
    /// The homeserver's base URL, without a trailing `/`.
    base: String,
    token: SecretString,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("homeserver", &self.base).finish_non_exhaustive()
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).build().unwrap_or_default()
}

impl Client {
    pub fn new(homeserver: &str, access_token: &str) -> Client {
        Client {
            http: http(),
            base: homeserver.trim_end_matches('/').to_string(),
            token: SecretString::from(access_token.to_string()),
        }
    }

    /// `m.login.password`; returns (access_token, user_id, device_id). For `pyra channels
    /// add matrix`. The password is in the body only and never in an error.
    pub async fn login_password(
        homeserver: &str,
        user: &str,
        password: &str,
    ) -> Result<(String, String, String), ApiError> {
        let body = json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.user", "user": user },
            "password": password,
            "initial_device_display_name": "Pyra",
        });
        let url = format!("{}/_matrix/client/v3/login", homeserver.trim_end_matches('/'));
        let reply = call(&http(), Method::POST, &url, None, Some(&body), Duration::from_secs(30), &[password]).await?;
        let field = |name: &str| reply[name].as_str().unwrap_or_default().to_string();
        let (token, user_id, device) = (field("access_token"), field("user_id"), field("device_id"));
        if token.is_empty() || user_id.is_empty() {
            return Err(ApiError::Net { message: "a login answer without an access token".into(), sent: true });
        }
        Ok((token, user_id, device))
    }

    /// The account's user id (`GET /account/whoami`).
    pub async fn whoami(&self) -> Result<String, ApiError> {
        let reply = self.request(Method::GET, "account/whoami", "", None, Duration::from_secs(30)).await?;
        reply["user_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| ApiError::Net { message: "a whoami answer without a user_id".into(), sent: true })
    }

    /// `GET /sync` from `since` (`None`: the first sync), waiting up to `timeout_ms` for
    /// something new, with an inline filter of [`SYNC_TYPES`] (no presence, receipts,
    /// typing or account data). The HTTP timeout is above the long poll's, so a poll that
    /// outlives it is a stalled connection.
    pub async fn sync(&self, since: Option<&str>, timeout_ms: u64) -> Result<Value, ApiError> {
        let types = json!(SYNC_TYPES);
        let filter = json!({
            "presence": { "types": [] },
            "account_data": { "types": [] },
            "room": {
                "timeline": { "types": types, "limit": TIMELINE_LIMIT },
                "state": { "types": types, "lazy_load_members": true },
                "ephemeral": { "types": [] },
                "account_data": { "types": [] },
            },
        });
        let mut query = format!("timeout={timeout_ms}&filter={}", encode(&filter.to_string()));
        if let Some(since) = since {
            query.push_str(&format!("&since={}", encode(since)));
        }
        let wait = Duration::from_millis(timeout_ms) + Duration::from_secs(30);
        self.request(Method::GET, "sync", &query, None, wait).await
    }

    /// Joins a room the account was invited to.
    pub async fn join(&self, room_id: &str) -> Result<(), ApiError> {
        let path = format!("rooms/{}/join", encode(room_id));
        self.request(Method::POST, &path, "", Some(&json!({})), Duration::from_secs(60)).await.map(drop)
    }

    /// Sends plain text (`m.text`, or `m.notice` for automated notes that other bots
    /// ignore) as transaction `txn_id`; the event id. Longer text than [`split`] allows is
    /// refused by the server: split first.
    pub async fn send_text(&self, room_id: &str, text: &str, txn_id: &str, notice: bool) -> Result<String, ApiError> {
        let content = json!({ "msgtype": if notice { "m.notice" } else { "m.text" }, "body": text });
        let path = format!("rooms/{}/send/m.room.message/{}", encode(room_id), encode(txn_id));
        self.put_once(&path, &content).await.map(reply_event_id)
    }

    /// Reacts to `event_id` with `key` (an `m.annotation`); the reaction's event id.
    pub async fn react(&self, room_id: &str, event_id: &str, key: &str, txn_id: &str) -> Result<String, ApiError> {
        let content = json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": event_id, "key": key } });
        let path = format!("rooms/{}/send/m.reaction/{}", encode(room_id), encode(txn_id));
        self.put_once(&path, &content).await.map(reply_event_id)
    }

    /// Redacts (deletes the content of) an event, e.g. a passphrase the owner typed.
    pub async fn redact(&self, room_id: &str, event_id: &str, txn_id: &str) -> Result<(), ApiError> {
        let path = format!("rooms/{}/redact/{}/{}", encode(room_id), encode(event_id), encode(txn_id));
        self.put_once(&path, &json!({})).await.map(drop)
    }

    /// A `PUT` keyed by a transaction id, retried with the same id after a 429 (waiting
    /// what the server asks, at most a minute), a lost answer or a gateway error: the
    /// server de-duplicates the id, so at most one event results.
    async fn put_once(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        let mut retries = 0;
        loop {
            let error = match self.request(Method::PUT, path, "", Some(body), Duration::from_secs(30)).await {
                Ok(reply) => return Ok(reply),
                Err(error) => error,
            };
            let pause = match &error {
                _ if retries >= MAX_RETRIES => None,
                ApiError::Net { sent: true, .. } | ApiError::Api { status: 502..=504, .. } => {
                    Some(Duration::from_millis(500 << retries))
                }
                e => e.rate_limited(),
            };
            let Some(pause) = pause else { return Err(error) };
            tracing::debug!(retry = retries + 1, wait_ms = pause.as_millis() as u64, "matrix send retried: {error}");
            tokio::time::sleep(pause).await;
            retries += 1;
        }
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: Option<&Value>,
        wait: Duration,
    ) -> Result<Value, ApiError> {
        let mut url = format!("{}/_matrix/client/v3/{path}", self.base);
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        let token = self.token.expose_secret();
        call(&self.http, method, &url, Some(token), body, wait, &[token]).await
    }
}

fn reply_event_id(reply: Value) -> String {
    reply["event_id"].as_str().unwrap_or_default().to_string()
}

/// One request: the JSON answer, or the error with `secrets` (and anything key-shaped)
/// removed from every text that leaves.
async fn call(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
    wait: Duration,
    secrets: &[&str],
) -> Result<Value, ApiError> {
    let scrub = |text: &str| {
        let mut text = text.to_string();
        for secret in secrets.iter().filter(|s| s.len() >= 4) {
            text = text.replace(secret, "[redacted]");
        }
        security::redact::redact(&text).into_owned()
    };
    let mut request = http.request(method, url).timeout(wait);
    if let Some(token) = token {
        let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {token}")) else {
            return Err(ApiError::Net {
                message: "the access token has characters no header can carry".into(),
                sent: false,
            });
        };
        value.set_sensitive(true);
        request = request.header(AUTHORIZATION, value);
    }
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_string());
    }
    let net = |e: reqwest::Error, sent: bool| ApiError::Net {
        message: scrub(&llm::client::error_chain(&e.without_url())),
        sent,
    };
    let response = request.send().await.map_err(|e| {
        let sent = !e.is_connect() && !e.is_builder();
        net(e, sent)
    })?;
    let status = response.status();
    let header_wait = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    let text = response.text().await.map_err(|e| net(e, true))?;
    let parsed = serde_json::from_str::<Value>(&text).ok();
    if status.is_success() {
        return parsed.filter(Value::is_object).ok_or_else(|| ApiError::Net {
            message: format!("an answer that is not a JSON object ({status})"),
            sent: true,
        });
    }
    let parsed = parsed.unwrap_or(Value::Null);
    let errcode = parsed["errcode"].as_str().unwrap_or_default();
    let error = match parsed["error"].as_str() {
        Some(error) => scrub(error),
        None => format!("no Matrix error in the answer ({})", status.canonical_reason().unwrap_or("unknown status")),
    };
    Err(ApiError::Api {
        status: status.as_u16(),
        errcode: scrub(errcode).chars().take(64).collect(),
        error: error.chars().take(500).collect(),
        retry_after_ms: parsed["retry_after_ms"].as_u64().or(header_wait.map(|s| s.saturating_mul(1000))),
    })
}

/// Percent-encodes everything but RFC 3986's unreserved characters: one path segment or
/// query value (room ids are opaque: `!`, `:`, `/` and `#` are all encoded).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The bytes `c` takes inside a JSON string.
fn json_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if u32::from(c) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// Cuts `text` into event bodies of at most [`MAX_CHARS`] characters and
/// [`MAX_JSON_BYTES`] bytes as JSON, at a paragraph break if one is in the second half of
/// a piece, else at a line break, a space, or anywhere (never inside a character). Blank
/// pieces are dropped.
pub fn split(text: &str) -> Vec<String> {
    crate::cut::cut(text, |rest| {
        let chars = crate::cut::by_cost(rest, MAX_CHARS, |_| 1);
        crate::cut::by_cost(&rest[..chars], MAX_JSON_BYTES, json_len)
    })
}

/// What one `/sync` brought.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncBatch {
    /// The `since` of the next sync (empty if the answer had none).
    pub next_batch: String,
    /// Joined rooms with something new.
    pub rooms: Vec<RoomBatch>,
    pub invites: Vec<Invite>,
}

/// One joined room's part of a sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomBatch {
    pub room_id: String,
    /// An `m.room.encryption` state event is in *this batch* (its state or timeline): a
    /// room's full state comes with its first sync after the join, later batches carry
    /// only changes, so the caller remembers it (encryption cannot be turned off).
    pub encrypted: bool,
    /// Events were left out before these (a gap: more than [`TIMELINE_LIMIT`] arrived).
    pub limited: bool,
    /// The timeline, oldest first.
    pub events: Vec<Event>,
}

/// An invitation to a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub room_id: String,
    /// Who invited (the `sender` of the `invite` membership event). Compare exactly.
    pub inviter: String,
    /// The inviter marked it a direct chat (`is_direct`; the inviter's claim, nothing more).
    pub direct: bool,
}

/// One timeline event, as far as Pyra cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `m.room.message` of msgtype `m.text` or `m.emote` (a reply's quoted fallback
    /// removed). Notices (other bots), media, edits and redacted messages are `Other`.
    Text {
        event_id: String,
        sender: String,
        body: String,
        formatted_body: Option<String>,
        reply_to: Option<String>,
    },
    /// `m.reaction` (`m.annotation`) to `target`; `key` without U+FE0F/U+FE0E.
    Reaction {
        event_id: String,
        sender: String,
        target: String,
        key: String,
    },
    /// `m.room.encrypted`: a message Pyra cannot read.
    Encrypted {
        event_id: String,
        sender: String,
    },
    Other,
}

/// Reads a `/sync` answer. Total: anything of an unexpected shape is skipped.
pub fn parse_sync(sync: &Value) -> SyncBatch {
    let next_batch = sync.get("next_batch").and_then(Value::as_str).unwrap_or_default().to_string();
    let rooms = sync.get("rooms");
    let mut batch = SyncBatch { next_batch, ..SyncBatch::default() };
    if let Some(joined) = rooms.and_then(|r| r.get("join")).and_then(Value::as_object) {
        for (room_id, room) in joined {
            let timeline = room.get("timeline");
            let events = timeline.and_then(|t| t.get("events")).and_then(Value::as_array);
            let state = ["state", "state_after", "org.matrix.msc4222.state_after"]
                .iter()
                .filter_map(|key| room.get(key)?.get("events")?.as_array())
                .flatten();
            let encrypted = state
                .chain(events.into_iter().flatten())
                .any(|e| str_at(e, "type") == Some("m.room.encryption") && e.get("state_key").is_some());
            batch.rooms.push(RoomBatch {
                room_id: room_id.clone(),
                encrypted,
                limited: timeline.and_then(|t| t.get("limited")).and_then(Value::as_bool).unwrap_or(false),
                events: events.into_iter().flatten().map(parse_event).collect(),
            });
        }
    }
    if let Some(invited) = rooms.and_then(|r| r.get("invite")).and_then(Value::as_object) {
        for (room_id, room) in invited {
            let events = room.get("invite_state").and_then(|s| s.get("events")).and_then(Value::as_array);
            let invites: Vec<(&str, bool)> = events
                .into_iter()
                .flatten()
                .filter(|e| str_at(e, "type") == Some("m.room.member"))
                .filter_map(|e| {
                    let content = e.get("content")?;
                    let direct = content.get("is_direct").and_then(Value::as_bool).unwrap_or(false);
                    (str_at(content, "membership")? == "invite").then_some((str_at(e, "sender")?, direct))
                })
                .collect();
            // Stripped state is not verified: two invites from different senders are ambiguous.
            if let Some((inviter, _)) = invites.first()
                && invites.iter().all(|(s, _)| s == inviter)
            {
                let direct = invites.iter().all(|(_, direct)| *direct);
                batch.invites.push(Invite { room_id: room_id.clone(), inviter: (*inviter).to_string(), direct });
            }
        }
    }
    batch
}

fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn parse_event(event: &Value) -> Event {
    let (Some(kind), Some(event_id), Some(sender)) =
        (str_at(event, "type"), str_at(event, "event_id"), str_at(event, "sender"))
    else {
        return Event::Other;
    };
    // A state event of a message type is not a message.
    if event.get("state_key").is_some() {
        return Event::Other;
    }
    let content = event.get("content").filter(|c| c.is_object()).unwrap_or(&Value::Null);
    let relation = content.get("m.relates_to").filter(|r| r.is_object()).unwrap_or(&Value::Null);
    let (event_id, sender) = (event_id.to_string(), sender.to_string());
    match kind {
        "m.room.message" => {
            let msgtype = str_at(content, "msgtype");
            let Some(body) = str_at(content, "body") else { return Event::Other };
            if !matches!(msgtype, Some("m.text" | "m.emote")) || str_at(relation, "rel_type") == Some("m.replace") {
                return Event::Other;
            }
            let reply_to = relation.get("m.in_reply_to").and_then(|r| str_at(r, "event_id")).map(str::to_string);
            let formatted_body = (str_at(content, "format") == Some("org.matrix.custom.html"))
                .then(|| str_at(content, "formatted_body"))
                .flatten()
                .map(|html| if reply_to.is_some() { strip_html_fallback(html) } else { html.to_string() });
            let body = if reply_to.is_some() { strip_fallback(body) } else { body.to_string() };
            Event::Text { event_id, sender, body, formatted_body, reply_to }
        }
        "m.reaction" => {
            let (Some("m.annotation"), Some(target), Some(key)) =
                (str_at(relation, "rel_type"), str_at(relation, "event_id"), str_at(relation, "key"))
            else {
                return Event::Other;
            };
            let key: String = key.chars().filter(|c| !matches!(c, '\u{FE0F}' | '\u{FE0E}')).collect();
            if key.is_empty() {
                return Event::Other;
            }
            Event::Reaction { event_id, sender, target: target.to_string(), key }
        }
        "m.room.encrypted" => Event::Encrypted { event_id, sender },
        _ => Event::Other,
    }
}

/// A reply's body without the quoted fallback older clients put first (`> <@who> …`
/// lines, then a blank line); anything else is kept as typed.
fn strip_fallback(body: &str) -> String {
    if body.starts_with("> <")
        && let Some(at) = body.find("\n\n")
        && body[..at].lines().all(|line| line.starts_with('>'))
    {
        return body[at + 2..].to_string();
    }
    body.to_string()
}

fn strip_html_fallback(html: &str) -> String {
    match (html.find("<mx-reply>"), html.find("</mx-reply>")) {
        (Some(0), Some(end)) => html[end + "</mx-reply>".len()..].to_string(),
        _ => html.to_string(),
    }
}

#[cfg(test)]
mod tests;
