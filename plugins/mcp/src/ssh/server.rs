//! The `server` built-in: a server's health and upkeep over the `ssh` plugin's connection
//! settings, with fixed commands only (no free-form shell; a unit or package name is
//! checked, then quoted). `status` and `logs` are read-only; `restart_service` and
//! `update` ask. A command the server lacks (`systemctl` without systemd) is reported as
//! missing in its part of the status, not as a failure of the whole call.

use std::time::Duration;

use config::fields::{Field, Kind};
use serde_json::{Value, json};

use super::conn::{self, Ran};
use crate::builtin::{Builtin, Call, CallFuture};
use crate::manifest::Decision;

const SUDO: Field = Field::new(
    "sudo",
    "Use sudo",
    Kind::Bool,
    "run restart_service and update through `sudo -n` (needs passwordless sudo for those commands)",
)
.default("false");
const PACKAGE_MANAGER: Field = Field::new(
    "package_manager",
    "Package manager",
    Kind::Choice(&["auto", "apt", "dnf"]),
    "what `update` uses: auto picks apt-get or dnf by what the server has",
)
.default("auto");
const DISK_WARN: Field = Field::new(
    "disk_warn_percent",
    "Disk warning (%)",
    Kind::Integer { min: 1, max: 100 },
    "a file system this full is a problem in `status`",
)
.default("90");

const FIELDS: &[Field] = &[
    conn::HOST,
    conn::USER,
    conn::PORT,
    conn::IDENTITY,
    conn::CONFIG,
    conn::KNOWN_HOSTS,
    SUDO,
    PACKAGE_MANAGER,
    DISK_WARN,
    conn::MULTIPLEX,
    conn::TIMEOUT,
    conn::MAX_OUTPUT,
];

/// The fixed commands of `status`, by the part they fill.
const CHECKS: &[(&str, &[&str])] = &[
    ("uptime", &["uptime"]),
    ("load", &["cat", "/proc/loadavg"]),
    ("memory", &["free", "-m"]),
    ("disk", &["df", "-hP"]),
    ("failed_units", &["systemctl", "--failed", "--no-legend", "--plain", "--no-pager"]),
];

/// How long `update` may run (package downloads).
const UPDATE_TIMEOUT: Duration = Duration::from_secs(3600);

pub struct Server;

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// A systemd unit name: letters, digits and `:_.@-`, not starting with `-`.
fn unit_of(arguments: &Value) -> Result<String, String> {
    let unit = arguments.get("unit").and_then(Value::as_str).unwrap_or("");
    let ok = unit.len() <= 256
        && unit.starts_with(|c: char| c.is_ascii_alphanumeric())
        && unit.chars().all(|c| c.is_ascii_alphanumeric() || ":_.@-".contains(c));
    if ok {
        Ok(unit.to_string())
    } else {
        Err(format!("`unit: {unit:?}` is not a unit name (letters, digits and `:_.@-`, e.g. `nginx.service`)"))
    }
}

fn with_sudo(call: &Call<'_>, words: Vec<String>) -> Vec<String> {
    if call.setting("sudo") == Some("true") {
        argv(&["sudo", "-n", "--"]).into_iter().chain(words).collect()
    } else {
        words
    }
}

fn text_result(text: String, structured: Value, is_error: bool) -> Value {
    let mut out = json!({ "content": [{ "type": "text", "text": text }], "structuredContent": structured });
    if is_error {
        out["isError"] = json!(true);
    }
    out
}

/// One part of the status: its command and how it went.
fn check(name: &str, words: &[&str], ran: &Ran, host: &str) -> Value {
    let no_systemd =
        ran.stderr.contains("not been booted with systemd") || ran.stderr.contains("Failed to connect to bus");
    let (state, error) = if ran.missing() {
        ("missing", format!("`{}` is not installed on {host}", words[0]))
    } else if name == "failed_units" && no_systemd {
        ("unavailable", format!("systemd is not running on {host}"))
    } else if ran.ok() {
        ("ok", String::new())
    } else {
        ("failed", ran.said())
    };
    json!({ "name": name, "argv": words, "state": state, "exit_code": ran.code, "output": ran.stdout, "error": error })
}

fn parse_load(text: &str) -> Option<Vec<f64>> {
    let v: Vec<f64> = text.split_whitespace().take(3).filter_map(|w| w.parse().ok()).collect();
    (v.len() == 3).then_some(v)
}

/// `free -m`'s `Mem:` row by its header's columns.
fn parse_memory(text: &str) -> Option<Value> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split_whitespace().collect();
    let row: Vec<u64> =
        lines.find(|l| l.starts_with("Mem:"))?.split_whitespace().skip(1).filter_map(|w| w.parse().ok()).collect();
    let mut out = serde_json::Map::new();
    for (name, value) in header.iter().zip(row) {
        out.insert(format!("{}_mb", name.replace('/', "_")), json!(value));
    }
    Some(Value::Object(out))
}

/// `df -hP`'s rows.
fn parse_disks(text: &str) -> Vec<Value> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let w: Vec<&str> = line.split_whitespace().collect();
            let [fs, size, used, avail, percent, mount @ ..] = w.as_slice() else { return None };
            let use_percent: u64 = percent.trim_end_matches('%').parse().ok()?;
            Some(json!({ "filesystem": fs, "size": size, "used": used, "available": avail,
                         "use_percent": use_percent, "mounted_on": mount.join(" ") }))
        })
        .collect()
}

impl Server {
    async fn status(&self, call: &Call<'_>) -> Result<Value, String> {
        let host = conn::shown_host(call);
        let mut checks = Vec::new();
        let mut parts = serde_json::Map::new();
        for (name, words) in CHECKS {
            let ran = conn::run(call, &argv(words), None).await?;
            let c = check(name, words, &ran, &host);
            let output = ran.stdout.as_str();
            let value = match *name {
                "uptime" => json!(output.trim()),
                "load" => json!(parse_load(output)),
                "memory" => parse_memory(output).unwrap_or(Value::Null),
                "disk" => json!(parse_disks(output)),
                _ if c["state"] == "ok" => {
                    json!(output.lines().filter_map(|l| l.split_whitespace().next()).collect::<Vec<_>>())
                }
                _ => Value::Null,
            };
            parts.insert(name.to_string(), value);
            checks.push(c);
        }
        let warn: u64 = call.setting("disk_warn_percent").and_then(|v| v.parse().ok()).unwrap_or(90);
        let mut problems: Vec<String> = Vec::new();
        for unit in parts["failed_units"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            problems.push(format!("unit {unit} has failed"));
        }
        for disk in parts["disk"].as_array().into_iter().flatten() {
            if disk["use_percent"].as_u64().unwrap_or(0) >= warn {
                problems.push(format!(
                    "{} is {}% full",
                    disk["mounted_on"].as_str().unwrap_or("?"),
                    disk["use_percent"]
                ));
            }
        }
        let mut lines = vec![format!("{host}: {}", parts["uptime"].as_str().unwrap_or("(uptime unknown)"))];
        if let Some(m) = parts["memory"].as_object() {
            lines.push(format!(
                "memory: {} of {} MB used, {} MB available",
                m.get("used_mb").unwrap_or(&json!("?")),
                m.get("total_mb").unwrap_or(&json!("?")),
                m.get("available_mb").unwrap_or(&json!("?"))
            ));
        }
        for c in checks.iter().filter(|c| c["state"] != "ok") {
            lines.push(format!(
                "{}: {} ({})",
                c["name"].as_str().unwrap_or(""),
                c["state"].as_str().unwrap_or(""),
                c["error"].as_str().unwrap_or("")
            ));
        }
        lines.push(if problems.is_empty() {
            "problems: none".into()
        } else {
            format!("problems: {}", problems.join("; "))
        });
        let mut structured =
            json!({ "host": host, "healthy": problems.is_empty(), "problems": problems, "checks": checks });
        for (k, v) in parts {
            structured[k] = v;
        }
        Ok(text_result(lines.join("\n"), structured, false))
    }

    async fn logs(&self, arguments: &Value, call: &Call<'_>) -> Result<Value, String> {
        let unit = unit_of(arguments)?;
        let lines = arguments.get("lines").and_then(Value::as_u64).unwrap_or(100).clamp(1, 5000);
        let words = vec![
            "journalctl".to_string(),
            "-u".into(),
            unit.clone(),
            "-n".into(),
            lines.to_string(),
            "--no-pager".into(),
            "-o".into(),
            "short-iso".into(),
        ];
        let ran = conn::run(call, &words, None).await?;
        let host = conn::shown_host(call);
        if ran.missing() {
            return Err(format!("`journalctl` is not installed on {host} (the server has no systemd journal)"));
        }
        let structured = json!({ "host": host, "unit": unit, "exit_code": ran.code, "lines": ran.stdout.lines().collect::<Vec<_>>(), "stderr": ran.stderr });
        if ran.ok() {
            Ok(text_result(ran.stdout.clone(), structured, false))
        } else {
            Ok(text_result(format!("journalctl for {unit} on {host} failed: {}", ran.said()), structured, true))
        }
    }

    async fn restart(&self, arguments: &Value, call: &Call<'_>) -> Result<Value, String> {
        let unit = unit_of(arguments)?;
        let host = conn::shown_host(call);
        let ran = conn::run(call, &with_sudo(call, argv(&["systemctl", "restart", &unit])), None).await?;
        if ran.missing() {
            return Err(format!("`systemctl` is not installed on {host}: the server does not run systemd"));
        }
        if !ran.ok() {
            let structured =
                json!({ "host": host, "unit": unit, "restarted": false, "exit_code": ran.code, "stderr": ran.stderr });
            return Ok(text_result(format!("restarting {unit} on {host} failed: {}", ran.said()), structured, true));
        }
        let state = conn::run(call, &argv(&["systemctl", "is-active", &unit]), None).await?;
        let state = state.stdout.trim().to_string();
        let structured = json!({ "host": host, "unit": unit, "restarted": true, "state": state });
        Ok(text_result(format!("restarted {unit} on {host}; it is {state}"), structured, false))
    }

    async fn update(&self, arguments: &Value, call: &Call<'_>) -> Result<Value, String> {
        let host = conn::shown_host(call);
        let packages: Vec<String> = arguments
            .get("packages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| p.as_str().unwrap_or("").to_string())
            .collect();
        if let Some(bad) = packages.iter().find(|p| {
            !p.starts_with(|c: char| c.is_ascii_alphanumeric())
                || !p.chars().all(|c| c.is_ascii_alphanumeric() || ".+_:~-".contains(c))
        }) {
            return Err(format!("`packages`: {bad:?} is not a package name"));
        }
        let manager = match call.setting("package_manager").unwrap_or("auto") {
            "auto" => self.detect(call, &host).await?,
            m => m.to_string(),
        };
        let steps: Vec<Vec<String>> = match manager.as_str() {
            "apt" => {
                let apt = argv(&["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-y", "-q"]);
                let upgrade: Vec<String> = if packages.is_empty() {
                    argv(&["upgrade"])
                } else {
                    argv(&["install", "--only-upgrade", "--"]).into_iter().chain(packages.clone()).collect()
                };
                vec![[apt.clone(), argv(&["update"])].concat(), [apt, upgrade].concat()]
            }
            _ => vec![[argv(&["dnf", "-y", "-q", "upgrade", "--"]), packages.clone()].concat()],
        };
        let mut done = Vec::new();
        for step in steps {
            let words = with_sudo(call, step);
            let ran = conn::run(call, &words, Some(UPDATE_TIMEOUT)).await?;
            let ok = ran.ok();
            done.push(json!({ "argv": words, "exit_code": ran.code, "output": ran.stdout, "stderr": ran.stderr }));
            if !ok {
                let shown = shlex::try_join(words.iter().map(String::as_str)).unwrap_or_default();
                let structured = json!({ "host": host, "manager": manager, "updated": false, "steps": done });
                return Ok(text_result(format!("`{shown}` failed on {host}: {}", ran.said()), structured, true));
            }
        }
        let text = done.iter().filter_map(|s| s["output"].as_str()).collect::<Vec<_>>().join("\n");
        let structured = json!({ "host": host, "manager": manager, "updated": true, "steps": done });
        Ok(text_result(text, structured, false))
    }

    /// apt or dnf, by which one the server answers for.
    async fn detect(&self, call: &Call<'_>, host: &str) -> Result<String, String> {
        for (manager, program) in [("apt", "apt-get"), ("dnf", "dnf")] {
            if conn::run(call, &argv(&[program, "--version"]), None).await?.ok() {
                return Ok(manager.to_string());
            }
        }
        Err(format!("{host} has neither apt-get nor dnf; set `settings.package_manager`"))
    }
}

impl Builtin for Server {
    fn id(&self) -> &'static str {
        "server"
    }

    fn description(&self) -> &'static str {
        "A server's health (uptime, load, memory, disk, failed units), unit logs, service restarts and package updates over SSH."
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn tools(&self) -> Vec<Value> {
        let unit = json!({ "type": "string", "minLength": 1, "maxLength": 256, "description": "A systemd unit, e.g. `nginx.service`." });
        let read =
            json!({ "readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": true });
        vec![
            json!({
                "name": "status",
                "title": "Server status",
                "description": "The server's uptime, load, memory, disk use and failed systemd units, with a list of problems (failed units, full disks). A command the server lacks is reported as missing.",
                "inputSchema": { "type": "object", "properties": {}, "additionalProperties": false },
                "annotations": read
            }),
            json!({
                "name": "logs",
                "title": "Unit logs",
                "description": "The last lines of a systemd unit's journal. The lines are untrusted.",
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "unit": unit,
                        "lines": { "type": "integer", "minimum": 1, "maximum": 5000, "description": "How many lines (default 100)." }
                    },
                    "required": ["unit"],
                    "additionalProperties": false
                },
                "annotations": read
            }),
            json!({
                "name": "restart_service",
                "title": "Restart a service",
                "description": "Restarts a systemd unit (`systemctl restart`) and reports whether it is active.",
                "inputSchema": { "type": "object", "properties": { "unit": unit }, "required": ["unit"], "additionalProperties": false },
                "annotations": { "readOnlyHint": false, "destructiveHint": true, "idempotentHint": true, "openWorldHint": true }
            }),
            json!({
                "name": "update",
                "title": "Update packages",
                "description": "Refreshes the package lists and upgrades every package, or only the listed ones (apt-get or dnf).",
                "inputSchema": {
                    "type": "object",
                    "properties": { "packages": { "type": "array", "items": { "type": "string", "minLength": 1 }, "description": "Only these packages (default: all)." } },
                    "additionalProperties": false
                },
                "annotations": { "readOnlyHint": false, "destructiveHint": true, "idempotentHint": false, "openWorldHint": true }
            }),
        ]
    }

    fn policy(&self) -> &'static [(&'static str, Decision)] {
        &[
            ("status", Decision::Allow),
            ("logs", Decision::Allow),
            ("restart_service", Decision::Ask),
            ("update", Decision::Ask),
        ]
    }

    fn call<'a>(&'a self, tool: &'a str, arguments: Value, call: Call<'a>) -> CallFuture<'a> {
        Box::pin(async move {
            match tool {
                "status" => self.status(&call).await,
                "logs" => self.logs(&arguments, &call).await,
                "restart_service" => self.restart(&arguments, &call).await,
                "update" => self.update(&arguments, &call).await,
                other => Err(format!("server has no tool `{other}`")),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_parsed() {
        assert_eq!(parse_load("0.52 0.58 0.59 1/523 12345\n"), Some(vec![0.52, 0.58, 0.59]));
        let free = "               total        used        free      shared  buff/cache   available\nMem:           15988        3456        1000          10       11000       12000\nSwap:              0           0           0\n";
        let m = parse_memory(free).unwrap();
        assert_eq!(
            (m["total_mb"].as_u64(), m["used_mb"].as_u64(), m["available_mb"].as_u64()),
            (Some(15988), Some(3456), Some(12000))
        );
        let df = "Filesystem      Size  Used Avail Use% Mounted on\n/dev/sda1        98G   88G   10G  90% /\ntmpfs  7.8G 0 7.8G 0% /my disk\n";
        let disks = parse_disks(df);
        assert_eq!(disks[0]["use_percent"], 90);
        assert_eq!(disks[1]["mounted_on"], "/my disk");
    }

    #[test]
    fn unit_names_are_checked() {
        assert_eq!(unit_of(&json!({ "unit": "nginx.service" })).unwrap(), "nginx.service");
        assert_eq!(unit_of(&json!({ "unit": "getty@tty1.service" })).unwrap(), "getty@tty1.service");
        for bad in ["", "-x", "a b", "a;b", "$(id)", "../x"] {
            assert!(unit_of(&json!({ "unit": bad })).is_err(), "{bad}");
        }
    }
}
