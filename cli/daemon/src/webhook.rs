//! The daemon's optional local webhook (off by default): a sender POSTs to `/hooks/NAME`
//! and, once its signature checks out against NAME's secret, the event NAME is emitted with
//! the body as its data.
//!
//! It listens on loopback only ([`check_bind`]): deliveries from outside reach it through a
//! tunnel or a reverse proxy the user runs. A request goes through these checks, cheapest
//! first, and the first that fails answers:
//!
//! | check | refused with |
//! |---|---|
//! | the path is `/hooks/NAME`, NAME matching `^[a-z][a-z0-9_.-]{0,63}$` | 404 |
//! | the method is POST | 405 |
//! | a `Content-Length` of at most [`MAX_BODY`] (before a byte of the body is read) | 413 |
//! | NAME has a secret ([`Hooks::secret`]) | 404 |
//! | NAME's token bucket has a token ([`Config::rate_per_minute`], [`Config::burst`]) | 429 + `Retry-After` |
//! | the body, read whole, stays within [`MAX_BODY`] (a chunked body too) | 413 |
//! | the body arrives within [`Config::read_timeout`] | 408 |
//! | a GitHub (`X-Hub-Signature-256`) or Standard Webhooks (`webhook-signature`) signature | 401 |
//! | the body is UTF-8 | 400 |
//! | the delivery id was not accepted before, here or by the sink | 409 |
//! | the sink takes the event ([`Hooks::deliver`]) | 503 |
//!
//! and a delivery that passes them all gets `202 {"event": NAME, "id": ID}`. A refusal's
//! plain-text reason never shows a secret or an expected signature. Each connection is its
//! own task; a bad request or a broken connection ends only that connection.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body, Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioTimer;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

/// The largest body accepted, in bytes (1 MiB).
pub const MAX_BODY: usize = 1 << 20;

/// How far a Standard Webhooks timestamp may be from now, in seconds (the spec's 5 minutes).
pub const TOLERANCE: u64 = 5 * 60;

/// How many accepted delivery ids are remembered to refuse replays (the sink's store
/// remembers them for longer).
pub const REMEMBERED_IDS: usize = 10_000;

/// The longest delivery id, in bytes: ids are kept in memory and handed to the sink.
const MAX_ID: usize = 256;

/// The most connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 64;

/// The most hook names with a token bucket, so names that come and go cannot grow the map.
const MAX_BUCKETS: usize = 1024;

type HmacSha256 = Hmac<Sha256>;

/// The webhook's knobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Requests a hook name gets per minute once its burst is spent (0 counts as 1).
    pub rate_per_minute: u32,
    /// Requests a hook name may send at once (0 counts as 1).
    pub burst: u32,
    /// The longest a client may take to send a request's headers, and again its body;
    /// a client that trickles bytes (slowloris) is dropped after it.
    pub read_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config { rate_per_minute: 60, burst: 20, read_timeout: Duration::from_secs(10) }
    }
}

/// What the sink made of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Recorded: the event will be emitted.
    New,
    /// Its id was recorded before (the sender retried): nothing new happens.
    Duplicate,
}

/// A sink's answer to a delivery, later.
pub type Delivery = Pin<Box<dyn Future<Output = Result<Accepted, String>> + Send>>;

/// Where the webhook finds each hook's secret and sends the events.
pub trait Hooks: Send + Sync + 'static {
    /// The hook's secret (from the vault), `None` when NAME is not configured.
    fn secret(&self, name: &str) -> Option<Zeroizing<Vec<u8>>>;
    /// Emits event NAME with delivery `id`; `Err(message)` → 503 with the message.
    fn deliver(&self, name: &str, id: &str, data: Value) -> Delivery;
}

/// The wall clock in unix seconds, for [`serve`]'s `now`.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Refuses an address other machines could reach: only loopback (`127.0.0.0/8`, `::1`).
pub fn check_bind(addr: &SocketAddr) -> Result<(), String> {
    if addr.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    Err(format!(
        "the webhook cannot listen on {addr}: it is not a loopback address, so other machines could \
         send it deliveries; listen on 127.0.0.1:{port} or [::1]:{port}, and to receive from \
         outside put a tunnel or a reverse proxy in front of it",
        port = addr.port()
    ))
}

/// Serves webhook deliveries on `listener` until `stop` is cancelled: then it accepts no
/// more connections, lets the requests in flight finish and returns. `now` gives the unix
/// seconds that Standard Webhooks timestamps are checked against ([`unix_now`] outside
/// tests). Check the address with [`check_bind`] before binding.
pub async fn serve(
    listener: TcpListener,
    hooks: Arc<dyn Hooks>,
    config: Config,
    now: Arc<dyn Fn() -> i64 + Send + Sync>,
    stop: CancellationToken,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(config.read_timeout).max_header_size(64 * 1024);
    let shared = Arc::new(Shared {
        hooks,
        config,
        now,
        buckets: Mutex::new(HashMap::new()),
        seen: Mutex::new(Seen::new(REMEMBERED_IDS)),
    });
    let service = move || {
        let shared = shared.clone();
        service_fn(move |req| {
            let shared = shared.clone();
            async move { Ok::<_, Infallible>(handle(&shared, req).await) }
        })
    };
    // A delivery in flight at a stop is still answered (its run is already recorded).
    serve::accept::accept_loop(listener, http, MAX_CONNECTIONS, Duration::from_secs(30), stop, service).await;
}

struct Shared {
    hooks: Arc<dyn Hooks>,
    config: Config,
    now: Arc<dyn Fn() -> i64 + Send + Sync>,
    buckets: Mutex<HashMap<String, Bucket>>,
    seen: Mutex<Seen>,
}

/// A panic elsewhere while holding a lock leaves plain data behind, still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn handle(shared: &Arc<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(name) = req.uri().path().strip_prefix("/hooks/").filter(|name| is_hook_name(name)) else {
        return text(StatusCode::NOT_FOUND, "not found: deliveries go to POST /hooks/NAME");
    };
    let name = name.to_owned();
    if req.method() != Method::POST {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed: use POST");
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    // hyper takes the hint from Content-Length: an oversized body is refused unread.
    if req.body().size_hint().lower() > MAX_BODY as u64 {
        return too_large();
    }
    let Some(secret) = shared.hooks.secret(&name) else {
        return text(StatusCode::NOT_FOUND, format!("no hook named {name}"));
    };
    if secret.is_empty() {
        return text(StatusCode::INTERNAL_SERVER_ERROR, format!("hook {name} has an empty secret: set one"));
    }
    if let Err(wait) = take_token(shared, &name) {
        let mut response = text(StatusCode::TOO_MANY_REQUESTS, format!("too many deliveries to {name}: slow down"));
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return response;
    }
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(shared.config.read_timeout, Limited::new(body, MAX_BODY).collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Ok(Err(_)) => return text(StatusCode::BAD_REQUEST, "the body could not be read"),
        Err(_) => return text(StatusCode::REQUEST_TIMEOUT, "the body took too long to arrive"),
    };
    let id = match verify(&parts.headers, &body, &secret, (shared.now)()) {
        Ok(id) => id,
        Err(Refusal(status, reason)) => return text(status, reason),
    };
    drop(secret);
    let Ok(body) = std::str::from_utf8(&body) else {
        return text(StatusCode::BAD_REQUEST, "the body is not UTF-8");
    };
    let data = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
    let Some(mut reservation) = Reservation::take(shared, &name, &id) else {
        return duplicate();
    };
    match shared.hooks.deliver(&name, &id, data).await {
        Ok(accepted) => {
            reservation.keep();
            if accepted == Accepted::Duplicate {
                return duplicate();
            }
            let json = serde_json::json!({ "event": name, "id": id }).to_string();
            let mut response = Response::new(Full::new(Bytes::from(json)));
            *response.status_mut() = StatusCode::ACCEPTED;
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(message) => text(StatusCode::SERVICE_UNAVAILABLE, message),
    }
}

/// `^[a-z][a-z0-9_.-]{0,63}$`.
fn is_hook_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && name.len() <= 64
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'))
}

fn text(status: StatusCode, reason: impl Into<String>) -> Response<Full<Bytes>> {
    let mut body = reason.into();
    body.push('\n');
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

fn too_large() -> Response<Full<Bytes>> {
    text(StatusCode::PAYLOAD_TOO_LARGE, "the body is over 1 MiB")
}

fn duplicate() -> Response<Full<Bytes>> {
    text(StatusCode::CONFLICT, "this delivery id was already accepted")
}

/// A refused signature: the status and a reason safe to show the sender.
#[derive(Debug, PartialEq, Eq)]
struct Refusal(StatusCode, &'static str);

fn unauthorized(reason: &'static str) -> Refusal {
    Refusal(StatusCode::UNAUTHORIZED, reason)
}

/// Checks the request's signature, Standard Webhooks first when it has one, and returns
/// the delivery id.
fn verify(headers: &HeaderMap, body: &[u8], secret: &[u8], now: i64) -> Result<String, Refusal> {
    if headers.contains_key("webhook-signature") {
        verify_standard(headers, body, secret, now)
    } else if headers.contains_key("x-hub-signature-256") {
        verify_github(headers, body, secret)
    } else {
        Err(unauthorized(
            "missing signature: send X-Hub-Signature-256, or webhook-id, webhook-timestamp and webhook-signature",
        ))
    }
}

/// [`verify`] over raw header pairs, as the fuzz target `webhook` feeds them: a pair
/// hyper would refuse (a bad name or value) is left out, as such a request never gets
/// here. `Err` is the refusal's status code and reason.
#[doc(hidden)]
pub fn verify_raw(
    headers: &[(&[u8], &[u8])],
    body: &[u8],
    secret: &[u8],
    now: i64,
) -> Result<String, (u16, &'static str)> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (header::HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            map.append(name, value);
        }
    }
    verify(&map, body, secret, now).map_err(|Refusal(status, reason)| (status.as_u16(), reason))
}

/// A header as text; `Err` when it is present but not visible ASCII.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ()> {
    headers.get(name).map(|value| value.to_str().map_err(drop)).transpose()
}

/// A delivery id fit to keep and pass on.
fn delivery_id(id: &str) -> Option<String> {
    (!id.is_empty() && id.len() <= MAX_ID).then(|| id.to_owned())
}

/// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`, the id from
/// `X-GitHub-Delivery` (or the body's SHA-256 when absent).
fn verify_github(headers: &HeaderMap, body: &[u8], secret: &[u8]) -> Result<String, Refusal> {
    const MALFORMED: &str = "malformed X-Hub-Signature-256: expected sha256=<hex>";
    let signature = header(headers, "x-hub-signature-256").ok().flatten().ok_or(unauthorized(MALFORMED))?;
    let signature = signature.strip_prefix("sha256=").and_then(hex_decode).ok_or(unauthorized(MALFORMED))?;
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| unauthorized("signature does not match"))?;
    mac.update(body);
    mac.verify_slice(&signature).map_err(|_| unauthorized("signature does not match"))?;
    match header(headers, "x-github-delivery") {
        Ok(Some(id)) => delivery_id(id).ok_or(unauthorized("malformed X-GitHub-Delivery")),
        Ok(None) => Ok(hex_encode(&Sha256::digest(body))),
        Err(()) => Err(unauthorized("malformed X-GitHub-Delivery")),
    }
}

/// Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`
/// (a space-separated list, any one may match), the key being the secret after `whsec_`
/// base64-decoded, or else the secret's bytes.
fn verify_standard(headers: &HeaderMap, body: &[u8], secret: &[u8], now: i64) -> Result<String, Refusal> {
    let text = |name, malformed| header(headers, name).ok().flatten().ok_or(unauthorized(malformed));
    let id = text("webhook-id", "missing or malformed webhook-id")?;
    let id = delivery_id(id).ok_or(unauthorized("missing or malformed webhook-id"))?;
    let timestamp = text("webhook-timestamp", "missing or malformed webhook-timestamp")?;
    let seconds: i64 =
        timestamp.parse().map_err(|_| unauthorized("malformed webhook-timestamp: expected unix seconds"))?;
    if seconds.abs_diff(now) > TOLERANCE {
        return Err(unauthorized("stale webhook-timestamp: more than 5 minutes from now"));
    }
    let signatures = text("webhook-signature", "malformed webhook-signature")?;
    let key = match secret.strip_prefix(b"whsec_") {
        Some(encoded) => Zeroizing::new(base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| {
            Refusal(StatusCode::INTERNAL_SERVER_ERROR, "the hook's secret is not valid base64 after whsec_")
        })?),
        None => Zeroizing::new(secret.to_vec()),
    };
    let mut mac = HmacSha256::new_from_slice(&key).map_err(|_| unauthorized("signature does not match"))?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let mut any = false;
    for candidate in signatures.split_ascii_whitespace().filter_map(|s| s.strip_prefix("v1,")) {
        any = true;
        let Ok(candidate) = base64::engine::general_purpose::STANDARD.decode(candidate) else { continue };
        if mac.clone().verify_slice(&candidate).is_ok() {
            return Ok(id);
        }
    }
    Err(unauthorized(if any { "signature does not match" } else { "no v1 signature in webhook-signature" }))
}

fn hex_decode(hex: &str) -> Option<Vec<u8>> {
    fn nibble(b: u8) -> Option<u8> {
        (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.as_bytes().chunks_exact(2).map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect()
}

fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        hex.push(char::from(DIGITS[usize::from(b >> 4)]));
        hex.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    hex
}

/// A token bucket: `burst` tokens at most, refilled at the configured rate.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Takes a token, or says in how many whole seconds one will be there.
    fn take(&mut self, now: Instant, per_second: f64, burst: f64) -> Result<(), u64> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - self.tokens) / per_second).ceil() as u64).max(1))
        }
    }
}

fn take_token(shared: &Shared, name: &str) -> Result<(), u64> {
    let per_second = f64::from(shared.config.rate_per_minute.max(1)) / 60.0;
    let burst = f64::from(shared.config.burst.max(1));
    let now = Instant::now();
    let mut buckets = lock(&shared.buckets);
    if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(name) {
        // A full bucket holds no memory of anything: dropping it changes nothing.
        buckets.retain(|_, bucket| {
            bucket.tokens + now.saturating_duration_since(bucket.at).as_secs_f64() * per_second < burst
        });
        if buckets.len() >= MAX_BUCKETS {
            return Err(1);
        }
    }
    buckets.entry(name.to_owned()).or_insert(Bucket { tokens: burst, at: now }).take(now, per_second, burst)
}

/// The delivery ids accepted lately (and those being delivered), oldest forgotten first.
struct Seen {
    /// Key → the sequence number of its entry in `order`.
    live: HashMap<String, u64>,
    /// Oldest first; an entry whose key was released (or taken again later) is stale.
    order: VecDeque<(String, u64)>,
    next: u64,
    capacity: usize,
}

impl Seen {
    fn new(capacity: usize) -> Self {
        Seen { live: HashMap::new(), order: VecDeque::new(), next: 0, capacity }
    }

    /// Records `key`, or `None` when it is already there.
    fn insert(&mut self, key: &str) -> Option<u64> {
        if self.live.contains_key(key) {
            return None;
        }
        let seq = self.next;
        self.next += 1;
        self.live.insert(key.to_owned(), seq);
        self.order.push_back((key.to_owned(), seq));
        while self.order.len() > self.capacity {
            if let Some((old, old_seq)) = self.order.pop_front() {
                self.remove(&old, old_seq);
            }
        }
        Some(seq)
    }

    fn remove(&mut self, key: &str, seq: u64) {
        if self.live.get(key) == Some(&seq) {
            self.live.remove(key);
        }
    }
}

/// A delivery id held while the sink takes it, so a concurrent replay is refused; released
/// when the delivery fails or is abandoned (the client left), so the sender may retry.
struct Reservation<'a> {
    seen: &'a Mutex<Seen>,
    key: String,
    seq: u64,
    kept: bool,
}

impl<'a> Reservation<'a> {
    fn take(shared: &'a Shared, name: &str, id: &str) -> Option<Self> {
        // Neither a name nor a header value holds a newline, so the key is unambiguous.
        let key = format!("{name}\n{id}");
        let seq = lock(&shared.seen).insert(&key)?;
        Some(Reservation { seen: &shared.seen, key, seq, kept: false })
    }

    fn keep(&mut self) {
        self.kept = true;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.kept {
            lock(self.seen).remove(&self.key, self.seq);
        }
    }
}

#[cfg(test)]
mod tests;
