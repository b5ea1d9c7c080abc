//! The vault as `pyra setup` uses it: unlocked at most once, read for an existing key,
//! written (and created if missing) for a new one.

use super::*;

/// The vault as setup uses it: unlocked at most once, read for an existing key, written
/// (and created if missing) for a new one.
pub(crate) struct VaultAccess {
    vault: Vault,
    log: SecurityLog,
    can_prompt: bool,
    unlock: Option<Unlock>,
    open: Option<Unlocked>,
}

impl VaultAccess {
    pub(crate) fn new(home: &Home, can_prompt: bool) -> Self {
        Self { vault: Vault::new(&home.root), log: SecurityLog::new(&home.root), can_prompt, unlock: None, open: None }
    }

    pub(super) fn exists(&self) -> bool {
        self.vault.exists()
    }

    /// The decrypted vault (unlocking it on first use).
    pub(super) fn open(&mut self) -> Result<&Unlocked, Failure> {
        if self.open.is_none() {
            let unlock = vault_cmd::unlock_with(&self.vault, None, self.can_prompt)?;
            let opened = self.vault.open(&unlock);
            if let Err(e) = &opened {
                vault_cmd::audit(&self.log, "vault.unlock", None, &Err::<(), _>(e.to_string()));
            }
            self.open = Some(opened.map_err(vault_cmd::vault_failure)?);
            self.unlock = Some(unlock);
        }
        self.open.as_ref().ok_or_else(|| Failure::failed("the vault could not be opened"))
    }

    /// The value stored under `name`, if any (a key sealed on its own is opened with its
    /// passphrase). The read is audited.
    pub(super) fn read(&mut self, name: &str) -> Result<Option<SecretString>, Failure> {
        let stored = match self.open() {
            Ok(open) => open.get(name).cloned(),
            Err(f) => {
                audit_read(&self.log, name, &Err(f.message.clone()), "model provider key; pyra setup");
                return Err(f);
            }
        };
        let Some(value) = stored else {
            audit_read(&self.log, name, &Err("not in the vault".into()), "model provider key; pyra setup");
            return Ok(None);
        };
        let value = if vault::is_sealed(&value) {
            let pass = vault_cmd::key_passphrase(name)?;
            vault::unseal(name, &value, &pass).map_err(vault_cmd::vault_failure)?
        } else {
            value
        };
        audit_read(&self.log, name, &Ok(value.clone()), "model provider key; pyra setup");
        Ok(Some(value))
    }

    /// The key a provider needs, or an error saying how to give it.
    pub(super) fn read_needed(
        &mut self,
        provider: &Provider,
        entry: &str,
        name: &str,
    ) -> Result<SecretString, Failure> {
        let how = format!(
            "give it with --key-stdin (`printf %s \"$KEY\" | pyra setup --name {entry} --provider {} --key-stdin …`) \
             or store it first with `pyra vault set {name}`; {}",
            provider.id, provider.docs
        );
        if !self.exists() {
            return Err(Failure::failed(format!(
                "{} needs an API key, and there is no vault yet\n  help: {how}",
                provider.name
            )));
        }
        self.read(name)?.ok_or_else(|| {
            Failure::failed(format!("{} needs an API key, and the vault has no `{name}`\n  help: {how}", provider.name))
        })
    }

    /// Makes sure the vault can be written before anything else happens: unlocks an
    /// existing one (so a wrong passphrase fails now), or settles how a new one is sealed
    /// (PYRA_VAULT_IDENTITY, PYRA_VAULT_PASSPHRASE, or a new passphrase asked twice, as
    /// `pyra vault init` does).
    pub(super) fn prepare_write(&mut self) -> Result<(), Failure> {
        if self.exists() {
            return self.open().map(drop);
        }
        if self.unlock.is_none() {
            let unlock = match std::env::var_os("PYRA_VAULT_IDENTITY") {
                Some(path) => Unlock::identity_file(std::path::Path::new(&path)).map_err(vault_cmd::vault_failure)?,
                None => {
                    if self.can_prompt && std::env::var_os("PYRA_VAULT_PASSPHRASE").is_none() {
                        err("the key goes into the vault, which does not exist yet: choose its passphrase\n");
                    }
                    Unlock::Passphrase(vault_cmd::new_passphrase_with("PYRA_VAULT_PASSPHRASE", self.can_prompt)?)
                }
            };
            self.unlock = Some(unlock);
        }
        Ok(())
    }

    /// Stores `value` under `name` (creating the vault first if needed); a value already
    /// stored is left alone.
    pub(crate) fn store(&mut self, name: &str, value: &SecretString) -> Result<(), Failure> {
        self.prepare_write()?;
        let Some(unlock) = &self.unlock else { return Err(Failure::failed("the vault could not be unlocked")) };
        if !self.vault.exists() {
            let created = self.vault.init(unlock);
            vault_cmd::audit(&self.log, "vault.init", None, &created);
            self.open = Some(created.map_err(vault_cmd::vault_failure)?);
            err(&format!("created {}\n", self.vault.file().display()));
        }
        let same = self
            .open
            .as_ref()
            .and_then(|open| open.get(name))
            .is_some_and(|old| old.expose_secret() == value.expose_secret());
        if same {
            return Ok(());
        }
        let result = self.vault.update(unlock, |v| {
            v.set(name, value.clone());
            Ok(())
        });
        vault_cmd::audit(&self.log, "vault.set", Some(name), &result);
        result.map_err(vault_cmd::vault_failure)?;
        err(&format!("stored the key in the vault as `{name}`\n"));
        Ok(())
    }

    /// Removes `name` from the vault; whether it was there (no vault: nothing to remove).
    pub(crate) fn remove(&mut self, name: &str) -> Result<bool, Failure> {
        if !self.exists() {
            return Ok(false);
        }
        self.open()?;
        if self.open.as_ref().is_some_and(|open| open.get(name).is_none()) {
            return Ok(false);
        }
        let Some(unlock) = &self.unlock else { return Err(Failure::failed("the vault could not be unlocked")) };
        let result = self.vault.update(unlock, |v| v.remove(name));
        vault_cmd::audit(&self.log, "vault.rm", Some(name), &result);
        result.map_err(vault_cmd::vault_failure)?;
        Ok(true)
    }
}
