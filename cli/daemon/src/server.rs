//! The daemon's life: take the socket, arm the skills, start the supervised tasks (cron,
//! deadlines, the skill-folder rescan, file watching, the webhook when configured), recover what a crash
//! left (claimed slots not started, runs interrupted, events stored while down), say it is
//! ready, then serve until `stop`, SIGTERM or SIGINT (SIGHUP reloads). At the end, runs in
//! flight are recorded as interrupted (the next start resumes them) and child processes
//! are killed: nothing is left behind.
//!
//! The socket's operations (NDJSON, [`crate::ipc`]): `ping`, `status`, `reload`, `stop`,
//! `emit`, `run` (manual), `resume` (an approval answered), `vault.unlock`, `vault.lock`,
//! `vault.get`, `vault.status`.

use std::sync::Arc;

use age::secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

use crate::core::{Daemon, Setup};
use crate::history::EventRow;
use crate::ipc::{self, ErrorBody, Handler, Request};
use crate::lock::HomeLock;
use crate::supervisor::{Backoff, Reporter, Supervisor, TaskEvent};

/// A task the daemon runs besides its own (the webhook): built from the daemon, it runs
/// until the token is cancelled; an error restarts it with backoff.
pub type ExtraTask = Box<
    dyn Fn(
            Arc<Daemon>,
            tokio_util::sync::CancellationToken,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>
        + Send
        + Sync,
>;

/// Runs the daemon until it is told to stop. `ready` is called once it accepts
/// connections and has armed its skills (the service manager's READY=1).
pub async fn run(
    setup: Setup,
    lock: HomeLock,
    extra: Vec<(String, ExtraTask)>,
    ready: impl FnOnce(&Daemon),
) -> Result<(), String> {
    let listener = ipc::bind(&lock).map_err(|e| e.to_string())?;
    let log = setup.log.clone();
    let reporter: Reporter = {
        let log = log.clone();
        Arc::new(move |event: &TaskEvent| match event {
            TaskEvent::Failed { task, error, restart_in } => match restart_in {
                Some(wait) => {
                    log.error(&format!("task {task} failed: {error}; restarting in {} s", wait.as_secs_f64()))
                }
                None => log.error(&format!("task {task} failed: {error}")),
            },
            TaskEvent::Restarted { task, restarts } => {
                log.info(&format!("task {task} restarted ({restarts} restarts)"))
            }
            TaskEvent::Finished { .. } => {}
            TaskEvent::Aborted { task } => log.warn(&format!("task {task} did not stop in time and was aborted")),
        })
    };
    let daemon = Daemon::new(setup, Supervisor::new(Backoff::default(), Some(reporter)));
    log.info(&format!(
        "daemon {} starting (pid {}, home {})",
        daemon.setup.version,
        std::process::id(),
        daemon.setup.home.display()
    ));
    if daemon.setup.clock.is_set() {
        log.info(&format!("the clock is set by PYRA_CLOCK: now is {}", daemon.setup.clock.now().to_rfc3339()));
    }
    match daemon.setup.agent.unlock_from_env() {
        Ok(true) => log.info("vault unlocked from the environment"),
        Ok(false) => {}
        Err(e) => log.error(&format!("the vault stays locked: {e}")),
    }
    let summary = daemon.reload(true);
    log.info(&format!("armed: {summary}"));

    let uid = rustix::process::getuid().as_raw();
    tokio::spawn(ipc::serve(listener, handler(daemon.clone()), uid, daemon.stop.clone()));
    {
        let d = daemon.clone();
        daemon.supervisor.spawn("cron", move |_| d.clone().cron_task());
        let d = daemon.clone();
        daemon.supervisor.spawn("deadlines", move |_| d.clone().deadline_task());
        let d = daemon.clone();
        daemon.supervisor.spawn("skills", move |_| d.clone().rescan_task());
        // Stats and hashes files: on a thread of its own, so the socket and runs never wait.
        let d = daemon.clone();
        daemon.supervisor.spawn("watch", move |token| {
            let d = d.clone();
            async move {
                tokio::task::spawn_blocking(move || crate::watch::run(d, token))
                    .await
                    .map_err(|e| format!("the watch task ended: {e}"))?
            }
        });
        for (name, make) in extra {
            let d = daemon.clone();
            let make = Arc::new(make);
            daemon.supervisor.spawn(name, move |token| make(d.clone(), token));
        }
    }
    daemon.recover();
    daemon.deliver_pending();
    ready(&daemon);
    log.info("ready");
    {
        // Once the command that started it has exited (pages both map are not dropped).
        let stop = daemon.stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                () = stop.cancelled() => return,
            }
            crate::memory::release_startup_pages();
        });
    }

    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            () = daemon.stop.cancelled() => break,
            _ = term.recv() => { log.info("SIGTERM: stopping"); break }
            _ = int.recv() => { log.info("SIGINT: stopping"); break }
            _ = hup.recv() => {
                let summary = daemon.reload(false);
                log.info(&format!("SIGHUP: reloaded: {summary}"));
            }
        }
    }
    daemon.stop.cancel();
    daemon.supervisor.shutdown().await;
    daemon.interrupt_all();
    if let Some(plugins) = &daemon.setup.plugins {
        plugins.shutdown().await;
    }
    if let Ok(path) = ipc::socket_path(lock.dir()) {
        // Still holding the lock: this socket is ours.
        let _ = std::fs::remove_file(path);
    }
    log.info("stopped");
    drop(lock);
    Ok(())
}

fn bad(message: impl Into<String>) -> ErrorBody {
    ErrorBody::new("bad-args", message)
}

fn failed(message: impl Into<String>) -> ErrorBody {
    ErrorBody::new("failed", message)
}

fn arg_str<'a>(args: &'a Value, name: &str) -> Result<&'a str, ErrorBody> {
    args.get(name).and_then(Value::as_str).ok_or_else(|| bad(format!("`{name}` (a string) is missing")))
}

fn handler(daemon: Arc<Daemon>) -> Handler {
    Arc::new(move |request: Request| {
        let daemon = daemon.clone();
        Box::pin(async move {
            if request.op == "plugin.restart" {
                return restart_plugin(&daemon, &request.args).await;
            }
            op(&daemon, request)
        })
    })
}

/// `pyra plugin restart NAME`: stops the plugin's server here and clears `broken`.
async fn restart_plugin(daemon: &Arc<Daemon>, args: &Value) -> Result<Value, ErrorBody> {
    let name = arg_str(args, "name")?.to_string();
    match &daemon.setup.plugins {
        Some(plugins) => Ok(json!({ "was_running": plugins.restart(name).await })),
        None => Ok(json!({ "was_running": false })),
    }
}

fn op(daemon: &Arc<Daemon>, request: Request) -> Result<Value, ErrorBody> {
    let args = &request.args;
    let who = crate::agent::describe_peer(request.peer_pid);
    match request.op.as_str() {
        "ping" => Ok(json!({ "pid": std::process::id(), "version": daemon.setup.version })),
        "status" => Ok(daemon.status()),
        "reload" => {
            let summary = daemon.reload(false);
            daemon.setup.log.info(&format!("reload asked ({who}): {summary}"));
            Ok(summary)
        }
        "stop" => {
            daemon.setup.log.info(&format!("stop asked ({who})"));
            daemon.stop.cancel();
            Ok(json!({ "stopping": true, "pid": std::process::id() }))
        }
        "emit" => {
            let name = arg_str(args, "name")?.to_string();
            let id = match args.get("id").and_then(Value::as_str) {
                Some(id) => id.to_string(),
                None => runtime::new_run_id(),
            };
            let source = args.get("source").and_then(Value::as_str).unwrap_or("cli").to_string();
            let at = args.get("at").and_then(Value::as_i64).unwrap_or_else(runtime::now_ms);
            let data = args.get("data").cloned().unwrap_or(Value::Null);
            daemon.emit(EventRow { id, name, data, at, source }).map_err(failed)
        }
        "run" => {
            let skill = arg_str(args, "skill")?;
            let inputs = args.get("inputs").and_then(Value::as_object).cloned().unwrap_or_else(Map::new);
            let run = daemon.run_manual(skill, inputs).map_err(failed)?;
            Ok(json!({ "run": run }))
        }
        "resume" => {
            let run = arg_str(args, "run")?;
            daemon.resume(run, "its approval was answered").map_err(failed)?;
            Ok(json!({ "run": run }))
        }
        "vault.status" => Ok(serde_json::to_value(daemon.setup.agent.state()).unwrap_or(Value::Null)),
        "vault.lock" => Ok(json!({ "was_unlocked": daemon.setup.agent.lock(&who) })),
        "vault.unlock" => {
            let unlock = if let Some(path) = args.get("identity").and_then(Value::as_str) {
                vault::Unlock::identity_file(std::path::Path::new(path)).map_err(|e| failed(e.to_string()))?
            } else {
                let pass = arg_str(args, "passphrase")?;
                vault::Unlock::Passphrase(SecretString::from(pass.to_string()))
            };
            let keys = daemon.setup.agent.unlock(unlock, &who).map_err(failed)?;
            daemon.setup.log.info(&format!("vault unlocked ({who})"));
            Ok(json!({ "keys": keys }))
        }
        "vault.get" => {
            let name = arg_str(args, "name")?;
            match daemon.setup.agent.get_for(name, &who) {
                Ok(value) => Ok(json!({ "value": value.expose_secret() })),
                Err(e) if e == crate::agent::LOCKED => Err(ErrorBody::new("locked", e)),
                Err(e) if e.contains(crate::agent::SEALED) => Err(ErrorBody::new("sealed", e)),
                Err(e) => Err(failed(e)),
            }
        }
        other => Err(ErrorBody::new("unknown-op", format!("no operation `{other}`"))),
    }
}
