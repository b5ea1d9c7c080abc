//! `pyra mcp serve` on standard input and output: newline-delimited JSON-RPC, standard
//! output carrying nothing else. A line longer than [`MAX_LINE`] is dropped (and logged),
//! a line that is not JSON ignored, a malformed request answered with an error; the
//! server ends when its input closes, after the calls in flight have recorded their end.

use rmcp::ServiceExt;
use rmcp::transport::async_rw::AsyncRwTransport;

use crate::handler::PyraServer;

/// The longest request line read (4 MiB): a skill's inputs are small.
pub const MAX_LINE: usize = 4 * 1024 * 1024;

/// Serves `server` on stdin/stdout until the client closes stdin.
pub async fn serve(server: PyraServer) -> Result<(), String> {
    let (stdin, stdout) = rmcp::transport::io::stdio_pipes();
    let transport = AsyncRwTransport::new(stdin, stdout).with_max_line_length(MAX_LINE);
    let running = match server.clone().serve(transport).await {
        Ok(running) => running,
        // A client that goes away before it starts a session ends the server quietly.
        Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => {
            tracing::info!("the client closed the connection before a session began");
            return Ok(());
        }
        Err(e) => return Err(format!("the MCP session did not start: {e}")),
    };
    let reason = running.waiting().await.map_err(|e| format!("the MCP session failed: {e}"))?;
    tracing::info!(?reason, "mcp session ended");
    server.idle().await;
    Ok(())
}
