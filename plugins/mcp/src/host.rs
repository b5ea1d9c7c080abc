//! The plugins of one home and their running servers. A server is started on first use
//! and reused: by every call of a run, and in the daemon across runs until it has been
//! idle for `timeouts.idle_shutdown`. A server that dies is started again on the next
//! call, after a backoff; one that dies five times in a minute is `broken` (with its
//! stderr tail) until `pyra plugin restart`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use syntax::diag::Diagnostic;
use syntax::source::SourceFile;

use crate::conn::{Conn, Plan};
use crate::lock::Lock;
use crate::manifest::{self, Loaded, Manifest, PluginKind};

/// Starts within this window count towards "keeps dying".
const WINDOW: Duration = Duration::from_secs(60);
/// This many starts within [`WINDOW`] and the server is broken.
const MAX_STARTS: usize = 5;

/// Reads a secret for a plugin (the vault, through the run's audited access).
pub type SecretFn<'a> = &'a (dyn Fn(&str) -> Result<String, String> + Sync);

#[derive(Default)]
struct Server {
    conn: tokio::sync::Mutex<Option<Arc<Conn>>>,
    starts: Mutex<Vec<Instant>>,
    broken: Mutex<Option<String>>,
    last_used: Mutex<Option<Instant>>,
}

/// A file's identity for the cache: a changed file has another size or time.
type Stamp = Option<(u64, std::time::SystemTime)>;

fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path).ok().and_then(|m| Some((m.len(), m.modified().ok()?)))
}

/// A plugin's manifest and lock with the stamps of the files they were read from.
type Cached = (Stamp, Stamp, Arc<Manifest>, Arc<Lock>);

/// One home's plugins.
pub struct Host {
    home: PathBuf,
    servers: Mutex<HashMap<String, Arc<Server>>>,
    /// Manifests and locks as last read, by plugin, with the stamps they were read at: a
    /// call reads them without parsing again unless a file changed.
    cache: Mutex<HashMap<String, Cached>>,
}

/// What `pyra plugin list` and `daemon status` show of a running server.
#[derive(Debug, Clone)]
pub struct Running {
    pub name: String,
    pub pid: Option<i32>,
    pub protocol: String,
    pub server: String,
    pub broken: Option<String>,
}

impl Host {
    pub fn new(home: &Path) -> Arc<Host> {
        Arc::new(Host {
            home: home.to_path_buf(),
            servers: Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
        })
    }

    pub fn plugins_dir(&self) -> PathBuf {
        self.home.join("plugins")
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        self.plugins_dir().join(name)
    }

    /// Every folder under `plugins/` with a `plugin.yaml`, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.plugins_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("plugin.yaml").is_file())
            .filter_map(|e| e.file_name().to_str().map(String::from))
            .collect();
        names.sort();
        names
    }

    pub fn load(&self, name: &str) -> Result<Loaded, (SourceFile, Vec<Diagnostic>)> {
        let path = self.dir(name).join("plugin.yaml");
        manifest::load(&path, &format!("plugins/{name}/plugin.yaml"), Some(name))
    }

    pub fn lock(&self, name: &str) -> Result<Lock, String> {
        Lock::read(&self.dir(name))
    }

    /// The manifest and lock of a plugin, read again only when either file changed (what
    /// every call reads). A broken manifest is an error with its diagnostics rendered.
    pub fn current(&self, name: &str) -> Result<(Arc<Manifest>, Arc<Lock>), String> {
        let dir = self.dir(name);
        let (m_stamp, l_stamp) = (stamp(&dir.join("plugin.yaml")), stamp(&dir.join(crate::lock::FILE)));
        if let Some((ms, ls, m, l)) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(name)
            && *ms == m_stamp
            && *ls == l_stamp
            && m_stamp.is_some()
        {
            return Ok((m.clone(), l.clone()));
        }
        let loaded = self.load(name).map_err(|(file, diags)| {
            let text: Vec<String> = diags.iter().map(|d| d.render(&file, false)).collect();
            format!("plugin `{name}`: its manifest has errors:\n{}", text.join("\n"))
        })?;
        let manifest = Arc::new(loaded.manifest);
        let lock = Arc::new(self.lock(name)?);
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), (m_stamp, l_stamp, manifest.clone(), lock.clone()));
        Ok((manifest, lock))
    }

    /// How to start a plugin's server, and its launch spec (for the pin).
    pub fn plan(&self, m: &Manifest, secret: SecretFn<'_>) -> Result<(Plan, Value), String> {
        let name = &m.name;
        let dir = self.dir(name);
        let mut plain_env: Vec<(String, String)> = Vec::new();
        for (k, v) in &m.env {
            plain_env.push((k.clone(), v.clone()));
        }
        let secret_names: Vec<String> = m.secrets.iter().map(|(k, r)| format!("{k}={}", r.key())).collect();
        match (m.kind, &m.command, &m.url) {
            (PluginKind::Mcp, Some(command), None) => {
                let inherited = m.inherited();
                let mut env: Vec<(String, String)> = Vec::new();
                for var in &inherited {
                    if let Ok(value) = std::env::var(var) {
                        env.push((var.clone(), value));
                    }
                }
                let path_used = env
                    .iter()
                    .find(|(k, _)| k == "PATH")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".to_string());
                let program = resolve_command(command, &dir, &path_used).ok_or_else(|| {
                    format!(
                        "plugin `{name}`: command `{command}` not found on the PATH it is started with ({path_used}); \
                             install it, or give its absolute path as `command:` in plugins/{name}/plugin.yaml"
                    )
                })?;
                for (k, v) in &m.env {
                    env.retain(|(e, _)| e != k);
                    env.push((k.clone(), expand_env(v).map_err(|e| format!("plugin `{name}`: `env.{k}`: {e}"))?));
                }
                for (k, r) in &m.secrets {
                    let value = secret(r.key())?;
                    env.retain(|(e, _)| e != k);
                    env.push((k.clone(), r.apply(&value)));
                }
                let cwd = match &m.cwd {
                    Some(c) if Path::new(c).is_absolute() => PathBuf::from(c),
                    Some(c) => dir.join(c),
                    None => dir.join("work"),
                };
                if !cwd.exists() {
                    std::fs::create_dir_all(&cwd)
                        .map_err(|e| format!("plugin `{name}`: cannot create {}: {e}", cwd.display()))?;
                    paths::make_private(&cwd, true);
                }
                // What decides what runs: pinned (secret values are not in it, their names are).
                let spec = serde_json::json!({
                    "command": program.to_string_lossy(),
                    "args": m.args,
                    "cwd": cwd.to_string_lossy(),
                    "env": plain_env,
                    "secrets": secret_names,
                    "inherit_env": inherited,
                });
                let plan = Plan::Stdio {
                    command: command.clone(),
                    program,
                    args: m.args.clone(),
                    cwd,
                    env,
                    log: Some(dir.join("stderr.log")),
                };
                Ok((plan, spec))
            }
            (PluginKind::Mcp, None, Some(url)) => {
                let mut headers: Vec<(String, String)> =
                    m.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                let plain = headers.clone();
                let mut secret_headers = Vec::new();
                for (k, r) in &m.secrets {
                    let value = secret(r.key())?;
                    headers.push((k.clone(), r.apply(&value)));
                    secret_headers.push((k.clone(), r.key().to_string()));
                }
                let spec = serde_json::json!({ "url": url, "headers": plain, "secrets": secret_names });
                Ok((Plan::Http { url: url.clone(), headers, secret_headers }, spec))
            }
            _ => Err(format!("plugin `{name}` has no server to start (kind `builtin`)")),
        }
    }

    fn server(&self, name: &str) -> Arc<Server> {
        self.servers.lock().unwrap_or_else(|e| e.into_inner()).entry(name.to_string()).or_default().clone()
    }

    /// The live connection to a plugin's server, started if needed. Each start lists the
    /// tools and records them in the lock: a changed definition shows up there before any
    /// call is made.
    pub async fn connect(&self, m: &Manifest, secret: SecretFn<'_>) -> Result<Arc<Conn>, String> {
        let server = self.server(&m.name);
        let mut slot = server.conn.lock().await;
        *server.last_used.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        if let Some(conn) = slot.as_ref() {
            if conn.alive() {
                return Ok(conn.clone());
            }
            conn.stop().await;
            *slot = None;
        }
        if let Some(why) = server.broken.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Err(why);
        }
        let recent = {
            let mut starts = server.starts.lock().unwrap_or_else(|e| e.into_inner());
            starts.retain(|t| t.elapsed() < WINDOW);
            starts.len()
        };
        if recent >= MAX_STARTS {
            let why = format!(
                "plugin `{}` is broken: its server was started {recent} times within a minute and keeps dying \
                 (`pyra plugin logs {}` shows its stderr; `pyra plugin restart {}` tries again)",
                m.name, m.name, m.name
            );
            *server.broken.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
            tracing::error!(plugin = %m.name, "{why}");
            return Err(why);
        }
        if recent > 0 {
            // 0.5 s, 1 s, 2 s, 4 s between restarts.
            tokio::time::sleep(Duration::from_millis(500 << (recent - 1).min(3))).await;
            tracing::warn!(plugin = %m.name, restarts = recent, "restarting the plugin's server");
        }
        server.starts.lock().unwrap_or_else(|e| e.into_inner()).push(Instant::now());
        let conn = self.start(m, secret).await?;
        let conn = Arc::new(conn);
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Starts a server (not pooled), lists its tools and updates the lock.
    pub async fn start(&self, m: &Manifest, secret: SecretFn<'_>) -> Result<Conn, String> {
        let dir = self.dir(&m.name);
        let mut lock = Lock::read(&dir)?;
        let before = lock.clone();
        let (plan, spec) = self.plan(m, secret)?;
        lock.set_launch(spec);
        let limits = m.limits();
        let known = lock.protocol.clone();
        let conn = Conn::start(&m.name, plan, &limits, known.as_deref()).await?;
        let tools = match conn.list_tools(&limits).await {
            Ok(t) => t,
            Err(e) => {
                conn.stop().await;
                return Err(format!("plugin `{}`: {}", m.name, e.message()));
            }
        };
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let changes = lock.update_tools(&tools, &now);
        for change in &changes {
            tracing::warn!(plugin = %m.name, "{change}");
        }
        lock.protocol = Some(conn.protocol.clone()).filter(|p| !p.is_empty());
        lock.server = Some(conn.server.clone()).filter(|s| !s.is_empty());
        lock.cold_start_ms = Some(conn.cold_start.as_millis() as u64);
        // Rewritten only when something that matters changed (a daemon watching the
        // plugins' files reloads on every write), or when the cold start was never measured.
        let same = |l: &Lock| {
            (l.launch.hash.clone(), l.protocol.clone(), l.server.clone(), l.tools.clone(), l.removed.clone())
        };
        if !changes.is_empty() || same(&before) != same(&lock) || before.cold_start_ms.is_none() {
            lock.write(&dir)?;
        }
        tracing::info!(plugin = %m.name, protocol = %conn.protocol, cold_ms = conn.cold_start.as_millis() as u64, "server started");
        Ok(conn)
    }

    /// A built-in plugin's tools and launch spec recorded in its lock (a newer Pyra may
    /// have changed a definition: pinned like any server's). Writes only on a change.
    pub fn refresh_builtin(&self, m: &Manifest) -> Result<Arc<dyn crate::builtin::Builtin>, String> {
        let id = m.builtin.as_deref().unwrap_or_default();
        let builtin = crate::builtin::find(id)
            .ok_or_else(|| format!("plugin `{}`: this build has no built-in `{id}`", m.name))?;
        let dir = self.dir(&m.name);
        let mut lock = Lock::read(&dir)?;
        let before = lock.clone();
        let secret_names: Vec<String> = m.secrets.iter().map(|(k, r)| format!("{k}={}", r.key())).collect();
        lock.set_launch(serde_json::json!({ "builtin": id, "settings": m.settings, "secrets": secret_names }));
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let changes = lock.update_tools(&builtin.tools(), &now);
        lock.protocol = Some("builtin".into());
        lock.server = Some(format!("pyra {id} {}", env!("CARGO_PKG_VERSION")));
        lock.cold_start_ms = Some(0);
        let same = |l: &Lock| (l.launch.hash.clone(), l.protocol.clone(), l.server.clone(), l.tools.clone());
        if !changes.is_empty() || same(&before) != same(&lock) {
            lock.write(&dir)?;
        }
        Ok(builtin)
    }

    /// Forgets a connection that died, so the next call starts the server again.
    pub async fn forget(&self, name: &str) {
        let server = self.server(name);
        let mut slot = server.conn.lock().await;
        if let Some(conn) = slot.take() {
            conn.stop().await;
        }
    }

    /// Stops a plugin's server and clears `broken` (`pyra plugin restart`, a reload).
    pub async fn reset(&self, name: &str) {
        self.forget(name).await;
        let server = self.server(name);
        *server.broken.lock().unwrap_or_else(|e| e.into_inner()) = None;
        server.starts.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Stops every server (the end of a command, the daemon stopping).
    pub async fn shutdown(&self) {
        let servers: Vec<Arc<Server>> =
            self.servers.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        for server in servers {
            if let Some(conn) = server.conn.lock().await.take() {
                conn.stop().await;
            }
        }
    }

    /// What runs now.
    pub fn running(&self) -> Vec<Running> {
        let servers: Vec<(String, Arc<Server>)> = self
            .servers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut out = Vec::new();
        for (name, server) in servers {
            let broken = server.broken.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let conn = server.conn.try_lock().ok().and_then(|c| c.clone());
            if conn.is_none() && broken.is_none() {
                continue;
            }
            out.push(Running {
                name,
                pid: conn.as_ref().and_then(|c| c.pid()),
                protocol: conn.as_ref().map(|c| c.protocol.clone()).unwrap_or_default(),
                server: conn.as_ref().map(|c| c.server.clone()).unwrap_or_default(),
                broken,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Stops servers idle for longer than their `timeouts.idle_shutdown` (the daemon runs
    /// this every few seconds).
    pub async fn stop_idle(&self) -> Vec<String> {
        let servers: Vec<(String, Arc<Server>)> = self
            .servers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut stopped = Vec::new();
        for (name, server) in servers {
            let idle_for = server.last_used.lock().unwrap_or_else(|e| e.into_inner()).map(|t| t.elapsed());
            let limit = self.load(&name).map(|l| l.manifest.limits().idle_shutdown).unwrap_or(Duration::from_secs(600));
            if idle_for.is_some_and(|d| d > limit)
                && let Ok(mut slot) = server.conn.try_lock()
                && let Some(conn) = slot.take()
            {
                conn.stop().await;
                stopped.push(name);
            }
        }
        stopped
    }
}

/// `npx` → `/usr/bin/npx` on `path`; a path with a slash is taken as it is (relative to
/// the plugin's folder).
fn resolve_command(command: &str, dir: &Path, path: &str) -> Option<PathBuf> {
    if command.contains('/') {
        let p = if Path::new(command).is_absolute() { PathBuf::from(command) } else { dir.join(command) };
        return p.is_file().then_some(p);
    }
    std::env::split_paths(path).map(|d| d.join(command)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    p.is_file()
}

/// `${env:VAR}` references in a plain value, from Pyra's environment.
fn expand_env(value: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find("${env:") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 6..];
        let end = after.find('}').ok_or_else(|| format!("`{value}`: `${{env:` is not closed"))?;
        let var = &after[..end];
        let v = std::env::var(var).map_err(|_| format!("`${{env:{var}}}` is not set in Pyra's environment"))?;
        out.push_str(&v);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
