//! Built-in plugins: Rust code compiled into Pyra (each behind a cargo feature) whose
//! tools go through the same registry, pinning, policy, approvals and result handling as
//! an MCP server's. A manifest names one with `kind: builtin` and `builtin: ID`; its
//! `settings:` are the plain values the plugin declares, its `secrets:` map a declared
//! secret to a vault key. Several plugins may use the same built-in (two accounts).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

/// A setting a built-in declares: what `pyra plugin add --builtin` and `setup` ask for.
#[derive(Debug, Clone)]
pub struct Setting {
    pub key: &'static str,
    pub description: &'static str,
    /// A secret comes from the vault (`secrets:` in the manifest), never `settings:`.
    pub secret: bool,
    pub required: bool,
    pub default: Option<&'static str>,
    /// The values it may take, when it is a choice.
    pub choices: &'static [&'static str],
}

/// What a call of a built-in gets: its settings (defaults applied) and its secrets.
pub struct Call<'a> {
    pub settings: &'a BTreeMap<String, String>,
    pub secrets: &'a BTreeMap<String, String>,
    pub cancel: &'a tokio_util::sync::CancellationToken,
}

/// A future a built-in returns: an MCP `CallToolResult` as JSON, or an error that says
/// what to fix.
pub type CallFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, String>> + Send + 'a>>;

pub trait Builtin: Send + Sync {
    /// The id a manifest names (`builtin: websearch`).
    fn id(&self) -> &'static str;
    fn description(&self) -> &'static str;
    fn settings(&self) -> &'static [Setting];
    /// Its tools, as MCP tool definitions (name, description, inputSchema, annotations).
    fn tools(&self) -> Vec<Value>;
    fn call<'a>(&'a self, tool: &'a str, arguments: Value, call: Call<'a>) -> CallFuture<'a>;
}

/// Every built-in of this build.
pub fn all() -> Vec<Arc<dyn Builtin>> {
    vec![
        #[cfg(feature = "plugin-websearch")]
        Arc::new(crate::websearch::WebSearch::new()),
    ]
}

pub fn find(id: &str) -> Option<Arc<dyn Builtin>> {
    all().into_iter().find(|b| b.id() == id)
}

/// The ids of this build's built-ins, for messages.
pub fn ids() -> Vec<&'static str> {
    all().iter().map(|b| b.id()).collect()
}

/// The settings in effect: the manifest's, then the declared defaults; a required one
/// that is missing, or a value outside its choices, is an error that names the fix.
pub fn resolve_settings(
    builtin: &dyn Builtin,
    plugin: &str,
    given: &indexmap::IndexMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (key, _) in given {
        if !builtin.settings().iter().any(|s| s.key == key && !s.secret) {
            let known: Vec<&str> = builtin.settings().iter().filter(|s| !s.secret).map(|s| s.key).collect();
            return Err(format!(
                "plugin `{plugin}`: `{}` has no setting `{key}` (its settings: {})",
                builtin.id(),
                known.join(", ")
            ));
        }
    }
    for s in builtin.settings().iter().filter(|s| !s.secret) {
        match given.get(s.key).map(String::as_str).or(s.default) {
            Some(v) if !s.choices.is_empty() && !s.choices.contains(&v) => {
                return Err(format!(
                    "plugin `{plugin}`: `settings.{}: {v}` is not one of {}",
                    s.key,
                    s.choices.join(", ")
                ));
            }
            Some(v) => {
                out.insert(s.key.to_string(), v.to_string());
            }
            None if s.required => {
                return Err(format!(
                    "plugin `{plugin}` needs `settings.{}` ({}) in plugins/{plugin}/plugin.yaml",
                    s.key, s.description
                ));
            }
            None => {}
        }
    }
    Ok(out)
}
