//! `pyra config path|get|set|unset|schema`: `$PYRA_HOME/config.yaml`, read and changed one value
//! at a time (any declared field, `config::fields`), and its JSON Schema for editors. Every
//! change is checked as a whole file (the engine's checks, then provider ids against the
//! registry) before anything is written; an invalid result writes nothing. Secrets are
//! refused: keys live in the vault, the file only names them.

use clap::Subcommand;
use config::{Config, ConfigError};
use llm::providers;
use serde_json::Value as Json;
use syntax::Diagnostic;

use crate::failure::{Failure, exit};
use crate::home::Home;
use term::output::{color_stderr, err, out};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print where config.yaml is (it may not exist yet).
    Path,
    /// Print one value: `default_model`, `models.NAME.model`,
    /// `models.NAME.options.temperature`, … (a map or a list prints as JSON).
    Get {
        /// A dotted key.
        key: String,
    },
    /// Change one value; the whole file is checked first and nothing is written if the
    /// result is invalid. Comments and layout are kept. Never give a secret here: store it
    /// with `pyra vault set NAME` and set `models.ENTRY.key NAME`.
    Set {
        /// A dotted key, e.g. `default_model` or `models.local.options.temperature`.
        key: String,
        /// The new value, typed by the key's field: numbers stay numbers, a list is
        /// comma-separated.
        value: String,
    },
    /// Remove one value, back to its default; checked like `set` (nothing is written if
    /// the result is invalid, e.g. a required value).
    Unset {
        /// A dotted key, e.g. `chat.recall` or `telemetry.headers.x-scope`.
        key: String,
    },
    /// Print the JSON Schema of config.yaml (for editors), made from the declared fields.
    Schema,
}

/// Exit codes and an example, under `pyra config --help`.
pub const CONFIG_HELP: &str = "Keys: default_model, models.NAME.{name,provider,model,base_url,key},
models.NAME.options.{temperature,max_tokens,context_window,first_token_timeout,idle_timeout}
(timeouts in seconds),
models.NAME.prices.{prompt,completion,cached} (USD per million tokens),
chat.{recall,recall_category,tools} (what `pyra chat` brings to each turn; tools as
a comma-separated list: `pyra config set chat.tools recall,get_weather`),
daemon.{skill_dirs,max_runs} (extra folders of skills the daemon arms; runs at once),
daemon.webhook.{listen,rate_per_minute,burst} (the local webhook, loopback only; setting
one of them turns it on),
telemetry.{endpoint,service_name,export_content}, telemetry.headers.NAME (OpenTelemetry
export of every run's trace; a credential header as `vault:KEY`),
mcp.serve.skills, mcp.serve.http.listen (skills exposed over MCP),
memory.embeddings.{provider,model,path,base_url,key,dimensions,batch,timeout,fusion,rrf_k,
vector_weight,min_similarity,quantize,exclude_categories} (vector memory search),
channels.{telegram,signal,matrix}.FIELD, channels.CHANNEL.recipients.NAME (tokens live in
the vault; a passphrase is set with `pyra channels passphrase CHANNEL`).
A value is typed by its field: numbers stay numbers, true/false, lists comma-separated;
`pyra config unset KEY` puts one back to its default.
`pyra config schema` prints the JSON Schema of the file (schemas/config.schema.json),
for an editor's completion: `# yaml-language-server: $schema=…` at the top of the file.

Exit codes: 0 ok, 1 the file (or the change) is invalid or the value is not set,
2 unknown key or model entry.";

pub fn run(home: &Home, command: ConfigCommand) -> Result<u8, Failure> {
    match command {
        ConfigCommand::Path => {
            out(&format!("{}\n", Config::file_path(&home.root).display()));
            Ok(exit::OK)
        }
        ConfigCommand::Get { key } => {
            home.warn_permissions();
            let config = load(home)?;
            let value = config.get(&key).map_err(|e| failure(e, "config.yaml"))?;
            let text = match value {
                Json::String(s) => s,
                Json::Object(_) | Json::Array(_) => serde_json::to_string_pretty(&value).unwrap_or_default(),
                other => other.to_string(),
            };
            out(&format!("{text}\n"));
            Ok(exit::OK)
        }
        ConfigCommand::Set { key, value } => {
            home.warn_permissions();
            let config = load_unchecked(home)?;
            let changed = config
                .set(&key, &value)
                .and_then(|new| check_providers(&new).map(|()| new))
                .map_err(|e| failure(e, "the change would make config.yaml invalid; nothing was written"))?;
            if changed.text() != config.text() || !config.exists() {
                save(home, &changed)?;
            }
            err(&format!("set {key}\n"));
            Ok(exit::OK)
        }
        ConfigCommand::Unset { key } => {
            home.warn_permissions();
            let config = load_unchecked(home)?;
            let changed = config
                .unset(&key)
                .and_then(|new| check_providers(&new).map(|()| new))
                .map_err(|e| failure(e, "the change would make config.yaml invalid; nothing was written"))?;
            if changed.text() != config.text() {
                save(home, &changed)?;
            }
            err(&format!("unset {key}\n"));
            Ok(exit::OK)
        }
        ConfigCommand::Schema => {
            out(&lang::schema::to_pretty(&config::schema::schema()));
            Ok(exit::OK)
        }
    }
}

/// Reads config.yaml and checks it fully (provider ids included). Errors are printed as
/// located snippets; the failure says what to do.
pub fn load(home: &Home) -> Result<Config, Failure> {
    let config = load_unchecked(home)?;
    check_providers(&config).map_err(|e| failure(e, "config.yaml is invalid; fix it and try again"))?;
    Ok(config)
}

/// Reads config.yaml with the engine's checks only (so an edit can fix a provider id).
fn load_unchecked(home: &Home) -> Result<Config, Failure> {
    Config::load(&home.root).map_err(|e| failure(e, "config.yaml is invalid; fix it and try again"))
}

/// Writes config.yaml atomically, 0600, creating the home (0700) if needed.
pub fn save(home: &Home, config: &Config) -> Result<(), Failure> {
    home.ensure_dir(&home.root).map_err(|e| Failure::failed(format!("cannot create {}: {e}", home.root.display())))?;
    crate::home::write_private(config.path(), config.text().as_bytes())
        .map_err(|e| Failure::failed(format!("cannot write {}: {e}", config.path().display())))
}

/// What the engine cannot check: provider ids exist in the registry, and entries of the
/// catch-all `openai-compatible` give a base URL.
pub fn check_providers(config: &Config) -> Result<(), ConfigError> {
    config.validate_with(|id| match providers::get(id) {
        Some(_) => Ok(()),
        None => Err(providers::suggest(id).map_or_else(
            || format!("the providers are {}", providers::ids().collect::<Vec<_>>().join(", ")),
            |s| format!("did you mean `{s}`?"),
        )),
    })?;
    let missing: Vec<Diagnostic> = config
        .models
        .iter()
        .filter(|m| m.provider == providers::OPENAI_COMPATIBLE && m.base_url.is_none())
        .map(|m| {
            Diagnostic::error("missing-key", format!("model entry `{}` has no `base_url`", m.name))
                .at_opt(config.entry_span(&m.name, "provider"))
                .with_label("`openai-compatible` has no default URL")
                .with_help("add `base_url: http://HOST:PORT/v1`")
        })
        .collect();
    if missing.is_empty() { Ok(()) } else { Err(config.invalid(missing)) }
}

/// The failure for a config error: located errors go to stderr as snippets, and `summary`
/// becomes the final line; unknown keys are usage errors.
fn failure(e: ConfigError, summary: &str) -> Failure {
    match &e {
        ConfigError::Invalid(_) => {
            err(&format!("{}\n\n", e.render(color_stderr())));
            Failure::failed(summary)
        }
        ConfigError::Key { .. } => Failure::usage(e.render(false)),
        _ => Failure::failed(e.render(false)),
    }
}
