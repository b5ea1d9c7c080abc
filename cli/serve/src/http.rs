//! The daemon's MCP endpoint: streamable HTTP (rmcp's `StreamableHttpService`) on a
//! loopback address, behind checks made before rmcp sees a request, cheapest first; the
//! first that fails answers:
//!
//! | check | refused with |
//! |---|---|
//! | the path is [`crate::HTTP_PATH`] | 404 |
//! | `Host` names this loopback address (`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`): DNS rebinding | 403 |
//! | an `Origin`, when sent, is one of those with `http://` (the MCP spec's 403) | 403 |
//! | `Authorization: Bearer TOKEN` with the token of `run/mcp.token` (compared in constant time) | 401 |
//! | a `Content-Length` of at most [`MAX_BODY`] (before a byte is read); a body read past it | 413 |
//!
//! The listener is bound by the caller after [`check_bind`]. Each connection is its own
//! task; a bad request or a broken connection ends only that connection.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioTimer;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::handler::PyraServer;

/// The largest request body, in bytes (1 MiB): a skill's inputs are small.
pub const MAX_BODY: usize = 1 << 20;

/// The most connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 64;

/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Refuses an address other machines could reach: only loopback (`127.0.0.0/8`, `::1`).
pub fn check_bind(addr: &SocketAddr) -> Result<(), String> {
    if addr.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    Err(format!(
        "the MCP endpoint cannot listen on {addr}: it is not a loopback address, and whoever reaches it runs your \
         skills; listen on 127.0.0.1:{port} or [::1]:{port}",
        port = addr.port()
    ))
}

/// What a request must carry.
struct Gate {
    /// `127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT` (and the bound address's own form).
    hosts: Vec<String>,
    token: Arc<str>,
}

impl Gate {
    fn new(local: SocketAddr, token: Arc<str>) -> Self {
        let port = local.port();
        let mut hosts = vec![format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}")];
        let own = local.to_string();
        if !hosts.contains(&own) {
            hosts.push(own);
        }
        Self { hosts, token }
    }

    fn host_ok(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    fn origin_ok(&self, origin: &str) -> bool {
        origin.strip_prefix("http://").is_some_and(|host| self.host_ok(host))
    }

    fn token_ok(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some(given) = authorization.and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) else {
            return false;
        };
        constant_time_eq(given.trim().as_bytes(), self.token.as_bytes())
    }
}

/// Compares without stopping at the first difference (the length is not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

type Reply = Response<BoxBody<Bytes, Infallible>>;

fn refuse(status: StatusCode, message: &str) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(format!("{message}\n"))).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// Serves `server` on `listener` (bound by the caller, after [`check_bind`]) until `stop`
/// is cancelled: then it accepts no more connections and ends the open ones.
pub async fn serve(listener: TcpListener, server: PyraServer, token: Arc<str>, stop: CancellationToken) {
    let Ok(local) = listener.local_addr() else { return };
    let gate = Arc::new(Gate::new(local, token));
    let origins: Vec<String> = gate.hosts.iter().map(|h| format!("http://{h}")).collect();
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(gate.hosts.iter().cloned().chain(["127.0.0.1".into(), "localhost".into(), "::1".into()]))
        .with_allowed_origins(origins)
        .with_max_request_body_bytes(MAX_BODY)
        .with_cancellation_token(stop.child_token());
    let factory = {
        let server = server.clone();
        move || Ok(server.clone())
    };
    let mcp = Arc::new(StreamableHttpService::new(factory, Arc::new(LocalSessionManager::default()), config));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).max_header_size(64 * 1024);
    let service = move || {
        let (gate, mcp) = (gate.clone(), mcp.clone());
        service_fn(move |req| {
            let (gate, mcp) = (gate.clone(), mcp.clone());
            async move { Ok::<_, Infallible>(handle(&gate, &mcp, req).await) }
        })
    };
    crate::accept::accept_loop(listener, http, MAX_CONNECTIONS, Duration::from_secs(5), stop, service).await;
}

async fn handle(
    gate: &Gate,
    mcp: &StreamableHttpService<PyraServer, LocalSessionManager>,
    req: Request<Incoming>,
) -> Reply {
    if req.uri().path() != crate::HTTP_PATH {
        return refuse(StatusCode::NOT_FOUND, &format!("not found: MCP is served at {}", crate::HTTP_PATH));
    }
    let headers = req.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !gate.host_ok(host) {
        return refuse(StatusCode::FORBIDDEN, "forbidden: the Host header must name this loopback address");
    }
    if let Some(origin) = headers.get(header::ORIGIN)
        && !origin.to_str().is_ok_and(|o| gate.origin_ok(o))
    {
        return refuse(StatusCode::FORBIDDEN, "forbidden: requests from another origin are refused");
    }
    if !gate.token_ok(headers.get(header::AUTHORIZATION)) {
        let mut response = refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized: send `Authorization: Bearer TOKEN` with the token in $PYRA_HOME/run/mcp.token \
             (`pyra mcp config --http` prints it)",
        );
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    if req.body().size_hint().lower() > MAX_BODY as u64 {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, "payload too large: at most 1 MiB");
    }
    let (parts, body) = req.into_parts();
    // A chunked body that grows past the cap fails while rmcp reads it.
    let req = Request::from_parts(parts, Limited::new(body, MAX_BODY));
    mcp.handle(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_binds() {
        assert!(check_bind(&"127.0.0.1:0".parse().unwrap()).is_ok());
        assert!(check_bind(&"[::1]:8788".parse().unwrap()).is_ok());
        assert!(check_bind(&"[::ffff:127.0.0.1]:8788".parse().unwrap()).is_ok());
        for addr in ["0.0.0.0:8788", "192.168.1.2:8788", "[::]:8788"] {
            let why = check_bind(&addr.parse().unwrap()).unwrap_err();
            assert!(why.contains("not a loopback address"), "{why}");
        }
    }

    #[test]
    fn the_gate() {
        let gate = Gate::new("127.0.0.1:4321".parse().unwrap(), Arc::from("s3cret-token"));
        assert!(gate.host_ok("127.0.0.1:4321") && gate.host_ok("LOCALHOST:4321") && gate.host_ok("[::1]:4321"));
        assert!(!gate.host_ok("127.0.0.1:4322") && !gate.host_ok("evil.example:4321") && !gate.host_ok(""));
        assert!(!gate.host_ok("127.0.0.1"), "the port is part of it");
        assert!(gate.origin_ok("http://localhost:4321"));
        assert!(!gate.origin_ok("https://localhost:4321") && !gate.origin_ok("http://evil.example"));
        assert!(!gate.origin_ok("null"));
        let bearer = |v: &str| HeaderValue::from_str(v).unwrap();
        assert!(gate.token_ok(Some(&bearer("Bearer s3cret-token"))));
        assert!(!gate.token_ok(Some(&bearer("Bearer s3cret-tokem"))));
        assert!(!gate.token_ok(Some(&bearer("Bearer s3cret"))));
        assert!(!gate.token_ok(Some(&bearer("Basic s3cret-token"))));
        assert!(!gate.token_ok(None));
    }
}
