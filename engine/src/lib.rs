//! Pyra's skill engine: everything that turns a skill file into a checked, runnable graph.
//!
//! The phases follow the data: [`source`] holds the bytes and maps offsets to lines,
//! [`yaml`] parses them into a tree that remembers every position, [`validate`] checks the
//! tree phase by phase (structure, kinds, inputs, triggers, templates, graph) and collects
//! every [`diag::Diagnostic`] before giving up, and [`graph`] is the petgraph DAG the
//! scheduler will run. This crate does no terminal IO: the CLI renders what it returns.

pub mod audit;
pub mod chat;
pub mod config;
pub mod cron;
pub mod diag;
pub mod duration;
pub mod graph;
pub mod memory;
pub mod model;
pub mod paths;
pub mod private;
pub mod registry;
pub mod run;
pub mod schema;
pub mod security;
pub mod source;
pub mod suggest;
pub mod template;
pub mod validate;
pub mod vault;
pub mod yaml;

pub use diag::{Diagnostic, Severity};
pub use model::Skill;
pub use registry::{KindSpec, Registry};
pub use source::SourceFile;
pub use validate::{Checked, Validation, validate_source};
