//! One remote command through the system `ssh`: the connection settings `ssh` and `server`
//! share, the argv quoted word by word for the remote shell (never a shell string of the
//! caller's), strict host keys in batch mode, the user's `~/.ssh/config` unless a file is
//! named, a multiplexed connection in the plugin's own directory, output capped, and the
//! process group killed on cancel or timeout.
//!
//! The multiplexing master is this process's own child (`ssh -M -N`, `ControlPersist=no`,
//! its own process group registered with the reaper), not one `ssh` detaches: it ends
//! with the command or daemon that started it, so no `ssh` outlives Pyra. An `ssh` failure becomes a message that says
//! what to check: a changed host key above all.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use config::fields::{Field, Kind};

use crate::builtin::Call;

pub const HOST: Field =
    Field::new("host", "Host", Kind::Text, "the server: a host name, an address, or a Host alias of your ssh config")
        .required();
pub const USER: Field =
    Field::new("user", "User", Kind::Text, "the login name (default: your ssh config's, or your own)");
pub const PORT: Field = Field::new(
    "port",
    "Port",
    Kind::Integer { min: 1, max: 65535 },
    "the SSH port (default: your ssh config's, or 22)",
);
pub const IDENTITY: Field =
    Field::new("identity", "Identity file", Kind::Text, "a private key file (default: your agent and ssh config)");
pub const CONFIG: Field = Field::new(
    "config",
    "ssh config file",
    Kind::Text,
    "an ssh_config file used instead of ~/.ssh/config and /etc/ssh/ssh_config (default: those)",
);
pub const KNOWN_HOSTS: Field = Field::new(
    "known_hosts",
    "known_hosts file",
    Kind::Text,
    "the file pinning the server's host key (default: ~/.ssh/known_hosts); unknown or changed keys are refused",
);
pub const MULTIPLEX: Field = Field::new(
    "multiplex",
    "Reuse connections",
    Kind::Bool,
    "keep one connection open while Pyra runs (ControlMaster, its socket in the plugin's directory), so calls in a row are fast",
)
.default("true");
pub const TIMEOUT: Field =
    Field::new("timeout", "Timeout (s)", Kind::Integer { min: 1, max: 86400 }, "how long one command may run")
        .default("120");
pub const MAX_OUTPUT: Field = Field::new(
    "max_output",
    "Output cap (bytes)",
    Kind::Integer { min: 1024, max: 67_108_864 },
    "most bytes kept of a command's stdout, and of its stderr",
)
.default("1048576");

/// Most bytes of a Unix socket path (`sun_path`); `ssh` adds `.` and 16 characters to
/// the path while it creates the master's socket, and our name is `/cm-` and 16.
const SOCKET_PATH_MAX: usize = 104;
const CONTROL_NAME: usize = 4 + 16 + 17;

/// The masters this process started: control path → the master's pid (its group).
static MASTERS: std::sync::Mutex<Vec<(String, std::process::Child)>> = std::sync::Mutex::new(Vec::new());

/// Variables `ssh` may see: what finds the user's config, agent and locale; never Pyra's
/// own keys.
const PASSED: [&str; 6] = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "SSH_AUTH_SOCK"];

/// How a remote command ended.
#[derive(Debug)]
pub struct Ran {
    /// The remote exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub truncated: bool,
}

impl Ran {
    /// The remote shell did not find the program (exit 127).
    pub fn missing(&self) -> bool {
        self.code == Some(127)
    }

    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// The last lines of stderr, for a message.
    pub fn said(&self) -> String {
        let text = self.stderr.trim();
        let start = text.char_indices().rev().nth(499).map_or(0, |(i, _)| i);
        if text.is_empty() { "(nothing on stderr)".into() } else { text[start..].to_string() }
    }
}

/// The host as messages show it: `user@host:port`.
pub fn shown_host(call: &Call<'_>) -> String {
    let host = call.setting("host").unwrap_or("?");
    let user = call.setting("user").map(|u| format!("{u}@")).unwrap_or_default();
    let port = call.setting("port").map(|p| format!(":{p}")).unwrap_or_default();
    format!("{user}{host}{port}")
}

/// The remote command line: every argument quoted for a POSIX shell, so each arrives as
/// one literal word whatever it holds (spaces, quotes, `;`, `$(…)`).
pub fn quoted(argv: &[String]) -> Result<String, String> {
    if argv.first().is_none_or(|a| a.is_empty()) {
        return Err("`argv` needs the program as its first element".into());
    }
    shlex::try_join(argv.iter().map(String::as_str)).map_err(|_| "`argv`: an argument contains a NUL byte".to_string())
}

/// The `ssh` arguments for `argv` on the plugin's host.
pub fn ssh_args(call: &Call<'_>, argv: &[String]) -> Result<Vec<String>, String> {
    let plugin = call.plugin;
    let host = call.setting("host").ok_or_else(|| format!("plugin `{plugin}` needs `settings.host`"))?;
    if host.starts_with('-') || host.contains(|c: char| c.is_whitespace() || c.is_control() || c == '@') {
        return Err(format!("plugin `{plugin}`: `settings.host: {host}` is not a host name (put the login in `user`)"));
    }
    let user = call.setting("user");
    if let Some(u) = user
        && (u.starts_with('-') || !u.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
    {
        return Err(format!("plugin `{plugin}`: `settings.user: {u}` is not a login name"));
    }
    let mut args: Vec<String> =
        ["-T", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=15"]
            .map(String::from)
            .to_vec();
    let mut opt = |flag: &str, value: String| {
        args.push(flag.into());
        args.push(value);
    };
    if let Some(c) = call.setting("config") {
        opt("-F", tilde(c));
    }
    if let Some(p) = call.setting("port") {
        opt("-p", p.to_string());
    }
    if let Some(i) = call.setting("identity") {
        opt("-i", tilde(i));
        opt("-o", "IdentitiesOnly=yes".into());
    }
    if let Some(k) = call.setting("known_hosts") {
        let k = tilde(k);
        if k.contains('"') {
            return Err(format!("plugin `{plugin}`: `settings.known_hosts` cannot hold a `\"`"));
        }
        opt("-o", format!("UserKnownHostsFile=\"{k}\""));
    }
    let target = match user {
        Some(u) => format!("{u}@{host}"),
        None => host.to_string(),
    };
    if call.setting("multiplex") != Some("false")
        && let Some(path) = control_path(call.dir, &args, &target)
    {
        // A call uses the master when its socket is there and connects alone otherwise.
        args.extend(["-o".into(), "ControlMaster=no".into(), "-o".into(), format!("ControlPath={path}")]);
    }
    args.push("--".into());
    args.push(target);
    args.push(quoted(argv)?);
    Ok(args)
}

/// The control socket's path in `dir`, named by a hash of the connection's options and
/// target, or `None` (no multiplexing) when it would not fit the socket path limit or
/// `ssh` would read part of the directory as a token or a word break.
fn control_path(dir: &Path, options: &[String], target: &str) -> Option<String> {
    use sha2::Digest;
    let dir = dir.to_str()?;
    let plain = !dir.contains(|c: char| c == '%' || c == '"' || c.is_whitespace() || c.is_control());
    let mut hash = sha2::Sha256::new();
    for part in options.iter().map(String::as_str).chain([target]) {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let name: String = hash.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect();
    (plain && dir.len() + CONTROL_NAME < SOCKET_PATH_MAX).then(|| format!("{dir}/cm-{name}"))
}

/// Starts the connection's master unless one of this process's is alive: `ssh -M -N`
/// with `ControlPersist=no`, in its own process group registered with the reaper (killed
/// when the command or the daemon ends), and waits up to its connect timeout for its
/// socket. A master that cannot connect just ends: the call then connects alone and
/// reports why.
async fn ensure_master(args: &[String]) {
    let Some(at) = args.iter().position(|a| a.starts_with("ControlPath=")) else { return };
    let path = args[at].trim_start_matches("ControlPath=").to_string();
    let Some(end) = args.iter().position(|a| a == "--") else { return };
    {
        let mut masters = MASTERS.lock().unwrap_or_else(|e| e.into_inner());
        masters.retain_mut(|(_, child)| {
            let alive = matches!(child.try_wait(), Ok(None));
            if !alive {
                // Reaped: its group id may be reused, so the reaper must forget it.
                crate::reaper::unregister(child.id() as i32);
            }
            alive
        });
        if masters.iter().any(|(p, _)| *p == path) {
            return;
        }
        // Another process's master (the daemon's) is served as well as ours; a socket
        // nobody answers on is what a killed master left.
        match std::os::unix::net::UnixStream::connect(&path) {
            Ok(_) => return,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                let _ = std::fs::remove_file(&path);
            }
            Err(_) => {}
        }
        let mut options: Vec<String> = args[..end].to_vec();
        if let Some(i) = options.iter().position(|a| a == "ControlMaster=no") {
            options[i] = "ControlMaster=yes".into();
        }
        let mut command = std::process::Command::new("ssh");
        command
            .args(&options)
            .args(["-N", "-o", "ControlPersist=no", "-o", "ServerAliveInterval=30", "--", &args[end + 1]])
            .env_clear()
            .envs(PASSED.iter().filter_map(|k| std::env::var(k).ok().map(|v| (*k, v))))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let Ok(child) = command.spawn() else { return };
        crate::reaper::register(child.id() as i32);
        masters.push((path.clone(), child));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !Path::new(&path).exists() && tokio::time::Instant::now() < deadline {
        let alive = MASTERS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter_mut()
            .any(|(p, child)| *p == path && matches!(child.try_wait(), Ok(None)));
        if !alive {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `~/…` expanded with the user's HOME (ssh reads these files as the user).
fn tilde(path: &str) -> String {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    paths::expand_home(path, home.as_deref()).to_string_lossy().into_owned()
}

fn number(call: &Call<'_>, key: &str, default: u64) -> u64 {
    call.setting(key).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Runs `argv` on the host. `Err` when `ssh` itself failed (unreachable, refused, a host
/// key that is not the pinned one), with what to check; a remote program's failure is a
/// [`Ran`] with its exit code.
pub async fn run(call: &Call<'_>, argv: &[String], timeout: Option<Duration>) -> Result<Ran, String> {
    let args = ssh_args(call, argv)?;
    tokio::select! {
        biased;
        () = call.cancel.cancelled() => return Err("cancelled".into()),
        () = ensure_master(&args) => {}
    }
    let cap = number(call, "max_output", 1 << 20) as usize;
    let timeout = timeout.unwrap_or(Duration::from_secs(number(call, "timeout", 120)));
    let mut command = tokio::process::Command::new("ssh");
    command.args(&args).env_clear();
    command.envs(PASSED.iter().filter_map(|k| std::env::var(k).ok().map(|v| (*k, v))));
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            "the `ssh` program is not installed (Debian: `apt install openssh-client`)".to_string()
        }
        _ => format!("cannot start `ssh`: {e}"),
    })?;
    let pid = child.id().ok_or("`ssh` vanished as it started")?;
    let mut group = runtime::procs::Group::register(pid);
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let work = async {
        tokio::join!(runtime::procs::read_capped(stdout, cap), runtime::procs::read_capped(stderr, cap), child.wait())
    };
    let ended = tokio::select! {
        biased;
        () = call.cancel.cancelled() => return Err("cancelled".into()),
        done = tokio::time::timeout(timeout, work) => done,
    };
    let Ok(((stdout, out_cut), (stderr, err_cut), status)) = ended else {
        return Err(format!(
            "`{}` on {} did not finish within {}s; it was stopped (`settings.timeout`)",
            argv[0],
            shown_host(call),
            timeout.as_secs()
        ));
    };
    group.ended();
    let status = status.map_err(|e| format!("waiting for `ssh` failed: {e}"))?;
    let ran = Ran {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        truncated: out_cut || err_cut,
    };
    if ran.code == Some(255)
        && let Some(why) = ssh_failure(call, &ran.stderr)
    {
        return Err(why);
    }
    Ok(ran)
}

/// What `ssh`'s own failure means, when its stderr says it failed (exit 255 is also a
/// remote program's exit code).
pub fn ssh_failure(call: &Call<'_>, stderr: &str) -> Option<String> {
    let host = shown_host(call);
    let name = call.setting("host").unwrap_or("HOST");
    let entry = match call.setting("port") {
        Some(p) if p != "22" => format!("[{name}]:{p}"),
        _ => name.to_string(),
    };
    let known = call.setting("known_hosts").map(tilde).unwrap_or_else(|| "~/.ssh/known_hosts".into());
    let keyscan = match call.setting("port") {
        Some(p) => format!("ssh-keyscan -p {p} {name}"),
        None => format!("ssh-keyscan {name}"),
    };
    let said = stderr.trim();
    let why = if said.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        format!(
            "refused: the host key of {host} has CHANGED — it is not the key pinned in {known}. Nothing was run. \
             Either the server was reinstalled or its keys rotated, or someone is intercepting the connection. \
             Check the new key's fingerprint with whoever runs the server (on it: `ssh-keygen -lf \
             /etc/ssh/ssh_host_ed25519_key.pub`); only if it matches, remove the old entry with \
             `ssh-keygen -R '{entry}' -f {known}` and pin the new one (`{keyscan} >> {known}`, comparing \
             `ssh-keygen -lf` of what it adds)"
        )
    } else if said.contains("Host key verification failed") || said.contains("host key is known for") {
        format!(
            "refused: no host key of {host} is pinned in {known}, and unknown hosts are refused. Nothing was run. \
             Pin it once: `{keyscan} >> {known}`, after checking the fingerprints (`ssh-keygen -lf {known}`) \
             against the server's own (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on it)"
        )
    } else if said.contains("Permission denied") {
        format!(
            "{host} refused the login ({}): check `settings.user` and `settings.identity` (or your ssh agent), \
             and that the key is in the server's authorized_keys",
            last_line(said)
        )
    } else if said.contains("Could not resolve hostname")
        || said.contains("Connection refused")
        || said.contains("timed out")
        || said.contains("No route to host")
        || said.contains("Connection closed")
        || said.contains("Connection reset")
        || said.contains("kex_exchange_identification")
    {
        format!("cannot reach {host}: {} (check `settings.host` and `settings.port`)", last_line(said))
    } else if said.starts_with("ssh:") || said.contains("Bad configuration option") || said.contains("ControlPath") {
        format!("ssh failed for {host}: {}", last_line(said))
    } else {
        return None;
    };
    Some(why)
}

fn last_line(text: &str) -> &str {
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(text).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_argument_is_one_quoted_word() {
        let argv: Vec<String> = ["printf", "%s\n", "a b 'c' \"d\"; touch /x", "$(id)", ""].map(String::from).to_vec();
        let line = quoted(&argv).unwrap();
        assert_eq!(shlex::split(&line).unwrap(), argv, "{line}");
        assert!(quoted(&["a\0b".to_string()]).is_err());
        assert!(quoted(&[]).is_err());
    }

    #[test]
    fn ssh_failures_say_what_to_check() {
        let settings: std::collections::BTreeMap<String, String> =
            [("host", "web1"), ("port", "2222"), ("user", "ops"), ("known_hosts", "/k/known_hosts")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into();
        let none = std::collections::BTreeMap::new();
        let cancel = tokio_util::sync::CancellationToken::new();
        let call = Call {
            plugin: "box",
            dir: Path::new("/tmp"),
            settings: &settings,
            secrets: &none,
            secret_keys: &none,
            cancel: &cancel,
        };
        let changed =
            "@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.\n";
        let why = ssh_failure(&call, changed).unwrap();
        assert!(why.starts_with("refused: the host key of ops@web1:2222 has CHANGED"), "{why}");
        assert!(why.contains("ssh-keygen -R '[web1]:2222' -f /k/known_hosts"), "{why}");
        let unknown = "No ED25519 host key is known for [web1]:2222 and you have requested strict checking.\nHost key verification failed.\n";
        assert!(ssh_failure(&call, unknown).unwrap().contains("ssh-keyscan -p 2222 web1 >> /k/known_hosts"));
        let denied = "ops@web1: Permission denied (publickey).\n";
        assert!(
            ssh_failure(&call, denied)
                .unwrap()
                .contains("refused the login (ops@web1: Permission denied (publickey).)")
        );
        let refused = "ssh: connect to host web1 port 2222: Connection refused\n";
        assert!(ssh_failure(&call, refused).unwrap().starts_with("cannot reach ops@web1:2222"));
        assert_eq!(ssh_failure(&call, "a remote program's own message\n"), None);
    }

    #[test]
    fn a_long_directory_gets_no_control_socket() {
        let options = vec!["-p".to_string(), "2222".to_string()];
        let path = control_path(Path::new("/home/alice/.pyra/plugins/web1"), &options, "ops@web1").unwrap();
        assert!(path.starts_with("/home/alice/.pyra/plugins/web1/cm-") && path.len() == 30 + 4 + 16, "{path}");
        // Another target or other options: another master.
        assert_ne!(control_path(Path::new("/home/alice/.pyra/plugins/web1"), &options, "ops@web2").unwrap(), path);
        assert_ne!(control_path(Path::new("/home/alice/.pyra/plugins/web1"), &[], "ops@web1").unwrap(), path);
        let long = format!("/home/alice/{}/plugins/web1", "x".repeat(60));
        assert!(control_path(Path::new(&long), &options, "ops@web1").is_none());
        assert!(control_path(Path::new("/home/a%h/plugins/web1"), &options, "ops@web1").is_none());
    }
}
