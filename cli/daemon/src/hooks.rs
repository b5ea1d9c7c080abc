//! The webhook as a trigger source: a supervised task that binds the configured loopback
//! address (a bind failure — the port taken — is an error the supervisor retries with
//! backoff) and serves [`crate::webhook`] with hooks backed by the daemon: a hook `NAME`
//! exists when the vault holds `webhook:NAME` (its secret), and a verified delivery is
//! emitted as event `NAME` with the delivery id as the event id, so a replay is refused
//! even across restarts.

use std::net::SocketAddr;
use std::sync::Arc;

use age::secrecy::ExposeSecret;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::core::Daemon;
use crate::history::EventRow;
use crate::server::ExtraTask;
use crate::webhook::{self, Accepted, Delivery, Hooks};

/// The vault key of hook `name`'s secret.
pub fn secret_key(name: &str) -> String {
    format!("webhook:{name}")
}

struct DaemonHooks(Arc<Daemon>);

impl Hooks for DaemonHooks {
    fn secret(&self, name: &str) -> Option<Zeroizing<Vec<u8>>> {
        let value = self.0.setup.agent.get_for(&secret_key(name), "webhook").ok()?;
        Some(Zeroizing::new(value.expose_secret().as_bytes().to_vec()))
    }

    fn deliver(&self, name: &str, id: &str, data: Value) -> Delivery {
        let daemon = self.0.clone();
        let event = EventRow {
            id: format!("webhook:{name}:{id}"),
            name: name.to_string(),
            data,
            at: runtime::now_ms(),
            source: "webhook".into(),
        };
        Box::pin(async move {
            let reply = daemon.emit(event)?;
            Ok(if reply["duplicate"] == true { Accepted::Duplicate } else { Accepted::New })
        })
    }
}

/// The webhook task for `listen` (checked loopback here too).
pub fn task(listen: SocketAddr, config: webhook::Config) -> ExtraTask {
    Box::new(move |daemon: Arc<Daemon>, stop| {
        let config = config.clone();
        Box::pin(async move {
            webhook::check_bind(&listen)?;
            let listener =
                tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            daemon.setup.log.info(&format!("webhook listening on http://{listen}/hooks/NAME"));
            let hooks: Arc<dyn Hooks> = Arc::new(DaemonHooks(daemon.clone()));
            // Signature timestamps are checked against real time, not PYRA_CLOCK's: they
            // come from the sender's clock.
            let now = Arc::new(webhook::unix_now);
            webhook::serve(listener, hooks, config, now, stop).await;
            Ok(())
        })
    })
}
