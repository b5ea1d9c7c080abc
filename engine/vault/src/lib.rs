//! The vault: one age-encrypted file, `$PYRA_HOME/vault/vault.age`, holding named
//! secrets. Unlocked by a passphrase (scrypt) or by an age identity file. Decrypted values
//! live in memory only, as `SecretString`s that are zeroized when dropped.
//!
//! Writes never lose the vault: the new file is written next to the old one, synced, the
//! old one is kept as `vault.age.prev` (a hard link, so the current file always exists),
//! and the new one is renamed over it. A lock file serialises writers. A wrong passphrase
//! or a corrupted file is an error that changes nothing.
//!
//! **Architecture invariant:** plaintext never touches disk (the JSON is built and parsed
//! in zeroized buffers, values are `SecretString`s); the current vault file always exists
//! whole; nothing but this crate reads or writes `vault/`, and nothing here logs or
//! prints a value.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use age::secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// How a vault is unlocked.
pub enum Unlock {
    Passphrase(SecretString),
    Identity(Box<age::x25519::Identity>),
}

impl Unlock {
    /// Reads an age identity file (`AGE-SECRET-KEY-1…`, comments allowed).
    pub fn identity_file(path: &Path) -> Result<Self, VaultError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| VaultError::Io(format!("cannot read identity file {}: {e}", path.display())))?,
        );
        let line =
            text.lines().map(str::trim).find(|l| l.starts_with("AGE-SECRET-KEY-")).ok_or_else(|| {
                VaultError::Io(format!("{} holds no age identity (AGE-SECRET-KEY-…)", path.display()))
            })?;
        let identity: age::x25519::Identity =
            line.parse().map_err(|e| VaultError::Io(format!("{}: not a valid age identity: {e}", path.display())))?;
        Ok(Unlock::Identity(Box::new(identity)))
    }

    fn kind(&self) -> &'static str {
        match self {
            Unlock::Passphrase(_) => "passphrase",
            Unlock::Identity(_) => "identity",
        }
    }
}

/// What can go wrong; none of these leaves a changed file behind.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("no vault at {0}; create one with `pyra vault init`")]
    Missing(String),
    #[error("a vault already exists at {0}; `pyra vault rotate` changes its passphrase")]
    Exists(String),
    #[error("wrong passphrase or identity for the vault at {0}")]
    Locked(String),
    #[error("the vault at {0} is damaged ({1}); the previous version is kept at {0}.prev")]
    Corrupted(String, String),
    #[error("the vault is unlocked by {expected}, but {given} was given")]
    WrongKind { expected: &'static str, given: &'static str },
    #[error("no key `{0}` in the vault")]
    NoKey(String),
    #[error("vault: {0}")]
    Io(String),
}

/// A vault on disk.
#[derive(Debug, Clone)]
pub struct Vault {
    dir: PathBuf,
}

/// The vault's contents, decrypted.
pub struct Unlocked {
    entries: BTreeMap<String, SecretString>,
}

/// What `pyra vault status` shows without unlocking.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub path: String,
    pub exists: bool,
    /// `passphrase` or `identity`.
    pub unlocked_by: Option<&'static str>,
    pub previous_version: bool,
    pub bytes: u64,
}

/// The scrypt work factor for new passphrase-sealed files: `PYRA_VAULT_SCRYPT_LOG_N`
/// (10–22) or 18 (~0.5 s here), so that a test suite need not pay a second per unlock.
fn work_factor() -> u8 {
    // This crate's own unit tests seal at the lowest factor (they test sealing, not its
    // cost); the integration tests set the variable.
    if cfg!(test) {
        return 10;
    }
    std::env::var("PYRA_VAULT_SCRYPT_LOG_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| (10..=22).contains(n))
        .unwrap_or(18)
}

impl Vault {
    pub fn new(home: &Path) -> Self {
        Self { dir: home.join("vault") }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn file(&self) -> PathBuf {
        self.dir.join("vault.age")
    }

    fn prev(&self) -> PathBuf {
        self.dir.join("vault.age.prev")
    }

    pub fn exists(&self) -> bool {
        self.file().is_file()
    }

    fn shown(&self) -> String {
        self.file().display().to_string()
    }

    pub fn status(&self) -> Status {
        let file = self.file();
        let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        let unlocked_by = File::open(&file).ok().and_then(|f| {
            age::Decryptor::new(std::io::BufReader::new(f))
                .ok()
                .map(|d| if d.is_scrypt() { "passphrase" } else { "identity" })
        });
        Status {
            path: self.shown(),
            exists: file.is_file(),
            unlocked_by,
            previous_version: self.prev().is_file(),
            bytes,
        }
    }

    /// Creates an empty vault; refuses to replace one.
    pub fn init(&self, unlock: &Unlock) -> Result<Unlocked, VaultError> {
        let _lock = self.lock()?;
        if self.exists() {
            return Err(VaultError::Exists(self.shown()));
        }
        let unlocked = Unlocked { entries: BTreeMap::new() };
        self.write(&unlocked, unlock)?;
        Ok(unlocked)
    }

    /// Decrypts the vault.
    pub fn open(&self, unlock: &Unlock) -> Result<Unlocked, VaultError> {
        if !self.exists() {
            return Err(VaultError::Missing(self.shown()));
        }
        let bytes = std::fs::read(self.file()).map_err(|e| VaultError::Io(format!("{}: {e}", self.shown())))?;
        decrypt(&bytes, unlock, &self.shown())
    }

    /// Reads, changes and writes the vault under the writers' lock.
    pub fn update<T>(
        &self,
        unlock: &Unlock,
        change: impl FnOnce(&mut Unlocked) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let _lock = self.lock()?;
        let mut unlocked = self.open(unlock)?;
        let result = change(&mut unlocked)?;
        self.write(&unlocked, unlock)?;
        Ok(result)
    }

    /// Re-encrypts the vault for a new passphrase or identity.
    pub fn rotate(&self, old: &Unlock, new: &Unlock) -> Result<(), VaultError> {
        let _lock = self.lock()?;
        let unlocked = self.open(old)?;
        self.write(&unlocked, new)
    }

    fn lock(&self) -> Result<File, VaultError> {
        ensure_private_dir(&self.dir)?;
        let file = private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.dir.join(".lock"))
            .map_err(|e| VaultError::Io(format!("cannot open the vault lock: {e}")))?;
        file.lock().map_err(|e| VaultError::Io(format!("cannot lock the vault: {e}")))?;
        Ok(file)
    }

    /// Temp file, fsync, keep the previous version, rename, fsync the folder.
    fn write(&self, unlocked: &Unlocked, unlock: &Unlock) -> Result<(), VaultError> {
        ensure_private_dir(&self.dir)?;
        let plaintext = unlocked.serialize();
        let sealed = encrypt(plaintext.as_bytes(), unlock)?;
        let io = |what: &str, e: std::io::Error| VaultError::Io(format!("{what}: {e}"));
        let temp = self.dir.join(format!(".vault.age.{}.tmp", std::process::id()));
        {
            let mut file =
                private_options().write(true).create(true).truncate(true).open(&temp).map_err(|e| io("write", e))?;
            file.write_all(&sealed).map_err(|e| io("write", e))?;
            file.sync_all().map_err(|e| io("sync", e))?;
        }
        if self.exists() {
            let prev_tmp = self.dir.join(".vault.age.prev.tmp");
            let _ = std::fs::remove_file(&prev_tmp);
            std::fs::hard_link(self.file(), &prev_tmp).map_err(|e| io("keep the previous version", e))?;
            std::fs::rename(&prev_tmp, self.prev()).map_err(|e| io("keep the previous version", e))?;
        }
        // Fault injection for the crash test: die between writing and renaming.
        if std::env::var_os("PYRA_FAULT_VAULT_BEFORE_RENAME").is_some() {
            std::process::abort();
        }
        std::fs::rename(&temp, self.file()).map_err(|e| io("replace", e))?;
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

impl Unlocked {
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.entries.get(name)
    }

    pub fn set(&mut self, name: &str, value: SecretString) {
        self.entries.insert(name.to_string(), value);
    }

    pub fn remove(&mut self, name: &str) -> Result<(), VaultError> {
        self.entries.remove(name).map(drop).ok_or_else(|| VaultError::NoKey(name.to_string()))
    }

    fn serialize(&self) -> Zeroizing<String> {
        let map: serde_json::Map<String, serde_json::Value> = self
            .entries
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.expose_secret().to_string())))
            .collect();
        let doc = serde_json::json!({ "version": 1, "entries": map });
        Zeroizing::new(doc.to_string())
    }
}

const SEALED: &str = "-----BEGIN AGE ENCRYPTED FILE-----";

/// Whether a stored value is sealed a second time with its own passphrase.
pub fn is_sealed(value: &SecretString) -> bool {
    value.expose_secret().starts_with(SEALED)
}

/// Seals one value with its own passphrase (an armored age file inside the vault): even
/// with the vault unlocked, reading it needs that passphrase too.
pub fn seal(value: &SecretString, passphrase: &SecretString) -> Result<SecretString, VaultError> {
    let sealed = encrypt(value.expose_secret().as_bytes(), &Unlock::Passphrase(passphrase.clone()))?;
    let mut armored = Vec::new();
    {
        let mut writer = age::armor::ArmoredWriter::wrap_output(&mut armored, age::armor::Format::AsciiArmor)
            .map_err(|e| VaultError::Io(e.to_string()))?;
        writer.write_all(&sealed).map_err(|e| VaultError::Io(e.to_string()))?;
        writer.finish().map_err(|e| VaultError::Io(e.to_string()))?;
    }
    let text = String::from_utf8(armored).map_err(|e| VaultError::Io(e.to_string()))?;
    Ok(SecretString::from(text))
}

/// Opens a value sealed by [`seal`].
pub fn unseal(name: &str, sealed: &SecretString, passphrase: &SecretString) -> Result<SecretString, VaultError> {
    let mut binary = Vec::new();
    age::armor::ArmoredReader::new(sealed.expose_secret().as_bytes())
        .read_to_end(&mut binary)
        .map_err(|e| VaultError::Corrupted(format!("key `{name}`"), e.to_string()))?;
    let shown = format!("key `{name}`");
    let opened = decrypt_bytes(&binary, &Unlock::Passphrase(passphrase.clone()), &shown)?;
    let text = String::from_utf8(opened.to_vec()).map_err(|e| VaultError::Corrupted(shown, e.to_string()))?;
    Ok(SecretString::from(text))
}

fn encrypt(plaintext: &[u8], unlock: &Unlock) -> Result<Vec<u8>, VaultError> {
    let encryptor = match unlock {
        Unlock::Passphrase(pass) => {
            let mut recipient = age::scrypt::Recipient::new(pass.clone());
            recipient.set_work_factor(work_factor());
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        }
        Unlock::Identity(identity) => {
            let recipient = identity.to_public();
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        }
    }
    .map_err(|e| VaultError::Io(format!("cannot encrypt: {e}")))?;
    let mut out = Vec::new();
    let mut writer = encryptor.wrap_output(&mut out).map_err(|e| VaultError::Io(e.to_string()))?;
    writer.write_all(plaintext).map_err(|e| VaultError::Io(e.to_string()))?;
    writer.finish().map_err(|e| VaultError::Io(e.to_string()))?;
    Ok(out)
}

fn decrypt(bytes: &[u8], unlock: &Unlock, shown: &str) -> Result<Unlocked, VaultError> {
    let corrupted = |why: String| VaultError::Corrupted(shown.to_string(), why);
    let plaintext = decrypt_bytes(bytes, unlock, shown)?;
    let doc: serde_json::Value = serde_json::from_slice(&plaintext).map_err(|e| corrupted(e.to_string()))?;
    let entries = doc
        .get("entries")
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| corrupted("no entries".into()))?
        .iter()
        .map(|(k, v)| (k.clone(), SecretString::from(v.as_str().unwrap_or_default().to_string())))
        .collect();
    Ok(Unlocked { entries })
}

fn decrypt_bytes(bytes: &[u8], unlock: &Unlock, shown: &str) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let corrupted = |why: String| VaultError::Corrupted(shown.to_string(), why);
    let decryptor = age::Decryptor::new_buffered(bytes).map_err(|e| corrupted(e.to_string()))?;
    let expected = if decryptor.is_scrypt() { "passphrase" } else { "identity" };
    if expected != unlock.kind() {
        return Err(VaultError::WrongKind { expected, given: unlock.kind() });
    }
    let result = match unlock {
        Unlock::Passphrase(pass) => {
            let mut identity = age::scrypt::Identity::new(pass.clone());
            identity.set_max_work_factor(22);
            decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity))
        }
        Unlock::Identity(identity) => decryptor.decrypt(std::iter::once(identity.as_ref() as &dyn age::Identity)),
    };
    let mut reader = result.map_err(|e| match e {
        age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
            VaultError::Locked(shown.to_string())
        }
        other => corrupted(other.to_string()),
    })?;
    let mut plaintext = Zeroizing::new(Vec::new());
    reader.read_to_end(&mut plaintext).map_err(|e| corrupted(e.to_string()))?;
    Ok(plaintext)
}

fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

fn ensure_private_dir(dir: &Path) -> Result<(), VaultError> {
    if !dir.is_dir() {
        std::fs::create_dir_all(dir).map_err(|e| VaultError::Io(format!("cannot create {}: {e}", dir.display())))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(p: &str) -> Unlock {
        Unlock::Passphrase(SecretString::from(p.to_string()))
    }

    #[test]
    fn round_trip_wrong_passphrase_and_previous_version() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::new(dir.path());
        let unlock = pass("correct horse");
        vault.init(&unlock).unwrap();
        vault
            .update(&unlock, |v| {
                v.set("plugin:telegram:token", SecretString::from("s3cr3t-value".to_string()));
                Ok(())
            })
            .unwrap();
        let raw = std::fs::read(vault.file()).unwrap();
        assert!(!raw.windows(12).any(|w| w == b"s3cr3t-value"), "no plaintext on disk");
        assert!(vault.prev().is_file());
        let before = std::fs::read(vault.file()).unwrap();
        assert!(matches!(vault.open(&pass("wrong")), Err(VaultError::Locked(_))));
        assert_eq!(std::fs::read(vault.file()).unwrap(), before, "a wrong passphrase changes nothing");
        let open = vault.open(&unlock).unwrap();
        assert_eq!(open.get("plugin:telegram:token").unwrap().expose_secret(), "s3cr3t-value");
        assert!(matches!(vault.init(&unlock), Err(VaultError::Exists(_))));
        std::fs::write(vault.file(), b"garbage").unwrap();
        assert!(matches!(vault.open(&unlock), Err(VaultError::Corrupted(..))));
    }
}
