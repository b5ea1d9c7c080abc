//! Plugins: external MCP servers and built-in Rust plugins, described by a manifest under
//! `$PYRA_HOME/plugins/NAME/`, their tools pinned by hash, gated by a policy, and offered
//! as node kinds (`uses: NAME.TOOL`) and agent tools through one registry.

pub mod builtin;
pub mod checked;
pub mod conn;
pub mod exec;
pub mod host;
pub mod import;
pub mod lock;
pub mod manifest;
pub mod policy;
pub mod presets;
pub mod reaper;
pub mod registry;
pub mod stderr;
#[cfg(feature = "plugin-websearch")]
pub mod websearch;
#[cfg(feature = "plugin-email")]
pub mod email;
#[cfg(feature = "plugin-nextcloud")]
pub mod nextcloud;
#[cfg(feature = "plugin-ssh")]
pub mod ssh;
#[cfg(feature = "plugin-docker")]
pub mod docker;
#[cfg(feature = "plugin-cloud")]
pub mod cloud;
