//! `message.send`: a message through a channel — `telegram`, `matrix` or `signal` — to a
//! recipient: a name under the channel's `recipients:`, an id (a Telegram chat id; a
//! Matrix room `!…` or user `@…`, reached in the room they last wrote to the bot from; a
//! Signal UUID, number or `group:ID`), or by default the channel's owner (the first id
//! under `allow`). The kind is declared in `plugins` (its `with:` schema); the CLI runs it
//! with this executor, which knows every channel. Tokens come from the vault (logged to
//! the security log, masked like a model's key); long text is split as the platform
//! needs. A send that did not happen is retryable (the node's `retry:` applies); one that
//! may have arrived is never repeated — except on Matrix, where the transaction id (the
//! run, node and piece) makes a repeat land once.

use std::sync::Arc;

use age::secrecy::ExposeSecret;
use runtime::{BoxFuture, Executor, NodeCtx, NodeError, Outcome, Output};
use serde_json::{Value, json};

use crate::transport::{SendError, Transport};
use crate::{TELEGRAM, matrix, signal, store};

/// Runs `message.send` with this crate's executor.
pub fn register(kinds: &mut runtime::Kinds) {
    kinds.set_executor("message.send", Arc::new(Send));
}

struct Send;

fn fatal(message: impl Into<String>) -> NodeError {
    NodeError::Fatal(message.into())
}

/// A send error as the node reports it: retryable when nothing arrived (or the platform
/// drops repeats), final otherwise.
fn node_error(e: SendError, sent: usize, repeatable: bool) -> NodeError {
    let so_far = if sent == 0 { String::new() } else { format!(" ({sent} part(s) were sent)") };
    match e {
        SendError::NotSent { message, .. } if sent == 0 || repeatable => NodeError::Retryable(message),
        SendError::Unknown(message) if repeatable => NodeError::Retryable(message),
        SendError::NotSent { message, .. } | SendError::Unknown(message) => {
            fatal(format!("{message}{so_far}; not sent again, so that nothing arrives twice"))
        }
        SendError::Failed(message) => fatal(format!("{message}{so_far}")),
    }
}

/// `to:` resolved: a name under `recipients`, else the text itself, else the owner.
fn recipient(
    to: Option<&str>,
    names: &[(String, String)],
    owner: Option<String>,
    channel: &str,
) -> Result<String, NodeError> {
    match to {
        Some(to) => Ok(names.iter().find(|(n, _)| n == to).map_or_else(|| to.to_string(), |(_, id)| id.clone())),
        None => owner.ok_or_else(|| {
            fatal(format!(
                "`message.send` without `to` writes to the channel's owner: add their id under \
                 `channels.{channel}.allow` in config.yaml"
            ))
        }),
    }
}

/// Sends `text` to `to` in the pieces the platform takes; each piece keyed by the run, the
/// node and its number, so that a retry of the node repeats nothing where the platform
/// drops repeats (Matrix). The platform's message ids, numbers where they are numbers.
async fn send_all(ctx: &NodeCtx, transport: &Transport, to: &str, text: &str) -> Result<Vec<Value>, NodeError> {
    let mut ids = Vec::new();
    for (n, piece) in transport.split(text).iter().enumerate() {
        let key = format!("pyra-send-{}-{}-{n}", ctx.run_id, ctx.key());
        let sent = tokio::select! {
            () = ctx.cancel.cancelled() => return Err(NodeError::Cancelled),
            sent = transport.send(to, piece, &key) => sent,
        };
        let id = sent.map_err(|e| node_error(e, ids.len(), transport.idempotent()))?;
        ids.push(id.parse::<i64>().map_or_else(|_| json!(id), |n| json!(n)));
    }
    Ok(ids)
}

impl Executor for Send {
    fn execute(&self, ctx: NodeCtx, with: Value) -> BoxFuture<'static, Result<Outcome, NodeError>> {
        Box::pin(async move {
            let channel = with["channel"].as_str().unwrap_or_default().to_string();
            let home = ctx.home().ok_or_else(|| fatal("`message.send` needs a Pyra home (config.yaml)"))?.to_path_buf();
            let config = config::Config::load(&home).map_err(|e| fatal(e.render(false)))?;
            let text = with["text"].as_str().unwrap_or_default().to_string();
            if text.trim().is_empty() {
                return Err(fatal("`message.send` has no text to send"));
            }
            let to = with["to"].as_str().map(str::trim).filter(|t| !t.is_empty());
            let not_set_up = |name: &str| fatal(format!("no {name} channel is set up: `pyra channels add {name}`"));
            // The channel's transport and where to, then one loop for every channel.
            let (transport, to, stop) = match channel.as_str() {
                TELEGRAM => {
                    let s = config.channels.telegram.clone().ok_or_else(|| not_set_up(TELEGRAM))?;
                    let names: Vec<(String, String)> =
                        s.recipients.iter().map(|(n, id)| (n.clone(), id.to_string())).collect();
                    let to = recipient(to, &names, s.allow.first().map(i64::to_string), TELEGRAM)?;
                    if to.parse::<i64>().is_err() {
                        return Err(fatal(format!(
                            "`to: {to}` is not a Telegram chat id (a number) nor a name under `channels.telegram.recipients`"
                        )));
                    }
                    let token = ctx.pyra_secret(
                        crate::TOKEN_KEY,
                        "telegram bot token; message.send",
                        "the Telegram channel needs its bot token",
                    )?;
                    let client = plugins::telegram::Client::new(&s.api_url, token.expose_secret());
                    (Transport::Telegram(Arc::new(client)), to, None)
                }
                matrix::MATRIX => {
                    let s = config.channels.matrix.clone().ok_or_else(|| not_set_up(matrix::MATRIX))?;
                    let names: Vec<(String, String)> = s.recipients.clone().into_iter().collect();
                    let to = recipient(to, &names, s.allow.first().cloned(), matrix::MATRIX)?;
                    let room = if to.starts_with('!') {
                        to.clone()
                    } else if to.starts_with('@') {
                        let store = store::Store::open(&home.join("pyra.db")).map_err(fatal)?;
                        store.last_chat(matrix::MATRIX, &to).map_err(fatal)?.ok_or_else(|| {
                            fatal(format!(
                                "{to} has not written to the bot yet, so Pyra knows no room to reach them in: \
                                 pass a room id (`to: \"!…\"`) or have them write first"
                            ))
                        })?
                    } else {
                        return Err(fatal(format!(
                            "`to: {to}` is not a Matrix room (!…), a Matrix id (@…) nor a name under `channels.matrix.recipients`"
                        )));
                    };
                    let token = ctx.pyra_secret(
                        matrix::TOKEN_KEY,
                        "matrix access token; message.send",
                        "the Matrix channel needs its access token",
                    )?;
                    let client = plugins::matrix::Client::new(&s.homeserver, token.expose_secret());
                    (Transport::Matrix(Arc::new(client)), room, None)
                }
                signal::SIGNAL => {
                    let s = config.channels.signal.clone().ok_or_else(|| not_set_up(signal::SIGNAL))?;
                    let names: Vec<(String, String)> = s.recipients.clone().into_iter().collect();
                    let to = recipient(to, &names, s.allow.first().cloned(), signal::SIGNAL)?;
                    let (client, own) = signal::client_for(&s).await.map_err(fatal)?;
                    let stop = own.then(|| client.clone());
                    (Transport::Signal(client, s.account.clone()), to, stop)
                }
                other => {
                    return Err(fatal(format!("`message.send` has no channel `{other}`: telegram, matrix or signal")));
                }
            };
            let sent = send_all(&ctx, &transport, &to, &text).await;
            // A signal-cli started for this node goes, however the sends ended.
            if let Some(client) = stop {
                client.shutdown().await;
            }
            let ids = sent?;
            Ok(Outcome::Done(Output::trusted(json!({ "channel": channel, "to": to, "message_ids": ids }))))
        })
    }
}
