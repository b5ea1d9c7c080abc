//! The SQLite databases Pyra owns, and the one way each is opened and migrated.
//!
//! **Architecture invariant:** a database's schema changes only through its ordered list
//! of [`Step`]s ([`pyra::STEPS`] for `pyra.db`, the memory's own list for its index),
//! the missing ones applied in one transaction that also records the new `user_version`
//! (all or nothing); a database
//! whose version is newer than the list is refused, never opened. This crate knows SQL
//! and files, nothing of skills, runs or notes beyond their tables.

mod migrate;
pub mod pyra;

use std::path::Path;
use std::time::Duration;

pub use migrate::{MigrateError, Migrated, Step, migrate, refuse_newer, user_version};

/// Milliseconds since the Unix epoch: every time Pyra records.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A new id, sortable by creation time: the milliseconds in base 36, then 4 random
/// characters (runs and conversations use it).
pub fn new_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut ms = now_ms().max(0) as u64;
    let mut time = Vec::new();
    while ms > 0 {
        time.push(ALPHABET[(ms % 36) as usize]);
        ms /= 36;
    }
    time.reverse();
    let mut id = String::from_utf8(time).unwrap_or_default();
    for _ in 0..4 {
        id.push(ALPHABET[fastrand::usize(..ALPHABET.len())] as char);
    }
    id
}

/// Creates `path` with mode 0600 if it does not exist, so SQLite (which gives its `-wal`
/// and `-shm` files the database's mode) never makes a readable file.
pub fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(drop)
}

/// Runs `f` again while SQLite answers "busy" without waiting: switching a new file to
/// WAL and starting its first transaction can, when several processes open a database at
/// once, fail at once rather than call the busy handler. Gives up after `patience`.
pub fn when_not_busy<T>(patience: Duration, mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + patience;
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(2 + fastrand::u64(..8)));
            }
            other => return other,
        }
    }
}
