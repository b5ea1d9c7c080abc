//! A local embedding server for the tests, speaking the three wire formats Pyra's embedders
//! use — OpenAI's `/v1/embeddings`, Ollama's `/api/embed`, Gemini's
//! `/v1beta/models/M:batchEmbedContents` — chosen by the request's path. Its vectors are
//! bags of concepts (a word's synonym group, else the word, hashed into the dimensions), so
//! a paraphrase meets the note it paraphrases. The test scripts failures for the first
//! requests (an HTTP status with a body and `Retry-After`), a context limit (an input
//! longer than it is refused as the real servers refuse it), and reads every request back.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// A scripted failure for one request.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: u16,
    pub body: String,
    pub retry_after: Option<String>,
}

impl Failure {
    pub fn status(status: u16, body: &str) -> Failure {
        Failure { status, body: body.into(), retry_after: None }
    }

    pub fn retry_after(mut self, value: &str) -> Failure {
        self.retry_after = Some(value.into());
        self
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every text the request asked to embed.
    pub fn texts(&self) -> Vec<String> {
        if let Some(requests) = self.body["requests"].as_array() {
            return requests
                .iter()
                .filter_map(|r| r["content"]["parts"][0]["text"].as_str().map(str::to_string))
                .collect();
        }
        match &self.body["input"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        }
    }
}

#[derive(Default)]
struct State {
    failures: VecDeque<Failure>,
    seen: Vec<Seen>,
    /// Inputs longer than this many characters are refused.
    context_chars: Option<usize>,
}

pub struct EmbedServer {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    state: Arc<Mutex<State>>,
}

const SYNONYMS: &[&[&str]] = &[&["spare", "extra", "duplicate"], &["key", "keys"], &["put", "placed", "hide", "under"]];
const DIMS: usize = 64;

fn vector(text: &str, dims: usize) -> Vec<f32> {
    let mut v = vec![0f32; dims];
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 2) {
        let w = word.to_lowercase();
        let concept = SYNONYMS.iter().find(|g| g.contains(&w.as_str())).map_or(w.clone(), |g| g[0].to_string());
        let h = concept
            .bytes()
            .fold(1_469_598_103_934_665_603u64, |h, b| (h ^ u64::from(b)).wrapping_mul(1_099_511_628_211));
        v[(h % dims as u64) as usize] += 1.0;
    }
    v
}

impl EmbedServer {
    pub fn start() -> EmbedServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &state);
                });
            }
        });
        EmbedServer { url, state }
    }

    /// The next requests fail like this, in order.
    pub fn fail(&self, failures: Vec<Failure>) {
        self.state.lock().unwrap().failures.extend(failures);
    }

    /// Inputs longer than `chars` characters are refused (a model's context).
    pub fn context(&self, chars: usize) {
        self.state.lock().unwrap().context_chars = Some(chars);
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Every text embedded so far, in every request.
    pub fn texts(&self) -> Vec<String> {
        self.requests().iter().flat_map(Seen::texts).collect()
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let seen = Seen { path: path.clone(), headers, body: body.clone() };
    let (status, extra, reply) = {
        let mut state = state.lock().unwrap();
        state.seen.push(seen.clone());
        let too_long = state.context_chars.is_some_and(|max| seen.texts().iter().any(|t| t.chars().count() > max));
        if let Some(f) = state.failures.pop_front() {
            (f.status, f.retry_after.map(|r| format!("Retry-After: {r}\r\n")).unwrap_or_default(), f.body)
        } else if too_long {
            let message = if path.ends_with("/api/embed") {
                json!({"error": "the input length exceeds the context length"})
            } else {
                json!({"error": {"message": "This model's maximum context length is 512 tokens", "type": "invalid_request_error"}})
            };
            (400, String::new(), message.to_string())
        } else {
            (200, String::new(), answer(&path, &body, &seen.texts()).to_string())
        }
    };
    let mut stream = stream;
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n",
        reply.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(reply.as_bytes())?;
    stream.flush()
}

/// A successful answer in the wire format of `path`.
fn answer(path: &str, body: &Value, texts: &[String]) -> Value {
    let asked = body["dimensions"].as_u64().or_else(|| body["requests"][0]["outputDimensionality"].as_u64());
    let dims = asked.map_or(DIMS, |d| d as usize);
    let vectors: Vec<Vec<f32>> = texts.iter().map(|t| vector(t, dims)).collect();
    if path.contains(":batchEmbedContents") {
        json!({"embeddings": vectors.iter().map(|v| json!({"values": v})).collect::<Vec<_>>()})
    } else if path.ends_with("/api/embed") {
        json!({"model": body["model"], "embeddings": vectors, "prompt_eval_count": texts.len()})
    } else {
        // Out of order on purpose: clients must match by `index`.
        let mut data: Vec<Value> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
            .collect();
        data.reverse();
        json!({"object": "list", "data": data, "model": body["model"]})
    }
}
