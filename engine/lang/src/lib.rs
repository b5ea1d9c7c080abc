//! The skill language: everything that turns a skill file into a checked graph.
//!
//! The phases follow the data: `syntax` holds the bytes and parses them into a tree that
//! remembers every position; [`validate`] checks the tree phase by phase (structure
//! against the JSON Schema generated from [`model`], kinds from the [`registry`], inputs,
//! triggers with [`cron`], prompt files, templates through [`template`] and [`hbs`]) and
//! collects every diagnostic before giving up; [`graph`] is the petgraph DAG the runtime
//! will run.
//!
//! **Architecture invariant:** pure — no IO but reading the skill file and the prompt
//! files it names (`validate::validate_path`, `validate::validate_in`), no tokio, no
//! SQLite (a test checks the dependency tree). The registry describes kinds (name, summary, `with:` schema); the
//! code that runs them is attached by the runtime, which sits above this crate. Every
//! function that can fail on user input returns diagnostics, never panics.

pub mod cron;
pub mod graph;
pub mod hbs;
pub mod model;
pub mod registry;
pub mod schema;
pub mod template;
pub mod validate;

pub use model::Skill;
pub use registry::{KindSpec, Registry};
pub use validate::{Checked, Folder, Validation, validate_in, validate_source};
