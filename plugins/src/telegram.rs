//! A small Telegram Bot API client on Pyra's reqwest, shared by the daemon's channel
//! (`cli/channels`) and the `message.send` kind: the calls they need, the envelope (`ok`, `result`, `error_code`, `description`, `parameters.retry_after`), and
//! long polling. The bot token is in every URL, so no error leaves this module with its
//! URL (`without_url`), and descriptions pass the redactor.

use std::time::Duration;

use serde_json::{Value, json};

/// Updates a poll asks for; set on every call (Telegram keeps the last list given).
pub const ALLOWED_UPDATES: &[&str] = &["message", "edited_message", "callback_query"];
/// The most UTF-16 code units of one message.
pub const MAX_UNITS: usize = 4096;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// Telegram answered with an error.
    Api { code: i64, description: String, retry_after: Option<u64> },
    /// No answer. `sent`: the request may have reached Telegram (a send must not be
    /// repeated blindly).
    Net { message: String, sent: bool },
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Api { code: 409, .. } => f.write_str(
                "Telegram answered 409: another program polls this bot's updates (or a webhook is set); stop the \
                 other bot instance — each token may have one poller",
            ),
            ApiError::Api { code: 401, .. } => {
                f.write_str("Telegram refused the bot token (401): check it with @BotFather and run `pyra channels add telegram` again")
            }
            ApiError::Api { code, description, .. } => write!(f, "Telegram answered {code}: {description}"),
            ApiError::Net { message, .. } => write!(f, "cannot reach Telegram: {message}"),
        }
    }
}

pub struct Client {
    http: reqwest::Client,
    /// `{api_url}/bot{token}/`.
    base: String,
}

impl Client {
    pub fn new(api_url: &str, token: &str) -> Client {
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).build().unwrap_or_default();
        Client { http, base: format!("{}/bot{token}/", api_url.trim_end_matches('/')) }
    }

    /// Calls `method` with JSON parameters; `wait` bounds the whole request.
    pub async fn call(&self, method: &str, params: &Value, wait: Duration) -> Result<Value, ApiError> {
        let response = self
            .http
            .post(format!("{}{method}", self.base))
            .timeout(wait)
            .header("content-type", "application/json")
            .body(params.to_string())
            .send()
            .await
            .map_err(|e| {
                let sent = !e.is_connect() && !e.is_builder();
                ApiError::Net { message: llm::client::error_chain(&e.without_url()), sent }
            })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| ApiError::Net { message: llm::client::error_chain(&e.without_url()), sent: true })?;
        let Ok(body) = serde_json::from_str::<Value>(&text) else {
            return Err(ApiError::Net { message: format!("an answer that is not JSON ({status})"), sent: true });
        };
        if body["ok"] == true {
            return Ok(body["result"].clone());
        }
        let description = body["description"].as_str().unwrap_or("no description");
        Err(ApiError::Api {
            code: body["error_code"].as_i64().unwrap_or(i64::from(status.as_u16())),
            description: security::redact::redact(description).into_owned(),
            retry_after: body.pointer("/parameters/retry_after").and_then(Value::as_u64),
        })
    }

    /// `getMe`: the bot's own user.
    pub async fn get_me(&self) -> Result<Value, ApiError> {
        self.call("getMe", &json!({}), Duration::from_secs(30)).await
    }

    /// One long poll: updates from `offset`, waiting up to `timeout` seconds for one.
    pub async fn get_updates(&self, offset: i64, timeout: u64) -> Result<Vec<Value>, ApiError> {
        let params = json!({ "offset": offset, "timeout": timeout, "allowed_updates": ALLOWED_UPDATES });
        // The HTTP timeout is above the poll's: a poll that outlives it is a stalled one.
        let result = self.call("getUpdates", &params, Duration::from_secs(timeout + 15)).await?;
        Ok(result.as_array().cloned().unwrap_or_default())
    }

    /// `sendMessage` of plain text (never parsed as Markdown or HTML); its message id.
    pub async fn send_text(&self, chat: &str, text: &str) -> Result<i64, ApiError> {
        let chat_id: Value = chat.parse::<i64>().map_or_else(|_| json!(chat), |n| json!(n));
        let sent =
            self.call("sendMessage", &json!({ "chat_id": chat_id, "text": text }), Duration::from_secs(30)).await?;
        Ok(sent["message_id"].as_i64().unwrap_or(0))
    }
}

impl Client {
    /// `sendMessage` with an inline keyboard; its message id.
    pub async fn send_buttons(&self, chat: &str, text: &str, keyboard: &Value) -> Result<i64, ApiError> {
        let chat_id: Value = chat.parse::<i64>().map_or_else(|_| json!(chat), |n| json!(n));
        let params = json!({ "chat_id": chat_id, "text": text, "reply_markup": keyboard });
        let sent = self.call("sendMessage", &params, Duration::from_secs(30)).await?;
        Ok(sent["message_id"].as_i64().unwrap_or(0))
    }

    /// `answerCallbackQuery`: stops the button's spinner, with a short note.
    pub async fn answer_callback(&self, query_id: &str, text: &str) -> Result<(), ApiError> {
        self.call(
            "answerCallbackQuery",
            &json!({ "callback_query_id": query_id, "text": text }),
            Duration::from_secs(15),
        )
        .await
        .map(drop)
    }

    /// `deleteMessage` (a bot may delete any message in a private chat).
    pub async fn delete_message(&self, chat: &str, message_id: i64) -> Result<(), ApiError> {
        let chat_id: Value = chat.parse::<i64>().map_or_else(|_| json!(chat), |n| json!(n));
        let params = json!({ "chat_id": chat_id, "message_id": message_id });
        self.call("deleteMessage", &params, Duration::from_secs(15)).await.map(drop)
    }

    /// `editMessageText` (its keyboard goes: a decided request has no buttons).
    pub async fn edit_text(&self, chat: &str, message_id: i64, text: &str) -> Result<(), ApiError> {
        let chat_id: Value = chat.parse::<i64>().map_or_else(|_| json!(chat), |n| json!(n));
        let params = json!({ "chat_id": chat_id, "message_id": message_id, "text": text });
        self.call("editMessageText", &params, Duration::from_secs(15)).await.map(drop)
    }
}

/// Cuts `text` into messages of at most [`MAX_UNITS`] UTF-16 code units, at a paragraph
/// break if one is in the second half of a piece, else at a line break, a space, or
/// anywhere (never inside a character).
pub fn split(text: &str) -> Vec<String> {
    crate::cut::cut(text, |rest| crate::cut::by_cost(rest, MAX_UNITS, char::len_utf16))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(s: &str) -> usize {
        s.encode_utf16().count()
    }

    #[test]
    fn long_text_is_cut_under_the_limit_at_paragraphs() {
        let para = "word ".repeat(300);
        let text = format!("{para}\n\n{para}\n\n{para}\n\n{para}");
        let parts = split(&text);
        assert!(parts.len() >= 2, "{}", parts.len());
        assert!(parts.iter().all(|p| units(p) <= MAX_UNITS));
        assert_eq!(parts.join(" ").split_whitespace().count(), text.split_whitespace().count());
    }

    #[test]
    fn emoji_count_twice_and_are_never_cut() {
        let text = "😀".repeat(3000);
        let parts = split(&text);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| units(p) <= MAX_UNITS));
        assert_eq!(parts.concat(), text);
        assert_eq!(split("short"), vec!["short".to_string()]);
    }

    #[test]
    fn errors_never_show_the_token_and_409_is_explained() {
        let e = ApiError::Api { code: 409, description: "Conflict".into(), retry_after: None };
        assert!(e.to_string().contains("another program polls"));
    }
}
