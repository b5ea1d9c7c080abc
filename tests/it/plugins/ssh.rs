//! The `ssh` and `server` built-ins through the real binary against Debian's OpenSSH
//! server, started once per test binary on a free loopback port with a host key and two
//! client keys made here and pinned in a `known_hosts` file: argv arrives word for word
//! (no shell injection), the allowlist runs without asking and anything else waits for its
//! approval, a changed host key is refused with the fix, `server.status` is read-only and
//! runs unasked, restart and update ask and then take effect (on stubs of `systemctl`,
//! `journalctl` and `apt-get` first on the stubbed key's PATH).

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use crate::harness::Pyra;

/// The OpenSSH server of this test binary.
pub struct Sshd {
    pub dir: PathBuf,
    pub port: u16,
    _child: Mutex<Child>,
    _reaper: Mutex<ChildStdin>,
}

static SSHD: LazyLock<Option<Sshd>> = LazyLock::new(|| match start() {
    Ok(sshd) => Some(sshd),
    Err(why) => {
        let required = std::env::var_os("PYRA_REQUIRE_PLUGIN_PEERS").is_some_and(|v| v == "1");
        assert!(!required, "PYRA_REQUIRE_PLUGIN_PEERS=1 but sshd cannot run: {why}");
        #[allow(clippy::print_stderr, reason = "a skipped test says why")]
        {
            eprintln!("skipped: {why}");
        }
        None
    }
});

fn sshd() -> Option<&'static Sshd> {
    SSHD.as_ref()
}

/// A process that runs `script` (`sh -c`, with `args` as `$1`…) once this test binary
/// ends, however it ends: it waits on a pipe whose writing end only this process holds
/// (statics are never dropped), so a peer never outlives the tests.
pub(super) fn reaper(script: &str, args: &[String]) -> std::io::Result<ChildStdin> {
    let mut child = Command::new("sh")
        .args(["-c", &format!("read _; {script}"), "reaper"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    child.stdin.take().ok_or_else(|| std::io::Error::other("no stdin"))
}

/// Kills sshd (`$1`) and its sessions (each in a session of its own, so not in its
/// group), then removes its directory (`$2`). Children are found in /proc (no `ps`).
const SSHD_REAPER: &str = r#"kids=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v p="$1" '$4 == p {print $1}')
kill -KILL $kids "$1" 2>/dev/null; sleep 1; rm -rf "$2""#;

fn keygen(path: &Path) -> Result<(), String> {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "pyra-test", "-f"])
        .arg(path)
        .output()
        .map_err(|e| format!("ssh-keygen: {e}"))?;
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn write_exe(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn start() -> Result<Sshd, String> {
    let sshd = Path::new("/usr/sbin/sshd");
    if !sshd.exists() {
        return Err("/usr/sbin/sshd is not installed (Debian: openssh-server)".into());
    }
    let dir = tempfile::Builder::new().prefix("pyra-sshd").tempdir().map_err(|e| e.to_string())?.keep();
    for key in ["host_key", "other_host_key", "client_key", "stub_key"] {
        keygen(&dir.join(key))?;
    }
    // Stubs first on the stubbed key's PATH: they record what they were asked to do.
    let stub = dir.join("stub");
    std::fs::create_dir_all(&stub).map_err(|e| e.to_string())?;
    let log = dir.join("stub.log");
    write_exe(
        &stub.join("systemctl"),
        &format!(
            "#!/bin/sh\necho \"systemctl $*\" >> '{log}'\ncase \"$1\" in\n  --failed) echo 'pyra-test.service loaded failed failed A test unit';;\n  is-active) echo active;;\nesac\n",
            log = log.display()
        ),
    );
    write_exe(
        &stub.join("journalctl"),
        "#!/bin/sh\necho \"2026-01-01T00:00:00+0000 box test[1]: journal of $2, last $4\"\n",
    );
    write_exe(
        &stub.join("apt-get"),
        &format!(
            "#!/bin/sh\necho \"DEBIAN_FRONTEND=$DEBIAN_FRONTEND apt-get $*\" >> '{log}'\necho \"stub apt-get $*\"\n",
            log = log.display()
        ),
    );
    let public = |k: &str| read(&dir.join(format!("{k}.pub"))).trim().to_string();
    let authorized = format!(
        "{}\nenvironment=\"PATH={}:/usr/local/bin:/usr/bin:/bin\" {}\n",
        public("client_key"),
        stub.display(),
        public("stub_key")
    );
    std::fs::write(dir.join("authorized_keys"), authorized).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("ssh_config"), "# the tests' own: not the machine's ssh config\n")
        .map_err(|e| e.to_string())?;
    // Privilege separation wants this directory when sshd runs as root.
    let _ = std::fs::create_dir_all("/run/sshd");
    let began = Instant::now();
    for _ in 0..3 {
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nStrictModes no\nUsePAM no\n\
             PidFile {d}/sshd.pid\nPermitRootLogin prohibit-password\nPermitUserEnvironment yes\n",
            d = dir.display()
        );
        std::fs::write(dir.join("sshd_config"), config).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.join("sshd.log")).map_err(|e| e.to_string())?;
        let mut child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run sshd: {e}"))?;
        let reaper = reaper(SSHD_REAPER, &[child.id().to_string(), dir.to_string_lossy().into_owned()])
            .map_err(|e| e.to_string())?;
        while began.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(status)) = child.try_wait() {
                let said = read(&dir.join("sshd.log"));
                if said.contains("Address already in use") {
                    break;
                }
                return Err(format!("sshd exited with {status}: {said}"));
            }
            let mut banner = [0u8; 4];
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port))
                && s.read_exact(&mut banner).is_ok()
                && &banner == b"SSH-"
            {
                let pin = |key: &str| format!("[127.0.0.1]:{port} {}\n", public(key));
                std::fs::write(dir.join("known_hosts"), pin("host_key")).map_err(|e| e.to_string())?;
                std::fs::write(dir.join("changed_known_hosts"), pin("other_host_key")).map_err(|e| e.to_string())?;
                return Ok(Sshd { dir, port, _child: Mutex::new(child), _reaper: Mutex::new(reaper) });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut reaper = reaper;
        let _ = reaper.write_all(b"\n");
    }
    Err("sshd found no free port in three tries".into())
}

impl Sshd {
    /// `pyra plugin add NAME --builtin ID` against this server with `key`'s identity and
    /// `known_hosts` pinned, plus `extra` settings.
    fn add(&self, pyra: &Pyra, name: &str, id: &str, key: &str, known_hosts: &str, extra: &[&str]) {
        let d = self.dir.display();
        let mut argv: Vec<String> = ["plugin", "add", name, "--builtin", id, "--yes"].map(String::from).to_vec();
        let settings = [
            "host=127.0.0.1".to_string(),
            format!("port={}", self.port),
            "user=root".into(),
            format!("identity={d}/{key}"),
            format!("known_hosts={d}/{known_hosts}"),
            format!("config={d}/ssh_config"),
        ];
        for s in settings.iter().map(String::as_str).chain(extra.iter().copied()) {
            argv.push("--setting".into());
            argv.push(s.into());
        }
        pyra.run(&argv).success();
    }

    fn stub_log(&self) -> String {
        read(&self.dir.join("stub.log"))
    }
}

/// Runs a one-node skill; returns its output's structured value, or the failed output.
pub(super) fn run(pyra: &Pyra, uses: &str, with: &str) -> crate::harness::Output {
    let yaml = format!(
        "name: t\nnodes:\n  t:\n    uses: {uses}\n    with: {with}\noutputs:\n  text: \"{{{{ nodes.t.output.text }}}}\"\n  structured: \"{{{{ nodes.t.output.structured }}}}\"\n"
    );
    let skill = pyra.skill("t", &yaml);
    pyra.run(["run", &skill, "--json"])
}

/// Approves the waiting run's tool call and returns the approval's output.
pub(super) fn approve(pyra: &Pyra) -> crate::harness::Output {
    let id = pyra.last_run();
    let show = pyra.show(&id);
    let sub = show["approvals"][0]["node"].as_str().unwrap_or_default().to_string();
    assert!(sub.starts_with("t#tool:"), "{show}");
    pyra.run(["approve", &id, &sub])
}

pub(super) fn outputs(pyra: &Pyra) -> serde_json::Value {
    pyra.show(&pyra.last_run())["outputs"].clone()
}

#[test]
fn ssh_exec_passes_argv_word_for_word_and_asks_outside_the_allowlist() {
    let Some(sshd) = sshd() else { return };
    let pyra = Pyra::new();
    let work = pyra.work();
    sshd.add(&pyra, "box", "ssh", "client_key", "known_hosts", &["allow=uptime, printf **, touch *"]);
    let manifest = read(&pyra.home_path().join("plugins/box/plugin.yaml"));
    assert!(manifest.contains("    exec: allow\n"), "{manifest}");

    // On the allowlist: runs without asking.
    let out = run(&pyra, "box.exec", "{ argv: [uptime] }");
    out.success();
    assert!(out.json()["text"].as_str().unwrap().contains("load average"), "{:?}", out);
    // The run went through a multiplexing master of its own, and nothing of ssh outlives it.
    let dir = pyra.home_path().join("plugins/box");
    let sockets =
        std::fs::read_dir(&dir).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with("cm-"));
    assert_eq!(sockets.count(), 1, "the master's socket (left by its SIGKILL, removed by the next master)");
    assert!(ssh_of(&dir).is_empty(), "no ssh left: {:?}", ssh_of(&dir));

    // Quotes, spaces, `;` and `$(…)` arrive as literal words: nothing is run by a shell.
    let mark = work.join("injected");
    let hostile = format!("a b 'c' \"d\"; touch {}", mark.display());
    let sub = format!("$(touch {})", mark.display());
    let with = serde_json::json!({ "argv": ["printf", "[%s]\n", hostile, sub] }).to_string();
    let out = run(&pyra, "box.exec", &with);
    out.success();
    assert_eq!(out.json()["text"], format!("[{hostile}]\n[{sub}]\n"), "{out:?}");
    assert!(!mark.exists(), "no shell ran the text");

    // Off the allowlist: waits for its approval and has not run; runs once approved.
    let made = work.join("made");
    let with = serde_json::json!({ "argv": ["mkdir", made] }).to_string();
    run(&pyra, "box.exec", &with).code(3).stderr_has("waits for an approval");
    let show = pyra.show(&pyra.last_run());
    let why = show["approvals"][0]["details"]["why"].as_str().unwrap_or_default().to_string();
    assert!(why.contains("matches no entry of the plugin's allowlist"), "{show}");
    assert!(!made.exists(), "nothing ran before the approval");
    approve(&pyra).success();
    assert!(made.is_dir(), "it ran once approved");

    // A wildcard never stands for an option.
    run(&pyra, "box.exec", "{ argv: [touch, --help] }").code(3);

    // A program the server lacks, and a failing one: the tool's error says which.
    let out = run(&pyra, "box.exec", "{ argv: [printf] }");
    out.code(1).stderr_has("`printf` exited with code");
    sshd.add(
        &pyra,
        "tiny",
        "ssh",
        "client_key",
        "known_hosts",
        &["allow=pyra-no-such-program, printf **", "max_output=1024"],
    );
    run(&pyra, "tiny.exec", "{ argv: [pyra-no-such-program] }")
        .code(1)
        .stderr_has("`pyra-no-such-program` is not installed on");

    // A huge answer is cut at `max_output`, and says so.
    let huge = "x".repeat(50_000);
    let out = run(&pyra, "tiny.exec", &serde_json::json!({ "argv": ["printf", "%s", huge] }).to_string());
    out.success();
    let text = out.json()["text"].as_str().unwrap().to_string();
    assert!(text.len() < 1200 && text.ends_with("[output cut at `settings.max_output`]"), "{text}");
}

#[test]
fn a_changed_host_key_is_refused_and_the_message_says_how_to_check() {
    let Some(sshd) = sshd() else { return };
    let pyra = Pyra::new();
    sshd.add(&pyra, "box", "ssh", "client_key", "changed_known_hosts", &["allow=touch *"]);
    let mark = pyra.work().join("ran");
    let with = serde_json::json!({ "argv": ["touch", mark] }).to_string();
    let out = run(&pyra, "box.exec", &with);
    let host = format!("root@127.0.0.1:{}", sshd.port);
    out.code(1)
        .stderr_has(&format!("refused: the host key of {host} has CHANGED"))
        .stderr_has("Nothing was run")
        .stderr_has(&format!(
            "ssh-keygen -R '[127.0.0.1]:{}' -f {}",
            sshd.port,
            sshd.dir.join("changed_known_hosts").display()
        ));
    assert!(!mark.exists());

    // No pinned key at all: refused too, and said so.
    let empty = sshd.dir.join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    sshd.add(&pyra, "new", "ssh", "client_key", "empty_known_hosts", &["allow=touch *"]);
    run(&pyra, "new.exec", &with).code(1).stderr_has("no host key of").stderr_has("ssh-keyscan -p");
    assert!(!mark.exists());
}

#[test]
fn server_status_is_read_only_and_a_missing_systemd_is_no_failure() {
    let Some(sshd) = sshd() else { return };
    let pyra = Pyra::new();
    sshd.add(&pyra, "srv", "server", "client_key", "known_hosts", &[]);
    let manifest = read(&pyra.home_path().join("plugins/srv/plugin.yaml"));
    for rule in ["status: allow", "logs: allow", "restart_service: ask", "update: ask"] {
        assert!(manifest.contains(rule), "{manifest}");
    }
    let out = run(&pyra, "srv.status", "{}");
    out.success();
    let s = &outputs(&pyra)["structured"];
    assert!(s["uptime"].as_str().unwrap().contains("load average"), "{s}");
    assert_eq!(s["load"].as_array().map(Vec::len), Some(3), "{s}");
    assert!(s["memory"]["total_mb"].as_u64().unwrap() > 0, "{s}");
    assert!(s["disk"].as_array().is_some_and(|d| !d.is_empty()), "{s}");
    let units = s["checks"].as_array().unwrap().iter().find(|c| c["name"] == "failed_units").unwrap();
    // This sandbox has no systemd: `systemctl` is missing or cannot talk to it.
    if units["state"] != "ok" {
        assert!(units["state"] == "missing" || units["state"] == "unavailable", "{units}");
    }
    // A unit name is checked before anything runs.
    run(&pyra, "srv.logs", "{ unit: 'a;reboot' }").code(1).stderr_has("is not a unit name");
}

#[test]
fn restart_and_update_ask_then_take_effect() {
    let Some(sshd) = sshd() else { return };
    let pyra = Pyra::new();
    sshd.add(&pyra, "stub", "server", "stub_key", "known_hosts", &[]);
    // The stubbed key's PATH finds the stubs (the failed unit only they report): so the
    // approved update below runs the stub, never this machine's apt-get.
    run(&pyra, "stub.status", "{}").success();
    let s = &outputs(&pyra)["structured"];
    assert_eq!(s["failed_units"], serde_json::json!(["pyra-test.service"]), "{s}");
    assert_eq!(s["healthy"], false, "{s}");
    assert!(s["problems"][0].as_str().unwrap().contains("pyra-test.service has failed"), "{s}");

    let out = run(&pyra, "stub.logs", "{ unit: pyra-test.service, lines: 5 }");
    out.success();
    assert!(out.json()["text"].as_str().unwrap().contains("journal of pyra-test.service, last 5"), "{out:?}");

    // The example health check: an unhealthy server is reported on a channel (none is set
    // up here, so the attempt to send is the error).
    sshd.add(&pyra, "web1", "server", "stub_key", "known_hosts", &[]);
    let example = crate::harness::repo_root().join("examples/server-health.yaml");
    pyra.run(["run", &example.to_string_lossy()]).code(1).stderr_has("no telegram channel is set up");
    let show = pyra.show(&pyra.last_run());
    assert_eq!(crate::harness::node(&show, "status")["status"], "succeeded", "{show}");
    let alert = crate::harness::node(&show, "alert")["input"]["text"].as_str().unwrap_or_default().to_string();
    assert!(alert.contains("- unit pyra-test.service has failed"), "{show}");

    run(&pyra, "stub.restart_service", "{ unit: pyra-test.service }").code(3).stderr_has("waits for an approval");
    assert!(!sshd.stub_log().contains("restart"), "not restarted before the approval");
    approve(&pyra).success();
    assert!(sshd.stub_log().contains("systemctl restart pyra-test.service"), "{}", sshd.stub_log());
    assert!(outputs(&pyra)["text"].as_str().unwrap().contains("it is active"));

    run(&pyra, "stub.update", "{ packages: [openssl] }").code(3).stderr_has("waits for an approval");
    assert!(!sshd.stub_log().contains("upgrade"), "nothing updated before the approval");
    approve(&pyra).success();
    let log = sshd.stub_log();
    assert!(log.contains("DEBIAN_FRONTEND=noninteractive apt-get -y -q update"), "{log}");
    assert!(log.contains("apt-get -y -q install --only-upgrade -- openssl"), "{log}");
}

/// The `ssh` processes whose command line names `dir` (a master's control path).
fn ssh_of(dir: &std::path::Path) -> Vec<String> {
    let needle = dir.to_string_lossy().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let line = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z');
        // A master `ssh` detached itself would be titled `ssh: PATH [mux]`.
        if line.starts_with("ssh") && line.contains(&needle) && !zombie {
            found.push(line);
        }
    }
    found
}
