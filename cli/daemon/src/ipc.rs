//! The control socket and its protocol. `run/daemon.sock` under the home, mode 0600 in
//! the 0700 run folder; every connection's peer uid (`SO_PEERCRED`) must be the daemon's
//! own, checked before a byte is read, so loosened modes let nobody in.
//!
//! Newline-delimited JSON, one request per line, one reply line per request, in order:
//!
//! ```text
//! → {"v":1,"id":7,"op":"status","args":{}}
//! ← {"v":1,"id":7,"ok":true,"result":{…}}
//! ← {"v":1,"id":7,"ok":false,"error":{"code":"unknown-op","message":"…"}}
//! ```
//!
//! A line longer than [`MAX_LINE`] gets a `too-long` reply and the connection is closed
//! (the rest of the line is never buffered); a line that is not a request gets a
//! `bad-request` reply and the connection goes on; a client that closes its writing half
//! still gets its replies. Each connection is its own task, so one client can neither
//! block nor crash the others.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use crate::lock::HomeLock;

/// The protocol version every request and reply carries.
pub const PROTOCOL: u32 = 1;

/// The longest request line, newline excluded.
pub const MAX_LINE: usize = 1 << 20;

/// The socket's name in the run folder.
pub const SOCKET: &str = "daemon.sock";

/// The most bytes of a socket path (`sun_path` is 108 on Linux, with its final NUL).
const MAX_SOCKET_PATH: usize = 107;

/// One request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub v: u32,
    /// Echoed in the reply, so a client can match them.
    #[serde(default)]
    pub id: Value,
    pub op: String,
    #[serde(default)]
    pub args: Value,
    /// The client's pid, from the kernel (`SO_PEERCRED`), set by the server: never read
    /// from the request.
    #[serde(skip)]
    pub peer_pid: Option<i32>,
}

/// What went wrong with a request, as the reply says it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable and greppable: `bad-request`, `version`, `too-long`, `unknown-op`, `forbidden`,
    /// or one of the handler's own.
    pub code: String,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into() }
    }
}

/// One reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub v: u32,
    #[serde(default)]
    pub id: Value,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl Reply {
    fn ok(id: Value, result: Value) -> Self {
        Self { v: PROTOCOL, id, ok: true, result: Some(result), error: None }
    }

    fn err(id: Value, error: ErrorBody) -> Self {
        Self { v: PROTOCOL, id, ok: false, result: None, error: Some(error) }
    }

    fn line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_else(|_| br#"{"v":1,"ok":false}"#.to_vec());
        line.push(b'\n');
        line
    }
}

/// What answers requests: the daemon's operations.
pub type Handler = Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Result<Value, ErrorBody>> + Send>> + Send + Sync>;

/// Why the socket could not be set up or reached.
#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    #[error(
        "the socket path {0} is longer than Unix sockets allow ({MAX_SOCKET_PATH} bytes)\n  help: use a shorter PYRA_HOME"
    )]
    PathTooLong(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("the daemon's reply is not valid: {0}")]
    BadReply(String),
}

/// The socket's path in the run folder `dir`, if it fits in a socket address.
pub fn socket_path(dir: &Path) -> Result<PathBuf, IpcError> {
    let path = dir.join(SOCKET);
    if path.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(IpcError::PathTooLong(path.display().to_string()));
    }
    Ok(path)
}

/// Binds the control socket. Only the holder of the home's lock may: a socket file left
/// there is then a dead daemon's, safe to replace; a live daemon's is never unlinked.
pub fn bind(lock: &HomeLock) -> Result<UnixListener, IpcError> {
    let path = socket_path(lock.dir())?;
    let io = |source| IpcError::Io { path: path.display().to_string(), source };
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let listener = UnixListener::bind(&path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok(listener)
}

/// Serves connections until `stop` is cancelled, each in its own task; only peers whose
/// uid is `uid` are served (the daemon passes its own).
pub async fn serve(listener: UnixListener, handler: Handler, uid: u32, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        // An accept error (too many open files, a client gone at once) concerns that
        // client only: keep serving.
        let Ok((stream, _)) = accepted else { continue };
        let handler = handler.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = connection(stream, handler, uid) => {}
            }
        });
    }
}

async fn connection(stream: UnixStream, handler: Handler, uid: u32) {
    let cred = stream.peer_cred().ok();
    let allowed = cred.is_some_and(|cred| cred.uid() == uid);
    let peer_pid = cred.and_then(|cred| cred.pid());
    let (read, mut write) = stream.into_split();
    if !allowed {
        let reply = Reply::err(Value::Null, ErrorBody::new("forbidden", "this daemon serves only its own user"));
        let _ = write.write_all(&reply.line()).await;
        return;
    }
    serve_lines(read, write, &handler, peer_pid).await;
}

/// Answers the request lines read from `read` on `write`, in order, until the reader ends,
/// a line is too long or a write fails: the protocol of one allowed connection, apart from
/// the socket (the fuzz target `ipc` drives it with bytes).
#[doc(hidden)]
pub async fn serve_lines(
    read: impl tokio::io::AsyncRead + Unpin,
    mut write: impl tokio::io::AsyncWrite + Unpin,
    handler: &Handler,
    peer_pid: Option<i32>,
) {
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        // Read at most one byte past the limit: a longer line is refused without being
        // buffered.
        let mut limited = (&mut reader).take(MAX_LINE as u64 + 1);
        let n = match limited.read_until(b'\n', &mut line).await {
            Ok(n) => n,
            Err(_) => return,
        };
        if n == 0 {
            return;
        }
        let complete = line.last() == Some(&b'\n');
        if !complete && line.len() > MAX_LINE {
            let message = format!("a request line may be at most {MAX_LINE} bytes");
            let _ = write.write_all(&Reply::err(Value::Null, ErrorBody::new("too-long", message)).line()).await;
            return;
        }
        let text = if complete { &line[..line.len() - 1] } else { &line[..] };
        if text.iter().all(u8::is_ascii_whitespace) {
            if complete {
                continue;
            }
            return;
        }
        let reply = match serde_json::from_slice::<Request>(text) {
            Err(e) => Reply::err(Value::Null, ErrorBody::new("bad-request", format!("not a request: {e}"))),
            Ok(request) if request.v != PROTOCOL => Reply::err(
                request.id,
                ErrorBody::new("version", format!("protocol version {} is not {PROTOCOL}", request.v)),
            ),
            Ok(mut request) => {
                request.peer_pid = peer_pid;
                let id = request.id.clone();
                match handler(request).await {
                    Ok(result) => Reply::ok(id, result),
                    Err(error) => Reply::err(id, error),
                }
            }
        };
        if write.write_all(&reply.line()).await.is_err() {
            return;
        }
        if !complete {
            // The client closed its writing half after a last line without a newline.
            return;
        }
    }
}

/// Sends one request to the daemon at `socket` and returns its reply.
pub async fn request(socket: &Path, op: &str, args: Value) -> Result<Reply, IpcError> {
    let io = |source| IpcError::Io { path: socket.display().to_string(), source };
    let stream = UnixStream::connect(socket).await.map_err(io)?;
    let (read, mut write) = stream.into_split();
    let request = Request { v: PROTOCOL, id: Value::from(1), op: op.to_string(), args, peer_pid: None };
    let mut line = serde_json::to_vec(&request).map_err(|e| IpcError::BadReply(e.to_string()))?;
    line.push(b'\n');
    write.write_all(&line).await.map_err(io)?;
    let mut reply = String::new();
    BufReader::new(read).take(MAX_LINE as u64).read_line(&mut reply).await.map_err(io)?;
    serde_json::from_str(&reply).map_err(|e| IpcError::BadReply(e.to_string()))
}

/// [`request`] without an async runtime (for commands, which may be inside one already),
/// waiting at most `timeout` for the reply.
pub fn request_blocking(socket: &Path, op: &str, args: Value, timeout: std::time::Duration) -> Result<Reply, IpcError> {
    use std::io::{BufRead, Read, Write};
    let io = |source| IpcError::Io { path: socket.display().to_string(), source };
    let mut stream = std::os::unix::net::UnixStream::connect(socket).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let request = Request { v: PROTOCOL, id: Value::from(1), op: op.to_string(), args, peer_pid: None };
    let mut line = serde_json::to_vec(&request).map_err(|e| IpcError::BadReply(e.to_string()))?;
    line.push(b'\n');
    stream.write_all(&line).map_err(io)?;
    let mut reply = String::new();
    std::io::BufReader::new(stream.take(MAX_LINE as u64)).read_line(&mut reply).map_err(io)?;
    serde_json::from_str(&reply).map_err(|e| IpcError::BadReply(e.to_string()))
}

#[cfg(test)]
mod tests;
