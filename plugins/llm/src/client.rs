//! Sends a [`ChatRequest`] to a model server over reqwest and streams the reply back:
//! retries with backoff on 429, 5xx, overload and connection failures (honouring
//! `Retry-After`) — but never once text has reached the user, nor when the server says
//! the account is out of quota —, timeouts for the connection, the first token and
//! silence between tokens, and cancellation at any point. Tool calls the provider sent
//! without an id (or with one repeated in the reply) get a fresh, unique one here.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use super::wire::{Dialect, Format};
use super::{ChatRequest, Finish, HttpRequest, Method, StreamEvent, ToolCall, Usage, WireError};

/// Where a model lives.
#[derive(Clone)]
pub struct Endpoint {
    pub format: Format,
    /// The server's base URL (the provider's default or the config's `base_url`).
    pub base_url: String,
    /// The API key, sent in a header only.
    pub key: Option<SecretString>,
    /// The request fields this provider's server takes (registry data).
    pub dialect: Dialect,
}

/// How long to wait, and how often to try.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Until the server accepts the connection.
    pub connect: Duration,
    /// From sending the request to the reply's first bytes (a local model may be loading).
    pub first_token: Duration,
    /// The longest silence between two pieces of a streamed reply.
    pub idle: Duration,
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// The first backoff; it doubles, ±25 % jitter.
    pub backoff: Duration,
    /// The longest wait between attempts, `Retry-After` included: a server asking for
    /// more is reported rather than waited for.
    pub max_wait: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            connect: Duration::from_secs(10),
            first_token: Duration::from_secs(300),
            idle: Duration::from_secs(120),
            attempts: 4,
            backoff: Duration::from_secs(1),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// A whole reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    pub finish: Finish,
    /// HTTP attempts it took.
    pub attempts: u32,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LlmError {
    /// A failure that may pass (rate limit, overload, a lost connection), after the
    /// retries this call was allowed.
    Transient(String),
    /// A failure that would happen again (a bad key, an unknown model, a bad request), or
    /// one after text reached the user: a retry, of the call or of its node, would show a
    /// second reply after part of the first.
    Fatal(String),
    Cancelled,
}

impl std::fmt::Display for LlmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LlmError::Transient(m) | LlmError::Fatal(m) => f.write_str(m),
            LlmError::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// One shared HTTP client per process (connection pooling, one TLS setup).
pub fn http_client(policy: &Policy) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(policy.connect)
        .user_agent(concat!("pyra/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// What one attempt came to.
enum Attempt {
    Done(Completion),
    /// Worth another try; `wait` is what the server asked for (`Retry-After`).
    Retry {
        why: String,
        wait: Option<Duration>,
    },
    Failed(LlmError),
}

/// What one attempt saw before it ended, whatever ended it.
#[derive(Default)]
struct Seen {
    /// The server answered 200 and began a reply (it may bill for it).
    answered: bool,
    /// The usage the server reported so far.
    usage: Usage,
}

/// What a caller hears of a completion while it runs.
pub struct Hooks<'a> {
    /// Each piece of text as it arrives.
    pub on_text: &'a mut (dyn FnMut(&str) + Send),
    /// The usage of every attempt the server began answering that did not end in a whole
    /// reply (an error, a cut, a timeout, a cancel): such a reply may be billed; counts
    /// the server did not report are `None`.
    pub on_incomplete: &'a mut (dyn FnMut(&Usage) + Send),
    /// Why the call is retried and after how long, before the wait.
    pub on_retry: &'a mut (dyn FnMut(&str) + Send),
}

/// Streams one completion, telling `hooks` what happens. The call is a `model.call` span
/// with the GenAI semantic conventions' names (system, model, token counts — a count the
/// server did not report stays unset, never 0).
pub async fn complete(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    req: &ChatRequest,
    policy: &Policy,
    cancel: &CancellationToken,
    hooks: Hooks<'_>,
) -> Result<Completion, LlmError> {
    let span = tracing::info_span!(
        "model.call",
        gen_ai.operation.name = "chat",
        gen_ai.system = ?endpoint.format,
        gen_ai.request.model = %req.model,
        gen_ai.usage.input_tokens = tracing::field::Empty,
        gen_ai.usage.output_tokens = tracing::field::Empty,
        attempts = tracing::field::Empty,
    );
    let result =
        tracing::Instrument::instrument(complete_in_span(http, endpoint, req, policy, cancel, hooks), span.clone())
            .await;
    match &result {
        Ok(done) => {
            if let Some(n) = done.usage.prompt {
                span.record("gen_ai.usage.input_tokens", n);
            }
            if let Some(n) = done.usage.completion {
                span.record("gen_ai.usage.output_tokens", n);
            }
            span.record("attempts", done.attempts);
        }
        Err(e) => span.in_scope(|| tracing::warn!(error = ?e, "model call failed")),
    }
    result
}

async fn complete_in_span(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    req: &ChatRequest,
    policy: &Policy,
    cancel: &CancellationToken,
    hooks: Hooks<'_>,
) -> Result<Completion, LlmError> {
    let Hooks { on_text, on_incomplete, on_retry } = hooks;
    let key = endpoint.key.as_ref().map(|k| k.expose_secret().to_string());
    let request = endpoint.format.chat_request(&endpoint.base_url, key.as_deref(), req, endpoint.dialect);
    let mut attempt = 1;
    loop {
        let mut seen = Seen::default();
        let outcome = tokio::select! {
            biased;
            () = cancel.cancelled() => None,
            outcome = one_attempt(http, endpoint.format, &request, policy, on_text, &mut seen) => Some(outcome),
        };
        if seen.answered && !matches!(outcome, Some(Attempt::Done(_))) {
            on_incomplete(&seen.usage);
        }
        let Some(outcome) = outcome else { return Err(LlmError::Cancelled) };
        match outcome {
            Attempt::Done(mut completion) => {
                completion.attempts = attempt;
                name_calls(&mut completion.tool_calls);
                return Ok(completion);
            }
            Attempt::Failed(e) => return Err(e),
            Attempt::Retry { why, wait } => {
                if attempt >= policy.attempts {
                    return Err(LlmError::Transient(format!("{why} (after {attempt} attempts)")));
                }
                let delay = match wait {
                    Some(asked) if asked > policy.max_wait => {
                        return Err(LlmError::Transient(format!(
                            "{why}; the server asks to retry in {}s, longer than Pyra waits",
                            asked.as_secs()
                        )));
                    }
                    Some(asked) => asked,
                    None => backoff(policy, attempt),
                };
                let asked = if wait.is_some() { ", as the server asked" } else { "" };
                on_retry(&format!(
                    "{why}; retrying in {}{asked} (attempt {} of {})",
                    secs(delay),
                    attempt + 1,
                    policy.attempts
                ));
                sleep_or_cancel(delay, cancel).await?;
                attempt += 1;
            }
        }
    }
}

/// Gives every call without an id, or with an id an earlier call of the reply already
/// has, a fresh one: `call_` and 24 random letters and digits, unique across replies
/// too, so a conversation never holds two calls with one id.
fn name_calls(calls: &mut [ToolCall]) {
    let mut taken = std::collections::HashSet::new();
    for call in calls {
        if call.id.is_empty() || !taken.insert(call.id.clone()) {
            call.id = format!("call_{}", std::iter::repeat_with(fastrand::alphanumeric).take(24).collect::<String>());
            taken.insert(call.id.clone());
        }
    }
}

/// `backoff × 2^(attempt-1)`, ±25 %, capped at `max_wait`.
fn backoff(policy: &Policy, attempt: u32) -> Duration {
    let base = policy.backoff.saturating_mul(1 << (attempt - 1).min(16)).min(policy.max_wait);
    base.mul_f64(0.75 + fastrand::f64() * 0.5)
}

async fn sleep_or_cancel(delay: Duration, cancel: &CancellationToken) -> Result<(), LlmError> {
    tokio::select! {
        () = cancel.cancelled() => Err(LlmError::Cancelled),
        () = tokio::time::sleep(delay) => Ok(()),
    }
}

fn build(http: &reqwest::Client, request: &HttpRequest) -> reqwest::RequestBuilder {
    let mut builder = match request.method {
        Method::Get => http.get(&request.url),
        Method::Post => http.post(&request.url),
    };
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = &request.body {
        builder = builder.body(serde_json::to_vec(body).unwrap_or_default());
    }
    builder
}

/// What a failed HTTP exchange says, without the URL's query (never holds a key, but
/// stays short) and with the server named.
fn describe(e: reqwest::Error, url: &str) -> String {
    let host = reqwest::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
    let e = e.without_url();
    format!("cannot reach the model server {host}: {}", error_chain(&e))
}

/// An error with its causes, `: `-joined ("error sending request: connection refused").
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// `Retry-After`: seconds, or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    retry_after_at(value, chrono::Utc::now())
}

/// A `Retry-After` value read at `now`: a date already past means "now".
fn retry_after_at(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(when.signed_duration_since(now).to_std().unwrap_or(Duration::ZERO))
}

/// A timeout or a wait as said in a message, to a tenth of a second: `120s`, `0.5s`.
fn secs(d: Duration) -> String {
    format!("{}s", (d.as_secs_f64() * 10.0).round() / 10.0)
}

async fn one_attempt(
    http: &reqwest::Client,
    format: Format,
    request: &HttpRequest,
    policy: &Policy,
    on_text: &mut (dyn FnMut(&str) + Send),
    seen: &mut Seen,
) -> Attempt {
    let sent = build(http, request).send();
    let mut response = match tokio::time::timeout(policy.first_token, sent).await {
        Err(_) => {
            return Attempt::Retry {
                why: format!("the model server sent nothing for {}", secs(policy.first_token)),
                wait: None,
            };
        }
        Ok(Err(e)) => {
            // A refused or reset connection may pass; a bad URL or TLS failure will not.
            let transient = e.is_connect() || e.is_timeout() || e.is_request();
            let why = describe(e, &request.url);
            return if transient { Attempt::Retry { why, wait: None } } else { Attempt::Failed(LlmError::Fatal(why)) };
        }
        Ok(Ok(r)) => r,
    };
    let status = response.status();
    if !status.is_success() {
        let wait = retry_after(response.headers());
        let body = read_capped(&mut response, 64 << 10, policy.idle).await;
        let message = format
            .error_message(&body)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().chars().take(300).collect());
        let why = format!("the model server answered {status}: {message}");
        let retryable = (status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error())
            && !format.is_final_error(&body);
        return if retryable { Attempt::Retry { why, wait } } else { Attempt::Failed(LlmError::Fatal(why)) };
    }
    seen.answered = true;
    let mut decoder = format.decoder();
    let mut completion = Completion {
        text: String::new(),
        tool_calls: Vec::new(),
        usage: Usage::default(),
        finish: Finish::Stop,
        attempts: 1,
    };
    let mut finished = false;
    let mut delivered = false;
    let mut first = true;
    loop {
        let wait = if first { policy.first_token } else { policy.idle };
        let chunk = match tokio::time::timeout(wait, response.chunk()).await {
            Err(_) => Err(format!("the model server went silent for {}", secs(wait))),
            Ok(Err(e)) => Err(format!("the connection to the model server broke: {}", describe(e, &request.url))),
            Ok(Ok(chunk)) => Ok(chunk),
        };
        first = false;
        let (events, end) = match chunk {
            Err(why) => return lost(why, delivered),
            Ok(Some(bytes)) => (decoder.feed(&bytes), false),
            Ok(None) => (decoder.finish(), true),
        };
        match events {
            Err(WireError::Api { message, retryable }) => {
                let why = format!("the model server reported an error: {message}");
                // After text reached the user even a passing error is final (see `lost`).
                return if retryable && !delivered {
                    Attempt::Retry { why, wait: None }
                } else {
                    Attempt::Failed(LlmError::Fatal(why))
                };
            }
            Err(WireError::Protocol(m)) => {
                let why = format!("unexpected reply from the model server: {m}");
                return lost(why, delivered);
            }
            Ok(events) => {
                for event in events {
                    match event {
                        StreamEvent::Text(t) => {
                            delivered = true;
                            on_text(&t);
                            completion.text.push_str(&t);
                        }
                        StreamEvent::ToolCall(call) => completion.tool_calls.push(call),
                        StreamEvent::Usage(u) => {
                            merge(&mut completion.usage, u);
                            seen.usage = completion.usage;
                        }
                        StreamEvent::Finish(f) => {
                            completion.finish = f;
                            finished = true;
                        }
                    }
                }
            }
        }
        // After the protocol's last message the reply is whole: a server that keeps the
        // connection open is not waited for.
        if end || (finished && decoder.done()) {
            break;
        }
    }
    if !finished {
        return lost("the reply ended before it was complete".into(), delivered);
    }
    Attempt::Done(completion)
}

/// A stream broken off: retried when nothing reached the user yet; otherwise the user
/// has seen part of a reply, and a second, different reply would follow it.
fn lost(why: String, delivered: bool) -> Attempt {
    if delivered {
        Attempt::Failed(LlmError::Fatal(format!("{why} (after part of the reply was shown, so not retried)")))
    } else {
        Attempt::Retry { why, wait: None }
    }
}

/// Later usage values replace earlier ones, field by field.
fn merge(into: &mut Usage, new: Usage) {
    into.prompt = new.prompt.or(into.prompt);
    into.completion = new.completion.or(into.completion);
    into.cached = new.cached.or(into.cached);
}

async fn read_capped(response: &mut reqwest::Response, cap: usize, idle: Duration) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < cap {
        match tokio::time::timeout(idle, response.chunk()).await {
            Ok(Ok(Some(bytes))) => body.extend_from_slice(&bytes),
            _ => break,
        }
    }
    body.truncate(cap);
    body
}

/// The models a server offers.
pub async fn list_models(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    policy: &Policy,
    cancel: &CancellationToken,
) -> Result<Vec<String>, LlmError> {
    let key = endpoint.key.as_ref().map(|k| k.expose_secret().to_string());
    let request = endpoint.format.models_request(&endpoint.base_url, key.as_deref());
    let exchange = async {
        let mut response =
            build(http, &request).send().await.map_err(|e| LlmError::Transient(describe(e, &request.url)))?;
        let status = response.status();
        let body = read_capped(&mut response, 16 << 20, policy.idle).await;
        if !status.is_success() {
            let message = endpoint
                .format
                .error_message(&body)
                .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().chars().take(300).collect());
            return Err(LlmError::Fatal(format!("the model server answered {status}: {message}")));
        }
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| LlmError::Fatal(format!("the model list is not JSON: {e}")))?;
        endpoint.format.parse_models(&value).map_err(|e| LlmError::Fatal(e.to_string()))
    };
    tokio::select! {
        () = cancel.cancelled() => Err(LlmError::Cancelled),
        r = tokio::time::timeout(policy.first_token, exchange) => r.unwrap_or_else(|_| Err(LlmError::Transient("the model server did not answer".into()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:27:30Z").unwrap().to_utc();
        assert_eq!(retry_after_at("1", now), Some(Duration::from_secs(1)));
        assert_eq!(retry_after_at(" 2.5 ", now), Some(Duration::from_millis(2500)));
        // An IMF-fixdate, as RFC 9110 writes it, 30 s later.
        assert_eq!(retry_after_at("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after_at("Wed, 21 Oct 2015 09:28:00 +0200", now), Some(Duration::from_secs(30)));
        // A date already past: retry now.
        assert_eq!(retry_after_at("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(retry_after_at("-1", now), None);
        assert_eq!(retry_after_at("soon", now), None);
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
    }

    #[test]
    fn calls_without_an_id_or_with_a_repeated_one_get_a_unique_id() {
        let call = |id: &str| ToolCall { id: id.into(), name: "get_weather".into(), arguments: "{}".into() };
        let mut first = vec![call(""), call(""), call("toolu_01"), call("toolu_01")];
        name_calls(&mut first);
        assert_eq!(first[2].id, "toolu_01", "an id the provider gave is kept");
        let mut second = vec![call("")];
        name_calls(&mut second);
        let ids: std::collections::HashSet<&str> = first.iter().chain(&second).map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), 5, "{ids:?}");
        for c in first.iter().chain(&second).filter(|c| c.id != "toolu_01") {
            assert!(c.id.starts_with("call_") && c.id.len() == 29, "{}", c.id);
        }
    }

    #[test]
    fn timeouts_are_said_in_seconds() {
        assert_eq!(secs(Duration::from_secs(120)), "120s");
        assert_eq!(secs(Duration::from_millis(500)), "0.5s");
    }
}
