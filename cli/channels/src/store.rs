//! The channels' tables in `pyra.db` (schema step 8): the inbox (one row per incoming
//! message, keyed by its platform id, taken before it is processed), the outbox (every
//! send, with whether its outcome is known), the rate log, pairing codes and each
//! channel's cursor and status values.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

/// How long a pairing code stays valid.
pub const PAIRING_MS: i64 = 3_600_000;
/// Codes waiting at once per channel; more unknown senders are refused silently.
pub const MAX_PENDING: i64 = 3;
/// Pairing codes use letters and digits that cannot be mistaken for each other.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

pub struct Store {
    conn: Connection,
}

fn err(e: rusqlite::Error) -> String {
    format!("pyra.db: {e}")
}

/// An incoming message as the inbox records it (its text is decided on).
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    pub channel: &'a str,
    /// The platform's id of the message (Telegram: the update id).
    pub id: &'a str,
    pub sender: &'a str,
    pub chat: &'a str,
    /// Milliseconds since the epoch.
    pub at: i64,
}

/// A message taken from the inbox to be answered.
#[derive(Debug, Clone)]
pub struct Taken {
    pub id: String,
    pub sender: String,
    pub chat: String,
    pub text: String,
    /// The run answering it, once one was chosen (before a crash, maybe).
    pub run_id: Option<String>,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, String> {
        let conn = db::pyra::open(path).map_err(|e| e.to_string())?;
        Ok(Store { conn })
    }

    /// The connection (for the gate's checks that take one).
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn get_state(&self, channel: &str, key: &str) -> Result<Option<String>, String> {
        self.conn
            .query_row("SELECT value FROM channel_state WHERE channel = ?1 AND key = ?2", params![channel, key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err)
    }

    pub fn set_state(&self, channel: &str, key: &str, value: &str) -> Result<(), String> {
        self.conn
            .execute(
                "INSERT INTO channel_state(channel, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT(channel, key) DO UPDATE SET value = excluded.value",
                params![channel, key, value],
            )
            .map(drop)
            .map_err(err)
    }

    /// Every status value of a channel (`pyra channels status`).
    pub fn states(&self, channel: &str) -> Result<Vec<(String, String)>, String> {
        let mut stmt =
            self.conn.prepare("SELECT key, value FROM channel_state WHERE channel = ?1 ORDER BY key").map_err(err)?;
        let rows = stmt.query_map([channel], |r| Ok((r.get(0)?, r.get(1)?))).map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// Records an incoming message (once) and decides it in the same transaction with the
    /// channel's new cursor: `decide` sees whether the id is new and returns the state and
    /// the text to keep (only an accepted message's text is kept). Returns the state, or
    /// `None` for a message seen before.
    pub fn take_in(
        &mut self,
        arrival: &Arrival<'_>,
        cursor: Option<(&str, &str)>,
        decide: impl FnOnce(&Connection) -> Result<(String, Option<String>), String>,
    ) -> Result<Option<String>, String> {
        let Arrival { channel, id, sender, chat, at: now } = *arrival;
        let tx = self.conn.transaction().map_err(err)?;
        let fresh = tx
            .execute(
                "INSERT OR IGNORE INTO channel_inbox(channel, id, sender, chat, at, state) VALUES (?1, ?2, ?3, ?4, ?5, 'new')",
                params![channel, id, sender, chat, now],
            )
            .map_err(err)?
            == 1;
        let state = if fresh {
            let (state, text) = decide(&tx)?;
            tx.execute(
                "UPDATE channel_inbox SET state = ?3, text = ?4 WHERE channel = ?1 AND id = ?2",
                params![channel, id, state, text],
            )
            .map_err(err)?;
            Some(state)
        } else {
            None
        };
        if let Some((key, value)) = cursor {
            tx.execute(
                "INSERT INTO channel_state(channel, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT(channel, key) DO UPDATE SET value = excluded.value",
                params![channel, key, value],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(state)
    }

    /// Accepted messages not answered yet, oldest first (after a crash, too).
    pub fn accepted(&self, channel: &str) -> Result<Vec<Taken>, String> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, sender, chat, coalesce(text, ''), run_id FROM channel_inbox
                 WHERE channel = ?1 AND state = 'accepted' ORDER BY at, id",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([channel], |r| {
                Ok(Taken { id: r.get(0)?, sender: r.get(1)?, chat: r.get(2)?, text: r.get(3)?, run_id: r.get(4)? })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// Records the run that answers a message, before it starts.
    pub fn set_run(&self, channel: &str, id: &str, run_id: &str) -> Result<(), String> {
        self.conn
            .execute(
                "UPDATE channel_inbox SET run_id = ?3 WHERE channel = ?1 AND id = ?2",
                params![channel, id, run_id],
            )
            .map(drop)
            .map_err(err)
    }

    /// A message answered: its text is dropped (the conversation keeps it).
    pub fn done(&self, channel: &str, id: &str, run_id: Option<&str>, state: &str) -> Result<(), String> {
        self.conn
            .execute(
                "UPDATE channel_inbox SET state = ?3, run_id = ?4, text = NULL WHERE channel = ?1 AND id = ?2",
                params![channel, id, state, run_id],
            )
            .map(drop)
            .map_err(err)
    }

    /// Adds a send to the outbox under `key`; `false` when that key was sent (or tried)
    /// before. `repeatable`: the platform drops a repeated key, so a send whose outcome is
    /// unknown may go again.
    pub fn outbox_add(
        &self,
        channel: &str,
        chat: &str,
        key: &str,
        text: &str,
        now: i64,
        repeatable: bool,
    ) -> Result<bool, String> {
        let added = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO channel_outbox(channel, chat, key, text, state, created_at)
                 VALUES (?1, ?2, ?3, ?4, 'pending', ?5)",
                params![channel, chat, key, text, now],
            )
            .map_err(err)?;
        if added == 1 {
            return Ok(true);
        }
        // A pending row (a crash before the send) may go; a sent or unknown one may not
        // (unknown may, where the platform drops duplicates).
        let state: Option<String> = self
            .conn
            .query_row("SELECT state FROM channel_outbox WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(err)?;
        Ok(state.as_deref() == Some("pending") || (repeatable && state.as_deref() == Some("unknown")))
    }

    /// A send's outcome: `sent` (with the platform's message id), `unknown` (it may have
    /// arrived: never repeated), `failed` (it did not).
    pub fn outbox_set(
        &self,
        key: &str,
        state: &str,
        message_id: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), String> {
        self.conn
            .execute(
                "UPDATE channel_outbox SET state = ?2, message_id = ?3, error = ?4 WHERE key = ?1",
                params![key, state, message_id, error],
            )
            .map(drop)
            .map_err(err)
    }

    /// The chat `sender` last wrote to the bot from (a Matrix room), if any.
    pub fn last_chat(&self, channel: &str, sender: &str) -> Result<Option<String>, String> {
        self.conn
            .query_row(
                "SELECT chat FROM channel_inbox WHERE channel = ?1 AND sender = ?2 AND chat != '' ORDER BY at DESC LIMIT 1",
                params![channel, sender],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)
    }

    /// Whether a send of the channel got `message_id` (an echo of it is no message).
    pub fn sent_with_id(&self, channel: &str, message_id: &str) -> Result<bool, String> {
        self.conn
            .query_row(
                "SELECT 1 FROM channel_outbox WHERE channel = ?1 AND message_id = ?2",
                params![channel, message_id],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(err)
    }

    /// Counts of the outbox by state (status).
    pub fn outbox_counts(&self, channel: &str) -> Result<Vec<(String, i64)>, String> {
        let mut stmt = self
            .conn
            .prepare("SELECT state, count(*) FROM channel_outbox WHERE channel = ?1 GROUP BY state ORDER BY state")
            .map_err(err)?;
        let rows = stmt.query_map([channel], |r| Ok((r.get(0)?, r.get(1)?))).map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// Approves a pending pairing code (not expired); the channel and sender it admitted.
    pub fn pair(&self, code: &str, now: i64) -> Result<Option<(String, String)>, String> {
        let code = code.trim().to_ascii_uppercase();
        let found: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT channel, sender FROM channel_pairing WHERE code = ?1 AND state = 'pending' AND created_at > ?2",
                params![code, now - PAIRING_MS],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(err)?;
        if let Some((channel, sender)) = &found {
            self.allow(channel, sender, now)?;
        }
        Ok(found)
    }

    /// Admits a sender directly (`pyra channels allow`).
    pub fn allow(&self, channel: &str, sender: &str, now: i64) -> Result<(), String> {
        self.conn
            .execute(
                "INSERT INTO channel_pairing(channel, sender, code, created_at, state) VALUES (?1, ?2, '', ?3, 'approved')
                 ON CONFLICT(channel, sender) DO UPDATE SET state = 'approved', code = ''",
                params![channel, sender, now],
            )
            .map(drop)
            .map_err(err)
    }

    /// Senders admitted by pairing or `allow`.
    pub fn admitted(&self, channel: &str) -> Result<Vec<String>, String> {
        let mut stmt = self
            .conn
            .prepare("SELECT sender FROM channel_pairing WHERE channel = ?1 AND state = 'approved' ORDER BY sender")
            .map_err(err)?;
        let rows = stmt.query_map([channel], |r| r.get(0)).map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }
}

/// Whether `sender` was admitted by pairing (inside a decision's transaction).
pub fn is_admitted(conn: &Connection, channel: &str, sender: &str) -> Result<bool, String> {
    conn.query_row(
        "SELECT 1 FROM channel_pairing WHERE channel = ?1 AND sender = ?2 AND state = 'approved'",
        params![channel, sender],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
    .map_err(err)
}

/// What an unknown sender gets: a new code, nothing (one is pending for them, or too
/// many are pending), inside a decision's transaction.
pub fn challenge(conn: &Connection, channel: &str, sender: &str, now: i64) -> Result<Option<String>, String> {
    let since = now - PAIRING_MS;
    let theirs: Option<i64> = conn
        .query_row(
            "SELECT created_at FROM channel_pairing WHERE channel = ?1 AND sender = ?2 AND state = 'pending'",
            params![channel, sender],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
    if theirs.is_some_and(|at| at > since) {
        return Ok(None);
    }
    let pending: i64 = conn
        .query_row(
            "SELECT count(*) FROM channel_pairing WHERE channel = ?1 AND state = 'pending' AND created_at > ?2",
            params![channel, since],
            |r| r.get(0),
        )
        .map_err(err)?;
    if pending >= MAX_PENDING {
        return Ok(None);
    }
    let code: String = (0..8).map(|_| CODE_ALPHABET[fastrand::usize(..CODE_ALPHABET.len())] as char).collect();
    conn.execute(
        "INSERT INTO channel_pairing(channel, sender, code, created_at, state) VALUES (?1, ?2, ?3, ?4, 'pending')
         ON CONFLICT(channel, sender) DO UPDATE SET code = excluded.code, created_at = excluded.created_at, state = 'pending'",
        params![channel, sender, code, now],
    )
    .map_err(err)?;
    Ok(Some(code))
}

/// The rate limit, inside a decision's transaction: `Ok(true)` records the message (under
/// the limit); `Ok(false)` is over it.
pub fn within_rate(conn: &Connection, channel: &str, sender: &str, now: i64, per_hour: u32) -> Result<bool, String> {
    let since = now - 3_600_000;
    conn.execute(
        "DELETE FROM channel_rate WHERE channel = ?1 AND sender = ?2 AND at <= ?3",
        params![channel, sender, since],
    )
    .map_err(err)?;
    let count: i64 = conn
        .query_row(
            "SELECT count(*) FROM channel_rate WHERE channel = ?1 AND sender = ?2 AND at > ?3",
            params![channel, sender, since],
            |r| r.get(0),
        )
        .map_err(err)?;
    if count >= i64::from(per_hour) {
        return Ok(false);
    }
    conn.execute("INSERT INTO channel_rate(channel, sender, at) VALUES (?1, ?2, ?3)", params![channel, sender, now])
        .map_err(err)?;
    Ok(true)
}

/// Whether a sender over the limit should get the notice: once per hour.
pub fn notice_due(conn: &Connection, channel: &str, sender: &str, now: i64) -> Result<bool, String> {
    let key = format!("notice:{sender}");
    let last: Option<String> = conn
        .query_row("SELECT value FROM channel_state WHERE channel = ?1 AND key = ?2", params![channel, key], |r| {
            r.get(0)
        })
        .optional()
        .map_err(err)?;
    if last.and_then(|l| l.parse::<i64>().ok()).is_some_and(|at| at > now - 3_600_000) {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO channel_state(channel, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT(channel, key) DO UPDATE SET value = excluded.value",
        params![channel, key, now.to_string()],
    )
    .map_err(err)?;
    Ok(true)
}

/// A status value inside a decision's transaction.
pub fn state_in(conn: &Connection, channel: &str, key: &str) -> Result<Option<String>, String> {
    conn.query_row("SELECT value FROM channel_state WHERE channel = ?1 AND key = ?2", params![channel, key], |r| {
        r.get(0)
    })
    .optional()
    .map(|v: Option<String>| v.filter(|v| !v.is_empty()))
    .map_err(err)
}

/// Sets a status value inside a decision's transaction.
pub fn set_state_in(conn: &Connection, channel: &str, key: &str, value: &str) -> Result<(), String> {
    conn.execute(
        "INSERT INTO channel_state(channel, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT(channel, key) DO UPDATE SET value = excluded.value",
        params![channel, key, value],
    )
    .map(drop)
    .map_err(err)
}

/// Admits a sender inside a decision's transaction (the passphrase was right).
pub fn admit_in(conn: &Connection, channel: &str, sender: &str, now: i64) -> Result<(), String> {
    conn.execute(
        "INSERT INTO channel_pairing(channel, sender, code, created_at, state) VALUES (?1, ?2, '', ?3, 'approved')
         ON CONFLICT(channel, sender) DO UPDATE SET state = 'approved', code = ''",
        params![channel, sender, now],
    )
    .map(drop)
    .map_err(err)
}
