//! The daemon's MCP endpoint as a supervised task (config.yaml's `mcp.serve.http`): the
//! skills `mcp.serve.skills` exposes, served over streamable HTTP on a loopback address
//! by the `serve` crate, each call a run in the daemon. The task binds (port 0 picks a free
//! port), writes the address to `run/mcp.addr` and keeps the bearer token clients must
//! send in `run/mcp.token` (both 0600; the token made once, from the kernel's random
//! source, and kept, so clients' configurations keep working across restarts); the
//! address file goes when the task stops.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use serve::{Exposure, PyraServer, RuntimeHost};

use crate::core::Daemon;
use crate::server::ExtraTask;

/// Writes `contents` to `path`, created 0600 (replacing what was there).
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The token in `path`, made (32 random bytes, hex) when missing or empty.
pub fn token(path: &Path) -> Result<Arc<str>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().len() >= 32 => return Ok(Arc::from(text.trim())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read random bytes: {e}"))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(path, token.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(Arc::from(token))
}

/// The MCP task for `listen` (checked loopback here too), exposing `skills` (names or
/// globs, as config.yaml lists them).
pub fn task(listen: SocketAddr, skills: Vec<String>) -> ExtraTask {
    Box::new(move |daemon: Arc<Daemon>, stop| {
        let skills = skills.clone();
        Box::pin(async move {
            serve::http::check_bind(&listen)?;
            let run = daemon.setup.home.join(crate::lock::RUN_DIR);
            let token = token(&run.join(serve::TOKEN_FILE))?;
            let listener =
                tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            let addr_file = run.join(serve::ADDR_FILE);
            write_private(&addr_file, local.to_string().as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", addr_file.display()))?;
            daemon.setup.log.info(&format!("MCP served at http://{local}{}", serve::HTTP_PATH));
            if skills.is_empty() {
                daemon.setup.log.warn("MCP: no skill is exposed (config.yaml: mcp.serve.skills)");
            }
            let catalog = {
                let daemon = daemon.clone();
                move || daemon.setup.catalog.skills().into_iter().filter_map(|e| e.text.ok()).collect()
            };
            let host = RuntimeHost::new(daemon.runtime(), catalog, Exposure::new(&skills, &[]));
            let server = PyraServer::new(Arc::new(host));
            serve::http::serve(listener, server.clone(), token, stop).await;
            let _ = std::fs::remove_file(&addr_file);
            // Calls in flight record their end (a waiting approval parks for `pyra approve`).
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), server.idle()).await;
            Ok(())
        })
    })
}

/// `http://ADDR/mcp` while the task serves (for `status`).
pub fn url(home: &Path) -> Option<String> {
    let addr = std::fs::read_to_string(home.join(crate::lock::RUN_DIR).join(serve::ADDR_FILE)).ok()?;
    Some(format!("http://{}{}", addr.trim(), serve::HTTP_PATH))
}
