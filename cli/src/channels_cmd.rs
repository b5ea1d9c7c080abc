//! `pyra channels`: set up a messaging channel (`channels_add.rs`: credentials checked
//! against the server before anything is written, tokens kept in the vault; config.yaml
//! edited in place), remove one (`rm`), admit senders (`pair CODE`, `allow`), and see how
//! the daemon's channel tasks are doing (`status`). The channels themselves run in the
//! daemon (`cli/channels`).

use std::io::{IsTerminal, Read};

use clap::Subcommand;
use serde_json::Value;
use term::output;

use crate::failure::{Failure, exit};
use crate::home::Home;

pub const CHANNELS_HELP: &str = "Telegram, step by step:
  1. Create a bot with @BotFather in Telegram; it gives you a token.
  2. pyra channels add telegram            (asks for the token; or --token-stdin)
  3. pyra daemon start                      (the daemon polls Telegram; `pyra vault unlock` if it asks)
  4. Message your bot. It answers with a pairing code: pyra channels pair CODE
Matrix: create an account for the bot on your homeserver, then
  pyra channels add matrix --homeserver https://matrix.example.org --user @pyra:example.org
  (asks for its password, logs in and keeps only the access token), and invite the bot to a
  private room without encryption.
Signal: register or link a number with signal-cli (Java 21), then
  pyra channels add signal --account +4915112345678 [--cli PATH | --address 127.0.0.1:7583]
Only paired senders and the ids under `allow:` in config.yaml may talk to Pyra; everyone
else gets one pairing code and nothing they write reaches a model, a skill or a log.";

#[derive(Debug, Subcommand)]
pub enum ChannelsCommand {
    /// Add a channel: its credentials are checked against the server before anything is
    /// written, tokens go into the vault, and `channels.NAME` into config.yaml.
    Add {
        /// The channel: `telegram`, `matrix` or `signal`.
        kind: String,
        #[command(flatten)]
        args: crate::channels_add::AddArgs,
    },
    /// The configured channels.
    List,
    /// Remove a channel: its section in config.yaml and its token in the vault (the
    /// conversations and paired senders stay).
    Rm { kind: String },
    /// Let strangers in by a passphrase instead of pairing codes: it is read from standard
    /// input (or asked twice on a terminal) and only its Argon2id hash goes to config.yaml.
    Passphrase { kind: String },
    /// Approve the pairing code an unknown sender received: they may talk to Pyra from now on.
    Pair { code: String },
    /// Admit a sender by id without a pairing code.
    Allow { kind: String, id: String },
    /// How each channel is doing: connected as whom, last poll, last error, sends.
    Status {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(home: &Home, command: ChannelsCommand) -> Result<u8, Failure> {
    match command {
        ChannelsCommand::Add { kind, args } => match known(&kind)? {
            channels::TELEGRAM => crate::channels_add::telegram(home, args),
            channels::matrix::MATRIX => crate::channels_add::matrix(home, args),
            _ => crate::channels_add::signal(home, args),
        },
        ChannelsCommand::List => list(home),
        ChannelsCommand::Rm { kind } => rm(home, &kind),
        ChannelsCommand::Passphrase { kind } => set_passphrase(home, &kind),
        ChannelsCommand::Pair { code } => pair(home, &code),
        ChannelsCommand::Allow { kind, id } => {
            let kind = known(&kind)?;
            if id.trim().is_empty() || id.trim() != id {
                return Err(Failure::usage("the id is empty or has spaces around it"));
            }
            home.ensure_dir(&home.root).map_err(|e| Failure::failed(e.to_string()))?;
            let store = channels::store::Store::open(&home.root.join("pyra.db")).map_err(Failure::failed)?;
            store.allow(kind, &id, now_ms()).map_err(Failure::failed)?;
            output::out(&format!("{kind} user {id} may talk to Pyra\n"));
            Ok(exit::OK)
        }
        ChannelsCommand::Status { json } => status(home, json),
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The channel's name as Pyra spells it, or a usage error listing them.
fn known(kind: &str) -> Result<&'static str, Failure> {
    channels::ALL
        .iter()
        .copied()
        .find(|k| *k == kind)
        .ok_or_else(|| Failure::usage(format!("`{kind}` is not a channel Pyra has: {}", channels::ALL.join(", "))))
}

/// The channel's settings as JSON (to edit one field), when it is set up.
fn settings_json(config: &config::Config, kind: &str) -> Option<Value> {
    let c = &config.channels;
    match kind {
        channels::TELEGRAM => c.telegram.as_ref().and_then(|s| serde_json::to_value(s).ok()),
        channels::matrix::MATRIX => c.matrix.as_ref().and_then(|s| serde_json::to_value(s).ok()),
        _ => c.signal.as_ref().and_then(|s| serde_json::to_value(s).ok()),
    }
}

/// The vault key of the channel's token (Signal has none: signal-cli keeps its keys).
fn token_key(kind: &str) -> Option<&'static str> {
    match kind {
        channels::TELEGRAM => Some(channels::TOKEN_KEY),
        channels::matrix::MATRIX => Some(channels::matrix::TOKEN_KEY),
        _ => None,
    }
}

fn set_passphrase(home: &Home, kind: &str) -> Result<u8, Failure> {
    let kind = known(kind)?;
    let current = config::Config::load(&home.root).map_err(|e| Failure::failed(e.render(false)))?;
    let Some(mut value) = settings_json(&current, kind) else {
        return Err(Failure::usage(format!("no {kind} channel is set up: `pyra channels add {kind}` first")));
    };
    let pass = if std::io::stdin().is_terminal() {
        let first =
            rpassword::prompt_password("Passphrase for strangers: ").map_err(|e| Failure::failed(e.to_string()))?;
        let again = rpassword::prompt_password("Repeat it: ").map_err(|e| Failure::failed(e.to_string()))?;
        if first != again {
            return Err(Failure::usage("the two passphrases differ; nothing was changed"));
        }
        first
    } else {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| Failure::failed(e.to_string()))?;
        text.trim().to_string()
    };
    if pass.chars().count() < 8 {
        return Err(Failure::usage("a passphrase needs at least 8 characters; nothing was changed"));
    }
    let phc = channels::passphrase::hash(&pass).map_err(Failure::failed)?;
    value["challenge"] = Value::String("passphrase".into());
    value["passphrase"] = Value::String(phc);
    let updated = current.with_channel(kind, value).map_err(|e| Failure::failed(e.render(false)))?;
    crate::config_cmd::save(home, &updated)?;
    output::out(&format!(
        "{kind}: strangers now send the passphrase (3 wrong tries lock them out for an hour); config.yaml holds its \
         Argon2id hash only; `pyra daemon restart` applies it\n"
    ));
    Ok(exit::OK)
}

fn rm(home: &Home, kind: &str) -> Result<u8, Failure> {
    let kind = known(kind)?;
    let current = config::Config::load(&home.root).map_err(|e| Failure::failed(e.render(false)))?;
    let configured = crate::channels_add::configured(&current, kind);
    if configured {
        let updated = current.without_channel(kind).map_err(|e| Failure::failed(e.render(false)))?;
        crate::config_cmd::save(home, &updated)?;
    }
    let mut had_token = false;
    if let Some(key) = token_key(kind) {
        let mut vault = crate::setup_cmd::vault_access::VaultAccess::new(home, std::io::stdin().is_terminal());
        had_token = vault.remove(key)?;
    }
    if !configured && !had_token {
        return Err(Failure::usage(format!("no {kind} channel is set up")));
    }
    output::out(&format!(
        "{kind}: removed{}{}; `pyra daemon restart` stops its task if the daemon runs\n",
        if configured { " from config.yaml" } else { "" },
        if had_token {
            format!(" and its token `{}` from the vault", token_key(kind).unwrap_or_default())
        } else {
            String::new()
        }
    ));
    Ok(exit::OK)
}

/// One line per configured channel.
fn list(home: &Home) -> Result<u8, Failure> {
    let config = config::Config::load(&home.root).map_err(|e| Failure::failed(e.render(false)))?;
    let store = channels::store::Store::open(&home.root.join("pyra.db")).ok();
    let paired = |kind: &str| store.as_ref().and_then(|s| s.admitted(kind).ok()).map_or(0, |p| p.len());
    let c = &config.channels;
    let mut lines = Vec::new();
    if let Some(t) = &c.telegram {
        lines.push(format!(
            "telegram  {}  allow: {} id(s), paired: {}, {} messages an hour per sender",
            t.api_url,
            t.allow.len(),
            paired(channels::TELEGRAM),
            t.rate_per_hour
        ));
    }
    if let Some(m) = &c.matrix {
        lines.push(format!(
            "matrix    {} on {}  allow: {} id(s), paired: {}, {} messages an hour per sender",
            m.user,
            m.homeserver,
            m.allow.len(),
            paired(channels::matrix::MATRIX),
            m.rate_per_hour
        ));
    }
    if let Some(s) = &c.signal {
        let via = s.address.clone().map_or_else(|| format!("child `{}`", s.cli), |a| format!("daemon at {a}"));
        lines.push(format!(
            "signal    {} via {via}  allow: {} id(s), paired: {}, {} messages an hour per sender",
            s.account,
            s.allow.len(),
            paired(channels::signal::SIGNAL),
            s.rate_per_hour
        ));
    }
    if lines.is_empty() {
        output::err("no channel: `pyra channels add telegram|matrix|signal` sets one up\n");
    }
    for line in lines {
        output::out(&format!("{line}\n"));
    }
    Ok(exit::OK)
}

fn pair(home: &Home, code: &str) -> Result<u8, Failure> {
    let store = channels::store::Store::open(&home.root.join("pyra.db")).map_err(Failure::failed)?;
    match store.pair(code, now_ms()).map_err(Failure::failed)? {
        Some((channel, sender)) => {
            output::out(&format!("{channel} user {sender} may talk to Pyra from now on\n"));
            Ok(exit::OK)
        }
        None => Err(Failure::failed(format!(
            "no pending pairing code `{}`: codes expire after an hour; the sender gets a new one by writing again",
            code.trim()
        ))),
    }
}

fn status(home: &Home, json: bool) -> Result<u8, Failure> {
    let config = config::Config::load(&home.root).map_err(|e| Failure::failed(e.render(false)))?;
    let daemon = crate::daemon_client::running(home).is_some();
    let mut all = Vec::new();
    for kind in channels::ALL {
        let configured = crate::channels_add::configured(&config, kind);
        let mut value = channels::status(&home.root, kind).map_err(Failure::failed)?;
        if !configured && value["state"].as_object().is_none_or(serde_json::Map::is_empty) {
            continue;
        }
        value["configured"] = Value::Bool(configured);
        value["daemon"] = Value::Bool(daemon);
        all.push(value);
    }
    if json {
        output::out(&format!("{}\n", Value::Array(all)));
        return Ok(exit::OK);
    }
    if all.iter().all(|v| v["configured"] != true) {
        output::err("no channel: `pyra channels add telegram|matrix|signal` sets one up\n");
        return Ok(exit::OK);
    }
    for value in all.iter().filter(|v| v["configured"] == true) {
        output::out(&describe(value, daemon));
    }
    Ok(exit::OK)
}

/// A channel's status for the terminal.
fn describe(value: &Value, daemon: bool) -> String {
    let state = &value["state"];
    let get = |k: &str| state[k].as_str().filter(|s| !s.is_empty());
    let when = |k: &str| {
        get(k)
            .and_then(|ms| ms.parse::<i64>().ok())
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map_or("never".to_string(), |t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S").to_string())
    };
    let kind = value["channel"].as_str().unwrap_or("?");
    let who = match kind {
        channels::TELEGRAM => format!("bot @{}", get("bot").unwrap_or("?")),
        channels::matrix::MATRIX => format!("as {}", get("user").unwrap_or("?")),
        _ => format!("account {}", get("account").unwrap_or("?")),
    };
    let heard =
        if kind == channels::signal::SIGNAL { ("last message", "received_at") } else { ("last poll", "polled_at") };
    let mut out = format!(
        "{kind}  {}  {who}  {} {}  daemon {}\n",
        if get("error").is_some() { "failing" } else { "ok" },
        heard.0,
        when(heard.1),
        if daemon { "running" } else { "not running (`pyra daemon start`)" },
    );
    if let Some(e) = get("error") {
        out.push_str(&format!("  last error: {e}\n"));
    }
    let outbox =
        value["outbox"].as_object().map(|o| o.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "));
    out.push_str(&format!("  sends: {}\n", outbox.filter(|s| !s.is_empty()).unwrap_or_else(|| "none".into())));
    let paired: Vec<String> =
        value["paired"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect();
    out.push_str(&format!("  paired senders: {}\n", if paired.is_empty() { "none".into() } else { paired.join(", ") }));
    out
}
