//! `pyra vault init|set|get|list|rm|rotate|status`. Passphrases and values come from the
//! environment (automation), a hidden prompt, or standard input — never from argv. Every
//! access is written to the security log (key names only).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use age::secrecy::{ExposeSecret, SecretString};
use security::audit::{Event, SecurityLog};
use vault::{Unlock, Vault, VaultError};

use crate::failure::{Failure, exit};
use crate::home::Home;
use clap::Subcommand;
use term::output;

/// How the vault is unlocked, shown under `pyra vault --help`.
pub const VAULT_HELP: &str = "Unlocking: PYRA_VAULT_PASSPHRASE, or PYRA_VAULT_IDENTITY pointing at an age identity
file (or --identity FILE), or a hidden prompt on a terminal. Values are never taken from
the command line: `set` reads a hidden prompt, or standard input when it is not a terminal.";

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Create the vault, sealed by a passphrase (asked twice) or an age identity file
    /// (`--identity FILE`; a new identity is generated into FILE if it does not exist).
    Init {
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Store a secret; the value comes from a hidden prompt or standard input.
    Set {
        /// The key, e.g. `plugin:telegram:token`.
        key: String,
        /// Seal this key a second time with its own passphrase (PYRA_VAULT_KEY_PASSPHRASE
        /// or asked twice): reading it then needs both.
        #[arg(long)]
        seal: bool,
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Say whether a key is set; print its value only with `--reveal`.
    Get {
        key: String,
        #[arg(long)]
        reveal: bool,
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// List the keys (never the values).
    List {
        #[arg(long)]
        json: bool,
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Remove a key.
    Rm {
        key: String,
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Re-encrypt for a new passphrase (PYRA_VAULT_NEW_PASSPHRASE or asked twice) or a new
    /// identity (`--to-identity FILE`).
    Rotate {
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        to_identity: Option<PathBuf>,
    },
    /// Where the vault is, how it is sealed, whether a previous version is kept.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Hand the unlocked vault to the daemon (the vault agent): triggered runs can read
    /// secrets, and `run`, `chat` and `vault get` ask it instead of unlocking again.
    Unlock {
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Make the daemon forget the unlocked vault.
    Lock,
}

pub fn run(home: &Home, command: VaultCommand) -> Result<u8, Failure> {
    home.warn_permissions();
    let vault = Vault::new(&home.root);
    let log = SecurityLog::new(&home.root);
    match command {
        VaultCommand::Unlock { identity } => agent_unlock(home, &vault, identity.as_deref()),
        VaultCommand::Lock => {
            let reply = crate::daemon_client::ask(home, "vault.lock", serde_json::json!({}))
                .map_err(crate::daemon_client::AskError::into_failure)?;
            if reply["was_unlocked"] == true {
                output::err(
                    "the daemon forgot the vault; triggered runs that need a secret fail until `pyra vault unlock`\n",
                );
            } else {
                output::err("the daemon did not hold the vault\n");
            }
            Ok(exit::OK)
        }
        VaultCommand::Init { identity } => init(home, &vault, &log, identity.as_deref()),
        VaultCommand::Set { key, seal, identity } => {
            check_key(&key)?;
            let unlock = unlock(&vault, identity.as_deref())?;
            let mut value = read_value(&key)?;
            if seal {
                let key_pass = new_passphrase("PYRA_VAULT_KEY_PASSPHRASE")?;
                value = vault::seal(&value, &key_pass).map_err(vault_failure)?;
            }
            let result = vault.update(&unlock, |v| {
                v.set(&key, value);
                Ok(())
            });
            audit(&log, "vault.set", Some(&key), &result);
            result.map_err(vault_failure)?;
            output::err(&format!("stored `{key}`\n"));
            Ok(exit::OK)
        }
        VaultCommand::Get { key, reveal, identity } => {
            if identity.is_none()
                && let Some(value) = from_agent(home, &key)?
            {
                if reveal && !vault::is_sealed(&value) {
                    output::out(&format!("{}\n", value.expose_secret()));
                } else {
                    output::err(&format!(
                        "`{key}` is set ({} characters; from the daemon's vault agent); add --reveal to print it\n",
                        value.expose_secret().chars().count()
                    ));
                }
                return Ok(exit::OK);
            }
            let unlock = unlock(&vault, identity.as_deref())?;
            let open = vault.open(&unlock);
            let found = open.as_ref().map(|v| v.get(&key).is_some()).unwrap_or(false);
            let outcome: Result<(), String> = match &open {
                Err(e) => Err(e.to_string()),
                Ok(_) if !found => Err(VaultError::NoKey(key.clone()).to_string()),
                Ok(_) => Ok(()),
            };
            audit(&log, if reveal { "vault.reveal" } else { "vault.get" }, Some(&key), &outcome);
            let open = open.map_err(vault_failure)?;
            let Some(value) = open.get(&key) else {
                let names: Vec<&str> = open.names().collect();
                let hint = syntax::suggest::help(&key, names.iter().copied()).unwrap_or_default();
                return Err(Failure::failed(format!("no key `{key}` in the vault{}", prefixed(&hint))));
            };
            if reveal {
                let value = if vault::is_sealed(value) {
                    let key_pass = key_passphrase(&key)?;
                    let opened = vault::unseal(&key, value, &key_pass);
                    audit(&log, "vault.unseal", Some(&key), &opened);
                    opened.map_err(vault_failure)?
                } else {
                    value.clone()
                };
                output::out(&format!("{}\n", value.expose_secret()));
            } else if vault::is_sealed(value) {
                output::err(&format!("`{key}` is set and sealed with its own passphrase; add --reveal to print it\n"));
            } else {
                output::err(&format!(
                    "`{key}` is set ({} characters); add --reveal to print it\n",
                    value.expose_secret().chars().count()
                ));
            }
            Ok(exit::OK)
        }
        VaultCommand::List { json, identity } => {
            let unlock = unlock(&vault, identity.as_deref())?;
            let open = vault.open(&unlock);
            audit(&log, "vault.list", None, &open);
            let open = open.map_err(vault_failure)?;
            let names: Vec<String> = open
                .names()
                .map(|n| {
                    let sealed = open.get(n).is_some_and(vault::is_sealed);
                    if sealed && !json { format!("{n}  (sealed)") } else { n.to_string() }
                })
                .collect();
            if json {
                output::out(&format!("{}\n", serde_json::to_string_pretty(&names).unwrap_or_default()));
            } else if names.is_empty() {
                output::err("the vault is empty; `pyra vault set KEY` stores a secret\n");
            } else {
                output::out(&names.iter().map(|n| format!("{n}\n")).collect::<String>());
            }
            Ok(exit::OK)
        }
        VaultCommand::Rm { key, identity } => {
            let unlock = unlock(&vault, identity.as_deref())?;
            let result = vault.update(&unlock, |v| v.remove(&key));
            audit(&log, "vault.rm", Some(&key), &result);
            result.map_err(vault_failure)?;
            output::err(&format!("removed `{key}`\n"));
            Ok(exit::OK)
        }
        VaultCommand::Rotate { identity, to_identity } => {
            let old = unlock(&vault, identity.as_deref())?;
            // Check the old key first, so nobody types a new passphrase for nothing.
            if let Err(e) = vault.open(&old) {
                audit(&log, "vault.rotate", None, &Err::<(), _>(e.to_string()));
                return Err(vault_failure(e));
            }
            let new = match to_identity {
                Some(path) => identity_or_generate(&path)?,
                None => Unlock::Passphrase(new_passphrase("PYRA_VAULT_NEW_PASSPHRASE")?),
            };
            let result = vault.rotate(&old, &new);
            audit(&log, "vault.rotate", None, &result);
            result.map_err(vault_failure)?;
            output::err("the vault is re-encrypted; the previous version is kept as vault.age.prev\n");
            Ok(exit::OK)
        }
        VaultCommand::Status { json } => {
            let status = vault.status();
            if json {
                output::out(&format!("{}\n", serde_json::to_string_pretty(&status).unwrap_or_default()));
            } else if !status.exists {
                output::out(&format!("no vault yet at {}; `pyra vault init` creates one\n", status.path));
            } else {
                output::out(&format!(
                    "vault      {}\nsealed by  {}\nsize       {} bytes\nprevious   {}\nunlock     {}\n",
                    status.path,
                    status.unlocked_by.unwrap_or("unknown (damaged header)"),
                    status.bytes,
                    if status.previous_version { "kept (vault.age.prev)" } else { "none yet" },
                    unlock_source()
                ));
            }
            Ok(exit::OK)
        }
    }
}

fn prefixed(hint: &str) -> String {
    if hint.is_empty() { String::new() } else { format!("\n  help: {hint}") }
}

fn init(home: &Home, vault: &Vault, log: &SecurityLog, identity: Option<&Path>) -> Result<u8, Failure> {
    home.ensure_dir(&home.root).map_err(|e| Failure::failed(e.to_string()))?;
    if vault.exists() {
        return Err(vault_failure(VaultError::Exists(vault.file().display().to_string())));
    }
    let unlock = match identity {
        Some(path) => identity_or_generate(path)?,
        None => Unlock::Passphrase(new_passphrase("PYRA_VAULT_PASSPHRASE")?),
    };
    let result = vault.init(&unlock).map(drop);
    audit(log, "vault.init", None, &result);
    result.map_err(vault_failure)?;
    output::err(&format!("created {}\n", vault.file().display()));
    Ok(exit::OK)
}

/// Key names follow `plugin:<name>:<key>` or a plain name.
fn check_key(key: &str) -> Result<(), Failure> {
    let part_ok = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if key.split(':').all(part_ok) {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "`{key}` is not a key name: use letters, digits, `_`, `.`, `-`, and `:` between parts (e.g. `plugin:telegram:token`)"
        )))
    }
}

pub(crate) fn audit<T, E: std::fmt::Display>(
    log: &SecurityLog,
    action: &str,
    key: Option<&str>,
    result: &Result<T, E>,
) {
    let (outcome, detail) = match result {
        Ok(_) => ("granted", None),
        Err(e) => ("denied", Some(e.to_string())),
    };
    let event = Event { action, outcome, key, detail: detail.as_deref(), ..Default::default() };
    if let Err(e) = log.record(&event) {
        output::err(&format!("warning: cannot write the security log {}: {e}\n", log.path().display()));
    }
}

pub(crate) fn vault_failure(e: VaultError) -> Failure {
    match e {
        VaultError::Missing(_) | VaultError::Exists(_) | VaultError::WrongKind { .. } | VaultError::NoKey(_) => {
            Failure::usage(e.to_string())
        }
        _ => Failure::failed(e.to_string()),
    }
}

fn unlock_source() -> &'static str {
    if std::env::var_os("PYRA_VAULT_IDENTITY").is_some() {
        "identity file from PYRA_VAULT_IDENTITY"
    } else if std::env::var_os("PYRA_VAULT_PASSPHRASE").is_some() {
        "passphrase from PYRA_VAULT_PASSPHRASE"
    } else {
        "asked on the terminal"
    }
}

/// The vault as runs see it: unlocked on the first `secret()` a run reads (from the
/// environment, an identity file or a prompt), then kept in memory for the process.
pub struct VaultSource {
    home: Home,
    vault: Vault,
    unlocked: std::sync::Mutex<Option<Result<vault::Unlocked, String>>>,
    /// Hidden while a passphrase is asked, so the live view does not draw over the prompt.
    progress: std::sync::Arc<crate::progress::Progress>,
}

impl VaultSource {
    pub fn new(home: &Home, progress: std::sync::Arc<crate::progress::Progress>) -> Self {
        Self { home: home.clone(), vault: Vault::new(&home.root), unlocked: std::sync::Mutex::new(None), progress }
    }
}

impl runtime::secrets::SecretSource for VaultSource {
    fn get(&self, name: &str) -> Result<SecretString, String> {
        let mut slot = self.unlocked.lock().unwrap_or_else(|p| p.into_inner());
        // The daemon's agent first: no scrypt here when it holds the vault.
        if slot.is_none()
            && let Some(value) = from_agent(&self.home, name).map_err(|f| f.message)?
        {
            return Ok(value);
        }
        if slot.is_none() {
            self.progress.hide(true);
            let opened = unlock(&self.vault, None)
                .map_err(|f| f.message)
                .and_then(|u| self.vault.open(&u).map_err(|e| e.to_string()));
            self.progress.hide(false);
            *slot = Some(opened);
        }
        let value = match slot.as_ref() {
            Some(Ok(open)) => open
                .get(name)
                .cloned()
                .ok_or_else(|| format!("no key `{name}` in the vault (`pyra vault set {name}`)"))?,
            Some(Err(why)) => return Err(why.clone()),
            None => return Err("the vault could not be opened".into()),
        };
        drop(slot);
        if !vault::is_sealed(&value) {
            return Ok(value);
        }
        // Sealed a second time: its own passphrase too.
        self.progress.hide(true);
        let key_pass = key_passphrase(name);
        self.progress.hide(false);
        vault::unseal(name, &value, &key_pass.map_err(|f| f.message)?).map_err(|e| e.to_string())
    }
}

/// A value from the daemon's vault agent, when a daemon runs and holds the vault
/// (`None`: no daemon, or it is locked: the caller unlocks here). The daemon audits it.
pub(crate) fn from_agent(home: &Home, key: &str) -> Result<Option<SecretString>, Failure> {
    use crate::daemon_client::AskError;
    match crate::daemon_client::ask(home, "vault.get", serde_json::json!({ "name": key })) {
        Ok(reply) => Ok(reply["value"].as_str().map(|v| SecretString::from(v.to_string()))),
        Err(AskError::NotRunning | AskError::Io(_)) => Ok(None),
        Err(AskError::Refused { code, .. }) if code == "locked" || code == "sealed" => Ok(None),
        Err(AskError::Refused { message, .. }) => Err(Failure::failed(message)),
    }
}

/// `pyra vault unlock`: the passphrase (or the identity file's path) goes to the daemon
/// over its socket, which only this user can reach.
fn agent_unlock(home: &Home, vault: &Vault, identity: Option<&Path>) -> Result<u8, Failure> {
    if crate::daemon_client::running(home).is_none() {
        return Err(Failure::failed(
            "the daemon is not running; the vault agent lives in it: `pyra daemon start` (it asks for the passphrase)",
        ));
    }
    if !vault.exists() {
        return Err(vault_failure(VaultError::Missing(vault.file().display().to_string())));
    }
    let from_env = std::env::var_os("PYRA_VAULT_IDENTITY").map(PathBuf::from);
    let args = match identity.map(Path::to_path_buf).or(from_env) {
        Some(path) => {
            let path = std::path::absolute(&path).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
            serde_json::json!({ "identity": path })
        }
        None => match unlock(vault, None)? {
            Unlock::Passphrase(pass) => serde_json::json!({ "passphrase": pass.expose_secret() }),
            Unlock::Identity(_) => return Err(Failure::usage("give the identity file with --identity FILE")),
        },
    };
    let reply =
        crate::daemon_client::ask(home, "vault.unlock", args).map_err(crate::daemon_client::AskError::into_failure)?;
    output::err(&format!("the daemon holds the vault ({} keys) until `pyra vault lock` or it stops\n", reply["keys"]));
    Ok(exit::OK)
}

/// How this command unlocks the vault: `--identity`, PYRA_VAULT_IDENTITY,
/// PYRA_VAULT_PASSPHRASE, or a hidden prompt.
pub fn unlock(vault: &Vault, identity: Option<&Path>) -> Result<Unlock, Failure> {
    unlock_with(vault, identity, std::io::stdin().is_terminal())
}

/// [`unlock`], with the caller saying whether a person can be asked on the terminal
/// (`rpassword` asks on `/dev/tty`, so standard input may carry something else).
pub(crate) fn unlock_with(vault: &Vault, identity: Option<&Path>, can_prompt: bool) -> Result<Unlock, Failure> {
    if !vault.exists() {
        return Err(vault_failure(VaultError::Missing(vault.file().display().to_string())));
    }
    let from_env = std::env::var_os("PYRA_VAULT_IDENTITY").map(PathBuf::from);
    if let Some(path) = identity.map(Path::to_path_buf).or(from_env) {
        return Unlock::identity_file(&path).map_err(vault_failure);
    }
    if let Ok(pass) = std::env::var("PYRA_VAULT_PASSPHRASE") {
        return Ok(Unlock::Passphrase(SecretString::from(pass)));
    }
    if !can_prompt {
        return Err(Failure::usage(
            "the vault is locked: set PYRA_VAULT_PASSPHRASE, point PYRA_VAULT_IDENTITY at an age identity file, or run on a terminal",
        ));
    }
    let pass = rpassword::prompt_password("Vault passphrase: ")
        .map_err(|e| Failure::failed(format!("cannot read the passphrase: {e}")))?;
    Ok(Unlock::Passphrase(SecretString::from(pass)))
}

/// The passphrase of a key sealed on its own: PYRA_VAULT_KEY_PASSPHRASE or a prompt.
pub(crate) fn key_passphrase(key: &str) -> Result<SecretString, Failure> {
    if let Ok(pass) = std::env::var("PYRA_VAULT_KEY_PASSPHRASE") {
        return Ok(SecretString::from(pass));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "`{key}` is sealed with its own passphrase: set PYRA_VAULT_KEY_PASSPHRASE or run on a terminal"
        )));
    }
    let pass = rpassword::prompt_password(format!("Passphrase of `{key}`: "))
        .map_err(|e| Failure::failed(format!("cannot read the passphrase: {e}")))?;
    Ok(SecretString::from(pass))
}

fn new_passphrase(env: &str) -> Result<SecretString, Failure> {
    new_passphrase_with(env, std::io::stdin().is_terminal())
}

/// A new vault passphrase: from `env`, or asked twice when `can_prompt`.
pub(crate) fn new_passphrase_with(env: &str, can_prompt: bool) -> Result<SecretString, Failure> {
    if let Ok(pass) = std::env::var(env) {
        if pass.chars().count() < 8 {
            return Err(Failure::usage(format!("{env}: a vault passphrase needs at least 8 characters")));
        }
        return Ok(SecretString::from(pass));
    }
    if !can_prompt {
        return Err(Failure::usage(format!("no terminal to ask a new passphrase on: set {env}")));
    }
    let read = |prompt: &str| {
        rpassword::prompt_password(prompt).map_err(|e| Failure::failed(format!("cannot read the passphrase: {e}")))
    };
    let first = read("New vault passphrase: ")?;
    if first.chars().count() < 8 {
        return Err(Failure::usage("a vault passphrase needs at least 8 characters"));
    }
    if read("Repeat it: ")? != first {
        return Err(Failure::usage("the two passphrases differ; nothing was changed"));
    }
    Ok(SecretString::from(first))
}

fn identity_or_generate(path: &Path) -> Result<Unlock, Failure> {
    if !path.exists() {
        let identity = age::x25519::Identity::generate();
        let text = format!(
            "# created by `pyra vault` on {}\n# public key: {}\n{}\n",
            chrono::Local::now().to_rfc3339(),
            identity.to_public(),
            identity.to_string().expose_secret()
        );
        crate::home::write_private(path, text.as_bytes())
            .map_err(|e| Failure::failed(format!("cannot write {}: {e}", path.display())))?;
        output::err(&format!("generated a new age identity in {} (keep it safe)\n", path.display()));
    }
    Unlock::identity_file(path).map_err(vault_failure)
}

/// A secret's value: hidden prompt on a terminal, otherwise standard input (one trailing
/// newline removed).
pub(crate) fn read_value(key: &str) -> Result<SecretString, Failure> {
    if std::io::stdin().is_terminal() {
        let value = rpassword::prompt_password(format!("Value for {key}: "))
            .map_err(|e| Failure::failed(format!("cannot read the value: {e}")))?;
        return Ok(SecretString::from(value));
    }
    let mut value = String::new();
    std::io::stdin().read_to_string(&mut value).map_err(|e| Failure::failed(format!("cannot read stdin: {e}")))?;
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    if value.is_empty() {
        return Err(Failure::usage("no value on standard input"));
    }
    let value = SecretString::from(value);
    check_value(key, &value)?;
    Ok(value)
}

/// Refuses a value too short to mask usefully: every secret is hidden wherever Pyra writes
/// or shows text, and a value of a few characters occurs in ordinary words.
pub(crate) fn check_value(key: &str, value: &SecretString) -> Result<(), Failure> {
    let min = runtime::secrets::MIN_VALUE_CHARS;
    let chars = value.expose_secret().chars().count();
    if chars >= min {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "the value for `{key}` has {chars} character{}; secret values need at least {min}: Pyra replaces every \
         secret with `[secret:{key}]` wherever it writes or shows text, and a value this short also occurs in \
         ordinary words, so logs and errors would become unreadable; nothing was written\n  help: give the whole \
         secret (API keys and tokens are much longer)",
        if chars == 1 { "" } else { "s" }
    )))
}
