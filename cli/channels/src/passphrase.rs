//! The passphrase challenge (`challenge: passphrase`): a stranger who writes to the bot is
//! asked once for the passphrase; the next messages are attempts, checked against the
//! Argon2id hash in config.yaml (never the passphrase itself). The right one admits the
//! sender; three wrong ones within an hour lock them out for an hour, in silence. Every
//! attempt is deleted from the chat (bots may delete messages in private chats), and no
//! attempt's text is stored or logged.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rusqlite::Connection;

use crate::store;

/// Wrong attempts within an hour that lock a sender out for an hour.
pub const MAX_ATTEMPTS: i64 = 3;
const HOUR_MS: i64 = 3_600_000;

/// The Argon2id PHC string of a passphrase (for config.yaml).
pub fn hash(passphrase: &str) -> Result<String, String> {
    Argon2::default().hash_password(passphrase.as_bytes()).map(|h| h.to_string()).map_err(|e| e.to_string())
}

/// Whether `attempt` is the passphrase of `phc`.
pub fn verify(phc: &str, attempt: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| Argon2::default().verify_password(attempt.as_bytes(), &parsed).is_ok())
}

/// What a stranger's message came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// First contact: asked for the passphrase.
    Asked,
    Admitted,
    /// Wrong, with the attempts made in the hour.
    Wrong(i64),
    /// The third wrong one: locked out for an hour.
    LockedNow,
    /// Locked out: nothing is answered.
    Locked,
}

/// Decides a stranger's message (inside the inbox's transaction).
pub fn challenge(
    conn: &Connection,
    channel: &str,
    sender: &str,
    text: &str,
    phc: &str,
    now: i64,
) -> Result<Outcome, String> {
    let get = |key: String| -> Result<Option<i64>, String> {
        Ok(store::state_in(conn, channel, &key)?.and_then(|v| v.parse().ok()))
    };
    if get(format!("lock:{sender}"))?.is_some_and(|until| now < until) {
        return Ok(Outcome::Locked);
    }
    let asked = get(format!("asked:{sender}"))?;
    if asked.is_none_or(|at| now - at > HOUR_MS) {
        store::set_state_in(conn, channel, &format!("asked:{sender}"), &now.to_string())?;
        return Ok(Outcome::Asked);
    }
    if verify(phc, text.trim()) {
        store::admit_in(conn, channel, sender, now)?;
        store::set_state_in(conn, channel, &format!("attempts:{sender}"), "")?;
        return Ok(Outcome::Admitted);
    }
    // Attempts within the hour: "count first_at".
    let key = format!("attempts:{sender}");
    let (count, first) = match store::state_in(conn, channel, &key)?.and_then(|v| {
        let (c, f) = v.split_once(' ')?;
        Some((c.parse::<i64>().ok()?, f.parse::<i64>().ok()?))
    }) {
        Some((c, f)) if now - f <= HOUR_MS => (c + 1, f),
        _ => (1, now),
    };
    if count >= MAX_ATTEMPTS {
        store::set_state_in(conn, channel, &format!("lock:{sender}"), &(now + HOUR_MS).to_string())?;
        store::set_state_in(conn, channel, &key, "")?;
        return Ok(Outcome::LockedNow);
    }
    store::set_state_in(conn, channel, &key, &format!("{count} {first}"))?;
    Ok(Outcome::Wrong(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_passphrase_only() {
        let phc = hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify(&phc, "correct horse"));
        assert!(!verify(&phc, "correct horse "));
        assert!(!verify("not a hash", "correct horse"));
    }
}
