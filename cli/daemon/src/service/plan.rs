//! The install and uninstall plans: the steps (the service file written or removed, its
//! log folder, the `systemctl`/`launchctl` commands) in the order they must happen, which
//! `--dry-run` prints and [`apply`] carries out, reporting what it did and what it left.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::{
    Os, ServiceError, ServiceSpec, UNIT_FILE_MODE, UserEnv, launchd_plist, lossy, shell_quote, systemd_unit, unit_path,
};

/// A command of a plan: a program and its arguments, run without a shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCommand {
    pub program: String,
    pub args: Vec<String>,
    /// Whether the plan stops when it fails. Uninstall's commands do not: the service may
    /// already be stopped or unknown, and the file must go anyway.
    pub must_succeed: bool,
}

impl ServiceCommand {
    pub(super) fn new(must_succeed: bool, words: &[&str]) -> ServiceCommand {
        ServiceCommand {
            program: words[0].to_string(),
            args: words[1..].iter().map(|w| w.to_string()).collect(),
            must_succeed,
        }
    }
}

impl fmt::Display for ServiceCommand {
    /// The command as a user would type it in a shell.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shell_quote(&self.program))?;
        self.args.iter().try_for_each(|a| write!(f, " {}", shell_quote(a)))
    }
}

/// One step of an install or uninstall, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A folder under the home, created owner-only (0700): launchd's log folder.
    CreateDir { path: PathBuf },
    /// The service file, replaced atomically, with [`UNIT_FILE_MODE`].
    Write { path: PathBuf, contents: String, mode: u32 },
    /// A service-manager command.
    Run(ServiceCommand),
    /// The service file, removed (already gone is fine).
    Remove { path: PathBuf },
}

impl fmt::Display for Step {
    /// The step as a shell command, for `--dry-run` and for the steps left to the user.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = |p: &Path| shell_quote(&p.to_string_lossy());
        match self {
            Step::CreateDir { path } => write!(f, "mkdir -p -m 700 {}", quoted(path)),
            Step::Write { path, mode, .. } => write!(f, "write {} (mode {mode:o})", quoted(path)),
            Step::Run(command) => command.fmt(f),
            Step::Remove { path } => write!(f, "rm -f {}", quoted(path)),
        }
    }
}

/// What `install-service` or `uninstall-service` will do; `--dry-run` prints it (the
/// [`Step::Write`] carries the file's text) and [`apply`] carries it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub os: Os,
    /// The unit name or launchd label.
    pub name: String,
    /// The service file.
    pub path: PathBuf,
    /// Whether the service file exists now (install replaces it; uninstall removes it).
    pub file_exists: bool,
    pub steps: Vec<Step>,
}

/// The plan to install (or re-install) `spec`'s service and start it. A re-install with a
/// different file restarts the service so the new command line takes effect.
pub fn install_plan(spec: &ServiceSpec, os: Os, env: &UserEnv) -> Result<Plan, ServiceError> {
    spec.check()?;
    let path = unit_path(spec, os, env);
    let file_path = lossy(&path);
    let (name, contents) = match os {
        Os::Linux => (spec.unit_name(env), systemd_unit(spec)),
        Os::MacOs => {
            let label = spec.launchd_label(env);
            let plist = launchd_plist(spec, &label);
            (label, plist)
        }
    };
    let existing = std::fs::read_to_string(&path).ok();
    let changed = existing.as_ref().is_some_and(|old| *old != contents);
    let mut steps = Vec::new();
    if os == Os::MacOs {
        steps.push(Step::CreateDir { path: spec.data_home().join("logs") });
    }
    steps.push(Step::Write { path: path.clone(), contents, mode: UNIT_FILE_MODE });
    let run = |must, words: &[&str]| Step::Run(ServiceCommand::new(must, words));
    match os {
        Os::Linux => {
            steps.push(run(true, &["systemctl", "--user", "daemon-reload"]));
            if changed {
                steps.push(run(true, &["systemctl", "--user", "enable", &name]));
                steps.push(run(true, &["systemctl", "--user", "restart", &name]));
            } else {
                steps.push(run(true, &["systemctl", "--user", "enable", "--now", &name]));
            }
        }
        Os::MacOs => {
            let domain = format!("gui/{}", env.uid);
            let service = format!("{domain}/{name}");
            if existing.is_some() {
                // bootstrap refuses a loaded label; unloading one not loaded fails harmlessly.
                steps.push(run(false, &["launchctl", "bootout", &service]));
            }
            // Undoes an earlier `launchctl disable`, which bootstrap would refuse.
            steps.push(run(true, &["launchctl", "enable", &service]));
            steps.push(run(true, &["launchctl", "bootstrap", &domain, &file_path]));
        }
    }
    Ok(Plan { os, name, path, file_exists: existing.is_some(), steps })
}

/// The plan to stop and remove `spec`'s service: stop and disable (failures tolerated),
/// remove the file, and on Linux reload systemd.
pub fn uninstall_plan(spec: &ServiceSpec, os: Os, env: &UserEnv) -> Result<Plan, ServiceError> {
    spec.check()?;
    let path = unit_path(spec, os, env);
    let run = |words: &[&str]| Step::Run(ServiceCommand::new(false, words));
    let (name, steps) = match os {
        Os::Linux => {
            let name = spec.unit_name(env);
            let steps = vec![
                run(&["systemctl", "--user", "disable", "--now", &name]),
                Step::Remove { path: path.clone() },
                run(&["systemctl", "--user", "daemon-reload"]),
            ];
            (name, steps)
        }
        Os::MacOs => {
            let name = spec.launchd_label(env);
            let steps = vec![
                run(&["launchctl", "bootout", &format!("gui/{}/{name}", env.uid)]),
                Step::Remove { path: path.clone() },
            ];
            (name, steps)
        }
    };
    Ok(Plan { os, name, file_exists: path.exists(), path, steps })
}

/// How one step went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// The step was carried out.
    Ok(Step),
    /// A removed file that was already gone.
    AlreadyAbsent(PathBuf),
    /// A command allowed to fail that failed: what it said.
    Failed { command: ServiceCommand, status: String, stderr: String },
}

/// What [`apply`] did, and what it left for the user to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub done: Vec<Done>,
    /// The steps not carried out: from the first command on when commands were not to
    /// be run (so the user runs them, in order), or after a failure.
    pub left: Vec<Step>,
}

/// A step failed: the error, and what was done before it.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct ApplyError {
    pub error: ServiceError,
    pub report: Report,
}

/// Carries out `plan` in order. Without `run_commands` it stops at the first command and
/// leaves it and every later step in [`Report::left`], so nothing is done out of order
/// (uninstall does not remove a file whose service still runs).
pub fn apply(plan: &Plan, run_commands: bool) -> Result<Report, ApplyError> {
    let mut report = Report::default();
    for (i, step) in plan.steps.iter().enumerate() {
        if matches!(step, Step::Run(_)) && !run_commands {
            report.left = plan.steps[i..].to_vec();
            break;
        }
        match do_step(step) {
            Ok(done) => report.done.push(done),
            Err(error) => {
                report.left = plan.steps[i..].to_vec();
                return Err(ApplyError { error, report });
            }
        }
    }
    Ok(report)
}

fn do_step(step: &Step) -> Result<Done, ServiceError> {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ServiceError {
        let path = lossy(path);
        move |source| ServiceError::Io { action, path, source }
    }
    match step {
        Step::CreateDir { path } => {
            std::fs::create_dir_all(path).map_err(io("create", path))?;
            paths::make_private(path, true);
        }
        Step::Write { path, contents, mode } => write_file(path, contents, *mode).map_err(io("write", path))?,
        Step::Remove { path } => match std::fs::remove_file(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Done::AlreadyAbsent(path.clone())),
            other => other.map_err(io("remove", path))?,
        },
        Step::Run(command) => {
            let output = std::process::Command::new(&command.program)
                .args(&command.args)
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|source| ServiceError::Spawn { command: command.to_string(), source })?;
            if !output.status.success() {
                let status = output.status.to_string();
                let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
                if command.must_succeed {
                    return Err(ServiceError::Command { command: command.to_string(), status, stderr });
                }
                return Ok(Done::Failed { command: command.clone(), status, stderr });
            }
        }
    }
    Ok(Done::Ok(step.clone()))
}

/// Writes beside the target and renames over it, so the service manager never reads half
/// a file; the mode is set explicitly, whatever the umask.
fn write_file(path: &Path, contents: &str, mode: u32) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = path.parent().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no parent folder"))?;
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&temp)?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}
