//! The reference servers from the registries (`.ci/run` installs them; `PYRA_MCP_PEERS`):
//! server-everything, -filesystem and -memory (npm; the `initialize` handshake) and
//! mcp-server-time, -git and -fetch (PyPI; `server/discover`, 2026-07-28), each added
//! with `pyra plugin add` and called from a skill; server-everything also over
//! streamable HTTP.

use std::path::Path;

use super::{manifest_append, peers};
use crate::harness::Pyra;

fn add(pyra: &Pyra, name: &str, argv: &[String]) -> crate::harness::Output {
    let mut args: Vec<String> = vec!["plugin".into(), "add".into(), name.into(), "--yes".into(), "--".into()];
    args.extend(argv.iter().cloned());
    let out = pyra.run(&args);
    out.success();
    manifest_append(pyra, name, "policy:\n  default: allow\n");
    out
}

fn bin(dir: &Path, rel: &str) -> String {
    dir.join(rel).to_string_lossy().into_owned()
}

fn run_json(pyra: &Pyra, name: &str, yaml: &str) -> serde_json::Value {
    let skill = pyra.skill(name, yaml);
    let out = pyra.run(["run", &skill, "--json"]);
    out.success();
    out.json()
}

#[test]
fn the_npm_reference_servers_over_stdio() {
    let Some(dir) = peers() else { return };
    let pyra = Pyra::new();
    let added = add(&pyra, "every", &[bin(&dir, "node_modules/.bin/mcp-server-everything")]);
    assert!(added.stderr.contains("MCP 2025-11-25"), "{added:?}");
    let out = run_json(
        &pyra,
        "e",
        "name: e\nnodes:\n  e:\n    uses: every.echo\n    with: { message: ping from pyra }\noutputs:\n  r: \"{{ nodes.e.output.text }}\"\n",
    );
    assert!(out["r"].as_str().unwrap().contains("ping from pyra"), "{out}");

    let files = pyra.work().join("shared");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("note.txt"), "the spare key is under the blue pot").unwrap();
    add(&pyra, "fs", &[bin(&dir, "node_modules/.bin/mcp-server-filesystem"), files.to_string_lossy().into_owned()]);
    let yaml = format!(
        "name: f\nnodes:\n  f:\n    uses: fs.read_text_file\n    with: {{ path: '{}' }}\noutputs:\n  r: \"{{{{ nodes.f.output.text }}}}\"\n",
        files.join("note.txt").display()
    );
    assert!(run_json(&pyra, "f", &yaml)["r"].as_str().unwrap().contains("blue pot"));

    add(&pyra, "mem", &[bin(&dir, "node_modules/.bin/mcp-server-memory")]);
    manifest_append(&pyra, "mem", "env:\n  MEMORY_FILE_PATH: ");
    let graph = pyra.work().join("memory.jsonl");
    manifest_append(&pyra, "mem", &format!("'{}'\n", graph.display()));
    pyra.run(["plugin", "review", "mem", "--yes"]).success();
    let out = run_json(
        &pyra,
        "m",
        "name: m\nnodes:\n  add:\n    uses: mem.create_entities\n    with:\n      entities: [{ name: Ada, entityType: person, observations: [likes tea] }]\n  read:\n    uses: mem.read_graph\n    needs: add\noutputs:\n  r: \"{{ nodes.read.output.text }}\"\n",
    );
    assert!(out["r"].as_str().unwrap().contains("likes tea"), "{out}");
}

#[test]
fn the_pypi_reference_servers_speak_the_2026_protocol() {
    let Some(dir) = peers() else { return };
    let pyra = Pyra::new();
    let added = add(&pyra, "time", &[bin(&dir, "venv/bin/mcp-server-time")]);
    assert!(added.stderr.contains("MCP 2026-07-28"), "{added:?}");
    let out = run_json(
        &pyra,
        "t",
        "name: t\nnodes:\n  t:\n    uses: time.get_current_time\n    with: { timezone: UTC }\noutputs:\n  r: \"{{ nodes.t.output.text }}\"\n",
    );
    assert!(out["r"].as_str().unwrap().contains("UTC"), "{out}");

    let repo = pyra.work().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        assert!(std::process::Command::new("git").args(args).current_dir(&repo).output().unwrap().status.success())
    };
    git(&["init", "-q"]);
    std::fs::write(repo.join("a.txt"), "a").unwrap();
    add(
        &pyra,
        "git",
        &[bin(&dir, "venv/bin/mcp-server-git"), "--repository".into(), repo.to_string_lossy().into_owned()],
    );
    let yaml = format!(
        "name: g\nnodes:\n  g:\n    uses: git.git_status\n    with: {{ repo_path: '{}' }}\noutputs:\n  r: \"{{{{ nodes.g.output.text }}}}\"\n",
        repo.display()
    );
    assert!(run_json(&pyra, "g", &yaml)["r"].as_str().unwrap().contains("a.txt"));

    // mcp-server-fetch refuses loopback addresses: its error comes back explained.
    add(&pyra, "fetch", &[bin(&dir, "venv/bin/mcp-server-fetch")]);
    let skill =
        pyra.skill("fe", "name: fe\nnodes:\n  f:\n    uses: fetch.fetch\n    with: { url: 'http://127.0.0.1:9/' }\n");
    let out = pyra.run(["run", &skill]);
    out.code(1).stderr_has("`fetch.fetch` returned an error");
}

#[test]
fn server_everything_over_streamable_http() {
    let Some(dir) = peers() else { return };
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = std::process::Command::new(dir.join("node_modules/.bin/mcp-server-everything"))
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "server-everything did not listen");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let pyra = Pyra::new();
    let out = pyra.run(["plugin", "add", "remote", "--yes", "--url", &url]);
    let called = if out.code == 0 {
        manifest_append(&pyra, "remote", "policy:\n  default: allow\n");
        let skill = pyra.skill("r", "name: r\nnodes:\n  e:\n    uses: remote.echo\n    with: { message: over http }\noutputs:\n  r: \"{{ nodes.e.output.text }}\"\n");
        Some(pyra.run(["run", &skill, "--json"]))
    } else {
        None
    };
    let _ = server.kill();
    let _ = server.wait();
    out.success().stderr_has("MCP 2025-11-25");
    let called = called.unwrap();
    called.success();
    assert!(called.json()["r"].as_str().unwrap().contains("over http"), "{called:?}");
}
