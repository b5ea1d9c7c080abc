//! What the editor needs from the CLI: the configuration, its checked writes, the vault
//! and the plugins. The editor never writes a file itself; every change goes through a
//! [`Store`], which validates before anything is written and answers with the located
//! error when the change is refused.

use config::fields::Field;

/// The vault as the editor sees it: names only, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultView {
    /// No vault yet (`pyra vault init` makes one).
    Missing,
    /// It exists and needs its passphrase (the editor asks for it).
    Locked,
    /// Unlocked: the key names.
    Open(Vec<String>),
}

/// One installed plugin with its declared settings.
#[derive(Debug, Clone)]
pub struct PluginView {
    pub name: String,
    /// `builtin websearch`, `mcp stdio`, …
    pub kind: String,
    pub enabled: bool,
    pub fields: Vec<PluginField>,
    /// Why its manifest could not be read, when it could not.
    pub problem: Option<String>,
}

/// One declared field of a plugin and where its value is.
#[derive(Debug, Clone)]
pub struct PluginField {
    pub field: Field,
    /// The value in its manifest's `settings:` (secrets: none).
    pub value: Option<String>,
    /// The vault key a secret is mapped to.
    pub vault_key: Option<String>,
}

/// The CLI's side of the editor. Every `Err` is text to show as it is (a located error
/// rendered without colour, or a sentence with the fix).
pub trait Store {
    /// `config.yaml` as it is now, with the engine's checks (an invalid file is an error).
    fn config(&mut self) -> Result<config::Config, String>;
    /// Sets one dotted key (`models.local.options.temperature`); checked first.
    fn set(&mut self, key: &str, raw: &str) -> Result<(), String>;
    /// Removes one dotted key, so its default applies; checked first.
    fn unset(&mut self, key: &str) -> Result<(), String>;
    /// Which profile this is (`default` for the main home) and where its config is.
    fn describe(&self) -> (String, String);

    fn vault(&mut self) -> VaultView;
    /// Unlocks the vault with a passphrase the person typed.
    fn unlock(&mut self, passphrase: &str) -> Result<(), String>;
    fn vault_set(&mut self, key: &str, value: &str) -> Result<(), String>;
    fn vault_remove(&mut self, key: &str) -> Result<(), String>;

    fn plugins(&mut self) -> Vec<PluginView>;
    /// Sets (`Some`) or removes (`None`) a declared setting in a plugin's manifest, checked.
    fn plugin_set(&mut self, plugin: &str, key: &str, raw: Option<&str>) -> Result<(), String>;
    /// Stores a plugin's secret in the vault (mapping it in the manifest if it is not yet).
    fn plugin_secret(&mut self, plugin: &str, key: &str, value: &str) -> Result<String, String>;

    /// Writes the Argon2id hash of a channel's passphrase into `channels.NAME.passphrase`.
    fn channel_passphrase(&mut self, channel: &str, passphrase: &str) -> Result<(), String>;
    /// Asks a model entry's server whether it answers and lists the model; a sentence.
    fn check_model(&mut self, entry: &str) -> Result<String, String>;
    /// Runs the interactive model setup on the plain terminal (the editor has left the
    /// screen); what it did, in a sentence.
    fn add_model(&mut self) -> Result<String, String>;
}
