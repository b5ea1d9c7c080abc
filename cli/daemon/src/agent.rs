//! The vault agent, as ssh-agent is for keys: the daemon can hold the unlocked vault, so
//! triggered runs read their secrets and CLI commands (`run`, `chat`, `setup`, `vault
//! get`) ask the daemon instead of paying for scrypt each time. Unlocked at start
//! (identity file, `PYRA_VAULT_PASSPHRASE`, or the prompt of a `start` on a terminal) or
//! later by `pyra vault unlock`; `pyra vault lock` forgets it (the values are zeroized
//! when dropped). Like ssh-agent holding a key, it keeps what unlocked the vault, so a
//! `pyra vault set` made meanwhile is seen (the file is opened again when it changed;
//! after a `rotate` to another passphrase the agent locks itself). Every access by a client is recorded in the security log with the
//! client's pid (from the kernel, `SO_PEERCRED`) and command line; the runs' own reads are
//! recorded by the runtime.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use age::secrecy::SecretString;
use security::audit::{Event, SecurityLog};
use vault::{Unlock, Unlocked, Vault};

/// What a run or client is told when the vault is locked.
pub const LOCKED: &str = "the vault is locked in the daemon; unlock it with `pyra vault unlock` (or start the daemon \
                          with PYRA_VAULT_PASSPHRASE or PYRA_VAULT_IDENTITY set)";

/// Part of what a client is told for a key sealed with its own passphrase (the client
/// asks for that passphrase itself).
pub const SEALED: &str = "is sealed with its own passphrase";

/// The daemon's hold on the vault.
pub struct Agent {
    vault: Vault,
    held: Mutex<Option<Held>>,
    log: SecurityLog,
    /// When it was unlocked (milliseconds since the epoch).
    since: Mutex<Option<i64>>,
}

struct Held {
    unlock: Unlock,
    open: Unlocked,
    /// The vault file's modification time and size when it was opened.
    stamp: Option<(std::time::SystemTime, u64)>,
}

/// The agent's state, for `status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AgentState {
    /// `none` (no vault), `locked`, `unlocked`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    pub keys: usize,
}

impl Agent {
    pub fn new(home: &Path) -> Self {
        Self { vault: Vault::new(home), held: Mutex::new(None), log: SecurityLog::new(home), since: Mutex::new(None) }
    }

    /// Unlocks with `unlock`; an error says why (wrong passphrase, no vault).
    pub fn unlock(&self, unlock: Unlock, who: &str) -> Result<usize, String> {
        let stamp = self.stamp();
        let opened = self.vault.open(&unlock).map_err(|e| e.to_string());
        self.audit("agent.unlock", None, who, opened.as_ref().err().map(String::as_str));
        let opened = opened?;
        let keys = opened.names().count();
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = Some(Held { unlock, open: opened, stamp });
        *self.since.lock().unwrap_or_else(|p| p.into_inner()) = Some(chrono::Utc::now().timestamp_millis());
        Ok(keys)
    }

    /// Unlocks from the environment (`PYRA_VAULT_IDENTITY`, `PYRA_VAULT_PASSPHRASE`), when
    /// a vault exists and one of them is set; `Ok(false)` when there is nothing to do.
    pub fn unlock_from_env(&self) -> Result<bool, String> {
        if !self.vault.exists() {
            return Ok(false);
        }
        let unlock = if let Some(path) = std::env::var_os("PYRA_VAULT_IDENTITY").map(PathBuf::from) {
            Unlock::identity_file(&path).map_err(|e| e.to_string())?
        } else if let Ok(pass) = std::env::var("PYRA_VAULT_PASSPHRASE") {
            Unlock::Passphrase(SecretString::from(pass))
        } else {
            return Ok(false);
        };
        self.unlock(unlock, "daemon start (environment)").map(|_| true)
    }

    /// Forgets the unlocked vault; true when it was held.
    pub fn lock(&self, who: &str) -> bool {
        let was = self.held.lock().unwrap_or_else(|p| p.into_inner()).take().is_some();
        *self.since.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.audit("agent.lock", None, who, None);
        was
    }

    pub fn state(&self) -> AgentState {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let since = *self.since.lock().unwrap_or_else(|p| p.into_inner());
        match held.as_ref() {
            Some(held) => AgentState { state: "unlocked", since, keys: held.open.names().count() },
            None if self.vault.exists() => AgentState { state: "locked", since: None, keys: 0 },
            None => AgentState { state: "none", since: None, keys: 0 },
        }
    }

    /// A value for a client (`who`: its pid and command), audited.
    pub fn get_for(&self, name: &str, who: &str) -> Result<SecretString, String> {
        let result = self.get(name);
        self.audit("agent.get", Some(name), who, result.as_ref().err().map(String::as_str));
        result
    }

    fn stamp(&self) -> Option<(std::time::SystemTime, u64)> {
        let meta = std::fs::metadata(self.vault.file()).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    }

    fn get(&self, name: &str) -> Result<SecretString, String> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let stamp = self.stamp();
        if let Some(h) = held.as_mut()
            && h.stamp != stamp
        {
            // Changed since it was opened (a `vault set`): opened again with what
            // unlocked it; a rotated passphrase locks the agent.
            match self.vault.open(&h.unlock) {
                Ok(open) => {
                    h.open = open;
                    h.stamp = stamp;
                }
                Err(e) => {
                    *held = None;
                    self.audit("agent.reopen", None, "daemon", Some(&e.to_string()));
                }
            }
        }
        let Some(h) = held.as_ref() else {
            return Err(if self.vault.exists() { LOCKED.to_string() } else { "no vault (`pyra vault init`)".into() });
        };
        let value = h
            .open
            .get(name)
            .cloned()
            .ok_or_else(|| format!("no key `{name}` in the vault (`pyra vault set {name}`)"))?;
        if vault::is_sealed(&value) {
            return Err(format!("`{name}` {SEALED}, which the daemon cannot ask for; run the skill with `pyra run`"));
        }
        Ok(value)
    }

    fn audit(&self, action: &str, key: Option<&str>, who: &str, denied: Option<&str>) {
        let detail = match denied {
            Some(why) => format!("{who}: {why}"),
            None => who.to_string(),
        };
        let event = Event {
            action,
            outcome: if denied.is_some() { "denied" } else { "granted" },
            key,
            detail: Some(&detail),
            ..Default::default()
        };
        let _ = self.log.record(&event);
    }
}

impl runtime::secrets::SecretSource for Agent {
    fn get(&self, name: &str) -> Result<SecretString, String> {
        // The runtime records a run's reads itself (key, skill, run, node).
        Agent::get(self, name)
    }
}

/// Who a client is, for the audit: its pid (from the kernel) and its command line.
pub fn describe_peer(pid: Option<i32>) -> String {
    let Some(pid) = pid else { return "pid unknown".into() };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            // The program and its command (`pyra run NAME`), not its arguments: those may
            // carry values (`--input token=…`) that have no place in a log.
            bytes
                .split(|b| *b == 0)
                .filter(|p| !p.is_empty())
                .take(3)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let mut text = format!("pid {pid}");
    if !cmdline.is_empty() {
        let short: String = cmdline.chars().take(200).collect();
        text.push_str(&format!(" ({short})"));
    }
    text
}
