//! The process's plugin host: the node kinds every command validates and runs with
//! (the built-in kinds plus every installed plugin's tools, read from their lock files),
//! and the servers this process started, stopped when a command ends, on Ctrl-C and on a
//! panic, so no server process outlives it.

use std::sync::{Arc, OnceLock};

use mcp::host::Host;

use crate::home::Home;

static HOST: OnceLock<Arc<Host>> = OnceLock::new();

/// The plugin host of this process's home.
pub fn host(home: &Home) -> Arc<Host> {
    HOST.get_or_init(|| {
        install_panic_hook();
        Host::new(&home.root)
    })
    .clone()
}

/// The built-in kinds and every installed plugin's tools.
pub fn registry(home: &Home) -> runtime::Kinds {
    let mut kinds = cli_kinds();
    let host = host(home);
    let _broken = mcp::registry::register(&mut kinds, &host);
    kinds
}

/// The built-in kinds with the executors only the CLI's crates have: `security.audit`
/// (the audit) and `message.send` (every channel).
fn cli_kinds() -> runtime::Kinds {
    let mut kinds = plugins::builtin_registry();
    crate::audit::kind::register(&mut kinds);
    channels::send_node::register(&mut kinds);
    kinds
}

/// Stops the servers this process started (the end of a run).
pub async fn shutdown() {
    if let Some(host) = HOST.get() {
        host.shutdown().await;
    }
    mcp::reaper::kill_all();
}

/// The daemon's handle on this process's plugin servers.
pub struct Control(pub Arc<Host>);

/// Every plugin's manifest and lock file: path, size and modification time.
pub(crate) fn fingerprint_of(host: &Host) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for name in host.names() {
        for file in ["plugin.yaml", "lock.json"] {
            let path = host.dir(&name).join(file);
            path.hash(&mut h);
            if let Ok(meta) = std::fs::metadata(&path) {
                meta.len().hash(&mut h);
                meta.modified().ok().hash(&mut h);
            }
        }
    }
    h.finish()
}

impl daemon::plugins::PluginControl for Control {
    fn fingerprint(&self) -> u64 {
        fingerprint_of(&self.0)
    }

    fn kinds(&self) -> runtime::Kinds {
        let mut kinds = cli_kinds();
        let _ = mcp::registry::register(&mut kinds, &self.0);
        kinds
    }

    fn status(&self) -> serde_json::Value {
        let list: Vec<serde_json::Value> = self
            .0
            .running()
            .into_iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.name, "pid": r.pid, "protocol": r.protocol, "server": r.server, "broken": r.broken,
                })
            })
            .collect();
        serde_json::Value::Array(list)
    }

    fn restart(&self, name: String) -> runtime::BoxFuture<'static, bool> {
        let host = self.0.clone();
        Box::pin(async move {
            let was = host.running().iter().any(|r| r.name == name);
            host.reset(&name).await;
            was
        })
    }

    fn shutdown(&self) -> runtime::BoxFuture<'static, ()> {
        let host = self.0.clone();
        Box::pin(async move {
            host.shutdown().await;
            mcp::reaper::kill_all();
        })
    }
}

/// The daemon's task that stops servers idle past their `timeouts.idle_shutdown`.
pub fn idle_task(home: &Home) -> daemon::server::ExtraTask {
    let host = host(home);
    Box::new(move |daemon: Arc<daemon::core::Daemon>, stop: tokio_util::sync::CancellationToken| {
        let host = host.clone();
        Box::pin(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return Ok(()),
                    () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                }
                for name in host.stop_idle().await {
                    daemon.setup.log.info(&format!("plugin {name}: stopped its idle server"));
                }
            }
        })
    })
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        mcp::reaper::kill_all();
        previous(info);
    }));
}
