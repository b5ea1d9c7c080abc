//! `pyra mcp serve` over stdio against hostile and careless input, through the real
//! binary with raw JSON-RPC lines: malformed lines, a line past the size limit, unknown
//! methods, a call of a skill that exists but is not exposed, inputs that fail the
//! schema — each answered or dropped while the server keeps serving, standard output
//! holding nothing but JSON-RPC; nothing exposed without config; `--skill` narrowing,
//! never widening; a secret a skill reads never reaching the client.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::{Value, json};

use super::home_with_skills;
use crate::harness::Pyra;

/// A running `pyra mcp serve` with its stdin, its stdout lines and its stderr.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Server {
    fn start(pyra: &Pyra, args: &[&str]) -> Server {
        Self::start_with(pyra, args, &[])
    }

    fn start_with(pyra: &Pyra, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = pyra.command(["mcp", "serve"].iter().chain(args));
        cmd.envs(env.iter().copied()).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("pyra mcp serve starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut server = Server { child, stdin, lines };
        server.send(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}));
        let init = server.reply(0);
        assert_eq!(init["result"]["serverInfo"]["name"], "pyra", "{init}");
        server.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        server
    }

    fn raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    fn send(&mut self, message: &Value) {
        let mut line = message.to_string();
        line.push('\n');
        self.raw(line.as_bytes());
    }

    /// The next line on stdout: always one JSON-RPC message.
    fn next(&self) -> Value {
        let line = self.lines.recv_timeout(Duration::from_secs(30)).expect("a reply within 30s");
        let value: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout is not JSON-RPC ({e}): {line}"));
        assert_eq!(value["jsonrpc"], "2.0", "{line}");
        value
    }

    /// The reply to request `id` (other messages, such as notifications, skipped).
    fn reply(&self, id: i64) -> Value {
        loop {
            let message = self.next();
            if message["id"] == id {
                return message;
            }
        }
    }

    fn call(&mut self, id: i64, name: &str, arguments: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}));
        self.reply(id)
    }

    fn tools(&mut self, id: i64) -> Vec<String> {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"}));
        let reply = self.reply(id);
        reply["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
    }

    /// Closes stdin and returns the exit code and stderr.
    fn finish(mut self) -> (i32, String) {
        drop(self.stdin.take());
        let mut stderr = String::new();
        use std::io::Read;
        self.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        let status = self.child.wait().unwrap();
        // Anything left on stdout must be JSON-RPC too.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            let value: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout: {e}: {line}"));
            assert_eq!(value["jsonrpc"], "2.0");
        }
        (status.code().unwrap_or(-1), stderr)
    }
}

fn text(reply: &Value) -> &str {
    reply["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("no text in {reply}"))
}

fn runs(pyra: &Pyra) -> usize {
    pyra.run(["runs", "list", "--json"]).json().as_array().map_or(0, Vec::len)
}

#[test]
fn hostile_lines_are_dropped_or_answered_and_the_server_keeps_serving() {
    let pyra = Pyra::new();
    home_with_skills(&pyra);
    let mut server = Server::start(&pyra, &[]);

    // Not JSON at all, broken JSON, JSON that is no message, binary bytes, an empty line.
    server.raw(b"hello there\n{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\"\n[]\nnull\n\xff\xfe\x00garbage\n\n");
    // A line past the limit (4 MiB) is dropped whole, without being buffered.
    let mut huge =
        br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"greet","arguments":{"who":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'a', 5 * 1024 * 1024));
    huge.extend(b"\"}}}\n");
    server.raw(&huge);
    // An unknown method: -32601.
    server.send(&json!({"jsonrpc": "2.0", "id": 3, "method": "pyra/shell", "params": {"cmd": "id"}}));
    let reply = server.reply(3);
    assert_eq!(reply["error"]["code"], -32601, "{reply}");
    // Params of the wrong shape: an error reply, never a run.
    server.send(&json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": 7}}));
    let reply = server.reply(4);
    assert!(reply["error"]["code"].is_i64(), "{reply}");

    // A built-in skill and a home skill that exist but are not exposed: unknown tools.
    for (id, name) in [(5, "chat"), (6, "hidden"), (7, "../hidden"), (8, "greet\u{1b}[2J")] {
        let reply = server.call(id, name, json!({}));
        assert_eq!(reply["error"]["code"], -32602, "{reply}");
        assert!(reply["error"]["message"].as_str().unwrap().starts_with("unknown tool"), "{reply}");
    }
    // Inputs that fail the skill's schema: a tool error naming them, and no run.
    let reply = server.call(9, "greet", json!({"who": 42, "times": "many", "extra": true}));
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    let why = text(&reply);
    assert!(why.contains("unknown input `extra`") && why.contains("input `who`"), "{why}");
    let reply = server.call(10, "greet", json!({}));
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    assert!(text(&reply).contains("who"), "{reply}");
    assert_eq!(runs(&pyra), 0, "nothing ran");

    // Still serving: a good call after all that.
    let reply = server.call(11, "greet", json!({"who": "Ada"}));
    assert_eq!(reply["result"]["structuredContent"], json!({"greeting": "Hello, Ada!", "times": 1}), "{reply}");
    assert_eq!(server.tools(12), ["ask", "failing", "greet"]);
    let (code, stderr) = server.finish();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(runs(&pyra), 1);
    // A client that goes away before starting a session ends the server quietly.
    let out = pyra.run(["mcp", "serve"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{}", out.stderr);
}

#[test]
fn nothing_is_exposed_without_config_and_skill_only_narrows() {
    let pyra = Pyra::new();
    home_with_skills(&pyra);
    std::fs::remove_file(pyra.home_path().join("config.yaml")).unwrap();
    let mut server = Server::start(&pyra, &["--skill", "greet"]);
    assert!(server.tools(1).is_empty(), "no config, no tools, whatever --skill says");
    let reply = server.call(2, "greet", json!({"who": "Ada"}));
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    let (code, stderr) = server.finish();
    assert_eq!(code, 0);
    assert!(stderr.contains("no skill is exposed") && stderr.contains("mcp: { serve: { skills:"), "{stderr}");

    home_with_skills(&pyra);
    let mut server = Server::start(&pyra, &["--skill", "gr*", "--skill", "ask"]);
    assert_eq!(server.tools(1), ["ask", "greet"]);
    assert_eq!(server.call(2, "failing", json!({}))["error"]["code"], -32602);
    server.finish();
    // Naming a skill config.yaml does not expose is refused before serving.
    let out = pyra.run(["mcp", "serve", "--skill", "hidden"]);
    out.code(2).stderr_has("--skill hidden: no skill that config.yaml's `mcp.serve.skills` exposes");
    assert!(out.stdout.is_empty());
    // A broken config.yaml is reported, not served around.
    std::fs::write(pyra.home_path().join("config.yaml"), "mcp:\n  serve:\n    skils: [greet]\n").unwrap();
    pyra.run(["mcp", "serve"]).code(1).stderr_has("unknown key `skils`");
}

const PASS: &str = "correct horse battery";
const VALUE: &str = "tok-Zq81-secret-4477";

#[test]
fn a_secret_never_reaches_the_client() {
    let pyra = Pyra::new();
    home_with_skills(&pyra);
    for args in [&["vault", "init"][..], &["vault", "set", "plugin:test:token"]] {
        pyra.run_unlocked(PASS, args.iter().copied(), Some(VALUE)).success();
    }
    let skills = pyra.home_path().join("skills");
    std::fs::write(
        skills.join("leaky.yaml"),
        r#"name: leaky
secrets: ["plugin:test:token"]
nodes:
  read:
    uses: template
    with: { value: "token={{ secret('plugin:test:token') }}" }
outputs:
  said: "{{ nodes.read.output }}"
"#,
    )
    .unwrap();
    std::fs::write(
        skills.join("leaky-fail.yaml"),
        r#"name: leaky-fail
secrets: ["plugin:test:token"]
nodes:
  echo:
    uses: exec
    with:
      argv: [sh, -c, 'echo "bad token $TOKEN" >&2; exit 4']
      env: { TOKEN: "{{ secret('plugin:test:token') }}" }
"#,
    )
    .unwrap();
    std::fs::write(pyra.home_path().join("config.yaml"), "mcp: { serve: { skills: [\"leaky*\"] } }\n").unwrap();
    let env = [("PYRA_VAULT_PASSPHRASE", PASS), ("PYRA_VAULT_SCRYPT_LOG_N", "10")];
    let mut server = Server::start_with(&pyra, &[], &env);
    let ok = server.call(1, "leaky", json!({}));
    let failed = server.call(2, "leaky-fail", json!({}));
    let (code, stderr) = server.finish();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ok["result"]["isError"], false, "{ok}");
    // A value rendered from a secret is hidden whole.
    assert_eq!(ok["result"]["structuredContent"]["said"], "[secret:plugin:test:token]", "{ok}");
    assert_eq!(failed["result"]["isError"], true, "{failed}");
    assert!(text(&failed).contains("bad token [secret:plugin:test:token]"), "{failed}");
    for reply in [&ok, &failed] {
        assert!(!reply.to_string().contains(VALUE), "the secret reached the client: {reply}");
    }
    assert!(!stderr.contains(VALUE));
}

#[test]
fn an_approval_nobody_answers_in_time_parks_and_pyra_approve_finishes_it() {
    let pyra = Pyra::new();
    home_with_skills(&pyra);
    let mut server = Server::start(&pyra, &["--approval-wait", "1s"]);
    // The wait's limit passes: the run parks, recorded, and the call says how to go on.
    let reply = server.call(1, "ask", json!({"what": "later"}));
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    let why = text(&reply).to_string();
    assert!(why.contains("waits for an approval (`confirm`)") && why.contains("`pyra approve "), "{why}");
    let parked = why.split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(pyra.show(&parked)["status"], "waiting");

    // The client gives up on a call (notifications/cancelled) while it waits: parked too.
    server.send(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "ask", "arguments": {"what": "never mind"}, "_meta": {"progressToken": "p2"}}}));
    let note = loop {
        let message = server.next();
        if message["method"] == "notifications/progress" {
            break message;
        }
    };
    let note = note["params"]["message"].as_str().unwrap().to_string();
    assert!(note.contains("waits for approval `confirm`") && note.contains("pyra approve"), "{note}");
    let cancelled = note.split_whitespace().nth(1).unwrap().to_string();
    server.send(&json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 2}}));
    crate::daemon::wait_for("the cancelled call's run to park", || {
        let status = pyra.show(&cancelled)["status"].clone();
        if status == "waiting" { Ok(()) } else { Err(status.to_string()) }
    });
    let (code, stderr) = server.finish();
    assert_eq!(code, 0, "{stderr}");

    // The approvals were recorded: `pyra approve` and `pyra reject` finish the runs.
    pyra.run(["approve", &parked]).success();
    let run = pyra.show(&parked);
    assert_eq!(
        (run["status"].as_str(), run["outputs"]["answer"].as_str()),
        (Some("succeeded"), Some("answered later"))
    );
    pyra.run(["reject", &cancelled]).code(1);
    assert_eq!(pyra.show(&cancelled)["status"], "rejected");
}

#[test]
fn inputs_from_a_client_are_untrusted_so_an_exec_reading_them_asks_first() {
    let pyra = Pyra::new();
    home_with_skills(&pyra);
    let marker = pyra.work().join("ran");
    std::fs::write(
        pyra.home_path().join("skills/shout.yaml"),
        format!(
            "name: shout\ninputs:\n  text: {{ type: string }}\nnodes:\n  say:\n    uses: exec\n    with:\n      \
             argv: [sh, -c, 'echo \"$1\" > {}', sh, \"{{{{ inputs.text }}}}\"]\noutputs:\n  said: \
             \"{{{{ nodes.say.output.stdout }}}}\"\n",
            marker.display()
        ),
    )
    .unwrap();
    std::fs::write(pyra.home_path().join("config.yaml"), "mcp: { serve: { skills: [shout] } }\n").unwrap();
    let mut server = Server::start(&pyra, &["--approval-wait", "1s"]);
    let reply = server.call(1, "shout", json!({"text": "; rm -rf ~"}));
    server.finish();
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    assert!(text(&reply).contains("waits for an approval"), "{reply}");
    assert!(!marker.exists(), "the program did not run before anyone approved it");
    let run = text(&reply).split_whitespace().nth(1).unwrap().to_string();
    pyra.run(["approve", &run]).success();
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "; rm -rf ~\n", "an argument, never shell text");
}
