//! The gate every incoming message goes through, whatever its platform (see the crate's
//! documentation for the order), and what follows an accepted one: the `chat` skill's
//! answer in the sender's conversation, sent through the outbox.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use daemon::core::Daemon;
use runtime::Store as _;
use serde_json::{Map, Value, json};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::store::{self, Store};
use crate::transport::{Incoming, Policy, SendError, Transport, What};
use crate::{HISTORY_BUDGET, approvals, now_ms, passphrase};

/// One channel as the gate runs it: its platform, who may talk, and the daemon.
#[derive(Clone)]
pub(crate) struct Context {
    /// The channel's name in the tables and logs (`telegram`, `signal`, `matrix`).
    pub(crate) channel: &'static str,
    pub(crate) daemon: Arc<Daemon>,
    pub(crate) home: PathBuf,
    pub(crate) policy: Policy,
    pub(crate) transport: Transport,
    /// The key that binds approval buttons (drawn per process).
    pub(crate) key: Arc<approvals::Key>,
}

impl Context {
    /// A channel's context for one run of its task, and the task that denies approvals
    /// left unanswered (it stops when the guard drops, or with `cancel`).
    pub(crate) fn start(
        channel: &'static str,
        daemon: &Arc<Daemon>,
        home: &Path,
        policy: Policy,
        transport: Transport,
        cancel: &CancellationToken,
    ) -> (Arc<Context>, DropGuard) {
        let ctx = Arc::new(Context {
            channel,
            daemon: daemon.clone(),
            home: home.to_path_buf(),
            policy,
            transport,
            key: Arc::new(approvals::Key::random()),
        });
        let expiry = cancel.child_token();
        let guard = expiry.clone().drop_guard();
        tokio::spawn(approvals::expiry_task(ctx.clone(), expiry));
        (ctx, guard)
    }
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

    /// Records one delivery and decides it (see the crate's documentation for the order),
    /// moving the channel's cursor in the same transaction.
    pub(crate) async fn take(
        &self,
        store: &mut Store,
        incoming: &Incoming,
        cursor: Option<(&str, &str)>,
    ) -> Result<(), String> {
        let channel = self.channel;
        let id = incoming.id.as_str();
        match &incoming.what {
            What::Skip => {
                if let Some((key, value)) = cursor {
                    store.set_state(channel, key, value)?;
                }
                return Ok(());
            }
            What::Button { .. } | What::Reaction { .. } => {
                // A button press or a reaction, once: recorded with the cursor, then answered.
                let arrival =
                    store::Arrival { channel, id, sender: &incoming.sender, chat: &incoming.chat, at: now_ms() };
                let fresh = store.take_in(&arrival, cursor, |_| Ok(("button".into(), None)))?;
                if fresh.is_some() {
                    self.pressed(store, incoming).await?;
                }
                return Ok(());
            }
            What::Message => {}
        }
        let (sender, chat, text) = (incoming.sender.as_str(), incoming.chat.as_str(), incoming.text.as_str());
        let private = incoming.private;
        // A group listed under `groups:` is answered when its message names the bot.
        let group = !private && self.policy.groups.iter().any(|g| g == chat) && incoming.mentioned;
        let allowed = self.policy.allow.iter().any(|a| a == sender);
        let now = now_ms();
        let per_hour = self.policy.rate_per_hour;
        let mut reply: Option<String> = None;
        let mut delete = false;
        let passphrase = self.policy.passphrase.clone();
        let arrival = store::Arrival { channel, id, sender, chat, at: now };
        let state = store.take_in(&arrival, cursor, |conn| {
            if !(private || group) || incoming.from_self || sender.is_empty() {
                return Ok(("ignored".into(), None));
            }
            if !allowed && !store::is_admitted(conn, channel, sender)? {
                // A passphrase, when configured; never shown, stored or logged.
                if private && let Some(phc) = &passphrase {
                    use passphrase::Outcome;
                    let outcome = passphrase::challenge(conn, channel, sender, text, phc, now)?;
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
                if private && let Some(code) = store::challenge(conn, channel, sender, now)? {
                    reply = Some(format!(
                        "Pyra does not know you yet. If you are its owner, run this on the computer Pyra runs on \
                         (within an hour):\n\npyra channels pair {code}"
                    ));
                }
                return Ok(("refused".into(), None));
            }
            if !store::within_rate(conn, channel, sender, now, per_hour)? {
                if store::notice_due(conn, channel, sender, now)? {
                    reply = Some(format!(
                        "You have sent {per_hour} messages in the last hour, the most Pyra answers; it will read new \
                         ones once the hour has passed."
                    ));
                }
                return Ok(("rate-limited".into(), None));
            }
            Ok(("accepted".into(), Some(text.to_string())))
        })?;
        // An approver's `/approve ID` or `/deny ID` answers a request; it is no chat turn.
        if state.as_deref() == Some("accepted") && self.command(store, sender, chat, text).await? {
            store.done(channel, id, None, "command")?;
            return Ok(());
        }
        if state.as_deref() == Some("accepted") {
            // Skills with an `event: message` trigger react too (their runs are untrusted).
            let event = daemon::history::EventRow {
                id: format!("{channel}:{id}"),
                name: "message".into(),
                data: json!({ "channel": channel, "sender": sender, "chat": chat, "text": text }),
                at: now,
                source: daemon::core::CHANNEL.into(),
            };
            if let Err(e) = self.daemon.emit(event) {
                self.log().error(&format!("channel {channel}: the message event was not delivered: {e}"));
            }
        }
        match state.as_deref() {
            Some("refused") => {
                self.log().warn(&format!("channel {channel}: refused sender {sender} (not allowed or paired)"))
            }
            Some("rate-limited") => {
                self.log().warn(&format!("channel {channel}: sender {sender} is over its rate limit"))
            }
            _ => {}
        }
        if delete && let Some(message_id) = &incoming.message_id {
            // A passphrase attempt does not stay in the chat (where the platform lets a bot delete it).
            if let Err(e) = self.transport.delete(chat, message_id).await {
                self.log().warn(&format!("channel {channel}: a passphrase attempt could not be deleted: {e}"));
            }
        }
        if let Some(text) = reply {
            self.send(store, chat, &format!("notice:{id}"), &text).await?;
        }
        Ok(())
    }

    /// Answers every accepted message not answered yet.
    pub(crate) async fn answer_accepted(&self, store: &mut Store) -> Result<(), String> {
        for taken in store.accepted(self.channel)? {
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
                    self.log().error(&format!("channel {}: message {} not answered: {e}", self.channel, taken.id));
                    let sorry = "Sorry — Pyra could not answer that (see `pyra daemon logs`).";
                    self.send(store, &taken.chat, &format!("reply:{}", taken.id), sorry).await?;
                    ("failed", None)
                }
            };
            store.done(self.channel, &taken.id, run_id.as_deref(), state)?;
        }
        Ok(())
    }

    /// Runs the `chat` skill for one message in the sender's conversation.
    async fn answer(&self, store: &mut Store, taken: &store::Taken) -> Result<(Option<String>, Answer), String> {
        let source = format!("{} message from user {}", self.channel, taken.sender);
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
        let name = if self.policy.groups.contains(&taken.chat) {
            format!("{}:group:{}", self.channel, taken.chat)
        } else {
            format!("{}:{}", self.channel, taken.sender)
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
        store.set_run(self.channel, &taken.id, &run_id)?;
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

    /// The outbox key of a send (Telegram's keys predate the other channels and have no
    /// prefix; keys are unique across channels).
    pub(crate) fn outbox_key(&self, key: &str) -> String {
        if self.channel == crate::TELEGRAM { key.to_string() } else { format!("{}:{key}", self.channel) }
    }

    /// Sends `text` to `chat` through the outbox, in pieces; each piece is sent at most
    /// once (a send whose outcome is unknown is recorded, not repeated — unless the
    /// platform drops duplicates, which Matrix does by transaction id).
    pub(crate) async fn send(&self, store: &mut Store, chat: &str, key: &str, text: &str) -> Result<(), String> {
        let channel = self.channel;
        let text = if text.trim().is_empty() { "(no reply)" } else { text };
        let idempotent = self.transport.idempotent();
        for (n, piece) in self.transport.split(text).iter().enumerate() {
            let key = self.outbox_key(&format!("{key}:{n}"));
            if !store.outbox_add(channel, chat, &key, piece, now_ms(), idempotent)? {
                continue;
            }
            let mut tries = 0;
            loop {
                tries += 1;
                match self.transport.send(chat, piece, &key).await {
                    Ok(id) => {
                        store.outbox_set(&key, "sent", Some(&id), None)?;
                        break;
                    }
                    Err(SendError::Unknown(e)) if !idempotent || tries >= 5 => {
                        // It may have arrived: a second copy is worse than a missing one.
                        store.outbox_set(&key, "unknown", None, Some(&e))?;
                        self.log().warn(&format!("channel {channel}: send {key} may or may not have arrived: {e}"));
                        break;
                    }
                    Err(SendError::NotSent { message, after }) if tries < 5 => {
                        self.log().warn(&format!("channel {channel}: send {key} failed, trying again: {message}"));
                        tokio::time::sleep(after.unwrap_or(Duration::from_secs(1 << tries.min(5)))).await;
                    }
                    Err(SendError::Unknown(e)) => {
                        // The same key again: the platform keeps one copy.
                        self.log().warn(&format!("channel {channel}: send {key} may have failed, repeating it: {e}"));
                        tokio::time::sleep(Duration::from_secs(1 << tries.min(5))).await;
                    }
                    Err(e) => {
                        store.outbox_set(&key, "failed", None, Some(&e.to_string()))?;
                        self.log().error(&format!("channel {channel}: send {key} failed: {e}"));
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}
