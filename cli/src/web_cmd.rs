//! `pyra web`: opens the daemon's local web UI in a browser (or prints its address where
//! none can be opened), and the UI's daemon task, built from config.yaml's `daemon.web`.

use std::sync::Arc;

use clap::Args;

use crate::failure::{Failure, exit};
use crate::home::Home;
use term::output;

#[derive(Debug, Args)]
pub struct WebArgs {
    /// Print the address (with its one-time token) instead of opening a browser.
    #[arg(long)]
    pub print: bool,
}

pub fn run(home: &Home, args: WebArgs) -> Result<u8, Failure> {
    if crate::daemon_client::running(home).is_none() {
        return Err(Failure::failed(
            "the daemon is not running: `pyra daemon start` serves the web UI (with `daemon.web` in config.yaml)",
        ));
    }
    let Some((url, token)) = web::address(&home.root) else {
        return Err(Failure::failed(
            "the daemon serves no web UI: `pyra config set daemon.web.listen 127.0.0.1:8790`, then \
             `pyra daemon restart`",
        ));
    };
    let with_token = format!("{url}?token={token}");
    let graphical = std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if !args.print && graphical {
        let opened = std::process::Command::new("xdg-open")
            .arg(&with_token)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if opened {
            output::err(&format!("opened {url} in your browser\n"));
            return Ok(exit::OK);
        }
    }
    output::err("open this address in a browser on this machine (it signs you in once; keep it private):\n");
    output::out(&format!("{with_token}\n"));
    Ok(exit::OK)
}

/// The web UI's task when config.yaml has `daemon.web`; a stale address file goes first.
pub fn task(home: &Home, agent: Arc<daemon::agent::Agent>) -> Option<(String, daemon::server::ExtraTask)> {
    let _ = std::fs::remove_file(home.root.join(daemon::lock::RUN_DIR).join(web::ADDR_FILE));
    let config = config::Config::load(&home.root).ok()?;
    let listen = config.daemon.web?.listen;
    let profile = home.profile.clone().unwrap_or_else(|| "default".into());
    let root = home.root.clone();
    let memory: web::MemoryOpener = Arc::new(move || {
        let memory = memory::Memory::open(&root).map_err(|e| e.to_string())?;
        // The vector arm when configured, its key from the daemon's vault agent.
        let vectors = config::Config::load(&root)
            .ok()
            .and_then(|c| embed::for_home(&c, &root, |name| agent.get_for(name, "web UI memory search")).ok())
            .flatten();
        Ok(memory.with_vectors(vectors))
    });
    Some(("web".to_string(), web::task(listen, profile, memory)))
}
