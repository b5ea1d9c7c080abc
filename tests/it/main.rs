//! Integration tests: the real `pyra` binary in a temporary `PYRA_HOME`, asserting what a
//! user sees (stdout, stderr, exit code). One test binary for the whole CLI, to keep link
//! times down.

mod harness;
mod llm_server;
mod pty;
mod signal_mock;
mod synapse;
mod telegram_fake;

mod audit;
mod audit_schedule;
mod channels;
mod channels_approvals;
mod channels_matrix;
mod channels_passphrase;
mod channels_signal;
mod chat;
mod config;
mod config_editor;
mod corpus;
mod daemon;
mod daemon_world;
mod draft;
mod examples;
mod fuzz_corpus;
mod layering;
mod llm;
mod masking;
mod matrix_client;
mod mcp_serve;
mod memory;
mod memory_embed;
mod memory_embed_server;
// The evaluation runs the local embedder (the CLI's `local-embeddings` feature).
#[cfg(feature = "local-embeddings")]
mod memory_eval;
mod migrations;
mod multibyte;
mod plugins;
mod profiles;
mod prompt_files;
mod run;
mod runs;
mod schedule;
mod schema;
mod secrets;
mod setup;
mod signal_client;
mod skill_commands;
mod style;
mod telemetry;
mod tracing_logs;
mod vault;
mod web;
mod web_browser;
