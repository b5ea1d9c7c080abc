//! A local model server for the tests: it replays recorded streamed replies (the files
//! under `tests/fixtures/llm/`) byte for byte, in chunks cut where a test says, with
//! delays (before the reply begins, or between chunks), error statuses with
//! `Retry-After`, a connection cut mid-stream or one held open after the reply; and it
//! records every request (method, path, headers, JSON body) for the test to check.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::repo_root;

/// One scripted reply.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Where to cut the body into separately written chunks (byte offsets).
    pub cuts: Vec<usize>,
    /// A pause before each chunk after the first.
    pub delay: Duration,
    /// A pause before anything is sent (the status line included).
    pub head_delay: Duration,
    /// Close the connection after this many body bytes, mid-chunk, without ending the stream.
    pub cut_at: Option<usize>,
    /// After the body, keep the connection open without ending the chunked stream (as
    /// some proxies do after `[DONE]`), until the client hangs up or 30 s pass.
    pub hold_open: bool,
}

impl Reply {
    /// A recorded reply: `tests/fixtures/llm/<path>`, streamed with a content type by extension.
    pub fn fixture(path: &str) -> Reply {
        let body = std::fs::read(repo_root().join("tests/fixtures/llm").join(path))
            .unwrap_or_else(|e| panic!("fixture {path}: {e}"));
        let kind = if path.ends_with(".ndjson") { "application/x-ndjson" } else { "text/event-stream" };
        // Awkward places by default: every 7 bytes, so lines, JSON and UTF-8 split.
        let cuts = (1..body.len() / 7).map(|i| i * 7).collect();
        Reply {
            status: 200,
            headers: vec![("content-type".into(), kind.into())],
            body,
            cuts,
            delay: Duration::ZERO,
            head_delay: Duration::ZERO,
            cut_at: None,
            hold_open: false,
        }
    }

    /// A JSON reply (model lists, error bodies).
    pub fn json(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
            cuts: Vec::new(),
            delay: Duration::ZERO,
            head_delay: Duration::ZERO,
            cut_at: None,
            hold_open: false,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    pub fn cut_at(mut self, at: usize) -> Reply {
        self.cut_at = Some(at);
        self
    }

    pub fn head_delay(mut self, delay: Duration) -> Reply {
        self.head_delay = delay;
        self
    }

    pub fn hold_open(mut self) -> Reply {
        self.hold_open = true;
        self
    }

    /// Sends the body in these pieces (byte offsets) instead of every 7 bytes.
    pub fn cuts(mut self, cuts: &[usize]) -> Reply {
        self.cuts = cuts.to_vec();
        self
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The path with its query.
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

pub struct LlmServer {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
}

impl LlmServer {
    /// Serves `replies` in order, one per request; a request beyond them gets a 500.
    pub fn start(replies: Vec<Reply>) -> LlmServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(replies)));
        let (s, q) = (seen.clone(), script.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (s, q) = (s.clone(), q.clone());
                std::thread::spawn(move || serve(stream, &s, &q));
            }
        });
        LlmServer { url, seen, script }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Replies not served yet.
    pub fn left(&self) -> usize {
        self.script.lock().unwrap().len()
    }
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<Seen>>, script: &Mutex<VecDeque<Reply>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let length: usize =
            headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        seen.lock().unwrap().push(Seen { method, path, headers, body });
        let reply =
            script.lock().unwrap().pop_front().unwrap_or_else(|| Reply::json(500, r#"{"error":"no more replies"}"#));
        if !respond(&mut writer, &reply) {
            return;
        }
    }
}

/// Writes `reply` with chunked transfer encoding; false when the connection is closed.
fn respond(w: &mut TcpStream, reply: &Reply) -> bool {
    let reason = match reply.status {
        200 => "OK",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    std::thread::sleep(reply.head_delay);
    let mut head = format!("HTTP/1.1 {} {reason}\r\ntransfer-encoding: chunked\r\n", reply.status);
    for (n, v) in &reply.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    if w.write_all(head.as_bytes()).is_err() {
        return false;
    }
    let mut bounds: Vec<usize> = reply.cuts.iter().copied().filter(|&c| c > 0 && c < reply.body.len()).collect();
    bounds.push(reply.body.len());
    let mut start = 0;
    for (i, end) in bounds.into_iter().enumerate() {
        if i > 0 && !reply.delay.is_zero() {
            std::thread::sleep(reply.delay);
        }
        let mut piece = &reply.body[start..end];
        if let Some(cut) = reply.cut_at.filter(|&c| c < end) {
            // Announce the whole chunk, send part of it, and hang up.
            let _ = w.write_all(format!("{:x}\r\n", piece.len()).as_bytes());
            piece = &piece[..cut.saturating_sub(start).min(piece.len())];
            let _ = w.write_all(piece);
            let _ = w.flush();
            let _ = w.shutdown(std::net::Shutdown::Both);
            return false;
        }
        if !piece.is_empty() {
            let chunk = [format!("{:x}\r\n", piece.len()).as_bytes(), piece, b"\r\n"].concat();
            if w.write_all(&chunk).is_err() || w.flush().is_err() {
                return false;
            }
        }
        start = end;
    }
    if reply.hold_open {
        let _ = w.set_read_timeout(Some(Duration::from_secs(30)));
        let _ = w.read(&mut [0u8; 1]);
        return false;
    }
    w.write_all(b"0\r\n\r\n").is_ok() && w.flush().is_ok()
}
