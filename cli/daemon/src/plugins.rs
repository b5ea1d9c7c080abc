//! What the daemon knows of plugins: a handle the CLI gives it (this crate does not
//! depend on the plugin host, which brings an HTTP client). Servers started by runs in
//! the daemon are reused across runs, stopped when idle (a supervised task the CLI adds),
//! listed in `status`, restarted by `pyra plugin restart`, and stopped with the daemon.

use runtime::BoxFuture;
use serde_json::Value;

pub trait PluginControl: Send + Sync {
    /// A cheap fingerprint of the plugins' manifests and lock files: when it changes, the
    /// daemon reloads (a newly approved tool becomes usable without a restart).
    fn fingerprint(&self) -> u64;
    /// The node kinds (built-in and every plugin's tools) as the files say now.
    fn kinds(&self) -> runtime::Kinds;
    /// The running servers, for `pyra daemon status`.
    fn status(&self) -> Value;
    /// Stops a plugin's server and clears `broken`; whether it was running.
    fn restart(&self, name: String) -> BoxFuture<'static, bool>;
    /// Stops every server (the daemon stopping).
    fn shutdown(&self) -> BoxFuture<'static, ()>;
}
