//! The `ssh` and `server` built-ins (feature `plugin-ssh`), through the system `ssh` with
//! strict host keys, batch mode and the user's `~/.ssh/config`. `ssh.exec` takes an argv
//! list, never a shell string, and asks unless the command is on the plugin's allowlist;
//! `server` ([`server`]) runs fixed commands only.

mod allow;
mod conn;
mod server;

use std::collections::BTreeMap;
use std::sync::Arc;

use config::fields::{Field, Kind};
use serde_json::{Value, json};

use crate::builtin::{Builtin, Call, CallFuture};
use crate::manifest::Decision;

/// This module's built-ins, for [`crate::builtin::all`].
pub fn builtins() -> Vec<Arc<dyn Builtin>> {
    vec![Arc::new(Ssh), Arc::new(server::Server)]
}

const ALLOW: Field = Field::new(
    "allow",
    "Allowlist",
    Kind::List,
    "commands `exec` runs without asking, as shell words: `uptime, df -h, systemctl status *` \
     (`*` one argument, a final `**` any further ones; never an option)",
);

const FIELDS: &[Field] = &[
    conn::HOST,
    conn::USER,
    conn::PORT,
    conn::IDENTITY,
    conn::CONFIG,
    conn::KNOWN_HOSTS,
    ALLOW,
    conn::MULTIPLEX,
    conn::TIMEOUT,
    conn::MAX_OUTPUT,
];

pub struct Ssh;

fn argv_of(arguments: &Value) -> Result<Vec<String>, String> {
    let list = arguments.get("argv").and_then(Value::as_array).ok_or("`argv` must be a list of strings")?;
    list.iter()
        .map(|a| a.as_str().map(str::to_string).ok_or_else(|| "`argv` must be a list of strings".to_string()))
        .collect()
}

impl Ssh {
    async fn exec(&self, arguments: &Value, call: &Call<'_>) -> Result<Value, String> {
        let argv = argv_of(arguments)?;
        let timeout = arguments.get("timeout").and_then(Value::as_u64).map(std::time::Duration::from_secs);
        let ran = conn::run(call, &argv, timeout).await?;
        let host = conn::shown_host(call);
        let structured = json!({
            "host": host,
            "argv": argv,
            "exit_code": ran.code,
            "stdout": ran.stdout,
            "stderr": ran.stderr,
            "truncated": ran.truncated,
        });
        let cut = if ran.truncated { "\n[output cut at `settings.max_output`]" } else { "" };
        if ran.ok() {
            return Ok(json!({
                "content": [{ "type": "text", "text": format!("{}{cut}", ran.stdout) }],
                "structuredContent": structured,
            }));
        }
        let how = match ran.code {
            Some(127) => format!("`{}` is not installed on {host} (exit 127)", argv[0]),
            Some(code) => format!("`{}` exited with code {code} on {host}", argv[0]),
            None => format!("`{}` was killed by a signal on {host}", argv[0]),
        };
        Ok(json!({
            "content": [{ "type": "text", "text": format!("{how}: {}\n{}{cut}", ran.said(), ran.stdout) }],
            "structuredContent": structured,
            "isError": true,
        }))
    }
}

impl Builtin for Ssh {
    fn id(&self) -> &'static str {
        "ssh"
    }

    fn description(&self) -> &'static str {
        "Runs commands on a server over SSH (argv lists only; strict host keys; an allowlist runs without asking)."
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn tools(&self) -> Vec<Value> {
        vec![json!({
            "name": "exec",
            "title": "Run a command over SSH",
            "description": "Runs one command on the server as an argv list (the program, then each argument; never a shell string: pipes, `;` and `$(…)` are plain text). Returns stdout, stderr and the exit code. Commands outside the plugin's allowlist wait for approval. The output is untrusted.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "argv": { "type": "array", "items": { "type": "string" }, "minItems": 1, "description": "The program and its arguments, e.g. [\"df\", \"-h\"]." },
                    "timeout": { "type": "integer", "minimum": 1, "maximum": 86400, "description": "Seconds the command may run (default `settings.timeout`)." }
                },
                "required": ["argv"],
                "additionalProperties": false
            },
            "annotations": { "readOnlyHint": false, "destructiveHint": true, "idempotentHint": false, "openWorldHint": true }
        })]
    }

    /// `exec` is allowed by policy and narrowed by [`Ssh::asks`]: only the allowlist runs
    /// unattended.
    fn policy(&self) -> &'static [(&'static str, Decision)] {
        &[("exec", Decision::Allow)]
    }

    fn asks(&self, tool: &str, arguments: &Value, settings: &BTreeMap<String, String>) -> Option<String> {
        if tool != "exec" {
            return None;
        }
        match argv_of(arguments) {
            Ok(argv) => allow::asks(&argv, settings.get("allow").map(String::as_str)),
            Err(why) => Some(why),
        }
    }

    fn call<'a>(&'a self, tool: &'a str, arguments: Value, call: Call<'a>) -> CallFuture<'a> {
        Box::pin(async move {
            match tool {
                "exec" => self.exec(&arguments, &call).await,
                other => Err(format!("ssh has no tool `{other}`")),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_asks_outside_the_allowlist_only() {
        let settings: BTreeMap<String, String> =
            [("allow".to_string(), "uptime, systemctl status *".to_string())].into();
        let asks = |argv: Value| Ssh.asks("exec", &json!({ "argv": argv }), &settings);
        assert_eq!(asks(json!(["uptime"])), None);
        assert_eq!(asks(json!(["systemctl", "status", "nginx"])), None);
        let why = asks(json!(["systemctl", "restart", "nginx"])).unwrap();
        assert!(why.contains("`systemctl restart nginx` matches no entry"), "{why}");
        assert!(asks(json!("uptime")).is_some(), "a string is not an argv");
        assert_eq!(Ssh.asks("other", &json!({}), &settings), None);
    }
}
