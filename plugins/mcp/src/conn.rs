//! One connection to an MCP server, through rmcp: a stdio child in its own process group
//! with a clean environment and piped stderr, or a streamable HTTP endpoint. Both
//! protocol generations: `server/discover` (2026-07-28) when the server speaks it, the
//! `initialize` handshake otherwise; what a server negotiated is remembered (in the lock)
//! so the next start goes straight to it instead of probing.
//!
//! Errors name the fix: the command and the `PATH` searched, the exit code and the stderr
//! tail, which timeout setting fired, which vault key a 401 points at.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ClientRequest, ElicitRequestParams, ElicitResult,
    ElicitationAction, ElicitationCapability, FormElicitationCapability, Implementation, ProtocolVersion, Request,
    ServerResult,
};
use rmcp::service::{PeerRequestOptions, RunningService, ServiceError};
use rmcp::{ClientLifecycleMode, ClientServiceExt, RoleClient};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::manifest::Limits;
use crate::stderr::{self, Tail};

/// How to reach a server, everything resolved (secrets included: never logged).
pub enum Plan {
    Stdio {
        /// The command as the manifest wrote it, for messages.
        command: String,
        program: PathBuf,
        args: Vec<String>,
        cwd: PathBuf,
        /// The complete environment of the child.
        env: Vec<(String, String)>,
        log: Option<PathBuf>,
    },
    Http {
        url: String,
        headers: Vec<(String, String)>,
        /// Header → vault key, to name the key a 401 points at.
        secret_headers: Vec<(String, String)>,
    },
}

/// A server's request for input during a call (MCP elicitation, form mode): the message,
/// the requested schema, and where the answer goes.
pub struct Elicit {
    pub message: String,
    pub schema: Value,
    pub reply: tokio::sync::oneshot::Sender<ElicitResult>,
}

/// Answers an elicitation (sends on its `reply`), perhaps after asking a person.
pub type Asker<'a> = dyn Fn(Elicit) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> + Sync + 'a;

/// The calls in flight on a connection that can take an elicitation, by call number.
type Askers = Arc<Mutex<Vec<(u64, tokio::sync::mpsc::UnboundedSender<Elicit>)>>>;

/// Pyra's side of a session: who it is, that it can answer form elicitations, and where
/// a server's elicitation goes — to the one call in flight, which asks a person (or
/// records the question durably). With several calls in flight nobody can tell which
/// one asks, so the answer is a decline; a URL elicitation is declined (it would open a
/// page no one approved).
#[derive(Clone)]
pub struct Handler {
    askers: Askers,
}

impl rmcp::ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        let mut caps = ClientCapabilities::default();
        caps.elicitation = Some(ElicitationCapability::new().with_form(FormElicitationCapability::default()));
        ClientConfig::new(caps, Implementation::new("pyra", env!("CARGO_PKG_VERSION")))
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<ElicitResult, rmcp::ErrorData> {
        let ElicitRequestParams::FormElicitationParams { message, requested_schema, .. } = request else {
            return Ok(ElicitResult::new(ElicitationAction::Decline));
        };
        let sender = {
            let askers = self.askers.lock().unwrap_or_else(|e| e.into_inner());
            if askers.len() == 1 { Some(askers[0].1.clone()) } else { None }
        };
        let Some(sender) = sender else { return Ok(ElicitResult::new(ElicitationAction::Decline)) };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let schema = serde_json::to_value(&requested_schema).unwrap_or(Value::Null);
        if sender.send(Elicit { message, schema, reply }).is_err() {
            return Ok(ElicitResult::new(ElicitationAction::Cancel));
        }
        Ok(answer.await.unwrap_or_else(|_| ElicitResult::new(ElicitationAction::Cancel)))
    }
}

/// A live connection.
pub struct Conn {
    service: RunningService<RoleClient, Handler>,
    askers: Askers,
    next_call: std::sync::atomic::AtomicU64,
    child: Mutex<Option<tokio::process::Child>>,
    pgid: Option<i32>,
    pub tail: Tail,
    /// The protocol version spoken.
    pub protocol: String,
    /// `name version` of the server.
    pub server: String,
    /// From spawn to a usable session.
    pub cold_start: Duration,
    stopped: AtomicBool,
    secret_headers: Vec<(String, String)>,
}

/// Why a call did not produce a result.
#[derive(Debug)]
pub enum CallError {
    /// The server is gone (crashed, killed, closed the stream): the call may or may not
    /// have run.
    Died(String),
    Timeout(String),
    /// The server answered with a JSON-RPC error.
    Protocol(String),
    Cancelled,
}

impl CallError {
    pub fn message(&self) -> String {
        match self {
            CallError::Died(m) | CallError::Timeout(m) | CallError::Protocol(m) => m.clone(),
            CallError::Cancelled => "cancelled".into(),
        }
    }
}

fn handler() -> (Handler, Askers) {
    let askers: Askers = Arc::default();
    (Handler { askers: askers.clone() }, askers)
}

/// The lifecycle for a server that last spoke `known` (`None`: never started).
fn lifecycle(known: Option<&str>) -> ClientLifecycleMode {
    match known {
        Some("2026-07-28") => ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] },
        Some(_) => ClientLifecycleMode::Initialize,
        None => ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            legacy_version: Some(ProtocolVersion::V_2025_11_25),
        },
    }
}

impl Conn {
    /// Starts (or connects to) a server and completes the handshake within
    /// `limits.startup`.
    pub async fn start(name: &str, plan: Plan, limits: &Limits, known: Option<&str>) -> Result<Conn, String> {
        let began = Instant::now();
        match plan {
            Plan::Stdio { command, program, args, cwd, env, log } => {
                let mut cmd = tokio::process::Command::new(&program);
                cmd.args(&args)
                    .current_dir(&cwd)
                    .env_clear()
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .kill_on_drop(true);
                #[cfg(unix)]
                cmd.process_group(0);
                let mut child = cmd.spawn().map_err(|e| {
                    let argv = shown_argv(&command, &args);
                    format!("plugin `{name}`: cannot start `{argv}`: {e} (in {})", cwd.display())
                })?;
                let pgid = child.id().map(|p| p as i32);
                if let Some(pid) = pgid {
                    crate::reaper::register(pid);
                }
                let tail = Tail::default();
                if let Some(err) = child.stderr.take() {
                    tokio::spawn(stderr::drain(err, tail.clone(), log));
                }
                let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
                    return Err(format!("plugin `{name}`: the child's pipes could not be opened"));
                };
                let (handler, askers) = handler();
                let handshake = handler.serve_with_lifecycle((stdout, stdin), lifecycle(known));
                let outcome = tokio::time::timeout(limits.startup, handshake).await;
                let service = match outcome {
                    Ok(Ok(service)) => service,
                    Ok(Err(e)) => {
                        let why = exit_reason(&mut child).await.unwrap_or_else(|| format!("the handshake failed: {e}"));
                        kill_group(pgid, &mut child).await;
                        return Err(format!(
                            "plugin `{name}`: `{}` {why}{}",
                            shown_argv(&command, &args),
                            tail.for_error()
                        ));
                    }
                    Err(_) => {
                        let why = exit_reason(&mut child).await;
                        kill_group(pgid, &mut child).await;
                        let what = why.unwrap_or_else(|| {
                            format!(
                                "did not finish its handshake within {} (`timeouts.startup` in plugins/{name}/plugin.yaml)",
                                syntax::duration::format(limits.startup)
                            )
                        });
                        return Err(format!(
                            "plugin `{name}`: `{}` {what}{}",
                            shown_argv(&command, &args),
                            tail.for_error()
                        ));
                    }
                };
                Ok(Conn::new(service, askers, Some(child), pgid, tail, began, Vec::new()))
            }
            Plan::Http { url, headers, secret_headers } => {
                use rmcp::transport::StreamableHttpClientTransport;
                use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
                let mut map = std::collections::HashMap::new();
                for (k, v) in &headers {
                    let key = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                        .map_err(|e| format!("plugin `{name}`: header `{k}`: {e}"))?;
                    let value = reqwest::header::HeaderValue::from_str(v)
                        .map_err(|_| format!("plugin `{name}`: the value of header `{k}` is not valid in a header"))?;
                    map.insert(key, value);
                }
                let config = StreamableHttpClientTransportConfig::with_uri(url.clone()).custom_headers(map);
                let client = reqwest::Client::builder()
                    .connect_timeout(limits.startup)
                    .build()
                    .map_err(|e| format!("plugin `{name}`: {e}"))?;
                let transport = StreamableHttpClientTransport::with_client(client, config);
                let (handler, askers) = handler();
                let handshake = handler.serve_with_lifecycle(transport, lifecycle(known));
                let service = match tokio::time::timeout(limits.startup, handshake).await {
                    Ok(Ok(service)) => service,
                    Ok(Err(e)) => return Err(http_start_error(name, &url, &e.to_string(), &secret_headers)),
                    Err(_) => {
                        return Err(format!(
                            "plugin `{name}`: {url} did not finish its handshake within {} (`timeouts.startup`)",
                            syntax::duration::format(limits.startup)
                        ));
                    }
                };
                Ok(Conn::new(service, askers, None, None, Tail::default(), began, secret_headers))
            }
        }
    }

    fn new(
        service: RunningService<RoleClient, Handler>,
        askers: Askers,
        child: Option<tokio::process::Child>,
        pgid: Option<i32>,
        tail: Tail,
        began: Instant,
        secret_headers: Vec<(String, String)>,
    ) -> Conn {
        let info = service.peer_info();
        let protocol = info.as_ref().map(|i| i.protocol_version.to_string()).unwrap_or_default();
        let server = info
            .as_ref()
            .and_then(|i| i.server_info.as_ref().map(|s| format!("{} {}", s.name, s.version)))
            .unwrap_or_default();
        Conn {
            service,
            askers,
            next_call: std::sync::atomic::AtomicU64::new(0),
            child: Mutex::new(child),
            pgid,
            tail,
            protocol,
            server,
            cold_start: began.elapsed(),
            stopped: AtomicBool::new(false),
            secret_headers,
        }
    }

    /// Whether the session can still carry calls.
    pub fn alive(&self) -> bool {
        if self.stopped.load(Ordering::SeqCst) || self.service.is_transport_closed() {
            return false;
        }
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        match child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// Every tool the server lists, as JSON (all pages).
    pub async fn list_tools(&self, limits: &Limits) -> Result<Vec<Value>, CallError> {
        let listing = tokio::time::timeout(limits.call, self.service.list_all_tools()).await;
        match listing {
            Ok(Ok(tools)) => Ok(tools.iter().filter_map(|t| serde_json::to_value(t).ok()).collect()),
            Ok(Err(e)) => Err(self.service_error("listing its tools", e)),
            Err(_) => Err(CallError::Timeout(format!(
                "it did not list its tools within {} (`timeouts.call`)",
                syntax::duration::format(limits.call)
            ))),
        }
    }

    /// Calls a tool: `limits.call` without news, progress notifications extend it up to
    /// `limits.max_call`; `cancel` abandons the call (the server is told).
    pub async fn call(
        &self,
        tool: &str,
        arguments: Value,
        limits: &Limits,
        cancel: &CancellationToken,
    ) -> Result<Value, CallError> {
        self.call_asking(tool, arguments, limits, cancel, &|e: Elicit| {
            let _ = e.reply.send(ElicitResult::new(ElicitationAction::Decline));
            Box::pin(async {})
        })
        .await
    }

    /// [`Conn::call`], with `ask` answering the server's elicitations during the call.
    pub async fn call_asking<'a>(
        &self,
        tool: &str,
        arguments: Value,
        limits: &Limits,
        cancel: &CancellationToken,
        ask: &Asker<'a>,
    ) -> Result<Value, CallError> {
        let number = self.next_call.fetch_add(1, Ordering::SeqCst);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        self.askers.lock().unwrap_or_else(|e| e.into_inner()).push((number, tx));
        struct Unregister<'a>(&'a Askers, u64);
        impl Drop for Unregister<'_> {
            fn drop(&mut self) {
                self.0.lock().unwrap_or_else(|e| e.into_inner()).retain(|(n, _)| *n != self.1);
            }
        }
        let _unregister = Unregister(&self.askers, number);
        let mut params = CallToolRequestParams::new(tool.to_string());
        if let Value::Object(map) = arguments {
            params = params.with_arguments(map);
        }
        let options = PeerRequestOptions::with_timeout(limits.call)
            .reset_timeout_on_progress()
            .with_max_total_timeout(limits.max_call);
        let request = ClientRequest::CallToolRequest(Request::new(params));
        let handle = match self.service.peer().send_request_with_option(request, options).await {
            Ok(h) => h,
            Err(e) => return Err(self.service_error("sending the call", e)),
        };
        let response = handle.await_response();
        tokio::pin!(response);
        let response = loop {
            tokio::select! {
                r = &mut response => break r,
                Some(e) = rx.recv() => ask(e).await,
                () = cancel.cancelled() => return Err(CallError::Cancelled),
            }
        };
        match response {
            Ok(ServerResult::CallToolResult(result)) => {
                serde_json::to_value(result).map_err(|e| CallError::Protocol(e.to_string()))
            }
            Ok(other) => Err(CallError::Protocol(format!("the server answered a tool call with {other:?}"))),
            Err(ServiceError::Timeout { timeout }) if timeout >= limits.max_call => Err(CallError::Timeout(format!(
                "the call took longer than `timeouts.max_call` ({}), progress or not",
                syntax::duration::format(limits.max_call)
            ))),
            Err(ServiceError::Timeout { timeout }) => Err(CallError::Timeout(format!(
                "the call got no answer within {} (`timeouts.call`; progress notifications extend it up to `timeouts.max_call`, {})",
                syntax::duration::format(timeout),
                syntax::duration::format(limits.max_call)
            ))),
            Err(e) => Err(self.service_error("the call", e)),
        }
    }

    fn service_error(&self, during: &str, e: ServiceError) -> CallError {
        match e {
            ServiceError::McpError(data) => {
                CallError::Protocol(format!("the server refused {during}: {}", data.message))
            }
            ServiceError::Cancelled { .. } => CallError::Cancelled,
            ServiceError::Timeout { timeout } => {
                CallError::Timeout(format!("no answer to {during} within {}", syntax::duration::format(timeout)))
            }
            other => {
                let text = other.to_string();
                if let Some(h) = auth_hint(&text, &self.secret_headers) {
                    return CallError::Protocol(format!("{during}: {text}; {h}"));
                }
                CallError::Died(format!("the server went away during {during} ({text}){}", self.tail.for_error()))
            }
        }
    }

    /// The process id of a stdio server (its process group).
    pub fn pid(&self) -> Option<i32> {
        self.pgid
    }

    /// Ends the session and the server's whole process group: SIGTERM, then SIGKILL after
    /// a grace period; the child is reaped.
    pub async fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        self.service.cancellation_token().cancel();
        let child = self.child.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut child) = child {
            kill_group(self.pgid, &mut child).await;
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if !self.stopped.load(Ordering::SeqCst)
            && let Some(pid) = self.pgid
        {
            crate::reaper::kill_now(pid);
        }
    }
}

fn shown_argv(command: &str, args: &[String]) -> String {
    let masker = runtime::secrets::process_masker();
    let mut parts = vec![command.to_string()];
    parts.extend(args.iter().cloned());
    masker.mask(&shlex::try_join(parts.iter().map(String::as_str)).unwrap_or_else(|_| parts.join(" "))).into_owned()
}

/// If the child has exited (or does within a moment), how.
async fn exit_reason(child: &mut tokio::process::Child) -> Option<String> {
    let status = tokio::time::timeout(Duration::from_millis(300), child.wait()).await.ok()?.ok()?;
    // Give the stderr reader a moment to take the last lines.
    tokio::time::sleep(Duration::from_millis(50)).await;
    Some(match status.code() {
        Some(code) => format!("exited with code {code} before finishing its handshake"),
        None => format!("was killed ({status}) before finishing its handshake"),
    })
}

/// SIGTERM to the group, SIGKILL after 2 s, then reap.
pub(crate) async fn kill_group(pgid: Option<i32>, child: &mut tokio::process::Child) {
    if let Some(pid) = pgid {
        crate::reaper::signal(pid, false);
        if tokio::time::timeout(Duration::from_secs(2), child.wait()).await.is_err() {
            crate::reaper::signal(pid, true);
            let _ = child.wait().await;
        } else {
            // The leader is gone; anything left in its group goes too.
            crate::reaper::signal(pid, true);
        }
        crate::reaper::unregister(pid);
    } else {
        let _ = child.kill().await;
    }
}

fn auth_hint(text: &str, secret_headers: &[(String, String)]) -> Option<String> {
    if !(text.contains("401") || text.contains("403") || text.to_ascii_lowercase().contains("unauthorized")) {
        return None;
    }
    Some(match secret_headers.first() {
        Some((header, key)) => {
            format!(
                "the server refused the credentials: check the vault key `{key}` (sent as `{header}`) with `pyra vault set {key}`"
            )
        }
        None => "the server wants credentials: map a header to a vault key under `secrets:` in plugin.yaml".into(),
    })
}

fn http_start_error(name: &str, url: &str, text: &str, secret_headers: &[(String, String)]) -> String {
    let masked = runtime::secrets::process_masker().mask(text).into_owned();
    match auth_hint(text, secret_headers) {
        Some(hint) => format!("plugin `{name}`: {url}: {masked}; {hint}"),
        None => format!("plugin `{name}`: cannot connect to {url}: {masked}"),
    }
}
