//! `pyra mcp serve` driven by a real MCP client from the registries: the Python `mcp` SDK
//! (from `$PYRA_MCP_PEERS/venv`, installed by `.ci/run`) over stdio, with both protocol
//! generations (the `initialize` handshake and 2026-07-28's `server/discover`): tools
//! listed from the skills config.yaml exposes, a skill called with inputs (outputs as
//! structured content), a failing run (`isError`), a skill that is not exposed (a JSON-RPC
//! error), inputs that do not fit, and an approval answered with `pyra approve` while
//! the call waits. Without `PYRA_MCP_PEERS` these tests skip (`PYRA_REQUIRE_MCP_PEERS=1`
//! makes a missing peer a failure). Hostile input over stdio and the secret's masking are
//! in `mcp_serve_stdio.rs`, the daemon's HTTP endpoint in `mcp_serve_http.rs`; `pyra mcp
//! config`'s snippets are checked here.

#[path = "mcp_serve_http.rs"]
mod http;
#[path = "mcp_serve_stdio.rs"]
mod stdio;

use std::path::PathBuf;

use serde_json::Value;

use crate::harness::{Output, Pyra};

/// The skills the tests expose (`greet`, `failing`, `ask`) and one they do not (`hidden`).
pub(crate) fn home_with_skills(pyra: &Pyra) {
    let skills = pyra.home_path().join("skills");
    std::fs::create_dir_all(&skills).unwrap();
    let write = |name: &str, text: &str| std::fs::write(skills.join(format!("{name}.yaml")), text).unwrap();
    write(
        "greet",
        r#"name: greet
description: Greets someone.
inputs:
  who: { type: string, description: Whom to greet. }
  times: { type: integer, default: 1 }
nodes:
  hello:
    uses: template
    with: { value: "Hello, {{ inputs.who }}!" }
outputs:
  greeting: "{{ nodes.hello.output }}"
  times: "{{ inputs.times }}"
"#,
    );
    write(
        "failing",
        r#"name: failing
description: Always fails.
nodes:
  boom:
    uses: exec
    with: { argv: [sh, -c, "echo doomed >&2; exit 3"] }
"#,
    );
    write(
        "ask",
        r#"name: ask
description: Asks before answering.
inputs:
  what: { type: string }
nodes:
  confirm:
    uses: approval
    with: { message: "Answer {{ inputs.what }}?", timeout: 1h, on_timeout: reject }
  answer:
    uses: template
    needs: confirm
    with: { value: "answered {{ inputs.what }}" }
outputs:
  answer: "{{ nodes.answer.output }}"
  approved: "{{ nodes.confirm.output.approved }}"
"#,
    );
    write(
        "hidden",
        "name: hidden\ndescription: Not exposed.\nnodes:\n  x:\n    uses: template\n    with: { value: secret }\n",
    );
    std::fs::write(pyra.home_path().join("config.yaml"), "mcp:\n  serve:\n    skills: [greet, \"fail*\", ask]\n")
        .unwrap();
}

/// The peers' Python, or `None` (the test skips) when `PYRA_MCP_PEERS` is unset; a
/// missing peer fails under `PYRA_REQUIRE_MCP_PEERS=1`.
#[allow(clippy::print_stderr, reason = "a skipped test says why in the test's output")]
pub(crate) fn peers_python() -> Option<PathBuf> {
    let required = std::env::var_os("PYRA_REQUIRE_MCP_PEERS").is_some_and(|v| v == "1");
    let Some(peers) = std::env::var_os("PYRA_MCP_PEERS") else {
        assert!(!required, "PYRA_REQUIRE_MCP_PEERS=1 but PYRA_MCP_PEERS is not set");
        eprintln!("skipped: PYRA_MCP_PEERS is not set (the Python MCP SDK peer)");
        return None;
    };
    let python = PathBuf::from(peers).join("venv/bin/python");
    let has_sdk = std::process::Command::new(&python)
        .args(["-c", "import mcp.client.client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_sdk {
        assert!(!required, "PYRA_REQUIRE_MCP_PEERS=1 but {} has no `mcp` package", python.display());
        eprintln!("skipped: {} has no `mcp` package", python.display());
        return None;
    }
    Some(python)
}

fn python_client(mode: &str) {
    let Some(python) = peers_python() else { return };
    let pyra = Pyra::new();
    home_with_skills(&pyra);
    let script = crate::harness::repo_root().join("tests/fixtures/mcp_serve/client.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .args([env!("CARGO_BIN_EXE_pyra"), mode])
        .env("PYRA_HOME", pyra.home_path())
        .env("NO_COLOR", "1")
        .output()
        .expect("python runs");
    let out = Output::from(out);
    assert_eq!(out.code, 0, "the client failed:\n{}", out.stderr);
    let seen: Value = serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    check_client_saw(&pyra, &seen, if mode == "legacy" { "2025-11-25" } else { "2026-07-28" }, 0);
}

/// What `tests/fixtures/mcp_serve/client.py` must have seen of the skills of
/// [`home_with_skills`], over `protocol` (`runs_before`: the home's runs before it).
pub(crate) fn check_client_saw(pyra: &Pyra, seen: &Value, protocol: &str, runs_before: usize) {
    assert_eq!(seen["server"], "pyra");
    assert_eq!(seen["protocol"], protocol, "{seen:#}");
    // Exactly the exposed skills, with their inputs as the schema and outputs declared.
    let tools = seen["tools"].as_object().unwrap();
    assert_eq!(tools.keys().collect::<Vec<_>>(), ["ask", "failing", "greet"]);
    let greet = &tools["greet"];
    assert_eq!(greet["description"], "Greets someone.");
    assert_eq!(
        greet["input"]["properties"]["who"],
        serde_json::json!({"type": "string", "description": "Whom to greet."})
    );
    assert_eq!(greet["input"]["required"], serde_json::json!(["who"]));
    assert_eq!(greet["input"]["additionalProperties"], false);
    assert_eq!(greet["output"]["required"], serde_json::json!(["greeting", "times"]));
    assert_eq!(tools["failing"]["output"], Value::Null, "no outputs, no output schema");

    // A call: the run's outputs as structured content and as text, the run id in _meta.
    let call = &seen["greet"];
    assert_eq!(call["is_error"], false);
    assert_eq!(call["structured"], serde_json::json!({"greeting": "Hello, Ada!", "times": 2}));
    assert!(call["text"][0].as_str().unwrap().contains("Hello, Ada!"));
    let run = call["meta"]["pyra/run"].as_str().expect("the run id");
    let record = pyra.show(run);
    assert_eq!((record["skill"].as_str(), record["status"].as_str()), (Some("greet"), Some("succeeded")));

    // A failed run is a tool error the caller reads, with the run's error.
    let failing = &seen["failing"];
    assert_eq!(failing["is_error"], true);
    let text = failing["text"][0].as_str().unwrap();
    assert!(text.contains("failed") && text.contains("exited with code 3") && text.contains("doomed"), "{text}");
    // Inputs that do not fit: a tool error naming the input, and no run.
    let bad = &seen["bad_inputs"];
    assert_eq!(bad["is_error"], true);
    assert!(bad["text"][0].as_str().unwrap().contains("unknown input `colour`"), "{bad}");
    // A skill that is not exposed is an unknown tool, though it exists.
    assert_eq!(seen["hidden"]["code"], -32602);
    assert_eq!(seen["hidden"]["message"], "unknown tool `hidden`");

    // The approval: the call waited, told the client how to answer, `pyra approve`
    // answered it, and the run finished in the server.
    let notes = seen["ask_notes"].as_array().unwrap();
    assert!(notes.iter().any(|n| n.as_str().unwrap_or("").contains("waits for approval `confirm`")), "{notes:?}");
    let ask_run = seen["ask"]["meta"]["pyra/run"].as_str().unwrap();
    assert_eq!(seen["approved_by_cli"], serde_json::json!([ask_run, 0]));
    assert_eq!(seen["ask"]["structured"], serde_json::json!({"answer": "answered life", "approved": true}));
    let record = pyra.show(ask_run);
    assert_eq!(record["status"], "succeeded");
    let runs = pyra.run(["runs", "list", "--json"]);
    let skills: Vec<String> = runs.json().as_array().unwrap().iter().map(|r| r["skill"].to_string()).collect();
    assert_eq!(skills.len(), runs_before + 3, "greet, failing and ask ran; nothing else: {skills:?}");
}

#[test]
fn the_python_sdk_calls_skills_with_the_initialize_handshake() {
    python_client("legacy");
}

#[test]
fn the_python_sdk_calls_skills_with_server_discover() {
    python_client("auto");
}

#[test]
fn config_prints_a_snippet_for_each_client() {
    let pyra = Pyra::new();
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_pyra")).unwrap().display().to_string();
    let home = pyra.home_path().display().to_string();
    let json_clients = [
        ("claude-desktop", "/mcpServers/pyra", "claude_desktop_config.json"),
        ("claude", "/mcpServers/pyra", "claude_desktop_config.json"),
        ("claude-code", "/mcpServers/pyra", "claude mcp add-json"),
        ("cursor", "/mcpServers/pyra", "~/.cursor/mcp.json"),
        ("vscode", "/servers/pyra", ".vscode/mcp.json"),
        ("zed", "/context_servers/pyra", "settings.json"),
        ("openclaw", "/mcp/servers/pyra", "mcp.servers"),
    ];
    for (client, pointer, where_to) in json_clients {
        let out = pyra.run(["mcp", "config", "--client", client]);
        out.success().stderr_has(where_to);
        let entry = out.json().pointer(pointer).unwrap_or_else(|| panic!("{client}: {}", out.stdout)).clone();
        assert_eq!(entry["command"], exe.as_str(), "{client}");
        assert_eq!(entry["args"], serde_json::json!(["mcp", "serve"]), "{client}");
        assert_eq!(entry["env"]["PYRA_HOME"], home.as_str(), "{client}: a home that is not the default is named");
    }
    let out = pyra.run(["mcp", "config", "--client", "goose", "--skill", "greet"]);
    out.success().stderr_has("config.yaml");
    assert!(out.stdout.starts_with("extensions:\n  pyra:\n"), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("cmd: \"{exe}\"")), "{}", out.stdout);
    assert!(out.stdout.contains("args: [\"mcp\", \"serve\", \"--skill\", \"greet\"]"), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("\"PYRA_HOME\": \"{home}\"")), "{}", out.stdout);

    // The daemon's HTTP form needs a daemon that serves it.
    let out = pyra.run(["mcp", "config", "--client", "cursor", "--http"]);
    out.code(1).stderr_has("the daemon serves no MCP endpoint");
    assert!(out.stdout.is_empty());
    pyra.run(["mcp", "config", "--client", "notepad"]).code(2).stderr_has("claude-desktop");
}
