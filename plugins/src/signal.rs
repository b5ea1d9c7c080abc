//! A client for signal-cli's JSON-RPC interface (signal-cli-jsonrpc(5)): line-delimited
//! JSON-RPC 2.0 on the stdio of `signal-cli -a ACCOUNT jsonRpc --receive-mode=manual`,
//! which Pyra starts ([`Client::spawn`]), or on a `signal-cli daemon --tcp` that someone
//! else runs ([`Client::connect`], loopback only: that daemon has no authentication).
//!
//! In manual receive mode signal-cli fetches nothing from Signal's servers until
//! [`Client::subscribe_receive`], so messages wait there while Pyra is down instead of
//! being taken and lost. Requests carry unique ids and may be answered in any order
//! (signal-cli runs each on a thread of its own); a reader task routes answers by id and
//! `receive` notifications, in order, to [`Notifications`]. A line is at most
//! [`MAX_LINE`] bytes (a longer one ends the connection). Notifications the consumer has
//! not taken yet are held up to 32 MiB, past which reading pauses: memory stays bounded,
//! and a consumer that awaits a call while a burst is queued still gets its answer.
//!
//! The child runs with a cleared environment in its own process group, registered with
//! [`runtime::procs`] (the registry the daemon and the CLI kill on their way out, as for
//! `exec`), so no signal-cli outlives Pyra; its stderr is kept in a bounded ring
//! ([`Client::stderr_tail`]).
//!
//! [`parse`] and [`split`] (in `envelope.rs`) are the pure halves: what arrived, and how
//! to cut what goes out.

mod envelope;

pub use envelope::{Envelope, Kind, MAX_BYTES, parse, split};

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use runtime::procs;
use rustix::process::Signal;
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::AbortHandle;

/// The longest line accepted from signal-cli.
pub const MAX_LINE: usize = 1 << 20;
/// Bytes of notifications held for a consumer that is behind.
const HELD: usize = 32 << 20;
/// SIGTERM → SIGKILL.
const GRACE: Duration = Duration::from_secs(5);
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of stderr kept, and the longest line kept whole.
const STDERR_KEEP: usize = 16 << 10;
const STDERR_LINE: usize = 2 << 10;
/// The parent's variables the child keeps (signal-cli is a Java program).
const KEPT_ENV: [&str; 4] = ["PATH", "HOME", "LANG", "JAVA_HOME"];

/// Notifications: the `result` (or bare params) of each `receive` notification, in order;
/// the channel closes when the child exits or the connection drops (the daemon's
/// supervisor then restarts the channel with backoff).
pub type Notifications = mpsc::Receiver<Value>;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcError {
    /// Starting, connecting, reading or writing failed, or an answer made no sense.
    Io(String),
    /// signal-cli answered with a JSON-RPC error (-1 user error, -3 I/O, -4 untrusted
    /// identity, -5 rate limit, -32601 unknown method, …).
    Rpc { code: i64, message: String },
    /// No answer within the call's time limit (the request may still take effect).
    Timeout,
    /// The connection is closed (the child exited, the daemon went away, or `shutdown`).
    Closed,
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpcError::Io(message) => f.write_str(message),
            RpcError::Rpc { code, message } => write!(f, "signal-cli answered error {code}: {message}"),
            RpcError::Timeout => f.write_str("signal-cli did not answer in time"),
            RpcError::Closed => f.write_str("the connection to signal-cli is closed"),
        }
    }
}

impl std::error::Error for RpcError {}

type Reply = oneshot::Sender<Result<Value, RpcError>>;

/// What the client and its tasks share.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    pending: HashMap<u64, Reply>,
    /// Why the connection ended, once it has.
    ended: Option<RpcError>,
    stderr: VecDeque<String>,
    stderr_bytes: usize,
    exit: Option<ExitStatus>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the connection (the first reason stays) and fails every pending call.
    fn end(&self, why: RpcError) {
        let mut state = self.lock();
        let why = state.ended.get_or_insert(why).clone();
        for (_, reply) in state.pending.drain() {
            let _ = reply.send(Err(why.clone()));
        }
    }

    fn ended(&self) -> RpcError {
        self.lock().ended.clone().unwrap_or(RpcError::Closed)
    }

    fn stderr_line(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line).trim_end().to_string();
        tracing::debug!(target: "signal_cli", "{}", runtime::secrets::process_masker().mask(&line));
        let mut state = self.lock();
        state.stderr_bytes += line.len();
        state.stderr.push_back(line);
        while state.stderr_bytes > STDERR_KEEP {
            match state.stderr.pop_front() {
                Some(old) => state.stderr_bytes -= old.len(),
                None => break,
            }
        }
    }
}

/// The child's process group and whether its leader has exited.
#[derive(Clone)]
struct Proc {
    pid: u32,
    exited: watch::Receiver<bool>,
}

/// SIGTERM to the group, SIGKILL after [`GRACE`].
async fn stop(proc_: &Proc) {
    let mut exited = proc_.exited.clone();
    if *exited.borrow() {
        return;
    }
    procs::signal_group(proc_.pid, Signal::TERM);
    if tokio::time::timeout(GRACE, exited.wait_for(|e| *e)).await.is_err() {
        procs::signal_group(proc_.pid, Signal::KILL);
        let _ = tokio::time::timeout(Duration::from_secs(2), exited.wait_for(|e| *e)).await;
    }
}

/// A connection to one signal-cli; clones share it.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    /// Complete lines for the writer task; `None` once shut down.
    lines: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
    next_id: AtomicU64,
    child: Option<Proc>,
    reader: AbortHandle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.reader.abort();
        if let Some(child) = &self.child
            && !*child.exited.borrow()
        {
            procs::signal_group(child.pid, Signal::KILL);
            procs::unregister(child.pid);
        }
    }
}

/// Removes a call's reply slot when the call ends in any way (a dropped future included).
struct Forget<'a>(&'a Shared, u64);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0.lock().pending.remove(&self.1);
    }
}

impl Client {
    /// Spawns `program -a account jsonRpc --receive-mode=manual` in its own process group
    /// with a cleared environment except PATH/HOME/LANG/JAVA_HOME (+ `env`), stderr
    /// captured to a bounded ring for error messages.
    pub async fn spawn(
        program: &str,
        account: &str,
        env: &[(String, String)],
    ) -> Result<(Client, Notifications), RpcError> {
        if account.is_empty() || account.starts_with('-') {
            return Err(RpcError::Io(format!("`{account}` is not a Signal account (expected a number like +4915…)")));
        }
        let mut command = tokio::process::Command::new(program);
        command.args(["-a", account, "jsonRpc", "--receive-mode=manual"]).env_clear();
        for key in KEPT_ENV {
            if let Some(value) = std::env::var_os(key) {
                command.env(key, value);
            }
        }
        command.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| spawn_error(program, &e))?;
        let Some(pid) = child.id() else { return Err(RpcError::Io(format!("`{program}` ended as it started"))) };
        procs::register(pid);
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            procs::signal_group(pid, Signal::KILL);
            procs::unregister(pid);
            return Err(RpcError::Io(format!("the pipes to `{program}` could not be opened")));
        };
        let shared = Arc::new(Shared::default());
        tokio::spawn(drain_stderr(stderr, shared.clone()));
        let (exited_tx, exited) = watch::channel(false);
        let waiter = shared.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            // Whatever the leader left in its group goes with it.
            procs::signal_group(pid, Signal::KILL);
            procs::unregister(pid);
            if let Ok(status) = status {
                tracing::debug!(%status, "signal-cli exited");
                waiter.lock().exit = Some(status);
            }
            let _ = exited_tx.send(true);
        });
        let input = BufReader::with_capacity(64 << 10, stdout);
        Ok(start(input, stdin, Some(Proc { pid, exited }), shared))
    }

    /// Connects to an existing `signal-cli daemon --tcp` at host:port; only loopback
    /// addresses (127.0.0.0/8, ::1, `localhost`) are accepted.
    pub async fn connect(address: &str) -> Result<(Client, Notifications), RpcError> {
        let addresses = loopback(address)?;
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&addresses[..])).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                return Err(RpcError::Io(format!(
                    "cannot connect to signal-cli at {address}: {e} (is `signal-cli daemon --tcp {address}` running?)"
                )));
            }
            Err(_) => return Err(RpcError::Io(format!("signal-cli at {address} did not accept a connection in time"))),
        };
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        Ok(start(BufReader::with_capacity(64 << 10, read), write, None, Arc::default()))
    }

    /// One request; its answer's `result`, or its `error` as [`RpcError::Rpc`].
    /// `Value::Null` params are left out.
    pub async fn call(&self, method: &str, params: Value, timeout: Duration) -> Result<Value, RpcError> {
        let shared = &self.inner.shared;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut request = json!({"jsonrpc": "2.0", "method": method, "id": id});
        if !params.is_null() {
            request["params"] = params;
        }
        let mut line = request.to_string().into_bytes();
        line.push(b'\n');
        let (reply, answer) = oneshot::channel();
        {
            let mut state = shared.lock();
            if let Some(why) = &state.ended {
                return Err(why.clone());
            }
            state.pending.insert(id, reply);
        }
        let _forget = Forget(shared, id);
        let lines = self.inner.lines.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let exchange = async {
            let lines = lines.ok_or(RpcError::Closed)?;
            lines.send(line).await.map_err(|_| shared.ended())?;
            answer.await.unwrap_or(Err(RpcError::Closed))
        };
        tokio::time::timeout(timeout, exchange).await.unwrap_or(Err(RpcError::Timeout))
    }

    /// Starts receiving (manual receive mode): messages queued on Signal's servers arrive
    /// as notifications from now on.
    pub async fn subscribe_receive(&self) -> Result<(), RpcError> {
        self.call("subscribeReceive", Value::Null, SUBSCRIBE_TIMEOUT).await.map(|_| ())
    }

    /// `send` to a recipient (number or UUID) or a group (`group:<id>`); returns the sent
    /// message's timestamp. The text goes as given: cut it with [`split`] first.
    pub async fn send_text(&self, to: &str, text: &str) -> Result<i64, RpcError> {
        let mut params = target(to);
        params["message"] = json!(text);
        sent_timestamp(self.call("send", params, SEND_TIMEOUT).await?)
    }

    /// `sendReaction` to a message (`target_author`'s, sent at `target_timestamp`) in the
    /// conversation `to`; returns the reaction's timestamp.
    pub async fn send_reaction(
        &self,
        to: &str,
        emoji: &str,
        target_author: &str,
        target_timestamp: i64,
    ) -> Result<i64, RpcError> {
        let mut params = target(to);
        params["emoji"] = json!(emoji);
        params["targetAuthor"] = json!(target_author);
        params["targetTimestamp"] = json!(target_timestamp);
        sent_timestamp(self.call("sendReaction", params, SEND_TIMEOUT).await?)
    }

    /// Stops the child (its input closed, then SIGTERM to its group, SIGKILL after a
    /// grace) or closes the connection. Pending and later calls fail with `Closed`.
    pub async fn shutdown(&self) {
        drop(self.inner.lines.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(child) = &self.inner.child {
            stop(child).await;
        }
        self.inner.reader.abort();
        self.inner.shared.end(RpcError::Closed);
    }

    /// The last lines the child wrote to stderr, masked ("" when none or not a child).
    pub fn stderr_tail(&self) -> String {
        let masker = runtime::secrets::process_masker();
        let state = self.inner.shared.lock();
        state.stderr.iter().map(|line| masker.mask(line).into_owned()).collect::<Vec<_>>().join("\n")
    }

    /// How the child exited, once it has.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.inner.shared.lock().exit
    }
}

/// Starts the reader, forwarder and writer tasks of one connection.
fn start(
    input: impl AsyncBufRead + Unpin + Send + 'static,
    output: impl AsyncWrite + Unpin + Send + 'static,
    child: Option<Proc>,
    shared: Arc<Shared>,
) -> (Client, Notifications) {
    let (out, notifications) = mpsc::channel(64);
    let (held, queue) = mpsc::unbounded_channel();
    tokio::spawn(forward(queue, out));
    let reader = tokio::spawn(read_loop(input, shared.clone(), held, child.clone())).abort_handle();
    let (lines, to_write) = mpsc::channel(64);
    tokio::spawn(write_loop(output, to_write, shared.clone()));
    let inner = Inner { shared, lines: Mutex::new(Some(lines)), next_id: AtomicU64::new(1), child, reader };
    (Client { inner: Arc::new(inner) }, notifications)
}

type Held = (Value, OwnedSemaphorePermit);

/// Hands held notifications to the consumer, releasing their room as each is taken.
async fn forward(mut queue: mpsc::UnboundedReceiver<Held>, out: mpsc::Sender<Value>) {
    while let Some((value, room)) = queue.recv().await {
        // A consumer that is gone only means nobody listens: keep draining.
        let _ = out.send(value).await;
        drop(room);
    }
}

async fn write_loop(mut output: impl AsyncWrite + Unpin, mut lines: mpsc::Receiver<Vec<u8>>, shared: Arc<Shared>) {
    while let Some(line) = lines.recv().await {
        let written = async {
            output.write_all(&line).await?;
            output.flush().await
        };
        if let Err(e) = written.await {
            shared.end(RpcError::Io(format!("cannot write to signal-cli: {e}")));
            return;
        }
    }
    let _ = output.shutdown().await;
}

async fn read_loop(
    mut input: impl AsyncBufRead + Unpin,
    shared: Arc<Shared>,
    held: mpsc::UnboundedSender<Held>,
    child: Option<Proc>,
) {
    let room = Arc::new(Semaphore::new(HELD));
    let mut line = Vec::new();
    let why = loop {
        line.clear();
        match read_line(&mut input, &mut line).await {
            Ok(true) => {}
            Ok(false) => break RpcError::Closed,
            Err(why) => break why,
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let items = match serde_json::from_slice::<Value>(text) {
            Ok(Value::Array(items)) => items,
            Ok(item) => vec![item],
            Err(e) => {
                let shown = String::from_utf8_lossy(text);
                let shown: String = shown.chars().take(200).collect();
                tracing::warn!(
                    "signal-cli wrote a line that is not JSON ({e}; {} bytes), skipped: {shown}",
                    text.len()
                );
                continue;
            }
        };
        for item in items {
            route(item, text.len(), &shared, &held, &room).await;
        }
    };
    shared.end(why);
    drop(held);
    if let Some(child) = child {
        // The end of its output is usually signal-cli exiting: give it a moment to do so.
        let mut exited = child.exited.clone();
        if tokio::time::timeout(Duration::from_secs(2), exited.wait_for(|e| *e)).await.is_err() {
            stop(&child).await;
        }
    }
}

/// An answer to its call, a `receive` notification to the consumer; anything else is
/// dropped.
async fn route(item: Value, size: usize, shared: &Shared, held: &mpsc::UnboundedSender<Held>, room: &Arc<Semaphore>) {
    let Value::Object(mut item) = item else { return };
    if let Some(method) = item.get("method").and_then(Value::as_str) {
        if method != "receive" || item.get("id").is_some_and(|id| !id.is_null()) {
            tracing::debug!(method, "signal-cli: not a receive notification, ignored");
            return;
        }
        let mut params = item.remove("params").unwrap_or_default();
        if params.get("subscription").is_some()
            && let Some(result) = params.get_mut("result")
        {
            params = result.take();
        }
        if params.is_null() {
            return;
        }
        let permits = u32::try_from(size.clamp(1, MAX_LINE)).unwrap_or(1);
        if let Ok(permit) = room.clone().acquire_many_owned(permits).await {
            let _ = held.send((params, permit));
        }
    } else if let Some(id) = item.get("id").and_then(Value::as_u64) {
        let Some(reply) = shared.lock().pending.remove(&id) else {
            tracing::debug!(id, "signal-cli answered a request that is not waiting (late or unknown), ignored");
            return;
        };
        let outcome = match item.get("error") {
            Some(error) if !error.is_null() => Err(RpcError::Rpc {
                code: error.get("code").and_then(Value::as_i64).unwrap_or_default(),
                message: error.get("message").and_then(Value::as_str).unwrap_or("(no message)").to_string(),
            }),
            _ => Ok(item.remove("result").unwrap_or_default()),
        };
        let _ = reply.send(outcome);
    } else if let Some(message) = item.get("error").and_then(|e| e.get("message")).and_then(Value::as_str) {
        let message: String = message.chars().take(200).collect();
        tracing::warn!("signal-cli reported an error for no request: {message}");
    }
}

/// Reads one line (its newline included) into `line`: `Ok(false)` at the end of input,
/// an error past [`MAX_LINE`].
async fn read_line(input: &mut (impl AsyncBufRead + Unpin), line: &mut Vec<u8>) -> Result<bool, RpcError> {
    loop {
        let chunk = input.fill_buf().await.map_err(|e| RpcError::Io(format!("cannot read from signal-cli: {e}")))?;
        if chunk.is_empty() {
            return Ok(!line.is_empty());
        }
        let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if line.len() + take > MAX_LINE + 1 {
            return Err(RpcError::Io(format!(
                "signal-cli sent a line over {} KiB; the connection is closed",
                MAX_LINE >> 10
            )));
        }
        line.extend_from_slice(&chunk[..take]);
        input.consume(take);
        if done {
            return Ok(true);
        }
    }
}

/// Reads the child's stderr to its end into the ring (long lines cut).
async fn drain_stderr(mut stderr: impl AsyncRead + Unpin, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 8192];
    let (mut line, mut cut) = (Vec::new(), false);
    while let Ok(n @ 1..) = stderr.read(&mut buf).await {
        for &byte in &buf[..n] {
            if byte == b'\n' {
                if !cut {
                    shared.stderr_line(&line);
                }
                (cut, line) = (false, Vec::new());
            } else if !cut && line.len() < STDERR_LINE {
                line.push(byte);
            } else if !cut {
                line.extend_from_slice(" …".as_bytes());
                shared.stderr_line(&line);
                (cut, line) = (true, Vec::new());
            }
        }
    }
    if !cut && !line.is_empty() {
        shared.stderr_line(&line);
    }
}

/// `recipient` or `groupId`, as `send` and `sendReaction` take them.
fn target(to: &str) -> Value {
    match to.strip_prefix("group:") {
        Some(group) => json!({"groupId": group}),
        None => json!({"recipient": [to]}),
    }
}

/// `{"timestamp": T, "results": [...]}` → T.
fn sent_timestamp(result: Value) -> Result<i64, RpcError> {
    result.get("timestamp").and_then(Value::as_i64).ok_or_else(|| {
        let shown: String = result.to_string().chars().take(200).collect();
        RpcError::Io(format!("signal-cli answered a send without a timestamp: {shown}"))
    })
}

fn spawn_error(program: &str, e: &std::io::Error) -> RpcError {
    RpcError::Io(match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("`{program}` not found: install signal-cli (it needs Java 21) or give the full path to it")
        }
        std::io::ErrorKind::PermissionDenied => format!("cannot run `{program}`: permission denied"),
        _ => format!("cannot start `{program}`: {e}"),
    })
}

/// The addresses of `address` if it is a loopback one; signal-cli's TCP daemon answers
/// anyone who connects, so nothing else is used.
fn loopback(address: &str) -> Result<Vec<SocketAddr>, RpcError> {
    let refuse = |why: &str| {
        RpcError::Io(format!(
            "not connecting to signal-cli at `{address}`: {why}. Its TCP daemon has no authentication, so Pyra only \
             uses one on loopback (127.0.0.1:PORT, [::1]:PORT or localhost:PORT)"
        ))
    };
    if let Ok(socket) = address.parse::<SocketAddr>() {
        return if socket.ip().is_loopback() { Ok(vec![socket]) } else { Err(refuse("not a loopback address")) };
    }
    match address.rsplit_once(':') {
        Some((host, port)) if host.eq_ignore_ascii_case("localhost") => {
            let port: u16 = port.parse().map_err(|_| refuse("not a valid port"))?;
            Ok(vec![SocketAddr::from((Ipv4Addr::LOCALHOST, port)), SocketAddr::from((Ipv6Addr::LOCALHOST, port))])
        }
        Some(_) => Err(refuse("not a loopback address")),
        None => Err(refuse("expected HOST:PORT")),
    }
}

#[cfg(test)]
mod tests;
