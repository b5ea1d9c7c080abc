//! The chat benchmark (issue 7): the time from Enter to the request leaving Pyra, with
//! 1,000 notes in memory. In one process: a local server notes when each request's first
//! byte arrives; `Chat::turn` (what the REPL calls on Enter) runs the built-in `chat`
//! skill — history trimmed, memory recalled, config and model resolved, the request sent.
//! The server answers at once with a short streamed reply.
//!
//! Run: `cargo bench -p cli --bench chat` (add `-- --quick` for fewer turns).

#![allow(clippy::print_stdout)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pyra_cli::Home;
use pyra_cli::chat::{Chat, ChatArgs, TurnEnd, View};

const REPLY: &str = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"},\"finish_reason\":null}]}\n\ndata: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";

fn serve(listener: TcpListener, arrived: Arc<Mutex<Vec<(Instant, bool)>>>) {
    for stream in listener.incoming().flatten() {
        let arrived = arrived.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut w = stream;
            loop {
                let mut first = [0u8; 1];
                if reader.read_exact(&mut first).is_err() {
                    return;
                }
                let at = Instant::now();
                let mut head = vec![first[0]];
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let l = line.trim_end().to_ascii_lowercase();
                    head.extend_from_slice(line.as_bytes());
                    if l.is_empty() {
                        break;
                    }
                    if let Some(v) = l.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                // Whether the recalled notes went along (the search found some).
                let recalled = String::from_utf8_lossy(&body).contains("note-");
                arrived.lock().unwrap().push((at, recalled));
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n{REPLY}",
                    REPLY.len()
                );
                w.write_all(answer.as_bytes()).unwrap();
            }
        });
    }
}

fn percentile(xs: &[f64], p: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let turns = if std::env::args().any(|a| a == "--quick") { 20 } else { 100 };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let arrived = Arc::new(Mutex::new(Vec::new()));
    let a = arrived.clone();
    std::thread::spawn(move || serve(listener, a));

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("home");
    std::fs::create_dir_all(root.join("memory/notes")).unwrap();
    let words = ["garden", "invoice", "berlin", "recipe", "train", "doctor", "birthday", "budget", "coffee", "guitar"];
    for i in 0..1000 {
        let body: String = (0..120).map(|j| words[(i * 7 + j * 3) % words.len()]).collect::<Vec<_>>().join(" ");
        std::fs::write(root.join(format!("memory/notes/note-{i:04}.md")), format!("# Note {i}\n\n{body}\n")).unwrap();
    }
    std::fs::write(
        root.join("config.yaml"),
        format!("default_model: local\nmodels:\n  - name: local\n    provider: openai-compatible\n    model: m\n    base_url: {url}\n"),
    )
    .unwrap();
    let home = Home::at(root);
    let args = ChatArgs {
        message: Vec::new(),
        resume: false,
        session: None,
        list: false,
        model: None,
        tools: Vec::new(),
        json: false,
    };
    let mut chat = Chat::open(&home, &args, false).expect("chat");
    // The first turn builds the memory index; the measured ones find it up to date.
    let view = View::new(false, 80);
    assert!(matches!(chat.turn("warm up the garden index", &view).unwrap(), TurnEnd::Answered { .. }));
    let mut latencies = Vec::new();
    for i in 0..turns {
        arrived.lock().unwrap().clear();
        let view = View::new(false, 80);
        let enter = Instant::now();
        let end = chat.turn(&format!("What did I write about the garden and the budget, {i}?"), &view).unwrap();
        assert!(matches!(end, TurnEnd::Answered { .. }), "{end:?}");
        let (sent, recalled) = arrived.lock().unwrap()[0];
        assert!(recalled, "the memory recall found the notes");
        latencies.push(sent.duration_since(enter).as_secs_f64() * 1e3);
    }
    println!("Pyra chat benchmark (release; 1,000 notes in memory; {turns} turns, history growing and trimmed)");
    println!(
        "  Enter → request leaves Pyra: median {:.2} ms, p95 {:.2} ms, max {:.2} ms (target ≤ 5 ms)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        percentile(&latencies, 1.0)
    );
}
