//! A real Matrix homeserver as a test peer: Synapse from PyPI (`.ci/run` installs
//! matrix-synapse into a venv and sets `PYRA_SYNAPSE_PYTHON` to its python), started once
//! per test binary on a free loopback port, in a directory under cargo's target tmpdir,
//! with SQLite, no federation, shared-secret registration only and rate limits out of the
//! way (a test lowers one user's with [`Synapse::override_ratelimit`]). Without
//! `PYRA_SYNAPSE_PYTHON` the tests that need it skip; `PYRA_REQUIRE_SYNAPSE=1` makes that a
//! failure.
//!
//! Synapse must not outlive the test binary, which never drops a static: it runs in its own
//! process group with `PR_SET_PDEATHSIG` = SIGKILL, set from a thread that never ends (the
//! signal fires when the forking *thread* exits, and test threads end with their test). A
//! directory left by an earlier binary is removed once its pid is gone.
//!
//! The helpers speak HTTP/1.1 over a plain `TcpStream`, blocking, as the other peers in
//! this crate do, so they can be called from inside a runtime as well as outside one.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The pinned release `.ci/run` installs.
pub const VERSION: &str = "1.163.2";
/// The homeserver's name: user ids are `@localpart:localhost`.
pub const SERVER_NAME: &str = "localhost";
/// The longest Synapse may take to answer its first request.
const START_PATIENCE: Duration = Duration::from_secs(120);

/// The running homeserver.
pub struct Synapse {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    port: u16,
    python: PathBuf,
    shared_secret: String,
    dir: PathBuf,
    admin_token: OnceLock<String>,
}

static SYNAPSE: OnceLock<Result<Synapse, String>> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The shared homeserver, started by the first test that asks; `None` (the caller returns,
/// skipped) when `PYRA_SYNAPSE_PYTHON` is unset and `PYRA_REQUIRE_SYNAPSE` is not `1`.
#[allow(clippy::print_stderr, reason = "a skipped test says why in the test's output")]
pub fn synapse() -> Option<&'static Synapse> {
    let Some(python) = std::env::var_os("PYRA_SYNAPSE_PYTHON") else {
        assert!(
            std::env::var_os("PYRA_REQUIRE_SYNAPSE").is_none_or(|v| v != "1"),
            "PYRA_REQUIRE_SYNAPSE=1 but PYRA_SYNAPSE_PYTHON is not set; install Synapse with \
             `python3 -m venv DIR && DIR/bin/pip install matrix-synapse=={VERSION}` and set \
             PYRA_SYNAPSE_PYTHON=DIR/bin/python (.ci/run does this)"
        );
        eprintln!("skipped: PYRA_SYNAPSE_PYTHON is not set (a Python with matrix-synapse {VERSION})");
        return None;
    };
    match SYNAPSE.get_or_init(|| start(PathBuf::from(python))) {
        Ok(synapse) => Some(synapse),
        Err(why) => panic!("{why}"),
    }
}

/// A localpart no other test uses (`prefix` plus a counter).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn start(python: PathBuf) -> Result<Synapse, String> {
    let parent = Path::new(env!("CARGO_TARGET_TMPDIR")).join("synapse");
    for old in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
        let pid = old.file_name().to_string_lossy().parse::<u32>().ok();
        if pid.is_some_and(|pid| !crate::daemon::alive(pid)) {
            let _ = std::fs::remove_dir_all(old.path());
        }
    }
    let dir = parent.join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut rng = fastrand::Rng::new();
    let seed: Vec<u8> = (0..32).map(|_| rng.u8(..)).collect();
    let key = format!("ed25519 a_pyra {}\n", base64(&seed));
    std::fs::write(dir.join("signing.key"), key).map_err(|e| e.to_string())?;
    let shared_secret: String = (0..32).map(|_| rng.alphanumeric()).collect();
    let began = Instant::now();
    // A free port, found by binding port 0 and letting go (Synapse cannot report a port-0
    // bind): another process may take it meanwhile, so a bind failure tries another.
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        std::fs::write(dir.join("homeserver.yaml"), config(&dir, port, &shared_secret)).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.join("homeserver.log")).map_err(|e| e.to_string())?;
        let mut command = Command::new(&python);
        command
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(dir.join("homeserver.yaml"))
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .process_group(0);
        die_with_this_process(&mut command);
        let mut child = spawn_kept(command).map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        let synapse = Synapse {
            url: format!("http://127.0.0.1:{port}"),
            port,
            python: python.clone(),
            shared_secret: shared_secret.clone(),
            dir: dir.clone(),
            admin_token: OnceLock::new(),
        };
        while began.elapsed() < START_PATIENCE {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.join("homeserver.log")).unwrap_or_default();
                if log.contains("Address already in use") {
                    break;
                }
                let tail: String =
                    log.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
                return Err(format!("Synapse ({}) exited with {status}:\n{tail}", python.display()));
            }
            if synapse.http("GET", "/_matrix/client/versions", None, None).0 == 200 {
                return Ok(synapse);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if child.try_wait().ok().flatten().is_none() {
            let _ = child.kill();
            return Err(format!(
                "Synapse did not answer within {} s; its log: {}",
                START_PATIENCE.as_secs(),
                dir.join("homeserver.log").display()
            ));
        }
    }
    Err("Synapse found no free port in three tries".into())
}

/// The homeserver's configuration: loopback only, SQLite, no federation, no open
/// registration, no phoning home, and limits no test reaches by accident.
fn config(dir: &Path, port: u16, shared_secret: &str) -> String {
    // JSON strings are YAML strings: paths with any character stay one scalar.
    let path = |name: &str| Value::from(dir.join(name).to_string_lossy().into_owned()).to_string();
    let high = "{per_second: 1000, burst_count: 10000}";
    format!(
        "server_name: {SERVER_NAME}
pid_file: {pid}
report_stats: false
listeners:
  - port: {port}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: {db}
media_store_path: {media}
signing_key_path: {key}
registration_shared_secret: {secret}
enable_registration: false
suppress_key_server_warning: true
trusted_key_servers: []
federation_domain_whitelist: []
presence:
  enabled: false
url_preview_enabled: false
enable_metrics: false
rc_message: {high}
rc_registration: {high}
rc_login: {{address: {high}, account: {high}, failed_attempts: {high}}}
rc_joins: {{local: {high}, remote: {high}}}
rc_joins_per_room: {high}
rc_invites: {{per_room: {high}, per_user: {high}, per_issuer: {high}}}
rc_room_creation: {high}
rc_admin_redaction: {high}
rc_3pid_validation: {high}
",
        pid = path("homeserver.pid"),
        db = path("homeserver.db"),
        media = path("media"),
        key = path("signing.key"),
        secret = Value::from(shared_secret),
    )
}

/// Has the kernel kill the child when this process ends, however it ends.
#[allow(unsafe_code, reason = "pre_exec runs code between fork and exec")]
fn die_with_this_process(command: &mut Command) {
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs in the forked child before exec; it makes two raw system
    // calls (async-signal-safe) and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            // The parent died before the signal was armed: nobody would ever stop this one.
            if rustix::process::getppid() != Some(parent) {
                return Err(rustix::io::Errno::SRCH.into());
            }
            Ok(())
        });
    }
}

/// Spawns `command` from a thread that never ends (`PR_SET_PDEATHSIG` fires when the
/// forking thread exits).
fn spawn_kept(mut command: Command) -> std::io::Result<Child> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new().name("synapse-parent".into()).spawn(move || {
        let _ = tx.send(command.spawn());
        loop {
            std::thread::park();
        }
    })?;
    rx.recv().map_err(|_| std::io::Error::other("the spawning thread died"))?
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Percent-encodes a path segment or query value.
pub fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Synapse {
    /// One request: the status and the JSON answer (`Null` when it was not JSON; status 0
    /// when the server could not be reached).
    pub fn http(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return (0, Value::Null) };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.port,
            body.len()
        );
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        let mut reply = Vec::new();
        if stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes())).is_err()
            || stream.read_to_end(&mut reply).is_err()
        {
            return (0, Value::Null);
        }
        let Some(at) = reply.windows(4).position(|w| w == b"\r\n\r\n") else { return (0, Value::Null) };
        let head = String::from_utf8_lossy(&reply[..at]).to_ascii_lowercase();
        let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = &reply[at + 4..];
        let body = if head.contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_vec() };
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// `http` that must answer 200.
    #[track_caller]
    fn ok(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Value {
        let (status, reply) = self.http(method, path, token, body);
        assert_eq!(status, 200, "{method} {path}: {reply}");
        reply
    }

    /// Registers a user through the shared-secret admin API; (user id, access token).
    pub fn register(&self, localpart: &str, password: &str) -> (String, String) {
        self.register_as(localpart, password, false)
    }

    fn register_as(&self, localpart: &str, password: &str, admin: bool) -> (String, String) {
        let path = "/_synapse/admin/v1/register";
        let nonce = self.ok("GET", path, None, None)["nonce"].as_str().expect("a nonce").to_string();
        let role = if admin { "admin" } else { "notadmin" };
        let mac = self.hmac_sha1(&format!("{nonce}\0{localpart}\0{password}\0{role}"));
        let body = json!({ "nonce": nonce, "username": localpart, "password": password, "admin": admin, "mac": mac });
        let reply = self.ok("POST", path, None, Some(&body));
        (reply["user_id"].as_str().unwrap().to_string(), reply["access_token"].as_str().unwrap().to_string())
    }

    /// HMAC-SHA1 with the shared secret, hex (the workspace has no SHA-1: Synapse's Python
    /// computes it).
    fn hmac_sha1(&self, message: &str) -> String {
        let mut child = Command::new(&self.python)
            .args(["-c", "import hmac,hashlib,sys;k,m=sys.stdin.buffer.read().split(b'\\n',1);print(hmac.new(k,m,hashlib.sha1).hexdigest())"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python runs");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("{}\n{message}", self.shared_secret).as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// The user behind `token`, to act as.
    pub fn user(&self, token: &str) -> User<'_> {
        User { hs: self, token: token.to_string() }
    }

    /// Sets a user's message rate limit (integers; 0 and 0 means no limit at all) through
    /// the admin API, as an admin registered on first use.
    pub fn override_ratelimit(&self, user_id: &str, messages_per_second: u32, burst_count: u32) {
        let admin = self.admin_token.get_or_init(|| self.register_as("pyra-admin", "admin-password", true).1);
        let path = format!("/_synapse/admin/v1/users/{}/override_ratelimit", enc(user_id));
        let body = json!({ "messages_per_second": messages_per_second, "burst_count": burst_count });
        self.ok("POST", &path, Some(admin), Some(&body));
    }

    /// The lines of Synapse's log (its access log included) that contain `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        let log = std::fs::read_to_string(self.dir.join("homeserver.log")).unwrap_or_default();
        log.lines().filter(|line| line.contains(needle)).map(str::to_string).collect()
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..eol]).ok().and_then(|s| usize::from_str_radix(s.trim(), 16).ok());
        let rest = &body[eol + 2..];
        match size {
            Some(size) if size > 0 && rest.len() >= size => out.extend_from_slice(&rest[..size]),
            _ => break,
        }
        body = rest[size.unwrap_or(0)..].strip_prefix(b"\r\n").unwrap_or(&rest[size.unwrap_or(0)..]);
    }
    out
}

/// A registered user, acting with its access token.
pub struct User<'a> {
    hs: &'a Synapse,
    pub token: String,
}

impl User<'_> {
    #[track_caller]
    fn ok(&self, method: &str, path: &str, body: &Value) -> Value {
        self.hs.ok(method, &format!("/_matrix/client/v3/{path}"), Some(&self.token), Some(body))
    }

    /// Creates a private room inviting `invite`, with encryption enabled from the start
    /// when `encrypted`; its id.
    pub fn create_room(&self, invite: &[&str], encrypted: bool) -> String {
        let mut body = json!({ "preset": "private_chat", "invite": invite });
        if encrypted {
            let state = json!({ "type": "m.room.encryption", "state_key": "", "content": { "algorithm": "m.megolm.v1.aes-sha2" } });
            body["initial_state"] = json!([state]);
        }
        self.ok("POST", "createRoom", &body)["room_id"].as_str().unwrap().to_string()
    }

    /// Sends an event of any type; its id.
    pub fn send_event(&self, room: &str, kind: &str, content: &Value) -> String {
        let txn = format!("helper-{}", COUNTER.fetch_add(1, Ordering::Relaxed));
        let path = format!("rooms/{}/send/{}/{txn}", enc(room), enc(kind));
        self.ok("PUT", &path, content)["event_id"].as_str().unwrap().to_string()
    }

    /// Sends an `m.text` message; its event id.
    pub fn send(&self, room: &str, text: &str) -> String {
        self.send_event(room, "m.room.message", &json!({ "msgtype": "m.text", "body": text }))
    }

    /// Reacts to `event_id` with `key`; the reaction's id.
    pub fn react(&self, room: &str, event_id: &str, key: &str) -> String {
        let relation = json!({ "rel_type": "m.annotation", "event_id": event_id, "key": key });
        self.send_event(room, "m.reaction", &json!({ "m.relates_to": relation }))
    }

    pub fn join(&self, room: &str) {
        self.ok("POST", &format!("rooms/{}/join", enc(room)), &json!({}));
    }

    /// The room's events this user may see, oldest first.
    pub fn messages(&self, room: &str) -> Vec<Value> {
        let path = format!("/_matrix/client/v3/rooms/{}/messages?dir=f&limit=1000", enc(room));
        let reply = self.hs.ok("GET", &path, Some(&self.token), None);
        reply["chunk"].as_array().cloned().unwrap_or_default()
    }
}

#[test]
fn the_homeserver_registers_users_who_talk_in_v12_rooms() {
    let Some(hs) = synapse() else { return };
    let (alice, alice_token) = hs.register(&unique("alice"), "alice-password");
    let (bob, bob_token) = hs.register(&unique("bob"), "bob-password");
    assert!(alice.starts_with('@') && alice.ends_with(":localhost"), "{alice}");
    let (alice_as, bob_as) = (hs.user(&alice_token), hs.user(&bob_token));
    let room = alice_as.create_room(&[&bob], false);
    // Room version 12 (Synapse's default since 1.163): the id has no `:server` part.
    assert!(room.starts_with('!') && !room.contains(':'), "{room}");
    bob_as.join(&room);
    let hello = alice_as.send(&room, "hello");
    let reply = bob_as.send(&room, "hi alice");
    bob_as.react(&room, &hello, "👍");
    let events = bob_as.messages(&room);
    let seen: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["type"] != "m.room.member" && e.get("state_key").is_none())
        .map(|e| (e["event_id"].as_str().unwrap(), e["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [(hello.as_str(), "m.room.message"), (reply.as_str(), "m.room.message"), (seen[2].0, "m.reaction")]
    );

    // A lowered limit gives 429 with retry_after_ms (and the access log shows it).
    hs.override_ratelimit(&bob, 1, 1);
    let put = |txn: &str| {
        let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}", enc(&room));
        hs.http("PUT", &path, Some(&bob_token), Some(&json!({ "msgtype": "m.text", "body": txn })))
    };
    let limited = (0..3).map(|i| put(&format!("probe-{i}"))).find(|(status, _)| *status == 429);
    let (_, error) = limited.expect("a 429 within three quick sends");
    assert_eq!(error["errcode"], "M_LIMIT_EXCEEDED");
    assert!(error["retry_after_ms"].as_u64().is_some_and(|ms| ms <= 1000), "{error}");
}
