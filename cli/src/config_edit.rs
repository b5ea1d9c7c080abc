//! `pyra config` with no arguments (and `/config` in `pyra chat`) on a terminal: the
//! full-screen editor of the `editor` crate, given a [`Store`] over this home. Every
//! change takes the same checked, minimal-edit path as `pyra config set` (the engine's
//! checks, then provider ids), plugin settings are checked against the plugin's declared
//! fields and its manifest parsed again before the file is replaced, secrets go to the
//! vault (every access audited like `pyra vault`), and a channel's passphrase only as
//! its Argon2id hash.

use std::collections::HashMap;

use config::Config;
use config::fields::{Field, Kind};
use editor::{PluginField, PluginView, Store, VaultView};
use mcp::manifest::PluginKind;
use secrecy::SecretString;
use security::audit::SecurityLog;
use vault::{Unlock, Unlocked, Vault};

use crate::config_cmd;
use crate::failure::Failure;
use crate::home::Home;
use crate::vault_cmd;

pub struct HomeStore<'a> {
    home: &'a Home,
    vault: Vault,
    log: SecurityLog,
    unlock: Option<Unlock>,
    /// Labels of an MCP plugin's secrets, made once each (declared fields are `'static`).
    names: HashMap<String, &'static str>,
    /// The vault's key names, read once per unlock (opening the vault costs its key
    /// derivation) and kept in step with this editor's own sets and removals.
    keys: Option<Vec<String>>,
}

impl<'a> HomeStore<'a> {
    pub fn new(home: &'a Home) -> HomeStore<'a> {
        let vault = Vault::new(&home.root);
        // The environment's unlock (PYRA_VAULT_IDENTITY, PYRA_VAULT_PASSPHRASE) when given;
        // otherwise the editor asks for the passphrase in its Vault tab.
        let unlock = if vault.exists() { vault_cmd::unlock_with(&vault, None, false).ok() } else { None };
        HomeStore { home, vault, log: SecurityLog::new(&home.root), unlock, names: HashMap::new(), keys: None }
    }

    fn config_unchecked(&self) -> Result<Config, String> {
        Config::load(&self.home.root).map_err(|e| e.render(false))
    }

    /// Checks a changed configuration like `pyra config set` and writes it.
    fn save(&self, before: &Config, changed: Result<Config, config::ConfigError>) -> Result<(), String> {
        let changed =
            changed.and_then(|new| config_cmd::check_providers(&new).map(|()| new)).map_err(|e| e.render(false))?;
        if changed.text() != before.text() || !before.exists() {
            config_cmd::save(self.home, &changed).map_err(|f| f.message)?;
        }
        Ok(())
    }

    fn opened(&self) -> Result<Unlocked, String> {
        let unlock = self.unlock.as_ref().ok_or("the vault is locked: unlock it in the Vault tab (7)")?;
        self.vault.open(unlock).map_err(|e| vault_cmd::vault_failure(e).message)
    }

    fn label(&mut self, text: &str) -> &'static str {
        if let Some(l) = self.names.get(text) {
            return l;
        }
        let leaked: &'static str = Box::leak(text.to_string().into_boxed_str());
        self.names.insert(text.to_string(), leaked);
        leaked
    }
}

use crate::plugin_host;

impl Store for HomeStore<'_> {
    fn config(&mut self) -> Result<Config, String> {
        let config = self.config_unchecked()?;
        config_cmd::check_providers(&config).map_err(|e| e.render(false))?;
        Ok(config)
    }

    fn set(&mut self, key: &str, raw: &str) -> Result<(), String> {
        let before = self.config_unchecked()?;
        self.save(&before, before.set(key, raw))
    }

    fn unset(&mut self, key: &str) -> Result<(), String> {
        let before = self.config_unchecked()?;
        self.save(&before, before.unset(key))
    }

    fn describe(&self) -> (String, String) {
        let profile = self.home.profile.clone().unwrap_or_else(|| "default".into());
        (profile, Config::file_path(&self.home.root).display().to_string())
    }

    fn vault(&mut self) -> VaultView {
        if !self.vault.exists() {
            return VaultView::Missing;
        }
        if self.keys.is_none() {
            self.keys = self.opened().ok().map(|open| sorted_names(&open));
        }
        match &self.keys {
            Some(keys) => VaultView::Open(keys.clone()),
            None => VaultView::Locked,
        }
    }

    fn unlock(&mut self, passphrase: &str) -> Result<(), String> {
        let unlock = Unlock::Passphrase(SecretString::from(passphrase.to_string()));
        let opened = self.vault.open(&unlock);
        vault_cmd::audit(&self.log, "vault.unlock", None, &opened.as_ref().map(|_| ()).map_err(ToString::to_string));
        let open = opened.map_err(|e| vault_cmd::vault_failure(e).message)?;
        self.keys = Some(sorted_names(&open));
        self.unlock = Some(unlock);
        Ok(())
    }

    fn vault_set(&mut self, key: &str, value: &str) -> Result<(), String> {
        if !self.vault.exists() {
            return Err("no vault yet: run `pyra vault init` (it asks for a passphrase), then set the key here".into());
        }
        let secret = SecretString::from(value.to_string());
        vault_cmd::check_value(key, &secret).map_err(|f| f.message)?;
        let unlock = self.unlock.as_ref().ok_or("the vault is locked: unlock it in the Vault tab (7)")?;
        let result = self.vault.update(unlock, |v| {
            v.set(key, secret);
            Ok(())
        });
        vault_cmd::audit(&self.log, "vault.set", Some(key), &result);
        result.map_err(|e| vault_cmd::vault_failure(e).message)?;
        if let Some(keys) = &mut self.keys
            && let Err(at) = keys.binary_search_by(|k| k.as_str().cmp(key))
        {
            keys.insert(at, key.to_string());
        }
        Ok(())
    }

    fn vault_remove(&mut self, key: &str) -> Result<(), String> {
        let unlock = self.unlock.as_ref().ok_or("the vault is locked: unlock it in the Vault tab (7)")?;
        let result = self.vault.update(unlock, |v| v.remove(key));
        vault_cmd::audit(&self.log, "vault.rm", Some(key), &result);
        result.map_err(|e| vault_cmd::vault_failure(e).message)?;
        if let Some(keys) = &mut self.keys {
            keys.retain(|k| k != key);
        }
        Ok(())
    }

    fn plugins(&mut self) -> Vec<PluginView> {
        let host = plugin_host::host(self.home);
        let mut out = Vec::new();
        for name in host.names() {
            let loaded = match host.load(&name) {
                Ok(l) => l,
                Err((file, diags)) => {
                    out.push(PluginView {
                        name,
                        kind: "broken".into(),
                        enabled: false,
                        fields: Vec::new(),
                        problem: Some(term::output::printable(&crate::plugin_cmd::render(&file, &diags)).into_owned()),
                    });
                    continue;
                }
            };
            let m = loaded.manifest;
            let mut fields = Vec::new();
            let kind = match (m.kind, m.builtin.as_deref()) {
                (PluginKind::Builtin, Some(id)) => {
                    for f in mcp::builtin::fields_of(id).unwrap_or_default() {
                        let vault_key = f.kind.is_secret().then(|| {
                            m.secrets
                                .get(f.key)
                                .map_or_else(|| mcp::builtin::vault_key(&m.name, f.key), |r| r.key().to_string())
                        });
                        fields.push(PluginField { field: *f, value: m.settings.get(f.key).cloned(), vault_key });
                    }
                    format!("built-in {id}")
                }
                _ => {
                    // An MCP server declares no fields; its mapped secrets are settable.
                    for (var, r) in &m.secrets {
                        let key = self.label(var);
                        let field = Field::new(key, key, Kind::Secret, "a secret the server gets (from `secrets:`)");
                        fields.push(PluginField { field, value: None, vault_key: Some(r.key().to_string()) });
                    }
                    match (&m.command, &m.url) {
                        (Some(c), _) => format!("MCP over stdio: {c}"),
                        (_, Some(u)) => format!("MCP over HTTP: {u}"),
                        _ => "MCP".into(),
                    }
                }
            };
            out.push(PluginView { name, kind, enabled: m.enabled, fields, problem: None });
        }
        out
    }

    fn plugin_set(&mut self, plugin: &str, key: &str, raw: Option<&str>) -> Result<(), String> {
        let Some(value) = raw else {
            let path = crate::plugin_cmd::existing(self.home, plugin).map_err(|f| f.message)?.join("plugin.yaml");
            let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let edited = config::edit_yaml(&text, &["settings", key], None)?;
            return crate::plugin_cmd::replace_manifest(&path, plugin, &edited).map_err(|f| f.message);
        };
        let loaded = plugin_host::host(self.home)
            .load(plugin)
            .map_err(|(file, diags)| crate::plugin_cmd::render(&file, &diags))?;
        let id = loaded.manifest.builtin.as_deref().unwrap_or_default();
        let b = mcp::builtin::find(id).ok_or_else(|| format!("plugin `{plugin}` is not a built-in of this build"))?;
        let field = mcp::builtin::setting(&*b, plugin, key)?;
        if let Some(why) = crate::plugin_cmd::refused(plugin, field, value) {
            return Err(format!("{why}; nothing changed"));
        }
        crate::plugin_cmd::edit_manifest(self.home, plugin, &[("settings", key, value.to_string())])
            .map_err(|f| f.message)
    }

    fn plugin_secret(&mut self, plugin: &str, key: &str, value: &str) -> Result<String, String> {
        let loaded = plugin_host::host(self.home)
            .load(plugin)
            .map_err(|(file, diags)| crate::plugin_cmd::render(&file, &diags))?;
        let mapped = loaded.manifest.secrets.get(key).map(|r| r.key().to_string());
        let vault_key = mapped.clone().unwrap_or_else(|| mcp::builtin::vault_key(plugin, key));
        self.vault_set(&vault_key, value)?;
        if mapped.is_none() {
            // Mapped once the vault holds it (a mapped key the vault lacks fails every call).
            crate::plugin_cmd::edit_manifest(self.home, plugin, &[("secrets", key, vault_key.clone())])
                .map_err(|f| f.message)?;
        }
        Ok(vault_key)
    }

    fn channel_passphrase(&mut self, channel: &str, passphrase: &str) -> Result<(), String> {
        if passphrase.chars().count() < 8 {
            return Err("a passphrase needs at least 8 characters; nothing was changed".into());
        }
        let hash = channels::passphrase::hash(passphrase)?;
        let before = self.config_unchecked()?;
        let changed = before.set(&format!("channels.{channel}.passphrase"), &hash);
        self.save(&before, changed)
    }

    fn check_model(&mut self, entry: &str) -> Result<String, String> {
        let config = self.config()?;
        let resolved = config.resolve(Some(entry)).map_err(|e| e.to_string())?;
        let mut read = None;
        let opened = self.opened();
        let target = llm::target::target_for(&resolved, |name| {
            read = Some(name.to_string());
            let value = opened
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|o| o.get(name).cloned().ok_or_else(|| format!("`{name}` is not in the vault")));
            crate::setup_cmd::audit_read(&self.log, name, &value, "model provider key; pyra config");
            value
        })
        .map_err(|e| match e {
            llm::target::TargetError::Entry(m) | llm::target::TargetError::Key(m) => m,
        })?;
        let key = target.endpoint.key.clone();
        let scrub =
            |text: &str| crate::setup_cmd::scrub(text, key.as_ref().map(|k| (read.as_deref().unwrap_or("key"), k)));
        let models = crate::setup_cmd::list_models(&target.endpoint)
            .map_err(|e| format!("{} does not answer: {}", target.endpoint.base_url, scrub(&e.to_string())))?;
        let model = &resolved.model;
        let listed = models.iter().any(|m| crate::setup_cmd::same_model(m, model));
        Ok(format!(
            "✓ {} answered with {} model(s); `{model}` is {}",
            target.endpoint.base_url,
            models.len(),
            if listed { "among them" } else { "NOT among them: check the model id" }
        ))
    }

    fn add_model(&mut self) -> Result<String, String> {
        let before = self.config_unchecked().map(|c| c.models.len()).unwrap_or(0);
        let result = crate::setup_cmd::setup(self.home, crate::setup_cmd::SetupArgs::default());
        let wait = || {
            term::output::err("press Enter to go back to the editor\n");
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        };
        wait();
        match result {
            Ok(_) => {
                let after = self.config_unchecked().map(|c| c.models.len()).unwrap_or(0);
                Ok(if after > before {
                    "the model entry was added".into()
                } else {
                    "the setup changed no entry".into()
                })
            }
            Err(f) => Err(f.message),
        }
    }
}

/// The vault's key names, sorted (never its values).
fn sorted_names(open: &Unlocked) -> Vec<String> {
    let mut names: Vec<String> = open.names().map(str::to_string).collect();
    names.sort();
    names
}

/// Whether the editor can open: both standard input and output are terminals.
pub fn on_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// Opens the editor on this home.
pub fn open(home: &Home) -> Result<(), Failure> {
    let mut store = HomeStore::new(home);
    editor::run(&mut store).map_err(|e| Failure::failed(format!("the terminal failed: {e}")))
}
