//! The accept loop every loopback HTTP listener of the daemon shares (the MCP endpoint,
//! the webhook, the web UI): at most `max` connections at once (more wait in the kernel's
//! backlog), a transient accept error (out of file descriptors) waited out instead of
//! spun on, each connection served by hyper's HTTP/1 with its own service, and on `stop`
//! no new connection while the open ones end gracefully within `grace`.

use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::HttpService;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves connections from `listener` until `stop`; `service` makes each connection's.
pub async fn accept_loop<S, B>(
    listener: TcpListener,
    http: http1::Builder,
    max: usize,
    grace: Duration,
    stop: CancellationToken,
    service: impl Fn() -> S,
) where
    S: HttpService<Incoming, ResBody = B> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let mut connections = JoinSet::new();
    loop {
        // Finished connections are reaped here, so the set holds only live ones.
        while connections.try_join_next().is_some() {}
        if connections.len() >= max {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = connections.join_next() => continue,
            }
        }
        let stream = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (stop, http, service) = (stop.clone(), http.clone(), service());
        connections.spawn(async move {
            let conn = http.serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            // A connection's error (a garbage request, a client gone) ends only it.
            tokio::select! {
                _ = conn.as_mut() => {}
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(grace, conn).await;
                }
            }
        });
    }
    drop(listener);
    // Each open connection ends by itself within `grace`.
    while connections.join_next().await.is_some() {}
}
