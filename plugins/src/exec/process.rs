//! The `exec` executor: runs a program from an argv list (never through a shell) in its
//! own process group, with a cleared environment, and captures its output. When any
//! argument or variable came from untrusted data, a person must approve the exact
//! command first. Cancellation sends SIGTERM to the group, then SIGKILL after a grace time.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use paths::Access;
use runtime::{
    ApprovalRequest, ApprovalState, Asked, BoxFuture, Executor, LogLevel, NodeCtx, NodeError, Outcome, Output, procs,
};
use rustix::process::Signal;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

/// Most bytes kept of standard output and of standard error, each.
pub const OUTPUT_CAP: usize = 10 * 1024 * 1024;
/// How long a cancelled program gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(2);
/// How long an approval to run a program stays open (then it counts as a no).
const APPROVAL_TIMEOUT: Duration = Duration::from_secs(3600);
/// Variables passed through from Pyra's own environment, besides those the skill declares.
const PASSED_THROUGH: [&str; 4] = ["PATH", "HOME", "LANG", "TERM"];

/// `exec`: the output is `{exit_code, stdout, stderr}`.
pub struct Exec;

/// What to run: argv, working directory, the complete environment, standard input.
#[derive(Debug, Clone, Default)]
pub struct Program {
    pub argv: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub stdin: Option<String>,
}

/// How a program ended, with what it printed (each stream capped at [`OUTPUT_CAP`]).
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub truncated: bool,
}

fn fatal(message: impl Into<String>) -> NodeError {
    NodeError::Fatal(message.into())
}

impl Executor for Exec {
    fn execute(&self, ctx: NodeCtx, with: Value) -> BoxFuture<'static, Result<Outcome, NodeError>> {
        Box::pin(async move {
            let argv: Vec<String> =
                with["argv"].as_array().into_iter().flatten().map(|a| a.as_str().unwrap_or_default().into()).collect();
            if argv.first().is_none_or(String::is_empty) {
                return Err(fatal("`argv` needs the program as its first element"));
            }
            if argv.iter().any(|a| a.contains('\0')) {
                return Err(fatal("`argv`: an argument contains a NUL byte"));
            }
            let extra: Vec<(String, String)> = with["env"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            if let Some((name, _)) =
                extra.iter().find(|(k, v)| k.is_empty() || k.contains(['=', '\0']) || v.contains('\0'))
            {
                return Err(fatal(format!("`env`: `{name}` is not a usable variable (name or value)")));
            }
            let cwd = with["cwd"].as_str().map(|c| ctx.check_path(c, Access::Directory)).transpose()?;
            let tainted: Vec<String> =
                ctx.tainted_under("/argv").into_iter().chain(ctx.tainted_under("/env")).map(str::to_string).collect();
            if !tainted.is_empty() {
                let names: Vec<&str> = extra.iter().map(|(k, _)| k.as_str()).collect();
                let details = json!({ "argv": argv, "env": names, "cwd": cwd, "tainted": tainted });
                let message = format!("Run {}? {}", show_argv(&argv), describe_taint(&tainted));
                let request = ApprovalRequest {
                    message,
                    details: Some(details),
                    timeout: APPROVAL_TIMEOUT,
                    on_timeout: ApprovalState::Rejected,
                    sub: None,
                };
                let asked = tokio::select! {
                    biased;
                    () = ctx.cancel.cancelled() => return Err(NodeError::Cancelled),
                    asked = ctx.request_approval(request) => asked?,
                };
                match asked {
                    Asked::Answered(answer) if answer.approved => {
                        ctx.log(LogLevel::Info, format!("running `{}` was approved by {}", argv[0], answer.by));
                    }
                    Asked::Answered(answer) => return Ok(Outcome::Rejected(Output::trusted(answer.to_output()))),
                    Asked::Parked => return Ok(Outcome::Waiting(format!("approval to run `{}`", argv[0]))),
                }
            }
            let program = Program {
                env: environment(ctx.declared_env(), &extra),
                argv,
                cwd,
                stdin: with["stdin"].as_str().map(str::to_string),
            };
            ctx.log(LogLevel::Info, format!("running `{}`", program.argv[0]));
            let finished = run(&program, &ctx.cancel).await?;
            if finished.truncated {
                ctx.log(
                    LogLevel::Warn,
                    format!("`{}` printed more than {OUTPUT_CAP} bytes; the rest was dropped", program.argv[0]),
                );
            }
            let value = finish(&program.argv[0], finished, with["parse_json"].as_bool().unwrap_or(false))?;
            Ok(Outcome::Done(Output::untrusted(value)))
        })
    }
}

/// The program's whole environment: a few variables of Pyra's own, the skill's declared
/// ones, then the node's `env:`.
pub fn environment(declared: &[(String, String)], extra: &[(String, String)]) -> Vec<(String, String)> {
    let own = PASSED_THROUGH.iter().filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)));
    own.chain(declared.iter().cloned()).chain(extra.iter().cloned()).collect()
}

/// The command as the approval prompt shows it: plain words bare, anything else quoted
/// with escapes, so control characters cannot hide part of it.
fn show_argv(argv: &[String]) -> String {
    let plain = |a: &str| !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    let words: Vec<String> = argv.iter().map(|a| if plain(a) { a.clone() } else { format!("{a:?}") }).collect();
    format!("`{}`", words.join(" "))
}

/// `Argument 2 and environment variable TOKEN came from untrusted data ...`.
fn describe_taint(pointers: &[String]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for pointer in pointers {
        let mut segments = pointer.trim_start_matches('/').splitn(3, '/');
        let part = match (segments.next(), segments.next()) {
            (Some("argv"), None) => "the argument list".to_string(),
            (Some("argv"), Some("0")) => "the program name".to_string(),
            (Some("argv"), Some(i)) => format!("argument {i}"),
            (Some("env"), None) => "the environment".to_string(),
            (Some("env"), Some(name)) => format!("environment variable {}", name.replace("~1", "/").replace("~0", "~")),
            _ => pointer.clone(),
        };
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    let mut text = match parts.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => "Part of it".to_string(),
    };
    if let Some(first) = text.get(..1) {
        text = first.to_uppercase() + &text[1..];
    }
    format!("{text} came from untrusted data (e.g. an HTTP response or a model's output).")
}

fn spawn_error(program: &str, e: &io::Error) -> NodeError {
    match e.kind() {
        io::ErrorKind::NotFound if program.contains('/') => fatal(format!("program `{program}` does not exist")),
        io::ErrorKind::NotFound => fatal(format!("program `{program}` not found on PATH")),
        io::ErrorKind::PermissionDenied => {
            fatal(format!("cannot run `{program}`: permission denied (is it executable?)"))
        }
        io::ErrorKind::InvalidInput => fatal(format!("cannot run `{program}`: {e}")),
        _ => NodeError::Retryable(format!("cannot start `{program}`: {e}")),
    }
}

/// Runs a program to its end, or until `cancel` fires (then `Err(Cancelled)`, the group stopped).
pub async fn run(program: &Program, cancel: &CancellationToken) -> Result<Finished, NodeError> {
    let name = &program.argv[0];
    let mut command = tokio::process::Command::new(name);
    command.args(&program.argv[1..]).env_clear().envs(program.env.iter().map(|(k, v)| (k, v)));
    command.stdin(if program.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    command.stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).kill_on_drop(true);
    if let Some(cwd) = &program.cwd {
        command.current_dir(cwd);
    }
    let mut child = command.spawn().map_err(|e| spawn_error(name, &e))?;
    let Some(pid) = child.id() else { return Err(NodeError::Retryable(format!("`{name}` vanished as it started"))) };
    let mut group = procs::Group::register(pid);
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let input = program.stdin.clone();
    let feed = async move {
        if let (Some(mut pipe), Some(text)) = (stdin, input) {
            // A program that exits without reading its input is not an error.
            let _ = pipe.write_all(text.as_bytes()).await;
            let _ = pipe.shutdown().await;
        }
    };
    let ended = {
        let work = async {
            tokio::join!(
                feed,
                runtime::procs::read_capped(stdout, OUTPUT_CAP),
                runtime::procs::read_capped(stderr, OUTPUT_CAP),
                child.wait()
            )
        };
        tokio::select! {
            biased;
            () = cancel.cancelled() => None,
            done = work => Some(done),
        }
    };
    let Some(((), (stdout, out_cut), (stderr, err_cut), status)) = ended else {
        procs::signal_group(pid, Signal::TERM);
        let _ = tokio::time::timeout(GRACE, child.wait()).await;
        // The leader may be gone while others in its group live on: they go too.
        procs::signal_group(pid, Signal::KILL);
        let _ = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
        group.ended();
        return Err(NodeError::Cancelled);
    };
    group.ended();
    let status = status.map_err(|e| NodeError::Retryable(format!("waiting for `{name}` failed: {e}")))?;
    Ok(Finished { status, stdout, stderr, truncated: out_cut || err_cut })
}

/// The last `n` characters of a text.
fn tail(text: &str, n: usize) -> &str {
    let count = text.chars().count();
    text.char_indices().nth(count.saturating_sub(n)).map_or(text, |(i, _)| &text[i..])
}

/// Turns how a program ended into the node's value (or a retryable error on failure).
pub fn finish(name: &str, finished: Finished, parse_json: bool) -> Result<Value, NodeError> {
    let stderr = String::from_utf8_lossy(&finished.stderr).into_owned();
    let status = finished.status;
    if !status.success() {
        let how = match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(signal)) => format!("was killed by signal {signal}"),
            (None, None) => "failed".to_string(),
        };
        let said = tail(stderr.trim(), 500);
        let said = if said.is_empty() { "(nothing on stderr)" } else { said };
        return Err(NodeError::Retryable(format!("`{name}` {how}: {said}")));
    }
    let text = String::from_utf8_lossy(&finished.stdout);
    let stdout = if parse_json {
        serde_json::from_str(text.trim()).map_err(|e| {
            let start: String = text.chars().take(200).collect();
            let cut = if finished.truncated { " (it was cut at the size limit)" } else { "" };
            fatal(format!("`{name}` printed output that is not valid JSON{cut} ({e}); it starts with: {start}"))
        })?
    } else {
        Value::String(text.into_owned())
    };
    Ok(json!({ "exit_code": status.code(), "stdout": stdout, "stderr": stderr }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(argv: &[&str]) -> Program {
        Program { argv: argv.iter().map(|a| a.to_string()).collect(), env: environment(&[], &[]), ..Program::default() }
    }

    async fn exec(program: &Program, parse_json: bool) -> Result<Value, NodeError> {
        let finished = run(program, &CancellationToken::new()).await?;
        finish(&program.argv[0], finished, parse_json)
    }

    #[tokio::test]
    async fn captures_output_and_feeds_stdin() {
        let value = exec(&program(&["echo", "hello", "a b"]), false).await.unwrap();
        assert_eq!(value, json!({ "exit_code": 0, "stdout": "hello a b\n", "stderr": "" }));
        let mut cat = program(&["cat"]);
        cat.stdin = Some("from stdin".into());
        assert_eq!(exec(&cat, false).await.unwrap()["stdout"], "from stdin");
        let dir = tempfile::tempdir().unwrap();
        let mut pwd = program(&["pwd"]);
        pwd.cwd = Some(dir.path().canonicalize().unwrap());
        let shown = exec(&pwd, false).await.unwrap()["stdout"].as_str().unwrap().trim().to_string();
        assert_eq!(PathBuf::from(shown), dir.path().canonicalize().unwrap());
    }

    #[tokio::test]
    async fn parses_json_or_says_why_not() {
        let value = exec(&program(&["echo", r#"{"a": [1, 2]}"#]), true).await.unwrap();
        assert_eq!(value["stdout"], json!({ "a": [1, 2] }));
        let Err(NodeError::Fatal(m)) = exec(&program(&["echo", "not json"]), true).await else { panic!() };
        assert!(m.contains("not valid JSON") && m.contains("not json"), "{m}");
    }

    #[tokio::test]
    async fn failures_are_classified() {
        let failing = program(&["sh", "-c", "echo out; echo oops >&2; exit 3"]);
        let Err(NodeError::Retryable(m)) = exec(&failing, false).await else { panic!() };
        assert_eq!(m, "`sh` exited with code 3: oops");
        let Err(NodeError::Fatal(m)) = exec(&program(&["pyra-no-such-program-x"]), false).await else { panic!() };
        assert_eq!(m, "program `pyra-no-such-program-x` not found on PATH");
        let Err(NodeError::Fatal(m)) = exec(&program(&["/nonexistent/prog"]), false).await else { panic!() };
        assert!(m.contains("does not exist"), "{m}");
    }

    #[tokio::test]
    async fn environment_is_cleared() {
        let declared = [("DECLARED".to_string(), "d".to_string())];
        let mut env = program(&["env"]);
        env.env = environment(&declared, &[("EXTRA".into(), "e".into())]);
        let out = exec(&env, false).await.unwrap()["stdout"].as_str().unwrap().to_string();
        let names: Vec<&str> = out.lines().filter_map(|l| l.split('=').next()).collect();
        assert!(names.contains(&"DECLARED") && names.contains(&"EXTRA") && names.contains(&"PATH"), "{out}");
        assert!(names.iter().all(|n| ["PATH", "HOME", "LANG", "TERM", "DECLARED", "EXTRA"].contains(n)), "{out}");
    }

    #[tokio::test]
    async fn cancel_stops_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        // Both the shell and its background child ignore SIGTERM: only SIGKILL stops them.
        let script = format!("trap '' TERM; sleep 30 & echo $! > {}; wait", pid_file.display());
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            trigger.cancel();
        });
        let started = std::time::Instant::now();
        let result = run(&program(&["sh", "-c", &script]), &cancel).await;
        assert!(matches!(result, Err(NodeError::Cancelled)), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());
        let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Gone, or a zombie waiting for a reaper: either way no longer running.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or_default().trim_start().chars().next();
        assert!(matches!(state, None | Some('Z') | Some('X')), "sleep {pid} still runs: {stat}");
    }

    #[tokio::test]
    async fn output_is_capped() {
        let (kept, cut) = runtime::procs::read_capped(Some(&b"0123456789"[..]), 4).await;
        assert_eq!((kept.as_slice(), cut), (&b"0123"[..], true));
        let (kept, cut) = runtime::procs::read_capped(Some(&b"0123"[..]), 4).await;
        assert_eq!((kept.as_slice(), cut), (&b"0123"[..], false));
    }

    #[test]
    fn approval_prompt_names_the_tainted_parts() {
        let argv: Vec<String> =
            ["git", "log", "--grep", "x; rm -rf ~\u{1b}[2K"].iter().map(|s| s.to_string()).collect();
        assert_eq!(show_argv(&argv), r#"`git log --grep "x; rm -rf ~\u{1b}[2K"`"#);
        let tainted = ["/argv/3".to_string()];
        assert_eq!(
            describe_taint(&tainted),
            "Argument 3 came from untrusted data (e.g. an HTTP response or a model's output)."
        );
        let tainted = ["/argv/0".to_string(), "/argv/2".into(), "/env/A~1B".into()];
        assert!(describe_taint(&tainted).starts_with("The program name, argument 2 and environment variable A/B came"));
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("ab", 3), "ab");
    }
}
