//! `email.received` from IMAP IDLE: the watched folder is selected, mail with a UID past
//! the last one seen is emitted (oldest first), then the connection idles until the
//! server says something changed. The last seen UID (with the folder's UIDVALIDITY) is
//! kept in a file in the plugin's directory, so a restart emits the mail that arrived
//! while Pyra was stopped and nothing twice; on the very first start, or when the
//! folder's UIDVALIDITY changed (its UIDs mean something else now), what is there counts
//! as seen. A failure returns `Err`: the daemon restarts the watch with backoff.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use futures_util::TryStreamExt;
use serde_json::{Value, json};

use super::account::Account;
use super::conn::{self, imap_error};
use super::imap::row;
use crate::builtin::Emitted;

/// IDLE is renewed well inside the 30 minutes after which a server may log us out.
const IDLE_RENEW: Duration = Duration::from_secs(25 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub uidvalidity: u32,
    pub last_uid: u32,
}

/// The state file of a folder: `seen-<folder>.json`, the name made safe.
pub fn state_path(dir: &Path, folder: &str) -> PathBuf {
    let safe: String =
        folder.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    dir.join(format!("seen-{safe}.json"))
}

pub fn load(path: &Path) -> Option<Seen> {
    let v: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    Some(Seen {
        uidvalidity: u32::try_from(v.get("uidvalidity")?.as_u64()?).ok()?,
        last_uid: u32::try_from(v.get("last_uid")?.as_u64()?).ok()?,
    })
}

/// Written whole (a temporary file renamed over it), 0600.
pub fn save(path: &Path, seen: Seen) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("json.tmp");
    let body = json!({ "uidvalidity": seen.uidvalidity, "last_uid": seen.last_uid }).to_string();
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(body.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| format!("cannot keep the last seen message in {}: {e}", path.display()))
}

/// What to start from: the kept state when it is for this UIDVALIDITY, else "everything
/// before `uid_next` is seen".
pub fn start(kept: Option<Seen>, uidvalidity: u32, uid_next: u32) -> (Seen, bool) {
    match kept {
        Some(s) if s.uidvalidity == uidvalidity => (s, false),
        _ => (Seen { uidvalidity, last_uid: uid_next.saturating_sub(1) }, true),
    }
}

pub async fn watch(
    account: &Account,
    dir: &Path,
    cancel: &tokio_util::sync::CancellationToken,
    emit: &(dyn Fn(Emitted) + Send + Sync),
) -> Result<(), String> {
    let folder = account.watch_folder.as_str();
    let path = state_path(dir, folder);
    let mut s = conn::imap(account).await?;
    let mailbox = s.select(folder).await.map_err(|e| {
        format!("cannot watch folder `{folder}` (settings.watch_folder): {}", imap_error(&account.imap, "SELECT", &e))
    })?;
    let uidvalidity = mailbox.uid_validity.unwrap_or(0);
    let uid_next = match mailbox.uid_next {
        Some(n) => n,
        None => {
            s.uid_search("ALL")
                .await
                .map_err(|e| imap_error(&account.imap, "UID SEARCH", &e))?
                .into_iter()
                .max()
                .unwrap_or(0)
                + 1
        }
    };
    let (mut seen, fresh) = start(load(&path), uidvalidity, uid_next);
    if fresh {
        save(&path, seen)?;
    }
    loop {
        // New mail since the last seen UID (`N:*` also matches the highest UID below N).
        let found = s
            .uid_search(format!("UID {}:*", seen.last_uid.saturating_add(1)))
            .await
            .map_err(|e| imap_error(&account.imap, "UID SEARCH", &e))?;
        let mut new: Vec<u32> = found.into_iter().filter(|u| *u > seen.last_uid).collect();
        new.sort_unstable();
        if !new.is_empty() {
            let set = new.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            let stream = s
                .uid_fetch(&set, "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])")
                .await
                .map_err(|e| imap_error(&account.imap, "UID FETCH", &e))?;
            let mut fetched: Vec<_> =
                stream.try_collect().await.map_err(|e| imap_error(&account.imap, "UID FETCH", &e))?;
            fetched.sort_by_key(|f| f.uid);
            for f in &fetched {
                let Some(uid) = f.uid.filter(|u| *u > seen.last_uid) else { continue };
                let r = row(f, folder);
                emit(Emitted {
                    name: "email.received",
                    id: format!("{}:{folder}:{uidvalidity}:{uid}", account.plugin),
                    data: json!({
                        "account": account.plugin,
                        "folder": folder,
                        "uid": uid,
                        "from": r["from"],
                        "subject": r["subject"],
                        "date": r["date"],
                        "message_id": r["message_id"],
                    }),
                });
                seen.last_uid = uid;
                save(&path, seen)?;
            }
        }
        let mut idle = s.idle();
        idle.init().await.map_err(|e| imap_error(&account.imap, "IDLE", &e))?;
        let outcome = {
            let (wait, _stop) = idle.wait_with_timeout(IDLE_RENEW);
            tokio::select! {
                r = wait => Some(r),
                () = cancel.cancelled() => None,
            }
        };
        s = tokio::time::timeout(Duration::from_secs(10), idle.done())
            .await
            .map_err(|_| format!("the IMAP server {} did not end IDLE", account.imap.addr()))?
            .map_err(|e| imap_error(&account.imap, "DONE", &e))?;
        match outcome {
            None => {
                let _ = tokio::time::timeout(Duration::from_secs(5), s.logout()).await;
                return Ok(());
            }
            Some(Err(e)) => return Err(imap_error(&account.imap, "IDLE", &e)),
            Some(Ok(IdleResponse::NewData(_) | IdleResponse::Timeout | IdleResponse::ManualInterrupt)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_survives_a_restart_and_a_new_uidvalidity_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(dir.path(), "INBOX/Work lists");
        assert!(path.ends_with("seen-INBOX_Work_lists.json"));
        assert_eq!(start(load(&path), 7, 12), (Seen { uidvalidity: 7, last_uid: 11 }, true));
        save(&path, Seen { uidvalidity: 7, last_uid: 4 }).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        // Mail 5..11 arrived while stopped: it is still to be emitted.
        assert_eq!(start(load(&path), 7, 12), (Seen { uidvalidity: 7, last_uid: 4 }, false));
        assert_eq!(start(load(&path), 8, 3), (Seen { uidvalidity: 8, last_uid: 2 }, true));
    }
}
