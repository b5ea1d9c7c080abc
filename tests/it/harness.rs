//! A fluent harness around the built `pyra` binary: a fresh temporary home per test,
//! the repository root as the working directory, no colours, no inherited `PYRA_HOME`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository root (tests refer to files as a user in a fresh clone would).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("cli/ has a parent").to_path_buf()
}

/// One test's Pyra: a temporary home that is removed when dropped.
pub struct Pyra {
    pub home: tempfile::TempDir,
    cwd: PathBuf,
}

/// What a command printed and how it exited.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Pyra {
    pub fn new() -> Self {
        Self { home: tempfile::tempdir().expect("temp home"), cwd: repo_root() }
    }

    pub fn in_dir(mut self, dir: &Path) -> Self {
        self.cwd = dir.to_path_buf();
        self
    }

    pub fn home_path(&self) -> &Path {
        self.home.path()
    }

    /// A scratch folder for the test's files (outside the Pyra home's protected parts).
    pub fn work(&self) -> PathBuf {
        let dir = self.home.path().join("work");
        std::fs::create_dir_all(&dir).expect("work dir");
        dir
    }

    /// Writes a skill file into the scratch folder and returns its path as a string.
    pub fn skill(&self, name: &str, yaml: &str) -> String {
        let path = self.work().join(format!("{name}.yaml"));
        std::fs::write(&path, yaml).expect("write skill");
        path.to_string_lossy().into_owned()
    }

    /// The command, ready to run or spawn.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pyra"));
        cmd.args(args)
            .current_dir(&self.cwd)
            .env("PYRA_HOME", self.home.path())
            .env("NO_COLOR", "1")
            .env_remove("PYRA_PROFILE")
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `pyra ARGS…` and returns its output.
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let out = self.command(args).output().expect("pyra runs");
        Output::from(out)
    }

    /// Runs `pyra ARGS…` with the vault unlocked by `passphrase` (at a fast scrypt work
    /// factor) and `stdin` piped in (closed at once when `None`).
    pub fn run_unlocked<I, S>(&self, passphrase: &str, args: I, stdin: Option<&str>) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        use std::io::Write;
        let mut cmd = self.command(args);
        cmd.env("PYRA_VAULT_PASSPHRASE", passphrase).env("PYRA_VAULT_SCRYPT_LOG_N", "10");
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("pyra runs");
        let mut input = child.stdin.take().expect("stdin piped");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        drop(input);
        Output::from(child.wait_with_output().expect("pyra ends"))
    }

    /// The newest run's id.
    pub fn last_run(&self) -> String {
        let list = self.run(["runs", "list", "--json"]);
        list.success();
        list.json()[0]["id"].as_str().expect("a run").to_string()
    }

    /// `pyra runs show ID --json`.
    pub fn show(&self, id: &str) -> serde_json::Value {
        let out = self.run(["runs", "show", id, "--json"]);
        out.success();
        out.json()
    }
}

impl From<std::process::Output> for Output {
    fn from(out: std::process::Output) -> Self {
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// A node's record in `runs show --json`.
pub fn node<'a>(run: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    run["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["node"] == id))
        .unwrap_or_else(|| panic!("no node {id} in {run:#}"))
}

impl Output {
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "expected exit {code}\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(self.stdout.contains(needle), "stdout lacks {needle:?}:\n{}", self.stdout);
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}:\n{}", self.stderr);
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Every file under a folder with its bytes (for "no trace of a secret anywhere" checks);
/// sockets and other special files hold no bytes and are passed over.
pub fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if path.is_file() {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out
}
