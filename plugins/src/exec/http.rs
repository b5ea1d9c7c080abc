//! The `http` executor: one request with `reqwest`, the body streamed up to `max_bytes`
//! and read as JSON or text. The response is untrusted data. Headers are never logged
//! (they carry keys), and error messages show the URL without its query string.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Method, Url};
use runtime::{BoxFuture, Executor, LogLevel, NodeCtx, NodeError, Outcome, Output};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

/// Largest response accepted unless `max_bytes` says otherwise.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// `http`: holds one connection-pooling client shared by every request, built on first
/// use (loading the TLS roots costs milliseconds that a run without HTTP should not pay).
pub struct Http {
    client: std::sync::OnceLock<Client>,
}

impl Http {
    pub fn new() -> Self {
        Self { client: std::sync::OnceLock::new() }
    }

    fn client(&self) -> Client {
        self.client
            .get_or_init(|| {
                Client::builder()
                    .user_agent(concat!("pyra/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .unwrap_or_else(|_| Client::new())
            })
            .clone()
    }
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Executor for Http {
    fn execute(&self, ctx: NodeCtx, with: Value) -> BoxFuture<'static, Result<Outcome, NodeError>> {
        let client = self.client();
        Box::pin(async move {
            let request = Request::from_with(&with)?;
            ctx.log(LogLevel::Info, format!("{} {}", request.method, shown(&request.url)));
            // The host only: a query string may carry a key.
            let host = request.url.host_str().map(str::to_string);
            let span = tracing::info_span!("http.request", http.method = %request.method, server.address = host.as_deref().unwrap_or(""));
            let value = tracing::Instrument::instrument(fetch(&client, &request, &ctx.cancel), span).await?;
            ctx.log(LogLevel::Info, format!("{} {} returned {}", request.method, shown(&request.url), value["status"]));
            let body = match &value["body"] {
                Value::String(text) => std::borrow::Cow::Borrowed(text.as_str()),
                other => std::borrow::Cow::Owned(other.to_string()),
            };
            ctx.scan_untrusted("the HTTP response", &body)?;
            Ok(Outcome::Done(Output::untrusted(value)))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Auto,
    Json,
    Text,
}

#[derive(Debug)]
enum Body {
    None,
    Json(Value),
    Raw(String),
}

/// A request, from a rendered and schema-checked `with:` value.
#[derive(Debug)]
pub struct Request {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Body,
    timeout: Duration,
    mode: Mode,
    max_bytes: u64,
    allow_status: Vec<u16>,
}

fn fatal(message: impl Into<String>) -> NodeError {
    NodeError::Fatal(message.into())
}

/// The URL as messages show it: no query string, no credentials.
fn shown(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    let _ = url.set_password(None);
    let _ = url.set_username("");
    url.to_string()
}

/// The start of a text, at most `n` characters.
fn snippet(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

impl Request {
    pub fn from_with(with: &Value) -> Result<Self, NodeError> {
        let text = with.get("url").and_then(Value::as_str).unwrap_or_default();
        let mut url = Url::parse(text).map_err(|e| fatal(format!("`url`: `{text}` is not a valid URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(fatal(format!("`url`: only http and https are supported, not `{}:`", url.scheme())));
        }
        if let Some(query) = with.get("query").and_then(Value::as_object) {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query {
                match value {
                    Value::Null => {}
                    Value::Array(items) => {
                        for item in items {
                            pairs.append_pair(name, &query_text(item));
                        }
                    }
                    other => {
                        pairs.append_pair(name, &query_text(other));
                    }
                }
            }
        }
        let method = with.get("method").and_then(Value::as_str).unwrap_or("GET");
        let method = Method::from_bytes(method.as_bytes()).map_err(|_| fatal(format!("`method`: `{method}`")))?;
        let mut headers = HeaderMap::new();
        for (name, value) in with.get("headers").and_then(Value::as_object).into_iter().flatten() {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| fatal(format!("`headers`: `{name}` is not a valid header name")))?;
            // The value is never shown: it may be a key.
            let value = HeaderValue::from_str(value.as_str().unwrap_or_default())
                .map_err(|_| fatal(format!("`headers`: the value of `{name}` is not a valid header value")))?;
            headers.append(header, value);
        }
        let body = match (with.get("json"), with.get("body").and_then(Value::as_str)) {
            (Some(_), Some(_)) => return Err(fatal("give either `json` or `body`, not both")),
            (Some(json), None) => Body::Json(json.clone()),
            (None, Some(raw)) => Body::Raw(raw.to_string()),
            (None, None) => Body::None,
        };
        let timeout = match with.get("timeout").and_then(Value::as_str) {
            Some(t) => syntax::duration::parse(t)
                .ok_or_else(|| fatal(format!("`timeout`: `{t}` is not a duration (e.g. `30s`)")))?,
            None => DEFAULT_TIMEOUT,
        };
        let mode = match with.get("response").and_then(Value::as_str) {
            Some("json") => Mode::Json,
            Some("text") => Mode::Text,
            _ => Mode::Auto,
        };
        let max_bytes = with.get("max_bytes").and_then(Value::as_u64).unwrap_or(DEFAULT_MAX_BYTES);
        let allow_status = with
            .get("allow_status")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_u64).map(|s| s as u16).collect())
            .unwrap_or_default();
        Ok(Self { method, url, headers, body, timeout, mode, max_bytes, allow_status })
    }
}

fn query_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Sends the request and reads the response, stopping when `cancel` fires.
pub async fn fetch(client: &Client, request: &Request, cancel: &CancellationToken) -> Result<Value, NodeError> {
    let target = format!("{} {}", request.method, shown(&request.url));
    tokio::select! {
        biased;
        () = cancel.cancelled() => Err(NodeError::Cancelled),
        done = tokio::time::timeout(request.timeout, exchange(client, request, &target)) => match done {
            Ok(result) => result,
            Err(_) => Err(NodeError::Retryable(format!(
                "`{target}` timed out after {}",
                syntax::duration::format(request.timeout)
            ))),
        },
    }
}

async fn exchange(client: &Client, request: &Request, target: &str) -> Result<Value, NodeError> {
    let mut builder = client.request(request.method.clone(), request.url.clone()).headers(request.headers.clone());
    builder = match &request.body {
        Body::None => builder,
        Body::Json(value) => builder.header(CONTENT_TYPE, "application/json").body(value.to_string()),
        Body::Raw(text) => builder.body(text.clone()),
    };
    let mut response = builder
        .send()
        .await
        .map_err(|e| NodeError::Retryable(format!("`{target}` failed: {}", error_chain(e.without_url()))))?;
    let status = response.status();
    let url = response.url().to_string();
    let mut headers = Map::new();
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(Value::String(joined)) => {
                joined.push_str(", ");
                joined.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_string(), Value::String(value));
            }
        }
    }
    let content_type = headers.get("content-type").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
    let body = read_body(&mut response, request.max_bytes, target).await;
    let ok = status.is_success() || request.allow_status.contains(&status.as_u16());
    if !ok {
        let text = body.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        let message = format!("`{target}` returned {status}: {}", snippet(text.trim(), 200));
        return Err(if status.is_server_error() || status.as_u16() == 429 {
            NodeError::Retryable(message)
        } else {
            NodeError::Fatal(message)
        });
    }
    let body = parse_body(&body?, request.mode, &content_type, target)?;
    Ok(json!({ "status": status.as_u16(), "headers": headers, "body": body, "url": url }))
}

/// Reads the body chunk by chunk, failing as soon as it grows past `max`.
async fn read_body(response: &mut reqwest::Response, max: u64, target: &str) -> Result<Vec<u8>, NodeError> {
    let too_big = || fatal(format!("`{target}`: the response is larger than max_bytes ({max}); raise `max_bytes`"));
    if response.content_length().is_some_and(|n| n > max) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| NodeError::Retryable(format!("`{target}`: reading the response failed: {}", error_chain(e))))?
    {
        if (body.len() + chunk.len()) as u64 > max {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn parse_body(bytes: &[u8], mode: Mode, content_type: &str, target: &str) -> Result<Value, NodeError> {
    let text = || Value::String(String::from_utf8_lossy(bytes).into_owned());
    let wants_json = mode == Mode::Json || (mode == Mode::Auto && content_type.contains("json"));
    if !wants_json {
        return Ok(text());
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    match serde_json::from_slice(bytes) {
        Ok(value) => Ok(value),
        // The server said JSON but sent something else: keep the text rather than fail.
        Err(_) if mode == Mode::Auto => Ok(text()),
        Err(e) => Err(fatal(format!(
            "`{target}`: the response is not valid JSON ({e}); it starts with: {}",
            snippet(&String::from_utf8_lossy(bytes), 200)
        ))),
    }
}

/// A reqwest error with its causes (`error sending request: connection refused`).
fn error_chain(e: reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot server per request: answers with `response` and hands back what it got.
    async fn serve(response: String) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
            String::from_utf8_lossy(&got).into_owned()
        });
        (base, task)
    }

    fn reply(status: &str, content_type: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nx-extra: 1\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        )
    }

    async fn call(response: String, with: Value) -> (Result<Value, NodeError>, String) {
        let (base, server) = serve(response).await;
        let mut with = with;
        let path = with["url"].as_str().unwrap_or("/").to_string();
        with["url"] = json!(format!("{base}{path}"));
        let request = Request::from_with(&with).unwrap();
        let result = fetch(&Http::new().client(), &request, &CancellationToken::new()).await;
        let got = tokio::time::timeout(Duration::from_secs(5), server).await.map(|r| r.unwrap()).unwrap_or_default();
        (result, got)
    }

    #[tokio::test]
    async fn json_response_with_query_and_body() {
        let with = json!({"url": "/items?a=1", "method": "POST", "query": {"q": "a b&c", "n": 2, "t": [true, "x"]},
            "json": {"k": 1}, "headers": {"X-Key": "secret"}});
        let (result, got) = call(reply("200 OK", "application/json", r#"{"ok":true}"#), with).await;
        let value = result.unwrap();
        assert_eq!(value["status"], 200);
        assert_eq!(value["body"], json!({"ok": true}));
        assert_eq!(value["headers"]["x-extra"], "1");
        assert!(value["url"].as_str().unwrap().ends_with("/items?a=1&q=a+b%26c&n=2&t=true&t=x"));
        assert!(got.starts_with("POST /items?a=1&q=a+b%26c&n=2&t=true&t=x HTTP/1.1"), "{got}");
        assert!(got.to_lowercase().contains("content-type: application/json"), "{got}");
        assert!(got.to_lowercase().contains("x-key: secret"), "{got}");
    }

    #[tokio::test]
    async fn response_modes() {
        let (r, _) = call(reply("200 OK", "text/plain", "hi"), json!({"url": "/"})).await;
        assert_eq!(r.unwrap()["body"], "hi");
        let (r, _) = call(reply("200 OK", "text/plain", "[1]"), json!({"url": "/", "response": "json"})).await;
        assert_eq!(r.unwrap()["body"], json!([1]));
        let (r, _) = call(reply("200 OK", "application/json", "nope"), json!({"url": "/"})).await;
        assert_eq!(r.unwrap()["body"], "nope");
        let (r, _) = call(reply("200 OK", "text/plain", "nope"), json!({"url": "/", "response": "json"})).await;
        let Err(NodeError::Fatal(m)) = r else { panic!("{r:?}") };
        assert!(m.contains("not valid JSON") && m.contains("nope"), "{m}");
    }

    #[tokio::test]
    async fn statuses_decide_the_error() {
        let (r, _) = call(reply("503 Service Unavailable", "text/plain", "busy"), json!({"url": "/x?key=k"})).await;
        let Err(NodeError::Retryable(m)) = r else { panic!("{r:?}") };
        assert!(m.contains("503") && m.contains("busy") && !m.contains("key=k"), "{m}");
        let (r, _) = call(reply("429 Too Many Requests", "text/plain", ""), json!({"url": "/"})).await;
        assert!(matches!(r, Err(NodeError::Retryable(_))), "{r:?}");
        let (r, _) = call(reply("404 Not Found", "text/plain", "gone"), json!({"url": "/"})).await;
        assert!(matches!(r, Err(NodeError::Fatal(ref m)) if m.contains("404")), "{r:?}");
        let with = json!({"url": "/", "allow_status": [404]});
        let (r, _) = call(reply("404 Not Found", "text/plain", "gone"), with).await;
        assert_eq!(r.unwrap()["status"], 404);
    }

    #[tokio::test]
    async fn max_bytes_is_enforced() {
        let (r, _) = call(reply("200 OK", "text/plain", "0123456789"), json!({"url": "/", "max_bytes": 5})).await;
        assert!(matches!(r, Err(NodeError::Fatal(ref m)) if m.contains("max_bytes (5)")), "{r:?}");
        // Without a length up front, the stream is cut once past the limit.
        let chunked = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n";
        let (r, _) = call(chunked.to_string(), json!({"url": "/", "max_bytes": 6})).await;
        assert!(matches!(r, Err(NodeError::Fatal(ref m)) if m.contains("max_bytes (6)")), "{r:?}");
    }

    #[tokio::test]
    async fn bad_arguments_are_fatal() {
        for with in [
            json!({"url": "file:///etc/passwd"}),
            json!({"url": "not a url"}),
            json!({"url": "http://x", "json": 1, "body": "b"}),
        ] {
            assert!(matches!(Request::from_with(&with), Err(NodeError::Fatal(_))), "{with}");
        }
    }

    #[tokio::test]
    async fn timeout_and_cancel_stop_a_hanging_request() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let _hold = tokio::spawn(async move {
            let _conn = listener.accept().await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let client = Http::new().client();
        let request = Request::from_with(&json!({"url": url, "timeout": "200ms"})).unwrap();
        let r = fetch(&client, &request, &CancellationToken::new()).await;
        assert!(matches!(r, Err(NodeError::Retryable(ref m)) if m.contains("timed out after 200ms")), "{r:?}");
        let request = Request::from_with(&json!({"url": url})).unwrap();
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            trigger.cancel();
        });
        let started = std::time::Instant::now();
        assert_eq!(fetch(&client, &request, &cancel).await, Err(NodeError::Cancelled));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn unreachable_is_retryable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let request = Request::from_with(&json!({"url": url})).unwrap();
        let r = fetch(&Http::new().client(), &request, &CancellationToken::new()).await;
        assert!(matches!(r, Err(NodeError::Retryable(ref m)) if m.contains("failed")), "{r:?}");
    }
}
