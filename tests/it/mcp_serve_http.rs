//! The daemon's MCP endpoint (config.yaml's `mcp.serve.http`) through the real binary:
//! it binds a loopback port (port 0: a free one, written to `run/mcp.addr`), keeps its
//! bearer token in `run/mcp.token` (both 0600), shows in `pyra daemon status` and in
//! `pyra mcp config --http`; hostile requests — another Origin, a rebound Host, no or a
//! wrong token, an oversized body, another path — are refused before MCP sees them; a
//! public address is refused before the daemon starts; and the Python SDK calls skills
//! over it (when the peers are installed).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::Value;

use super::home_with_skills;
use crate::daemon::{alive, kill9, pid_in, wait_for};
use crate::harness::{Output, Pyra};

/// A daemon this test started: stopped when dropped, killed if it does not stop.
struct Up<'a> {
    pyra: &'a Pyra,
    pid: Option<u32>,
}

impl Drop for Up<'_> {
    fn drop(&mut self) {
        let _ = self.pyra.run(["daemon", "stop"]);
        if let Some(pid) = self.pid
            && alive(pid)
        {
            kill9(pid);
        }
    }
}

fn start(pyra: &Pyra) -> Up<'_> {
    let out = Output::from(pyra.command(["daemon", "start"]).output().expect("pyra runs"));
    let up = Up { pyra, pid: pid_in(&out.stdout) };
    out.success();
    up
}

/// One HTTP/1.1 request; the status code and the whole reply.
fn request(port: u16, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let mut head = format!("POST {path} HTTP/1.1\r\nConnection: close\r\n");
    let mut has_length = false;
    for (name, value) in headers {
        has_length |= name.eq_ignore_ascii_case("content-length");
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !has_length {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write head");
    let _ = stream.write_all(body);
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    let code = reply.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, reply)
}

const INITIALIZE: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

#[test]
fn the_daemon_serves_mcp_on_loopback_with_a_token_and_refuses_the_rest() {
    let pyra = Pyra::new();
    home_with_skills(&pyra);
    std::fs::write(
        pyra.home_path().join("config.yaml"),
        "mcp:\n  serve:\n    skills: [greet, \"fail*\", ask]\n    http: { listen: 127.0.0.1:0 }\n",
    )
    .unwrap();
    let _up = start(&pyra);
    let run = pyra.home_path().join("run");
    let addr = wait_for("run/mcp.addr", || {
        std::fs::read_to_string(run.join("mcp.addr")).ok().filter(|a| !a.is_empty()).ok_or("not yet".to_string())
    });
    let token = std::fs::read_to_string(run.join("mcp.token")).expect("the token file");
    for file in ["mcp.addr", "mcp.token"] {
        let mode = std::fs::metadata(run.join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    assert_eq!(token.len(), 64, "32 random bytes in hex");
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    assert!(addr.starts_with("127.0.0.1:") && port != 0, "{addr}");
    let url = format!("http://{addr}/mcp");

    let status = pyra.run(["daemon", "status"]);
    status.success().stdout_has(&format!("mcp      {url}"));
    let snippet = pyra.run(["mcp", "config", "--client", "cursor", "--http"]);
    snippet.success().stderr_has("token");
    let entry = snippet.json()["mcpServers"]["pyra"].clone();
    assert_eq!(entry["url"], url.as_str());
    assert_eq!(entry["headers"]["Authorization"], format!("Bearer {token}"));
    pyra.run(["mcp", "config", "--client", "cursor"]).success().stderr_has(&format!("also serves MCP at {url}"));

    let host = format!("127.0.0.1:{port}");
    let bearer = format!("Bearer {token}");
    let json = ("Content-Type", "application/json");
    let accept = ("Accept", "application/json, text/event-stream");
    let good = [("Host", host.as_str()), ("Authorization", bearer.as_str()), json, accept];
    let (code, reply) = request(port, "/mcp", &good, INITIALIZE);
    assert_eq!(code, 200, "{reply}");
    assert!(reply.contains("\"serverInfo\"") && reply.contains("\"pyra\""), "{reply}");
    // Also with a loopback Origin and `localhost` as the host.
    let origin = format!("http://localhost:{port}");
    let local = format!("localhost:{port}");
    let with_origin = [("Host", local.as_str()), ("Origin", origin.as_str()), ("Authorization", &bearer), json, accept];
    assert_eq!(request(port, "/mcp", &with_origin, INITIALIZE).0, 200);

    // Another origin (a web page the user visits): 403, per the MCP spec.
    let evil = [("Host", host.as_str()), ("Origin", "http://evil.example"), ("Authorization", &bearer), json, accept];
    let (code, reply) = request(port, "/mcp", &evil, INITIALIZE);
    assert_eq!(code, 403, "{reply}");
    let null = [("Host", host.as_str()), ("Origin", "null"), ("Authorization", &bearer), json, accept];
    assert_eq!(request(port, "/mcp", &null, INITIALIZE).0, 403);
    // A Host that is not this loopback address (DNS rebinding): 403.
    for bad in ["evil.example", "evil.example:80", "127.0.0.1", "127.0.0.1:1", ""] {
        let headers = [("Host", bad), ("Authorization", &bearer), json, accept];
        assert_eq!(request(port, "/mcp", &headers, INITIALIZE).0, 403, "Host: {bad}");
    }
    // No token, a wrong one, another scheme: 401 with a challenge.
    let (code, reply) = request(port, "/mcp", &[("Host", &host), json, accept], INITIALIZE);
    assert_eq!(code, 401, "{reply}");
    assert!(reply.to_ascii_lowercase().contains("www-authenticate: bearer"), "{reply}");
    let wrong = format!("Bearer {}", "0".repeat(64));
    assert_eq!(request(port, "/mcp", &[("Host", &host), ("Authorization", &wrong), json, accept], INITIALIZE).0, 401);
    let basic = format!("Basic {token}");
    assert_eq!(request(port, "/mcp", &[("Host", &host), ("Authorization", &basic), json, accept], INITIALIZE).0, 401);
    // Over 1 MiB declared: 413 before a byte is read; a real 2 MiB body too.
    let big = [("Host", host.as_str()), ("Authorization", &bearer), json, accept, ("Content-Length", "2097152")];
    assert_eq!(request(port, "/mcp", &big, b"").0, 413);
    let mut body = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"pad":""#.to_vec();
    body.extend(std::iter::repeat_n(b'a', 2 << 20));
    body.extend(b"\"}}");
    assert_eq!(request(port, "/mcp", &good, &body).0, 413);
    // Another path: 404.
    assert_eq!(request(port, "/hooks/x", &good, INITIALIZE).0, 404);
    // Still serving.
    assert_eq!(request(port, "/mcp", &good, INITIALIZE).0, 200);
    assert_eq!(pyra.run(["runs", "list", "--json"]).json().as_array().map_or(0, Vec::len), 0, "nothing ran");

    // The Python SDK over HTTP: stateless 2026-07-28, then a session of the
    // `initialize` era.
    if let Some(python) = super::peers_python() {
        let script = crate::harness::repo_root().join("tests/fixtures/mcp_serve/client.py");
        for (before, (mode, protocol)) in [("auto", "2026-07-28"), ("legacy", "2025-11-25")].into_iter().enumerate() {
            let out = Output::from(
                std::process::Command::new(&python)
                    .arg(&script)
                    .args([env!("CARGO_BIN_EXE_pyra"), mode, &url, &token])
                    .env("PYRA_HOME", pyra.home_path())
                    .output()
                    .expect("python runs"),
            );
            assert_eq!(out.code, 0, "the client failed ({mode}):\n{}", out.stderr);
            let seen: Value = serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
            super::check_client_saw(&pyra, &seen, protocol, before * 3);
        }
    }
}

#[test]
fn a_public_address_is_refused_before_the_daemon_starts() {
    let pyra = Pyra::new();
    std::fs::write(pyra.home_path().join("config.yaml"), "mcp:\n  serve:\n    http: { listen: 0.0.0.0:8788 }\n")
        .unwrap();
    let out = pyra.run(["daemon", "start"]);
    let _up = Up { pyra: &pyra, pid: pid_in(&out.stdout) };
    out.code(1);
    assert!(out.stderr.contains("must be a loopback address"), "{}", out.stderr);
    assert_eq!(pyra.run(["mcp", "serve"]).code, 1, "and `mcp serve` refuses the file too");
}
