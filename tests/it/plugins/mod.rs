//! Plugins and the MCP client, through the real binary: our fixture server (drift,
//! crashes, slow tools, stderr floods, secrets; stdlib Python) and, when `.ci/run`
//! installed them (`PYRA_MCP_PEERS`), the reference servers from npm and PyPI over stdio
//! and streamable HTTP, in both protocol generations.

mod agent;
mod builtin;
mod cloud;
mod daemon;
mod docker;
mod elicit;
mod email;
mod fixture;
mod lifecycle;
mod nextcloud;
mod peers;
mod presets;
mod ssh;

use std::path::{Path, PathBuf};

use crate::harness::{Output, Pyra, repo_root};

pub const PASS: &str = "plugin tests passphrase";

pub fn fixture_py() -> String {
    repo_root().join("tests/fixtures/mcp/fixture.py").to_string_lossy().into_owned()
}

/// `pyra plugin add NAME --yes -- python3 fixture.py ARGS…`, approved.
pub fn add_fixture(pyra: &Pyra, name: &str, args: &[&str]) -> Output {
    let mut argv: Vec<String> = vec!["plugin".into(), "add".into(), name.into(), "--yes".into(), "--".into()];
    argv.push("python3".into());
    argv.push(fixture_py());
    argv.extend(args.iter().map(|s| s.to_string()));
    pyra.run(&argv)
}

/// Appends YAML to a plugin's manifest.
pub fn manifest_append(pyra: &Pyra, name: &str, yaml: &str) {
    let path = pyra.home_path().join("plugins").join(name).join("plugin.yaml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(yaml);
    std::fs::write(&path, text).unwrap();
}

/// Replaces text in a plugin's manifest.
pub fn manifest_edit(pyra: &Pyra, name: &str, from: &str, to: &str) {
    let path = pyra.home_path().join("plugins").join(name).join("plugin.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{text}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// The installed peers (`PYRA_MCP_PEERS`), or `None` to skip; a missing peer fails
/// under `PYRA_REQUIRE_MCP_PEERS=1`.
pub fn peers() -> Option<PathBuf> {
    let required = std::env::var_os("PYRA_REQUIRE_MCP_PEERS").is_some_and(|v| v == "1");
    match std::env::var_os("PYRA_MCP_PEERS").map(PathBuf::from) {
        Some(dir) if dir.join("node_modules").is_dir() && dir.join("venv").is_dir() => Some(dir),
        Some(dir) => {
            assert!(!required, "PYRA_MCP_PEERS={} lacks node_modules/ or venv/", dir.display());
            None
        }
        None => {
            assert!(!required, "PYRA_REQUIRE_MCP_PEERS=1 but PYRA_MCP_PEERS is not set");
            None
        }
    }
}

/// Whether a process is still there (and not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

pub fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("a pid in {}", path.display()))
}

/// Every file under the home, to prove a secret is written nowhere.
pub fn home_contains(pyra: &Pyra, needle: &str) -> Vec<PathBuf> {
    crate::harness::files_under(pyra.home_path())
        .into_iter()
        .filter(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .map(|(p, _)| p)
        .collect()
}
