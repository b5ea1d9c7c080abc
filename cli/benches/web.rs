//! The web UI benchmark (issue 16), against the release `pyra` daemon in a temporary home
//! holding 10,000 runs and a 1,000-node skill (one run of it with all 1,000 nodes):
//! - W1 pages: each page's time from request to the last byte, over loopback (so the
//!   server's time plus a loopback round trip), median and p99 of 21.
//! - W2 svg: the 1,000-node DAG drawn alone (`web::svg::dag`), median of 21.
//! - W3 live: from a change committed to the store (by this process, as a run in another
//!   process would) to its Server-Sent Event arriving, median and p99 of 30.
//! - W4 memory: the daemon's RSS before any page and after every page was loaded 20 times
//!   with a live stream open.
//!
//! Run: `cargo bench -p cli --bench web`. Medians are printed; nothing here asserts a time.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runtime::record::{Change, NodeStatus, RunRecord, RunStatus};
use runtime::{SqliteStore, Store};
use serde_json::json;
use support::{Home, median, p99, rss_kib, wait};

const RUNS: usize = 10_000;
const BIG: usize = 1_000;

fn big_skill() -> String {
    let mut s = String::from("name: big\ndescription: A thousand nodes.\nnodes:\n");
    for i in 0..BIG {
        s.push_str(&format!("  n{i}:\n    uses: template\n    with: {{ value: \"{i}\" }}\n"));
        if i > 0 {
            // Each node waits for one or two earlier ones.
            let a = (i * 7919) % i;
            let b = i - 1;
            if a == b {
                s.push_str(&format!("    needs: [n{b}]\n"));
            } else {
                s.push_str(&format!("    needs: [n{a}, n{b}]\n"));
            }
        }
    }
    s
}

fn record(id: String, skill: &str, status: RunStatus, at: i64, source: &str) -> RunRecord {
    RunRecord {
        id,
        skill: skill.into(),
        source_path: None,
        source: source.into(),
        inputs: json!({}),
        untrusted_inputs: false,
        status,
        error: None,
        outputs: None,
        parent_run: None,
        parent_node: None,
        created_at: at,
        finished_at: None,
        pid: None,
        resumes: 0,
        // Every third run by cron (the minutes apart are all multiples of 3 ms).
        started_by: Some(if (at / 60_000) % 3 == 0 { "cron" } else { "manual" }.into()),
        scheduled_for: None,
    }
}

/// Fills the store: 10,000 small runs over the last days, and one run of `big` with every
/// node finished.
fn fill(store: &SqliteStore, big: &str) -> String {
    let now = runtime::now_ms();
    for i in 0..RUNS {
        let status = if i % 10 == 0 { RunStatus::Failed } else { RunStatus::Succeeded };
        let id = runtime::new_run_id();
        store
            .create_run(&record(id.clone(), "small", RunStatus::Running, now - (RUNS - i) as i64 * 60_000, ""))
            .unwrap();
        let node: Arc<str> = Arc::from("step");
        store
            .apply(
                &id,
                vec![
                    Change::NodeStarted { node: node.clone(), attempt: 1, input: json!({}) },
                    Change::NodeFinished {
                        node,
                        status: NodeStatus::Succeeded,
                        output: Some(json!("ok")),
                        error: None,
                        untrusted: false,
                    },
                    Change::RunStatus { status, error: None, outputs: None },
                ],
            )
            .unwrap();
    }
    let id = runtime::new_run_id();
    store.create_run(&record(id.clone(), "big", RunStatus::Running, now, big)).unwrap();
    let mut changes = Vec::new();
    for i in 0..BIG {
        let node: Arc<str> = Arc::from(format!("n{i}"));
        changes.push(Change::NodeStarted { node: node.clone(), attempt: 1, input: json!({ "i": i }) });
        changes.push(Change::NodeFinished {
            node,
            status: NodeStatus::Succeeded,
            output: Some(json!(i.to_string())),
            error: None,
            untrusted: false,
        });
    }
    changes.push(Change::RunStatus { status: RunStatus::Succeeded, error: None, outputs: None });
    store.apply(&id, changes).unwrap();
    id
}

struct Ui {
    port: u16,
    cookie: String,
}

impl Ui {
    fn get(&self, path: &str) -> (u16, usize) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nCookie: {}\r\nConnection: close\r\n\r\n",
            self.port, self.cookie
        );
        stream.write_all(head.as_bytes()).unwrap();
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply);
        let text = String::from_utf8_lossy(&reply);
        (text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0), reply.len())
    }
}

/// The RSS once it stops moving (two samples a second apart within 256 KiB; at most 20
/// s): the daemon drops its binary's pages after arming (`daemon/memory.rs`) and the
/// allocator returns memory a while after a burst.
fn settled_rss(pid: u32) -> u64 {
    let mut last = rss_kib(pid);
    for _ in 0..20 {
        std::thread::sleep(Duration::from_secs(1));
        let now = rss_kib(pid);
        if now.abs_diff(last) < 256 {
            return now;
        }
        last = now;
    }
    last
}

fn main() {
    let home = Home::new();
    let big = big_skill();
    std::fs::write(home.path().join("skills/big.yaml"), &big).unwrap();
    std::fs::write(
        home.path().join("skills/small.yaml"),
        "name: small\nnodes:\n  step:\n    uses: template\n    with: { value: ok }\n",
    )
    .unwrap();
    std::fs::write(home.path().join("config.yaml"), "daemon:\n  web:\n    listen: 127.0.0.1:0\n").unwrap();
    // The database exists (and is migrated) once the CLI touched it.
    let _ = home.cmd().args(["runs", "list"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    let store = SqliteStore::open(&home.path().join("pyra.db")).expect("the run store");
    let filled = Instant::now();
    let big_run = fill(&store, &big);
    eprintln!("filled {RUNS} runs and a {BIG}-node run in {:.1} s", filled.elapsed().as_secs_f64());

    let mut daemon = home.cmd();
    daemon.args(["daemon", "start", "--foreground"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let child = daemon.spawn().expect("spawn the daemon");
    let pid = child.id();
    let addr_file = home.path().join("run/web.addr");
    wait(Duration::from_secs(60), || std::fs::read_to_string(&addr_file).is_ok_and(|a| !a.is_empty()));
    let addr = std::fs::read_to_string(&addr_file).unwrap();
    let port: u16 = addr.trim().rsplit(':').next().unwrap().parse().unwrap();
    let token = std::fs::read_to_string(home.path().join("run/web.token")).unwrap();
    let ui = Ui { port, cookie: format!("pyra_web_{port}={}", token.trim()) };
    let rss_before = settled_rss(pid);

    println!("W1 pages ({RUNS} runs, a {BIG}-node skill; loopback request to last byte, 21 each):");
    let pages = [
        "/skills".to_string(),
        "/skills/big".into(),
        "/runs".into(),
        "/runs?status=failed&skill=small".into(),
        "/runs?trigger=cron&since=3d".into(),
        format!("/runs/{big_run}"),
        format!("/runs/{big_run}?part=live"),
        "/skills/big/history".into(),
        "/skills/small/history".into(),
        "/approvals".into(),
    ];
    for page in &pages {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..21 {
            let t = Instant::now();
            let (code, bytes) = ui.get(page);
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(code, 200, "{page}");
            size = bytes;
        }
        println!(
            "  {page:<40} median {:>7.2} ms  p99 {:>7.2} ms  {:>6} KiB",
            median(times.clone()),
            p99(times),
            size / 1024
        );
    }

    let nodes: Vec<web::svg::DagNode> = (0..BIG)
        .map(|i| web::svg::DagNode {
            id: format!("n{i}"),
            kind: "template".into(),
            deps: if i == 0 { vec![] } else { vec![format!("n{}", (i * 7919) % i), format!("n{}", i - 1)] },
        })
        .collect();
    let times: Vec<f64> = (0..21)
        .map(|_| {
            let t = Instant::now();
            let svg = web::svg::dag(&nodes, &|_| Some("succeeded"));
            std::hint::black_box(svg);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    println!("W2 svg: the {BIG}-node DAG drawn in median {:.2} ms", median(times));

    // W3: a running run's stream; each change this process commits, timed to its event.
    let live = runtime::new_run_id();
    store.create_run(&record(live.clone(), "small", RunStatus::Running, runtime::now_ms(), "")).unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(
            format!(
                "GET /runs/{live}/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {}\r\nLast-Event-ID: {}\r\n\r\n",
                ui.cookie,
                store.last_event_id().unwrap()
            )
            .as_bytes(),
        )
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut lines = 0;
    let mut line = String::new();
    let mut latencies = Vec::new();
    for i in 0..30 {
        std::thread::sleep(Duration::from_millis(37 * (i % 7) + 20));
        let t = Instant::now();
        store.log(&live, Some("step"), runtime::record::LogLevel::Info, &format!("tick {i}")).unwrap();
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            lines += 1;
            if line.starts_with("id: ") {
                break;
            }
        }
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "W3 live: store change → SSE event median {:.0} ms, p99 {:.0} ms (polling every 250 ms; {lines} lines)",
        median(latencies.clone()),
        p99(latencies)
    );

    for page in &pages {
        for _ in 0..20 {
            ui.get(page);
        }
    }
    let rss_after = settled_rss(pid);
    println!(
        "W4 memory: daemon RSS {:.1} MiB before the UI, {:.1} MiB after {} page loads with a stream open (+{:.1} MiB)",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        pages.len() * 41,
        (rss_after as f64 - rss_before as f64) / 1024.0
    );
    drop(reader);
    drop(stream);
    home.stop(child);
}
