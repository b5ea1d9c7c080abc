//! The Nextcloud-shaped peer (tests/peers/nextcloud_peer.py: Radicale and WsgiDAV under
//! Nextcloud's paths), started once per test binary with the plugin peers' Python. It
//! runs in its own process group and exits when its stdin closes, which happens when
//! this binary exits (the write end lives in a static, never dropped).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use crate::harness::repo_root;

pub struct Peer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Where the peer keeps its data: `files/` is alice's WebDAV root.
    pub dir: PathBuf,
    _child: Mutex<(Child, ChildStdin)>,
}

impl Peer {
    /// A file under alice's files root, as the server keeps it.
    pub fn file(&self, path: &str) -> PathBuf {
        self.dir.join("files").join(path)
    }
}

static PEER: OnceLock<Result<Peer, String>> = OnceLock::new();

/// The running peer, or `None` (the test returns) when the plugin peers are not
/// installed and `PYRA_REQUIRE_PLUGIN_PEERS` is not `1`.
#[allow(clippy::print_stderr, reason = "a skipped test says why in the test's output")]
pub fn peer() -> Option<&'static Peer> {
    let required = std::env::var_os("PYRA_REQUIRE_PLUGIN_PEERS").is_some_and(|v| v == "1");
    let venv = std::env::var_os("PYRA_PLUGIN_PEERS").map(PathBuf::from);
    let python = venv.as_ref().map(|d| d.join("bin/python3"));
    let ready = venv.as_ref().is_some_and(|d| d.join("bin/radicale").is_file() && d.join("bin/wsgidav").is_file());
    let Some(python) = python.filter(|_| ready) else {
        let why = match venv {
            Some(d) => format!("{} lacks bin/radicale or bin/wsgidav", d.display()),
            None => "PYRA_PLUGIN_PEERS is not set".into(),
        };
        assert!(!required, "PYRA_REQUIRE_PLUGIN_PEERS=1 but {why} (tests/peers/install-plugin-peers.sh installs them)");
        eprintln!("skipped: {why} (tests/peers/install-plugin-peers.sh installs Radicale and WsgiDAV)");
        return None;
    };
    match PEER.get_or_init(|| start(&python)) {
        Ok(peer) => Some(peer),
        Err(why) => panic!("{why}"),
    }
}

fn start(python: &Path) -> Result<Peer, String> {
    let parent = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nextcloud-peer");
    for old in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
        let pid = old.file_name().to_string_lossy().parse::<i32>().ok();
        if pid.is_some_and(|pid| !super::super::alive(pid)) {
            let _ = std::fs::remove_dir_all(old.path());
        }
    }
    let dir = parent.join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let log = std::fs::File::create(dir.join("peer.log")).map_err(|e| e.to_string())?;
    let mut child = Command::new(python)
        .arg(repo_root().join("tests/peers/nextcloud_peer.py"))
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
    let Some(port) = line.trim().strip_prefix("port ").and_then(|p| p.parse::<u16>().ok()) else {
        let log = std::fs::read_to_string(dir.join("peer.log")).unwrap_or_default();
        return Err(format!("the nextcloud peer did not start ({line:?}):\n{log}"));
    };
    Ok(Peer { url: format!("http://127.0.0.1:{port}"), dir, _child: Mutex::new((child, stdin)) })
}
