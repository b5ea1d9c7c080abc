//! Built-in plugins: Rust code compiled into Pyra (each behind a cargo feature) whose
//! tools go through the same registry, pinning, policy, approvals and result handling as
//! an MCP server's. A manifest names one with `kind: builtin` and `builtin: ID`; its
//! `settings:` are the plain values the plugin declares, its `secrets:` map a declared
//! secret to a vault key. Several plugins may use the same built-in (two accounts).
//!
//! A built-in declares its settings once, as [`config::fields::Field`]s (key, label, kind,
//! default, choices, description; [`Kind::Secret`] for a vault value): the manifest check,
//! `pyra plugin setup` and `doctor`, and `pyra config`'s editor all work from that list.

use std::collections::BTreeMap;
use std::sync::Arc;

use config::fields::{Field, Kind};
use serde_json::Value;

use crate::manifest::Decision;

/// What a call of a built-in gets: its settings (defaults applied) and its secrets.
pub struct Call<'a> {
    /// The plugin's name (`pyra plugin add NAME`), for messages.
    pub plugin: &'a str,
    /// The plugin's own directory (0700, `PYRA_HOME/plugins/NAME`), for state it keeps
    /// (artefacts, control sockets, a config file); it exists when the call is made.
    pub dir: &'a std::path::Path,
    pub settings: &'a BTreeMap<String, String>,
    /// Declared secret → its value from the vault.
    pub secrets: &'a BTreeMap<String, String>,
    /// Declared secret → the vault key it is mapped to, so an error can say which key to
    /// fix (`the IMAP server refused the password in vault key plugin:mail:password`).
    pub secret_keys: &'a BTreeMap<String, String>,
    pub cancel: &'a tokio_util::sync::CancellationToken,
}

impl Call<'_> {
    /// A setting's value (defaults applied); `None` when unset and without a default.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A declared secret's value, or an error that says how to map it.
    pub fn secret(&self, key: &str) -> Result<&str, String> {
        self.secrets.get(key).map(String::as_str).ok_or_else(|| {
            format!(
                "plugin `{}` has no `{key}`: map it to a vault key under `secrets:` in plugins/{}/plugin.yaml \
                 (`pyra plugin setup {}` asks for it)",
                self.plugin, self.plugin, self.plugin
            )
        })
    }

    /// The vault key a declared secret is mapped to (for an error's fix).
    pub fn vault_key_of(&self, key: &str) -> String {
        self.secret_keys.get(key).cloned().unwrap_or_else(|| vault_key(self.plugin, key))
    }
}

/// A future a built-in returns: an MCP `CallToolResult` as JSON, or an error that says
/// what to fix.
pub type CallFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, String>> + Send + 'a>>;

pub trait Builtin: Send + Sync {
    /// The id a manifest names (`builtin: websearch`).
    fn id(&self) -> &'static str;
    fn description(&self) -> &'static str;
    /// Its settings, in the order `pyra plugin setup` asks for them; a [`Kind::Secret`]
    /// one comes from the vault (`secrets:` in the manifest), never `settings:`.
    fn fields(&self) -> &'static [Field];
    /// Its tools, as MCP tool definitions (name, description, inputSchema, annotations).
    fn tools(&self) -> Vec<Value>;
    fn call<'a>(&'a self, tool: &'a str, arguments: Value, call: Call<'a>) -> CallFuture<'a>;
    /// The policy `pyra plugin add --builtin` writes into a new manifest, for the user to
    /// read and change: rules (tool or glob → decision) over a default of `ask`. Each
    /// built-in allows its read-only tools, asks for the rest and denies what must never
    /// run unattended.
    fn policy(&self) -> &'static [(&'static str, Decision)] {
        &[]
    }
    /// The settings taken together (each was checked by its kind already): e.g. cleartext
    /// only to a loopback host. Runs wherever the manifest is checked (`add`, `setup`,
    /// `doctor`, every load), so a bad combination is a located error before any call.
    fn check(&self, plugin: &str, settings: &BTreeMap<String, String>) -> Result<(), String> {
        let _ = (plugin, settings);
        Ok(())
    }
    /// Whether this call asks even where the policy allows it, and why (`ssh.exec` of a
    /// command outside the plugin's allowlist). It can only make a decision stricter.
    fn asks(&self, tool: &str, arguments: &Value, settings: &BTreeMap<String, String>) -> Option<String> {
        let _ = (tool, arguments, settings);
        None
    }
    /// The programs `pyra plugin setup` runs on the terminal, in order, after the
    /// settings and secrets (rclone's own dialogue that adds a remote and signs in);
    /// `mapped` are the declared secrets the manifest maps. None for most.
    fn setup_commands(
        &self,
        plugin: &str,
        dir: &std::path::Path,
        settings: &BTreeMap<String, String>,
        mapped: &[&str],
    ) -> Vec<SetupCommand> {
        let _ = (plugin, dir, settings, mapped);
        Vec::new()
    }
    /// The events this built-in emits while the daemon runs (`email.received`), for
    /// `event:` triggers; empty for most.
    fn events(&self) -> &'static [&'static str] {
        &[]
    }
    /// Watches for those events until `call.cancel` fires, calling `emit` for each (its
    /// id must be stable, so an event seen twice starts its runs once). The daemon runs
    /// one watch per enabled plugin of this built-in, supervised: an `Err` is reported
    /// and the watch restarted with backoff.
    fn watch<'a>(&'a self, call: Call<'a>, emit: &'a (dyn Fn(Emitted) + Send + Sync)) -> CallFuture<'a> {
        let _ = (call, emit);
        Box::pin(async { Err(format!("built-in `{}` emits no events", self.id())) })
    }
}

/// A program [`Builtin::setup_commands`] asks `pyra plugin setup` to run on the terminal.
#[derive(Debug, Clone, PartialEq)]
pub struct SetupCommand {
    /// Said before it runs: what it is for and what to do in it.
    pub intro: String,
    pub argv: Vec<String>,
    /// Its whole environment: nothing else is passed on (not Pyra's own keys).
    pub env: Vec<(String, String)>,
    /// Environment variable → declared secret: the secret's vault value, when the
    /// manifest maps it, goes into that variable (never onto the command line).
    pub secret_env: Vec<(String, String)>,
}

/// One event a built-in's watch saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    /// One of [`Builtin::events`], e.g. `email.received`.
    pub name: &'static str,
    /// Stable across restarts: e.g. the account, folder, UIDVALIDITY and UID.
    pub id: String,
    /// What `event.data` holds for the trigger's `if:` and `with:` (never a secret).
    pub data: Value,
}

/// Every built-in of this build.
pub fn all() -> Vec<Arc<dyn Builtin>> {
    #[allow(unused_mut, reason = "a build without built-in plugins adds none")]
    let mut all: Vec<Arc<dyn Builtin>> = Vec::new();
    #[cfg(feature = "plugin-websearch")]
    all.push(Arc::new(crate::websearch::WebSearch::new()));
    #[cfg(feature = "plugin-email")]
    all.extend(crate::email::builtins());
    #[cfg(feature = "plugin-nextcloud")]
    all.extend(crate::nextcloud::builtins());
    #[cfg(feature = "plugin-ssh")]
    all.extend(crate::ssh::builtins());
    #[cfg(feature = "plugin-docker")]
    all.extend(crate::docker::builtins());
    #[cfg(feature = "plugin-cloud")]
    all.extend(crate::cloud::builtins());
    all
}

pub fn find(id: &str) -> Option<Arc<dyn Builtin>> {
    all().into_iter().find(|b| b.id() == id)
}

/// The ids of this build's built-ins, for messages.
pub fn ids() -> Vec<&'static str> {
    all().iter().map(|b| b.id()).collect()
}

/// The declared fields of the built-in `id`, so a caller (the config editor, `pyra
/// plugin setup`) can render and check any built-in's settings without knowing it.
pub fn fields_of(id: &str) -> Option<&'static [Field]> {
    find(id).map(|b| b.fields())
}

/// The vault key a plugin's declared secret is mapped to by default
/// (`plugin:NAME:KEY`, as `pyra plugin import` and the manifest's help name them).
pub fn vault_key(plugin: &str, key: &str) -> String {
    format!("plugin:{plugin}:{key}")
}

/// Whether `value` fits `field`'s kind: `Err` says what it must be ("is not one of
/// searxng, brave"), for the caller to put after the setting's name and before the fix.
/// Lists and maps are comma-separated text; a map's items are `name=value`.
pub fn check_value(field: &Field, value: &str) -> Result<(), String> {
    match field.kind {
        Kind::Choice(choices) if !choices.contains(&value) => Err(format!("is not one of {}", choices.join(", "))),
        Kind::Bool if !matches!(value, "true" | "false") => Err("is not `true` or `false`".into()),
        Kind::Integer { min, max } => match value.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(()),
            _ => Err(format!("is not a whole number from {min} to {max}")),
        },
        Kind::Number { min, max } => match value.parse::<f64>() {
            Ok(n) if n.is_finite() && (min..=max).contains(&n) => Ok(()),
            _ => Err(format!("is not a number from {min} to {max}")),
        },
        Kind::Map if value.split(',').map(str::trim).filter(|i| !i.is_empty()).any(|i| !i.contains('=')) => {
            Err("is not a comma-separated list of `name=value`".into())
        }
        Kind::Secret => Err("is a secret: it lives in the vault, never in `settings:`".into()),
        _ => Ok(()),
    }
}

/// The value as a message may show it: a key-shaped one is not repeated.
pub fn shown(value: &str) -> &str {
    if security::redact::find_key_shaped(value).is_empty() { value } else { "[a secret-shaped value]" }
}

/// What a setting may be, for a prompt or a message: its choices, range or `true|false`.
pub fn hint(field: &Field) -> Option<String> {
    match field.kind {
        Kind::Choice(c) => Some(c.join("|")),
        Kind::Bool => Some("true|false".into()),
        Kind::Integer { min, max } => Some(format!("{min}–{max}")),
        Kind::Number { min, max } => Some(format!("{min}–{max}")),
        Kind::List => Some("comma-separated".into()),
        Kind::Map => Some("name=value, comma-separated".into()),
        _ => None,
    }
}

/// The declared non-secret field `key`, or an error that names the plugin's settings and
/// the closest one.
pub fn setting(builtin: &dyn Builtin, plugin: &str, key: &str) -> Result<&'static Field, String> {
    let fields = builtin.fields();
    if let Some(f) = fields.iter().find(|f| f.key == key && !f.kind.is_secret()) {
        return Ok(f);
    }
    if fields.iter().any(|f| f.key == key) {
        return Err(format!(
            "plugin `{plugin}`: `{key}` is a secret, kept in the vault and never in `settings:`; \
             `pyra plugin setup {plugin}` asks for it"
        ));
    }
    let known: Vec<&str> = fields.iter().filter(|f| !f.kind.is_secret()).map(|f| f.key).collect();
    let mean = syntax::suggest::help(key, known.iter().copied()).map(|h| format!(" — {h}")).unwrap_or_default();
    Err(format!(
        "plugin `{plugin}`: `{}` has no setting `{key}`{mean} (its settings: {})",
        builtin.id(),
        known.join(", ")
    ))
}

/// The settings in effect: the manifest's, then the declared defaults. An undeclared
/// key, a value that does not fit its kind, or a missing required one is an error that
/// names the plugin, the setting and the fix.
pub fn resolve_settings(
    builtin: &dyn Builtin,
    plugin: &str,
    given: &indexmap::IndexMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    for key in given.keys() {
        setting(builtin, plugin, key)?;
    }
    let mut out = BTreeMap::new();
    for f in builtin.fields().iter().filter(|f| !f.kind.is_secret()) {
        match given.get(f.key).map(String::as_str).or(f.default) {
            Some(v) => {
                if let Err(why) = check_value(f, v) {
                    return Err(format!(
                        "plugin `{plugin}`: `settings.{}: {}` {why}; fix it in plugins/{plugin}/plugin.yaml or with \
                         `pyra plugin setup {plugin} --set {}=VALUE`",
                        f.key,
                        shown(v),
                        f.key
                    ));
                }
                out.insert(f.key.to_string(), v.to_string());
            }
            None if f.required => {
                return Err(format!(
                    "plugin `{plugin}` needs `settings.{}` ({}) in plugins/{plugin}/plugin.yaml: \
                     `pyra plugin setup {plugin}` asks for it",
                    f.key, f.description
                ));
            }
            None => {}
        }
    }
    builtin.check(plugin, &out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;

    const FIELDS: &[Field] = &[
        Field::new("mode", "Mode", Kind::Choice(&["a", "b"]), "a or b").default("a"),
        Field::new("count", "Count", Kind::Integer { min: 1, max: 20 }, "how many"),
        Field::new("ratio", "Ratio", Kind::Number { min: 0.0, max: 1.0 }, "how much"),
        Field::new("safe", "Safe", Kind::Bool, "whether"),
        Field::new("host", "Host", Kind::Text, "where").required(),
        Field::new("token", "Token", Kind::Secret, "the key"),
    ];

    impl Builtin for Fake {
        fn id(&self) -> &'static str {
            "fake"
        }
        fn description(&self) -> &'static str {
            "a test double"
        }
        fn fields(&self) -> &'static [Field] {
            FIELDS
        }
        fn tools(&self) -> Vec<Value> {
            Vec::new()
        }
        fn call<'a>(&'a self, _: &'a str, _: Value, _: Call<'a>) -> CallFuture<'a> {
            Box::pin(async { Err("no tools".into()) })
        }
    }

    fn resolve(pairs: &[(&str, &str)]) -> Result<BTreeMap<String, String>, String> {
        let given = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        resolve_settings(&Fake, "p", &given)
    }

    #[test]
    fn values_are_checked_by_kind_and_the_message_names_the_fix() {
        let ok = resolve(&[("host", "h"), ("count", "3"), ("ratio", "0.5"), ("safe", "true")]).unwrap();
        assert_eq!(ok["mode"], "a");
        assert_eq!(ok["count"], "3");
        for (key, value, why) in [
            ("mode", "c", "`settings.mode: c` is not one of a, b"),
            ("count", "30", "`settings.count: 30` is not a whole number from 1 to 20"),
            ("count", "x", "is not a whole number"),
            ("ratio", "2", "is not a number from 0 to 1"),
            ("safe", "yes", "is not `true` or `false`"),
        ] {
            let e = resolve(&[("host", "h"), (key, value)]).unwrap_err();
            assert!(e.contains(why) && e.contains("plugin `p`"), "{e}");
            assert!(e.contains(&format!("pyra plugin setup p --set {key}=VALUE")), "{e}");
        }
        let e = resolve(&[]).unwrap_err();
        assert!(e.contains("needs `settings.host` (where)"), "{e}");
    }

    #[test]
    fn an_unknown_or_secret_key_names_the_settings_and_the_closest() {
        let e = resolve(&[("host", "h"), ("cuont", "3")]).unwrap_err();
        assert!(e.contains("has no setting `cuont`") && e.contains("did you mean `count`?"), "{e}");
        assert!(e.contains("its settings: mode, count, ratio, safe, host"), "{e}");
        let e = resolve(&[("host", "h"), ("token", "x")]).unwrap_err();
        assert!(e.contains("`token` is a secret"), "{e}");
    }

    #[test]
    fn a_secret_shaped_value_is_not_repeated() {
        let key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD";
        let e = resolve(&[("host", "h"), ("count", key)]).unwrap_err();
        assert!(!e.contains(key), "{e}");
        assert_eq!(vault_key("web", "api_key"), "plugin:web:api_key");
        assert_eq!(hint(&FIELDS[0]).as_deref(), Some("a|b"));
    }
}
