//! Every file in `examples/` validates, has the header the README promises, and draws.
//! Examples that use plugins validate in a home where those plugins were added as their
//! header says (built-ins need no server; the browser preset starts Playwright's server
//! from the tests' peers, so without `PYRA_MCP_PEERS` its example is left out).

use crate::harness::{Pyra, repo_root};
use crate::llm_server::{LlmServer, Reply};

fn example_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(repo_root().join("examples"))
        .expect("examples/ exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The plugins the examples use, each added as the example's header says.
const PLUGINS: &[(&str, &[&str])] = &[
    (
        "nextcloud",
        &["--builtin", "nextcloud", "--setting", "url=https://cloud.example.org", "--setting", "username=you"],
    ),
    (
        "mail",
        &[
            "--builtin",
            "email",
            "--setting",
            "imap_host=imap.example.org",
            "--setting",
            "smtp_host=smtp.example.org",
            "--setting",
            "username=you@example.org",
        ],
    ),
    ("cloud", &["--builtin", "cloud", "--setting", "remote=gdrive:", "--setting", "root=Pyra"]),
    ("web1", &["--builtin", "server", "--setting", "host=web1.example.org", "--setting", "user=ops"]),
    ("docker", &["--builtin", "docker"]),
];

/// The example that needs the browser preset (an MCP server that must start to list its tools).
const BROWSER_EXAMPLE: &str = "browse-title";

/// A home with the examples' plugins; whether the browser preset is among them.
fn with_plugins() -> (Pyra, bool) {
    let pyra = Pyra::new();
    for (name, args) in PLUGINS {
        let mut argv = vec!["plugin", "add", name];
        argv.extend_from_slice(args);
        argv.push("--yes");
        pyra.run(&argv).success();
    }
    let browser = match crate::plugins::peers() {
        Some(peers) => {
            let from = peers.to_string_lossy().to_string();
            pyra.run(["plugin", "add", "browser", "--preset", "playwright", "--preset-from", &from, "--yes"]).success();
            true
        }
        None => false,
    };
    (pyra, browser)
}

/// The example files this home can check.
fn checkable(browser: bool) -> Vec<std::path::PathBuf> {
    example_files().into_iter().filter(|f| browser || !f.ends_with(format!("{BROWSER_EXAMPLE}.yaml"))).collect()
}

#[test]
fn every_example_validates() {
    assert!(example_files().len() >= 6, "at least six examples, found {}", example_files().len());
    let (pyra, browser) = with_plugins();
    let files = checkable(browser);
    let mut argv = vec!["skill".to_string(), "validate".to_string()];
    argv.extend(files.iter().map(|f| f.to_string_lossy().to_string()));
    let out = pyra.run(&argv);
    out.success().stdout_has(&format!("{} files checked: {} valid, 0 invalid", files.len(), files.len()));
}

#[test]
fn every_example_says_what_it_shows_and_how_to_run_it() {
    for file in example_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let header: Vec<&str> = text.lines().take_while(|l| l.starts_with('#')).collect();
        assert!(header.iter().any(|l| l.contains("$schema=")), "{} lacks the schema header", file.display());
        assert!(header.iter().any(|l| l.contains("pyra ")), "{} does not say how to run it", file.display());
        assert!(header.len() >= 3, "{} needs a header saying what it shows", file.display());
    }
}

#[test]
fn every_example_draws_in_all_formats() {
    let (pyra, browser) = with_plugins();
    for file in checkable(browser) {
        let path = file.to_string_lossy().to_string();
        for format in ["ascii", "dot", "mermaid"] {
            pyra.run(["skill", "graph", &path, "--format", format]).success();
        }
        pyra.run(["skill", "show", &path]).success().stdout_has("Nodes (execution order):");
    }
}

/// Examples that need a language model or another outside service; every other example
/// must run in the test below.
const NEED_A_SERVICE: &[&str] = &[
    "archive-downloads",
    "browse-title",
    "container-check",
    "inbox-digest",
    "inbox-watch",
    "morning-brief",
    "release-notes",
    "server-health",
    "telegram-brief",
    "url-digest",
    "webhook-alert",
    "weekly-review",
    "write-up",
];

/// A config whose default model is the local test server (OpenAI-compatible, no key).
fn local_model(pyra: &Pyra, server: &LlmServer) {
    let config = format!(
        "default_model: local\nmodels:\n  - name: local\n    provider: openai-compatible\n    model: gpt-4o-mini\n    base_url: {}/v1\n",
        server.url
    );
    std::fs::write(pyra.home_path().join("config.yaml"), config).unwrap();
}

#[test]
fn examples_that_need_no_service_run() {
    let pyra = Pyra::new();
    let work = pyra.work();
    let mut ran = Vec::new();
    for file in example_files() {
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        let path = file.to_string_lossy().to_string();
        if NEED_A_SERVICE.contains(&name.as_str()) {
            let text = std::fs::read_to_string(&file).unwrap();
            let needs = ["uses: llm", "uses: agent", "secret(", "uses: message.send"];
            // A plugin's tool reaches its server (the plugin tests run these against their peers).
            let plugin = |line: &str| {
                line.trim()
                    .strip_prefix("uses: ")
                    .and_then(|k| k.split_once('.'))
                    .is_some_and(|(p, _)| PLUGINS.iter().any(|(name, _)| *name == p) || p == "browser")
            };
            assert!(
                needs.iter().any(|n| text.contains(n)) || text.lines().any(plugin),
                "{name} is listed as needing a service but does not"
            );
            continue;
        }
        match name.as_str() {
            "hello" => {
                pyra.run(["run", &path, "--json", "-i", "who=Ada"]).success().stdout_has("\"Hello, Ada!\"");
            }
            "fan-out" => {
                let out = pyra.run(["run", &path, "--json", "-i", r#"names=["ada","grace"]"#]);
                out.success();
                assert!(out.json()["roster"].as_str().unwrap().contains("01. Hello, Ada!"), "{}", out.stdout);
            }
            "greet-team" => {
                let out = pyra.run(["run", &path, "--json"]);
                out.success();
                assert_eq!(out.json()["count"], 3);
                assert_eq!(out.json()["roster"], "Hello, Ada!\nHello, Grace!\nHello, Linus!");
            }
            "disk-report" => {
                let report = work.join("disk.md");
                let folders = format!(r#"folders=["{}","{}"]"#, work.display(), work.join("missing").display());
                let out =
                    pyra.run(["run", &path, "--json", "-i", &folders, "-i", &format!("report={}", report.display())]);
                out.success();
                let text = std::fs::read_to_string(&report).unwrap();
                assert!(text.contains("| unreadable |"), "{text}");
                assert_eq!(out.json()["lines"], 7);
            }
            "remind-me" => {
                let notes = work.join("reminders.md");
                let file = format!("file={}", notes.display());
                pyra.run(["run", &path, "-i", "after=50ms", "-i", &file]).code(3).stderr_has("waiting for approval");
                let id = pyra.last_run();
                pyra.run(["approve", &id]).success().stdout_has("kept: true");
                assert!(std::fs::read_to_string(&notes).unwrap().contains("stretch your legs"));
            }
            "site-check" => {
                let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let port = server.local_addr().unwrap().port();
                std::thread::spawn(move || {
                    use std::io::{Read, Write};
                    let (mut conn, _) = server.accept().unwrap();
                    let mut buf = [0u8; 2048];
                    let _ = conn.read(&mut buf);
                    let _ = conn
                        .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\nConnection: close\r\n\r\nnope!");
                });
                let out = pyra.run(["run", &path, "--json", "-i", &format!("url=http://127.0.0.1:{port}/")]);
                out.success();
                assert_eq!(out.json(), serde_json::json!({ "up": false, "status": 404, "bytes": 5 }));
            }
            "remember-and-recall" => {
                let out =
                    pyra.run(["run", &path, "--json", "-i", "fact=The boat is moored at pier 7", "-i", "ask=pier"]);
                out.success();
                assert_eq!(out.json()["found"], serde_json::json!(["house/spare-key"]));
                assert_eq!(out.json()["answer"], "The boat is moored at pier 7");
                pyra.run(["memory", "search", "moored", "--json"]).success().stdout_has("house/spare-key");
            }
            // The model examples run against the local server replaying recorded replies.
            "ask" => {
                let server = LlmServer::start(vec![Reply::fixture("openai/text.sse")]);
                local_model(&pyra, &server);
                let out = pyra.run(["run", &path, "--json"]);
                out.success();
                assert!(out.json()["answer"].as_str().unwrap().contains("How about “Ash”?"), "{}", out.stdout);
            }
            "ask-memory" => {
                let server =
                    LlmServer::start(vec![Reply::fixture("openai/recall_call.sse"), Reply::fixture("openai/text.sse")]);
                local_model(&pyra, &server);
                let mut child = pyra
                    .command(["memory", "write", "house/spare-key"])
                    .stdin(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"The spare key is under the blue pot.\n")
                    .unwrap();
                assert!(child.wait().unwrap().success());
                let out = pyra.run(["run", &path, "--json", "-i", "question=Where is the spare key?"]);
                out.success();
                let seen = server.requests();
                assert_eq!(seen.len(), 2);
                let offered = serde_json::to_string(&seen[0].body["tools"]).unwrap();
                assert!(offered.contains("\"recall\"") && offered.contains("Words to look for"), "{offered}");
                let second = serde_json::to_string(&seen[1].body).unwrap();
                assert!(second.contains("blue pot"), "the recalled note went back to the model: {second}");
            }
            other => panic!("example {other} is neither run here nor listed as needing a service"),
        }
        ran.push(name);
    }
    assert!(ran.len() >= 6, "{ran:?}");
}
