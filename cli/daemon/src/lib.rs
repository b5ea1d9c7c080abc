//! The daemon's foundations: [`lock`] (one daemon per home, held for its life and released
//! by the kernel on a crash), [`ipc`] (the control socket — 0600 in a 0700 folder, the
//! peer's uid checked on every connection — and its newline-delimited JSON protocol) and
//! [`supervisor`] (tasks restarted with backoff when they fail or panic), and [`slots`]
//! (what the catch-up and overlap policies decide for a trigger's slots). [`webhook`] is
//! the optional loopback-only receiver that turns a `POST /hooks/NAME` signed with NAME's
//! secret into the event NAME (there the HMAC signature, not a peer uid, is what is
//! checked). [`mcp`] serves the exposed skills over MCP's streamable HTTP (the `serve`
//! crate), on loopback with a bearer token. [`service`] writes the systemd user unit or
//! launchd agent that starts the
//! daemon at login and sends systemd its `sd_notify` messages. [`watch`] turns file changes
//! into runs (one per batch, complete writes only, nothing lost across overflows or downtime). Triggers, runs and the
//! `pyra daemon` commands build on these.
//!
//! **Architecture invariant:** nothing from a client is trusted: every connection's peer
//! uid is checked before a byte is read, every request line is bounded, and a bad request
//! gets an error reply or a close while the daemon keeps serving everyone else; no task
//! failure or panic ends the daemon; the socket of a live daemon is never unlinked.

pub mod agent;
pub mod core;
pub mod history;
pub mod hooks;
pub mod ipc;
pub mod lock;
pub mod log;
pub mod mcp;
pub mod memory;
pub mod plugins;
pub mod server;
pub mod service;
pub mod slots;
pub mod supervisor;
pub mod watch;
pub mod webhook;
