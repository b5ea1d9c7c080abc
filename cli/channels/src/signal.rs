//! Signal: `signal-cli` in JSON-RPC mode (`plugins::signal`) — by default a child of the
//! daemon (`signal-cli -a ACCOUNT jsonRpc --receive-mode=manual` on stdio, in its own
//! process group, so no one else can use the account and no port is open), or a running
//! `signal-cli daemon --tcp` on loopback (`address:`). Manual receive mode means signal-cli
//! fetches messages from Signal's servers only once Pyra has subscribed, after its inbox
//! is ready: messages sent while Pyra was down wait on Signal's servers and arrive once.
//!
//! A message's id is its sender and timestamp (Signal's own identity of a message), so a
//! message delivered twice is taken once. Sync messages from the account's other devices
//! are ignored, except a note to self; echoes of Pyra's own sends (a sync message whose
//! timestamp is one Pyra sent) are ignored. A reaction to an approval request answers it.
//! When signal-cli exits or the connection drops, the task ends with its last words and
//! the supervisor restarts it with backoff.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use daemon::core::Daemon;
pub use plugins::signal::{Client, RpcError};
use plugins::signal::{Kind, parse};
use tokio_util::sync::CancellationToken;

use crate::gate::Context;
use crate::now_ms;
use crate::store::Store;
use crate::transport::{Incoming, Policy, Transport, What};

/// The channel's name in the tables and logs.
pub const SIGNAL: &str = "signal";

/// The daemon's connected signal-cli (one process owns an account: `message.send` in a
/// run of the daemon sends through it rather than starting a second one).
static RUNNING: std::sync::Mutex<Option<Client>> = std::sync::Mutex::new(None);

/// A signal-cli to send through: the daemon's own when it runs in this process (`false`:
/// not the caller's to stop), or one started for the caller (`true`: stop it after).
pub async fn client_for(settings: &config::SignalSettings) -> Result<(Client, bool), String> {
    if let Some(client) = RUNNING.lock().unwrap_or_else(|e| e.into_inner()).clone() {
        return Ok((client, false));
    }
    let (client, _notes) = match &settings.address {
        Some(address) => Client::connect(address).await,
        None => Client::spawn(&settings.cli, &settings.account, &[]).await,
    }
    .map_err(|e| {
        format!(
            "signal-cli: {e} (if the daemon's Signal channel runs, it holds the account: send from a skill the \
             daemon runs, or give the channel an `address:`)"
        )
    })?;
    Ok((client, true))
}

/// The daemon's task for Signal: `channels.signal` is read at each (re)start.
pub fn task(home: PathBuf) -> daemon::server::ExtraTask {
    crate::supervised(SIGNAL, home, |daemon, home, token| async move { run(&daemon, &home, &token).await })
}

impl Policy {
    pub fn from_signal(s: &config::SignalSettings) -> Policy {
        Policy {
            allow: s.allow.clone(),
            approvers: s.approvers.clone(),
            groups: s.groups.iter().map(|g| format!("group:{g}")).collect(),
            passphrase: crate::transport::passphrase(s.challenge.as_deref(), s.passphrase.as_ref()),
            rate_per_hour: s.rate_per_hour,
        }
    }
}

async fn run(daemon: &Arc<Daemon>, home: &Path, cancel: &CancellationToken) -> Result<(), String> {
    let config = config::Config::load(home).map_err(|e| e.render(false))?;
    let Some(settings) = config.channels.signal.clone() else { return Ok(()) };
    let (client, mut notes) = match &settings.address {
        Some(address) => Client::connect(address).await,
        None => Client::spawn(&settings.cli, &settings.account, &[]).await,
    }
    .map_err(|e| format!("signal-cli: {e}"))?;
    // The child goes with the task, however it ends.
    let _stop = Stop(client.clone());
    *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) = Some(client.clone());
    let mut store = Store::open(&home.join("pyra.db"))?;
    store.set_state(SIGNAL, "account", &settings.account)?;
    let (ctx, _stop_expiry) = Context::start(
        SIGNAL,
        daemon,
        home,
        Policy::from_signal(&settings),
        Transport::Signal(client.clone(), settings.account.clone()),
        cancel,
    );
    // Messages accepted before a crash or a stop are answered before new ones are fetched.
    ctx.answer_accepted(&mut store).await?;
    client.subscribe_receive().await.map_err(|e| format!("signal-cli: subscribeReceive: {e}"))?;
    store.set_state(SIGNAL, "error", "")?;
    daemon.log().info(&format!("channel signal: receiving for {}", settings.account));
    loop {
        let note = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            n = notes.recv() => n,
        };
        let Some(note) = note else {
            let last = client.stderr_tail();
            let last = if last.trim().is_empty() { String::new() } else { format!(": {}", last.trim()) };
            return Err(format!("signal-cli stopped{last}"));
        };
        store.set_state(SIGNAL, "received_at", &now_ms().to_string())?;
        let Some(incoming) = incoming(&note, &settings.account) else { continue };
        if incoming.sender == settings.account && is_own_send(&store, &incoming)? {
            continue;
        }
        ctx.take(&mut store, &incoming, None).await?;
        ctx.answer_accepted(&mut store).await?;
    }
}

/// Stops signal-cli when the task ends.
struct Stop(Client);

impl Drop for Stop {
    fn drop(&mut self) {
        RUNNING.lock().unwrap_or_else(|e| e.into_inner()).take();
        let client = self.0.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { client.shutdown().await });
        }
    }
}

/// Whether a note to self is the echo of a message Pyra sent (its timestamp is a sent
/// message's id in the outbox).
fn is_own_send(store: &Store, incoming: &Incoming) -> Result<bool, String> {
    let Some(ts) = incoming.id.rsplit(':').next() else { return Ok(false) };
    store.sent_with_id(SIGNAL, ts)
}

/// A notification as the gate sees it; `None` for what is not for the gate (receipts,
/// typing, sync messages to others, a removed reaction).
pub fn incoming(note: &serde_json::Value, account: &str) -> Option<Incoming> {
    let envelope = parse(note, account)?;
    let chat = envelope.group.as_ref().map_or_else(|| envelope.sender.clone(), |g| format!("group:{g}"));
    let base = Incoming {
        id: envelope.id.clone(),
        sender: envelope.sender.clone(),
        chat,
        private: envelope.group.is_none(),
        ..Incoming::default()
    };
    match envelope.kind {
        Kind::Text { text, quote } => {
            let mentioned = envelope.group.is_some() && names_pyra(&text);
            let text = match quote {
                Some(q) => format!("[quoting: {q}]\n{text}"),
                None => text,
            };
            Some(Incoming {
                mentioned,
                // Pyra's own number: its own sends, never a conversation.
                from_self: envelope.sender == account || envelope.sender_number.as_deref() == Some(account),
                text,
                message_id: Some(envelope.timestamp.to_string()),
                ..base
            })
        }
        // A note to self: the owner writing to the account Pyra runs, from its phone. It
        // counts as a message from the account (allowed only if the account is allowed),
        // unless it is the echo of Pyra's own send (checked against the outbox).
        Kind::NoteToSelf { text } => Some(Incoming {
            sender: account.to_string(),
            chat: account.to_string(),
            private: true,
            text,
            message_id: Some(envelope.timestamp.to_string()),
            ..base
        }),
        Kind::Reaction { emoji, target_timestamp, remove: false, .. } => {
            Some(Incoming { what: What::Reaction { target: target_timestamp.to_string(), key: emoji }, ..base })
        }
        Kind::Reaction { .. } | Kind::Ignored => None,
    }
}

/// Whether a group message is addressed to Pyra: it starts with its name.
fn names_pyra(text: &str) -> bool {
    let lower = text.trim_start().to_lowercase();
    ["pyra", "@pyra"].iter().any(|name| {
        lower.strip_prefix(name).is_some_and(|rest| rest.is_empty() || rest.starts_with([',', ':', ' ', '!', '?']))
    })
}
