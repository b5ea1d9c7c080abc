//! `message.send`: a message through a channel (Telegram today) to a recipient — a
//! Telegram user id, or by default the channel's owner (the first id under
//! `channels.telegram.allow`). The bot token comes from the vault (`channel:telegram:token`,
//! logged to the security log and masked like a model's key); long text is split at
//! 4,096 UTF-16 units. A failure to reach Telegram is retryable (the node's `retry:`
//! applies); an answer from Telegram that refuses is not; a send that may have arrived is
//! never repeated.

use runtime::{BoxFuture, Executor, NodeCtx, NodeError, Outcome, Output};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::telegram::{ApiError, Client, split};

/// The vault key of the bot token (the same the daemon's channel reads).
pub const TOKEN_KEY: &str = "channel:telegram:token";

pub struct Send;

impl Executor for Send {
    fn execute(&self, ctx: NodeCtx, with: Value) -> BoxFuture<'static, Result<Outcome, NodeError>> {
        Box::pin(async move {
            let channel = with["channel"].as_str().unwrap_or_default();
            if channel != "telegram" {
                return Err(NodeError::Fatal(format!(
                    "`message.send` has no channel `{channel}`: `telegram` is the one Pyra has (Matrix and Signal are coming)"
                )));
            }
            let home =
                ctx.home().ok_or_else(|| NodeError::Fatal("`message.send` needs a Pyra home (config.yaml)".into()))?;
            let config = config::Config::load(home).map_err(|e| NodeError::Fatal(e.render(false)))?;
            let settings = config.channels.telegram.ok_or_else(|| {
                NodeError::Fatal("no Telegram channel is set up: `pyra channels add telegram`".into())
            })?;
            let to = match with["to"].as_str().map(str::trim).filter(|t| !t.is_empty()) {
                Some(id) if id.parse::<i64>().is_ok() => id.to_string(),
                Some(other) => {
                    return Err(NodeError::Fatal(format!(
                        "`to: {other}` is not a Telegram user id (a number); leave `to` out to write to the owner"
                    )));
                }
                None => settings.allow.first().map(i64::to_string).ok_or_else(|| {
                    NodeError::Fatal(
                        "`message.send` without `to` writes to the channel's owner: add their id under \
                         `channels.telegram.allow` in config.yaml"
                            .into(),
                    )
                })?,
            };
            let token = ctx.pyra_secret(
                TOKEN_KEY,
                "telegram bot token; message.send",
                "the Telegram channel needs its bot token",
            )?;
            let client = Client::new(&settings.api_url, token.expose_secret());
            let text = with["text"].as_str().unwrap_or_default();
            if text.trim().is_empty() {
                return Err(NodeError::Fatal("`message.send` has no text to send".into()));
            }
            let mut ids = Vec::new();
            for piece in split(text) {
                let sent = tokio::select! {
                    () = ctx.cancel.cancelled() => return Err(NodeError::Cancelled),
                    sent = client.send_text(&to, &piece) => sent,
                };
                match sent {
                    Ok(id) => ids.push(id),
                    // Nothing arrived: the node's retries may try again.
                    Err(e @ ApiError::Net { sent: false, .. }) => return Err(NodeError::Retryable(e.to_string())),
                    Err(e @ ApiError::Api { code: 429 | 500..=599, .. }) if ids.is_empty() => {
                        return Err(NodeError::Retryable(e.to_string()));
                    }
                    Err(e) => {
                        let sent_so_far =
                            if ids.is_empty() { String::new() } else { format!(" ({} part(s) were sent)", ids.len()) };
                        return Err(NodeError::Fatal(format!(
                            "{e}{sent_so_far}; not sent again, so that nothing arrives twice"
                        )));
                    }
                }
            }
            Ok(Outcome::Done(Output::trusted(json!({ "channel": "telegram", "to": to, "message_ids": ids }))))
        })
    }
}
