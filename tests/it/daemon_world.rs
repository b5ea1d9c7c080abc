//! The daemon's doors to the world, through the real binary: the vault agent (a run reads
//! its secret from the daemon; locked, a triggered run fails saying how to unlock; every
//! access audited with the pid), approvals (resumed by the daemon at their deadline,
//! `pyra approve` handed to it, kept across a reload), the webhook (good, bad, replayed,
//! stale and oversized deliveries; loopback only) and `install-service --dry-run`.
//! Every daemon is stopped by a guard however the test ends.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::daemon::{Home, wait_for};

const PASS: &str = "agent test passphrase";

/// A daemon started with the vault passphrase in its environment, stopped when dropped.
struct Up<'a> {
    home: &'a Home,
    pid: Option<u32>,
}

impl Drop for Up<'_> {
    fn drop(&mut self) {
        let _ = self.home.pyra.run(["daemon", "stop"]);
        if let Some(pid) = self.pid
            && crate::daemon::alive(pid)
        {
            crate::daemon::kill9(pid);
        }
    }
}

fn start(home: &Home, unlocked: bool) -> Up<'_> {
    let mut cmd = home.pyra.command(["daemon", "start"]);
    if unlocked {
        cmd.env("PYRA_VAULT_PASSPHRASE", PASS).env("PYRA_VAULT_SCRYPT_LOG_N", "10");
    }
    let out = crate::harness::Output::from(cmd.output().expect("pyra runs"));
    let up = Up { home, pid: crate::daemon::pid_in(&out.stdout) };
    out.success();
    up
}

fn vault_with(home: &Home, keys: &[(&str, &str)]) {
    home.pyra.run_unlocked(PASS, ["vault", "init"], None).success();
    for (key, value) in keys {
        home.pyra.run_unlocked(PASS, ["vault", "set", key], Some(value)).success();
    }
}

fn run_of(home: &Home, id: &str) -> Value {
    let out = home.pyra.run(["runs", "show", id, "--json"]);
    serde_json::from_str(&out.stdout).unwrap_or(Value::Null)
}

fn wait_status(home: &Home, id: &str, want: &str) -> Value {
    wait_for(&format!("run {id} {want}"), || {
        let run = run_of(home, id);
        if run["status"] == want { Ok(run) } else { Err(run["status"].to_string()) }
    })
}

/// `pyra emit NAME` through the daemon: the ids of the runs it started.
fn emit(home: &Home, name: &str, data: &str) -> Vec<String> {
    let out = home.pyra.run(["emit", name, "--data", data, "--json"]);
    out.success();
    let reply: Value = serde_json::from_str(&out.stdout).expect("emit --json");
    reply["runs"].as_array().expect("runs").iter().map(|r| r.as_str().unwrap_or_default().to_string()).collect()
}

#[test]
fn the_vault_agent_serves_runs_and_commands_and_a_locked_vault_says_how_to_unlock() {
    let home = Home::new();
    vault_with(&home, &[("api:key", "agent-secret-value")]);
    let skill = "name: sec\nsecrets: [\"api:key\"]\ntriggers:\n  - event: need.secret\nnodes:\n  a:\n    uses: template\n    \
                 with: { value: \"{{ secret('api:key') }}\" }\noutputs:\n  v: \"{{ nodes.a.output }}\"\n";
    home.install("sec", skill);
    let _up = start(&home, true);
    assert_eq!(home.status()["vault"]["state"], "unlocked");

    // A command reads the secret from the daemon: no passphrase here, no terminal.
    let out = home.pyra.run(["run", "sec", "--json"]);
    out.success();
    assert!(!out.stdout.contains("agent-secret-value") && out.stdout.contains("[secret:api:key]"), "{}", out.stdout);
    let audit = std::fs::read_to_string(home.path().join("logs").join("security.log")).expect("security log");
    let line = audit.lines().find(|l| l.contains("\"agent.get\"")).expect("the agent's answer is audited");
    assert!(
        line.contains("\"key\":\"api:key\"") && line.contains("pid ") && !line.contains("agent-secret-value"),
        "{line}"
    );

    // A triggered run reads it too.
    let runs = emit(&home, "need.secret", "{}");
    wait_status(&home, &runs[0], "succeeded");

    // Locked: a triggered run that needs a secret fails, saying how to unlock.
    home.pyra.run(["vault", "lock"]).success();
    assert_eq!(home.status()["vault"]["state"], "locked");
    let runs = emit(&home, "need.secret", "{}");
    let failed = wait_status(&home, &runs[0], "failed");
    assert!(failed.to_string().contains("pyra vault unlock"), "{failed:#}");

    // Unlocked again from the command line.
    let mut cmd = home.pyra.command(["vault", "unlock"]);
    cmd.env("PYRA_VAULT_PASSPHRASE", PASS).env("PYRA_VAULT_SCRYPT_LOG_N", "10");
    crate::harness::Output::from(cmd.output().expect("pyra runs")).success().stderr_has("holds the vault");
    let runs = emit(&home, "need.secret", "{}");
    wait_status(&home, &runs[0], "succeeded");
    // Without a daemon, `vault unlock` says where the agent lives.
    drop(_up);
    home.pyra.run(["vault", "unlock"]).code(1).stderr_has("pyra daemon start");
}

const ASKS: &str = "name: asks\ntriggers:\n  - event: ask\nnodes:\n  ok:\n    uses: approval\n    with: { message: \"go?\", timeout: TIMEOUT, on_timeout: approve }\n  \
                    after:\n    uses: template\n    needs: [ok]\n    with: { value: \"{{ nodes.ok.output.by }}\" }\noutputs:\n  by: \"{{ nodes.after.output }}\"\n";

#[test]
fn a_waiting_run_is_resumed_by_the_daemon_at_its_deadline() {
    let home = Home::new();
    home.install("asks", &ASKS.replace("TIMEOUT", "2s"));
    let _up = start(&home, false);
    let runs = emit(&home, "ask", "{}");
    // Nobody answers: at the deadline the daemon resumes it and on_timeout applies.
    let run = wait_status(&home, &runs[0], "succeeded");
    assert_eq!(run["outputs"]["by"], "timeout", "{run:#}");
    assert_eq!(run["trigger"], "event");
}

#[test]
fn an_answer_to_a_daemon_run_is_handed_to_the_daemon_and_survives_a_reload() {
    let home = Home::new();
    home.install("asks", &ASKS.replace("TIMEOUT", "1h"));
    let _up = start(&home, false);
    let runs = emit(&home, "ask", "{}");
    wait_status(&home, &runs[0], "waiting");
    // An edit of the skill and a reload leave the waiting run alone.
    home.install("asks", &ASKS.replace("TIMEOUT", "2h").replace("go?", "really go?"));
    home.pyra.run(["daemon", "reload"]).success();
    assert_eq!(run_of(&home, &runs[0])["status"], "waiting");
    home.pyra.run(["approve", &runs[0]]).success().stderr_has("the daemon continues run");
    let run = wait_status(&home, &runs[0], "succeeded");
    assert!(run["outputs"]["by"].as_str().unwrap_or_default().starts_with("cli"), "{run:#}");
}

/// A free loopback port (bound, then released for the daemon to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn post(port: u16, path: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let mut head =
        format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n");
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

fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[test]
fn the_webhook_accepts_signed_deliveries_once_and_refuses_the_rest() {
    let home = Home::new();
    let secret = "webhook-shared-secret";
    vault_with(&home, &[("webhook:deploy", secret)]);
    home.install(
        "deployed",
        "name: deployed\ntriggers:\n  - event: deploy\n    with: { repo: \"{{ event.data.repo }}\" }\ninputs:\n  repo: { type: string }\n\
         nodes:\n  a:\n    uses: template\n    with: { value: \"{{ inputs.repo }}\" }\noutputs:\n  repo: \"{{ nodes.a.output }}\"\n",
    );
    let port = free_port();
    std::fs::write(home.path().join("config.yaml"), format!("daemon:\n  webhook: {{ listen: 127.0.0.1:{port} }}\n"))
        .expect("config");
    let _up = start(&home, true);
    wait_for("the webhook to listen", || TcpStream::connect(("127.0.0.1", port)).map(drop).map_err(|e| e.to_string()));

    let body = br#"{"repo":"pyra"}"#;
    let signed =
        |id: &str| vec![("X-Hub-Signature-256", github_signature(secret, body)), ("X-GitHub-Delivery", id.to_string())];
    let (code, reply) = post(port, "/hooks/deploy", &signed("d-1"), body);
    assert_eq!(code, 202, "{reply}");
    let run = wait_for("the webhook's run", || {
        let out = home.pyra.run(["runs", "list", "--json"]);
        let runs: Vec<Value> = serde_json::from_str(&out.stdout).unwrap_or_default();
        runs.into_iter().find(|r| r["status"] == "succeeded").ok_or_else(|| out.stdout.clone())
    });
    assert_eq!((run["trigger"].as_str(), run["outputs"]["repo"].as_str()), (Some("webhook"), Some("pyra")), "{run:#}");

    // The same delivery again is refused, and starts nothing.
    assert_eq!(post(port, "/hooks/deploy", &signed("d-1"), body).0, 409);
    // A wrong or missing signature: 401.
    let forged =
        vec![("X-Hub-Signature-256", github_signature("not the secret", body)), ("X-GitHub-Delivery", "d-2".into())];
    assert_eq!(post(port, "/hooks/deploy", &forged, body).0, 401);
    assert_eq!(post(port, "/hooks/deploy", &[("X-GitHub-Delivery", "d-3".to_string())], body).0, 401);
    // Standard Webhooks with a timestamp an hour old: stale, 401.
    let stamp = (chrono::Utc::now().timestamp() - 3600).to_string();
    let stale = vec![
        ("webhook-id", "msg_1".to_string()),
        ("webhook-timestamp", stamp),
        ("webhook-signature", "v1,AAAA".into()),
    ];
    assert_eq!(post(port, "/hooks/deploy", &stale, body).0, 401);
    // Over 1 MiB declared: 413 before anything is read.
    let big = vec![("Content-Length", (2 << 20).to_string())];
    assert_eq!(post(port, "/hooks/deploy", &big, b"").0, 413);
    // An unknown hook: 404.
    assert_eq!(post(port, "/hooks/other", &signed("d-4"), body).0, 404);

    let out = home.pyra.run(["runs", "list", "--json"]);
    let runs: Vec<Value> = serde_json::from_str(&out.stdout).expect("runs");
    assert_eq!(runs.len(), 1, "only the one good delivery ran: {runs:#?}");
}

#[test]
fn a_webhook_on_a_public_address_is_refused_before_the_daemon_starts() {
    let home = Home::new();
    std::fs::write(home.path().join("config.yaml"), "daemon:\n  webhook: { listen: 0.0.0.0:8787 }\n").expect("config");
    let out = home.pyra.run(["daemon", "start"]);
    out.code(1);
    assert!(out.stderr.contains("loopback"), "{}", out.stderr);
    assert_eq!(home.status()["running"], false);
}

#[test]
#[allow(clippy::print_stderr, reason = "a skipped check says why in the test's output")]
fn install_service_dry_run_prints_a_unit_that_systemd_accepts() {
    let home = Home::new();
    let out = home.pyra.run(["daemon", "install-service", "--dry-run"]);
    out.success().stdout_has("Type=notify").stdout_has("Restart=on-failure").stdout_has("daemon start --foreground");
    assert!(out.stdout.contains(&home.path().display().to_string()), "the unit serves this home: {}", out.stdout);
    // `# PATH`, the unit's text, then `# steps:` and the commands.
    let unit: String = out.stdout.lines().skip(1).take_while(|l| *l != "# steps:").collect::<Vec<_>>().join("\n");
    let verify = std::process::Command::new("systemd-analyze").arg("--version").stdout(Stdio::null()).status();
    if verify.is_err() {
        assert!(std::env::var_os("PYRA_REQUIRE_SYSTEMD_ANALYZE").is_none(), "systemd-analyze is required here");
        eprintln!("note: systemd-analyze is not installed; the unit was not verified");
        return;
    }
    let dir = tempfile::tempdir().expect("temp");
    let file = dir.path().join("pyra-test.service");
    std::fs::write(&file, format!("{unit}\n")).expect("unit");
    let checked = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&file)
        .output()
        .expect("systemd-analyze runs");
    let stderr = String::from_utf8_lossy(&checked.stderr);
    let about_unit: Vec<&str> = stderr.lines().filter(|l| l.contains("pyra-test.service")).collect();
    assert!(checked.status.success() && about_unit.is_empty(), "{stderr}");
}
