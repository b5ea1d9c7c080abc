//! [`ChatStore`]: conversations in the run database.
//!
//! Layout (step 5 of `pyra.db`'s migrations in [`db::pyra`], beside the run store's
//! tables):
//!
//! ```sql
//! chat_sessions(id TEXT PRIMARY KEY, name TEXT UNIQUE, created_at INTEGER, updated_at INTEGER, model TEXT)
//! chat_sessions_updated ON chat_sessions(updated_at)
//! chat_messages(session TEXT, seq INTEGER, role TEXT, content TEXT, pinned INTEGER, at INTEGER,
//!               findings TEXT /* JSON array, NULL when none */, PRIMARY KEY (session, seq)) WITHOUT ROWID
//! chat_pending(session TEXT PRIMARY KEY, run TEXT) /* a turn whose reply waits for an approval */
//! ```
//!
//! The connection is opened like the run store's, by [`db::pyra::open`] (WAL,
//! `synchronous = NORMAL`, a 10 s busy timeout, no checkpoint at close, the file created
//! 0600 before SQLite opens it; SQLite gives its `-wal` and `-shm` files its mode). Writes take the
//! write lock up front (`BEGIN IMMEDIATE`), so two `pyra chat` processes appending to one
//! conversation wait for each other instead of failing.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{ChatError, ChatMessage, Role, Session, check_name, title};
use db::{new_id, now_ms};

/// A session row with its message count and the start of its first user message.
const SESSION_SELECT: &str = "
SELECT s.id, s.name, s.created_at, s.updated_at, s.model,
    (SELECT count(*) FROM chat_messages m WHERE m.session = s.id) AS messages,
    (SELECT substr(m.content, 1, 1000) || char(length(m.content) > 1000)
       FROM chat_messages m WHERE m.session = s.id AND m.role = 'user' ORDER BY m.seq LIMIT 1) AS first
FROM chat_sessions s";

/// Conversations worth resuming or listing: named ones, and those with a message (a
/// REPL opened and left at once leaves nothing to continue).
const KEPT: &str = "WHERE (s.name IS NOT NULL OR EXISTS (SELECT 1 FROM chat_messages m WHERE m.session = s.id))";

/// Conversations and their messages. Every method takes `&self` (the connection is behind
/// a mutex), so one store can be shared between tasks.
pub struct ChatStore {
    conn: Mutex<Connection>,
    /// The database file (none in memory), to fold its WAL back when it has grown.
    path: Option<PathBuf>,
}

impl Drop for ChatStore {
    fn drop(&mut self) {
        let Some(path) = &self.path else { return };
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        db::pyra::checkpoint_if_large(&conn, path);
    }
}

impl ChatStore {
    /// Opens (creating with mode 0600) the database at `path`, normally
    /// `$PYRA_HOME/pyra.db`, the run store's file, its schema migrated ([`db::pyra`]).
    pub fn open(path: &Path) -> Result<ChatStore, ChatError> {
        let conn = db::pyra::open(path).map_err(|e| ChatError::Db(e.to_string()))?;
        Ok(Self::init(conn, Some(path.to_path_buf())))
    }

    /// A store in an in-memory database (same SQL, no file), for tests and benchmarks.
    pub fn open_in_memory() -> Result<ChatStore, ChatError> {
        let conn = db::pyra::open_in_memory().map_err(|e| ChatError::Db(e.to_string()))?;
        Ok(Self::init(conn, None))
    }

    fn init(conn: Connection, path: Option<PathBuf>) -> ChatStore {
        conn.set_prepared_statement_cache_capacity(32);
        ChatStore { conn: Mutex::new(conn), path }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, ChatError>) -> Result<T, ChatError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn)
    }

    /// Starts a conversation, named or not. A name already taken is an error
    /// ([`ChatError::NameTaken`]), as is a bad one (see [`check_name`]).
    pub fn create(&self, name: Option<&str>, model: Option<&str>) -> Result<Session, ChatError> {
        if let Some(name) = name {
            check_name(name)?;
        }
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(name) = name
                && name_owner(&tx, name)?.is_some()
            {
                return Err(ChatError::NameTaken(name.to_owned()));
            }
            let now = now_ms();
            // Ids end with 4 random characters; two sessions created in the same
            // millisecond could still meet, so a clash draws again.
            let mut id = new_id();
            while tx.prepare_cached("SELECT 1 FROM chat_sessions WHERE id = ?1")?.exists([&id])? {
                id = new_id();
            }
            tx.execute(
                "INSERT INTO chat_sessions (id, name, created_at, updated_at, model) VALUES (?1, ?2, ?3, ?3, ?4)",
                params![id, name, now, model],
            )?;
            tx.commit()?;
            Ok(Session {
                id,
                name: name.map(str::to_owned),
                created_at: now,
                updated_at: now,
                model: model.map(str::to_owned),
                messages: 0,
                title: String::new(),
            })
        })
    }

    /// The session with this exact name.
    pub fn by_name(&self, name: &str) -> Result<Option<Session>, ChatError> {
        self.with(|c| one_session(c, "WHERE s.name = ?1", [name]))
    }

    /// The session with this id, or else the one whose id starts with `id_or_prefix`
    /// (several are [`ChatError::Ambiguous`]). An empty prefix finds nothing.
    pub fn get(&self, id_or_prefix: &str) -> Result<Option<Session>, ChatError> {
        if id_or_prefix.is_empty() {
            return Ok(None);
        }
        self.with(|c| {
            if let Some(session) = one_session(c, "WHERE s.id = ?1", [id_or_prefix])? {
                return Ok(Some(session));
            }
            let ids: Vec<String> = c
                .prepare_cached(
                    "SELECT id FROM chat_sessions WHERE substr(id, 1, length(?1)) = ?1 ORDER BY id DESC LIMIT 10",
                )?
                .query_map([id_or_prefix], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            match ids.as_slice() {
                [] => Ok(None),
                [id] => one_session(c, "WHERE s.id = ?1", [id]),
                _ => Err(ChatError::Ambiguous { prefix: id_or_prefix.to_owned(), ids }),
            }
        })
    }

    /// The session `--session KEY` means: the one named `key`, or else the one whose id
    /// is or starts with `key` (a name wins over an id prefix).
    pub fn find(&self, key: &str) -> Result<Option<Session>, ChatError> {
        match self.by_name(key)? {
            Some(session) => Ok(Some(session)),
            None => self.get(key),
        }
    }

    /// The most recently updated session that is named or has a message (what `pyra chat
    /// --continue` resumes).
    pub fn latest(&self) -> Result<Option<Session>, ChatError> {
        self.with(|c| one_session(c, &format!("{KEPT} ORDER BY s.updated_at DESC, s.id DESC LIMIT 1"), ()))
    }

    /// Every session that is named or has a message, most recently updated first (so
    /// `list()[0]` is [`Self::latest`]).
    pub fn list(&self) -> Result<Vec<Session>, ChatError> {
        self.with(|c| {
            let mut stmt =
                c.prepare_cached(&format!("{SESSION_SELECT} {KEPT} ORDER BY s.updated_at DESC, s.id DESC"))?;
            let rows = stmt.query_map([], session_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// The messages of a session (by id), in order.
    pub fn messages(&self, session: &str) -> Result<Vec<ChatMessage>, ChatError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, role, content, pinned, at, findings FROM chat_messages WHERE session = ?1 ORDER BY seq",
            )?;
            let messages: Vec<ChatMessage> = stmt.query_map([session], message_from_row)?.collect::<Result<_, _>>()?;
            if messages.is_empty() {
                exists(c, session)?;
            }
            Ok(messages)
        })
    }

    /// Appends a message to a session (by id) and marks the session updated. `content` is
    /// stored as given: mask secrets first. `findings` are the prompt-injection
    /// categories found in it, to show with it later.
    pub fn append(
        &self,
        session: &str,
        role: Role,
        content: &str,
        findings: &[String],
    ) -> Result<ChatMessage, ChatError> {
        let findings_json = if findings.is_empty() {
            None
        } else {
            Some(serde_json::to_string(findings).map_err(|e| ChatError::Db(e.to_string()))?)
        };
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let at = now_ms();
            touch(&tx, session, at)?;
            let seq: i64 = tx
                .prepare_cached("SELECT coalesce(max(seq), 0) + 1 FROM chat_messages WHERE session = ?1")?
                .query_row([session], |r| r.get(0))?;
            tx.prepare_cached(
                "INSERT INTO chat_messages (session, seq, role, content, pinned, at, findings)
                 VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)",
            )?
            .execute(params![session, seq, role.as_str(), content, at, findings_json])?;
            tx.commit()?;
            Ok(ChatMessage { seq, role, content: content.to_owned(), pinned: false, at, findings: findings.to_vec() })
        })
    }

    /// Pins (or unpins) message `seq` of a session: a pinned message is always sent, and
    /// survives [`Self::clear`].
    pub fn pin(&self, session: &str, seq: i64, pinned: bool) -> Result<(), ChatError> {
        self.with(|c| {
            let changed = c
                .prepare_cached("UPDATE chat_messages SET pinned = ?3 WHERE session = ?1 AND seq = ?2")?
                .execute(params![session, seq, pinned])?;
            if changed == 0 {
                exists(c, session)?;
                return Err(ChatError::NoMessage { session: session.to_owned(), seq });
            }
            Ok(())
        })
    }

    /// `/clear`: starts the conversation afresh in the same session. Drops every message
    /// except the pinned ones and the system prompt (the user pinned those on purpose, and
    /// can unpin them); returns how many were dropped. Sequence numbers go on from the
    /// last kept message.
    pub fn clear(&self, session: &str) -> Result<usize, ChatError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            touch(&tx, session, now_ms())?;
            let dropped = tx.execute(
                "DELETE FROM chat_messages WHERE session = ?1 AND pinned = 0 AND role <> 'system'",
                [session],
            )?;
            tx.commit()?;
            Ok(dropped)
        })
    }

    /// `/save NAME`: names (or renames) a session. The name must pass [`check_name`] and
    /// not belong to another session; giving a session the name it has is fine.
    pub fn rename(&self, session: &str, name: &str) -> Result<(), ChatError> {
        check_name(name)?;
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            match name_owner(&tx, name)? {
                Some(owner) if owner == session => return Ok(()),
                Some(_) => return Err(ChatError::NameTaken(name.to_owned())),
                None => {}
            }
            let changed = tx.execute("UPDATE chat_sessions SET name = ?2 WHERE id = ?1", params![session, name])?;
            if changed == 0 {
                return Err(ChatError::NoSession(session.to_owned()));
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Records the model entry a session uses (`None`: the default).
    pub fn set_model(&self, session: &str, model: Option<&str>) -> Result<(), ChatError> {
        self.with(|c| {
            let changed = c.execute("UPDATE chat_sessions SET model = ?2 WHERE id = ?1", params![session, model])?;
            if changed == 0 {
                return Err(ChatError::NoSession(session.to_owned()));
            }
            Ok(())
        })
    }

    /// Deletes the session if it is unnamed and has no message (a REPL left at once);
    /// returns whether it did.
    pub fn forget_if_empty(&self, session: &str) -> Result<bool, ChatError> {
        self.with(|c| {
            let n = c.execute(
                "DELETE FROM chat_sessions WHERE id = ?1 AND name IS NULL
                   AND NOT EXISTS (SELECT 1 FROM chat_messages m WHERE m.session = ?1)",
                [session],
            )?;
            Ok(n > 0)
        })
    }

    /// Records that the session's last turn waits for an approval in `run` (its reply
    /// joins the conversation once the run has finished: [`Self::pending`]).
    pub fn set_pending(&self, session: &str, run: &str) -> Result<(), ChatError> {
        self.with(|c| {
            c.execute("INSERT OR REPLACE INTO chat_pending (session, run) VALUES (?1, ?2)", [session, run])?;
            Ok(())
        })
    }

    /// The run a turn of the session waits on, if any.
    pub fn pending(&self, session: &str) -> Result<Option<String>, ChatError> {
        self.with(|c| {
            Ok(c.prepare_cached("SELECT run FROM chat_pending WHERE session = ?1")?
                .query_row([session], |r| r.get(0))
                .optional()?)
        })
    }

    /// Forgets the waiting run of a session.
    pub fn clear_pending(&self, session: &str) -> Result<(), ChatError> {
        self.with(|c| {
            c.execute("DELETE FROM chat_pending WHERE session = ?1", [session])?;
            Ok(())
        })
    }

    /// Deletes a session and all its messages.
    pub fn delete(&self, session: &str) -> Result<(), ChatError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM chat_pending WHERE session = ?1", [session])?;
            tx.execute("DELETE FROM chat_messages WHERE session = ?1", [session])?;
            if tx.execute("DELETE FROM chat_sessions WHERE id = ?1", [session])? == 0 {
                return Err(ChatError::NoSession(session.to_owned()));
            }
            tx.commit()?;
            Ok(())
        })
    }
}

/// Creates `path` as an owner-only file if it does not exist (an existing file is left
/// as it is), before SQLite opens it. The same rule as the run store's and memory's own
/// private files; theirs are private to their modules.
/// `Err(NoSession)` unless the session exists.
fn exists(c: &Connection, session: &str) -> Result<(), ChatError> {
    if c.prepare_cached("SELECT 1 FROM chat_sessions WHERE id = ?1")?.exists([session])? {
        Ok(())
    } else {
        Err(ChatError::NoSession(session.to_owned()))
    }
}

/// Marks a session updated at `at` (never moving back); `Err(NoSession)` unless it exists.
fn touch(c: &Connection, session: &str, at: i64) -> Result<(), ChatError> {
    let changed = c
        .prepare_cached("UPDATE chat_sessions SET updated_at = max(updated_at, ?2) WHERE id = ?1")?
        .execute(params![session, at])?;
    if changed == 0 {
        return Err(ChatError::NoSession(session.to_owned()));
    }
    Ok(())
}

/// The id of the session with this name.
fn name_owner(c: &Connection, name: &str) -> Result<Option<String>, ChatError> {
    Ok(c.prepare_cached("SELECT id FROM chat_sessions WHERE name = ?1")?.query_row([name], |r| r.get(0)).optional()?)
}

fn one_session(c: &Connection, tail: &str, params: impl rusqlite::Params) -> Result<Option<Session>, ChatError> {
    let mut stmt = c.prepare_cached(&format!("{SESSION_SELECT} {tail}"))?;
    Ok(stmt.query_row(params, session_from_row).optional()?)
}

fn session_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Session> {
    let messages: i64 = r.get("messages")?;
    // The first 1000 characters and one more: 1 when the message is longer.
    let first: Option<String> = r.get("first")?;
    let title = first.map_or_else(String::new, |mut text| {
        let more = text.pop() == Some('\u{1}');
        title(&text, more)
    });
    Ok(Session {
        id: r.get("id")?,
        name: r.get("name")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        model: r.get("model")?,
        messages: usize::try_from(messages).unwrap_or(0),
        title,
    })
}

fn message_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChatMessage> {
    let role: String = r.get("role")?;
    let findings: Option<String> = r.get("findings")?;
    Ok(ChatMessage {
        seq: r.get("seq")?,
        // Only this module writes roles; an unknown one (a newer Pyra's) reads as the user's.
        role: Role::parse(&role).unwrap_or(Role::User),
        content: r.get("content")?,
        pinned: r.get("pinned")?,
        at: r.get("at")?,
        findings: findings.and_then(|f| serde_json::from_str(&f).ok()).unwrap_or_default(),
    })
}
