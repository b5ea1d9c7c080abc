//! `pyra mcp serve|config`: Pyra as an MCP server. `serve` speaks MCP on stdin/stdout
//! (standard output carries only JSON-RPC; notes and logs go to stderr) and exposes the
//! skills config.yaml's `mcp.serve.skills` names — nothing by default — as tools, through
//! the `serve` crate; `--skill` narrows that for one client, never widens it. `config`
//! prints the snippet to paste into a client's configuration (`mcp_config.rs`).

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use serve::{Exposure, PyraServer, RuntimeHost};
use term::output;

use crate::failure::{Failure, exit};
use crate::home::Home;
use crate::runner::Session;
use crate::skills;

pub const MCP_HELP: &str = "\
Which skills are tools is explicit, in config.yaml:

  mcp:
    serve:
      skills: [weather, \"notes-*\"]   # names or globs; nothing is exposed unless listed
      http:                          # optional: the daemon serves them over HTTP too
        listen: 127.0.0.1:8788       # loopback only; port 0 picks one

A skill that asks for an approval waits (the call stays open) until `pyra approve RUN`
answers it. `pyra mcp config --client claude-desktop` prints what to paste.";

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Serve the exposed skills as MCP tools on stdin/stdout (what an MCP client launches).
    Serve(ServeArgs),
    /// Print the snippet that adds Pyra to an MCP client's configuration.
    Config(crate::mcp_config::ConfigArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Expose only this skill (a name or glob; repeatable) among those config.yaml exposes.
    #[arg(long = "skill", value_name = "NAME")]
    skills: Vec<String>,
    /// How long a call waits for an approval before its run parks (`pyra approve` then
    /// finishes it), e.g. `10m`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    approval_wait: Duration,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    syntax::duration::parse(text).ok_or_else(|| format!("`{text}` is not a duration (e.g. 30s, 10m, 1h)"))
}

pub fn run(home: &Home, command: McpCommand) -> Result<u8, Failure> {
    match command {
        McpCommand::Serve(args) => serve(home, args),
        McpCommand::Config(args) => crate::mcp_config::print(home, args),
    }
}

/// Every skill `pyra run NAME` knows (built-ins and `$PYRA_HOME/skills`), read afresh.
fn catalog(home: &Home) -> impl Fn() -> Vec<runtime::SkillText> + Send + Sync + 'static {
    let home = home.clone();
    move || skills::known(&home).values().filter_map(|s| s.text().ok()).collect()
}

fn serve(home: &Home, args: ServeArgs) -> Result<u8, Failure> {
    let config = crate::config_cmd::load(home)?;
    let exposure = Exposure::new(config.mcp.exposed(), &args.skills);
    if exposure.is_empty() {
        output::err(&format!(
            "note: no skill is exposed, so this server has no tools; name them in {} under \
             `mcp: {{ serve: {{ skills: [NAME, …] }} }}` (`pyra mcp serve --help`)\n",
            config::Config::file_path(&home.root).display()
        ));
    } else {
        let known = skills::known(home);
        let misses = exposure.narrowing_misses(known.keys().map(String::as_str));
        if !misses.is_empty() {
            return Err(Failure::usage(format!(
                "--skill {}: no skill that config.yaml's `mcp.serve.skills` exposes; --skill only narrows what it \
                 lists ({})",
                misses.join(", "),
                config.mcp.exposed().join(", ")
            )));
        }
    }
    let session = Session::open(home, true)?;
    let mut host = RuntimeHost::new(session.runtime.clone(), catalog(home), exposure);
    host.approval_wait = args.approval_wait;
    let server = PyraServer::new(Arc::new(host));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))?;
    let cancel = session.runtime.cancel.clone();
    let result = rt.block_on(async {
        let result = tokio::select! {
            result = serve::stdio::serve(server.clone()) => result,
            () = signalled() => {
                // Runs in flight stop and record it (`pyra runs retry` resumes one).
                cancel.cancel();
                let _ = tokio::time::timeout(Duration::from_secs(10), server.idle()).await;
                Ok(())
            }
        };
        // The plugin servers the calls started stop with this server.
        crate::plugin_host::shutdown().await;
        result
    });
    result.map(|()| exit::OK).map_err(Failure::failed)
}

/// SIGINT or SIGTERM (an MCP client stopping its server).
async fn signalled() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}
