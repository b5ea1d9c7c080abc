//! `pyra channels`: set up a messaging channel (the token checked against the server
//! before anything is written, then kept in the vault; config.yaml edited in place),
//! remove one (`rm`), admit senders (`pair CODE`, `allow`), and see how the daemon's
//! channel task is doing (`status`). The channel itself
//! runs in the daemon (`cli/channels`).

use std::io::{IsTerminal, Read};

use age::secrecy::SecretString;
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
Only paired senders and the ids under `allow:` in config.yaml may talk to Pyra; everyone
else gets one pairing code and nothing they write reaches a model, a skill or a log.";

#[derive(Debug, Subcommand)]
pub enum ChannelsCommand {
    /// Add a channel: its token is checked against the server, then stored in the vault,
    /// and `channels.NAME` is added to config.yaml.
    Add {
        /// The channel: `telegram`.
        kind: String,
        /// Read the token from standard input (otherwise it is asked for on the terminal).
        #[arg(long)]
        token_stdin: bool,
        /// A Telegram user id allowed to talk to Pyra (repeatable).
        #[arg(long = "allow", value_name = "ID")]
        allow: Vec<i64>,
        /// The Bot API's address (a local Bot API server).
        #[arg(long, value_name = "URL")]
        api_url: Option<String>,
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
    Allow { kind: String, id: i64 },
    /// How each channel is doing: connected as whom, last poll, last error, sends.
    Status {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(home: &Home, command: ChannelsCommand) -> Result<u8, Failure> {
    match command {
        ChannelsCommand::Add { kind, token_stdin, allow, api_url } => add(home, &kind, token_stdin, &allow, api_url),
        ChannelsCommand::List => list(home),
        ChannelsCommand::Rm { kind } => rm(home, &kind),
        ChannelsCommand::Passphrase { kind } => set_passphrase(home, &kind),
        ChannelsCommand::Pair { code } => pair(home, &code),
        ChannelsCommand::Allow { kind, id } => {
            known(&kind)?;
            home.ensure_dir(&home.root).map_err(|e| Failure::failed(e.to_string()))?;
            let store = channels::store::Store::open(&home.root.join("pyra.db")).map_err(Failure::failed)?;
            store.allow(&kind, &id.to_string(), now_ms()).map_err(Failure::failed)?;
            output::out(&format!("{kind} user {id} may talk to Pyra\n"));
            Ok(exit::OK)
        }
        ChannelsCommand::Status { json } => status(home, json),
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn known(kind: &str) -> Result<(), Failure> {
    if kind == channels::TELEGRAM {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "`{kind}` is not a channel Pyra has yet: `telegram` (Matrix and Signal are coming)"
        )))
    }
}

fn add(home: &Home, kind: &str, token_stdin: bool, allow: &[i64], api_url: Option<String>) -> Result<u8, Failure> {
    known(kind)?;
    let token = if token_stdin || !std::io::stdin().is_terminal() {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::failed(format!("cannot read the token: {e}")))?;
        text.trim().to_string()
    } else {
        rpassword::prompt_password("Bot token (from @BotFather): ")
            .map_err(|e| Failure::failed(format!("cannot read the token: {e}")))?
            .trim()
            .to_string()
    };
    if token.is_empty() {
        return Err(Failure::usage("no token given: paste the token @BotFather gave you"));
    }
    let api = api_url.clone().unwrap_or_else(|| "https://api.telegram.org".to_string());
    let client = channels::telegram::Client::new(&api, &token);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(e.to_string()))?;
    let me = rt.block_on(client.get_me()).map_err(|e| Failure::failed(format!("the token was not stored: {e}")))?;
    let bot = me["username"].as_str().unwrap_or("?").to_string();
    // The config first (checked), then the vault: a refused config stores nothing.
    home.ensure_dir(&home.root).map_err(|e| Failure::failed(e.to_string()))?;
    let current = config::Config::load(&home.root).map_err(|e| Failure::failed(e.render(false)))?;
    if current.channels.telegram.is_none() {
        let mut settings = serde_json::json!({ "allow": allow });
        if let Some(url) = &api_url {
            settings["api_url"] = Value::String(url.clone());
        }
        let updated = current.with_channel("telegram", settings).map_err(|e| Failure::failed(e.render(false)))?;
        crate::config_cmd::save(home, &updated)?;
    }
    let mut vault =
        crate::setup_cmd::vault_access::VaultAccess::new(home, std::io::stdin().is_terminal() && !token_stdin);
    vault.store(channels::TOKEN_KEY, &SecretString::from(token))?;
    output::out(&format!(
        "telegram: the bot @{bot} is set up; its token is in the vault as `{}`\n\
         next: `pyra daemon start` (`pyra daemon restart` if it runs), then message @{bot}: it answers with a pairing code for `pyra channels pair CODE`\n",
        channels::TOKEN_KEY
    ));
    Ok(exit::OK)
}

fn set_passphrase(home: &Home, kind: &str) -> Result<u8, Failure> {
    known(kind)?;
    let current = config::Config::load(&home.root).map_err(|e| Failure::failed(e.render(false)))?;
    let Some(settings) = current.channels.telegram.clone() else {
        return Err(Failure::usage("no telegram channel is set up: `pyra channels add telegram` first"));
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
    let mut value = serde_json::to_value(&settings).map_err(|e| Failure::failed(e.to_string()))?;
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
    known(kind)?;
    let current = config::Config::load(&home.root).map_err(|e| Failure::failed(e.render(false)))?;
    let configured = current.channels.telegram.is_some();
    if configured {
        let updated = current.without_channel(kind).map_err(|e| Failure::failed(e.render(false)))?;
        crate::config_cmd::save(home, &updated)?;
    }
    let mut vault = crate::setup_cmd::vault_access::VaultAccess::new(home, std::io::stdin().is_terminal());
    let had_token = vault.remove(channels::TOKEN_KEY)?;
    if !configured && !had_token {
        return Err(Failure::usage(format!("no {kind} channel is set up")));
    }
    output::out(&format!(
        "{kind}: removed{}{}; `pyra daemon restart` stops its task if the daemon runs\n",
        if configured { " from config.yaml" } else { "" },
        if had_token { format!(" and its token `{}` from the vault", channels::TOKEN_KEY) } else { String::new() }
    ));
    Ok(exit::OK)
}

fn list(home: &Home) -> Result<u8, Failure> {
    let config = config::Config::load(&home.root).map_err(|e| Failure::failed(e.render(false)))?;
    match &config.channels.telegram {
        None => output::err("no channel: `pyra channels add telegram` sets one up\n"),
        Some(t) => {
            let paired = channels::store::Store::open(&home.root.join("pyra.db"))
                .and_then(|s| s.admitted(channels::TELEGRAM))
                .unwrap_or_default();
            output::out(&format!(
                "telegram  {}  allow: {} id(s), paired: {}, {} messages an hour per sender\n",
                t.api_url,
                t.allow.len(),
                paired.len(),
                t.rate_per_hour
            ));
        }
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
    let configured = config.channels.telegram.is_some();
    let mut value = channels::status(&home.root, channels::TELEGRAM).map_err(Failure::failed)?;
    value["configured"] = Value::Bool(configured);
    value["daemon"] = Value::Bool(crate::daemon_client::running(home).is_some());
    if json {
        output::out(&format!("{value}\n"));
        return Ok(exit::OK);
    }
    if !configured {
        output::err("no channel: `pyra channels add telegram` sets one up\n");
        return Ok(exit::OK);
    }
    let state = &value["state"];
    let get = |k: &str| state[k].as_str().filter(|s| !s.is_empty());
    let polled = get("polled_at")
        .and_then(|ms| ms.parse::<i64>().ok())
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or("never".to_string(), |t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S").to_string());
    output::out(&format!(
        "telegram  {}  bot @{}  last poll {polled}  daemon {}\n",
        if get("error").is_some() { "failing" } else { "ok" },
        get("bot").unwrap_or("?"),
        if value["daemon"] == true { "running" } else { "not running (`pyra daemon start`)" },
    ));
    if let Some(e) = get("error") {
        output::out(&format!("  last error: {e}\n"));
    }
    let outbox =
        value["outbox"].as_object().map(|o| o.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "));
    output::out(&format!("  sends: {}\n", outbox.filter(|s| !s.is_empty()).unwrap_or_else(|| "none".into())));
    let paired: Vec<String> =
        value["paired"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect();
    output::out(&format!("  paired senders: {}\n", if paired.is_empty() { "none".into() } else { paired.join(", ") }));
    Ok(exit::OK)
}
