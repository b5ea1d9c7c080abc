//! The local web UI the daemon serves on loopback: skills with their DAG drawn as SVG on
//! the server, runs with a live timeline over Server-Sent Events, approvals, memory.
//!
//! **Invariants:** it listens on loopback only; every request passes the `Host`
//! allow-list and the token (a cookie after the first visit) before a route sees it, and
//! every POST the same-origin check; no state changes on GET; every response carries a
//! strict Content-Security-Policy with no inline script, and every text from a node, a
//! tool, a model or a note is masked and escaped, so nothing a run wrote can execute.
//!
//! `http.rs` (the server and the checks' order), `guard.rs` (Host, token, cookie, origin),
//! `app.rs` (routes), `pages.rs` (skills, a skill's form and history grid, memory),
//! `runs.rs` (runs, a run, its event stream, cancel and retry), `approvals.rs`, `view.rs`
//! (templates and cleaning), `assets.rs` (CSS, JS, icon compiled in), `svg/` (the DAG and
//! the timeline drawn as SVG, pure).

mod app;
mod approvals;
mod assets;
mod guard;
mod http;
mod pages;
mod runs;
pub mod svg;
mod view;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use daemon::server::ExtraTask;

/// The address and token files under `$PYRA_HOME/run/` (0600).
pub const ADDR_FILE: &str = "web.addr";
pub const TOKEN_FILE: &str = "web.token";

/// Opens the memory for a search (the CLI builds it: bm25, and vectors when configured).
pub type MemoryOpener = Arc<dyn Fn() -> Result<memory::Memory, String> + Send + Sync>;

/// The web UI task for `listen` (a loopback address; port 0 picks a free one, written to
/// `run/web.addr`), serving `profile`'s daemon.
pub fn task(listen: SocketAddr, profile: String, memory: MemoryOpener) -> ExtraTask {
    Box::new(move |daemon: Arc<daemon::core::Daemon>, stop| {
        let (profile, memory) = (profile.clone(), memory.clone());
        Box::pin(async move {
            if !listen.ip().is_loopback() {
                return Err(format!("the web UI listens on loopback only, not {listen}"));
            }
            let run = daemon.setup.home.join(daemon::lock::RUN_DIR);
            let token = daemon::mcp::token(&run.join(TOKEN_FILE))?;
            let listener =
                tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            let addr_file = run.join(ADDR_FILE);
            daemon::mcp::write_private(&addr_file, local.to_string().as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", addr_file.display()))?;
            daemon.setup.log.info(&format!("web UI at http://{local}/ (`pyra web` opens it)"));
            let app = Arc::new(app::App {
                port: local.port(),
                token: token.to_string(),
                daemon,
                env: view::environment(),
                profile,
                memory,
            });
            http::serve(listener, app, stop).await;
            let _ = std::fs::remove_file(&addr_file);
            Ok(())
        })
    })
}

/// `http://ADDR/` and the token while the UI serves (for `pyra web` and `status`).
pub fn address(home: &Path) -> Option<(String, String)> {
    let run = home.join(daemon::lock::RUN_DIR);
    let addr = std::fs::read_to_string(run.join(ADDR_FILE)).ok()?;
    let token = std::fs::read_to_string(run.join(TOKEN_FILE)).ok()?;
    Some((format!("http://{}/", addr.trim()), token.trim().to_string()))
}
