//! The command-line grammar (clap derive). Every command and flag a user can type is
//! declared here, with its help text.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::failure::RUN_EXIT_CODES;
use crate::memory_cmd::MemoryCommand;
use crate::run_cmd::RunArgs;
use crate::runs_cmd::RunsCommand;
use crate::schedule_cmd::ScheduleCommand;
use crate::skill_cmd::SkillCommand;
use crate::vault_cmd::{VAULT_HELP, VaultCommand};

/// Pyra: a personal AI assistant whose every ability is a skill, a YAML DAG of nodes.
#[derive(Debug, Parser)]
#[command(name = "pyra", version, propagate_version = true)]
pub struct Cli {
    /// Pyra's home directory (skills, memory, vault, runs).
    #[arg(long, global = true, env = "PYRA_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Use a separate home under `<home>/profiles/NAME` (e.g. work vs personal): its own
    /// config, vault, memory, runs and daemon (`pyra profile list`).
    #[arg(long, global = true, env = "PYRA_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,

    /// Log what happens on stderr: `-v` info, `-vv` debug, `-vvv` trace (`PYRA_LOG`
    /// takes an EnvFilter, e.g. `PYRA_LOG=runtime=debug`). Secret values are masked.
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Author skills: validate, list, show, draw, create, print the schema.
    Skill {
        #[command(subcommand)]
        command: SkillCommand,
    },
    /// Run a skill now and show its progress.
    #[command(after_help = RUN_EXIT_CODES)]
    Run(RunArgs),
    /// Inspect and manage runs: list, show, logs, retry, cancel.
    Runs {
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// The vault: age-encrypted secrets that skills read with `secret('NAME')`.
    #[command(after_help = VAULT_HELP)]
    Vault {
        #[command(subcommand)]
        command: VaultCommand,
    },
    /// The memory: markdown notes under `$PYRA_HOME/memory`, searchable (FTS5).
    Memory {
        #[command(subcommand)]
        command: MemoryCommand,
    },
    /// The configuration, `$PYRA_HOME/config.yaml`: with no subcommand on a terminal, a
    /// full-screen editor (tabs for models, chat, memory, daemon, channels, plugins and the
    /// vault); otherwise print its path, get, set or unset a value.
    #[command(after_help = crate::config_cmd::CONFIG_HELP)]
    Config {
        #[command(subcommand)]
        command: Option<crate::config_cmd::ConfigCommand>,
    },
    /// Chat with the assistant: a conversation on the terminal, or one question answered
    /// on stdout (`pyra chat "…"`, or text piped in).
    #[command(after_help = crate::chat::CHAT_HELP)]
    Chat(crate::chat::ChatArgs),
    /// Add or change a language model: provider, model, key (into the vault), checked
    /// against the server. Interactive on a terminal; scriptable with flags and `--yes`.
    #[command(after_help = crate::setup_cmd::setup_help())]
    Setup(crate::setup_cmd::SetupArgs),
    /// The daemon: runs skills from their triggers (cron, events, the webhook), resumes
    /// waiting runs at their deadlines, holds the unlocked vault.
    #[command(after_help = crate::daemon_cmd::DAEMON_HELP)]
    Daemon {
        #[command(subcommand)]
        command: crate::daemon_cmd::DaemonCommand,
    },
    /// Emit an event: every skill with a matching `event:` trigger runs (in the daemon;
    /// stored and delivered at its next start when it is down).
    Emit(crate::emit_cmd::EmitArgs),
    /// Skills' schedules: the triggers, when they fire next, what each slot did; run one now.
    Schedule {
        #[command(subcommand)]
        command: ScheduleCommand,
    },
    /// Plugins: MCP servers and built-in plugins whose tools skills use as node kinds
    /// (`uses: NAME.TOOL`) and agents as tools; pinned, with a per-tool policy.
    #[command(after_help = crate::plugin_cmd::PLUGIN_HELP)]
    Plugin {
        #[command(subcommand)]
        command: crate::plugin_cmd::PluginCommand,
    },
    /// List the models a configured server offers (the entry's own model marked `*`).
    #[command(after_help = crate::setup_cmd::MODELS_HELP)]
    Models {
        /// A config entry (`NAME`, or `NAME/model-id`); the default entry when omitted.
        name: Option<String>,
        /// Print a JSON array of model ids.
        #[arg(long)]
        json: bool,
    },
    /// Pyra as an MCP server: the skills config.yaml exposes become tools for Claude
    /// Desktop, Claude Code, Cursor, Goose and other MCP clients.
    #[command(after_help = crate::mcp_cmd::MCP_HELP)]
    Mcp {
        #[command(subcommand)]
        command: crate::mcp_cmd::McpCommand,
    },
    /// Open the daemon's local web UI (skills and their graphs, live runs, approvals,
    /// memory) in a browser, or print its address.
    Web(crate::web_cmd::WebArgs),
    /// Profiles: separate homes (work, personal), each with its own config, vault, memory
    /// and daemon.
    Profile {
        #[command(subcommand)]
        command: crate::profile_cmd::ProfileCommand,
    },
    /// Messaging channels (Telegram, Matrix, Signal): talk to Pyra from your phone through
    /// the daemon.
    #[command(after_help = crate::channels_cmd::CHANNELS_HELP)]
    Channels {
        #[command(subcommand)]
        command: crate::channels_cmd::ChannelsCommand,
    },
    /// Security checks of the home: `pyra security audit`.
    Security {
        #[command(subcommand)]
        command: SecurityCommand,
    },
    /// Approve what a waiting run asks, then continue the run here.
    #[command(after_help = RUN_EXIT_CODES)]
    Approve {
        /// The run id (a unique prefix is enough).
        run: String,
        /// The approval node; needed only when several wait.
        node: Option<String>,
        /// The values a plugin's server asked for (its elicitation), as a JSON object — or
        /// a bare value when it asked for one field.
        #[arg(long = "with", value_name = "JSON")]
        with: Option<String>,
        /// Record the answer but do not continue the run now.
        #[arg(long)]
        no_resume: bool,
    },
    /// Reject what a waiting run asks, then let the run finish here.
    #[command(after_help = RUN_EXIT_CODES)]
    Reject {
        /// The run id (a unique prefix is enough).
        run: String,
        /// The approval node; needed only when several wait.
        node: Option<String>,
        /// Why, recorded with the answer.
        #[arg(long)]
        reason: Option<String>,
        /// Record the answer but do not continue the run now.
        #[arg(long)]
        no_resume: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecurityCommand {
    /// Look through the home for prompt injection, plaintext secrets, loose permissions, a
    /// tampered security log, changed or unpinned plugins and open listeners; write
    /// `security_audit.md` (0600) and print a summary.
    #[command(after_help = crate::audit::AUDIT_HELP)]
    Audit(crate::audit::AuditArgs),
}
