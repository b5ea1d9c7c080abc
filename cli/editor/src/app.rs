//! The editor's state and what each key does. Pure: a key changes the state and may call
//! the [`Store`]; drawing is `view.rs`, the terminal is `lib.rs`. Every change goes
//! through the store, which checks it before writing; a refused change leaves the file
//! as it was and shows the store's located error.

use config::fields::{Field, Kind};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::rows::{self, Action, Row, Setting, Sources, TABS, Tab, Target};
use crate::store::{PluginView, Store, VaultView};

/// What the person is doing.
#[derive(Debug, Clone)]
pub enum Mode {
    Browse,
    /// Typing a value (masked for secrets).
    Input(Input),
    /// Picking one of a field's choices.
    Choose {
        options: Vec<String>,
        selected: usize,
        purpose: Purpose,
    },
    /// A yes/no question.
    Confirm {
        question: String,
        purpose: Purpose,
    },
}

#[derive(Debug, Clone)]
pub struct Input {
    pub prompt: String,
    pub buffer: Vec<char>,
    pub cursor: usize,
    pub masked: bool,
    pub purpose: Purpose,
}

impl Input {
    fn new(prompt: String, initial: &str, masked: bool, purpose: Purpose) -> Input {
        let buffer: Vec<char> = initial.chars().collect();
        Input { prompt, cursor: buffer.len(), buffer, masked, purpose }
    }

    pub fn text(&self) -> String {
        self.buffer.iter().collect()
    }
}

/// What a finished input or choice is for.
#[derive(Debug, Clone)]
pub enum Purpose {
    Set(Target, Field),
    /// The secret value of a vault key (a new key, or a new value for one).
    VaultValue(String),
    /// A new model key's value: the config key naming it, and the name.
    ModelKey {
        config_key: String,
        name: String,
    },
    NewVaultKeyName,
    Unlock,
    Passphrase(String),
    RemoveVaultKey(String),
    Reset(Target),
}

/// A line under the list: what just happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    None,
    Info(String),
    Error(String),
}

/// What the terminal loop must do after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Continue,
    Quit,
    /// Leave the screen and run the model setup, then come back.
    AddModel,
}

pub struct App {
    pub tab: usize,
    pub rows: Vec<Row>,
    pub selected: usize,
    pub mode: Mode,
    pub status: Status,
    pub profile: String,
    pub path: String,
    config: Option<config::Config>,
    vault: VaultView,
    plugins: Vec<PluginView>,
}

impl App {
    pub fn new(store: &mut dyn Store) -> App {
        let (profile, path) = store.describe();
        let mut app = App {
            tab: 0,
            rows: Vec::new(),
            selected: 0,
            mode: Mode::Browse,
            status: Status::None,
            profile,
            path,
            config: None,
            vault: VaultView::Missing,
            plugins: Vec::new(),
        };
        app.reload(store);
        app
    }

    pub fn current_tab(&self) -> Tab {
        TABS[self.tab]
    }

    /// Reads everything again and rebuilds the rows, keeping the selection where it was.
    pub fn reload(&mut self, store: &mut dyn Store) {
        match store.config() {
            Ok(c) => self.config = Some(c),
            Err(e) => {
                self.config = None;
                self.status = Status::Error(e);
            }
        }
        self.vault = store.vault();
        self.plugins = store.plugins();
        self.rebuild();
    }

    fn rebuild(&mut self) {
        let src = Sources { config: self.config.as_ref(), vault: &self.vault, plugins: &self.plugins };
        self.rows = rows::build(self.current_tab(), &src);
        if !self.rows.get(self.selected).is_some_and(Row::selectable) {
            self.selected = self.rows.iter().position(Row::selectable).unwrap_or(0);
        }
    }

    pub fn selected_setting(&self) -> Option<&Setting> {
        match self.rows.get(self.selected) {
            Some(Row::Setting(s)) => Some(s),
            _ => None,
        }
    }

    pub fn key(&mut self, key: KeyEvent, store: &mut dyn Store) -> After {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return After::Quit;
        }
        match self.mode.clone() {
            Mode::Browse => self.browse(key, store),
            Mode::Input(input) => {
                self.input(input, key, store);
                After::Continue
            }
            Mode::Choose { options, selected, purpose } => {
                self.choose(options, selected, purpose, key, store);
                After::Continue
            }
            Mode::Confirm { purpose, .. } => {
                self.mode = Mode::Browse;
                if matches!(key.code, KeyCode::Char('y' | 'Y')) {
                    self.finish(purpose, String::new(), store);
                } else {
                    self.status = Status::Info("nothing was changed".into());
                }
                After::Continue
            }
        }
    }

    fn switch(&mut self, tab: usize) {
        self.tab = tab % TABS.len();
        self.selected = 0;
        self.status = Status::None;
        self.rebuild();
    }

    fn step(&mut self, down: bool, times: usize) {
        for _ in 0..times {
            let mut i = self.selected;
            loop {
                let next = if down { i.checked_add(1).filter(|n| *n < self.rows.len()) } else { i.checked_sub(1) };
                match next {
                    Some(n) if self.rows[n].selectable() => {
                        self.selected = n;
                        break;
                    }
                    Some(n) => i = n,
                    None => return,
                }
            }
        }
    }

    fn browse(&mut self, key: KeyEvent, store: &mut dyn Store) -> After {
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return After::Quit,
            KeyCode::Right | KeyCode::Tab => self.switch(self.tab + 1),
            KeyCode::Left | KeyCode::BackTab => self.switch(self.tab + TABS.len() - 1),
            KeyCode::Char(c @ '1'..='7') => self.switch(c as usize - '1' as usize),
            KeyCode::Down | KeyCode::Char('j') => self.step(true, 1),
            KeyCode::Up | KeyCode::Char('k') => self.step(false, 1),
            KeyCode::PageDown => self.step(true, 10),
            KeyCode::PageUp => self.step(false, 10),
            KeyCode::Enter | KeyCode::Char(' ') => return self.activate(store),
            KeyCode::Char('e') => self.edit_name(),
            KeyCode::Delete | KeyCode::Char('x') => self.reset(),
            _ => {}
        }
        After::Continue
    }

    /// Enter on the selected row.
    fn activate(&mut self, store: &mut dyn Store) -> After {
        let Some(row) = self.rows.get(self.selected).cloned() else { return After::Continue };
        match row {
            Row::Action(_, Action::AddModel) => return After::AddModel,
            Row::Action(_, Action::MakeDefault(name)) => {
                self.apply(store, |s| s.set("default_model", &name), "default_model")
            }
            Row::Action(_, Action::CheckModel(name)) => {
                self.status = match store.check_model(&name) {
                    Ok(m) => Status::Info(m),
                    Err(e) => Status::Error(e),
                }
            }
            Row::Action(_, Action::UnlockVault) => {
                self.mode = Mode::Input(Input::new("Vault passphrase".into(), "", true, Purpose::Unlock));
            }
            Row::Action(_, Action::AddVaultKey) => {
                self.mode = Mode::Input(Input::new("New key name".into(), "", false, Purpose::NewVaultKeyName));
            }
            Row::VaultKey(name) => {
                self.mode =
                    Mode::Input(Input::new(format!("New value of `{name}`"), "", true, Purpose::VaultValue(name)));
            }
            Row::Setting(s) => self.edit(s),
            Row::Heading(_) | Row::Note(_) => {}
        }
        After::Continue
    }

    /// Starts editing a setting the way its kind asks.
    fn edit(&mut self, s: Setting) {
        let label = s.field.label;
        match (s.field.kind, &s.target) {
            (Kind::Bool, target) => {
                let now = s.value.as_deref().or(s.field.default) == Some("true");
                let purpose = Purpose::Set(target.clone(), s.field);
                self.mode =
                    Mode::Choose { options: vec!["true".into(), "false".into()], selected: usize::from(now), purpose };
            }
            (Kind::Choice(choices), target) => {
                let now = s.value.as_deref().or(s.field.default);
                let selected = choices.iter().position(|c| Some(*c) == now).unwrap_or(0);
                let options = choices.iter().map(|c| c.to_string()).collect();
                self.mode = Mode::Choose { options, selected, purpose: Purpose::Set(target.clone(), s.field) };
            }
            (Kind::Secret, Target::Vault(key)) => {
                self.mode = Mode::Input(Input::new(
                    format!("{label} (kept in the vault as `{key}`)"),
                    "",
                    true,
                    Purpose::VaultValue(key.clone()),
                ));
            }
            (Kind::Secret, target) => {
                let purpose = Purpose::Set(target.clone(), s.field);
                self.mode = Mode::Input(Input::new(format!("{label} (kept in the vault)"), "", true, purpose));
            }
            (Kind::Hash, Target::Passphrase(channel)) => {
                let prompt = format!("{label} for {channel} (only its hash is written)");
                self.mode = Mode::Input(Input::new(prompt, "", true, Purpose::Passphrase(channel.clone())));
            }
            (Kind::VaultKey, Target::Config(config_key)) => {
                // Enter sets the secret itself; `e` edits the key's name.
                let name = s.value.clone().unwrap_or_else(|| default_key_name(config_key));
                let prompt = format!("{label} (kept in the vault as `{name}`)");
                let purpose = Purpose::ModelKey { config_key: config_key.clone(), name };
                self.mode = Mode::Input(Input::new(prompt, "", true, purpose));
            }
            (_, target) => {
                let hint = match s.field.kind {
                    Kind::List => " (comma-separated)",
                    Kind::Map => " (name=value, comma-separated)",
                    _ => "",
                };
                let initial = s.value.clone().unwrap_or_default();
                let purpose = Purpose::Set(target.clone(), s.field);
                self.mode = Mode::Input(Input::new(format!("{label}{hint}"), &initial, false, purpose));
            }
        }
    }

    /// `e` on a vault key name: edit the name as text.
    fn edit_name(&mut self) {
        if let Some(s) = self.selected_setting().cloned()
            && s.field.kind == Kind::VaultKey
            && let Target::Config(_) = s.target
        {
            let initial = s.value.clone().unwrap_or_default();
            let purpose = Purpose::Set(s.target.clone(), Field { kind: Kind::Text, ..s.field });
            self.mode =
                Mode::Input(Input::new(format!("{} (the vault key's name)", s.field.label), &initial, false, purpose));
        }
    }

    /// Delete: back to the default (a vault key: removed, after a yes).
    fn reset(&mut self) {
        match self.rows.get(self.selected).cloned() {
            Some(Row::VaultKey(name)) => {
                self.mode = Mode::Confirm {
                    question: format!("Remove `{name}` from the vault? (y/n)"),
                    purpose: Purpose::RemoveVaultKey(name),
                };
            }
            Some(Row::Setting(s)) => match &s.target {
                Target::Config(_) | Target::Passphrase(_) | Target::Plugin { .. } if s.value.is_some() => {
                    let target = match &s.target {
                        Target::Passphrase(channel) => Target::Config(format!("channels.{channel}.passphrase")),
                        t => t.clone(),
                    };
                    self.mode = Mode::Confirm {
                        question: format!("Reset {} to its default? (y/n)", s.field.label),
                        purpose: Purpose::Reset(target),
                    };
                }
                Target::Vault(key) if s.in_vault == Some(true) => {
                    self.mode = Mode::Confirm {
                        question: format!("Remove `{key}` from the vault? (y/n)"),
                        purpose: Purpose::RemoveVaultKey(key.clone()),
                    };
                }
                _ => self.status = Status::Info(format!("{} is not set", s.field.label)),
            },
            _ => {}
        }
    }

    fn input(&mut self, mut input: Input, key: KeyEvent, store: &mut dyn Store) {
        match key.code {
            KeyCode::Esc => {
                self.mode = Mode::Browse;
                self.status = Status::Info("nothing was changed".into());
                return;
            }
            KeyCode::Enter => {
                self.mode = Mode::Browse;
                let text = input.text();
                self.finish(input.purpose, text, store);
                return;
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                input.buffer.clear();
                input.cursor = 0;
            }
            KeyCode::Char(c) => {
                input.buffer.insert(input.cursor, c);
                input.cursor += 1;
            }
            KeyCode::Backspace if input.cursor > 0 => {
                input.cursor -= 1;
                input.buffer.remove(input.cursor);
            }
            KeyCode::Delete if input.cursor < input.buffer.len() => {
                input.buffer.remove(input.cursor);
            }
            KeyCode::Left => input.cursor = input.cursor.saturating_sub(1),
            KeyCode::Right => input.cursor = (input.cursor + 1).min(input.buffer.len()),
            KeyCode::Home => input.cursor = 0,
            KeyCode::End => input.cursor = input.buffer.len(),
            _ => {}
        }
        self.mode = Mode::Input(input);
    }

    fn choose(
        &mut self,
        options: Vec<String>,
        selected: usize,
        purpose: Purpose,
        key: KeyEvent,
        store: &mut dyn Store,
    ) {
        let selected = match key.code {
            KeyCode::Esc => {
                self.mode = Mode::Browse;
                self.status = Status::Info("nothing was changed".into());
                return;
            }
            KeyCode::Enter | KeyCode::Char(' ') => {
                self.mode = Mode::Browse;
                let value = options.get(selected).cloned().unwrap_or_default();
                self.finish(purpose, value, store);
                return;
            }
            KeyCode::Down | KeyCode::Char('j') => (selected + 1).min(options.len().saturating_sub(1)),
            KeyCode::Up | KeyCode::Char('k') => selected.saturating_sub(1),
            _ => selected,
        };
        self.mode = Mode::Choose { options, selected, purpose };
    }

    /// Does what an input, a choice or a confirmation was for.
    fn finish(&mut self, purpose: Purpose, text: String, store: &mut dyn Store) {
        match purpose {
            Purpose::Set(Target::Config(key), field) => {
                let value = text.trim().to_string();
                if field.kind == Kind::Map {
                    self.apply(store, |s| set_map(s, &key, &value), &key);
                } else if value.is_empty() {
                    self.apply(store, |s| s.unset(&key), &key);
                } else {
                    self.apply(store, |s| s.set(&key, &value), &key);
                }
            }
            Purpose::Set(Target::Plugin { plugin, key }, _) => {
                let value = text.trim().to_string();
                let what = format!("{key} of plugin `{plugin}`");
                self.apply(
                    store,
                    |s| s.plugin_set(&plugin, &key, Some(value.as_str()).filter(|v| !v.is_empty())),
                    &what,
                );
            }
            Purpose::Set(Target::PluginSecret { plugin, key }, _) => {
                if text.is_empty() {
                    self.status = Status::Info("nothing was changed".into());
                    return;
                }
                match store.plugin_secret(&plugin, &key, &text) {
                    Ok(vault_key) => {
                        self.reload(store);
                        self.status = Status::Info(format!("stored in the vault as `{vault_key}`"));
                    }
                    Err(e) => self.status = Status::Error(e),
                }
            }
            Purpose::Set(target, _) => self.status = Status::Error(format!("{target:?} cannot be typed in")),
            Purpose::VaultValue(key) => {
                if text.is_empty() {
                    self.status = Status::Info("nothing was changed".into());
                    return;
                }
                let what = format!("`{key}` in the vault");
                self.apply(store, |s| s.vault_set(&key, &text), &what);
            }
            Purpose::ModelKey { config_key, name } => {
                if text.is_empty() {
                    self.status = Status::Info("nothing was changed".into());
                    return;
                }
                let result = store.vault_set(&name, &text).and_then(|()| {
                    let named = self.config.as_ref().and_then(|c| c.get(&config_key).ok()).is_some();
                    if named { Ok(()) } else { store.set(&config_key, &name) }
                });
                let what = format!("`{name}` in the vault");
                self.apply(store, |_| result, &what);
            }
            Purpose::NewVaultKeyName => {
                let name = text.trim().to_string();
                if name.is_empty() {
                    self.status = Status::Info("nothing was changed".into());
                    return;
                }
                self.mode = Mode::Input(Input::new(format!("Value of `{name}`"), "", true, Purpose::VaultValue(name)));
            }
            Purpose::Unlock => match store.unlock(&text) {
                Ok(()) => {
                    self.reload(store);
                    self.status = Status::Info("the vault is unlocked".into());
                }
                Err(e) => self.status = Status::Error(e),
            },
            Purpose::Passphrase(channel) => {
                if text.is_empty() {
                    self.status = Status::Info("nothing was changed".into());
                    return;
                }
                let what = format!("the passphrase of {channel} (its hash)");
                self.apply(store, |s| s.channel_passphrase(&channel, &text), &what);
            }
            Purpose::RemoveVaultKey(key) => {
                let what = format!("removed `{key}` from the vault");
                match store.vault_remove(&key) {
                    Ok(()) => {
                        self.reload(store);
                        self.status = Status::Info(what);
                    }
                    Err(e) => self.status = Status::Error(e),
                }
            }
            Purpose::Reset(target) => match target {
                Target::Config(key) => self.apply(store, |s| s.unset(&key), &key),
                Target::Plugin { plugin, key } => {
                    let what = format!("{key} of plugin `{plugin}`");
                    self.apply(store, |s| s.plugin_set(&plugin, &key, None), &what);
                }
                _ => {}
            },
        }
    }

    /// Runs one change; on success everything is read again and the status says what was
    /// saved, on failure the store's error is shown and nothing else changes.
    fn apply(&mut self, store: &mut dyn Store, change: impl FnOnce(&mut dyn Store) -> Result<(), String>, what: &str) {
        match change(store) {
            Ok(()) => {
                self.reload(store);
                if !matches!(self.status, Status::Error(_)) || self.config.is_some() {
                    self.status = Status::Info(format!("saved {what}"));
                }
            }
            Err(e) => self.status = Status::Error(e),
        }
    }

    /// After the model setup ran outside the screen.
    pub fn added_model(&mut self, store: &mut dyn Store, result: Result<String, String>) {
        self.reload(store);
        self.status = match result {
            Ok(m) => Status::Info(m),
            Err(e) => Status::Error(e),
        };
    }
}

/// A map field typed as `name=value, name=value`: names no longer given are removed, the
/// rest set one by one (each change checked).
fn set_map(store: &mut dyn Store, key: &str, typed: &str) -> Result<(), String> {
    let mut wanted = Vec::new();
    for pair in typed.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(format!("`{pair}` is not `name=value`"));
        };
        wanted.push((name.trim().to_string(), value.trim().to_string()));
    }
    let now = store.config()?.get(key).ok();
    if let Some(serde_json::Value::Object(map)) = &now {
        for name in map.keys() {
            if !wanted.iter().any(|(n, _)| n == name) {
                store.unset(&format!("{key}.{name}"))?;
            }
        }
    }
    for (name, value) in &wanted {
        store.set(&format!("{key}.{name}"), value)?;
    }
    Ok(())
}

/// The vault key name a model entry's key gets when none is named (`models.work.key` →
/// `WORK_API_KEY`).
fn default_key_name(config_key: &str) -> String {
    let entry = config_key.strip_prefix("models.").and_then(|r| r.strip_suffix(".key")).unwrap_or(config_key);
    let mut name: String =
        entry.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    name.push_str("_API_KEY");
    name
}
