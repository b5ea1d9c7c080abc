//! The IMAP side of the tools: `search` and `read` open the folder with EXAMINE (read
//! only) and fetch with `BODY.PEEK`, so neither marks a message `\Seen`; `draft` and the
//! sent copy APPEND; `move` and `flag` SELECT and act on UIDs. Each call is one
//! connection, logged out at the end.

use async_imap::types::{Fetch, Flag};
use futures_util::TryStreamExt;
use serde_json::{Value, json};

use super::account::Account;
use super::conn::{self, Session, imap_error};
use super::message;

/// The most of one message `read` fetches (`BODY.PEEK[]<0.N>`).
const FETCH_CAP: u32 = 10 * 1024 * 1024;

/// A flag as a word: `seen`, `flagged`, or a keyword as the server spells it.
pub fn flag_name(f: &Flag<'_>) -> String {
    match f {
        Flag::Seen => "seen".into(),
        Flag::Answered => "answered".into(),
        Flag::Flagged => "flagged".into(),
        Flag::Deleted => "deleted".into(),
        Flag::Draft => "draft".into(),
        Flag::Recent => "recent".into(),
        Flag::MayCreate => "*".into(),
        Flag::Custom(c) => message::clean(c),
    }
}

/// A folder argument (default `dflt`), refused when IMAP cannot name it.
pub fn folder<'a>(args: &'a Value, key: &str, dflt: &'a str) -> Result<&'a str, String> {
    let f = args.get(key).and_then(Value::as_str).map(str::trim).filter(|f| !f.is_empty()).unwrap_or(dflt);
    if f.contains(['\r', '\n', '\0']) {
        return Err(format!("`{key}` holds a line break"));
    }
    Ok(f)
}

/// UIDs from `uids` (a list of positive whole numbers).
pub fn uids(args: &Value) -> Result<Vec<u32>, String> {
    let list =
        args.get("uids").and_then(Value::as_array).ok_or("`uids` is missing: a list of message UIDs from `search`")?;
    let mut out = Vec::new();
    for v in list {
        match v.as_u64().and_then(|n| u32::try_from(n).ok()).filter(|n| *n > 0) {
            Some(n) => out.push(n),
            None => return Err(format!("`uids` holds `{v}`, which is not a message UID")),
        }
    }
    if out.is_empty() {
        return Err("`uids` is empty".into());
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn set(uids: &[u32]) -> String {
    uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// Runs `f` on a logged-in session, then logs out whatever `f` returned.
async fn with_session<T>(
    account: &Account,
    f: impl AsyncFnOnce(&mut Session) -> Result<T, String>,
) -> Result<T, String> {
    let mut s = conn::imap(account).await?;
    let r = f(&mut s).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s.logout()).await;
    r
}

async fn open(
    s: &mut Session,
    account: &Account,
    name: &str,
    write: bool,
) -> Result<async_imap::types::Mailbox, String> {
    let r = if write { s.select(name).await } else { s.examine(name).await };
    r.map_err(|e| match e {
        async_imap::error::Error::No(said) => format!(
            "the IMAP server {} has no folder `{name}` it can open ({}); folder names are as the server lists them, e.g. INBOX",
            account.imap.addr(),
            said.trim()
        ),
        e => imap_error(&account.imap, if write { "SELECT" } else { "EXAMINE" }, &e),
    })
}

async fn fetch(s: &mut Session, account: &Account, uids: &str, items: &str) -> Result<Vec<Fetch>, String> {
    let stream = s.uid_fetch(uids, items).await.map_err(|e| imap_error(&account.imap, "UID FETCH", &e))?;
    stream.try_collect().await.map_err(|e| imap_error(&account.imap, "UID FETCH", &e))
}

async fn uid_search(s: &mut Session, account: &Account, criteria: &str) -> Result<Vec<u32>, String> {
    let found = s.uid_search(criteria).await.map_err(|e| imap_error(&account.imap, "UID SEARCH", &e))?;
    let mut found: Vec<u32> = found.into_iter().collect();
    found.sort_unstable();
    Ok(found)
}

/// A row of `search` (and the data of `email.received`) from a header fetch.
pub fn row(f: &Fetch, folder: &str) -> Value {
    let mut row = message::summary(f.header().unwrap_or_default());
    row["uid"] = json!(f.uid.unwrap_or(0));
    row["folder"] = json!(folder);
    row["flags"] = json!(f.flags().filter(|f| *f != Flag::Recent).map(|f| flag_name(&f)).collect::<Vec<_>>());
    row["size"] = json!(f.size.unwrap_or(0));
    row
}

pub async fn search(account: &Account, args: &Value) -> Result<Value, String> {
    let folder = folder(args, "folder", "INBOX")?;
    let criteria = message::search_criteria(args)?;
    let limit = args.get("limit").and_then(Value::as_u64).unwrap_or(20).clamp(1, 100) as usize;
    with_session(account, async |s| {
        open(s, account, folder, false).await?;
        let mut found = uid_search(s, account, &criteria).await?;
        let total = found.len();
        found.reverse();
        found.truncate(limit);
        let mut rows: Vec<Value> = if found.is_empty() {
            Vec::new()
        } else {
            fetch(s, account, &set(&found), "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])")
                .await?
                .iter()
                .map(|f| row(f, folder))
                .collect()
        };
        rows.sort_by_key(|r| std::cmp::Reverse(r["uid"].as_u64()));
        let text = if rows.is_empty() {
            format!("no messages in {folder} match")
        } else {
            let mut t = format!("{} of {total} matching message(s) in {folder}, newest first:\n", rows.len());
            for r in &rows {
                t.push_str(&format!(
                    "- uid {} · {} · {} · {}{}\n",
                    r["uid"],
                    r["date"].as_str().unwrap_or(""),
                    r["from"].as_str().unwrap_or(""),
                    r["subject"].as_str().unwrap_or(""),
                    if r["flags"].as_array().is_some_and(|f| f.iter().any(|f| f == "seen")) { "" } else { " (unread)" }
                ));
            }
            t
        };
        Ok(json!({
            "content": [{ "type": "text", "text": text }],
            "structuredContent": { "folder": folder, "total": total, "messages": rows },
        }))
    })
    .await
}

pub async fn read(account: &Account, args: &Value) -> Result<Value, String> {
    let folder = folder(args, "folder", "INBOX")?;
    let uid = args
        .get("uid")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or("`uid` is missing: a message UID from `search`")?;
    with_session(account, async |s| {
        open(s, account, folder, false).await?;
        let items = format!("(UID FLAGS RFC822.SIZE BODY.PEEK[]<0.{FETCH_CAP}>)");
        let fetched = fetch(s, account, &uid.to_string(), &items).await?;
        let Some(f) = fetched.iter().find(|f| f.uid == Some(uid)) else {
            return Err(format!(
                "no message with uid {uid} in {folder}: a UID belongs to one folder, and a moved message gets a new one; `search` again"
            ));
        };
        let raw = f.body().unwrap_or_default();
        let mut m = message::full(raw, f.size.is_some_and(|n| n > FETCH_CAP));
        m["uid"] = json!(uid);
        m["folder"] = json!(folder);
        m["flags"] = json!(f.flags().filter(|f| *f != Flag::Recent).map(|f| flag_name(&f)).collect::<Vec<_>>());
        let attachments: Vec<String> = m["attachments"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| format!("{} ({}, {} bytes)", a["name"].as_str().unwrap_or(""), a["type"].as_str().unwrap_or(""), a["size"]))
            .collect();
        let mut text = format!(
            "From: {}\nTo: {}\nDate: {}\nSubject: {}\n",
            m["from"].as_str().unwrap_or(""),
            m["to"].as_str().unwrap_or(""),
            m["date"].as_str().unwrap_or(""),
            m["subject"].as_str().unwrap_or("")
        );
        if !attachments.is_empty() {
            text.push_str(&format!("Attachments: {}\n", attachments.join(", ")));
        }
        text.push('\n');
        text.push_str(m["body"].as_str().unwrap_or(""));
        for n in m["notes"].as_array().into_iter().flatten() {
            text.push_str(&format!("\n[{}]", n.as_str().unwrap_or("")));
        }
        Ok(json!({ "content": [{ "type": "text", "text": text }], "structuredContent": m }))
    })
    .await
}

/// APPENDs a message to `folder` with `flags`; the UID it got when the server says
/// (found again by its Message-ID).
pub async fn append(
    account: &Account,
    folder: &str,
    setting: &str,
    flags: &str,
    raw: &[u8],
    message_id: &str,
) -> Result<Option<u32>, String> {
    with_session(account, async |s| {
        s.append(folder, Some(flags), None, raw).await.map_err(|e| {
            format!(
                "the IMAP server {} did not store the message in folder `{folder}` (settings.{setting}): {e}",
                account.imap.addr()
            )
        })?;
        open(s, account, folder, false).await?;
        let id = message::quoted("message_id", message_id)?;
        Ok(uid_search(s, account, &format!("HEADER Message-ID {id}")).await?.pop())
    })
    .await
}

pub async fn mv(account: &Account, args: &Value) -> Result<Value, String> {
    let from = folder(args, "folder", "INBOX")?;
    let to = folder(args, "to", "")?;
    if to.is_empty() {
        return Err("`to` is missing: the folder to move the messages to".into());
    }
    let wanted = uids(args)?;
    with_session(account, async |s| {
        open(s, account, from, true).await?;
        let found = uid_search(s, account, &format!("UID {}", set(&wanted))).await?;
        if found.is_empty() {
            return Err(format!("none of the uids {} is in {from}: `search` again", set(&wanted)));
        }
        let has_move = s.capabilities().await.map(|c| c.has_str("MOVE")).unwrap_or(false);
        let r = if has_move {
            s.uid_mv(set(&found), to).await
        } else {
            // No MOVE (RFC 6851): copy, mark deleted, expunge just these.
            async {
                s.uid_copy(set(&found), to).await?;
                s.uid_store(set(&found), "+FLAGS.SILENT (\\Deleted)").await?.try_collect::<Vec<_>>().await?;
                s.uid_expunge(set(&found)).await?.try_collect::<Vec<_>>().await?;
                Ok(())
            }
            .await
        };
        r.map_err(|e| format!("the IMAP server {} did not move the messages to `{to}`: {e}", account.imap.addr()))?;
        let missing: Vec<u32> = wanted.iter().filter(|u| !found.contains(u)).copied().collect();
        let mut text = format!("moved {} message(s) from {from} to {to}", found.len());
        if !missing.is_empty() {
            text.push_str(&format!("; not in {from}: {}", set(&missing)));
        }
        Ok(json!({
            "content": [{ "type": "text", "text": text }],
            "structuredContent": { "from": from, "to": to, "moved": found, "missing": missing },
        }))
    })
    .await
}

/// The IMAP flag for a `flag` word.
fn system_flag(word: &str) -> Result<&'static str, String> {
    match word.to_ascii_lowercase().as_str() {
        "seen" | "read" => Ok("\\Seen"),
        "flagged" => Ok("\\Flagged"),
        "answered" => Ok("\\Answered"),
        "draft" => Ok("\\Draft"),
        other => Err(format!("`{other}` is not a flag this tool sets: seen, flagged, answered or draft")),
    }
}

fn flag_list(args: &Value, key: &str) -> Result<Vec<&'static str>, String> {
    args.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|v| v.as_str().ok_or(format!("`{key}` holds a value that is not text")).and_then(system_flag))
        .collect()
}

pub async fn flag(account: &Account, args: &Value) -> Result<Value, String> {
    let folder = folder(args, "folder", "INBOX")?;
    let wanted = uids(args)?;
    let (add, remove) = (flag_list(args, "add")?, flag_list(args, "remove")?);
    if add.is_empty() && remove.is_empty() {
        return Err("nothing to do: give `add` or `remove` (seen, flagged, answered, draft)".into());
    }
    with_session(account, async |s| {
        open(s, account, folder, true).await?;
        let found = uid_search(s, account, &format!("UID {}", set(&wanted))).await?;
        if found.is_empty() {
            return Err(format!("none of the uids {} is in {folder}: `search` again", set(&wanted)));
        }
        for (sign, flags) in [("+", &add), ("-", &remove)] {
            if flags.is_empty() {
                continue;
            }
            let query = format!("{sign}FLAGS.SILENT ({})", flags.join(" "));
            let stream =
                s.uid_store(set(&found), &query).await.map_err(|e| imap_error(&account.imap, "UID STORE", &e))?;
            stream.try_collect::<Vec<_>>().await.map_err(|e| imap_error(&account.imap, "UID STORE", &e))?;
        }
        let now: Vec<Value> = fetch(s, account, &set(&found), "(UID FLAGS)")
            .await?
            .iter()
            .map(|f| json!({ "uid": f.uid, "flags": f.flags().filter(|f| *f != Flag::Recent).map(|f| flag_name(&f)).collect::<Vec<_>>() }))
            .collect();
        let text = now
            .iter()
            .map(|r| {
                format!(
                    "uid {}: {}",
                    r["uid"],
                    r["flags"]
                        .as_array()
                        .map(|f| f.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        Ok(json!({
            "content": [{ "type": "text", "text": text }],
            "structuredContent": { "folder": folder, "messages": now },
        }))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_and_flags_are_checked() {
        assert_eq!(uids(&json!({"uids": [3, 1, 3]})).unwrap(), vec![1, 3]);
        assert!(uids(&json!({"uids": []})).unwrap_err().contains("empty"));
        assert!(uids(&json!({"uids": [0]})).unwrap_err().contains("not a message UID"));
        assert_eq!(flag_list(&json!({"add": ["Seen", "flagged"]}), "add").unwrap(), vec!["\\Seen", "\\Flagged"]);
        assert!(flag_list(&json!({"add": ["deleted"]}), "add").unwrap_err().contains("not a flag this tool sets"));
        assert!(folder(&json!({"folder": "a\r\nb"}), "folder", "INBOX").is_err());
        assert_eq!(set(&[1, 2]), "1,2");
    }
}
