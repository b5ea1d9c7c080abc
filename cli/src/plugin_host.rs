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
    let mut kinds = plugins::builtin_registry();
    let host = host(home);
    let _broken = mcp::registry::register(&mut kinds, &host);
    kinds
}

/// Stops the servers this process started (the end of a run).
pub async fn shutdown() {
    if let Some(host) = HOST.get() {
        host.shutdown().await;
    }
    mcp::reaper::kill_all();
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        mcp::reaper::kill_all();
        previous(info);
    }));
}
