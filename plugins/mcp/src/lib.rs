//! Plugins: external MCP servers and built-in Rust plugins, described by a manifest under
//! `$PYRA_HOME/plugins/NAME/`, their tools pinned by hash, gated by a policy, and offered
//! as node kinds (`uses: NAME.TOOL`) and agent tools through one registry.

pub mod builtin;
pub mod checked;
#[cfg(feature = "plugin-cloud")]
pub mod cloud;
pub mod conn;
#[cfg(feature = "plugin-docker")]
pub mod docker;
#[cfg(feature = "plugin-email")]
pub mod email;
pub mod exec;
pub mod host;
pub mod import;
pub mod lock;
pub mod manifest;
#[cfg(feature = "plugin-nextcloud")]
pub mod nextcloud;
pub mod policy;
pub mod presets;
pub mod reaper;
pub mod registry;
#[cfg(feature = "plugin-ssh")]
pub mod ssh;
pub mod stderr;
#[cfg(feature = "plugin-websearch")]
pub mod websearch;
