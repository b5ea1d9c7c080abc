//! Pyra as an MCP server: the skills a user exposes become tools other agents call
//! (Claude Desktop, Claude Code, Cursor, Goose, …), over stdio (`pyra mcp serve`) and, from
//! the daemon, streamable HTTP.
//!
//! Data flow: an MCP request → [`handler::PyraServer`] (rmcp's `ServerHandler`) → a
//! [`SkillHost`] that lists the exposed skills and runs one per call. [`RuntimeHost`] is the
//! host over the engine's [`runtime::Runtime`], shared by the CLI and the daemon: each
//! call is an ordinary run (recorded, masked, resumable); its outputs become the result's
//! `structuredContent` and a text block, a failed run an `isError` result with the
//! (masked) error, and an approval the run asks for waits durably — recorded in the
//! store, answered by `pyra approve` — while the call waits, until the client cancels or
//! the wait's limit passes, when the run parks as `waiting` for `pyra approve` to finish.
//!
//! **Architecture invariant:** only skills the configuration names are listed or run
//! (the host decides; a call naming another is a protocol error, never a run); nothing
//! leaves unmasked (outputs and errors pass the process's masker); on stdio, standard
//! output carries only JSON-RPC (logs go to stderr); over HTTP, only loopback, only with
//! the bearer token, only for a loopback `Host` and `Origin` ([`http`]); no terminal IO, no
//! network client.

pub mod accept;
pub mod expose;
pub mod handler;
mod host;
pub mod http;
mod runs;
pub mod stdio;

pub use expose::Exposure;
pub use handler::PyraServer;
pub use host::{BoxFuture, Call, CallOutcome, ExposedSkill, SkillHost};
pub use runs::{Catalog, RuntimeHost};

/// The file under `$PYRA_HOME/run` where the daemon writes its MCP endpoint's address
/// (`127.0.0.1:PORT`, 0600), while it serves one.
pub const ADDR_FILE: &str = "mcp.addr";
/// The file under `$PYRA_HOME/run` holding the bearer token HTTP clients send (0600).
pub const TOKEN_FILE: &str = "mcp.token";
/// The path the daemon serves MCP on.
pub const HTTP_PATH: &str = "/mcp";
