//! MCP plugin benchmark (`cargo bench -p cli --bench mcp`, `-- --quick` for fewer rounds):
//!
//! - P1: a call to a warm stdio server. The server's own time is measured with a minimal
//!   client of our own (newline-delimited JSON-RPC over the same pipes, blocking, no
//!   runtime); Pyra's overhead is the median through Pyra's connection (rmcp on tokio)
//!   minus that, and again per node of a whole `pyra run` of 101 calls against 1 call
//!   (scheduler, store and policy included).
//! - P2: cold start per plugin: process start to a listed set of tools (our fixture, and the
//!   reference servers when `PYRA_MCP_PEERS` points at them).
//! - P3: `pyra skill validate` of a 500-node skill of plugin tools against the same skill of
//!   built-in kinds: the pinned schemas are read, no server is started.

#![allow(clippy::print_stdout)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use support::{Home, median, p99, pyra};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/mcp/fixture.py")
}

/// P1 baseline: our own minimal blocking client against the fixture.
fn raw_calls(n: usize) -> Vec<f64> {
    let mut child = Command::new("python3")
        .arg(fixture())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs the fixture");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let mut ask = |text: String, want_reply: bool, line: &mut String| {
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        if want_reply {
            line.clear();
            stdout.read_line(line).unwrap();
        }
    };
    ask(
        r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}"#.into(),
        true,
        &mut line,
    );
    ask(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into(), false, &mut line);
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        ask(
            format!(
                r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"call {i}"}}}}}}"#,
                i + 1
            ),
            true,
            &mut line,
        );
        times.push(t.elapsed().as_secs_f64() * 1e6);
        assert!(line.contains("call "), "{line}");
    }
    drop(stdin);
    let _ = child.wait();
    times
}

fn install_fixture(home: &Home, name: &str, command: &str, args: &[String]) {
    let out = home.cmd().args(["plugin", "add", name, "--yes", "--", command]).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = home.path().join("plugins").join(name).join("plugin.yaml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("policy:\n  default: allow\n");
    std::fs::write(&path, text).unwrap();
}

/// P1 through Pyra's connection (the pool's `connect`, then `call`).
fn pyra_calls(home: &Home, n: usize) -> Vec<f64> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let host = mcp::host::Host::new(home.path());
    let m = host.load("fx").map_err(|(_, d)| format!("{d:?}")).unwrap().manifest;
    let limits = m.limits();
    let none = |_: &str| -> Result<String, String> { Err("no secrets".into()) };
    rt.block_on(async {
        let conn = host.connect(&m, &none).await.unwrap();
        let cancel = tokio_util::sync::CancellationToken::new();
        let mut times = Vec::with_capacity(n);
        for i in 0..n {
            let t = Instant::now();
            let conn = host.connect(&m, &none).await.unwrap();
            let r =
                conn.call("echo", serde_json::json!({ "text": format!("call {i}") }), &limits, &cancel).await.unwrap();
            times.push(t.elapsed().as_secs_f64() * 1e6);
            assert!(r.to_string().contains("call "));
        }
        drop(conn);
        host.shutdown().await;
        times
    })
}

fn chain_skill(home: &Home, calls: usize) -> PathBuf {
    let mut yaml = String::from("name: chain\nnodes:\n");
    for i in 0..calls {
        let needs = if i == 0 { String::new() } else { format!("    needs: n{}\n", i - 1) };
        yaml.push_str(&format!("  n{i}:\n    uses: fx.echo\n{needs}    with: {{ text: call {i} }}\n"));
    }
    let path = home.path().join(format!("chain{calls}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    path
}

fn time_cmd(mut cmd: Command) -> f64 {
    let t = Instant::now();
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    t.elapsed().as_secs_f64() * 1e3
}

/// P2: start to a listed set of tools, as `Host::start` does it.
fn cold_start(home: &Home, name: &str, rounds: usize) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let host = mcp::host::Host::new(home.path());
    let m = host.load(name).map_err(|(_, d)| format!("{d:?}")).unwrap().manifest;
    let none = |_: &str| -> Result<String, String> { Err("no secrets".into()) };
    let mut times = Vec::new();
    for _ in 0..rounds {
        rt.block_on(async {
            let t = Instant::now();
            let conn = host.start(&m, &none).await.unwrap();
            times.push(t.elapsed().as_secs_f64() * 1e3);
            conn.stop().await;
        });
    }
    median(times)
}

fn validate_skill(home: &Home, kind: &str, field: &str, nodes: usize, name: &str) -> PathBuf {
    let mut yaml = format!("name: {name}\nnodes:\n");
    for i in 0..nodes {
        yaml.push_str(&format!("  n{i}:\n    uses: {kind}\n    with:\n      {field}: node {i}\n"));
    }
    let path = home.path().join(format!("{name}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    path
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 3 } else { 7 };
    let n = if quick { 200 } else { 1000 };
    let home = Home::new();
    install_fixture(&home, "fx", "python3", &[fixture().to_string_lossy().into_owned()]);

    println!("P1  a call to a warm stdio server ({n} calls, echo on our fixture)");
    let raw = raw_calls(n);
    let through = pyra_calls(&home, n);
    let (raw_m, pyra_m) = (median(raw.clone()), median(through.clone()));
    println!("    the server alone (minimal client):  median {raw_m:7.1} µs  p99 {:7.1} µs", p99(raw));
    println!("    through Pyra's connection:          median {pyra_m:7.1} µs  p99 {:7.1} µs", p99(through));
    println!("    Pyra's overhead per call:           {:7.1} µs (target ≤ 1,000 µs)", pyra_m - raw_m);
    // In-run: from the first call node's end to the last's, over 100 chained calls (the
    // process start and the server's cold start are outside it).
    let many = chain_skill(&home, 101);
    let mut per_node = Vec::new();
    for _ in 0..rounds {
        let mut c = home.cmd();
        c.arg("run").arg(&many);
        time_cmd(c);
        let list = home.cmd().args(["runs", "list", "--json"]).output().unwrap();
        let id =
            serde_json::from_slice::<serde_json::Value>(&list.stdout).unwrap()[0]["id"].as_str().unwrap().to_string();
        let show = home.cmd().args(["runs", "show", &id, "--json"]).output().unwrap();
        let run: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
        let end = |id: &str| {
            run["nodes"].as_array().unwrap().iter().find(|n| n["node"] == id).unwrap()["finished_at"].as_f64().unwrap()
        };
        per_node.push((end("n100") - end("n0")) / 100.0 * 1000.0);
    }
    let node = median(per_node);
    println!(
        "    in a `pyra run`, per call node:     median {node:7.1} µs → overhead over the server {:7.1} µs (scheduler, durable store, policy, pinning, scan)",
        node - raw_m
    );

    println!("P2  cold start to a listed set of tools (median of {rounds})");
    println!("    fixture (python3, 2025-11-25):      {:7.1} ms", cold_start(&home, "fx", rounds));
    if let Some(peers) = std::env::var_os("PYRA_MCP_PEERS").map(PathBuf::from) {
        let shared = home.path().join("shared");
        std::fs::create_dir_all(&shared).unwrap();
        let cases: Vec<(&str, PathBuf, Vec<String>)> = vec![
            ("everything", peers.join("node_modules/.bin/mcp-server-everything"), vec![]),
            (
                "filesystem",
                peers.join("node_modules/.bin/mcp-server-filesystem"),
                vec![shared.to_string_lossy().into_owned()],
            ),
            ("memory", peers.join("node_modules/.bin/mcp-server-memory"), vec![]),
            ("time", peers.join("venv/bin/mcp-server-time"), vec![]),
            ("git", peers.join("venv/bin/mcp-server-git"), vec![]),
            ("fetch", peers.join("venv/bin/mcp-server-fetch"), vec![]),
        ];
        for (name, bin, args) in cases {
            install_fixture(&home, name, &bin.to_string_lossy(), &args);
            let protocol = std::fs::read_to_string(home.path().join("plugins").join(name).join("lock.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v["protocol"].as_str().map(String::from))
                .unwrap_or_default();
            println!("    {name:<12} ({protocol}):            {:7.1} ms", cold_start(&home, name, rounds));
        }
    } else {
        println!("    (set PYRA_MCP_PEERS to include the reference servers)");
    }

    println!("P3  `pyra skill validate`, 500 nodes (median of {rounds} processes)");
    let plugin = validate_skill(&home, "fx.echo", "text", 500, "tools500");
    let builtin = validate_skill(&home, "template", "value", 500, "builtin500");
    let time_validate = |path: &Path| {
        let mut times = Vec::new();
        for _ in 0..rounds {
            let mut c = home.cmd();
            c.args(["skill", "validate"]).arg(path);
            times.push(time_cmd(c));
        }
        median(times)
    };
    let (p, b) = (time_validate(&plugin), time_validate(&builtin));
    println!("    plugin tools {p:6.1} ms · built-in kinds {b:6.1} ms · ratio {:.2}", p / b);
    let _ = pyra();
}
