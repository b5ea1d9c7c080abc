//! The security log, `$PYRA_HOME/logs/security.log`: one JSON line per event that
//! matters for security — every vault access (key name, skill, run, node, granted or
//! denied; never a value), injection findings, refused paths. Append-only, 0600.
//!
//! The lines form a hash chain (`chain.rs`): each carries its number (`seq`) and the
//! SHA-256 of the line before it (`prev`), and `security.head` beside the log holds the
//! last line's number and hash, so an edited, inserted or removed line — at the start,
//! in the middle or at the end — shows in `pyra security audit`. Appends from several
//! processes are serialised by an exclusive lock on the log file.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// One line of the security log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Event<'a> {
    /// What happened: `vault.get`, `vault.set`, `vault.rm`, `vault.rotate`, `vault.init`,
    /// `vault.unlock`, `secret.read`, …
    pub action: &'a str,
    /// `granted` or `denied`, or a finding's category.
    pub outcome: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skill: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<&'a str>,
    /// Why, for people; never a secret value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
}

/// The log file of one home.
#[derive(Debug, Clone)]
pub struct SecurityLog {
    path: PathBuf,
}

impl SecurityLog {
    pub fn new(home: &Path) -> Self {
        Self { path: home.join("logs").join("security.log") }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends an event. Failing to log is reported to the caller, who decides.
    pub fn record(&self, event: &Event<'_>) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent()
            && !dir.is_dir()
        {
            std::fs::create_dir_all(dir)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true).read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&self.path)?;
        // Details are text about untrusted data; a key-shaped string in them is redacted.
        let redacted = event.detail.map(crate::redact::redact);
        let event = &Event { detail: redacted.as_deref(), ..event.clone() };
        // The lock makes reading the last line and appending the next one a unit across
        // processes (released when `file` closes).
        file.lock()?;
        let (seq, prev) = match crate::chain::last_line(&mut file)? {
            Some(last) => (crate::chain::seq_of(&last).map_or(1, |n| n + 1), crate::chain::hash(&last)),
            None => (1, crate::chain::GENESIS.to_string()),
        };
        let line = Line { at: chrono::Local::now().to_rfc3339(), event, seq, prev: &prev };
        let text = serde_json::to_string(&line).map_err(std::io::Error::other)?;
        // One write per line.
        file.write_all(format!("{text}\n").as_bytes())?;
        crate::chain::write_head(&self.head_path(), seq, &crate::chain::hash(&text))
    }

    /// `security.head`: the last line's number and hash.
    pub fn head_path(&self) -> PathBuf {
        self.path.with_file_name("security.head")
    }
}

#[derive(Serialize)]
struct Line<'a> {
    at: String,
    #[serde(flatten)]
    event: &'a Event<'a>,
    seq: u64,
    prev: &'a str,
}
