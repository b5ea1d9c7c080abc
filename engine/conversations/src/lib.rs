//! `pyra chat` conversations: persisted, resumable, listed, and trimmed to a model's
//! token budget.
//!
//! [`ChatStore`] keeps conversations ("sessions") and their messages in the run database,
//! `$PYRA_HOME/pyra.db`, in two tables of its own beside the run store's (see
//! [`store`] for the layout). [`trim`] chooses which messages of a conversation are sent
//! to the model: the system prompt and pinned messages always, then the newest others that
//! fit in the budget (estimated by [`estimate_tokens`]), oldest dropped first.
//!
//! Content is stored exactly as given: the caller masks secrets (and scans for prompt
//! injection, passing the finding categories along) *before* it stores a message.
//!
//! Times are milliseconds since the Unix epoch, like the run store's.
//!
//! **Architecture invariant:** a store of what it is given — it neither calls a model nor
//! masks nor scans (the caller does, before storing); its tables are part of `pyra.db`'s
//! one schema, migrated by `db::pyra`.

pub mod store;
mod trim;

#[cfg(test)]
mod tests;

pub use store::ChatStore;
pub use trim::{MESSAGE_OVERHEAD, estimate_tokens, history_for_model, message_tokens, trim};

use serde::Serialize;

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "system" => Some(Role::System),
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// Its place in the conversation: 1, 2, 3, … in the order appended.
    pub seq: i64,
    pub role: Role,
    /// As stored: already masked by the caller.
    pub content: String,
    /// Kept by [`trim`] whatever the budget, and by [`ChatStore::clear`].
    pub pinned: bool,
    /// When it was appended (ms since the epoch).
    pub at: i64,
    /// The prompt-injection categories found in it, shown with it.
    pub findings: Vec<String>,
}

/// A conversation, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Session {
    /// Time-sortable, like a run id; a unique prefix finds it ([`ChatStore::get`]).
    pub id: String,
    /// The name given with `--session NAME` or `/save NAME` (see [`check_name`]).
    pub name: Option<String>,
    pub created_at: i64,
    /// When a message was last appended (or the session changed).
    pub updated_at: i64,
    /// The model entry last used (`NAME` or `NAME/model-id`, as `/model` takes it).
    pub model: Option<String>,
    /// How many messages it has.
    pub messages: usize,
    /// Its first user message on one line (whitespace collapsed, control characters
    /// dropped), at most [`TITLE_CHARS`] characters; empty when there is none.
    pub title: String,
}

/// The longest a [`Session::title`] is, in characters (an ellipsis included).
pub const TITLE_CHARS: usize = 60;

/// The longest a session name is, in characters.
pub const NAME_CHARS: usize = 64;

/// A chat-store error, with a message meant for the user.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The database could not be opened, read or written.
    #[error("chat store: {0}")]
    Db(String),
    #[error("no conversation `{0}`")]
    NoSession(String),
    #[error("conversation `{session}` has no message {seq}")]
    NoMessage { session: String, seq: i64 },
    #[error("the name `{0}` is already used by another conversation")]
    NameTaken(String),
    #[error("invalid conversation name {name:?}: {why}")]
    BadName { name: String, why: &'static str },
    #[error("`{prefix}` matches several conversations: {}; type more of the id", ids.join(", "))]
    Ambiguous { prefix: String, ids: Vec<String> },
}

impl From<rusqlite::Error> for ChatError {
    fn from(e: rusqlite::Error) -> Self {
        ChatError::Db(e.to_string())
    }
}

/// Checks a session name: not empty, at most [`NAME_CHARS`] characters, no whitespace,
/// control character or `/` (names are typed on command lines and may become file names).
pub fn check_name(name: &str) -> Result<(), ChatError> {
    let bad = |why| Err(ChatError::BadName { name: name.to_owned(), why });
    if name.is_empty() {
        return bad("a name cannot be empty");
    }
    if name.chars().count() > NAME_CHARS {
        return bad("a name has at most 64 characters");
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("a name cannot contain spaces or control characters");
    }
    if name.contains('/') {
        return bad("a name cannot contain `/`");
    }
    Ok(())
}

/// A session title from the start of its first user message: one line, whitespace runs
/// collapsed to one space, control characters dropped, cut at [`TITLE_CHARS`] characters
/// with `…` when longer (`more` says the text given was itself cut short).
fn title(text: &str, more: bool) -> String {
    let mut words = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().filter(|c| !c.is_control() && !is_format(*c)).collect::<String>())
        .filter(|w| !w.is_empty());
    let mut line = String::new();
    let mut cut = false;
    if let Some(first) = words.next() {
        line.push_str(&first);
        for word in words {
            line.push(' ');
            line.push_str(&word);
            if line.chars().count() > TITLE_CHARS {
                cut = true;
                break;
            }
        }
    }
    if line.chars().count() > TITLE_CHARS {
        cut = true;
    }
    if cut || more {
        let mut short: String = line.chars().take(TITLE_CHARS - 1).collect();
        short.truncate(short.trim_end().len());
        short.push('…');
        return short;
    }
    line
}

/// Invisible formatting characters (bidi overrides, zero-width joiners) that could make a
/// title display as something else.
fn is_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}
