//! The `docker` built-in through the real binary against Debian's dockerd (20.10, API
//! 1.41), started once per test binary in a short temp directory with no iptables, no
//! bridge and the vfs driver, and a busybox image imported offline (a root file system of
//! `busybox-static` and its links): `run` waits for its approval and no container exists
//! before, runs with no network, then `logs`, `ps`, `inspect` (environment values hidden),
//! `stop` and `rm` (asking); the API version is negotiated down, and a pinned one the
//! daemon lacks is explained.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use super::ssh::{approve, outputs, reaper, run};
use crate::harness::Pyra;

const IMAGE: &str = "pyra-busybox:test";
/// 2000 lines of filler, then a greeting, the network interfaces and a line on stderr.
const FILLER: &str = "i=0; while [ $i -lt 2000 ]; do echo filler line $i; i=$((i+1)); done; \
                      echo hello from busybox; ls /sys/class/net; echo oops >&2";

pub struct Dockerd {
    socket: PathBuf,
    _child: Mutex<Child>,
    _reaper: Mutex<ChildStdin>,
}

static DOCKERD: LazyLock<Option<Dockerd>> = LazyLock::new(|| match start() {
    Ok(d) => Some(d),
    Err(why) => {
        let required = std::env::var_os("PYRA_REQUIRE_PLUGIN_PEERS").is_some_and(|v| v == "1");
        assert!(!required, "PYRA_REQUIRE_PLUGIN_PEERS=1 but dockerd cannot run: {why}");
        #[allow(clippy::print_stderr, reason = "a skipped test says why")]
        {
            eprintln!("skipped: {why}");
        }
        None
    }
});

/// Stops dockerd (`$1`) with SIGTERM (it stops its containers and containerd), waits for
/// it, then kills what is left: containerd's session (the shims) and their children
/// (containers), unmounts what it left under `$2` and removes `$2`. Processes are found
/// in /proc (`procs VALUE FIELD`: 4 the parent, 6 the session), so `ps` is not needed.
const DOCKERD_REAPER: &str = r#"procs() { cat /proc/[0-9]*/stat 2>/dev/null | awk -v n="$2" -v v="$1" '$n == v {print $1}'; }
containerd=$(procs "$1" 4); kill -TERM "$1"
i=0; while [ $i -lt 300 ]; do s=$(awk '{print $3}' /proc/"$1"/stat 2>/dev/null); [ -z "$s" ] || [ "$s" = Z ] && break; sleep 0.1; i=$((i+1)); done
for c in $containerd; do for p in $(procs "$c" 6); do kill -KILL $(procs "$p" 4) "$p" 2>/dev/null; done; done
kill -KILL "$1" 2>/dev/null
awk -v d="$2" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read m; do umount -l "$m"; done
rm -rf "$2""#;

/// One HTTP/1.0 request to the daemon (so the answer is not chunked): status and body.
fn http(socket: &Path, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let mut s = UnixStream::connect(socket)?;
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: docker\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

fn start() -> Result<Dockerd, String> {
    let dockerd = ["/usr/sbin/dockerd", "/usr/bin/dockerd"].into_iter().map(Path::new).find(|p| p.exists());
    let Some(dockerd) = dockerd else { return Err("dockerd is not installed (Debian: docker.io)".into()) };
    let busybox = Path::new("/usr/bin/busybox");
    if !busybox.exists() {
        return Err("/usr/bin/busybox is not installed (Debian: busybox-static)".into());
    }
    // Short: the daemon's sockets live under it.
    let dir = tempfile::Builder::new().prefix("pd").tempdir_in("/tmp").map_err(|e| e.to_string())?.keep();
    let d = dir.display();
    let log = std::fs::File::create(dir.join("dockerd.log")).map_err(|e| e.to_string())?;
    let child = Command::new(dockerd)
        .arg(format!("--host=unix://{d}/docker.sock"))
        .arg(format!("--data-root={d}/data"))
        .arg(format!("--exec-root={d}/exec"))
        .arg(format!("--pidfile={d}/dockerd.pid"))
        .args(["--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run dockerd: {e}"))?;
    let reaper = reaper(DOCKERD_REAPER, &[child.id().to_string(), dir.to_string_lossy().into_owned()])
        .map_err(|e| e.to_string())?;
    let mut child = child;
    let socket = dir.join("docker.sock");
    let began = Instant::now();
    loop {
        if let Ok((200, _)) = http(&socket, "GET", "/_ping", b"") {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let said = std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default();
            let tail: Vec<&str> = said.lines().rev().take(15).collect();
            return Err(format!("dockerd exited with {status}: {}", tail.join("\n")));
        }
        if began.elapsed() > Duration::from_secs(60) {
            return Err(format!("dockerd did not answer within 60 s; its log: {d}/dockerd.log"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // The image, offline: busybox and its links as a root file system.
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).map_err(|e| e.to_string())?;
    std::fs::copy(busybox, root.join("bin/busybox")).map_err(|e| e.to_string())?;
    for link in ["sh", "echo", "sleep", "cat", "ls", "env"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(link)).map_err(|e| e.to_string())?;
    }
    let tar =
        Command::new("tar").arg("-C").arg(&root).args(["-cf", "-", "."]).output().map_err(|e| format!("tar: {e}"))?;
    if !tar.status.success() {
        return Err(format!("tar failed: {}", String::from_utf8_lossy(&tar.stderr)));
    }
    let (status, said) =
        http(&socket, "POST", "/v1.41/images/create?fromSrc=-&repo=pyra-busybox&tag=test", &tar.stdout)
            .map_err(|e| e.to_string())?;
    if status != 200 || said.contains("\"error") {
        return Err(format!("importing the image failed ({status}): {said}"));
    }
    Ok(Dockerd { socket, _child: Mutex::new(child), _reaper: Mutex::new(reaper) })
}

impl Dockerd {
    fn add(&self, pyra: &Pyra, name: &str, extra: &[&str]) {
        let host = format!("host=unix://{}", self.socket.display());
        let mut argv: Vec<&str> = vec!["plugin", "add", name, "--builtin", "docker", "--yes"];
        if !extra.iter().any(|s| s.starts_with("host=")) {
            argv.extend(["--setting", &host]);
        }
        for s in extra {
            argv.push("--setting");
            argv.push(s);
        }
        pyra.run(&argv).success();
    }

    /// Whether a container of this name runs, asked of the daemon directly.
    fn running(&self, name: &str) -> bool {
        let (status, body) = http(&self.socket, "GET", &format!("/v1.41/containers/{name}/json"), b"").unwrap();
        status == 200 && body.contains("\"Running\":true")
    }

    /// Whether a container of this name exists, asked of the daemon directly.
    fn exists(&self, name: &str) -> bool {
        let (status, body) = http(&self.socket, "GET", &format!("/v1.41/containers/{name}/json"), b"").unwrap();
        assert!(status == 200 || status == 404, "{status}: {body}");
        status == 200
    }
}

fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

#[test]
fn run_asks_first_then_logs_ps_inspect_stop_and_rm() {
    let Some(d) = DOCKERD.as_ref() else { return };
    let pyra = Pyra::new();
    d.add(&pyra, "dk", &[]);
    let manifest = std::fs::read_to_string(pyra.home_path().join("plugins/dk/plugin.yaml")).unwrap();
    for rule in ["ps: allow", "images: allow", "logs: allow", "inspect: allow", "run: ask", "rm: ask", "stop: ask"] {
        assert!(manifest.contains(rule), "{manifest}");
    }
    let out = run(&pyra, "dk.images", "{}");
    out.success().stdout_has(IMAGE);

    // run: waits for its approval, and no container exists before it.
    let once = unique("once");
    let with = serde_json::json!({ "image": IMAGE, "name": once, "argv": ["sh", "-c", FILLER] });
    run(&pyra, "dk.run", &with.to_string()).code(3).stderr_has("waits for an approval");
    assert!(!d.exists(&once), "no container before the approval");
    approve(&pyra).success();
    let o = outputs(&pyra);
    let text = o["text"].as_str().unwrap();
    // No network by default: only the loopback interface.
    assert!(text.contains("hello from busybox") && text.lines().any(|l| l.trim() == "lo"), "{o}");
    assert!(!text.contains("eth0"), "{o}");
    assert_eq!(o["structured"]["exit_code"], 0, "{o}");
    assert_eq!(o["structured"]["network"], "none", "{o}");
    assert!(d.exists(&once));

    let logs_of = |tail: u32| {
        run(&pyra, "dk.logs", &serde_json::json!({ "container": once, "tail": tail }).to_string()).success();
        outputs(&pyra)["structured"].clone()
    };
    let logs = logs_of(10_000);
    assert!(logs["stdout"].as_str().unwrap().contains("filler line 0\nfiller line 1\n"), "{logs}");
    assert!(logs["stdout"].as_str().unwrap().ends_with("hello from busybox\nlo\n"), "{logs}");
    assert_eq!(logs["stderr"], "oops\n", "{logs}");
    // The last 5 lines, of both streams.
    let logs = logs_of(5);
    let lines = logs["stdout"].as_str().unwrap().lines().count() + logs["stderr"].as_str().unwrap().lines().count();
    assert_eq!(lines, 5, "{logs}");
    // A log larger than `max_output` is cut, and says so.
    d.add(&pyra, "small", &["max_output=1024"]);
    let out = run(&pyra, "small.logs", &serde_json::json!({ "container": once, "tail": 10000 }).to_string());
    out.success();
    let logs = &outputs(&pyra)["structured"];
    assert_eq!(logs["truncated"], true, "{logs}");
    assert!(logs["stdout"].as_str().unwrap().len() <= 1024, "{logs}");
    assert!(out.json()["text"].as_str().unwrap().ends_with("[log cut at `settings.max_output`]"));

    // A service: left running; its environment's values never shown.
    let svc = unique("svc");
    let with = serde_json::json!({ "image": IMAGE, "name": svc, "argv": ["sleep", "1000"], "wait": false, "env": { "DB_PASSWORD": "hunter2-not-shown" } });
    run(&pyra, "dk.run", &with.to_string()).code(3);
    approve(&pyra).success();
    let out = run(&pyra, "dk.ps", "{}");
    out.success();
    let listed = &outputs(&pyra)["structured"]["containers"];
    let row = listed.as_array().unwrap().iter().find(|c| c["names"][0] == svc.as_str()).cloned();
    assert_eq!(row.map(|r| r["state"].clone()), Some(serde_json::json!("running")), "{listed}");
    let out = run(&pyra, "dk.inspect", &serde_json::json!({ "container": svc }).to_string());
    out.success();
    assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);
    let info = &outputs(&pyra)["structured"];
    assert_eq!(info["HostConfig"]["NetworkMode"], "none", "{info}");
    assert!(info["Config"]["Env"].as_array().unwrap().contains(&serde_json::json!("DB_PASSWORD=[hidden]")), "{info}");

    // stop, start and rm ask; nothing happens before the approval.
    let state = |pyra: &Pyra| outputs(pyra)["structured"]["state"].clone();
    run(&pyra, "dk.stop", &serde_json::json!({ "container": svc, "timeout": 1 }).to_string()).code(3);
    assert!(d.running(&svc), "not stopped before the approval");
    approve(&pyra).success();
    assert_eq!(state(&pyra), "exited");
    run(&pyra, "dk.start", &serde_json::json!({ "container": svc }).to_string()).code(3);
    assert!(!d.running(&svc), "not started before the approval");
    approve(&pyra).success();
    assert_eq!(state(&pyra), "running");
    // A running container is removed only with `force`: the error says so.
    run(&pyra, "dk.rm", &serde_json::json!({ "container": svc }).to_string()).code(3);
    approve(&pyra).code(1).stderr_has("pass `force: true`");
    run(&pyra, "dk.rm", &serde_json::json!({ "container": svc, "force": true }).to_string())
        .code(3)
        .stderr_has("waits for an approval");
    assert!(d.exists(&svc), "not removed before the approval");
    approve(&pyra).success();
    assert!(!d.exists(&svc), "removed once approved");
    run(&pyra, "dk.rm", &serde_json::json!({ "container": once }).to_string()).code(3);
    approve(&pyra).success();
    assert!(!d.exists(&once));
}

#[test]
fn the_api_version_is_negotiated_down_and_a_pinned_one_the_daemon_lacks_is_explained() {
    let Some(d) = DOCKERD.as_ref() else { return };
    let pyra = Pyra::new();
    d.add(&pyra, "dk", &[]);
    let ping = UnixStream::connect(&d.socket).and_then(|mut s| {
        s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        Ok(text)
    });
    let ping = ping.unwrap();
    let theirs = ping
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("api-version: ").map(str::to_string))
        .expect("the daemon says its API version");
    run(&pyra, "dk.ps", "{ all: true }").success();
    assert_eq!(outputs(&pyra)["structured"]["api_version"], theirs.trim(), "the daemon's own, not ours (1.47)");

    // The example skill, against a plugin named as it expects.
    d.add(&pyra, "docker", &[]);
    let example = crate::harness::repo_root().join("examples/container-check.yaml");
    let out = pyra.run(["run", &example.to_string_lossy(), "--json", "-i", "image=pyra-busybox"]);
    out.success();
    let report = out.json()["report"].as_str().unwrap_or_default().to_string();
    assert!(report.starts_with("- ") || report == "every container is running", "{report}");

    d.add(&pyra, "pinned", &["api_version=1.99"]);
    run(&pyra, "pinned.ps", "{}")
        .code(1)
        .stderr_has("refused API version 1.99")
        .stderr_has("client version 1.99 is too new")
        .stderr_has("remove `settings.api_version`");

    d.add(&pyra, "nowhere", &["host=unix:///nonexistent/docker.sock"]);
    run(&pyra, "nowhere.ps", "{}").code(1).stderr_has("no Docker socket at /nonexistent/docker.sock");
}
