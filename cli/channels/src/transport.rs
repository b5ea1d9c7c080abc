//! What the gate needs from a platform, and what it knows of a message: [`Transport`]
//! sends, asks, edits and deletes on one platform (an enum, not a trait object: three
//! platforms, async methods, no boxing); [`Incoming`] is a message, button press or
//! reaction as every platform's parser hands it to the gate; [`Policy`] is who may talk,
//! from each platform's settings.

use std::sync::Arc;
use std::time::Duration;

/// Who may talk and how much, from a channel's settings (ids as strings: Telegram's
/// numbers, Matrix ids, Signal UUIDs or numbers — compared exactly).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub allow: Vec<String>,
    /// Who answers approvals (empty: those in `allow`).
    pub approvers: Vec<String>,
    /// Group chats where allowed senders are answered when they mention the bot.
    pub groups: Vec<String>,
    /// The Argon2id hash strangers must answer, when `challenge: passphrase`.
    pub passphrase: Option<String>,
    pub rate_per_hour: u32,
}

impl Policy {
    pub fn approvers(&self) -> &[String] {
        if self.approvers.is_empty() { &self.allow } else { &self.approvers }
    }

    pub fn from_telegram(s: &config::TelegramSettings) -> Policy {
        let ids = |v: &[i64]| v.iter().map(i64::to_string).collect();
        Policy {
            allow: ids(&s.allow),
            approvers: ids(&s.approvers),
            groups: ids(&s.groups),
            passphrase: passphrase(s.challenge.as_deref(), s.passphrase.as_ref()),
            rate_per_hour: s.rate_per_hour,
        }
    }
}

/// The hash a stranger must answer, when the challenge is a passphrase.
pub fn passphrase(challenge: Option<&str>, hash: Option<&String>) -> Option<String> {
    match (challenge, hash) {
        (Some("passphrase"), Some(phc)) => Some(phc.clone()),
        _ => None,
    }
}

/// One thing a platform delivered, as the gate sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Incoming {
    /// The platform's id of it, unique within the channel (the inbox's key).
    pub id: String,
    /// The sender's stable id ("" when the platform gave none: ignored).
    pub sender: String,
    /// Where to answer: a chat, room, or the sender again.
    pub chat: String,
    /// A one-to-one conversation with the bot.
    pub private: bool,
    /// A group message that names the bot (or answers it).
    pub mentioned: bool,
    /// Sent by a bot, by Pyra itself, or the account's own echo: never answered.
    pub from_self: bool,
    /// Everything it carries as text (body, caption, quote, forwarded origin, file
    /// names), all untrusted.
    pub text: String,
    /// The platform's id of the message itself, to delete a passphrase.
    pub message_id: Option<String>,
    pub what: What,
}

/// What kind of delivery it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum What {
    #[default]
    Message,
    /// A button press (Telegram's callback query).
    Button { query_id: String, data: String },
    /// A reaction to one of the bot's messages (Matrix, Signal): its target's message id
    /// and the emoji, variation selectors stripped.
    Reaction { target: String, key: String },
    /// Nothing to do (another kind of update), but the cursor moves past it.
    Skip,
}

/// Why a send did not happen (or may not have).
#[derive(Debug)]
pub enum SendError {
    /// Nothing arrived: it may be tried again (after `after` when the server said so).
    NotSent { message: String, after: Option<Duration> },
    /// It may have arrived: repeated only where the platform drops duplicates.
    Unknown(String),
    /// Refused for good.
    Failed(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::NotSent { message, .. } | SendError::Unknown(message) | SendError::Failed(message) => {
                f.write_str(message)
            }
        }
    }
}

/// A platform's client.
#[derive(Clone)]
pub enum Transport {
    Telegram(Arc<plugins::telegram::Client>),
    Matrix(Arc<plugins::matrix::Client>),
    /// signal-cli, and the account it sends as.
    Signal(plugins::signal::Client, String),
}

impl From<plugins::signal::RpcError> for SendError {
    fn from(e: plugins::signal::RpcError) -> SendError {
        use plugins::signal::RpcError;
        match e {
            // signal-cli answered with an error: it did not send.
            RpcError::Rpc { .. } => SendError::Failed(e.to_string()),
            // The request may have been written before signal-cli went away or stalled.
            RpcError::Io(_) | RpcError::Timeout | RpcError::Closed => SendError::Unknown(e.to_string()),
        }
    }
}

impl From<plugins::matrix::ApiError> for SendError {
    fn from(e: plugins::matrix::ApiError) -> SendError {
        use plugins::matrix::ApiError;
        match e {
            // The client has waited out 429s already; one more is a send that did not happen.
            ApiError::Api { status: 429, retry_after_ms, .. } => SendError::NotSent {
                message: e.to_string(),
                after: retry_after_ms.map(|ms| Duration::from_millis(ms.min(60_000))),
            },
            ApiError::Api { status: 500.., .. } => SendError::NotSent { message: e.to_string(), after: None },
            ApiError::Net { sent: false, .. } => SendError::NotSent { message: e.to_string(), after: None },
            ApiError::Net { sent: true, .. } => SendError::Unknown(e.to_string()),
            ApiError::Api { .. } => SendError::Failed(e.to_string()),
        }
    }
}

/// A Matrix transaction id from an outbox key (unique per key, safe in a path).
fn txn(key: &str) -> String {
    key.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect::<String>()
        + &format!("-{:016x}", fnv(key))
}

/// FNV-1a: keys that differ only in replaced characters keep distinct transaction ids.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

impl From<plugins::telegram::ApiError> for SendError {
    fn from(e: plugins::telegram::ApiError) -> SendError {
        use plugins::telegram::ApiError;
        match e {
            ApiError::Api { retry_after: Some(wait), .. } => {
                SendError::NotSent { message: e.to_string(), after: Some(Duration::from_secs(wait.min(60))) }
            }
            ApiError::Net { sent: false, .. } => SendError::NotSent { message: e.to_string(), after: None },
            ApiError::Net { sent: true, .. } => SendError::Unknown(e.to_string()),
            ApiError::Api { .. } => SendError::Failed(e.to_string()),
        }
    }
}

impl Transport {
    /// Text cut into the pieces the platform takes.
    pub fn split(&self, text: &str) -> Vec<String> {
        match self {
            Transport::Telegram(_) => plugins::telegram::split(text),
            Transport::Matrix(_) => plugins::matrix::split(text),
            Transport::Signal(..) => plugins::signal::split(text),
        }
    }

    /// Whether the platform drops a repeated send with the same key (then a send whose
    /// outcome is unknown may be repeated).
    pub fn idempotent(&self) -> bool {
        match self {
            Transport::Telegram(_) => false,
            // The homeserver keeps one event per transaction id.
            Transport::Matrix(_) => true,
            Transport::Signal(..) => false,
        }
    }

    /// Sends one piece of plain text; the platform's id of the message. `key` is the
    /// outbox's idempotency key.
    pub async fn send(&self, chat: &str, text: &str, key: &str) -> Result<String, SendError> {
        match self {
            Transport::Telegram(c) => Ok(c.send_text(chat, text).await?.to_string()),
            Transport::Matrix(c) => Ok(c.send_text(chat, text, &txn(key), false).await?),
            Transport::Signal(c, _) => Ok(c.send_text(chat, text).await?.to_string()),
        }
    }

    /// Sends an approval request: with Approve / Deny buttons carrying `yes` and `no` where
    /// the platform has buttons, as plain text (answered by reaction or command) elsewhere.
    pub async fn ask(&self, chat: &str, text: &str, yes: &str, no: &str, key: &str) -> Result<String, SendError> {
        match self {
            Transport::Telegram(c) => {
                let keyboard = serde_json::json!({ "inline_keyboard": [[
                    { "text": "Approve", "callback_data": yes },
                    { "text": "Deny", "callback_data": no },
                ]]});
                Ok(c.send_buttons(chat, text, &keyboard).await?.to_string())
            }
            Transport::Matrix(_) | Transport::Signal(..) => self.send(chat, text, key).await,
        }
    }

    /// How an approver answers a request on this platform, for its text.
    pub fn how_to_answer(&self) -> &'static str {
        match self {
            Transport::Telegram(_) => "with the buttons",
            Transport::Matrix(_) | Transport::Signal(..) => "by reacting with 👍 or 👎",
        }
    }

    /// Marks a decided request (best effort): Telegram replaces its text and buttons.
    pub async fn decided(&self, chat: &str, message_id: &str, text: &str) {
        match self {
            Transport::Telegram(c) => {
                if let Ok(id) = message_id.parse::<i64>() {
                    let _ = c.edit_text(chat, id, text).await;
                }
            }
            // A notice under the request (an edit would need the request's whole content again).
            Transport::Matrix(c) => {
                let _ = c.send_text(chat, text, &txn(&format!("decided:{message_id}")), true).await;
            }
            // A ✅ or ❌ on the request (a sent message cannot be edited from signal-cli's
            // side in a way every client shows).
            Transport::Signal(c, account) => {
                if let Ok(ts) = message_id.parse::<i64>() {
                    let emoji = if text.starts_with("Approved") { "✅" } else { "❌" };
                    let _ = c.send_reaction(chat, emoji, account, ts).await;
                }
            }
        }
    }

    /// Deletes someone's message (a passphrase attempt), where the platform lets a bot.
    pub async fn delete(&self, chat: &str, message_id: &str) -> Result<(), String> {
        match self {
            Transport::Telegram(c) => {
                let id = message_id.parse::<i64>().map_err(|_| format!("not a message id: {message_id}"))?;
                c.delete_message(chat, id).await.map_err(|e| e.to_string())
            }
            // Only with the power to redact others' events (a room's creator has it).
            Transport::Matrix(c) => {
                c.redact(chat, message_id, &txn(&format!("redact:{message_id}"))).await.map_err(|e| e.to_string())
            }
            Transport::Signal(..) => Err("Signal does not let anyone delete someone else's message".into()),
        }
    }

    /// Stops a button's spinner with a short note (Telegram).
    pub async fn answer_button(&self, query_id: &str, note: &str) {
        match self {
            Transport::Telegram(c) => {
                let _ = c.answer_callback(query_id, note).await;
            }
            Transport::Matrix(_) | Transport::Signal(..) => {}
        }
    }
}
