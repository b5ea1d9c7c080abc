//! Messaging channels, run by the daemon as supervised tasks: today Telegram (long
//! polling on Pyra's reqwest, `telegram.rs`). A crate of its own so that the daemon links
//! no HTTP client (the CLI hands the daemon this crate's task).
//!
//! Every incoming message goes through one gate, in order: group messages are ignored
//! unless the group is listed under `groups:` and the message names the bot (or answers
//! it); the message is recorded in the inbox by its platform id (a message seen
//! before is skipped) in the same transaction that moves the channel's cursor, so a crash
//! between fetch and processing neither loses nor doubles it; a sender who is neither in
//! `allow` nor paired gets **one** pairing code (`pyra channels pair CODE`, 1 hour, at most
//! 3 pending) and nothing they write is kept, logged or shown to a model; an admitted
//! sender over `rate_per_hour` (an exact sliding log in `pyra.db`) gets one notice per hour,
//! then silence. An accepted message is scanned for prompt injection (findings in the
//! security log), wrapped as untrusted and answered by the built-in `chat` skill, run as
//! untrusted input, in a conversation per sender (`telegram:ID`, the same store as
//! `pyra chat --session`); the reply goes through the outbox, split at 4,096 UTF-16 units,
//! and a send whose outcome is unknown is never repeated.

mod approvals;
pub mod passphrase;
pub mod store;
/// The Bot API client (in `plugins`, which `message.send` shares).
pub use plugins::telegram;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use daemon::core::Daemon;
use runtime::Store as _;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use store::Store;
use telegram::{ApiError, Client};

/// The channel's name in the tables and logs.
pub const TELEGRAM: &str = "telegram";
/// The vault key of the bot token.
pub const TOKEN_KEY: &str = "channel:telegram:token";
/// A long poll's wait, in seconds (`PYRA_TELEGRAM_POLL` in tests).
const POLL_SECONDS: u64 = 50;
/// The history budget of a channel's conversation, in tokens.
const HISTORY_BUDGET: usize = 6000;

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The daemon's task for Telegram: `config.yaml`'s `channels.telegram` is read at each
/// (re)start of the task, the token from the vault agent.
pub fn telegram_task(home: PathBuf) -> daemon::server::ExtraTask {
    Box::new(move |daemon: Arc<Daemon>, token: CancellationToken| {
        let home = home.clone();
        Box::pin(async move {
            let result = run_telegram(&daemon, &home, &token).await;
            if let Err(e) = &result
                && let Ok(store) = Store::open(&home.join("pyra.db"))
            {
                let _ = store.set_state(TELEGRAM, "error", e);
            }
            result
        })
    })
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
    let ctx = Arc::new(Context {
        daemon: daemon.clone(),
        bot: bot.clone(),
        home: home.to_path_buf(),
        settings,
        client,
        key: Arc::new(approvals::Key::random()),
    });
    let expiry = cancel.child_token();
    let _stop_expiry = expiry.clone().drop_guard();
    tokio::spawn(approvals::expiry_task(ctx.clone(), expiry));
    // Messages accepted before a crash or a stop are answered first.
    ctx.answer_accepted(&mut store).await?;
    loop {
        let offset: i64 = store.get_state(TELEGRAM, "offset")?.and_then(|o| o.parse().ok()).unwrap_or(0);
        let updates = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            u = ctx.client.get_updates(offset, poll) => u,
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
            ctx.take(&mut store, &update).await?;
        }
        ctx.answer_accepted(&mut store).await?;
    }
}

fn secrecy_expose(value: &age::secrecy::SecretString) -> String {
    use age::secrecy::ExposeSecret;
    value.expose_secret().to_string()
}

#[derive(Clone)]
pub(crate) struct Context {
    daemon: Arc<Daemon>,
    /// The bot's username (`getMe`), which a group message must mention.
    bot: String,
    home: PathBuf,
    settings: config::TelegramSettings,
    client: Arc<Client>,
    /// The key that binds approval buttons (drawn per process).
    key: Arc<approvals::Key>,
}

/// What became of an accepted message.
enum Answer {
    Reply(String),
    /// The run waits for approvals.
    Waiting(String),
}

impl Context {
    pub(crate) fn log(&self) -> &daemon::log::Log {
        self.daemon.log()
    }

    /// Records one update and decides it (see the crate's documentation for the order).
    async fn take(&self, store: &mut Store, update: &Value) -> Result<(), String> {
        let Some(update_id) = update["update_id"].as_i64() else { return Ok(()) };
        let cursor = (update_id + 1).to_string();
        if let Some(query) = update.get("callback_query") {
            // A button press, once: recorded with the cursor, then answered.
            let presser = query.pointer("/from/id").and_then(Value::as_i64).map(|i| i.to_string()).unwrap_or_default();
            let id = update_id.to_string();
            let arrival = store::Arrival { channel: TELEGRAM, id: &id, sender: &presser, chat: "", at: now_ms() };
            let fresh = store.take_in(&arrival, Some(("offset", &cursor)), |_| Ok(("button".into(), None)))?;
            if fresh.is_some() {
                self.pressed(store, query).await?;
            }
            return Ok(());
        }
        let message = update.get("message").or_else(|| update.get("edited_message"));
        let Some(message) = message else {
            // Another kind: confirmed, nothing to do.
            store.set_state(TELEGRAM, "offset", &cursor)?;
            return Ok(());
        };
        let sender = message.pointer("/from/id").and_then(Value::as_i64).map(|i| i.to_string()).unwrap_or_default();
        let chat = message.pointer("/chat/id").and_then(Value::as_i64).map(|i| i.to_string()).unwrap_or_default();
        let kind = message.pointer("/chat/type").and_then(Value::as_str).unwrap_or_default();
        let private = kind == "private";
        // A group listed under `groups:` is answered when its message names the bot.
        let group = matches!(kind, "group" | "supergroup")
            && self.settings.groups.iter().any(|g| g.to_string() == chat)
            && mentions(message, &self.bot);
        let text = incoming_text(message).replace(&format!("@{}", self.bot), "").trim().to_string();
        let is_bot = message.pointer("/from/is_bot").and_then(Value::as_bool).unwrap_or(false);
        let allowed = self.settings.allow.iter().any(|a| a.to_string() == sender);
        let now = now_ms();
        let per_hour = self.settings.rate_per_hour;
        let mut reply: Option<String> = None;
        let mut delete = false;
        let passphrase = match (self.settings.challenge.as_deref(), &self.settings.passphrase) {
            (Some("passphrase"), Some(phc)) => Some(phc.clone()),
            _ => None,
        };
        let message_id = message["message_id"].as_i64();
        let id = update_id.to_string();
        let arrival = store::Arrival { channel: TELEGRAM, id: &id, sender: &sender, chat: &chat, at: now };
        let state = store.take_in(&arrival, Some(("offset", &cursor)), |conn| {
            if !(private || group) || is_bot || sender.is_empty() {
                return Ok(("ignored".into(), None));
            }
            if !allowed && !store::is_admitted(conn, TELEGRAM, &sender)? {
                // A passphrase, when configured; never shown, stored or logged.
                if private && let Some(phc) = &passphrase {
                    use passphrase::Outcome;
                    let outcome = passphrase::challenge(conn, TELEGRAM, &sender, &text, phc, now)?;
                    delete = outcome != Outcome::Asked && outcome != Outcome::Locked;
                    reply = match outcome {
                        Outcome::Asked => Some("Pyra does not know you yet: send its passphrase to talk to it.".into()),
                        Outcome::Admitted => Some("Welcome: Pyra answers you from now on.".into()),
                        Outcome::Wrong(n) => {
                            Some(format!("That is not the passphrase ({n} of {} tries).", passphrase::MAX_ATTEMPTS))
                        }
                        Outcome::LockedNow => {
                            Some("Too many wrong passphrases: Pyra will not read your messages for an hour.".into())
                        }
                        Outcome::Locked => None,
                    };
                    return Ok(("refused".into(), None));
                }
                // Pairing is for direct messages only: a stranger in a group gets nothing.
                if private && let Some(code) = store::challenge(conn, TELEGRAM, &sender, now)? {
                    reply = Some(format!(
                        "Pyra does not know you yet. If you are its owner, run this on the computer Pyra runs on \
                         (within an hour):\n\npyra channels pair {code}"
                    ));
                }
                return Ok(("refused".into(), None));
            }
            if !store::within_rate(conn, TELEGRAM, &sender, now, per_hour)? {
                if store::notice_due(conn, TELEGRAM, &sender, now)? {
                    reply = Some(format!(
                        "You have sent {per_hour} messages in the last hour, the most Pyra answers; it will read new \
                         ones once the hour has passed."
                    ));
                }
                return Ok(("rate-limited".into(), None));
            }
            Ok(("accepted".into(), Some(text.clone())))
        })?;
        // An approver's `/approve ID` or `/deny ID` answers a request; it is no chat turn.
        if state.as_deref() == Some("accepted") && self.command(store, &sender, &chat, &text).await? {
            store.done(TELEGRAM, &id, None, "command")?;
            return Ok(());
        }
        if state.as_deref() == Some("accepted") {
            // Skills with an `event: message` trigger react too (their runs are untrusted).
            let event = daemon::history::EventRow {
                id: format!("{TELEGRAM}:{update_id}"),
                name: "message".into(),
                data: json!({ "channel": TELEGRAM, "sender": sender, "chat": chat, "text": text }),
                at: now,
                source: daemon::core::CHANNEL.into(),
            };
            if let Err(e) = self.daemon.emit(event) {
                self.log().error(&format!("channel telegram: the message event was not delivered: {e}"));
            }
        }
        match state.as_deref() {
            Some("refused") => {
                self.log().warn(&format!("channel telegram: refused sender {sender} (not allowed or paired)"))
            }
            Some("rate-limited") => {
                self.log().warn(&format!("channel telegram: sender {sender} is over its rate limit"))
            }
            _ => {}
        }
        if delete && let Some(message_id) = message_id {
            // A passphrase attempt does not stay in the chat.
            if let Err(e) = self.client.delete_message(&chat, message_id).await {
                self.log().warn(&format!("channel telegram: a passphrase attempt could not be deleted: {e}"));
            }
        }
        if let Some(text) = reply {
            self.send(store, &chat, &format!("notice:{update_id}"), &text).await?;
        }
        Ok(())
    }

    /// Answers every accepted message not answered yet.
    async fn answer_accepted(&self, store: &mut Store) -> Result<(), String> {
        for taken in store.accepted(TELEGRAM)? {
            let (state, run_id) = match self.answer(store, &taken).await {
                Ok((run_id, Answer::Reply(reply))) => {
                    self.send(store, &taken.chat, &format!("reply:{}", taken.id), &reply).await?;
                    ("done", run_id)
                }
                Ok((run_id, Answer::Waiting(root))) => {
                    self.ask(store, &root, &taken.chat, &taken.sender, &taken.id).await?;
                    ("waiting", run_id)
                }
                Err(e) => {
                    self.log().error(&format!("channel telegram: message {} not answered: {e}", taken.id));
                    let sorry = "Sorry — Pyra could not answer that (see `pyra daemon logs`).";
                    self.send(store, &taken.chat, &format!("reply:{}", taken.id), sorry).await?;
                    ("failed", None)
                }
            };
            store.done(TELEGRAM, &taken.id, run_id.as_deref(), state)?;
        }
        Ok(())
    }

    /// Runs the `chat` skill for one message in the sender's conversation.
    async fn answer(&self, store: &mut Store, taken: &store::Taken) -> Result<(Option<String>, Answer), String> {
        let source = format!("telegram message from user {}", taken.sender);
        for finding in security::scan::scan(&taken.text) {
            if let Some(log) = &self.daemon.setup.runtime.security_log {
                let detail = format!("{source}: {}", finding.excerpt);
                let _ = log.record(&security::audit::Event {
                    action: "injection",
                    outcome: finding.category.as_str(),
                    detail: Some(&detail),
                    ..Default::default()
                });
            }
        }
        let chats = conversations::ChatStore::open(&self.home.join("pyra.db")).map_err(|e| e.to_string())?;
        // A conversation per sender; in a group, one for the group.
        let name = if taken.chat == taken.sender {
            format!("telegram:{}", taken.sender)
        } else {
            format!("telegram:group:{}", taken.chat)
        };
        let conv = match chats.find(&name).map_err(|e| e.to_string())? {
            Some(c) => c,
            None => chats.create(Some(&name), None).map_err(|e| e.to_string())?,
        };
        let wrapped = llm::wrap_untrusted(&source, &taken.text);
        let masker = self.daemon.setup.runtime.masker.clone();
        let all = chats.messages(&conv.id).map_err(|e| e.to_string())?;
        // Chosen before a crash: that run is the answer (the daemon resumes it at start).
        if let Some(run_id) = &taken.run_id
            && let Some(run) = self.wait_run(run_id).await?
        {
            let (status, outputs, error) = (run.status, run.outputs.clone(), run.error.clone());
            return self
                .finish(&chats, &conv.id, run_id, status, outputs.as_ref(), error)
                .map(|a| (Some(run_id.clone()), a));
        }
        let (mut kept, _) = conversations::trim(&all, HISTORY_BUDGET);
        kept.retain(|m| m.role != conversations::Role::System);
        let history = conversations::history_for_model(&kept);
        let stored = masker.mask(&wrapped).into_owned();
        // A crash after the message was stored and before its run began stores it once.
        if all.last().is_none_or(|m| m.role != conversations::Role::User || m.content != stored) {
            chats.append(&conv.id, conversations::Role::User, &stored, &[]).map_err(|e| e.to_string())?;
        }
        let config = config::Config::load(&self.home).map_err(|e| e.render(false))?;
        let mut inputs = Map::new();
        inputs.insert("message".into(), Value::String(wrapped));
        inputs.insert("history".into(), Value::Array(history));
        inputs.insert("model".into(), Value::String(conv.model.clone().unwrap_or_default()));
        inputs.insert("tools".into(), json!(config.chat.tools));
        inputs.insert("recall".into(), json!(config.chat.recall()));
        inputs.insert("recall_category".into(), json!(config.chat.recall_category.clone().unwrap_or_default()));
        let run_id = runtime::new_run_id();
        store.set_run(TELEGRAM, &taken.id, &run_id)?;
        let report = self.daemon.run_untrusted("chat", inputs, "channel", run_id).await?;
        let answer = self.finish(
            &chats,
            &conv.id,
            &report.run_id,
            report.status,
            report.outputs.as_ref(),
            report.error.clone(),
        )?;
        Ok((Some(report.run_id), answer))
    }

    /// What a chat run came to: its reply (stored in the conversation), or its wait.
    fn finish(
        &self,
        chats: &conversations::ChatStore,
        conv: &str,
        run_id: &str,
        status: runtime::RunStatus,
        outputs: Option<&Value>,
        error: Option<String>,
    ) -> Result<Answer, String> {
        match status {
            runtime::RunStatus::Succeeded => {
                let reply = outputs.and_then(|o| o.get("reply")).and_then(Value::as_str).unwrap_or("");
                let reply = self.daemon.setup.runtime.masker.mask(reply).into_owned();
                chats.append(conv, conversations::Role::Assistant, &reply, &[]).map_err(|e| e.to_string())?;
                Ok(Answer::Reply(reply))
            }
            runtime::RunStatus::Waiting => Ok(Answer::Waiting(run_id.to_string())),
            other => Err(error.unwrap_or_else(|| format!("run {run_id} ended {other}"))),
        }
    }

    /// A run chosen before a crash, once it has ended or waits (the daemon resumed it);
    /// `None` when it never began.
    async fn wait_run(&self, run_id: &str) -> Result<Option<runtime::RunRecord>, String> {
        for _ in 0..6000 {
            match self.daemon.setup.sqlite.run(run_id).map_err(|e| e.to_string())? {
                None => return Ok(None),
                Some(run) if run.status.is_final() || run.status == runtime::RunStatus::Waiting => {
                    return Ok(Some(run));
                }
                Some(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        Err(format!("run {run_id}, resumed after a restart, did not end within 10 minutes"))
    }

    /// Sends `text` to `chat` through the outbox, in pieces; each piece is sent at most
    /// once (a send whose outcome is unknown is recorded, not repeated).
    pub(crate) async fn send(&self, store: &mut Store, chat: &str, key: &str, text: &str) -> Result<(), String> {
        let text = if text.trim().is_empty() { "(no reply)" } else { text };
        for (n, piece) in telegram::split(text).iter().enumerate() {
            let key = format!("{key}:{n}");
            if !store.outbox_add(TELEGRAM, chat, &key, piece, now_ms())? {
                continue;
            }
            let mut tries = 0;
            loop {
                tries += 1;
                match self.client.send_text(chat, piece).await {
                    Ok(id) => {
                        store.outbox_set(&key, "sent", Some(&id.to_string()), None)?;
                        break;
                    }
                    Err(ApiError::Api { retry_after: Some(wait), .. }) if tries < 5 => {
                        tokio::time::sleep(Duration::from_secs(wait.min(60))).await;
                    }
                    Err(e @ ApiError::Net { sent: true, .. }) => {
                        // It may have arrived: a second copy is worse than a missing one.
                        store.outbox_set(&key, "unknown", None, Some(&e.to_string()))?;
                        self.log().warn(&format!("channel telegram: send {key} may or may not have arrived: {e}"));
                        break;
                    }
                    Err(e @ ApiError::Net { .. }) if tries < 5 => {
                        self.log().warn(&format!("channel telegram: send {key} failed, trying again: {e}"));
                        tokio::time::sleep(Duration::from_secs(1 << tries.min(5))).await;
                    }
                    Err(e) => {
                        store.outbox_set(&key, "failed", None, Some(&e.to_string()))?;
                        self.log().error(&format!("channel telegram: send {key} failed: {e}"));
                        break;
                    }
                }
            }
        }
        Ok(())
    }
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

/// What `pyra channels status` shows of a channel, read from `pyra.db` (the daemon need
/// not run): its status values, outbox counts and admitted senders.
pub fn status(home: &Path) -> Result<Value, String> {
    let store = Store::open(&home.join("pyra.db"))?;
    let states: Map<String, Value> = store
        .states(TELEGRAM)?
        .into_iter()
        .filter(|(k, _)| !k.starts_with("notice:"))
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let outbox: Map<String, Value> = store.outbox_counts(TELEGRAM)?.into_iter().map(|(k, v)| (k, json!(v))).collect();
    Ok(json!({ "channel": TELEGRAM, "state": states, "outbox": outbox, "paired": store.admitted(TELEGRAM)? }))
}
