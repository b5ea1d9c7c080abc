//! Telegram: Bot API long polling (`getUpdates` with the offset kept in `pyra.db`,
//! `allowed_updates` explicit) on the client in `plugins` (which `message.send` shares),
//! each update parsed into what the gate takes; a 409 (a second poller), a 401 or a
//! stalled poll ends the task, and the daemon's supervisor restarts it with backoff.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use daemon::core::Daemon;
pub use plugins::telegram::{ApiError, Client, split};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::gate::Context;
use crate::store::Store;
use crate::transport::{Incoming, Policy, Transport, What};
use crate::{TELEGRAM, now_ms};

/// The vault key of the bot token.
pub const TOKEN_KEY: &str = "channel:telegram:token";
/// A long poll's wait, in seconds (`PYRA_TELEGRAM_POLL` in tests).
const POLL_SECONDS: u64 = 50;

/// The daemon's task for Telegram: `config.yaml`'s `channels.telegram` is read at each
/// (re)start of the task, the token from the vault agent.
pub fn task(home: PathBuf) -> daemon::server::ExtraTask {
    crate::supervised(TELEGRAM, home, |daemon, home, token| async move { run_telegram(&daemon, &home, &token).await })
}

async fn run_telegram(daemon: &Arc<Daemon>, home: &Path, cancel: &CancellationToken) -> Result<(), String> {
    let config = config::Config::load(home).map_err(|e| e.render(false))?;
    let Some(settings) = config.channels.telegram.clone() else { return Ok(()) };
    let token = daemon
        .setup
        .agent
        .get_for(TOKEN_KEY, "channel telegram")
        .map_err(|e| format!("the bot token ({TOKEN_KEY}): {e}; `pyra vault unlock` lets the daemon read it"))?;
    let token = secrecy_expose(&token);
    let client = Arc::new(Client::new(&settings.api_url, &token));
    let mut store = Store::open(&home.join("pyra.db"))?;
    let me = client.get_me().await.map_err(|e| e.to_string())?;
    let bot = me["username"].as_str().unwrap_or("?").to_string();
    store.set_state(TELEGRAM, "bot", &bot)?;
    store.set_state(TELEGRAM, "error", "")?;
    daemon.log().info(&format!("channel telegram: connected as @{bot}"));
    let poll = std::env::var("PYRA_TELEGRAM_POLL").ok().and_then(|s| s.parse().ok()).unwrap_or(POLL_SECONDS);
    let (ctx, _stop_expiry) = Context::start(
        TELEGRAM,
        daemon,
        home,
        Policy::from_telegram(&settings),
        Transport::Telegram(client.clone()),
        cancel,
    );
    // Messages accepted before a crash or a stop are answered first.
    ctx.answer_accepted(&mut store).await?;
    loop {
        let offset: i64 = store.get_state(TELEGRAM, "offset")?.and_then(|o| o.parse().ok()).unwrap_or(0);
        let updates = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            u = client.get_updates(offset, poll) => u,
        };
        store.set_state(TELEGRAM, "polled_at", &now_ms().to_string())?;
        let updates = match updates {
            Ok(u) => u,
            Err(ApiError::Api { retry_after: Some(wait), .. }) => {
                tokio::time::sleep(Duration::from_secs(wait.min(300))).await;
                continue;
            }
            // 409, 401, a stalled or failed poll: the supervisor restarts the task with backoff.
            Err(e) => return Err(e.to_string()),
        };
        for update in updates {
            // An update without an id cannot be confirmed past: there is none (Telegram
            // numbers every update), and it is skipped.
            let Some((incoming, cursor)) = parse(&update, &bot) else { continue };
            ctx.take(&mut store, &incoming, Some(("offset", &cursor))).await?;
        }
        ctx.answer_accepted(&mut store).await?;
    }
}

fn secrecy_expose(value: &age::secrecy::SecretString) -> String {
    use age::secrecy::ExposeSecret;
    value.expose_secret().to_string()
}

/// An update as the gate sees it, and the cursor that confirms it; `None` for an update
/// without an id. Pure (and fuzzed: `tests/fuzz`, target `channel_updates`).
pub fn parse(update: &Value, bot: &str) -> Option<(Incoming, String)> {
    let update_id = update["update_id"].as_i64()?;
    let cursor = update_id.saturating_add(1).to_string();
    let id = update_id.to_string();
    if let Some(query) = update.get("callback_query") {
        let incoming = Incoming {
            id,
            sender: query.pointer("/from/id").and_then(Value::as_i64).map(|i| i.to_string()).unwrap_or_default(),
            what: What::Button {
                query_id: query["id"].as_str().unwrap_or_default().to_string(),
                data: query["data"].as_str().unwrap_or_default().to_string(),
            },
            ..Incoming::default()
        };
        return Some((incoming, cursor));
    }
    let Some(message) = update.get("message").or_else(|| update.get("edited_message")) else {
        return Some((Incoming { id, what: What::Skip, ..Incoming::default() }, cursor));
    };
    let kind = message.pointer("/chat/type").and_then(Value::as_str).unwrap_or_default();
    let incoming = Incoming {
        id,
        sender: message.pointer("/from/id").and_then(Value::as_i64).map(|i| i.to_string()).unwrap_or_default(),
        chat: message.pointer("/chat/id").and_then(Value::as_i64).map(|i| i.to_string()).unwrap_or_default(),
        private: kind == "private",
        mentioned: matches!(kind, "group" | "supergroup") && mentions(message, bot),
        from_self: message.pointer("/from/is_bot").and_then(Value::as_bool).unwrap_or(false),
        text: incoming_text(message).replace(&format!("@{bot}"), "").trim().to_string(),
        message_id: message["message_id"].as_i64().map(|i| i.to_string()),
        what: What::Message,
    };
    Some((incoming, cursor))
}

/// Whether a group message is meant for the bot: it names `@bot`, or answers one of the
/// bot's messages.
fn mentions(message: &Value, bot: &str) -> bool {
    let named =
        message["text"].as_str().or(message["caption"].as_str()).is_some_and(|t| t.contains(&format!("@{bot}")));
    let reply_to_bot = message.pointer("/reply_to_message/from/username").and_then(Value::as_str) == Some(bot);
    named || reply_to_bot
}

/// Everything a message carries as text: its body or caption, the text it quotes, and
/// where it was forwarded from (all untrusted).
pub fn incoming_text(message: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(from) = message.pointer("/forward_origin/sender_user/first_name").and_then(Value::as_str) {
        parts.push(format!("[forwarded from {from}]"));
    } else if message.get("forward_origin").is_some() || message.get("forward_from").is_some() {
        parts.push("[forwarded]".into());
    }
    if let Some(quoted) =
        message.pointer("/quote/text").or_else(|| message.pointer("/reply_to_message/text")).and_then(Value::as_str)
    {
        parts.push(format!("[quoting: {quoted}]"));
    }
    for key in ["text", "caption"] {
        if let Some(t) = message.get(key).and_then(Value::as_str) {
            parts.push(t.to_string());
        }
    }
    if let Some(name) = message.pointer("/document/file_name").and_then(Value::as_str) {
        parts.push(format!("[a file: {name}]"));
    }
    parts.join("\n")
}
