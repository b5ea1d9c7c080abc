//! `pyra plugin add NAME --preset ID` through the real binary, against the servers the
//! presets install (taken from `PYRA_MCP_PEERS` with `--preset-from`, so the tests download
//! nothing; one test installs `memory` from npm for real): each preset adds, lists its tools
//! with the shipped policy and makes a read-only call; folders in or around Pyra's home are
//! refused; an unknown preset suggests the closest. The browser is in `presets/browser.rs`.

mod browser;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::peers;
use crate::harness::{Output, Pyra};

/// A loopback web server answering every GET with one page, and noting each path asked.
pub struct Pages {
    pub url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Pages {
    pub fn start(html: &'static str) -> Pages {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/", listener.local_addr().unwrap().port());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let noted = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let noted = noted.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut first = String::new();
                    if reader.read_line(&mut first).is_err() {
                        return;
                    }
                    // The rest of the head, up to the empty line.
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        line.clear();
                    }
                    let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
                    noted.lock().unwrap().push(path);
                    let mut conn = conn;
                    let _ = write!(
                        conn,
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                        html.len()
                    );
                });
            }
        });
        Pages { url, seen }
    }

    /// The paths asked for so far.
    pub fn paths(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// `pyra plugin add NAME --preset ID --preset-from PEERS --yes --setting …`.
pub fn add(pyra: &Pyra, peers: &Path, name: &str, preset: &str, settings: &[String]) -> Output {
    let mut argv: Vec<String> =
        ["plugin", "add", name, "--preset", preset, "--yes", "--preset-from"].iter().map(|s| s.to_string()).collect();
    argv.push(peers.to_string_lossy().into_owned());
    for s in settings {
        argv.push("--setting".into());
        argv.push(s.clone());
    }
    pyra.run(&argv)
}

/// `pyra plugin tools NAME --json`: tool → policy decision.
pub fn policies(pyra: &Pyra, name: &str) -> Vec<(String, String)> {
    let listed = pyra.run(["plugin", "tools", name, "--json"]);
    listed.success();
    listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["tool"].as_str().unwrap().to_string(), r["policy"].as_str().unwrap().to_string()))
        .collect()
}

fn decision<'a>(rows: &'a [(String, String)], tool: &str) -> &'a str {
    rows.iter().find(|(t, _)| t == tool).map(|(_, d)| d.as_str()).unwrap_or("(not listed)")
}

fn run_json(pyra: &Pyra, name: &str, yaml: &str) -> serde_json::Value {
    let skill = pyra.skill(name, yaml);
    let out = pyra.run(["run", &skill, "--json"]);
    out.success();
    out.json()
}

/// Every process whose command line mentions `needle` (zombies have none).
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(needle) {
            found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

/// Waits until no process mentions `needle` (a stopped server's children may take a
/// moment to go); fails naming them after 30 s.
pub fn wait_for_no_process(needle: &str) {
    let start = std::time::Instant::now();
    loop {
        let left = processes_mentioning(needle);
        if left.is_empty() {
            return;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "left running: {left:#?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn an_unknown_preset_suggests_the_closest() {
    let pyra = Pyra::new();
    let out = pyra.run(["plugin", "add", "browser", "--preset", "playwrite", "--yes"]);
    out.code(2).stderr_has("there is no preset `playwrite` — did you mean `playwright`?");
    let out = pyra.run(["plugin", "add", "g", "--preset", "git", "--setting", "repositry=/tmp", "--yes"]);
    out.code(2).stderr_has("has no setting `repositry` — did you mean `repository`?");
    let out = pyra.run(["plugin", "add", "g", "--preset", "git", "--yes"]);
    out.code(2).stderr_has("needs `--setting repository=…`");
    assert!(!pyra.home_path().join("plugins/browser").exists() && !pyra.home_path().join("plugins/g").exists());
}

#[test]
fn time_tells_the_time_without_asking() {
    let Some(peers) = peers() else { return };
    let pyra = Pyra::new();
    let added = add(&pyra, &peers, "time", "time", &["timezone=UTC".into()]);
    added.success().stdout_has("time.get_current_time").stderr_has("approved 2 tool(s)");
    let rows = policies(&pyra, "time");
    assert_eq!(decision(&rows, "time.get_current_time"), "allow", "{rows:?}");
    let manifest = std::fs::read_to_string(pyra.home_path().join("plugins/time/plugin.yaml")).unwrap();
    assert!(manifest.contains("- --local-timezone\n- UTC\n") && manifest.contains("# Preset `time`"), "{manifest}");
    let out = run_json(
        &pyra,
        "t",
        "name: t\nnodes:\n  t:\n    uses: time.get_current_time\n    with: { timezone: Europe/Berlin }\noutputs:\n  r: \"{{ nodes.t.output.text }}\"\n",
    );
    assert!(out["r"].as_str().unwrap().contains("Europe/Berlin"), "{out}");
}

#[test]
fn fetch_refuses_loopback_unless_allowed_and_then_asks() {
    let Some(peers) = peers() else { return };
    let pages = Pages::start("<html><head><title>Fetched</title></head><body><p>the kettle is on</p></body></html>");
    let pyra = Pyra::new();
    add(&pyra, &peers, "fetch", "fetch", &[]).success();
    assert_eq!(decision(&policies(&pyra, "fetch"), "fetch.fetch"), "allow");
    let yaml = format!(
        "name: f\nnodes:\n  f:\n    uses: fetch.fetch\n    with: {{ url: '{}' }}\noutputs:\n  r: \"{{{{ nodes.f.output.text }}}}\"\n",
        pages.url
    );
    let skill = pyra.skill("f", &yaml);
    pyra.run(["run", &skill]).code(1).stderr_has("`fetch.fetch` returned an error");
    assert!(pages.paths().is_empty(), "the loopback page was never asked for");

    // With private addresses allowed, each fetch asks first.
    add(&pyra, &peers, "lan", "fetch", &["allow_private_ips=true".into()]).success();
    assert_eq!(decision(&policies(&pyra, "lan"), "lan.fetch"), "ask");
    let skill = pyra.skill("l", &yaml.replace("fetch.fetch", "lan.fetch"));
    pyra.run(["run", &skill]).code(3).stderr_has("waits for an approval");
    assert!(pages.paths().is_empty(), "nothing fetched before the approval");
    let id = pyra.last_run();
    let sub = pyra.show(&id)["approvals"][0]["node"].as_str().unwrap().to_string();
    pyra.run(["approve", &id, &sub]).success();
    assert!(pyra.show(&id)["outputs"]["r"].as_str().unwrap().contains("the kettle is on"));
    assert!(pages.paths().contains(&"/".to_string()), "{:?}", pages.paths());
}

fn git(repo: &Path, args: &[&str]) {
    let out = std::process::Command::new("git").args(args).current_dir(repo).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn git_reads_a_repository_outside_the_home_and_asks_to_stage() {
    let Some(peers) = peers() else { return };
    let outside = tempfile::tempdir().unwrap();
    let repo = outside.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    std::fs::write(repo.join("plan.txt"), "ship it").unwrap();
    let pyra = Pyra::new();
    // The home, or a folder in it, is never given to a server.
    let inside = pyra.work().join("repo");
    std::fs::create_dir_all(&inside).unwrap();
    let out = add(&pyra, &peers, "git", "git", &[format!("repository={}", inside.display())]);
    out.code(2).stderr_has("is inside Pyra's home");
    add(&pyra, &peers, "git", "git", &[format!("repository={}", repo.display())]).success();
    let rows = policies(&pyra, "git");
    assert_eq!(rows.len(), 12, "{rows:?}");
    assert_eq!(decision(&rows, "git.git_status"), "allow");
    assert_eq!(decision(&rows, "git.git_add"), "ask");
    let real = std::fs::canonicalize(&repo).unwrap();
    let yaml = format!(
        "name: g\nnodes:\n  g:\n    uses: git.git_status\n    with: {{ repo_path: '{}' }}\noutputs:\n  r: \"{{{{ nodes.g.output.text }}}}\"\n",
        real.display()
    );
    assert!(run_json(&pyra, "g", &yaml)["r"].as_str().unwrap().contains("plan.txt"));
    let stage = pyra.skill(
        "s",
        &format!(
            "name: s\nnodes:\n  s:\n    uses: git.git_add\n    with: {{ repo_path: '{}', files: [plan.txt] }}\n",
            real.display()
        ),
    );
    pyra.run(["run", &stage]).code(3).stderr_has("waits for an approval");
    let staged =
        std::process::Command::new("git").args(["diff", "--cached", "--name-only"]).current_dir(&repo).output();
    assert_eq!(String::from_utf8_lossy(&staged.unwrap().stdout), "", "nothing staged before the approval");
}

#[test]
fn filesystem_lists_its_folder_and_refuses_the_rest() {
    let Some(peers) = peers() else { return };
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("groceries.txt"), "eggs").unwrap();
    let pyra = Pyra::new();
    let home = pyra.home_path().to_string_lossy().into_owned();
    let out = add(&pyra, &peers, "files", "filesystem", &[format!("dirs={},{home}", outside.path().display())]);
    out.code(2).stderr_has("is inside Pyra's home");
    let parent = pyra.home_path().parent().unwrap().to_string_lossy().into_owned();
    add(&pyra, &peers, "files", "filesystem", &[format!("dirs={parent}")]).code(2).stderr_has("holds Pyra's home");
    add(&pyra, &peers, "files", "filesystem", &[format!("dirs={}", outside.path().display())]).success();
    let rows = policies(&pyra, "files");
    assert_eq!(decision(&rows, "files.list_directory"), "allow");
    assert_eq!(decision(&rows, "files.write_file"), "ask");
    let real = std::fs::canonicalize(outside.path()).unwrap();
    let list = |path: &Path| {
        format!(
            "name: l\nnodes:\n  l:\n    uses: files.list_directory\n    with: {{ path: '{}' }}\noutputs:\n  r: \"{{{{ nodes.l.output.text }}}}\"\n",
            path.display()
        )
    };
    assert!(run_json(&pyra, "l", &list(&real))["r"].as_str().unwrap().contains("groceries.txt"));
    let skill = pyra.skill("v", &list(&pyra.home_path().join("vault")));
    pyra.run(["run", &skill])
        .code(1)
        .stderr_has("`files.list_directory` returned an error")
        .stderr_has("outside allowed");
}

#[test]
fn memory_keeps_its_graph_in_the_plugin_folder() {
    let Some(peers) = peers() else { return };
    let pyra = Pyra::new();
    add(&pyra, &peers, "mem", "memory", &[]).success().stdout_has("mem.read_graph");
    let rows = policies(&pyra, "mem");
    assert_eq!(decision(&rows, "mem.read_graph"), "allow");
    assert_eq!(decision(&rows, "mem.delete_entities"), "ask");
    let manifest = std::fs::read_to_string(pyra.home_path().join("plugins/mem/plugin.yaml")).unwrap();
    let file = pyra.home_path().join("plugins/mem/memory.jsonl");
    assert!(manifest.contains(&format!("MEMORY_FILE_PATH: {}", file.display())), "{manifest}");
    let out = run_json(
        &pyra,
        "r",
        "name: r\nnodes:\n  r:\n    uses: mem.read_graph\noutputs:\n  r: \"{{ nodes.r.output.text }}\"\n",
    );
    assert!(out["r"].as_str().unwrap().contains("\"entities\": []"), "{out}");
}

fn offline(out: &Output) -> bool {
    ["ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "ENETUNREACH"].iter().any(|e| out.stderr.contains(e))
}

#[test]
#[allow(clippy::print_stderr, reason = "a skipped test says why")]
fn memory_installs_from_npm_at_the_tested_pin() {
    if std::process::Command::new("npm").arg("--version").output().is_err() {
        eprintln!("skipped: npm is not installed");
        return;
    }
    let pyra = Pyra::new();
    let mut cmd = pyra.command(["plugin", "add", "mem", "--preset", "memory", "--yes"]);
    cmd.env_remove("PYRA_PRESET_FROM");
    let out = Output::from(cmd.output().unwrap());
    if out.code != 0 && offline(&out) && std::env::var_os("PYRA_REQUIRE_MCP_PEERS").is_none_or(|v| v != "1") {
        eprintln!("skipped: the npm registry is out of reach: {}", out.stderr);
        return;
    }
    out.success().stderr_has("installing @modelcontextprotocol/server-memory@2026.8.31 from npm");
    let server: PathBuf = pyra.home_path().join("plugins/mem/server");
    let pkg = std::fs::read_to_string(server.join("node_modules/@modelcontextprotocol/server-memory/package.json"));
    let pkg: serde_json::Value = serde_json::from_str(&pkg.unwrap()).unwrap();
    assert_eq!(pkg["version"], "2026.8.31");
    let manifest = std::fs::read_to_string(pyra.home_path().join("plugins/mem/plugin.yaml")).unwrap();
    assert!(manifest.contains("command: server/node_modules/.bin/mcp-server-memory"), "{manifest}");
    // Every dependency at the version the tests' lock pins.
    let ours: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(server.join("package-lock.json")).unwrap()).unwrap();
    let tested: serde_json::Value = serde_json::from_str(mcp::presets::NPM_LOCK).unwrap();
    for (path, entry) in ours["packages"].as_object().unwrap() {
        if !path.is_empty() {
            assert_eq!(entry["version"], tested["packages"][path]["version"], "{path}");
        }
    }
    let out = run_json(
        &pyra,
        "r",
        "name: r\nnodes:\n  r:\n    uses: mem.read_graph\noutputs:\n  r: \"{{ nodes.r.output.text }}\"\n",
    );
    assert!(out["r"].as_str().unwrap().contains("\"entities\""), "{out}");
}
