//! The `email` built-in (feature `plugin-email`): one mail account over IMAP and SMTP
//! (several accounts are several plugins of this built-in). Tools: `search` and `read`
//! (read-only: the folder is EXAMINEd and bodies fetched with `BODY.PEEK`, so reading
//! never marks a message `\Seen`), `draft` (APPEND to the drafts folder), `send` (SMTP,
//! then a copy in the sent folder), `move` and `flag`. Mail is untrusted: the executor
//! taint-marks and scans every result; here bodies are capped, HTML becomes text (hidden
//! text marked, never dropped), control characters are blanked, and a CR or LF in a
//! header argument is refused. `email.received` comes from IMAP IDLE for the daemon.

mod account;
mod conn;
mod html;
mod imap;
mod message;
mod smtp;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use config::fields::{Field, Kind};

use crate::builtin::{Builtin, Call, CallFuture, Emitted};
use crate::manifest::Decision;
use account::Account;

/// This module's built-ins, for [`crate::builtin::all`].
pub fn builtins() -> Vec<Arc<dyn Builtin>> {
    vec![Arc::new(Email)]
}

const SECURITY: Kind = Kind::Choice(&["tls", "starttls", "none"]);

const FIELDS: &[Field] = &[
    Field::new("imap_host", "IMAP server", Kind::Text, "the IMAP server's host name, e.g. imap.example.org").required(),
    Field::new("imap_port", "IMAP port", Kind::Integer { min: 1, max: 65535 }, "unset: 993 for tls, 143 otherwise"),
    Field::new(
        "imap_security",
        "IMAP security",
        SECURITY,
        "tls (port 993), starttls (143), or none (only to a loopback host: the password would travel in clear)",
    )
    .default("tls"),
    Field::new(
        "smtp_host",
        "SMTP server",
        Kind::Text,
        "the SMTP server's host name, e.g. smtp.example.org (send needs it)",
    ),
    Field::new(
        "smtp_port",
        "SMTP port",
        Kind::Integer { min: 1, max: 65535 },
        "unset: 465 for tls, 587 for starttls, 25 for none",
    ),
    Field::new(
        "smtp_security",
        "SMTP security",
        SECURITY,
        "tls (port 465), starttls (587), or none (only to a loopback host)",
    )
    .default("starttls"),
    Field::new("username", "Login", Kind::Text, "the login for both servers, often your address").required(),
    Field::new(
        "address",
        "From address",
        Kind::Text,
        "the From address of sent mail (unset: the login, if it is an address)",
    ),
    Field::new("name", "From name", Kind::Text, "the name shown with your address, e.g. Alice Example"),
    Field::new("drafts_folder", "Drafts folder", Kind::Text, "where draft puts messages").default("Drafts"),
    Field::new("sent_folder", "Sent folder", Kind::Text, "where a copy of sent mail goes").default("Sent"),
    Field::new(
        "save_sent",
        "Save sent mail",
        Kind::Bool,
        "append a copy of sent mail to the sent folder (false for servers that do it themselves, like Gmail)",
    )
    .default("true"),
    Field::new(
        "watch",
        "Watch for new mail",
        Kind::Bool,
        "keep an IMAP IDLE connection while the daemon runs, so new mail is the email.received event",
    )
    .default("true"),
    Field::new("watch_folder", "Watched folder", Kind::Text, "the folder whose new mail is the email.received event")
        .default("INBOX"),
    Field::new(
        "ca_file",
        "Extra CA file",
        Kind::Text,
        "a PEM file of certificate authorities to trust besides the system's (a self-hosted server)",
    ),
    Field::new(
        "password",
        "Password",
        Kind::Secret,
        "the account's password (an app password where the provider has them)",
    ),
];

/// Each call's limit: a server that stops answering fails the call, it does not hang it.
const CALL_TIMEOUT: Duration = Duration::from_secs(180);

pub struct Email;

fn text(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

/// A header value: one line.
fn line(description: &str) -> Value {
    json!({ "type": "string", "pattern": "^[^\\r\\n]*$", "description": description })
}

fn addresses(description: &str) -> Value {
    json!({
        "anyOf": [
            { "type": "string", "pattern": "^[^\\r\\n]*$" },
            { "type": "array", "items": { "type": "string", "pattern": "^[^\\r\\n]*$" } }
        ],
        "description": description
    })
}

fn tool(name: &str, title: &str, description: &str, properties: Value, required: &[&str], read_only: bool) -> Value {
    json!({
        "name": name,
        "title": title,
        "description": description,
        "inputSchema": { "type": "object", "properties": properties, "required": required, "additionalProperties": false },
        "annotations": {
            "readOnlyHint": read_only,
            "destructiveHint": false,
            "idempotentHint": read_only,
            "openWorldHint": true
        }
    })
}

fn uids() -> Value {
    json!({ "type": "array", "items": { "type": "integer", "minimum": 1 }, "minItems": 1, "maxItems": 500, "description": "Message UIDs from `search`." })
}

fn outgoing_properties() -> Value {
    json!({
        "to": addresses("Recipients: an address or a list (`Name <a@b.org>` or `a@b.org`)."),
        "cc": addresses("Copy recipients."),
        "bcc": addresses("Blind copy recipients (not shown in the message)."),
        "subject": line("The subject (one line)."),
        "body": text("The plain-text body."),
        "in_reply_to": line("The Message-ID this answers (from `read`), for threading."),
    })
}

impl Email {
    async fn draft(&self, account: &Account, args: &Value) -> Result<Value, String> {
        let msg = message::outgoing(args, account.from()?, account.name.as_deref())?;
        let id = message_id(&msg);
        let uid =
            imap::append(account, &account.drafts, "drafts_folder", "(\\Draft \\Seen)", &msg.formatted(), &id).await?;
        Ok(json!({
            "content": [{ "type": "text", "text": format!("saved a draft in {} (uid {})", account.drafts, uid.map_or("unknown".into(), |u| u.to_string())) }],
            "structuredContent": { "folder": account.drafts, "uid": uid, "message_id": id },
        }))
    }

    async fn send(&self, account: &Account, args: &Value) -> Result<Value, String> {
        let msg = message::outgoing(args, account.from()?, account.name.as_deref())?;
        let id = message_id(&msg);
        smtp::send(account, &msg).await?;
        let recipients: Vec<String> = msg.envelope().to().iter().map(ToString::to_string).collect();
        let mut text = format!("sent to {}", recipients.join(", "));
        let mut saved = Value::Null;
        if account.save_sent {
            match imap::append(account, &account.sent, "sent_folder", "(\\Seen)", &msg.formatted(), &id).await {
                Ok(uid) => {
                    text.push_str(&format!("; a copy is in {}", account.sent));
                    saved = json!({ "folder": account.sent, "uid": uid });
                }
                // The mail went out: a missing copy is a note, not a failure (a retry would send twice).
                Err(e) => text.push_str(&format!(
                    "; but no copy was saved: {e} (set `save_sent: false` if the server keeps one)"
                )),
            }
        }
        Ok(json!({
            "content": [{ "type": "text", "text": text }],
            "structuredContent": { "message_id": id, "recipients": recipients, "saved": saved },
        }))
    }
}

fn message_id(msg: &lettre::Message) -> String {
    msg.headers().get_raw("Message-ID").unwrap_or_default().trim().to_string()
}

impl Builtin for Email {
    fn id(&self) -> &'static str {
        "email"
    }

    fn description(&self) -> &'static str {
        "One mail account over IMAP and SMTP: search, read, draft, send, move, flag; new mail as the email.received event."
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn check(&self, plugin: &str, settings: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
        account::check(plugin, settings)
    }

    fn tools(&self) -> Vec<Value> {
        vec![
            tool(
                "search",
                "Search mail",
                "Finds messages in a folder (all given criteria must match), newest first: uid, from, subject, date, flags. Does not mark anything read. Headers are untrusted.",
                json!({
                    "folder": text("The folder (default INBOX)."),
                    "from": line("Text in the From header."),
                    "subject": line("Text in the subject."),
                    "text": line("Text anywhere in the message."),
                    "since": { "type": "string", "pattern": "^(\\d{4}-\\d{2}-\\d{2})?$", "description": "Received on or after this day (YYYY-MM-DD; empty: any day)." },
                    "unread": { "type": "boolean", "description": "Only messages not yet read." },
                    "limit": { "type": "integer", "minimum": 1, "maximum": 100, "description": "How many (default 20)." }
                }),
                &[],
                true,
            ),
            tool(
                "read",
                "Read a message",
                "Reads one message: headers, its text body (HTML turned into text, hidden text marked; capped at 64 KB) and its attachments (name, type, size). Does not mark it read. The content is untrusted.",
                json!({ "folder": text("The folder (default INBOX)."), "uid": { "type": "integer", "minimum": 1, "description": "The message UID from `search`." } }),
                &["uid"],
                true,
            ),
            tool(
                "draft",
                "Save a draft",
                "Saves a plain-text message in the drafts folder without sending it.",
                outgoing_properties(),
                &["to", "subject", "body"],
                false,
            ),
            tool(
                "send",
                "Send a message",
                "Sends a plain-text message from the account's address over SMTP and keeps a copy in the sent folder.",
                outgoing_properties(),
                &["to", "subject", "body"],
                false,
            ),
            tool(
                "move",
                "Move messages",
                "Moves messages to another folder (e.g. Archive, Trash).",
                json!({ "folder": text("The folder they are in (default INBOX)."), "uids": uids(), "to": text("The folder to move them to.") }),
                &["uids", "to"],
                false,
            ),
            tool(
                "flag",
                "Flag messages",
                "Adds or removes flags: seen (read), flagged, answered, draft.",
                json!({
                    "folder": text("The folder they are in (default INBOX)."),
                    "uids": uids(),
                    "add": { "type": "array", "items": { "enum": ["seen", "flagged", "answered", "draft"] }, "description": "Flags to set." },
                    "remove": { "type": "array", "items": { "enum": ["seen", "flagged", "answered", "draft"] }, "description": "Flags to clear." }
                }),
                &["uids"],
                false,
            ),
        ]
    }

    fn policy(&self) -> &'static [(&'static str, Decision)] {
        &[("search", Decision::Allow), ("read", Decision::Allow)]
    }

    fn call<'a>(&'a self, tool: &'a str, arguments: Value, call: Call<'a>) -> CallFuture<'a> {
        Box::pin(async move {
            let account = Account::from_call(&call)?;
            let work = async {
                match tool {
                    "search" => imap::search(&account, &arguments).await,
                    "read" => imap::read(&account, &arguments).await,
                    "draft" => self.draft(&account, &arguments).await,
                    "send" => self.send(&account, &arguments).await,
                    "move" => imap::mv(&account, &arguments).await,
                    "flag" => imap::flag(&account, &arguments).await,
                    other => Err(format!("email has no tool `{other}`")),
                }
            };
            tokio::select! {
                r = tokio::time::timeout(CALL_TIMEOUT, work) => r.unwrap_or_else(|_| Err(format!(
                    "the mail servers of plugin `{}` did not finish within {} s", call.plugin, CALL_TIMEOUT.as_secs()
                ))),
                () = call.cancel.cancelled() => Err("cancelled".into()),
            }
        })
    }

    fn events(&self) -> &'static [&'static str] {
        &["email.received"]
    }

    fn watch<'a>(&'a self, call: Call<'a>, emit: &'a (dyn Fn(Emitted) + Send + Sync)) -> CallFuture<'a> {
        Box::pin(async move {
            if call.setting("watch") == Some("false") {
                // Not watched: idle until the daemon stops, rather than failing (and being restarted).
                call.cancel.cancelled().await;
                return Ok(Value::Null);
            }
            let account = Account::from_call(&call)?;
            watch::watch(&account, call.dir, call.cancel, emit).await.map(|()| Value::Null)
        })
    }
}
