//! Executors: the code that runs each built-in node kind. [`crate::builtin_registry`]
//! attaches them to their kind's spec; the engine calls them through
//! [`runtime::Executor`].

pub mod core;
pub mod files;
pub mod http;
pub mod llm;
pub mod memory;
pub mod process;
