//! The rows of each tab, built from the declared settings (`config::fields`) and what the
//! file, the vault and the plugins hold now. Nothing here knows a particular setting: a
//! field declared tomorrow appears in its tab without a change to this file.

use config::Config;
use config::fields::{self, Field, Kind, Section};
use serde_json::Value as Json;

use crate::store::{PluginView, VaultView};

/// The editor's tabs, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Models,
    Chat,
    Memory,
    Daemon,
    Channels,
    Plugins,
    Vault,
}

pub const TABS: [Tab; 7] = [Tab::Models, Tab::Chat, Tab::Memory, Tab::Daemon, Tab::Channels, Tab::Plugins, Tab::Vault];

impl Tab {
    pub fn title(self) -> &'static str {
        match self {
            Tab::Models => "Models",
            Tab::Chat => "Chat",
            Tab::Memory => "Memory",
            Tab::Daemon => "Daemon",
            Tab::Channels => "Channels",
            Tab::Plugins => "Plugins",
            Tab::Vault => "Vault",
        }
    }

    /// The declared sections a tab shows (Models, Plugins and Vault are built otherwise).
    fn sections(self) -> &'static [&'static str] {
        match self {
            Tab::Chat => &["chat"],
            Tab::Memory => &["memory.embeddings"],
            Tab::Daemon => &["daemon", "daemon.webhook", "mcp.serve", "mcp.serve.http", "telemetry"],
            Tab::Channels => &["channels.telegram", "channels.signal", "channels.matrix"],
            _ => &[],
        }
    }
}

/// Where a setting's value lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A dotted key of config.yaml.
    Config(String),
    /// A secret only in the vault, under this key.
    Vault(String),
    /// A channel's passphrase hash (`channels.NAME.passphrase`).
    Passphrase(String),
    /// A declared setting of a plugin's manifest.
    Plugin { plugin: String, key: String },
    /// A declared secret of a plugin.
    PluginSecret { plugin: String, key: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    AddModel,
    MakeDefault(String),
    CheckModel(String),
    UnlockVault,
    AddVaultKey,
}

#[derive(Debug, Clone)]
pub enum Row {
    Heading(String),
    Note(String),
    Setting(Setting),
    Action(String, Action),
    VaultKey(String),
}

impl Row {
    pub fn selectable(&self) -> bool {
        matches!(self, Row::Setting(_) | Row::Action(..) | Row::VaultKey(_))
    }
}

#[derive(Debug, Clone)]
pub struct Setting {
    pub field: Field,
    pub target: Target,
    /// The value as text (lists comma-separated, maps `name=value`), when set.
    pub value: Option<String>,
    /// For secrets: whether the vault holds it (`None`: the vault is locked or missing).
    pub in_vault: Option<bool>,
}

impl Setting {
    /// What the row shows for the value.
    pub fn shown(&self) -> String {
        match self.field.kind {
            Kind::Secret => match self.in_vault {
                Some(true) => "•••••• (in the vault)".into(),
                Some(false) => "not set".into(),
                None => "(vault locked)".into(),
            },
            Kind::Hash => if self.value.is_some() { "•••••• (hash set)" } else { "not set" }.into(),
            Kind::VaultKey => match (&self.value, self.in_vault) {
                (Some(name), Some(true)) => format!("{name} (in the vault)"),
                (Some(name), Some(false)) => format!("{name} (not in the vault)"),
                (Some(name), None) => name.clone(),
                (None, _) => "not set".into(),
            },
            _ => match (&self.value, self.field.default) {
                (Some(v), _) => v.clone(),
                (None, Some(d)) => format!("{d} (default)"),
                (None, None) => "not set".into(),
            },
        }
    }
}

/// What the rows are built from.
pub struct Sources<'a> {
    pub config: Option<&'a Config>,
    pub vault: &'a VaultView,
    pub plugins: &'a [PluginView],
}

impl Sources<'_> {
    fn in_vault(&self, key: &str) -> Option<bool> {
        match self.vault {
            VaultView::Open(names) => Some(names.iter().any(|n| n == key)),
            VaultView::Missing => Some(false),
            VaultView::Locked => None,
        }
    }

    fn value(&self, key: &str) -> Option<String> {
        self.config.and_then(|c| c.get(key).ok()).map(|v| text(&v))
    }
}

/// A JSON value as the editor shows and takes it.
pub fn text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        Json::Object(map) => map.iter().map(|(k, v)| format!("{k}={}", text(v))).collect::<Vec<_>>().join(", "),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// The rows of `tab`.
pub fn build(tab: Tab, src: &Sources<'_>) -> Vec<Row> {
    match tab {
        Tab::Models => models(src),
        Tab::Plugins => plugins(src),
        Tab::Vault => vault(src),
        _ => {
            let mut rows = Vec::new();
            for path in tab.sections() {
                if let Some(section) = fields::section(path) {
                    section_rows(&mut rows, section, path, src);
                }
            }
            rows
        }
    }
}

/// A section's heading and one row per field; `prefix` is its dotted path in the file.
fn section_rows(rows: &mut Vec<Row>, section: &Section, prefix: &str, src: &Sources<'_>) {
    rows.push(Row::Heading(format!("{} — {}", section.title, section.description)));
    for field in section.fields {
        let key = format!("{prefix}.{}", field.key);
        let (target, value, in_vault) = match field.kind {
            Kind::Secret => {
                let vault_key = section.vault_key(field).unwrap_or_else(|| key.clone());
                let in_vault = src.in_vault(&vault_key);
                (Target::Vault(vault_key), None, in_vault)
            }
            Kind::Hash => {
                let channel = prefix.rsplit('.').next().unwrap_or(prefix).to_string();
                (Target::Passphrase(channel), src.value(&key), None)
            }
            Kind::VaultKey => {
                let value = src.value(&key);
                let in_vault = value.as_deref().and_then(|v| src.in_vault(v));
                (Target::Config(key), value, in_vault)
            }
            _ => {
                let value = src.value(&key);
                (Target::Config(key), value, None)
            }
        };
        rows.push(Row::Setting(Setting { field: *field, target, value, in_vault }));
    }
}

fn models(src: &Sources<'_>) -> Vec<Row> {
    let mut rows = vec![Row::Action("Add a model (the setup flow)…".into(), Action::AddModel)];
    let Some(config) = src.config else {
        rows.push(Row::Note("config.yaml cannot be read; fix it first".into()));
        return rows;
    };
    if let Some(field) = fields::section("").and_then(|s| s.field("default_model")) {
        rows.push(Row::Setting(Setting {
            field: *field,
            target: Target::Config("default_model".into()),
            value: src.value("default_model"),
            in_vault: None,
        }));
    }
    if config.models.is_empty() {
        rows.push(Row::Note("No model entry yet: add one with the setup flow above.".into()));
    }
    let default = config.resolve(None).ok().map(|m| m.entry);
    for entry in &config.models {
        let name = &entry.name;
        let mark = if default.as_deref() == Some(name.as_str()) { "  [default]" } else { "" };
        rows.push(Row::Heading(format!("{name} — {} / {}{mark}", entry.provider, entry.model)));
        for (path, group) in [("models.*", ""), ("models.*.options", ".options"), ("models.*.prices", ".prices")] {
            let Some(section) = fields::section(path) else { continue };
            let mut sub = Vec::new();
            section_rows(&mut sub, section, &format!("models.{name}{group}"), src);
            // The entry's own heading stands for the first section's.
            rows.extend(sub.into_iter().skip(usize::from(group.is_empty())).filter(|r| match r {
                Row::Setting(s) => s.field.key != "name",
                _ => true,
            }));
        }
        if mark.is_empty() {
            rows.push(Row::Action(format!("Make `{name}` the default"), Action::MakeDefault(name.clone())));
        }
        rows.push(Row::Action(format!("Check `{name}`'s server"), Action::CheckModel(name.clone())));
    }
    rows
}

fn plugins(src: &Sources<'_>) -> Vec<Row> {
    let mut rows = Vec::new();
    if src.plugins.is_empty() {
        rows.push(Row::Note(
            "No plugin installed: `pyra plugin add NAME --builtin ID` or `pyra plugin add NAME -- COMMAND`".into(),
        ));
    }
    for p in src.plugins {
        let state = if p.enabled { "" } else { ", disabled" };
        rows.push(Row::Heading(format!("{} — {}{state}", p.name, p.kind)));
        if let Some(problem) = &p.problem {
            rows.push(Row::Note(problem.clone()));
        }
        if p.fields.is_empty() && p.problem.is_none() {
            rows.push(Row::Note("declares no settings".into()));
        }
        for f in &p.fields {
            let (target, in_vault) = if f.field.kind.is_secret() {
                let in_vault = f.vault_key.as_deref().and_then(|k| src.in_vault(k)).or(Some(false));
                (Target::PluginSecret { plugin: p.name.clone(), key: f.field.key.into() }, in_vault)
            } else {
                (Target::Plugin { plugin: p.name.clone(), key: f.field.key.into() }, None)
            };
            rows.push(Row::Setting(Setting { field: f.field, target, value: f.value.clone(), in_vault }));
        }
    }
    rows
}

fn vault(src: &Sources<'_>) -> Vec<Row> {
    match src.vault {
        VaultView::Missing => vec![Row::Note("No vault yet: `pyra vault init` makes one.".into())],
        VaultView::Locked => vec![
            Row::Note("The vault is locked; its key names show once it is unlocked.".into()),
            Row::Action("Unlock the vault…".into(), Action::UnlockVault),
        ],
        VaultView::Open(names) => {
            let mut rows = vec![Row::Action("Add a key…".into(), Action::AddVaultKey)];
            rows.push(Row::Heading(format!("{} key(s) — values are never shown", names.len())));
            rows.extend(names.iter().map(|n| Row::VaultKey(n.clone())));
            rows
        }
    }
}
