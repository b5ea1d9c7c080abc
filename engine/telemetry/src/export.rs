//! The exporter: a bounded queue the layer pushes finished spans onto without ever
//! waiting for the exporter (full: the span is dropped and counted), and one background
//! thread — started with the layer (not in a run), with its own current-thread tokio
//! runtime (made at the first request, with the HTTP client), so it works the same under
//! the CLI and inside the daemon — that sends what has gathered [`INTERVAL`] after the
//! first span (sooner when the queue is half full, or for a flush), in requests of up to
//! [`BATCH`] spans. A short run is thus exported after it ends, not while it runs. A
//! request the collector does not take (down, a non-2xx answer, [`TIMEOUT`]) is dropped
//! and counted; nothing is retried, so a collector that is down costs a run nothing but
//! the count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use runtime::secrets::SecretSource;
use secrecy::ExposeSecret;

use crate::encode::{self, Resource};
use crate::span::{Batch, SpanData, Stored};

/// Spans the queue holds before new ones are dropped.
pub const CAPACITY: usize = 2048;
/// The most spans in one request.
pub const BATCH: usize = 512;
/// How long a span waits for others before its batch is sent.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// The longest one request may take (connecting included).
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A request header's value: written in config.yaml, or read from the vault when the
/// first batch is sent (config.yaml never holds a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    Plain(String),
    /// A vault key name (`vault:NAME` in config.yaml).
    Vault(String),
}

/// Where and how spans are sent.
pub struct Target {
    /// The full URL (`…/v1/traces`).
    pub url: String,
    pub headers: Vec<(String, Header)>,
    /// Reads [`Header::Vault`] values; without it such a header cannot be sent.
    pub secrets: Option<Arc<dyn SecretSource>>,
    pub resource: Resource,
}

/// What happened to the spans so far.
#[derive(Debug, Default)]
pub struct Counters {
    /// Spans the collector accepted.
    pub exported: AtomicU64,
    /// Spans dropped: the queue was full, or their batch could not be sent.
    pub dropped: AtomicU64,
    /// Why the last batch could not be sent.
    pub last_error: Mutex<Option<String>>,
}

impl Counters {
    fn failed(&self, spans: u64, why: String) {
        self.dropped.fetch_add(spans, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
    }
}

/// The most text (string attribute values, error messages) the queue holds; past it new
/// spans are dropped like past [`CAPACITY`].
pub const MAX_TEXT: usize = 8 << 20;

/// What the layer hands the thread: spans, and flush requests to answer.
#[derive(Default)]
struct Pending {
    batch: Batch,
    flushes: Vec<mpsc::Sender<()>>,
}

/// The queue: a bounded list behind a mutex held only to push or to take everything.
/// The thread is woken when a batch begins (its interval starts), when it is full, and
/// for a flush — not for every span, which would cost a run a wake-up each.
struct Queue {
    pending: Mutex<Pending>,
    wake: Condvar,
    capacity: usize,
}

impl Queue {
    /// How many spans wake the thread before its interval is over: half the queue, so a
    /// short run is exported after it, not while it runs, and a long one never fills it.
    fn early(&self) -> usize {
        (self.capacity / 2).max(1)
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The queue and, once a span arrives, the thread that empties it.
pub struct Exporter {
    queue: Arc<Queue>,
    /// Taken by the thread when it starts.
    target: Mutex<Option<Target>>,
    started: OnceLock<bool>,
    pub counters: Arc<Counters>,
    /// The collector's URL, for status.
    pub url: String,
}

impl Exporter {
    /// An exporter to `target`, holding at most `capacity` spans.
    pub fn new(target: Target, capacity: usize) -> Exporter {
        let queue = Arc::new(Queue { pending: Mutex::default(), wake: Condvar::new(), capacity });
        let url = target.url.clone();
        Exporter { queue, target: Mutex::new(Some(target)), started: OnceLock::new(), counters: Arc::default(), url }
    }

    /// Queues a finished span (its strings are ranges of `text`); never waits for the
    /// exporter. A full queue drops it (counted).
    pub fn push(&self, span: &SpanData, text: &str) {
        self.start();
        let mut pending = self.queue.lock();
        let batch = &mut pending.batch;
        if batch.spans.len() >= self.queue.capacity || batch.text.len() + text.len() > MAX_TEXT {
            drop(pending);
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        batch.push(span, text);
        let len = batch.spans.len();
        drop(pending);
        if len == 1 || len == self.queue.early() {
            self.queue.wake.notify_one();
        }
    }

    /// Starts the thread (once): [`crate::layer`] does, so that no run pays for it; a
    /// span pushed before starts it too.
    pub fn start(&self) -> bool {
        *self.started.get_or_init(|| {
            let Some(target) = self.target.lock().unwrap_or_else(|p| p.into_inner()).take() else {
                return false;
            };
            let (queue, counters) = (self.queue.clone(), self.counters.clone());
            std::thread::Builder::new().name("pyra-otlp".into()).spawn(move || run(&queue, target, counters)).is_ok()
        })
    }

    /// Sends what is queued and waits for it, at most `within`. Returns whether the
    /// exporter finished in time (nothing was ever queued counts as finished).
    pub fn flush(&self, within: Duration) -> bool {
        if !matches!(self.started.get(), Some(true)) {
            return true;
        }
        let (ack, done) = mpsc::channel();
        self.queue.lock().flushes.push(ack);
        self.queue.wake.notify_one();
        done.recv_timeout(within).is_ok()
    }

    /// The spans queued and not taken yet (tests drain an exporter that never starts).
    #[cfg(test)]
    pub(crate) fn take_queued(&self) -> Batch {
        std::mem::take(&mut self.queue.lock().batch)
    }

    /// An exporter whose thread never starts (its queue only fills), for tests.
    #[cfg(test)]
    pub(crate) fn detached(capacity: usize) -> Exporter {
        let exporter = Exporter::new(
            Target {
                url: "http://127.0.0.1:9/v1/traces".into(),
                headers: Vec::new(),
                secrets: None,
                resource: Resource { service_name: "pyra".into(), service_version: "test".into() },
            },
            capacity,
        );
        let _ = exporter.started.set(false);
        exporter
    }
}

/// The thread: waits for a first span, gathers for [`INTERVAL`] (or until [`BATCH`]
/// spans, or a flush), takes everything — leaving the previous batch's buffers, emptied,
/// in its place, so neither thread frees what the other allocated — and sends it.
fn run(queue: &Queue, target: Target, counters: Arc<Counters>) {
    let mut sender = Sender::new(target, counters);
    let mut spare = Batch::default();
    loop {
        let mut pending = queue.lock();
        while pending.batch.is_empty() && pending.flushes.is_empty() {
            pending = queue.wake.wait(pending).unwrap_or_else(|p| p.into_inner());
        }
        let due = Instant::now() + INTERVAL;
        while pending.batch.spans.len() < queue.early() && pending.flushes.is_empty() {
            let left = due.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            pending = queue.wake.wait_timeout(pending, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        let mut batch = std::mem::replace(&mut pending.batch, spare);
        let flushes = std::mem::take(&mut pending.flushes);
        drop(pending);
        for spans in batch.spans.chunks(BATCH) {
            sender.send(&batch, spans);
        }
        for ack in flushes {
            let _ = ack.send(());
        }
        batch.clear();
        spare = batch;
    }
}

/// Sends batches: the HTTP client and the header values, made on first use.
struct Sender {
    target: Target,
    counters: Arc<Counters>,
    rt: Option<tokio::runtime::Runtime>,
    client: Option<reqwest::Client>,
    /// The headers with vault values read, once every one could be.
    headers: Option<Vec<(String, String)>>,
}

impl Sender {
    fn new(target: Target, counters: Arc<Counters>) -> Sender {
        Sender { target, counters, rt: None, client: None, headers: None }
    }

    fn send(&mut self, batch: &Batch, spans: &[Stored]) {
        if spans.is_empty() {
            return;
        }
        let count = spans.len() as u64;
        match self.post(batch, spans) {
            Ok(()) => {
                self.counters.exported.fetch_add(count, Ordering::Relaxed);
            }
            Err(why) => self.counters.failed(count, why),
        }
    }

    fn headers(&mut self) -> Result<Vec<(String, String)>, String> {
        if let Some(headers) = &self.headers {
            return Ok(headers.clone());
        }
        let mut out = Vec::with_capacity(self.target.headers.len());
        for (name, value) in &self.target.headers {
            let value = match value {
                Header::Plain(v) => v.clone(),
                Header::Vault(key) => {
                    let source = self
                        .target
                        .secrets
                        .as_ref()
                        .ok_or_else(|| format!("header `{name}`: no vault to read `{key}` from"))?;
                    let secret = source.get(key).map_err(|why| format!("header `{name}`: `{key}`: {why}"))?;
                    let value = secret.expose_secret().to_string();
                    // Never shown anywhere; masked should it ever be.
                    runtime::secrets::process_masker().add(key, &value);
                    value
                }
            };
            out.push((name.clone(), value));
        }
        self.headers = Some(out.clone());
        Ok(out)
    }

    fn post(&mut self, batch: &Batch, spans: &[Stored]) -> Result<(), String> {
        let headers = self.headers()?;
        if self.rt.is_none() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the exporter's runtime: {e}"))?;
            self.rt = Some(rt);
        }
        if self.client.is_none() {
            let client = reqwest::Client::builder()
                .timeout(TIMEOUT)
                .connect_timeout(CONNECT_TIMEOUT)
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {}", chain(&e)))?;
            self.client = Some(client);
        }
        let (Some(rt), Some(client)) = (&self.rt, &self.client) else { return Err("no client".into()) };
        let body = encode::body(&self.target.resource, batch, spans);
        let mut request =
            client.post(&self.target.url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        rt.block_on(async {
            let response = request.send().await.map_err(|e| chain(&e))?;
            let status = response.status();
            // Read to the end so the connection can be used again.
            let _ = response.bytes().await;
            if status.is_success() { Ok(()) } else { Err(format!("the collector answered {status}")) }
        })
    }
}

/// An error with its causes (`error sending request: connection refused`).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    use super::*;
    use crate::span::Kind;

    fn span(n: u8) -> SpanData {
        SpanData {
            trace_id: [n; 16],
            span_id: [n; 8],
            parent_id: None,
            name: "node",
            kind: Kind::Internal,
            start: 1,
            end: 2,
            attributes: Default::default(),
            error: None,
        }
    }

    fn target(url: String, headers: Vec<(String, Header)>) -> Target {
        Target {
            url,
            headers,
            secrets: None,
            resource: Resource { service_name: "pyra".into(), service_version: "test".into() },
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_never_waits() {
        let exporter = Exporter::detached(8);
        let started = Instant::now();
        for n in 0..100 {
            exporter.push(&span(n), "");
        }
        assert!(started.elapsed() < Duration::from_secs(1), "pushing never waits");
        assert_eq!(exporter.counters.dropped.load(Ordering::Relaxed), 92);
        let kept = exporter.take_queued();
        assert_eq!(kept.spans.iter().map(|s| s.span_id[0]).collect::<Vec<_>>(), (0..8).collect::<Vec<_>>());
        // Room again: the next is queued.
        exporter.push(&span(1), "");
        assert_eq!(exporter.counters.dropped.load(Ordering::Relaxed), 92);
        assert!(exporter.flush(Duration::from_millis(10)), "a thread that never started has nothing to send");

        // Text counts too.
        let exporter = Exporter::detached(8);
        exporter.push(&span(1), &"x".repeat(MAX_TEXT));
        exporter.push(&span(2), "y");
        assert_eq!(exporter.counters.dropped.load(Ordering::Relaxed), 1);
    }

    /// A collector answering `status` to every request; returns its URL and the bodies
    /// and headers it received.
    #[allow(clippy::type_complexity)]
    fn collector(status: u16) -> (String, Arc<Mutex<Vec<(String, serde_json::Value)>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let got = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                'requests: loop {
                    let mut head = String::new();
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            break 'requests;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        head.push_str(&line);
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    got.lock().unwrap().push((head, serde_json::from_slice(&body).unwrap()));
                    let _ = write!(writer, "HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                }
            }
        });
        (url, seen)
    }

    #[test]
    fn batches_reach_the_collector_with_their_headers() {
        let (url, seen) = collector(200);
        let headers = vec![("x-team".to_string(), Header::Plain("home".into()))];
        let exporter = Exporter::new(target(url, headers), CAPACITY);
        for n in 1..=3 {
            exporter.push(&span(n), "");
        }
        assert!(exporter.flush(Duration::from_secs(5)));
        assert_eq!(exporter.counters.exported.load(Ordering::Relaxed), 3);
        assert_eq!(exporter.counters.dropped.load(Ordering::Relaxed), 0);
        let seen = seen.lock().unwrap();
        let (head, body) = &seen[0];
        assert!(head.starts_with("POST /v1/traces HTTP/1.1"), "{head}");
        let head = head.to_ascii_lowercase();
        assert!(head.contains("content-type: application/json") && head.contains("x-team: home"), "{head}");
        let spans: usize = seen
            .iter()
            .map(|(_, b)| b["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(spans, 3);
        assert_eq!(body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"], "0101010101010101");
    }

    #[test]
    fn a_batch_the_collector_refuses_or_cannot_take_is_dropped_and_counted() {
        let (url, _) = collector(503);
        let exporter = Exporter::new(target(url, Vec::new()), CAPACITY);
        exporter.push(&span(1), "");
        exporter.push(&span(2), "");
        assert!(exporter.flush(Duration::from_secs(5)));
        assert_eq!(exporter.counters.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(exporter.counters.exported.load(Ordering::Relaxed), 0);
        let why = exporter.counters.last_error.lock().unwrap().clone().unwrap();
        assert!(why.contains("503"), "{why}");

        // Nobody listening.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let exporter = Exporter::new(target(format!("http://127.0.0.1:{port}/v1/traces"), Vec::new()), CAPACITY);
        exporter.push(&span(1), "");
        assert!(exporter.flush(Duration::from_secs(5)));
        assert_eq!(exporter.counters.dropped.load(Ordering::Relaxed), 1);
        assert!(exporter.counters.last_error.lock().unwrap().is_some());
    }

    #[test]
    fn a_vault_header_without_a_vault_drops_the_batch_saying_why() {
        let (url, seen) = collector(200);
        let headers = vec![("authorization".to_string(), Header::Vault("OTEL_KEY".into()))];
        let exporter = Exporter::new(target(url, headers), CAPACITY);
        exporter.push(&span(1), "");
        assert!(exporter.flush(Duration::from_secs(5)));
        assert_eq!(exporter.counters.dropped.load(Ordering::Relaxed), 1);
        let why = exporter.counters.last_error.lock().unwrap().clone().unwrap();
        assert!(why.contains("authorization") && why.contains("OTEL_KEY"), "{why}");
        assert!(seen.lock().unwrap().is_empty(), "nothing is sent without its header");
    }
}
