//! `pyra setup` and `pyra models`: adding a language model to `config.yaml` and asking a
//! configured server what it offers.
//!
//! `setup` is interactive on a terminal (a provider from the registry, the entry's name,
//! the base URL, the key, the model from the server's list, whether it is the default) and
//! scriptable with flags (`--provider`, `--name`, `--model`, `--base-url`, `--key-stdin`,
//! `--default`, `--yes`). Either way the server is asked for its models with the key before
//! anything is written (`--no-check` skips that, for offline setup); a failing check writes
//! nothing. The key goes to the vault (created with the same passphrase path as `pyra vault
//! init` when there is none) and into request headers, never into config.yaml, argv, logs
//! or output (DESIGN §11). Running the same setup again leaves config.yaml byte-identical.
//!
//! `models` resolves an entry the way runs do (`NAME`, `NAME/model-id`, or the default),
//! reads its key through the runs' vault path, and prints the server's models.

use std::io::{BufRead, IsTerminal};
use std::sync::Arc;
use std::time::Duration;

use age::secrecy::{ExposeSecret, SecretString};
use config::{ConfigError, ModelEntry, ResolveError};
use llm::client::{self, Endpoint, LlmError, Policy};
use llm::providers::{self, OPENAI_COMPATIBLE, PROVIDERS, Provider};
use runtime::secrets::{Masker, SecretSource};
use security::audit::{Event, SecurityLog};
use tokio_util::sync::CancellationToken;
use vault::{Unlock, Unlocked, Vault};

use crate::failure::{Failure, exit};
use crate::home::Home;
use crate::{config_cmd, vault_cmd};
use term::output::{color_stderr, err, out};

mod models;
#[cfg(test)]
mod tests;
mod ui;
pub(crate) mod vault_access;

pub use models::models;
pub(crate) use models::{audit_read, list_models, scrub};
use ui::*;
use vault_access::*;

/// At most this many of the server's models are shown while setting up.
const SHOWN_MODELS: usize = 20;

#[derive(Debug, Default, clap::Args)]
pub struct SetupArgs {
    /// The entry's name, what skills and `with.model` refer to (default: the provider id).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// A provider id (listed below).
    #[arg(long, value_name = "ID")]
    pub provider: Option<String>,
    /// The provider's model id (default: the provider's default model, or the server's
    /// only model).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// The server's base URL (needed for `openai-compatible`; other providers have one).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Read the API key from standard input (a hidden prompt on a terminal) and store it in
    /// the vault. Keys are never taken from the command line.
    #[arg(long)]
    pub key_stdin: bool,
    /// Make this entry the default model (the first entry always is).
    #[arg(long)]
    pub default: bool,
    /// Ask nothing: use the flags as given.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Do not ask the server for its models (offline setup).
    #[arg(long)]
    pub no_check: bool,
}

/// Under `pyra setup --help`: the providers, examples and exit codes.
pub fn setup_help() -> String {
    let width = PROVIDERS.iter().map(|p| p.id.len()).max().unwrap_or(0);
    let list: String = PROVIDERS.iter().map(|p| format!("  {:width$}  {}\n", p.id, p.name)).collect();
    format!(
        "Providers:\n{list}
Examples:
  pyra setup
  pyra setup --name local --provider ollama --model llama3.2 --default --yes
  printf %s \"$KEY\" | pyra setup --name myserver --provider openai-compatible \\
      --base-url http://localhost:8000/v1 --model MODEL --key-stdin --default --yes

With no terminal to ask on, the vault is unlocked (or created) with PYRA_VAULT_PASSPHRASE or
PYRA_VAULT_IDENTITY. Running the same setup again changes nothing.

Exit codes: 0 saved (or already so), 1 the server check failed or a needed key is missing,
2 usage error (unknown provider, missing flag)."
    )
}

/// Under `pyra models --help`.
pub const MODELS_HELP: &str = "Exit codes: 0 listed, 1 no model configured or the server failed, 2 unknown entry.";

/// `pyra setup`.
pub fn setup(home: &Home, args: SetupArgs) -> Result<u8, Failure> {
    let interactive = !args.yes && std::io::stdin().is_terminal();
    if !interactive && args.provider.is_none() {
        let why = if args.yes { "--yes asks nothing, so it needs" } else { "there is no terminal to ask on: pass" };
        return Err(Failure::usage(format!(
            "{why} --provider ID (with --name NAME, --model MODEL, --key-stdin as needed; see `pyra setup --help`), \
             or run `pyra setup` on a terminal"
        )));
    }
    home.warn_permissions();
    let config = config_cmd::load(home)?;
    let ui = Ui { interactive };
    // A hidden prompt reads /dev/tty, so a person can be asked for the vault passphrase even
    // when the key arrives on standard input.
    let can_prompt = std::io::stdin().is_terminal() || std::io::stderr().is_terminal();

    let provider = match args.provider.as_deref() {
        Some(id) => provider_for(id)?,
        None => ui.choose_provider()?,
    };
    let name = match args.name.as_deref() {
        Some(name) => check_name(name).map_err(Failure::usage)?,
        None if interactive => ui.ask_name(provider.id)?,
        None => provider.id.to_string(),
    };
    let existing = config.entry(&name).filter(|e| e.provider == provider.id);
    if let Some(other) = config.entry(&name).filter(|e| e.provider != provider.id) {
        err(&format!("note: entry `{name}` (provider `{}`) will be replaced\n", other.provider));
    }

    let default_url = existing.and_then(|e| e.base_url.clone()).unwrap_or_else(|| provider.base_url.to_string());
    let base_url = match args.base_url.as_deref() {
        Some(url) => normalize_url(url).map_err(Failure::usage)?,
        None if interactive => ui.ask_url(provider, &default_url)?,
        None => default_url,
    };
    if base_url.is_empty() {
        return Err(Failure::usage(format!("provider `{}` needs --base-url URL: {}", provider.id, provider.docs)));
    }

    // The key: from stdin or a prompt (new), or the one the vault already holds.
    let key_name = existing.and_then(|e| e.key.clone()).unwrap_or_else(|| default_key_name(provider, &name));
    let mut vault = VaultAccess::new(home, can_prompt);
    let named_key = existing.is_some_and(|e| e.key.is_some());
    let (key, new_key) = if args.key_stdin {
        (Some(vault_cmd::read_value(&key_name)?), true)
    } else if interactive {
        ui.ask_key(provider, &key_name, named_key, &mut vault)?
    } else if provider.needs_key || named_key {
        (Some(vault.read_needed(provider, &name, &key_name)?), false)
    } else {
        (None, false)
    };
    if key.as_ref().is_some_and(|k| k.expose_secret().trim().is_empty()) {
        return Err(Failure::usage("the key is empty"));
    }
    if new_key {
        vault.prepare_write()?;
    }

    // The check: the server's models, with the key.
    let endpoint =
        Endpoint { format: provider.format, base_url: base_url.clone(), key: key.clone(), dialect: provider.dialect };
    let listed = if args.no_check {
        None
    } else {
        err(&format!("asking {base_url} for its models…\n"));
        match list_models(&endpoint) {
            Ok(models) => {
                err(&format!("✓ the server answered: {} model(s)\n", models.len()));
                Some(models)
            }
            Err(e) => {
                let mut why = scrub(&e.to_string(), key.as_ref().map(|k| (key_name.as_str(), k)));
                // A local server that does not answer is most often not running.
                let local = provider.base_url.is_empty() || provider.base_url.starts_with("http://localhost");
                if local && matches!(e, LlmError::Transient(_)) {
                    why.push_str(&format!("\n  help: {}", provider.docs));
                }
                if interactive {
                    err(&format!("✗ {why}\n"));
                    if !ui.confirm("Save the entry anyway, without the check?", false)? {
                        return Err(Failure::failed("nothing was written"));
                    }
                    None
                } else {
                    return Err(Failure::failed(format!(
                        "{why}\n  nothing was written; check the base URL and the key, or add --no-check to save \
                         without asking the server"
                    )));
                }
            }
        }
    };

    // The model.
    let preferred = args
        .model
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .or_else(|| existing.map(|e| e.model.clone()))
        .or_else(|| Some(provider.default_model.to_string()).filter(|m| !m.is_empty()));
    let model = if interactive {
        ui.choose_model(preferred.as_deref(), listed.as_deref(), &name)?
    } else {
        pick_model(preferred, listed.as_deref(), args.no_check)?
    };
    if let Some(models) = &listed
        && !lists(models, &model)
    {
        err(&format!(
            "warning: the server does not list `{model}`; it may still work (some servers load models on demand); \
             `pyra models {name}` shows what it offers\n"
        ));
    }

    // The default.
    let first = config.models.is_empty() || config.default_model.is_none();
    let already = config.default_model.as_deref() == Some(name.as_str());
    let make_default = args.default
        || first
        || (interactive && !already && ui.confirm(&format!("Make `{name}` the default model?"), false)?);

    // The entry, checked as a whole file; then the key (the entry is useless without it),
    // then the file.
    let key_field = match existing.and_then(|e| e.key.clone()) {
        Some(k) => Some(k),
        // A provider that needs a key reads its own key name by default; otherwise the
        // entry names the key, so runs send it.
        None if new_key && !(provider.needs_key && provider.key_name == Some(key_name.as_str())) => {
            Some(key_name.clone())
        }
        None => None,
    };
    let entry = ModelEntry {
        name: name.clone(),
        provider: provider.id.to_string(),
        model: model.clone(),
        base_url: Some(base_url).filter(|u| u != provider.base_url),
        key: key_field,
        options: existing.map(|e| e.options).unwrap_or_default(),
        // Prices are for the entry's own model.
        prices: existing.filter(|e| e.model == model).and_then(|e| e.prices),
    };
    let changed = config
        .set_entry(&entry, make_default)
        .and_then(|new| config_cmd::check_providers(&new).map(|()| new))
        .map_err(config_failure)?;
    if new_key && let Some(value) = &key {
        vault.store(&key_name, value)?;
    }
    let is_default = changed.default_model.as_deref() == Some(name.as_str());
    let what = format!("`{name}` ({}, {model})", provider.id);
    let role = if is_default { ", the default model" } else { "" };
    if changed.text() == config.text() && config.exists() {
        err(&format!("{what} is already set up so{role}; {} is unchanged\n", changed.path().display()));
    } else {
        config_cmd::save(home, &changed)?;
        err(&format!("saved {what} in {}{role}\n", changed.path().display()));
    }
    let run_hint = if is_default {
        "pyra run examples/ask.yaml".to_string()
    } else {
        format!("pyra run examples/ask.yaml --input model={name}")
    };
    err(&format!("next: `pyra models {name}` lists its models; `{run_hint}` asks it a question\n"));
    Ok(exit::OK)
}

/// The provider with this id, or a usage error with the closest id.
fn provider_for(id: &str) -> Result<&'static Provider, Failure> {
    providers::get(id).ok_or_else(|| {
        let help = match providers::suggest(id) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("the providers are {}", providers::ids().collect::<Vec<_>>().join(", ")),
        };
        Failure::usage(format!("unknown provider `{id}`\n  help: {help}"))
    })
}

/// An entry name as config.yaml accepts it.
fn check_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    let ok =
        !name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(name.to_string())
    } else {
        Err(format!("`{name}` is not a model name: use letters, digits, `_`, `.` and `-`"))
    }
}

/// A base URL as config.yaml stores it: http(s), no trailing slash.
fn normalize_url(url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
    if !scheme_ok || url.contains(char::is_whitespace) || url.len() <= "https://".len() {
        return Err(format!("`{url}` is not a base URL: give http://HOST:PORT/… or https://…"));
    }
    Ok(url.to_string())
}

/// The vault key an entry's API key is stored under: the provider's, or one named after the
/// entry for the catch-all (each such entry is a different server) and for providers that
/// name none.
fn default_key_name(provider: &Provider, entry: &str) -> String {
    match provider.key_name {
        Some(key) if provider.id != OPENAI_COMPATIBLE => key.to_string(),
        _ => {
            let stem: String =
                entry.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
            let stem = if stem.starts_with(|c: char| c.is_ascii_uppercase()) { stem } else { format!("MODEL_{stem}") };
            format!("{stem}_API_KEY")
        }
    }
}

/// Whether the server's list has `model` (Ollama lists `llama3.2` as `llama3.2:latest`).
fn lists(models: &[String], model: &str) -> bool {
    models.iter().any(|m| same_model(m, model))
}

pub(crate) fn same_model(listed: &str, model: &str) -> bool {
    listed == model || listed.strip_suffix(":latest") == Some(model) || model.strip_suffix(":latest") == Some(listed)
}

/// The model when nobody is asked: the preferred one, or the server's only one.
fn pick_model(preferred: Option<String>, listed: Option<&[String]>, no_check: bool) -> Result<String, Failure> {
    if let Some(model) = preferred {
        return Ok(model);
    }
    match listed {
        Some([only]) => {
            err(&format!("using the server's only model, `{only}`\n"));
            Ok(only.clone())
        }
        Some([]) => Err(Failure::failed("the server lists no models: load one on the server, or pass --model MODEL")),
        Some(models) => {
            let shown: Vec<&str> = models.iter().take(SHOWN_MODELS).map(String::as_str).collect();
            let more = if models.len() > shown.len() {
                format!(" (and {} more)", models.len() - shown.len())
            } else {
                String::new()
            };
            Err(Failure::usage(format!(
                "this provider has no default model and the server offers {}: {}{more}\n  help: pass --model MODEL",
                models.len(),
                shown.join(", ")
            )))
        }
        None if no_check => Err(Failure::usage(
            "this provider has no default model: pass --model MODEL (with --no-check the server is not asked)",
        )),
        None => Err(Failure::usage("this provider has no default model: pass --model MODEL")),
    }
}

/// A config error from an edit: located snippets on stderr, then the summary.
fn config_failure(e: ConfigError) -> Failure {
    match e {
        ConfigError::Invalid(_) => {
            err(&format!("{}\n\n", e.render(color_stderr())));
            Failure::failed("the entry would make config.yaml invalid; nothing was written")
        }
        other => Failure::failed(other.render(false)),
    }
}
