//! The `cloud` built-in (feature `plugin-cloud`): Google Drive, OneDrive, Dropbox and
//! every other rclone remote, by running `rclone` with an argv (no crate, no shell).
//! rclone owns the providers' OAuth and token refresh; the plugin keeps its own rclone
//! config in its 0700 folder, gets the config's password from the vault, confines every
//! path to a root on the remote (and local files to one folder), and ships a policy that
//! allows the read-only tools (`list`, `get`, `about`) and asks for the rest.

mod args;
mod run;
mod tools;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use config::fields::{Field, Kind};
use serde_json::Value;

use crate::builtin::{Builtin, Call, CallFuture, SetupCommand};
use crate::manifest::Decision;

const FIELDS: &[Field] = &[
    Field::new("rclone", "rclone program", Kind::Text, "the rclone program (a path, or a name on PATH)")
        .default("rclone"),
    Field::new(
        "config",
        "rclone config file",
        Kind::Text,
        "rclone's config file with the remotes; default rclone.conf in the plugin's folder",
    ),
    Field::new("remote", "Remote", Kind::Text, "the remote the tools use unless told otherwise, e.g. gdrive:"),
    Field::new(
        "remotes",
        "Other remotes",
        Kind::List,
        "other remotes a call may name with `remote` (default: only `remote`)",
    ),
    Field::new(
        "root",
        "Root folder",
        Kind::Text,
        "the folder on each remote the tools are confined to, e.g. Pyra (default: the whole remote)",
    ),
    Field::new(
        "local_dir",
        "Local folder",
        Kind::Text,
        "the local folder `put` may upload from and `download` may write into, e.g. ~/Downloads (default: none)",
    ),
    Field::new("timeout", "Timeout", Kind::Integer { min: 5, max: 86_400 }, "seconds one rclone run may take")
        .default("600"),
    Field::new(
        "config_password",
        "rclone config password",
        Kind::Secret,
        "the password of an encrypted rclone config (RCLONE_CONFIG_PASS), from the vault; Enter skips for a plain config",
    ),
];

/// This module's built-ins, for [`crate::builtin::all`].
pub fn builtins() -> Vec<Arc<dyn Builtin>> {
    vec![Arc::new(Cloud)]
}

pub struct Cloud;

/// A call's resolved setup: how to run rclone, which remotes it may use, the root.
pub(crate) struct Setup<'a> {
    pub rclone: run::Rclone,
    pub plugin: &'a str,
    pub config_shown: String,
    pub default_remote: Option<String>,
    pub allowed: Vec<String>,
    pub root: String,
    pub local_dir: Option<String>,
    pub password_key: Option<String>,
    pub pyra_home: PathBuf,
}

impl Setup<'_> {
    /// The remote a call names (checked against the settings), or the default.
    pub fn remote(&self, given: Option<&str>) -> Result<String, String> {
        let Some(given) = given.filter(|g| !g.is_empty()) else {
            return self.default_remote.clone().ok_or_else(|| {
                format!(
                    "plugin `{}` has no remote: set one with `pyra plugin setup {} --set remote=gdrive:` (the name of a \
                     remote in its rclone config)",
                    self.plugin, self.plugin
                )
            });
        };
        let name = args::remote_name(given)?.to_string();
        if self.default_remote.as_deref() != Some(name.as_str()) && !self.allowed.contains(&name) {
            return Err(format!(
                "remote `{name}` is not one plugin `{}` may use (`settings.remote` and `settings.remotes`)",
                self.plugin
            ));
        }
        Ok(name)
    }

    pub fn context<'c>(&'c self, remote: &'c str, path: &'c str) -> args::Context<'c> {
        args::Context {
            plugin: self.plugin,
            config: &self.config_shown,
            remote,
            password_key: self.password_key.as_deref(),
            path,
        }
    }
}

/// `~/x` expanded with HOME.
fn expand(path: &str) -> PathBuf {
    paths::expand_home(path, std::env::var_os("HOME").map(PathBuf::from).as_deref())
}

/// The rclone program: `settings.rclone` (`~/` expanded), or `rclone` on PATH.
fn program(setting: Option<&str>) -> String {
    match setting.filter(|p| !p.is_empty()) {
        Some(p) => expand(p).to_string_lossy().into_owned(),
        None => "rclone".into(),
    }
}

/// The rclone config a plugin uses: `settings.config`, or rclone.conf in its folder.
pub(crate) fn config_path(dir: &Path, settings: &BTreeMap<String, String>) -> PathBuf {
    settings.get("config").filter(|c| !c.is_empty()).map(|c| expand(c)).unwrap_or_else(|| dir.join("rclone.conf"))
}

fn setup<'a>(call: &Call<'a>) -> Result<Setup<'a>, String> {
    let bad = |key: &str, why: String| {
        format!(
            "plugin `{}`: `settings.{key}` {why}; fix it with `pyra plugin setup {} --set {key}=VALUE`",
            call.plugin, call.plugin
        )
    };
    let default_remote = match call.setting("remote") {
        Some(r) => Some(args::remote_name(r).map_err(|e| bad("remote", e))?.to_string()),
        None => None,
    };
    let mut allowed = Vec::new();
    for r in call.setting("remotes").unwrap_or("").split(',').map(str::trim).filter(|r| !r.is_empty()) {
        allowed.push(args::remote_name(r).map_err(|e| bad("remotes", e))?.to_string());
    }
    let root = call.setting("root").unwrap_or("").trim().to_string();
    if root.chars().any(char::is_control) {
        return Err(bad("root", "contains a control character".into()));
    }
    let config = config_path(call.dir, call.settings);
    let cache_dir = call.dir.join("cache");
    let _ = std::fs::create_dir_all(&cache_dir);
    let _ = paths::make_private(&cache_dir, true);
    let timeout = call.setting("timeout").and_then(|t| t.parse().ok()).unwrap_or(600);
    let password = call.secrets.get("config_password").cloned();
    let password_key = password.as_ref().map(|_| call.vault_key_of("config_password"));
    let pyra_home = call.dir.parent().and_then(Path::parent).unwrap_or(call.dir).to_path_buf();
    Ok(Setup {
        rclone: run::Rclone {
            program: program(call.setting("rclone")),
            config: config.clone(),
            password,
            cache_dir,
            cwd: call.dir.to_path_buf(),
            timeout: Duration::from_secs(timeout),
        },
        plugin: call.plugin,
        config_shown: config.display().to_string(),
        default_remote,
        allowed,
        root,
        local_dir: call.setting("local_dir").map(str::to_string),
        password_key,
        pyra_home,
    })
}

impl Builtin for Cloud {
    fn id(&self) -> &'static str {
        "cloud"
    }

    fn description(&self) -> &'static str {
        "Cloud drives (Google Drive, OneDrive, Dropbox, WebDAV, S3 and every other rclone remote) through rclone."
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn tools(&self) -> Vec<Value> {
        tools::definitions()
    }

    fn policy(&self) -> &'static [(&'static str, Decision)] {
        &[
            ("list", Decision::Allow),
            ("get", Decision::Allow),
            ("about", Decision::Allow),
            ("put", Decision::Ask),
            ("move", Decision::Ask),
            ("delete", Decision::Ask),
            ("download", Decision::Ask),
        ]
    }

    fn setup_commands(
        &self,
        plugin: &str,
        dir: &Path,
        settings: &BTreeMap<String, String>,
        mapped: &[&str],
    ) -> Vec<SetupCommand> {
        setup_commands(plugin, dir, settings, mapped.contains(&"config_password"))
    }

    fn call<'a>(&'a self, tool: &'a str, arguments: Value, call: Call<'a>) -> CallFuture<'a> {
        Box::pin(async move {
            let s = setup(&call)?;
            tools::call(tool, &arguments, &s, call.cancel).await
        })
    }
}

/// What rclone's interactive setup gets beyond the run-time environment
/// ([`run::PASSED`]): what opening a browser for the provider's sign-in needs.
const SETUP_EXTRA: &[&str] =
    &["TERM", "DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "BROWSER"];

/// `rclone config` on the plugin's config file (remotes added there, with the provider's
/// OAuth sign-in), then, with a config password in the vault and a config not encrypted
/// yet, `rclone config encryption set` with that password (from the environment).
fn setup_commands(
    plugin: &str,
    dir: &Path,
    settings: &BTreeMap<String, String>,
    has_password: bool,
) -> Vec<SetupCommand> {
    let program = program(settings.get("rclone").map(String::as_str));
    let config = config_path(dir, settings);
    let shown = config.display().to_string();
    let env: Vec<(String, String)> = run::PASSED
        .iter()
        .chain(SETUP_EXTRA)
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    let secret_env =
        if has_password { vec![("RCLONE_CONFIG_PASS".to_string(), "config_password".to_string())] } else { Vec::new() };
    let remote = settings.get("remote").map(|r| r.trim_end_matches(':')).filter(|r| !r.is_empty());
    let name = remote.map(|r| format!("name it `{r}` (`settings.remote`), ")).unwrap_or_default();
    let encrypted = std::fs::read_to_string(&config)
        .map(|t| t.starts_with("# Encrypted rclone configuration File"))
        .unwrap_or(false);
    let password = match (has_password, encrypted) {
        (true, false) => format!(
            " Leave `s` (the config password) alone: next, Pyra encrypts the file with plugin `{plugin}`'s \
             `config_password` from the vault."
        ),
        (true, true) => format!(" rclone opens the file with plugin `{plugin}`'s `config_password` from the vault."),
        (false, _) => String::new(),
    };
    let mut out = vec![SetupCommand {
        intro: format!(
            "rclone's own setup of the remotes in {shown}: `n` adds one ({name}pick the provider: drive, onedrive, \
             dropbox, webdav, s3, …), and sign in when it opens your browser (without a browser here, answer `n` to \
             auto config and follow its `rclone authorize` steps on a machine with one); `q` ends.{password}"
        ),
        argv: vec![program.clone(), "--config".into(), shown.clone(), "config".into()],
        env: env.clone(),
        secret_env: secret_env.clone(),
    }];
    if has_password && !encrypted {
        out.push(SetupCommand {
            intro: format!("encrypting {shown} with the password in the vault"),
            argv: vec![
                program,
                "--config".into(),
                shown,
                "config".into(),
                "encryption".into(),
                "set".into(),
                "--password-command".into(),
                "printenv RCLONE_CONFIG_PASS".into(),
            ],
            env,
            secret_env,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_runs_rclone_config_on_the_plugins_file_then_encrypts_it_with_the_vault_password() {
        let dir = tempfile::tempdir().unwrap();
        let settings: BTreeMap<String, String> = [("rclone", "/opt/rclone"), ("remote", "gdrive:")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let conf = dir.path().join("rclone.conf").display().to_string();
        let plain = setup_commands("cloud", dir.path(), &settings, false);
        assert_eq!(plain.len(), 1);
        assert_eq!(plain[0].argv, ["/opt/rclone", "--config", conf.as_str(), "config"]);
        assert!(plain[0].intro.contains("name it `gdrive`") && plain[0].secret_env.is_empty(), "{:?}", plain[0]);
        assert!(
            plain[0].env.iter().all(|(k, _)| run::PASSED.contains(&k.as_str()) || SETUP_EXTRA.contains(&k.as_str()))
        );
        let with = setup_commands("cloud", dir.path(), &settings, true);
        assert_eq!(with.len(), 2);
        assert_eq!(
            with[1].argv[3..],
            ["config", "encryption", "set", "--password-command", "printenv RCLONE_CONFIG_PASS"]
        );
        assert_eq!(with[1].secret_env, [("RCLONE_CONFIG_PASS".to_string(), "config_password".to_string())]);
        // Encrypted already: only the dialogue, which opens it with the password.
        std::fs::write(
            dir.path().join("rclone.conf"),
            "# Encrypted rclone configuration File\n\nRCLONE_ENCRYPT_V0:\nxx",
        )
        .unwrap();
        let again = setup_commands("cloud", dir.path(), &settings, true);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].secret_env.len(), 1);
    }

    #[test]
    fn the_config_defaults_to_the_plugins_folder() {
        let mut settings = BTreeMap::new();
        assert_eq!(config_path(Path::new("/h/plugins/c"), &settings), Path::new("/h/plugins/c/rclone.conf"));
        settings.insert("config".to_string(), "/etc/rclone.conf".to_string());
        assert_eq!(config_path(Path::new("/h/plugins/c"), &settings), Path::new("/etc/rclone.conf"));
    }
}
