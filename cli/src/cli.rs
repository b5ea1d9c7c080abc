//! The command-line grammar (clap derive). Every command and flag a user can type is
//! declared here, with its help text.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Pyra: a personal AI assistant whose every ability is a skill, a YAML DAG of nodes.
#[derive(Debug, Parser)]
#[command(name = "pyra", version, propagate_version = true)]
pub struct Cli {
    /// Pyra's home directory (skills, memory, vault, runs).
    #[arg(long, global = true, env = "PYRA_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Use a separate home under `<home>/profiles/NAME` (e.g. work vs personal).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

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
    /// The configuration, `$PYRA_HOME/config.yaml`: print its path, get or set a value.
    #[command(after_help = crate::config_cmd::CONFIG_HELP)]
    Config {
        #[command(subcommand)]
        command: crate::config_cmd::ConfigCommand,
    },
    /// Chat with the assistant: a conversation on the terminal, or one question answered
    /// on stdout (`pyra chat "…"`, or text piped in).
    #[command(after_help = crate::chat::CHAT_HELP)]
    Chat(crate::chat::ChatArgs),
    /// Add or change a language model: provider, model, key (into the vault), checked
    /// against the server. Interactive on a terminal; scriptable with flags and `--yes`.
    #[command(after_help = crate::setup_cmd::setup_help())]
    Setup(crate::setup_cmd::SetupArgs),
    /// List the models a configured server offers (the entry's own model marked `*`).
    #[command(after_help = crate::setup_cmd::MODELS_HELP)]
    Models {
        /// A config entry (`NAME`, or `NAME/model-id`); the default entry when omitted.
        name: Option<String>,
        /// Print a JSON array of model ids.
        #[arg(long)]
        json: bool,
    },
    /// Approve what a waiting run asks, then continue the run here.
    #[command(after_help = RUN_EXIT_CODES)]
    Approve {
        /// The run id (a unique prefix is enough).
        run: String,
        /// The approval node; needed only when several wait.
        node: Option<String>,
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

/// Exit codes of the commands that run skills.
pub const RUN_EXIT_CODES: &str = "Exit codes:
  0    the run succeeded
  1    a node failed, an approval was rejected, or the skill is invalid
  2    usage error (unknown skill, bad input)
  3    the run waits for an approval (answer with `pyra approve` / `pyra reject`)
  130  the run was cancelled (Ctrl-C, `pyra runs cancel`)";

/// How the vault is unlocked, shown under `pyra vault --help`.
pub const VAULT_HELP: &str = "Unlocking: PYRA_VAULT_PASSPHRASE, or PYRA_VAULT_IDENTITY pointing at an age identity
file (or --identity FILE), or a hidden prompt on a terminal. Values are never taken from
the command line: `set` reads a hidden prompt, or standard input when it is not a terminal.";

/// `--since`: a date, a time or an age (see [`memory::parse_since`]).
fn since(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    memory::parse_since(text, chrono::Utc::now())
}

#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// List the notes (name, summary).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Search the notes, best first; quotes make phrases, `word*` a prefix, `-word` excludes.
    Search {
        /// What to look for, as one argument: quote a query of several words
        /// (`pyra memory search "sugar -flour"`); a lone `-word` searches for the word.
        #[arg(allow_hyphen_values = true)]
        query: String,
        /// At most this many hits.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Only this category and the categories inside it.
        #[arg(long)]
        category: Option<String>,
        /// Only notes changed since DATE: `2026-01-31` (midnight local time), a time
        /// (`2026-01-31T09:00:00Z`) or an age (`7d`, `12h`).
        #[arg(long, value_name = "DATE", value_parser = since)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Print the hits as JSON (name, category, title, snippet, score, injection).
        #[arg(long)]
        json: bool,
    },
    /// Print a note.
    Show { name: String },
    /// Write (replace) a note from standard input, or on a terminal in $VISUAL or $EDITOR
    /// (the whole file, front matter included).
    Write {
        name: String,
        #[arg(long)]
        summary: Option<String>,
        #[arg(long = "keyword")]
        keywords: Vec<String>,
    },
    /// Append standard input to a note (creating it).
    Append { name: String },
    /// Remove a note.
    Rm { name: String },
    /// Rebuild the index from the files.
    Reindex,
    /// Counts and sizes.
    Stats,
}

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Create the vault, sealed by a passphrase (asked twice) or an age identity file
    /// (`--identity FILE`; a new identity is generated into FILE if it does not exist).
    Init {
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Store a secret; the value comes from a hidden prompt or standard input.
    Set {
        /// The key, e.g. `plugin:telegram:token`.
        key: String,
        /// Seal this key a second time with its own passphrase (PYRA_VAULT_KEY_PASSPHRASE
        /// or asked twice): reading it then needs both.
        #[arg(long)]
        seal: bool,
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Say whether a key is set; print its value only with `--reveal`.
    Get {
        key: String,
        #[arg(long)]
        reveal: bool,
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// List the keys (never the values).
    List {
        #[arg(long)]
        json: bool,
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Remove a key.
    Rm {
        key: String,
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Re-encrypt for a new passphrase (PYRA_VAULT_NEW_PASSPHRASE or asked twice) or a new
    /// identity (`--to-identity FILE`).
    Rotate {
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        to_identity: Option<PathBuf>,
    },
    /// Where the vault is, how it is sealed, whether a previous version is kept.
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// A skill name (`pyra skill list`) or a skill file.
    #[arg(value_name = "SKILL|FILE")]
    pub skill: String,

    /// An input value, `name=value`; repeatable. Numbers, booleans, lists and objects are
    /// read according to the input's declared type (lists and objects as JSON).
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,

    /// Read inputs from a JSON or YAML object in a file, or `-` for standard input.
    #[arg(long, value_name = "FILE|-")]
    pub inputs_file: Option<String>,

    /// Print the skill's outputs as JSON on standard output (progress stays on stderr).
    #[arg(long)]
    pub json: bool,

    /// Print the plan (order, conditions, what would run) and run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first.
    List {
        /// Only runs of this skill.
        #[arg(long)]
        skill: Option<String>,
        /// Only runs in this state: running, waiting, succeeded, failed, rejected,
        /// cancelled, interrupted.
        #[arg(long)]
        status: Option<String>,
        /// Only runs started since: a duration ago (`2h`, `7d`), a date (`2026-11-01`) or
        /// an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// At most this many runs.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print a JSON array of run objects (each with an `id`), newest first.
        #[arg(long)]
        json: bool,
    },
    /// Show a run: its nodes with states and durations.
    Show {
        /// The run id (a unique prefix is enough).
        run: String,
        /// Also print each node's output (and rendered inputs).
        #[arg(long)]
        outputs: bool,
        /// Print the run and its nodes as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a run's log: state changes, retries, program error output.
    Logs {
        /// The run id (a unique prefix is enough).
        run: String,
        /// Only this node's lines.
        #[arg(long)]
        node: Option<String>,
    },
    /// Run a finished run again where it failed; completed nodes keep their outputs and
    /// are never run again.
    #[command(after_help = RUN_EXIT_CODES)]
    Retry {
        /// The run id (a unique prefix is enough).
        run: String,
        /// Run this node and everything after it again, even if they succeeded.
        #[arg(long, value_name = "NODE")]
        from: Option<String>,
        /// Print the outputs as JSON on standard output.
        #[arg(long)]
        json: bool,
    },
    /// Stop a running run (from another terminal), or end a waiting one.
    Cancel {
        /// The run id (a unique prefix is enough).
        run: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SkillCommand {
    /// Check skill files and report every error with its line and column.
    ///
    /// Takes files, directories (every .yaml/.yml inside) and skill names. Without
    /// arguments, checks the built-in skills and every skill in `$PYRA_HOME/skills`.
    Validate {
        /// Skill files, directories or names.
        #[arg(value_name = "FILE|DIR|NAME")]
        targets: Vec<String>,

        /// Output format: `text` for people, `json` for editors and CI.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List the skills Pyra knows: built-in, `$PYRA_HOME/skills`, and directories given.
    List {
        /// Also list the skills in this directory.
        #[arg(long = "dir", value_name = "DIR")]
        dirs: Vec<PathBuf>,

        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a skill: inputs, secrets, triggers (with next fire times), nodes in
    /// execution order, outputs.
    Show {
        /// A skill name or file.
        #[arg(value_name = "NAME|FILE")]
        skill: String,

        /// Print the checked skill as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Draw a skill's graph: a picture in the terminal, Graphviz dot, or Mermaid.
    Graph {
        /// A skill name or file.
        #[arg(value_name = "NAME|FILE")]
        skill: String,

        #[arg(long, value_enum, default_value_t = GraphFormat::Ascii)]
        format: GraphFormat,
    },
    /// Create a commented starter skill that validates.
    New {
        /// The new skill's name (lowercase letters, digits, `-`, `_`).
        name: String,

        /// Write into this directory instead of `$PYRA_HOME/skills`.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,

        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print the JSON Schema of skill files (for editors).
    Schema,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Ascii,
    Dot,
    Mermaid,
}
