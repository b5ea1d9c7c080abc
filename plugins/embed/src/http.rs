//! The HTTP embedder: batches, retries and timeouts for the three wire formats, on a worker
//! thread of its own that owns a current-thread tokio runtime and the reqwest client. Memory
//! calls [`Embedder::embed`] from a blocking thread (or a plain CLI thread) and waits on a
//! channel, so no caller needs a runtime, and none can be blocked inside one.

use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use memory::{EmbedError, Embedder, Identity, Purpose};
use secrecy::{ExposeSecret, SecretString};

use crate::wire::Wire;

/// Attempts per request (the first and three retries).
const ATTEMPTS: u32 = 4;
/// The longest wait between attempts, a server's `Retry-After` included.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// An embedder behind an HTTP API.
pub struct HttpEmbedder {
    identity: Identity,
    wire: Wire,
    url: String,
    model: String,
    dims: Option<usize>,
    key: Option<SecretString>,
    batch: usize,
    timeout: Duration,
    worker: OnceLock<Mutex<mpsc::Sender<Job>>>,
}

/// One request for the worker.
struct Job {
    body: serde_json::Value,
    texts: usize,
    reply: mpsc::Sender<Result<Vec<Vec<f32>>, EmbedError>>,
}

/// What the worker needs of the embedder (copied: the worker outlives no embedder).
#[derive(Clone)]
struct Target {
    wire: Wire,
    url: String,
    auth: Option<(&'static str, SecretString)>,
    timeout: Duration,
}

impl HttpEmbedder {
    /// `dims` asks the server for that many dimensions (`dimensions`, `outputDimensionality`);
    /// `None` takes the model's own size.
    pub fn new(
        wire: Wire,
        base: &str,
        model: &str,
        dims: Option<usize>,
        key: Option<SecretString>,
        batch: usize,
        timeout: Duration,
    ) -> HttpEmbedder {
        HttpEmbedder {
            identity: Identity { provider: wire.name().into(), model: model.into(), dims: dims.unwrap_or(0) },
            wire,
            url: wire.url(base, model),
            model: model.into(),
            dims,
            key,
            batch: batch.max(1),
            timeout,
            worker: OnceLock::new(),
        }
    }

    fn target(&self) -> Target {
        let auth = self.key.as_ref().map(|k| {
            let (name, value) = self.wire.auth(k.expose_secret());
            (name, SecretString::from(value))
        });
        Target { wire: self.wire, url: self.url.clone(), auth, timeout: self.timeout }
    }

    fn send(&self, job: Job) -> Result<(), EmbedError> {
        let worker = self.worker.get_or_init(|| Mutex::new(spawn_worker(self.target())));
        let sender = worker.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        sender.send(job).map_err(|_| EmbedError("the embedding worker stopped".into()))
    }
}

impl Embedder for HttpEmbedder {
    fn identity(&self) -> &Identity {
        &self.identity
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn embed(&self, texts: &[&str], purpose: Purpose) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.batch) {
            let (reply, answer) = mpsc::channel();
            let body = self.wire.body(&self.model, batch, purpose, self.dims);
            self.send(Job { body, texts: batch.len(), reply })?;
            let vectors = answer.recv().map_err(|_| EmbedError("the embedding worker stopped".into()))??;
            out.extend(vectors);
        }
        Ok(out)
    }
}

fn spawn_worker(target: Target) -> mpsc::Sender<Job> {
    let (jobs, queue) = mpsc::channel::<Job>();
    let spawned = std::thread::Builder::new().name("pyra-embed".into()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                for job in queue {
                    let _ = job.reply.send(Err(EmbedError(format!("cannot start the embedding client: {e}"))));
                }
                return;
            }
        };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("pyra/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        for job in queue {
            let result = runtime.block_on(request(&client, &target, &job.body, job.texts));
            let _ = job.reply.send(result);
        }
    });
    if spawned.is_err() {
        // The jobs' replies are dropped with the channel: each caller hears "worker stopped".
        return mpsc::channel().0;
    }
    jobs
}

/// What one attempt came to.
enum Attempt {
    Done(Vec<Vec<f32>>),
    Retry(String, Option<Duration>),
    Failed(String),
}

async fn request(
    client: &reqwest::Client,
    target: &Target,
    body: &serde_json::Value,
    texts: usize,
) -> Result<Vec<Vec<f32>>, EmbedError> {
    let provider = target.wire.name();
    let fail = |why: String| EmbedError(format!("{provider} embeddings at {}: {why}", target.url));
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        match once(client, target, body, texts).await {
            Attempt::Done(v) => return Ok(v),
            Attempt::Failed(why) => return Err(fail(why)),
            Attempt::Retry(why, asked) => {
                if attempt == ATTEMPTS {
                    last = why;
                    break;
                }
                let backoff = Duration::from_millis(500 << (attempt - 1));
                let wait = asked.unwrap_or(backoff);
                if wait > MAX_WAIT {
                    return Err(fail(format!(
                        "{why}; the server asks to retry in {}s, longer than Pyra waits",
                        wait.as_secs()
                    )));
                }
                tokio::time::sleep(wait).await;
                last = why;
            }
        }
    }
    Err(fail(format!("{last} (gave up after {ATTEMPTS} attempts)")))
}

async fn once(client: &reqwest::Client, target: &Target, body: &serde_json::Value, texts: usize) -> Attempt {
    let mut request = client
        .post(&target.url)
        .timeout(target.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(body).unwrap_or_default());
    if let Some((name, value)) = &target.auth {
        request = request.header(*name, value.expose_secret());
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return Attempt::Retry(format!("no answer within {}s", target.timeout.as_secs_f64()), None);
        }
        Err(e) => {
            return Attempt::Retry(
                format!(
                    "cannot connect ({})",
                    std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string)
                ),
                None,
            );
        }
    };
    let status = response.status();
    let asked = retry_after(response.headers());
    let text = match response.bytes().await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => return Attempt::Retry(format!("the answer was cut ({e})"), None),
    };
    if !status.is_success() {
        let why = format!("HTTP {}: {}", status.as_u16(), Wire::error_message(&text));
        return match status.as_u16() {
            429 | 408 | 500..=599 => Attempt::Retry(why, asked),
            401 | 403 => Attempt::Failed(format!(
                "{why}\n  help: check the API key in the vault (`pyra vault set NAME`, the name `memory.embeddings.key` gives)"
            )),
            400 | 413 if looks_too_long(&text) => Attempt::Failed(format!(
                "{why}\n  help: a chunk is longer than the model's context; Pyra cuts notes into chunks of at most {} characters, so the model's context is very small: choose another model",
                memory::CHUNK_CHARS
            )),
            _ => Attempt::Failed(why),
        };
    }
    let json: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return Attempt::Failed(format!("the answer is not JSON ({e})")),
    };
    match target.wire.parse(&json, texts) {
        Ok(v) => Attempt::Done(v),
        Err(e) => Attempt::Failed(e),
    }
}

/// Whether an error body says the input was too long for the model.
fn looks_too_long(body: &str) -> bool {
    let lower = body.to_ascii_lowercase();
    ["context length", "too long", "maximum context", "exceeds", "too many tokens"].iter().any(|w| lower.contains(w))
}

/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let left = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(left.to_std().unwrap_or(Duration::ZERO))
}
