//! The `pyra` command line: argument parsing, dispatch, and rendering of what the engine
//! returns. The engine does no terminal IO; this crate does all of it (through `term`).
//!
//! **Architecture invariant:** exit codes are 0 (ok), 1 (the command found a problem), 2
//! (usage), 3 (the run waits for an approval), 130 (cancelled); never a panic on user
//! input. stdout carries only results; progress and diagnostics go to stderr. Command
//! modules own their argument types and import no other command's (`cli.rs` assembles
//! them), so the crate has no import circle.

mod audit;
mod builtin;
mod channels_add;
mod channels_cmd;
pub mod chat;
mod cli;
mod config_cmd;
#[cfg(feature = "config-editor")]
mod config_edit;
mod daemon_client;
mod daemon_cmd;
mod draft;
mod emit_cmd;
mod failure;
mod graph_render;
mod home;
mod mcp_cmd;
mod mcp_config;
mod memory_cmd;
mod otel;
mod plugin_cmd;
mod plugin_events;
mod plugin_host;
mod profile_cmd;
mod progress;
mod prompt;
mod run_cmd;
mod runner;
mod runs_cmd;
mod schedule_cmd;
mod service_cmd;
mod setup_cmd;
mod skill_cmd;
mod skills;
mod vault_cmd;
mod web_cmd;

use std::process::ExitCode;

use clap::Parser;

pub use cli::Cli;
pub use failure::{Failure, exit};
pub use home::Home;

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version to stdout with code 0 and usage errors with code 2.
            let _ = err.print();
            return ExitCode::from(err.exit_code().clamp(0, 255) as u8);
        }
    };
    let result = run(cli);
    // Spans still queued for the collector go now (a bounded wait).
    otel::flush();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            term::output::error_line(&failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// Runs a parsed command and returns its exit code.
pub fn run(cli: Cli) -> Result<u8, Failure> {
    let home = home::Home::resolve(cli.home.as_deref(), cli.profile.as_deref())?;
    // The daemon installs its own (JSON into its log file). config.yaml's `telemetry:`
    // adds the OpenTelemetry export, which needs no -v.
    if !matches!(cli.command, cli::Command::Daemon { command: daemon_cmd::DaemonCommand::Start { foreground: true } }) {
        daemon::log::init_cli(cli.verbose, otel::layer(&home, None));
    }
    match cli.command {
        cli::Command::Skill { command } => skill_cmd::run(&home, command),
        cli::Command::Run(args) => run_cmd::run(&home, args),
        cli::Command::Runs { command } => runs_cmd::run(&home, command),
        cli::Command::Vault { command } => vault_cmd::run(&home, command),
        cli::Command::Memory { command } => memory_cmd::run(&home, command),
        cli::Command::Config { command: Some(command) } => config_cmd::run(&home, command),
        cli::Command::Config { command: None } => config_editor(&home),
        cli::Command::Setup(args) => setup_cmd::setup(&home, args),
        cli::Command::Chat(args) => chat::run(&home, args),
        cli::Command::Schedule { command } => schedule_cmd::run(&home, command),
        cli::Command::Daemon { command } => daemon_cmd::run(&home, command),
        cli::Command::Emit(args) => emit_cmd::run(&home, args),
        cli::Command::Models { name, json } => setup_cmd::models(&home, name.as_deref(), json),
        cli::Command::Plugin { command } => plugin_cmd::run(&home, command),
        cli::Command::Mcp { command } => mcp_cmd::run(&home, command),
        cli::Command::Security { command: cli::SecurityCommand::Audit(args) } => audit::run(&home, args),
        cli::Command::Channels { command } => channels_cmd::run(&home, command),
        cli::Command::Profile { command } => profile_cmd::run(&home, command),
        cli::Command::Web(args) => web_cmd::run(&home, args),
        cli::Command::Approve { run, node, with, no_resume } => {
            runs_cmd::answer(&home, &run, node.as_deref(), true, with.as_deref(), no_resume)
        }
        cli::Command::Reject { run, node, reason, no_resume } => {
            runs_cmd::answer(&home, &run, node.as_deref(), false, reason.as_deref(), no_resume)
        }
    }
}

/// `pyra config` with no subcommand: the full-screen editor on a terminal; elsewhere (or
/// in a build without the `config-editor` feature) what `pyra config --help` says, exit 2.
fn config_editor(home: &Home) -> Result<u8, Failure> {
    #[cfg(feature = "config-editor")]
    if config_edit::on_terminal() {
        home.warn_permissions();
        config_edit::open(home)?;
        return Ok(exit::OK);
    }
    #[cfg(not(feature = "config-editor"))]
    let _ = home;
    let mut command = <Cli as clap::CommandFactory>::command();
    command.build();
    let help = command.find_subcommand_mut("config").map(|c| c.render_long_help().to_string()).unwrap_or_default();
    let why = if cfg!(feature = "config-editor") {
        "the editor needs a terminal; give a subcommand instead"
    } else {
        "this build has no editor (cargo feature `config-editor`); give a subcommand"
    };
    term::output::err(&format!("{why}\n\n{help}"));
    Ok(exit::USAGE)
}
