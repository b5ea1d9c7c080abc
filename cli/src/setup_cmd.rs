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

use crate::home::Home;
use crate::output::{color_stderr, err, out};
use crate::{Failure, config_cmd, exit, vault_cmd};

/// At most this many of the server's models are shown while setting up.
const SHOWN_MODELS: usize = 20;

#[derive(Debug, clap::Args)]
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
    crate::runner::warn_permissions(home);
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

/// `pyra models [NAME] [--json]`.
pub fn models(home: &Home, selector: Option<&str>, json: bool) -> Result<u8, Failure> {
    crate::runner::warn_permissions(home);
    let config = config_cmd::load(home)?;
    let resolved = config.resolve(selector).map_err(|e| match e {
        ResolveError::NoModels => Failure::failed(
            "no language model is configured yet: run `pyra setup` (on a terminal it asks; or e.g. \
             `pyra setup --name local --provider ollama --model llama3.2 --default --yes`)",
        ),
        ResolveError::NoDefault(_) => Failure::failed(e.to_string()),
        ResolveError::Unknown { .. } | ResolveError::Selector(_) => Failure::usage(e.to_string()),
    })?;
    let configured = config.entry(&resolved.entry).map(|e| e.model.clone()).unwrap_or_default();

    // The key through the runs' path: the vault, unlocked once, every read audited.
    let source = vault_cmd::VaultSource::new(home, Arc::new(crate::progress::Progress::new(false, true)));
    let log = SecurityLog::new(&home.root);
    let mut read_key = None;
    let target = llm::target::target_for(&resolved, |key_name| {
        let value = source.get(key_name);
        audit_read(&log, key_name, &value, "model provider key; pyra models");
        read_key = Some(key_name.to_string());
        value
    })
    .map_err(|e| {
        let e = match e {
            llm::target::TargetError::Entry(message) | llm::target::TargetError::Key(message) => message,
        };
        let hint = match &read_key {
            Some(k) => format!(
                "\n  help: `pyra setup --name {} --provider {} --key-stdin …` or `pyra vault set {k}` stores it",
                resolved.entry, resolved.provider
            ),
            None => String::new(),
        };
        Failure::failed(format!("model entry `{}`: {e}{hint}", resolved.entry))
    })?;
    let models = list_models(&target.endpoint).map_err(|e| {
        Failure::failed(format!(
            "model entry `{}` ({}): {}",
            resolved.entry,
            target.endpoint.base_url,
            scrub(&e.to_string(), target.endpoint.key.as_ref().map(|k| (read_key.as_deref().unwrap_or("key"), k)))
        ))
    })?;
    if json {
        out(&format!("{}\n", serde_json::to_string_pretty(&models).unwrap_or_default()));
    } else {
        let text: String =
            models.iter().map(|m| format!("{} {m}\n", if same_model(m, &configured) { '*' } else { ' ' })).collect();
        out(&text);
        if models.is_empty() {
            err(&format!("the server at {} lists no models\n", target.endpoint.base_url));
        }
    }
    if !models.is_empty() && !lists(&models, &configured) {
        err(&format!("note: the configured model `{configured}` of `{}` is not among them\n", resolved.entry));
    }
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

fn same_model(listed: &str, model: &str) -> bool {
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

/// Asks the server for its models, with short timeouts and no retries.
fn list_models(endpoint: &Endpoint) -> Result<Vec<String>, LlmError> {
    let policy = Policy {
        connect: Duration::from_secs(10),
        first_token: Duration::from_secs(30),
        idle: Duration::from_secs(30),
        attempts: 1,
        ..Policy::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LlmError::Fatal(format!("cannot start the network runtime: {e}")))?;
    runtime.block_on(async {
        let http = client::http_client(&policy);
        client::list_models(&http, endpoint, &policy, &CancellationToken::new()).await
    })
}

/// A server's message with the key (should it echo it) masked as runs mask it — in one
/// pass, its case and JSON variants too — and anything key-shaped removed.
fn scrub(text: &str, key: Option<(&str, &SecretString)>) -> String {
    let masker = Masker::default();
    if let Some((name, value)) = key {
        masker.add(name, value.expose_secret());
    }
    security::redact::redact(&masker.mask(text)).into_owned()
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

fn audit_read(log: &SecurityLog, key: &str, result: &Result<SecretString, String>, detail: &str) {
    let (outcome, why) = match result {
        Ok(_) => ("granted", detail.to_string()),
        Err(e) => ("denied", format!("{detail}; {e}")),
    };
    let event = Event { action: "secret.read", outcome, key: Some(key), detail: Some(&why), ..Default::default() };
    if let Err(e) = log.record(&event) {
        err(&format!("warning: cannot write the security log {}: {e}\n", log.path().display()));
    }
}

/// The vault as setup uses it: unlocked at most once, read for an existing key, written
/// (and created if missing) for a new one.
struct VaultAccess {
    vault: Vault,
    log: SecurityLog,
    can_prompt: bool,
    unlock: Option<Unlock>,
    open: Option<Unlocked>,
}

impl VaultAccess {
    fn new(home: &Home, can_prompt: bool) -> Self {
        Self { vault: Vault::new(&home.root), log: SecurityLog::new(&home.root), can_prompt, unlock: None, open: None }
    }

    fn exists(&self) -> bool {
        self.vault.exists()
    }

    /// The decrypted vault (unlocking it on first use).
    fn open(&mut self) -> Result<&Unlocked, Failure> {
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
    fn read(&mut self, name: &str) -> Result<Option<SecretString>, Failure> {
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
    fn read_needed(&mut self, provider: &Provider, entry: &str, name: &str) -> Result<SecretString, Failure> {
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
    fn prepare_write(&mut self) -> Result<(), Failure> {
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
    fn store(&mut self, name: &str, value: &SecretString) -> Result<(), Failure> {
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
}

/// The questions of an interactive setup (on stderr; answers from the terminal).
struct Ui {
    interactive: bool,
}

impl Ui {
    /// One line of input; end of input cancels the setup.
    fn line(&self, prompt: &str) -> Result<String, Failure> {
        err(prompt);
        let mut line = String::new();
        let read = std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::failed(format!("cannot read the answer: {e}")))?;
        if read == 0 {
            err("\n");
            return Err(Failure { code: exit::CANCELLED, message: "setup cancelled; nothing was written".into() });
        }
        Ok(line.trim().to_string())
    }

    /// A question with a default shown in brackets.
    fn ask(&self, question: &str, default: &str) -> Result<String, Failure> {
        let prompt = if default.is_empty() { format!("? {question}: ") } else { format!("? {question} [{default}]: ") };
        let answer = self.line(&prompt)?;
        Ok(if answer.is_empty() { default.to_string() } else { answer })
    }

    fn confirm(&self, question: &str, default: bool) -> Result<bool, Failure> {
        if !self.interactive {
            return Ok(default);
        }
        loop {
            let hint = if default { "Y/n" } else { "y/N" };
            match self.line(&format!("? {question} [{hint}]: "))?.to_ascii_lowercase().as_str() {
                "" => return Ok(default),
                "y" | "yes" => return Ok(true),
                "n" | "no" => return Ok(false),
                _ => err("  please answer y or n\n"),
            }
        }
    }

    fn choose_provider(&self) -> Result<&'static Provider, Failure> {
        let width = PROVIDERS.iter().map(|p| p.name.chars().count()).max().unwrap_or(0);
        let id_width = PROVIDERS.iter().map(|p| p.id.len()).max().unwrap_or(0);
        let mut text = String::from("Providers:\n");
        for (i, p) in PROVIDERS.iter().enumerate() {
            let key = if p.needs_key {
                "API key needed"
            } else if p.base_url.starts_with("http://localhost") {
                "local server, no key"
            } else {
                "key optional"
            };
            text.push_str(&format!("  {:>2}  {:width$}  {:id_width$}  {key}\n", i + 1, p.name, p.id));
        }
        err(&text);
        loop {
            let answer = self.ask(&format!("Provider (1-{} or an id)", PROVIDERS.len()), "")?;
            if let Ok(n) = answer.parse::<usize>()
                && (1..=PROVIDERS.len()).contains(&n)
            {
                return Ok(&PROVIDERS[n - 1]);
            }
            match provider_for(&answer) {
                Ok(p) => return Ok(p),
                Err(f) if answer.is_empty() => drop(f),
                Err(f) => err(&format!("  {}\n", f.message.replace('\n', "\n  "))),
            }
        }
    }

    fn ask_name(&self, default: &str) -> Result<String, Failure> {
        loop {
            match check_name(&self.ask("Name of the entry (what skills refer to)", default)?) {
                Ok(name) => return Ok(name),
                Err(why) => err(&format!("  {why}\n")),
            }
        }
    }

    fn ask_url(&self, provider: &Provider, default: &str) -> Result<String, Failure> {
        if default.is_empty() {
            err(&format!("  {}\n", provider.docs));
        }
        loop {
            let answer = self.ask("Base URL", default)?;
            if answer.is_empty() {
                err("  this provider needs a base URL\n");
                continue;
            }
            match normalize_url(&answer) {
                Ok(url) => return Ok(url),
                Err(why) => err(&format!("  {why}\n")),
            }
        }
    }

    /// The key: typed (hidden), or kept from the vault. Returns it and whether it is new.
    fn ask_key(
        &self,
        provider: &Provider,
        key_name: &str,
        named: bool,
        vault: &mut VaultAccess,
    ) -> Result<(Option<SecretString>, bool), Failure> {
        let stored = if (provider.needs_key || named) && vault.exists() { vault.read(key_name)? } else { None };
        if stored.is_none() && provider.needs_key {
            err(&format!("  {}\n", provider.docs));
        }
        loop {
            let prompt = match (&stored, provider.needs_key) {
                (Some(_), _) => format!("? API key (`{key_name}` is in the vault; Enter keeps it): "),
                (None, true) => format!("? API key for {} (hidden): ", provider.name),
                (None, false) => "? API key, if the server needs one (hidden; Enter for none): ".to_string(),
            };
            let typed =
                rpassword::prompt_password(prompt).map_err(|e| Failure::failed(format!("cannot read the key: {e}")))?;
            let typed = typed.trim();
            if !typed.is_empty() {
                let key = SecretString::from(typed.to_string());
                match vault_cmd::check_value(key_name, &key) {
                    Ok(()) => return Ok((Some(key), true)),
                    Err(refused) => {
                        err(&format!("  {}\n", refused.message.replace('\n', "\n  ")));
                        continue;
                    }
                }
            }
            if stored.is_some() || !provider.needs_key {
                return Ok((stored, false));
            }
            err(&format!("  {} needs a key\n", provider.name));
        }
    }

    /// The model: from the server's list (up to 20 shown, numbered) or any id typed.
    fn choose_model(&self, preferred: Option<&str>, listed: Option<&[String]>, entry: &str) -> Result<String, Failure> {
        let listed = listed.unwrap_or_default();
        let shown = &listed[..listed.len().min(SHOWN_MODELS)];
        if !shown.is_empty() {
            let mut text = String::from("Models on the server:\n");
            for (i, m) in shown.iter().enumerate() {
                text.push_str(&format!("  {:>2}  {m}\n", i + 1));
            }
            if listed.len() > shown.len() {
                text.push_str(&format!(
                    "  … and {} more (`pyra models {entry}` lists them all; type any id)\n",
                    listed.len() - shown.len()
                ));
            }
            err(&text);
        }
        let default = preferred.or(listed.first().map(String::as_str)).unwrap_or_default();
        loop {
            let question =
                if shown.is_empty() { "Model id".to_string() } else { format!("Model (1-{} or an id)", shown.len()) };
            let answer = self.ask(&question, default)?;
            if let Ok(n) = answer.parse::<usize>()
                && (1..=shown.len()).contains(&n)
            {
                return Ok(shown[n - 1].clone());
            }
            if !answer.is_empty() {
                return Ok(answer);
            }
            err("  please name a model\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_and_urls() {
        let compat = providers::get(OPENAI_COMPATIBLE).unwrap();
        assert_eq!(default_key_name(compat, "my-server.v2"), "MY_SERVER_V2_API_KEY");
        assert_eq!(default_key_name(compat, "4o"), "MODEL_4O_API_KEY");
        assert_eq!(default_key_name(providers::get("openai").unwrap(), "work"), "OPENAI_API_KEY");
        assert_eq!(default_key_name(providers::get("lmstudio").unwrap(), "studio"), "STUDIO_API_KEY");
        assert_eq!(normalize_url(" http://localhost:8000/v1/ ").unwrap(), "http://localhost:8000/v1");
        assert!(normalize_url("localhost:8000").is_err());
        assert!(normalize_url("https://").is_err());
        assert!(check_name("a/b").is_err());
        assert_eq!(check_name("gpt-4.1").unwrap(), "gpt-4.1");
    }

    #[test]
    fn models_match_with_ollama_tags() {
        let listed = vec!["llama3.2:latest".to_string(), "qwen3:8b".to_string()];
        assert!(lists(&listed, "llama3.2"));
        assert!(lists(&listed, "qwen3:8b"));
        assert!(!lists(&listed, "qwen3"));
        assert_eq!(pick_model(None, Some(&["only".to_string()]), false).unwrap(), "only");
        assert_eq!(pick_model(None, Some(&listed), false).unwrap_err().code, exit::USAGE);
        assert_eq!(pick_model(Some("x".into()), None, true).unwrap(), "x");
        assert_eq!(pick_model(None, None, true).unwrap_err().code, exit::USAGE);
    }

    #[test]
    fn scrub_hides_the_key() {
        let key = SecretString::from("sk-test-1234567890abcdef".to_string());
        let out = scrub("401: Incorrect API key provided: sk-test-1234567890abcdef", Some(("OPENAI_API_KEY", &key)));
        assert_eq!(out, "401: Incorrect API key provided: [secret:OPENAI_API_KEY]");
        // A short key already in a vault is masked too, and never inside its own label.
        let short = SecretString::from("k".to_string());
        let out = scrub("bad key k", Some(("OPENAI_API_KEY", &short)));
        assert_eq!(out, "bad [secret:OPENAI_API_KEY]ey [secret:OPENAI_API_KEY]");
    }
}
