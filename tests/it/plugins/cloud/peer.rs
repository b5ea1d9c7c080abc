//! The WebDAV test peer: WsgiDAV (`$PYRA_PLUGIN_PEERS/bin/wsgidav`) on a free loopback
//! port, one user (`alice`), serving a temp folder, started once per test binary.
//!
//! It must not outlive the test binary, which never drops a static: a small `sh` holds it,
//! reading its stdin, a pipe whose write end this process keeps for its whole life; when
//! the process ends (however it ends) the pipe closes, `read` returns, and the `sh` stops
//! WsgiDAV and removes the folder.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const USER: &str = "alice";
pub const PASSWORD: &str = "alicepass-0f3c";

pub struct Dav {
    pub url: String,
    /// The folder WsgiDAV serves.
    pub dir: PathBuf,
    /// Held until the process ends: its closing stops the server.
    _lifeline: Mutex<ChildStdin>,
}

static DAV: OnceLock<Result<Dav, String>> = OnceLock::new();

/// The shared server, started by the first test that asks.
pub fn dav(wsgidav: &std::path::Path) -> &'static Dav {
    match DAV.get_or_init(|| start(wsgidav)) {
        Ok(d) => d,
        Err(e) => panic!("WsgiDAV did not start: {e}"),
    }
}

fn start(wsgidav: &std::path::Path) -> Result<Dav, String> {
    let dir = std::env::temp_dir().join(format!("pyra-cloud-dav-{}", std::process::id()));
    let root = dir.join("root");
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let config = dir.join("wsgidav.yaml");
    std::fs::write(
        &config,
        format!(
            "host: 127.0.0.1\nport: {port}\nprovider_mapping:\n  \"/\": \"{}\"\nhttp_authenticator:\n  accept_basic: true\n  accept_digest: false\n  default_to_digest: false\nsimple_dc:\n  user_mapping:\n    \"*\":\n      \"{USER}\":\n        password: \"{PASSWORD}\"\nverbose: 1\n",
            root.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let script = r#""$1" --config "$2" >"$3/wsgidav.log" 2>&1 & server=$!; read _; kill -TERM "$server"; wait "$server"; rm -rf "$3""#;
    let mut child = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(wsgidav)
        .arg(&config)
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("sh: {e}"))?;
    let lifeline = child.stdin.take().ok_or("no stdin pipe")?;
    // Never waited for: it ends when this process does.
    drop(child);
    let began = Instant::now();
    loop {
        if answers_as_wsgidav(port) {
            break;
        }
        if began.elapsed() > Duration::from_secs(30) {
            let log = std::fs::read_to_string(dir.join("wsgidav.log")).unwrap_or_default();
            return Err(format!("no answer on port {port} after 30 s:\n{log}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Dav { url: format!("http://127.0.0.1:{port}"), dir: root, _lifeline: Mutex::new(lifeline) })
}

/// Whether WsgiDAV (and not some other program) answers on the port.
fn answers_as_wsgidav(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"OPTIONS / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply.to_ascii_lowercase().contains("wsgidav")
}
