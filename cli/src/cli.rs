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
