//! The channels benchmark (issue 14), against the release `pyra` daemon with Telegram
//! pointed at the Bot API fake of the tests (`tests/it/telegram_fake.rs`) and a model
//! server that answers at once:
//! - C1 overhead: from an update becoming available to the long poll to the reply's
//!   `sendMessage` reaching the fake, minus the model server's own time; median and p99
//!   of 30 messages after one warm-up (each a new turn of the sender's conversation).
//! - C2 idle: the daemon's RSS with the channel connected (10 s after its first poll,
//!   before any message), against the same daemon without a channel, and after the turns.
//! - C3 idle with all three channels connected: Telegram (the fake), Signal (the tests'
//!   signal-cli mock as the daemon's child, through its shim) and Matrix (a real Synapse,
//!   when `PYRA_SYNAPSE_PYTHON` names a Python with it, as for the tests); the daemon's own
//!   RSS 10 s after all three are up (signal-cli's and Synapse's are their own processes).
//!
//! Run: `cargo bench -p cli --bench channels` (`PYRA_BENCH_TURNS=N` for N turns instead
//! of 30). Nothing here asserts a time.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod support;
/// The tests' Bot API fake, as it is (its submodules resolve under `tests/it/`).
#[allow(dead_code, unused_imports)]
#[path = "../../tests/it"]
mod it {
    pub mod signal_mock;
    pub mod synapse;
    pub mod telegram_fake;
}

/// What the tests' peers expect of their crate.
mod daemon {
    pub fn alive(pid: u32) -> bool {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    }
}

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use it::signal_mock::SignalMock;
use it::telegram_fake::TelegramFake;
use support::{Home, median, p99, rss_kib, wait};

const TOKEN: &str = "123456789:AAEhBOweik9ai2o4xS2cfQ8hJ0pWjZ3kFqc";
const PASS: &str = "channels bench passphrase";
const OWNER: i64 = 4242;

/// A model server that streams "ok" at once; the time it spent on each request (µs).
fn model_server() -> (String, Arc<Mutex<Vec<f64>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let spent = Arc::new(Mutex::new(Vec::new()));
    let times = spent.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let times = times.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut writer = stream;
                loop {
                    let mut length = 0;
                    let mut first = true;
                    let mut began = Instant::now();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if first {
                            began = Instant::now();
                            first = false;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let chunk = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}"#;
                    let sse = format!("data: {chunk}\n\ndata: [DONE]\n\n");
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n",
                        sse.len()
                    );
                    // One write (a head and a body apart would wait out the delayed ACK).
                    if writer.write_all(format!("{head}{sse}").as_bytes()).is_err() {
                        return;
                    }
                    times.lock().expect("lock").push(began.elapsed().as_secs_f64() * 1e6);
                }
            });
        }
    });
    (url, spent)
}

fn foreground(home: &Home) -> Child {
    home.cmd()
        .args(["daemon", "start", "--foreground"])
        .env("PYRA_VAULT_PASSPHRASE", PASS)
        .env("PYRA_VAULT_SCRYPT_LOG_N", "10")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon")
}

impl Home {
    fn log(&self) -> String {
        std::fs::read_to_string(self.path().join("logs").join("daemon.log")).unwrap_or_default()
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    println!(
        "Pyra channels benchmark (release daemon; Telegram against the Bot API fake, a model that answers at once)"
    );
    let fake = TelegramFake::start(TOKEN);
    let (model, model_times) = model_server();
    let home = Home::new();
    // The channel's section written here (every turn counts against the sender's hourly
    // limit: lifted); `channels add` keeps it and stores the token.
    let config = format!(
        "default_model: m\nmodels:\n  - name: m\n    provider: openai-compatible\n    model: m\n    base_url: \
         {model}/v1\nchannels:\n  telegram:\n    allow: [{OWNER}]\n    rate_per_hour: 10000\n    api_url: {}\n",
        fake.url
    );
    std::fs::write(home.path().join("config.yaml"), config).expect("config");
    let init = home
        .cmd()
        .args(["vault", "init"])
        .env("PYRA_VAULT_PASSPHRASE", PASS)
        .env("PYRA_VAULT_SCRYPT_LOG_N", "10")
        .output();
    assert!(init.expect("vault init").status.success());
    let mut add = home
        .cmd()
        .args(["channels", "add", "telegram", "--token-stdin", "--api-url", &fake.url])
        .env("PYRA_VAULT_PASSPHRASE", PASS)
        .env("PYRA_VAULT_SCRYPT_LOG_N", "10")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("channels add");
    add.stdin.take().expect("stdin").write_all(TOKEN.as_bytes()).expect("token");
    assert!(add.wait().expect("add").success());

    let daemon = foreground(&home);
    let pid = daemon.id();
    wait(Duration::from_secs(60), || !fake.calls("getUpdates").is_empty());
    std::thread::sleep(Duration::from_secs(10));
    let connected = rss_kib(pid);
    // The warm-up turn (the chat skill's first run, the conversation created).
    fake.send_text(OWNER, "warm up");
    let limit = Instant::now() + Duration::from_secs(60);
    while fake.sent().is_empty() {
        assert!(Instant::now() < limit, "no reply to the warm-up: {}", home.log());
        std::thread::sleep(Duration::from_millis(10));
    }
    let turns: usize = std::env::var("PYRA_BENCH_TURNS").ok().and_then(|t| t.parse().ok()).unwrap_or(30);
    let mut overhead = Vec::new();
    for n in 0..turns {
        let before = fake.sent().len();
        let model_before = model_times.lock().expect("lock").len();
        let t = Instant::now();
        fake.send_text(OWNER, &format!("message {n}"));
        let limit = Instant::now() + Duration::from_secs(30);
        while fake.sent().len() <= before {
            assert!(Instant::now() < limit, "no reply to message {n}: {}", home.log());
            std::thread::sleep(Duration::from_micros(100));
        }
        let total = ms(t.elapsed());
        let model_ms = model_times.lock().expect("lock")[model_before..].iter().sum::<f64>() / 1e3;
        overhead.push(total - model_ms);
    }
    println!(
        "C1  message → reply sent, Pyra's overhead (model time subtracted): median {:.1} ms, p99 {:.1} ms ({turns} turns)   [target ≤ 20 ms]",
        median(overhead.clone()),
        p99(overhead)
    );
    std::thread::sleep(Duration::from_secs(10));
    let after = rss_kib(pid);
    home.stop(daemon);

    // The same home without the channel.
    let path = home.path().join("config.yaml");
    let text = std::fs::read_to_string(&path).expect("config");
    let cut = text.find("channels:").unwrap_or(text.len());
    std::fs::write(&path, &text[..cut]).expect("config");
    let daemon = foreground(&home);
    let pid = daemon.id();
    wait(Duration::from_secs(30), || home.path().join("run").join("daemon.sock").exists());
    std::thread::sleep(Duration::from_secs(10));
    let without = rss_kib(pid);
    home.stop(daemon);
    let mib = |k: u64| k as f64 / 1024.0;
    println!(
        "C2  idle daemon RSS: {:.1} MiB with Telegram connected (before any message), {:.1} MiB without a channel, \
         {:.1} MiB after the turns (chat runs, the model client, memory)   [target ≤ 25 MiB with all three]",
        mib(connected),
        mib(without),
        mib(after)
    );
    all_three(&fake, &model);
}

/// C3: the daemon's RSS with Telegram, Signal and Matrix connected.
fn all_three(fake: &TelegramFake, model: &str) {
    let Some(hs) = std::env::var_os("PYRA_SYNAPSE_PYTHON").and_then(|_| it::synapse::synapse()) else {
        println!("C3  skipped: PYRA_SYNAPSE_PYTHON does not name a Python with Synapse (see .ci/run)");
        return;
    };
    let mock = SignalMock::start("+4915100000001");
    let bin = tempfile::tempdir().expect("tempdir");
    let shim = mock.shim(bin.path());
    let (bot, _) = hs.register(&it::synapse::unique("benchbot"), "bench-bot-password");
    let home = Home::new();
    let config = format!(
        "default_model: m\nmodels:\n  - name: m\n    provider: openai-compatible\n    model: m\n    base_url: \
         {model}/v1\nchannels:\n  telegram:\n    allow: [{OWNER}]\n    api_url: {}\n  signal:\n    account: \"+4915100000001\"\n    cli: {}\n",
        fake.url,
        shim.display()
    );
    std::fs::write(home.path().join("config.yaml"), config).expect("config");
    let run = |args: &[&str], stdin: &str| {
        let mut child = home
            .cmd()
            .args(args)
            .env("PYRA_VAULT_PASSPHRASE", PASS)
            .env("PYRA_VAULT_SCRYPT_LOG_N", "10")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("pyra");
        child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("stdin");
        assert!(child.wait().expect("pyra").success(), "pyra {args:?} failed");
    };
    run(&["vault", "init"], "");
    run(&["channels", "add", "telegram", "--token-stdin", "--api-url", &fake.url], TOKEN);
    run(
        &["channels", "add", "matrix", "--homeserver", &hs.url, "--user", &bot, "--password-stdin"],
        "bench-bot-password",
    );
    let daemon = foreground(&home);
    let pid = daemon.id();
    wait(Duration::from_secs(120), || {
        let log = home.log();
        log.contains("channel telegram: connected")
            && log.contains("channel matrix: connected")
            && log.contains("channel signal: receiving")
    });
    std::thread::sleep(Duration::from_secs(10));
    let all = rss_kib(pid);
    home.stop(daemon);
    println!(
        "C3  idle daemon RSS with Telegram, Signal and Matrix connected: {:.1} MiB   [target ≤ 25 MiB]",
        all as f64 / 1024.0
    );
}
