//! Messaging channels, run by the daemon as supervised tasks, one per configured
//! platform: Telegram (`telegram.rs`, long polling on Pyra's reqwest), Matrix
//! (`matrix.rs`, `/sync` on the client-server API) and Signal (`signal.rs`, signal-cli's
//! JSON-RPC). Each platform's
//! module parses what it receives into a [`transport::Incoming`] and hands it to the one
//! gate (`gate.rs`); [`transport::Transport`] is how the gate sends back. A crate of its
//! own so that the daemon links no HTTP client (the CLI hands the daemon these tasks).
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
//! untrusted input, in a conversation per sender (`CHANNEL:ID`, the same store as
//! `pyra chat --session`); the reply goes through the outbox, split as the platform needs,
//! and a send whose outcome is unknown is never repeated.

mod approvals;
mod gate;
pub mod matrix;
pub mod passphrase;
pub mod send_node;
pub mod signal;
pub mod store;
pub mod telegram;
pub mod transport;

pub use approvals::reaction;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use store::Store;

/// The channels' names in the tables and logs.
pub const TELEGRAM: &str = "telegram";
/// Every channel Pyra has, as `pyra channels` spells them.
pub const ALL: [&str; 3] = [TELEGRAM, matrix::MATRIX, signal::SIGNAL];
/// The vault key of the Telegram bot token.
pub use telegram::TOKEN_KEY;
/// The history budget of a channel's conversation, in tokens.
const HISTORY_BUDGET: usize = 6000;

/// A channel's task for the daemon: `run` at each (re)start (the supervisor restarts it
/// with backoff when it ends with an error, which is kept as the channel's status).
fn supervised<F, Fut>(channel: &'static str, home: PathBuf, run: F) -> daemon::server::ExtraTask
where
    F: Fn(Arc<daemon::core::Daemon>, PathBuf, tokio_util::sync::CancellationToken) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    Box::new(move |daemon, token| {
        let running = run(daemon, home.clone(), token);
        let home = home.clone();
        Box::pin(async move {
            let result = running.await;
            if let Err(e) = &result
                && let Ok(store) = Store::open(&home.join("pyra.db"))
            {
                let _ = store.set_state(channel, "error", e);
            }
            result
        })
    })
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The daemon's task for each channel `config.yaml` sets up, by name (`channel NAME`).
/// Each reads its settings again at every (re)start.
pub fn tasks(home: &Path, config: &config::Config) -> Vec<(String, daemon::server::ExtraTask)> {
    let mut tasks = Vec::new();
    if config.channels.telegram.is_some() {
        tasks.push((format!("channel {TELEGRAM}"), telegram::task(home.to_path_buf())));
    }
    if config.channels.signal.is_some() {
        tasks.push((format!("channel {}", signal::SIGNAL), signal::task(home.to_path_buf())));
    }
    if config.channels.matrix.is_some() {
        tasks.push((format!("channel {}", matrix::MATRIX), matrix::task(home.to_path_buf())));
    }
    tasks
}

/// What `pyra channels status` shows of a channel, read from `pyra.db` (the daemon need
/// not run): its status values, outbox counts and admitted senders.
pub fn status(home: &Path, channel: &str) -> Result<Value, String> {
    let store = Store::open(&home.join("pyra.db"))?;
    let states: Map<String, Value> = store
        .states(channel)?
        .into_iter()
        .filter(|(k, _)| !k.starts_with("notice:"))
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let outbox: Map<String, Value> = store.outbox_counts(channel)?.into_iter().map(|(k, v)| (k, json!(v))).collect();
    Ok(json!({ "channel": channel, "state": states, "outbox": outbox, "paired": store.admitted(channel)? }))
}
