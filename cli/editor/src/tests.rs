//! The editor on an in-memory store, drawn on ratatui's test backend: keys in, the
//! store's state and the screen's text out.

use std::collections::BTreeMap;
use std::path::Path;

use config::Config;
use config::fields::{Field, Kind};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::app::{After, App, Mode, Status};
use crate::store::{PluginField, PluginView, Store, VaultView};
use crate::view;

struct Mem {
    text: String,
    vault: BTreeMap<String, String>,
    locked: bool,
    plugin_settings: BTreeMap<String, String>,
}

const START: &str =
    "# my settings\ndefault_model: local\nmodels:\n  - name: local\n    provider: ollama\n    model: llama3.2\n";

impl Mem {
    fn new() -> Mem {
        Mem { text: START.into(), vault: BTreeMap::new(), locked: false, plugin_settings: BTreeMap::new() }
    }

    fn parsed(&self) -> Config {
        Config::from_text(Path::new("config.yaml"), &self.text, true).unwrap()
    }
}

impl Store for Mem {
    fn config(&mut self) -> Result<Config, String> {
        Config::from_text(Path::new("config.yaml"), &self.text, true).map_err(|e| e.render(false))
    }
    fn set(&mut self, key: &str, raw: &str) -> Result<(), String> {
        self.text = self.parsed().set(key, raw).map_err(|e| e.render(false))?.text().to_string();
        Ok(())
    }
    fn unset(&mut self, key: &str) -> Result<(), String> {
        self.text = self.parsed().unset(key).map_err(|e| e.render(false))?.text().to_string();
        Ok(())
    }
    fn describe(&self) -> (String, String) {
        ("default".into(), "config.yaml".into())
    }
    fn vault(&mut self) -> VaultView {
        if self.locked { VaultView::Locked } else { VaultView::Open(self.vault.keys().cloned().collect()) }
    }
    fn unlock(&mut self, passphrase: &str) -> Result<(), String> {
        if passphrase == "right" {
            self.locked = false;
            Ok(())
        } else {
            Err("wrong passphrase".into())
        }
    }
    fn vault_set(&mut self, key: &str, value: &str) -> Result<(), String> {
        self.vault.insert(key.into(), value.into());
        Ok(())
    }
    fn vault_remove(&mut self, key: &str) -> Result<(), String> {
        self.vault.remove(key).map(|_| ()).ok_or_else(|| "no such key".into())
    }
    fn plugins(&mut self) -> Vec<PluginView> {
        let field = |f: Field, value: Option<&String>| PluginField {
            field: f,
            value: value.cloned(),
            vault_key: f.kind.is_secret().then(|| "plugin:web:api_key".to_string()),
        };
        vec![PluginView {
            name: "web".into(),
            kind: "builtin websearch".into(),
            enabled: true,
            fields: vec![
                field(
                    Field::new("backend", "Backend", Kind::Choice(&["searxng", "brave"]), "which engine")
                        .default("searxng"),
                    self.plugin_settings.get("backend"),
                ),
                field(Field::new("api_key", "API key", Kind::Secret, "brave's key"), None),
            ],
            problem: None,
        }]
    }
    fn plugin_set(&mut self, _plugin: &str, key: &str, raw: Option<&str>) -> Result<(), String> {
        match raw {
            Some(v) => self.plugin_settings.insert(key.into(), v.into()),
            None => self.plugin_settings.remove(key),
        };
        Ok(())
    }
    fn plugin_secret(&mut self, _plugin: &str, key: &str, value: &str) -> Result<String, String> {
        let vault_key = format!("plugin:web:{key}");
        self.vault.insert(vault_key.clone(), value.into());
        Ok(vault_key)
    }
    fn channel_passphrase(&mut self, channel: &str, _passphrase: &str) -> Result<(), String> {
        Err(format!("no hashing in this test ({channel})"))
    }
    fn check_model(&mut self, entry: &str) -> Result<String, String> {
        Ok(format!("{entry} answers"))
    }
    fn add_model(&mut self) -> Result<String, String> {
        Err("not on a terminal".into())
    }
}

fn press(app: &mut App, store: &mut Mem, code: KeyCode) -> After {
    app.key(KeyEvent::new(code, KeyModifiers::NONE), store)
}

fn typed(app: &mut App, store: &mut Mem, text: &str) {
    for c in text.chars() {
        press(app, store, KeyCode::Char(c));
    }
}

fn screen(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    terminal.draw(|f| view::draw(f, app)).unwrap();
    let buffer = terminal.backend().buffer().clone();
    (0..buffer.area.height)
        .map(|y| {
            (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Moves the selection to the setting with this label.
fn select(app: &mut App, store: &mut Mem, label: &str) {
    for _ in 0..200 {
        if app.selected_setting().is_some_and(|s| s.field.label == label) {
            return;
        }
        press(app, store, KeyCode::Down);
    }
    panic!("no setting {label}:\n{}", screen(app));
}

#[test]
fn a_model_option_is_changed_and_the_comment_stays() {
    let mut store = Mem::new();
    let mut app = App::new(&mut store);
    assert!(screen(&app).contains("local — ollama / llama3.2  [default]"), "{}", screen(&app));
    select(&mut app, &mut store, "Temperature");
    press(&mut app, &mut store, KeyCode::Enter);
    typed(&mut app, &mut store, "0.4");
    press(&mut app, &mut store, KeyCode::Enter);
    assert_eq!(app.status, Status::Info("saved models.local.options.temperature".into()));
    assert!(store.text.starts_with("# my settings\n"), "{}", store.text);
    assert_eq!(store.parsed().models[0].options.temperature, Some(0.4));
}

#[test]
fn an_invalid_value_shows_the_located_error_and_writes_nothing() {
    let mut store = Mem::new();
    let mut app = App::new(&mut store);
    select(&mut app, &mut store, "Temperature");
    press(&mut app, &mut store, KeyCode::Enter);
    typed(&mut app, &mut store, "7");
    press(&mut app, &mut store, KeyCode::Enter);
    let Status::Error(e) = &app.status else { panic!("{:?}", app.status) };
    assert!(e.contains("temperature"), "{e}");
    assert_eq!(store.text, START);
    assert!(screen(&app).contains("not saved"), "{}", screen(&app));
}

#[test]
fn tabs_render_declared_sections_and_a_choice_is_picked() {
    let mut store = Mem::new();
    let mut app = App::new(&mut store);
    press(&mut app, &mut store, KeyCode::Char('3'));
    let s = screen(&app);
    assert!(s.contains("Embeddings") && s.contains("Quantize"), "{s}");
    press(&mut app, &mut store, KeyCode::Char('5'));
    assert!(screen(&app).contains("Bot API URL"));
    press(&mut app, &mut store, KeyCode::Char('6'));
    select(&mut app, &mut store, "Backend");
    press(&mut app, &mut store, KeyCode::Enter);
    assert!(matches!(app.mode, Mode::Choose { .. }));
    press(&mut app, &mut store, KeyCode::Down);
    press(&mut app, &mut store, KeyCode::Enter);
    assert_eq!(store.plugin_settings.get("backend").map(String::as_str), Some("brave"));
}

#[test]
fn secrets_go_to_the_vault_masked() {
    let mut store = Mem::new();
    let mut app = App::new(&mut store);
    select(&mut app, &mut store, "API key");
    press(&mut app, &mut store, KeyCode::Enter);
    typed(&mut app, &mut store, "sk-test-123");
    assert!(!screen(&app).contains("sk-test-123"));
    press(&mut app, &mut store, KeyCode::Enter);
    assert_eq!(store.vault.get("LOCAL_API_KEY").map(String::as_str), Some("sk-test-123"));
    assert!(store.text.contains("key: LOCAL_API_KEY") && !store.text.contains("sk-test"), "{}", store.text);
    press(&mut app, &mut store, KeyCode::Char('7'));
    assert!(screen(&app).contains("LOCAL_API_KEY"));
}

#[test]
fn a_locked_vault_is_unlocked_in_the_editor_and_a_key_removed_after_a_yes() {
    let mut store = Mem::new();
    store.vault.insert("OLD".into(), "v".into());
    store.locked = true;
    let mut app = App::new(&mut store);
    press(&mut app, &mut store, KeyCode::Char('7'));
    assert!(screen(&app).contains("Unlock the vault"));
    press(&mut app, &mut store, KeyCode::Enter);
    typed(&mut app, &mut store, "wrong");
    press(&mut app, &mut store, KeyCode::Enter);
    assert_eq!(app.status, Status::Error("wrong passphrase".into()));
    press(&mut app, &mut store, KeyCode::Enter);
    typed(&mut app, &mut store, "right");
    press(&mut app, &mut store, KeyCode::Enter);
    press(&mut app, &mut store, KeyCode::Down);
    press(&mut app, &mut store, KeyCode::Delete);
    press(&mut app, &mut store, KeyCode::Char('n'));
    assert!(store.vault.contains_key("OLD"));
    press(&mut app, &mut store, KeyCode::Delete);
    press(&mut app, &mut store, KeyCode::Char('y'));
    assert!(!store.vault.contains_key("OLD"));
}

#[test]
fn quit_keys() {
    let mut store = Mem::new();
    let mut app = App::new(&mut store);
    assert_eq!(press(&mut app, &mut store, KeyCode::Char('q')), After::Quit);
    assert_eq!(app.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL), &mut store), After::Quit);
}
