//! Built-in plugins as event sources in the daemon: every enabled plugin whose built-in
//! emits events (`email.received` from IMAP IDLE) gets a supervised task `events:NAME`
//! running its `watch` while an armed skill has an `event:` trigger for one of them (no
//! listener, no connection held); each event it sees is stored and delivered like `pyra emit`'s
//! (once per id, `source: plugin`), so a skill with `triggers: [{event: email.received}]`
//! runs. The task reads the manifest again when it changes (new settings, a disabled
//! plugin) and ends when the plugin is removed; a plugin added while the daemon runs is
//! picked up within a few seconds. A failing watch is restarted with the supervisor's
//! backoff and shown in `pyra daemon status`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use daemon::core::Daemon;
use mcp::builtin::Emitted;
use mcp::host::Host;
use mcp::manifest::{Manifest, PluginKind};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::home::Home;

/// How often the plugins' folder is looked at for new, changed or removed plugins.
const RESCAN: Duration = Duration::from_secs(3);

/// The daemon's task that starts a watch for each built-in plugin with events.
pub fn task(home: &Home) -> daemon::server::ExtraTask {
    let host = crate::plugin_host::host(home);
    let watching: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    Box::new(move |daemon: Arc<Daemon>, stop: CancellationToken| {
        let host = host.clone();
        let watching = watching.clone();
        Box::pin(async move {
            // The manifests are read again only when a plugin's files changed (a stat each).
            let mut seen = None;
            loop {
                let now = crate::plugin_host::fingerprint_of(&host);
                let names = if seen == Some(now) { Vec::new() } else { with_events(&host) };
                seen = Some(now);
                for name in names {
                    if !watching.lock().unwrap_or_else(|e| e.into_inner()).insert(name.clone()) {
                        continue;
                    }
                    let (d, h, w) = (daemon.clone(), host.clone(), watching.clone());
                    daemon.supervisor.spawn(format!("events:{name}"), move |token| {
                        watch(d.clone(), h.clone(), name.clone(), token, w.clone())
                    });
                }
                tokio::select! {
                    () = stop.cancelled() => return Ok(()),
                    () = tokio::time::sleep(RESCAN) => {}
                }
            }
        })
    })
}

/// The plugins whose built-in emits events (enabled or not: a disabled one's task waits).
fn with_events(host: &Host) -> Vec<String> {
    host.names()
        .into_iter()
        .filter(|name| {
            host.load(name).is_ok_and(|l| {
                l.manifest.kind == PluginKind::Builtin
                    && l.manifest
                        .builtin
                        .as_deref()
                        .and_then(mcp::builtin::find)
                        .is_some_and(|b| !b.events().is_empty())
            })
        })
        .collect()
}

/// One plugin's watch, for as long as the plugin exists: started again inline when its
/// manifest changes, idle while it is disabled.
async fn watch(
    daemon: Arc<Daemon>,
    host: Arc<Host>,
    name: String,
    stop: CancellationToken,
    watching: Arc<Mutex<BTreeSet<String>>>,
) -> Result<(), String> {
    let manifest_path = host.dir(&name).join("plugin.yaml");
    loop {
        if !manifest_path.exists() {
            watching.lock().unwrap_or_else(|e| e.into_inner()).remove(&name);
            daemon.setup.log.info(&format!("plugin {name}: removed, its event watch ends"));
            return Ok(());
        }
        let stamp = stamp(&manifest_path);
        let loaded = host.load(&name).map_err(|(_, d)| {
            format!(
                "plugin {name}: plugin.yaml has errors: {}",
                d.first().map(|d| d.message.clone()).unwrap_or_default()
            )
        })?;
        let m = loaded.manifest;
        let events = m.builtin.as_deref().and_then(mcp::builtin::find).map(|b| b.events()).unwrap_or_default();
        let listened = || events.iter().any(|e| daemon.subscribed(e));
        let changed = changed(&manifest_path, stamp, &stop);
        if !m.enabled || !listened() {
            // Idle until the manifest changes or a skill starts listening.
            let listener = async {
                while !listened() {
                    tokio::time::sleep(RESCAN).await;
                }
            };
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                () = changed => continue,
                () = listener, if m.enabled => continue,
            }
        }
        let unheard = async {
            while listened() {
                tokio::time::sleep(RESCAN).await;
            }
        };
        let run = run_once(&daemon, &host, &m, stop.child_token());
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = changed => daemon.setup.log.info(&format!("plugin {name}: plugin.yaml changed, its event watch starts again")),
            () = unheard => daemon.setup.log.info(&format!("plugin {name}: no skill listens to {} now, its watch stops", events.join(", "))),
            r = run => return r,
        }
    }
}

/// Waits until the file's stamp differs from `stamp` (or the daemon stops).
async fn changed(path: &std::path::Path, was: Option<(std::time::SystemTime, u64)>, stop: &CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => std::future::pending::<()>().await,
            () = tokio::time::sleep(RESCAN) => {}
        }
        if stamp(path) != was {
            return;
        }
    }
}

fn stamp(path: &std::path::Path) -> Option<(std::time::SystemTime, u64)> {
    std::fs::metadata(path).ok().and_then(|m| Some((m.modified().ok()?, m.len())))
}

/// The built-in's watch with its settings and secrets (from the daemon's vault agent,
/// audited, masked in every log); each event it sees is stored and delivered.
async fn run_once(daemon: &Arc<Daemon>, host: &Host, m: &Manifest, cancel: CancellationToken) -> Result<(), String> {
    let builtin = host.refresh_builtin(m)?;
    let settings = mcp::builtin::resolve_settings(builtin.as_ref(), &m.name, &m.settings)?;
    let mut secrets = BTreeMap::new();
    let mut secret_keys = BTreeMap::new();
    for (key, r) in &m.secrets {
        let value = daemon.setup.agent.get_for(r.key(), &format!("plugin {} (event watch)", m.name))?;
        runtime::secrets::process_masker().add(r.key(), value.expose_secret());
        secrets.insert(key.clone(), r.apply(value.expose_secret()));
        secret_keys.insert(key.clone(), r.key().to_string());
    }
    let dir = host.dir(&m.name);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Emitted>();
    let emit = move |e: Emitted| {
        let _ = tx.send(e);
    };
    let call = mcp::builtin::Call {
        plugin: &m.name,
        dir: &dir,
        settings: &settings,
        secrets: &secrets,
        secret_keys: &secret_keys,
        cancel: &cancel,
    };
    daemon.setup.log.info(&format!("plugin {}: watching for {}", m.name, builtin.events().join(", ")));
    let watch = builtin.watch(call, &emit);
    tokio::pin!(watch);
    loop {
        tokio::select! {
            r = &mut watch => {
                // Deliver what it saw before it ended.
                while let Ok(e) = rx.try_recv() {
                    deliver(daemon, &m.name, e);
                }
                return match r {
                    Ok(_) if cancel.is_cancelled() => Ok(()),
                    // A watch ends only when asked to: one that returns is started again.
                    Ok(_) => Err(format!("plugin {}: its event watch ended", m.name)),
                    Err(e) => Err(format!("plugin {}: {e}", m.name)),
                };
            }
            Some(e) = rx.recv() => deliver(daemon, &m.name, e),
        }
    }
}

fn deliver(daemon: &Arc<Daemon>, plugin: &str, e: Emitted) {
    let masker = runtime::secrets::process_masker();
    let row = daemon::history::EventRow {
        id: e.id,
        name: e.name.to_string(),
        data: masker.mask_value(e.data),
        at: daemon.setup.clock.now().timestamp_millis(),
        source: "plugin".into(),
    };
    match daemon.emit(row) {
        Ok(v) if v["duplicate"] == true => {}
        Ok(v) => daemon.setup.log.info(&format!("plugin {plugin}: event {} ({}) delivered", e.name, v["id"])),
        Err(err) => daemon.setup.log.error(&format!("plugin {plugin}: event {} not stored: {err}", e.name)),
    }
}
