//! The streaming benchmark (issue 6): the time from a token arriving on the socket to it
//! being written out. A local server streams an OpenAI-style reply, one SSE event per
//! token, 2 ms apart, noting when it wrote each; an `llm` node runs in a real runtime (the
//! durable SQLite store, config.yaml pointing at the server), and an observer writes each
//! streamed piece to /dev/null and notes when the write returned. Server and client share
//! one process, so the two clocks are one.
//!
//! Run: `cargo bench -p cli --bench llm` (add `-- --quick` for one run).

#![allow(clippy::print_stdout)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use runtime::{Event, Observer, RunStatus, Runtime, SkillText, SqliteStore};

const TOKENS: usize = 200;

/// When each token was written by the server, and when the observer wrote it out.
#[derive(Default)]
struct Clock {
    sent: Vec<Option<Instant>>,
    written: Vec<Option<Instant>>,
}

struct Sink {
    out: Mutex<std::fs::File>,
    clock: Arc<Mutex<Clock>>,
}

impl Observer for Sink {
    fn event(&self, event: &Event) {
        if let Event::NodeText { text, .. } = event {
            let mut out = self.out.lock().unwrap();
            out.write_all(text.as_bytes()).unwrap();
            out.flush().unwrap();
            let now = Instant::now();
            drop(out);
            // Tokens are `t<i> `.
            if let Some(i) = text.trim().strip_prefix('t').and_then(|n| n.parse::<usize>().ok()) {
                self.clock.lock().unwrap().written[i] = Some(now);
            }
        }
    }
}

fn chunk(content: &str) -> String {
    format!(
        "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1748512301,\"model\":\"bench\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}\n\n",
        serde_json::to_string(content).unwrap()
    )
}

/// Serves one streamed reply per connection, noting each token's write time.
fn serve(listener: TcpListener, clock: Arc<Mutex<Clock>>) {
    for stream in listener.incoming().flatten() {
        stream.set_nodelay(true).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let l = line.trim_end().to_ascii_lowercase();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut w = stream;
        w.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            .unwrap();
        let send = |w: &mut std::net::TcpStream, data: &str| {
            w.write_all(format!("{:x}\r\n{data}\r\n", data.len()).as_bytes()).unwrap();
            w.flush().unwrap();
        };
        for i in 0..TOKENS {
            std::thread::sleep(Duration::from_millis(2));
            let data = chunk(&format!("t{i} "));
            clock.lock().unwrap().sent[i] = Some(Instant::now());
            send(&mut w, &data);
        }
        send(
            &mut w,
            "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1748512301,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        );
        send(&mut w, "data: [DONE]\n\n");
        w.write_all(b"0\r\n\r\n").unwrap();
    }
}

struct NoLoader;
impl runtime::SkillLoader for NoLoader {
    fn load(&self, name: &str, _near: Option<&Path>) -> Result<SkillText, String> {
        Err(format!("no skill {name}"))
    }
}

fn percentile(xs: &[f64], p: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let runs = if std::env::args().any(|a| a == "--quick") { 1 } else { 5 };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let clock = Arc::new(Mutex::new(Clock::default()));
    let c = clock.clone();
    std::thread::spawn(move || serve(listener, c));

    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.yaml"),
        format!("default_model: local\nmodels:\n  - name: local\n    provider: openai-compatible\n    model: bench\n    base_url: {url}\n"),
    )
    .unwrap();
    let source = "name: stream\nnodes:\n  answer:\n    uses: llm\n    with: { prompt: Count. }\noutputs:\n  text: \"{{ nodes.answer.output }}\"\n";
    let text = SkillText { name: "stream".into(), path: None, display: "stream.yaml".into(), source: source.into() };
    let registry = Arc::new(plugins::builtin_registry());
    let program = runtime::compile(&registry, &text).expect("valid");
    let sink = Arc::new(Sink { out: Mutex::new(std::fs::File::create("/dev/null").unwrap()), clock: clock.clone() });
    let runtime = Runtime {
        registry,
        store: Arc::new(SqliteStore::open(&home.path().join("pyra.db")).unwrap()),
        observer: sink,
        interaction: None,
        loader: Arc::new(NoLoader),
        paths: Arc::new(paths::PathPolicy::new(home.path())),
        locks: Some(home.path().join("runs")),
        cancel: Default::default(),
        secrets: None,
        masker: Arc::default(),
        security_log: None,
        home: Some(home.path().to_path_buf()),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut latencies = Vec::new();
    for _ in 0..runs {
        *clock.lock().unwrap() = Clock { sent: vec![None; TOKENS], written: vec![None; TOKENS] };
        let report = rt.block_on(runtime.start(program.clone(), &text, Default::default())).expect("run");
        assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
        let c = clock.lock().unwrap();
        for i in 0..TOKENS {
            let (Some(s), Some(w)) = (c.sent[i], c.written[i]) else { panic!("token {i} not seen") };
            latencies.push(w.duration_since(s).as_secs_f64() * 1e6);
        }
    }
    println!(
        "Pyra streaming benchmark (release; {runs} run(s) × {TOKENS} tokens, one SSE event per token, 2 ms apart)"
    );
    println!(
        "  socket → written out: median {:.0} µs, p95 {:.0} µs, p99 {:.0} µs, max {:.0} µs (target ≤ 1,000 µs)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
}
