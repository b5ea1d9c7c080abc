//! Approvals over a channel: when a run a message started waits for an approval, each
//! pending approval (in the run or a waiting run under it) is sent to the chat — if the
//! sender is an approver (`approvers:`, else the ids under `allow:`); anyone else is told
//! to use `pyra approve`. On Telegram the request has Approve / Deny buttons whose
//! `callback_data` is `ap:ID:y|n:MAC`, the MAC an HMAC-SHA256 under a key this process
//! drew at random (a restart voids every button, which then answers "expired"); on Matrix
//! and Signal an approver reacts to the request (👍 or ✅ approves, 👎 or ❌ denies; the
//! reaction names the request by its message, which only the platform can attest). The
//! text `/approve ID` or `/deny ID` from an approver does the same everywhere. An answer
//! counts once, only from an approver, only within **2 minutes**; after that the channel
//! denies the approval itself and says so. The answer is the same durable record
//! `pyra approve` writes, and the daemon resumes the run; its reply follows in the chat.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use runtime::{ApprovalState, RunStatus, Store as _};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::gate::Context;
use crate::store::Store;
use crate::transport::{Incoming, What};

/// How long a button stays good before the channel denies.
pub const WINDOW_MS: i64 = 120_000;
const PREFIX: &str = "approval:";

/// The process's button key.
pub struct Key([u8; 32]);

impl Key {
    pub fn random() -> Key {
        let mut key = [0u8; 32];
        key.iter_mut().for_each(|b| *b = fastrand::u8(..));
        Key(key)
    }

    fn mac(&self, text: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length");
        mac.update(text.as_bytes());
        mac
    }

    /// `ap:ID:y|n:MAC` (MAC: 16 hex digits, the HMAC's first 8 bytes).
    fn data(&self, id: &str, yes: bool) -> String {
        let body = format!("ap:{id}:{}", if yes { 'y' } else { 'n' });
        let tag = self.mac(&body).finalize().into_bytes();
        let hex: String = tag[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("{body}:{hex}")
    }

    /// The approval id and the answer of genuine button data.
    fn check(&self, data: &str) -> Option<(String, bool)> {
        let (body, hex) = data.rsplit_once(':')?;
        let mut parts = body.split(':');
        let (Some("ap"), Some(id), Some(answer), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let tag: Vec<u8> =
            (0..hex.len()).step_by(2).filter_map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect();
        if tag.len() != 8 {
            return None;
        }
        self.mac(body).verify_truncated_left(&tag).ok()?;
        Some((id.to_string(), answer == "y"))
    }
}

/// The pending approvals of `root` and of the waiting runs under it: (run, node, message).
fn pending(store: &dyn runtime::Store, root: &str) -> Vec<(String, String, String)> {
    let mut runs = vec![root.to_string()];
    let filter = runtime::RunFilter { status: Some(RunStatus::Waiting), ..Default::default() };
    for run in store.list_runs(&filter).unwrap_or_default() {
        let mut parent = run.parent_run.clone();
        for _ in 0..16 {
            let Some(p) = parent.take() else { break };
            if p == root {
                runs.push(run.id.clone());
                break;
            }
            parent = store.run(&p).ok().flatten().and_then(|r| r.parent_run);
        }
    }
    let mut out = Vec::new();
    for run in runs {
        for a in store.approvals(&run).unwrap_or_default() {
            if a.state == ApprovalState::Pending {
                out.push((run.clone(), a.node, a.message));
            }
        }
    }
    out
}

impl Context {
    fn clock_ms(&self) -> i64 {
        self.daemon.setup.clock.now().timestamp_millis()
    }

    /// Asks for `root`'s pending approvals in `chat` (answering message `inbox`).
    pub(crate) async fn ask(
        &self,
        store: &mut Store,
        root: &str,
        chat: &str,
        sender: &str,
        inbox: &str,
    ) -> Result<(), String> {
        let asked = pending(self.daemon.setup.sqlite.as_ref(), root);
        if !self.policy.approvers().iter().any(|a| a == sender) {
            let text = format!("This needs an approval first: on the computer Pyra runs on, `pyra approve {root}`.");
            return self.send(store, chat, &format!("reply:{inbox}"), &text).await;
        }
        for (run, node, message) in asked {
            let id: String = (0..10).map(|_| fastrand::alphanumeric()).collect();
            let text = format!(
                "Approval needed: {message}\n(run {run}, node {node}; answer within 2 minutes, {} or /approve {id} \
                 or /deny {id})",
                self.transport.how_to_answer()
            );
            let key = self.outbox_key(&format!("ask:{inbox}:{id}"));
            if !store.outbox_add(self.channel, chat, &key, &text, crate::now_ms(), self.transport.idempotent())? {
                continue;
            }
            // The 2 minutes run from the moment of asking.
            let asked_at = self.clock_ms();
            let (yes, no) = (self.key.data(&id, true), self.key.data(&id, false));
            match self.transport.ask(chat, &text, &yes, &no, &key).await {
                Ok(message_id) => {
                    store.outbox_set(&key, "sent", Some(&message_id), None)?;
                    let record = json!({ "run": run, "node": node, "root": root, "chat": chat, "message_id": message_id,
                        "sent_at": asked_at, "inbox": inbox, "used": false });
                    store.set_state(self.channel, &format!("{PREFIX}{id}"), &record.to_string())?;
                }
                Err(e) => {
                    store.outbox_set(&key, "failed", None, Some(&e.to_string()))?;
                    self.log().error(&format!("channel {}: approval request not sent: {e}", self.channel));
                }
            }
        }
        Ok(())
    }

    /// A button press (answered at once: Telegram shows a spinner until then) or a
    /// reaction to a request, then checked.
    pub(crate) async fn pressed(&self, store: &mut Store, incoming: &Incoming) -> Result<(), String> {
        let presser = incoming.sender.as_str();
        match &incoming.what {
            What::Button { query_id, data } => {
                let verdict = match self.key.check(data) {
                    None => Err("This button is not valid (or Pyra restarted since): nothing was changed."),
                    Some((id, yes)) => self.verdict(store, presser, &id, yes),
                };
                let note = match &verdict {
                    Ok((_, true, _)) => "Approved",
                    Ok((_, false, _)) => "Denied",
                    Err(why) => why,
                };
                self.transport.answer_button(query_id, note).await;
                self.answered(store, presser, verdict, note).await
            }
            What::Reaction { target, key } => {
                let Some(yes) = reaction(key) else { return Ok(()) };
                // The request the reaction is on; any other message's reactions mean nothing.
                let Some(id) = self.request_of(store, target)? else { return Ok(()) };
                let verdict = self.verdict(store, presser, &id, yes);
                let note = match &verdict {
                    Ok((_, true, _)) => "Approved",
                    Ok((_, false, _)) => "Denied",
                    Err(why) => why,
                };
                if let Err(why) = &verdict
                    && self.policy.approvers().iter().any(|a| a == presser)
                {
                    // An approver hears why their reaction changed nothing.
                    let key = format!("reaction:{}", incoming.id);
                    self.send(store, &incoming.chat, &key, why).await?;
                }
                self.answered(store, presser, verdict, note).await
            }
            What::Message | What::Skip => Ok(()),
        }
    }

    /// The request whose message is `message_id`.
    fn request_of(&self, store: &Store, message_id: &str) -> Result<Option<String>, String> {
        for (key, text) in store.states(self.channel)? {
            let Some(id) = key.strip_prefix(PREFIX) else { continue };
            let Ok(record) = serde_json::from_str::<Value>(&text) else { continue };
            if message_id_of(&record).as_deref() == Some(message_id) {
                return Ok(Some(id.to_string()));
            }
        }
        Ok(None)
    }

    /// `/approve ID` or `/deny ID` from an approver (the text fallback of the buttons):
    /// whether `text` was such a command (then it is handled here, and is no chat turn).
    pub(crate) async fn command(
        &self,
        store: &mut Store,
        sender: &str,
        chat: &str,
        text: &str,
    ) -> Result<bool, String> {
        let mut words = text.split_whitespace();
        let yes = match words.next() {
            Some("/approve") => true,
            Some("/deny") => false,
            _ => return Ok(false),
        };
        let (Some(id), None) = (words.next(), words.next()) else { return Ok(false) };
        let verdict = if id.chars().all(|c| c.is_ascii_alphanumeric()) && id.len() == 10 {
            self.verdict(store, sender, id, yes)
        } else {
            Err("There is no request with that id: nothing was changed.")
        };
        let note = match &verdict {
            Ok((_, true, _)) => "Approved.",
            Ok((_, false, _)) => "Denied.",
            Err(why) => why,
        };
        let key = format!("command:{}:{}", id, crate::now_ms());
        self.send(store, chat, &key, note).await?;
        self.answered(store, sender, verdict, note).await?;
        Ok(true)
    }

    /// Whether `who` may answer request `id` now (an approver, unused, within 2 minutes).
    fn verdict(&self, store: &Store, who: &str, id: &str, yes: bool) -> Result<(String, bool, Value), &'static str> {
        let record = store
            .get_state(self.channel, &format!("{PREFIX}{id}"))
            .ok()
            .flatten()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok());
        let now = self.clock_ms();
        match record {
            None => Err("There is no request with that id (or Pyra restarted since): nothing was changed."),
            Some(_) if !self.policy.approvers().iter().any(|a| a == who) => Err("Only an approver can answer this."),
            Some(r) if r["used"] == true => Err("This was already answered."),
            Some(r) if now - r["sent_at"].as_i64().unwrap_or(0) > WINDOW_MS => {
                Err("Too late: after 2 minutes the request was denied.")
            }
            Some(r) => Ok((id.to_string(), yes, r)),
        }
    }

    /// Carries out a verdict: the answer recorded, or the refusal logged.
    async fn answered(
        &self,
        store: &mut Store,
        who: &str,
        verdict: Result<(String, bool, Value), &'static str>,
        note: &str,
    ) -> Result<(), String> {
        let Ok((id, yes, record)) = verdict else {
            self.log().warn(&format!("channel {}: an answer by {who} refused: {note}", self.channel));
            return Ok(());
        };
        let by = format!("{}:{who}", self.channel);
        self.settle(store, &id, &record, yes, &by, if yes { "Approved" } else { "Denied" }).await
    }

    /// Records the answer (once), edits the request, resumes the run and follows it.
    async fn settle(
        &self,
        store: &mut Store,
        id: &str,
        record: &Value,
        yes: bool,
        by: &str,
        said: &str,
    ) -> Result<(), String> {
        let mut used = record.clone();
        used["used"] = Value::Bool(true);
        store.set_state(self.channel, &format!("{PREFIX}{id}"), &used.to_string())?;
        let (run, node, root) = (
            record["run"].as_str().unwrap_or(""),
            record["node"].as_str().unwrap_or(""),
            record["root"].as_str().unwrap_or(""),
        );
        let state = if yes { ApprovalState::Approved } else { ApprovalState::Rejected };
        let answered =
            self.daemon.setup.sqlite.answer_approval(run, node, state, by, None).map_err(|e| e.to_string())?;
        let chat = record["chat"].as_str().unwrap_or("").to_string();
        if let Some(message_id) = message_id_of(record) {
            self.transport.decided(&chat, &message_id, &format!("{said} ({by}).")).await;
        }
        if !answered {
            return Ok(());
        }
        let how = if yes { "approved" } else { "rejected" };
        self.daemon.resume(root, &format!("{how} over {}", self.channel))?;
        let follower = self.clone();
        let (root, inbox) = (root.to_string(), record["inbox"].as_str().unwrap_or("").to_string());
        tokio::spawn(async move { follower.follow(&root, &chat, &inbox).await });
        Ok(())
    }

    /// Waits for a resumed run to end and sends its reply (or asks again).
    async fn follow(&self, root: &str, chat: &str, inbox: &str) {
        for _ in 0..3000 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let Ok(Some(run)) = self.daemon.setup.sqlite.run(root) else { continue };
            if !run.status.is_final() && run.status != RunStatus::Waiting {
                continue;
            }
            let Ok(mut store) = Store::open(&self.home.join("pyra.db")) else { return };
            let reply = match run.status {
                RunStatus::Succeeded => run
                    .outputs
                    .as_ref()
                    .and_then(|o| o.get("reply"))
                    .and_then(Value::as_str)
                    .unwrap_or("Done.")
                    .to_string(),
                RunStatus::Waiting if !pending(self.daemon.setup.sqlite.as_ref(), root).is_empty() => {
                    let sender = chat.to_string();
                    let _ = self.ask(&mut store, root, chat, &sender, &format!("{inbox}:{}", crate::now_ms())).await;
                    return;
                }
                _ => format!("Not done: {}", run.error.as_deref().unwrap_or("the request was denied")),
            };
            let reply = self.daemon.setup.runtime.masker.mask(&reply).into_owned();
            let _ = self.send(&mut store, chat, &format!("reply:{inbox}:after"), &reply).await;
            return;
        }
    }

    /// Denies every request unanswered after 2 minutes on the daemon's clock.
    pub(crate) async fn expire(&self, store: &mut Store) -> Result<(), String> {
        let now = self.clock_ms();
        for (key, text) in store.states(self.channel)? {
            let Some(id) = key.strip_prefix(PREFIX) else { continue };
            let Ok(record) = serde_json::from_str::<Value>(&text) else { continue };
            if record["used"] == true || now - record["sent_at"].as_i64().unwrap_or(now) <= WINDOW_MS {
                continue;
            }
            self.log().info(&format!("channel {}: approval {id} unanswered for 2 minutes: denied", self.channel));
            let by = format!("{}: no answer within 2 minutes", self.channel);
            self.settle(store, id, &record, false, &by, "Denied: no answer within 2 minutes").await?;
        }
        Ok(())
    }
}

/// Runs [`Context::expire`] every second until `cancel`.
pub(crate) async fn expiry_task(ctx: Arc<Context>, cancel: tokio_util::sync::CancellationToken) {
    let Ok(mut store) = Store::open(&ctx.home.join("pyra.db")) else { return };
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if let Err(e) = ctx.expire(&mut store).await {
            ctx.log().error(&format!("channel {}: expiring approvals: {e}", ctx.channel));
        }
    }
}

/// A request's message id (a number in records written before the other channels).
fn message_id_of(record: &Value) -> Option<String> {
    match &record["message_id"] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What a reaction answers: `Some(true)` approves, `Some(false)` denies, `None` is any
/// other emoji (variation selectors and skin tones do not matter).
pub fn reaction(key: &str) -> Option<bool> {
    let bare: String =
        key.chars().filter(|c| !matches!(c, '\u{FE0E}' | '\u{FE0F}' | '\u{1F3FB}'..='\u{1F3FF}')).collect();
    match bare.as_str() {
        "👍" | "✅" | "✔" | "☑" | "🆗" => Some(true),
        "👎" | "❌" | "✖" | "❎" | "🚫" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{Key, reaction};

    #[test]
    fn reactions_approve_or_deny_whatever_their_variation() {
        assert_eq!(reaction("👍"), Some(true));
        assert_eq!(reaction("👍🏽"), Some(true), "a skin tone is still a thumbs up");
        assert_eq!(reaction("✔\u{FE0F}"), Some(true));
        assert_eq!(reaction("✅"), Some(true));
        assert_eq!(reaction("👎"), Some(false));
        assert_eq!(reaction("❌"), Some(false));
        assert_eq!(reaction("❤️"), None);
        assert_eq!(reaction("👍👎"), None);
        assert_eq!(reaction(""), None);
    }

    #[test]
    fn button_data_is_bound_by_its_mac_and_fits_telegram() {
        let key = Key::random();
        let yes = key.data("abcdefghij", true);
        assert!(yes.len() <= 64, "{yes}");
        assert_eq!(key.check(&yes), Some(("abcdefghij".to_string(), true)));
        assert_eq!(key.check(&yes.replace(":y:", ":n:")), None, "the answer is bound");
        assert_eq!(key.check(&yes.replace("abcdefghij", "abcdefghik")), None, "the approval is bound");
        assert_eq!(Key::random().check(&yes), None, "another process's buttons are void");
        assert_eq!(key.check("ap:x:y:zz"), None);
    }
}
