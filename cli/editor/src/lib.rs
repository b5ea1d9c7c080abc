//! `pyra config`'s full-screen editor (ratatui on crossterm). Tabs for models, chat,
//! memory, the daemon, channels, plugins and the vault, each rendered from the declared
//! settings (`config::fields`) and, for plugins, from each built-in's declared fields:
//! a setting declared anywhere appears here without code in this crate.
//!
//! **Invariant:** the editor writes nothing itself. Every change goes through the
//! [`Store`] the CLI gives it, which checks the whole result first (the same checked,
//! minimal-edit path as `pyra config set`); a refused change shows the located error and
//! leaves the file as it was. Secrets are typed masked and go to the vault, never to
//! `config.yaml`; vault values are never shown.
//!
//! `store.rs` (what the CLI provides), `rows.rs` (each tab's rows from the declarations),
//! `app.rs` (state and keys, pure), `view.rs` (drawing), `tests.rs` (the app on an
//! in-memory store, drawn on ratatui's test backend).

mod app;
mod rows;
mod store;
#[cfg(test)]
mod tests;
mod view;

use ratatui::crossterm::event::{self, Event, KeyEventKind};

pub use store::{PluginField, PluginView, Store, VaultView};

use app::{After, App};

/// Opens the editor on the terminal and runs it until the person quits. The terminal is
/// restored on every way out (a panic included: ratatui's hook restores it first).
pub fn run(store: &mut dyn Store) -> std::io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let mut app = App::new(store);
    let result = (|| -> std::io::Result<()> {
        loop {
            terminal.draw(|frame| view::draw(frame, &app))?;
            match event::read()? {
                Event::Key(key) if key.kind == KeyEventKind::Press => match app.key(key, store) {
                    After::Continue => {}
                    After::Quit => return Ok(()),
                    After::AddModel => {
                        ratatui::restore();
                        let result = store.add_model();
                        terminal = ratatui::try_init()?;
                        terminal.clear()?;
                        app.added_model(store, result);
                    }
                },
                _ => {}
            }
        }
    })();
    ratatui::restore();
    result
}
