//! The OpenTelemetry export (crate `telemetry`, cargo feature `telemetry`, on by default),
//! set up from config.yaml's `telemetry:` for a command or the daemon: the layer (and the
//! subscriber of its own a command without `-v` installs instead) handed to `daemon::log`, its flush at exit, its counts for `pyra daemon status`. Without the
//! feature, or without the section, there is no layer and nothing is exported.
//!
//! A header written `vault:NAME` is read when the first batch is sent, on the exporter's
//! thread, without ever asking on the terminal: in the daemon from its vault agent; in a
//! command from a running daemon's agent, or the vault opened with
//! `PYRA_VAULT_PASSPHRASE` / `PYRA_VAULT_IDENTITY`. Each read is in the security log.

use std::sync::Arc;

#[cfg(feature = "telemetry")]
use runtime::secrets::SecretSource;

use crate::home::Home;

/// The export layer for `home`'s config.yaml, or `None` (no `telemetry:`, or a file that
/// does not load: the command reports that itself when it reads it). `agent`: the
/// daemon's vault agent, which serves the headers read from the vault.
#[cfg(feature = "telemetry")]
pub(crate) fn layer(home: &Home, agent: Option<Arc<daemon::agent::Agent>>) -> Option<daemon::log::Extra> {
    // Every command comes here: a file that cannot have the section is not parsed.
    let text = std::fs::read(config::Config::file_path(&home.root)).ok()?;
    if !text.windows(b"telemetry".len()).any(|w| w == b"telemetry") {
        return None;
    }
    let settings = config::Config::load(&home.root).ok()?.telemetry?;
    let headers = settings
        .header_values()
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                config::HeaderValue::Plain(v) => telemetry::Header::Plain(v.to_string()),
                config::HeaderValue::Vault(key) => telemetry::Header::Vault(key.to_string()),
            };
            (name.to_string(), value)
        })
        .collect::<Vec<_>>();
    let needs_vault = headers.iter().any(|(_, v)| matches!(v, telemetry::Header::Vault(_)));
    let secrets: Option<Arc<dyn SecretSource>> = needs_vault.then(|| match agent {
        Some(agent) => Arc::new(FromAgent(agent)) as Arc<dyn SecretSource>,
        None => Arc::new(Quiet::new(home)),
    });
    let export = telemetry::export(telemetry::Settings {
        endpoint: settings.endpoint.clone(),
        headers,
        service_name: settings.service_name().to_string(),
        export_content: settings.export_content(),
        secrets,
    });
    Some(daemon::log::Extra { layer: export.layer, alone: Some(export.subscriber) })
}

#[cfg(not(feature = "telemetry"))]
pub(crate) fn layer(_: &Home, _: Option<Arc<daemon::agent::Agent>>) -> Option<daemon::log::Extra> {
    None
}

/// Sends what is queued before the process exits (at most 2 s).
pub(crate) fn flush() {
    #[cfg(feature = "telemetry")]
    telemetry::shutdown();
}

/// The exporter's counts, for `pyra daemon status` (`null` when nothing is exported).
pub(crate) fn status() -> serde_json::Value {
    #[cfg(feature = "telemetry")]
    if let Some(stats) = telemetry::stats() {
        return stats.to_json();
    }
    serde_json::Value::Null
}

/// The daemon's agent, each read audited as the exporter's.
#[cfg(feature = "telemetry")]
struct FromAgent(Arc<daemon::agent::Agent>);

#[cfg(feature = "telemetry")]
impl SecretSource for FromAgent {
    fn get(&self, name: &str) -> Result<age::secrecy::SecretString, String> {
        self.0.get_for(name, "the telemetry exporter (a header)")
    }
}

/// A command's vault for headers: a running daemon's agent, or the vault opened from the
/// environment; never a prompt (the exporter runs on its own thread, beside the command).
#[cfg(feature = "telemetry")]
struct Quiet {
    home: Home,
    log: security::audit::SecurityLog,
}

#[cfg(feature = "telemetry")]
impl Quiet {
    fn new(home: &Home) -> Quiet {
        Quiet { home: home.clone(), log: security::audit::SecurityLog::new(&home.root) }
    }

    fn read(&self, name: &str) -> Result<age::secrecy::SecretString, String> {
        if let Some(value) = crate::vault_cmd::from_agent(&self.home, name).map_err(|f| f.message)? {
            return Ok(value);
        }
        let vault = vault::Vault::new(&self.home.root);
        let unlock = crate::vault_cmd::unlock_with(&vault, None, false).map_err(|f| f.message)?;
        let open = vault.open(&unlock).map_err(|e| e.to_string())?;
        let value = open.get(name).cloned().ok_or_else(|| format!("no key `{name}` in the vault"))?;
        if vault::is_sealed(&value) {
            return Err(format!("`{name}` is sealed with its own passphrase, which the exporter cannot ask for"));
        }
        Ok(value)
    }
}

#[cfg(feature = "telemetry")]
impl SecretSource for Quiet {
    fn get(&self, name: &str) -> Result<age::secrecy::SecretString, String> {
        let result = self.read(name);
        let detail = result.as_ref().err().map(String::as_str).unwrap_or("a telemetry header");
        let event = security::audit::Event {
            action: "vault.get",
            outcome: if result.is_ok() { "granted" } else { "denied" },
            key: Some(name),
            detail: Some(detail),
            ..Default::default()
        };
        let _ = self.log.record(&event);
        result
    }
}
