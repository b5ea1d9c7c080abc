//! The security log, `$PYRA_HOME/logs/security.log`: one JSON line per event that
//! matters for security — every vault access (key name, skill, run, node, granted or
//! denied; never a value), injection findings, refused paths. Append-only, 0600.

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
        #[derive(Serialize)]
        struct Line<'a> {
            at: String,
            #[serde(flatten)]
            event: &'a Event<'a>,
        }
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
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&self.path)?;
        // Details are text about untrusted data; a key-shaped string in them is redacted.
        let redacted = event.detail.map(crate::redact::redact);
        let event = &Event { detail: redacted.as_deref(), ..event.clone() };
        let line = Line { at: chrono::Local::now().to_rfc3339(), event };
        let mut text = serde_json::to_string(&line).map_err(std::io::Error::other)?;
        text.push('\n');
        // One write per line: appends from several processes do not interleave.
        file.write_all(text.as_bytes())
    }
}
