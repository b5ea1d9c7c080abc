//! The daemon as a login service: the systemd user unit and the launchd agent that start
//! `pyra daemon start --foreground` for one home, where they go, the `sd_notify` messages
//! the daemon sends to systemd, the lingering check, and the install and uninstall plans
//! (file steps and `systemctl`/`launchctl` commands) that `pyra daemon install-service`
//! prints with `--dry-run` or carries out.
//!
//! Everything but [`apply`], [`notify`], [`lingering`] and [`UserEnv::current`] is a pure
//! function of a [`ServiceSpec`] and a [`UserEnv`], so the texts and plans are tested
//! without touching the user's service manager.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

mod plan;
pub use plan::*;

/// What one service runs: the `pyra` binary and the home it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// The `pyra` executable, absolute.
    pub exe: PathBuf,
    /// The home as `--home` takes it (before `--profile`), absolute.
    pub home: PathBuf,
    /// `--profile NAME`: the home `<home>/profiles/NAME`.
    pub profile: Option<String>,
}

/// The service manager a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    /// A systemd user unit.
    Linux,
    /// A launchd agent.
    MacOs,
}

/// The user's side of the environment the service files depend on, read once by
/// [`UserEnv::current`] and passed in so the rest stays pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEnv {
    /// `$HOME`: the default Pyra home is `$HOME/.pyra`.
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME` when set to an absolute path (the XDG rule: others are ignored).
    pub xdg_config_home: Option<PathBuf>,
    /// For launchd's `gui/<uid>` domain.
    pub uid: u32,
}

/// Why a service cannot be described or installed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{what} must be an absolute path: {path}")]
    NotAbsolute { what: &'static str, path: String },
    #[error("{what} cannot go into a service file (not UTF-8 or with control characters): {path}")]
    Unrepresentable { what: &'static str, path: String },
    #[error("systemd cannot run an executable whose path has quotes or backslashes: {0}")]
    ExeCharacters(String),
    #[error("invalid profile name `{0}`: use letters, digits, `-` and `_` (at most 64)")]
    Profile(String),
    #[error("cannot find the home directory: set HOME to an absolute path")]
    NoHome,
    #[error("cannot {action} {path}: {source}")]
    Io { action: &'static str, path: String, source: io::Error },
    #[error("cannot run `{command}`: {source}")]
    Spawn { command: String, source: io::Error },
    #[error("`{command}` failed ({status}){}", if .stderr.is_empty() { String::new() } else { format!(": {}", .stderr) })]
    Command { command: String, status: String, stderr: String },
}

/// The unit name and launchd label of the default home without a profile; other homes
/// and profiles get a suffix (see [`ServiceSpec::suffix`]).
pub const UNIT_BASE: &str = "pyra";
/// See [`UNIT_BASE`].
pub const LABEL_BASE: &str = "dev.pyra.daemon";
/// The unit's `Documentation=` (systemd accepts only `http(s):`, `file:`, `info:` and
/// `man:` URIs there). `systemd-analyze verify` reports it when the page is not installed.
pub const DOCUMENTATION: &str = "man:pyra(1)";
/// The launchd log, under the served home's `logs/` (systemd sends output to the journal).
pub const LAUNCHD_LOG: &str = "daemon.launchd.log";
/// The unit file's mode. Not 0600 like the home's files: it holds no secret (no
/// `Environment=`, secrets stay in the vault), only paths; it sits beside the user's other
/// units and agents, which are 0644 by convention; launchd only requires that group and
/// others cannot write it.
pub const UNIT_FILE_MODE: u32 = 0o644;

impl ServiceSpec {
    /// Refuses what no service file can carry faithfully: relative paths, paths that are
    /// not UTF-8 or hold control characters (a newline would end the `ExecStart=` line,
    /// and XML 1.0 cannot hold most control characters at all), an executable path with
    /// `"`, `'` or `\` (systemd will not run it), bad profile names.
    pub fn check(&self) -> Result<(), ServiceError> {
        for (what, path) in [("the pyra executable", &self.exe), ("the home", &self.home)] {
            let shown = path.display().to_string();
            if !path.is_absolute() {
                return Err(ServiceError::NotAbsolute { what, path: shown });
            }
            if path.to_str().is_none_or(|s| s.chars().any(char::is_control)) {
                return Err(ServiceError::Unrepresentable { what, path: shown });
            }
        }
        // systemd refuses to execute such a path, however it is quoted.
        if self.exe.as_os_str().as_bytes().iter().any(|b| b"\"'\\".contains(b)) {
            return Err(ServiceError::ExeCharacters(self.exe.display().to_string()));
        }
        match &self.profile {
            Some(name) if !valid_profile(name) => Err(ServiceError::Profile(name.clone())),
            _ => Ok(()),
        }
    }

    /// The home the daemon serves: `home`, or `<home>/profiles/<profile>`.
    pub fn data_home(&self) -> PathBuf {
        match &self.profile {
            Some(name) => self.home.join("profiles").join(name),
            None => self.home.clone(),
        }
    }

    /// What tells this service apart from the others: `None` for the default home
    /// (`$HOME/.pyra`) without a profile; else the profile, a short stable hash of a
    /// non-default home, or both (`work-1a2b3c4d`). Homes are compared as given, with
    /// `.` components and trailing slashes dropped; the CLI passes them absolute.
    pub fn suffix(&self, env: &UserEnv) -> Option<String> {
        let home = normalise(&self.home);
        let hash = (home != normalise(&env.home.join(".pyra"))).then(|| format!("{:08x}", fnv1a(&home)));
        let profile = self
            .profile
            .as_ref()
            .map(|p| if valid_profile(p) { p.clone() } else { format!("{:08x}", fnv1a(Path::new(p))) });
        match (profile, hash) {
            (None, None) => None,
            (Some(p), None) => Some(p),
            (None, Some(h)) => Some(h),
            (Some(p), Some(h)) => Some(format!("{p}-{h}")),
        }
    }

    /// `pyra.service`, or `pyra-<suffix>.service`.
    pub fn unit_name(&self, env: &UserEnv) -> String {
        match self.suffix(env) {
            Some(s) => format!("{UNIT_BASE}-{s}.service"),
            None => format!("{UNIT_BASE}.service"),
        }
    }

    /// `dev.pyra.daemon`, or `dev.pyra.daemon.<suffix>`.
    pub fn launchd_label(&self, env: &UserEnv) -> String {
        match self.suffix(env) {
            Some(s) => format!("{LABEL_BASE}.{s}"),
            None => LABEL_BASE.to_string(),
        }
    }

    /// The daemon's command line, the executable first.
    pub fn argv(&self) -> Vec<String> {
        let mut argv = vec![lossy(&self.exe), "--home".into(), lossy(&self.home)];
        if let Some(p) = &self.profile {
            argv.extend(["--profile".into(), p.clone()]);
        }
        argv.extend(["daemon", "start", "--foreground"].map(String::from));
        argv
    }
}

fn valid_profile(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn lossy(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn normalise(path: &Path) -> PathBuf {
    path.components().collect()
}

/// FNV-1a (64 bits) folded to 32: stable across Rust releases and machines, unlike std's
/// `DefaultHasher`, so a home keeps its unit name after an upgrade.
fn fnv1a(path: &Path) -> u32 {
    let hash = path
        .as_os_str()
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    (hash >> 32) as u32 ^ hash as u32
}

impl UserEnv {
    /// `$HOME`, `$XDG_CONFIG_HOME` and the real uid of this process.
    pub fn current() -> Result<UserEnv, ServiceError> {
        let absolute = |name| std::env::var_os(name).map(PathBuf::from).filter(|p| p.is_absolute());
        Ok(UserEnv {
            home: absolute("HOME").ok_or(ServiceError::NoHome)?,
            xdg_config_home: absolute("XDG_CONFIG_HOME"),
            uid: rustix::process::getuid().as_raw(),
        })
    }
}

impl Os {
    /// The OS this binary was built for, if it has a supported service manager.
    pub fn current() -> Option<Os> {
        if cfg!(target_os = "linux") {
            Some(Os::Linux)
        } else if cfg!(target_os = "macos") {
            Some(Os::MacOs)
        } else {
            None
        }
    }
}

/// Quotes an argument for a unit's `Exec*=` line: in double quotes, with `\` and `"`
/// backslash-escaped, control characters as `\xNN`, `%` (a specifier) as `%%` and `$`
/// (a variable, expanded at start) as `$$`.
pub fn systemd_quote_arg(word: &str) -> String {
    systemd_quote(word, true)
}

/// Quotes the executable, the first word of an `Exec*=` line: as [`systemd_quote_arg`]
/// but `$` kept, since systemd does not expand variables in the path it executes (it
/// would look for a file with `$$` in its name).
pub fn systemd_quote_exe(path: &str) -> String {
    systemd_quote(path, false)
}

fn systemd_quote(word: &str, dollar: bool) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' if dollar => out.push_str("$$"),
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u8)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Free text for a unit setting (`Description=`): specifiers escaped, control
/// characters dropped so the value stays on its line.
fn systemd_text(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect::<String>().replace('%', "%%")
}

/// The systemd user unit for `spec`. `Type=notify`: systemd counts the daemon started when
/// it sends `READY=1` ([`notify`]), after it holds the lock and serves the socket.
pub fn systemd_unit(spec: &ServiceSpec) -> String {
    let argv = spec.argv();
    let mut exec = systemd_quote_exe(&argv[0]);
    for arg in &argv[1..] {
        exec.push(' ');
        if arg.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            exec.push_str(arg);
        } else {
            exec.push_str(&systemd_quote_arg(arg));
        }
    }
    let mut what = format!("home {}", lossy(&spec.home));
    if let Some(p) = &spec.profile {
        what.push_str(&format!(", profile {p}"));
    }
    format!(
        "# Pyra's daemon as a systemd user service, written by `pyra daemon install-service`\n\
         # (edits are lost when it runs again; remove with `pyra daemon uninstall-service`).\n\
         [Unit]\n\
         Description={description}\n\
         Documentation={DOCUMENTATION}\n\
         \n\
         [Service]\n\
         Type=notify\n\
         NotifyAccess=main\n\
         ExecStart={exec}\n\
         Restart=on-failure\n\
         RestartSec=2\n\
         TimeoutStopSec=15\n\
         # SIGTERM to the daemon only, so it cancels its runs' processes itself; SIGKILL\n\
         # to whatever is left when TimeoutStopSec runs out.\n\
         KillMode=mixed\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        description = systemd_text(&format!("Pyra assistant daemon ({what})")),
    )
}

/// Escapes text for XML character data and attribute values; characters XML 1.0 cannot
/// hold (most control characters) become U+FFFD.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The launchd agent for `spec`, labelled `label` ([`ServiceSpec::launchd_label`]): started
/// at login, restarted when it exits with an error (not after `pyra daemon stop`), its
/// output appended to `<home>/logs/daemon.launchd.log`.
pub fn launchd_plist(spec: &ServiceSpec, label: &str) -> String {
    let args: String = spec.argv().iter().map(|a| format!("\t\t<string>{}</string>\n", xml_escape(a))).collect();
    let log = xml_escape(&lossy(&spec.data_home().join("logs").join(LAUNCHD_LOG)));
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <!-- Pyra's daemon as a launchd agent, written by `pyra daemon install-service`. -->\n\
         <plist version=\"1.0\">\n\
         <dict>\n\
         \t<key>Label</key>\n\
         \t<string>{label}</string>\n\
         \t<key>ProgramArguments</key>\n\
         \t<array>\n\
         {args}\
         \t</array>\n\
         \t<key>RunAtLoad</key>\n\
         \t<true/>\n\
         \t<key>KeepAlive</key>\n\
         \t<dict>\n\
         \t\t<key>SuccessfulExit</key>\n\
         \t\t<false/>\n\
         \t</dict>\n\
         \t<key>ExitTimeOut</key>\n\
         \t<integer>15</integer>\n\
         \t<key>ProcessType</key>\n\
         \t<string>Background</string>\n\
         \t<key>StandardOutPath</key>\n\
         \t<string>{log}</string>\n\
         \t<key>StandardErrorPath</key>\n\
         \t<string>{log}</string>\n\
         </dict>\n\
         </plist>\n",
        label = xml_escape(label),
    )
}

/// Where the service file goes: `$XDG_CONFIG_HOME/systemd/user/<unit>` (or
/// `~/.config/systemd/user/<unit>`) on Linux, `~/Library/LaunchAgents/<label>.plist` on macOS.
pub fn unit_path(spec: &ServiceSpec, os: Os, env: &UserEnv) -> PathBuf {
    match os {
        Os::Linux => {
            let config = env.xdg_config_home.clone().unwrap_or_else(|| env.home.join(".config"));
            config.join("systemd").join("user").join(spec.unit_name(env))
        }
        Os::MacOs => env.home.join("Library").join("LaunchAgents").join(format!("{}.plist", spec.launchd_label(env))),
    }
}

/// Whether systemd keeps `user`'s services running without a session (lingering):
/// `None` when this machine was not booted with systemd, or for a name that cannot be a
/// user's.
pub fn lingering(user: &str) -> Option<bool> {
    lingering_at(Path::new("/"), user)
}

/// [`lingering`] with the file system rooted at `root`.
pub fn lingering_at(root: &Path, user: &str) -> Option<bool> {
    // sd_booted()'s test.
    if !root.join("run/systemd/system").is_dir() || user.is_empty() || user.contains('/') || user.starts_with('.') {
        return None;
    }
    root.join("var/lib/systemd/linger").join(user).try_exists().ok()
}

/// The user this process runs as, by name (`$USER`, else `$LOGNAME`), for [`lingering`].
pub fn current_user() -> Option<String> {
    ["USER", "LOGNAME"].into_iter().find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
}

/// What to tell a user whose lingering is off, with the fix.
pub fn linger_warning(user: &str) -> String {
    format!(
        "lingering is off for `{user}`: systemd stops a user's services when their last session ends, so \
         the Pyra daemon would stop at logout and start again only at the next login. To keep it running:\n  \
         loginctl enable-linger {}",
        shell_quote(user)
    )
}

/// `sd_notify`'s "the service is up".
pub const READY: &str = "READY=1";
/// `sd_notify`'s "the service is shutting down".
pub const STOPPING: &str = "STOPPING=1";

/// A `STATUS=` line for [`notify`], shown by `systemctl status` (kept on one line).
pub fn status(text: &str) -> String {
    format!("STATUS={}", text.replace(['\n', '\r'], " "))
}

/// Sends `state` (`READY=1`, `STOPPING=1`, `STATUS=…`, several separated by newlines) to
/// the service manager, systemd's `sd_notify` protocol: `Ok(false)` when `NOTIFY_SOCKET`
/// is not set (not started by systemd), `Ok(true)` once sent.
pub fn notify(state: &str) -> io::Result<bool> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(socket) if !socket.is_empty() => notify_to(&socket, state).map(|()| true),
        _ => Ok(false),
    }
}

/// Sends `state` as one datagram to `socket`: a path, or an abstract socket when it starts
/// with `@` (Linux).
pub fn notify_to(socket: &OsStr, state: &str) -> io::Result<()> {
    let sender = UnixDatagram::unbound()?;
    let bytes = socket.as_bytes();
    let sent = match bytes.first() {
        Some(b'/') => sender.send_to(state.as_bytes(), Path::new(socket))?,
        #[cfg(target_os = "linux")]
        Some(b'@') => {
            use std::os::linux::net::SocketAddrExt;
            let address = std::os::unix::net::SocketAddr::from_abstract_name(&bytes[1..])?;
            sender.send_to_addr(state.as_bytes(), &address)?
        }
        _ => {
            let shown = socket.to_string_lossy();
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("unsupported NOTIFY_SOCKET `{shown}`")));
        }
    };
    if sent != state.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "sd_notify message truncated"));
    }
    Ok(())
}

/// A word for a POSIX shell: as is when it is plain, else in single quotes.
fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:@=+,%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests;
