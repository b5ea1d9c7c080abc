//! `pyra channels add telegram|matrix|signal`: each platform's credentials are checked
//! against its server before anything is written — the bot token with `getMe`, the Matrix
//! password by logging in (only the access token it yields is kept) or a given access
//! token with `whoami`, the Signal account by asking signal-cli which accounts it has —
//! then `channels.NAME` goes into config.yaml (checked first: a refused config stores
//! nothing), and the token into the vault.

use std::io::{IsTerminal, Read};

use age::secrecy::SecretString;
use serde_json::{Value, json};
use term::output;

use crate::failure::{Failure, exit};
use crate::home::Home;

/// What `add` was given besides the channel's name.
#[derive(Debug, Default, clap::Args)]
pub struct AddArgs {
    /// Read the token (Telegram's bot token, Matrix's access token) from standard input.
    #[arg(long)]
    pub token_stdin: bool,
    /// Matrix: read the bot's password from standard input (to log in; it is not kept).
    #[arg(long)]
    pub password_stdin: bool,
    /// An id allowed to talk to Pyra (repeatable): a Telegram user id, a full Matrix
    /// id, a Signal UUID or number.
    #[arg(long = "allow", value_name = "ID")]
    pub allow: Vec<String>,
    /// Telegram: the Bot API's address (a local Bot API server).
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// Matrix: the homeserver's URL.
    #[arg(long, value_name = "URL")]
    pub homeserver: Option<String>,
    /// Matrix: the bot's Matrix id (`@pyra:example.org`).
    #[arg(long, value_name = "MXID")]
    pub user: Option<String>,
    /// Signal: the bot's number, as signal-cli registered or linked it.
    #[arg(long, value_name = "NUMBER")]
    pub account: Option<String>,
    /// Signal: the signal-cli program (default `signal-cli` on the PATH).
    #[arg(long, value_name = "PATH")]
    pub cli: Option<String>,
    /// Signal: a running `signal-cli daemon --tcp` (loopback host:port) instead of a child.
    #[arg(long, value_name = "HOST:PORT")]
    pub address: Option<String>,
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| Failure::failed(e.to_string()))
}

/// A secret from standard input (all of it, trimmed) or the terminal.
fn secret(from_stdin: bool, prompt: &str, what: &str) -> Result<String, Failure> {
    let text = if from_stdin || !std::io::stdin().is_terminal() {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::failed(format!("cannot read the {what}: {e}")))?;
        text
    } else {
        rpassword::prompt_password(prompt).map_err(|e| Failure::failed(format!("cannot read the {what}: {e}")))?
    };
    let text = text.trim().to_string();
    if text.is_empty() {
        return Err(Failure::usage(format!("no {what} given")));
    }
    Ok(text)
}

/// Adds `channels.NAME` (unless it is there) after a checked edit.
fn write_config(home: &Home, kind: &str, settings: Value) -> Result<(), Failure> {
    home.ensure_dir(&home.root).map_err(|e| Failure::failed(e.to_string()))?;
    let current = config::Config::load(&home.root).map_err(|e| Failure::failed(e.render(false)))?;
    if !configured(&current, kind) {
        let updated = current.with_channel(kind, settings).map_err(|e| Failure::failed(e.render(false)))?;
        crate::config_cmd::save(home, &updated)?;
    }
    Ok(())
}

/// Whether `channels.KIND` is in the configuration.
pub fn configured(config: &config::Config, kind: &str) -> bool {
    let c = &config.channels;
    match kind {
        channels::TELEGRAM => c.telegram.is_some(),
        channels::matrix::MATRIX => c.matrix.is_some(),
        channels::signal::SIGNAL => c.signal.is_some(),
        _ => false,
    }
}

fn store_secret(home: &Home, stdin_used: bool, key: &str, value: String) -> Result<(), Failure> {
    let mut vault =
        crate::setup_cmd::vault_access::VaultAccess::new(home, std::io::stdin().is_terminal() && !stdin_used);
    vault.store(key, &SecretString::from(value))
}

pub fn telegram(home: &Home, args: AddArgs) -> Result<u8, Failure> {
    let allow: Vec<i64> = args
        .allow
        .iter()
        .map(|a| {
            a.parse::<i64>().map_err(|_| {
                Failure::usage(format!("--allow {a}: a Telegram user id is a number (the person's id, not a name)"))
            })
        })
        .collect::<Result<_, _>>()?;
    let token = secret(args.token_stdin, "Bot token (from @BotFather): ", "token")?;
    let api = args.api_url.clone().unwrap_or_else(|| "https://api.telegram.org".to_string());
    let client = channels::telegram::Client::new(&api, &token);
    let me =
        runtime()?.block_on(client.get_me()).map_err(|e| Failure::failed(format!("the token was not stored: {e}")))?;
    let bot = me["username"].as_str().unwrap_or("?").to_string();
    let mut settings = json!({ "allow": allow });
    if let Some(url) = &args.api_url {
        settings["api_url"] = Value::String(url.clone());
    }
    write_config(home, channels::TELEGRAM, settings)?;
    store_secret(home, args.token_stdin, channels::TOKEN_KEY, token)?;
    output::out(&format!(
        "telegram: the bot @{bot} is set up; its token is in the vault as `{}`\n\
         next: `pyra daemon start` (`pyra daemon restart` if it runs), then message @{bot}: it answers with a pairing code for `pyra channels pair CODE`\n",
        channels::TOKEN_KEY
    ));
    Ok(exit::OK)
}

pub fn matrix(home: &Home, args: AddArgs) -> Result<u8, Failure> {
    use channels::matrix::Client;
    let homeserver = args
        .homeserver
        .clone()
        .ok_or_else(|| Failure::usage("--homeserver URL is needed (e.g. https://matrix.org)"))?;
    let user =
        args.user.clone().ok_or_else(|| Failure::usage("--user is needed: the bot's Matrix id, @name:server"))?;
    let rt = runtime()?;
    let token = if args.token_stdin {
        let token = secret(true, "", "access token")?;
        let me = rt
            .block_on(Client::new(&homeserver, &token).whoami())
            .map_err(|e| Failure::failed(format!("the access token was not stored: {e}")))?;
        if me != user {
            return Err(Failure::failed(format!(
                "that access token belongs to {me}, not to {user}: nothing was stored"
            )));
        }
        token
    } else {
        let password = secret(args.password_stdin, &format!("Password of {user}: "), "password")?;
        let (token, me, _device) = rt
            .block_on(Client::login_password(&homeserver, &user, &password))
            .map_err(|e| Failure::failed(format!("could not log in as {user}: {e}; nothing was stored")))?;
        if me != user {
            return Err(Failure::failed(format!("the homeserver logged in {me}, not {user}: nothing was stored")));
        }
        token
    };
    write_config(
        home,
        channels::matrix::MATRIX,
        json!({ "homeserver": homeserver, "user": user, "allow": args.allow }),
    )?;
    store_secret(home, args.token_stdin || args.password_stdin, channels::matrix::TOKEN_KEY, token)?;
    output::out(&format!(
        "matrix: {user} is set up; its access token is in the vault as `{}` (the password is not kept)\n\
         next: `pyra daemon start` (`pyra daemon restart` if it runs), then invite {user} to a private, unencrypted room\n",
        channels::matrix::TOKEN_KEY
    ));
    Ok(exit::OK)
}

pub fn signal(home: &Home, args: AddArgs) -> Result<u8, Failure> {
    use channels::signal::Client;
    let account = args
        .account
        .clone()
        .ok_or_else(|| Failure::usage("--account +NUMBER is needed: the number signal-cli registered or linked"))?;
    let cli = args.cli.clone().unwrap_or_else(|| "signal-cli".to_string());
    let rt = runtime()?;
    // signal-cli started for one account answers `version` only once that account is
    // registered (it exits otherwise); a daemon for several accounts answers
    // `listAccounts`, and Pyra needs one started for its account.
    let checked = rt.block_on(async {
        let (client, _notes) = match &args.address {
            Some(address) => Client::connect(address).await?,
            None => Client::spawn(&cli, &account, &[]).await?,
        };
        let version = client.call("version", json!({}), std::time::Duration::from_secs(90)).await;
        let accounts = client.call("listAccounts", json!({}), std::time::Duration::from_secs(30)).await;
        let last_words = client.stderr_tail();
        client.shutdown().await;
        Ok::<_, channels::signal::RpcError>((version.map_err(|e| (e, last_words)), accounts))
    });
    let (version, accounts) = checked.map_err(|e| {
        Failure::failed(format!(
            "cannot start signal-cli ({e}); install it (Java 21) and register or link {account} first \
             (`signal-cli -a {account} register`, or `signal-cli link`)"
        ))
    })?;
    let version = version.map_err(|(e, last_words)| {
        let said = if last_words.trim().is_empty() { String::new() } else { format!(": {}", last_words.trim()) };
        Failure::failed(format!(
            "signal-cli did not answer for {account} ({e}{said}); is the account registered or linked? nothing was written"
        ))
    })?;
    if accounts.is_ok() {
        return Err(Failure::usage(format!(
            "the signal-cli daemon at {} serves several accounts; start one for Pyra's: \
             `signal-cli -a {account} daemon --tcp 127.0.0.1:7583`",
            args.address.as_deref().unwrap_or("?")
        )));
    }
    let shown = version["version"].as_str().unwrap_or("?").to_string();
    let mut settings = json!({ "account": account, "allow": args.allow });
    if let Some(cli) = &args.cli {
        settings["cli"] = Value::String(cli.clone());
    }
    if let Some(address) = &args.address {
        settings["address"] = Value::String(address.clone());
    }
    write_config(home, channels::signal::SIGNAL, settings)?;
    output::out(&format!(
        "signal: {account} is set up with signal-cli {shown} (it keeps its keys; nothing went into the vault)\n\
         next: `pyra daemon start` (`pyra daemon restart` if it runs), then message {account} from your phone\n"
    ));
    Ok(exit::OK)
}
