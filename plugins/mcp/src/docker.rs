//! The `docker` built-in (feature `plugin-docker`): containers and images through the
//! Docker Engine API on the daemon's Unix socket (Podman's answers too), the API version
//! negotiated down to the daemon's. `ps`, `images`, `logs` and `inspect` are read-only;
//! `start`, `stop`, `restart`, `run` and `rm` ask. `run` is safe by default: no network
//! unless asked for, no host mounts or privileges at all (the tool cannot express them),
//! `no-new-privileges`; `inspect` shows environment variables' names, never their values.

mod api;

use std::sync::Arc;
use std::time::Duration;

use config::fields::{Field, Kind};
use hyper::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::builtin::{Builtin, Call, CallFuture};
use crate::manifest::Decision;
use api::Api;

/// This module's built-ins, for [`crate::builtin::all`].
pub fn builtins() -> Vec<Arc<dyn Builtin>> {
    vec![Arc::new(Docker)]
}

const FIELDS: &[Field] = &[
    Field::new(
        "host",
        "Daemon socket",
        Kind::Text,
        "the daemon's socket, unix:///var/run/docker.sock (default: DOCKER_HOST, then Docker's or Podman's usual socket)",
    ),
    Field::new(
        "api_version",
        "API version",
        Kind::Text,
        "pin an API version like 1.41 (default: negotiated with the daemon)",
    ),
    Field::new(
        "network",
        "Network for run",
        Kind::Text,
        "the network `run` attaches a container to when the call names none: `none` (no network) unless you change it",
    )
    .default("none"),
    Field::new(
        "timeout",
        "Timeout (s)",
        Kind::Integer { min: 1, max: 86400 },
        "how long `run` waits for its container to end",
    )
    .default("120"),
    Field::new(
        "max_output",
        "Output cap (bytes)",
        Kind::Integer { min: 1024, max: 67_108_864 },
        "most bytes kept of a log or an answer",
    )
    .default("1048576"),
];

pub struct Docker;

fn text_result(text: String, structured: Value, is_error: bool) -> Value {
    let mut out = json!({ "content": [{ "type": "text", "text": text }], "structuredContent": structured });
    if is_error {
        out["isError"] = json!(true);
    }
    out
}

/// A container's name or id in `args[key]`, checked (it goes into a URL path).
fn named(args: &Value, key: &str) -> Result<String, String> {
    let c = args.get(key).and_then(Value::as_str).unwrap_or("");
    let ok = c.len() <= 128
        && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
        && c.chars().all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch));
    if ok { Ok(c.to_string()) } else { Err(format!("`{key}: {c:?}` is not a container name or id")) }
}

fn container(args: &Value) -> Result<String, String> {
    named(args, "container")
}

fn cap(call: &Call<'_>) -> usize {
    call.setting("max_output").and_then(|v| v.parse().ok()).unwrap_or(1 << 20)
}

fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
}

async fn connect(call: &Call<'_>) -> Result<Api, String> {
    let socket = api::socket_of(call.setting("host"))?;
    Api::connect(socket, call.setting("api_version")).await
}

/// A state change (`start`, `stop`, `restart`): 204 done, 304 nothing to do.
async fn change(api: &Api, what: &str, c: &str, query: &str) -> Result<Value, String> {
    let answer = api.call(Method::POST, &format!("/containers/{c}/{what}{query}"), None, 1 << 16).await?;
    let note = match answer.status {
        StatusCode::NO_CONTENT => format!("{what}: done"),
        StatusCode::NOT_MODIFIED => format!("{what}: nothing to do (it already was)"),
        _ => return Err(api::failure(&answer)),
    };
    let state = api.json(Method::GET, &format!("/containers/{c}/json"), None, 1 << 20).await?;
    let status = state.pointer("/State/Status").and_then(Value::as_str).unwrap_or("unknown").to_string();
    Ok(text_result(format!("{c}: {note}; it is {status}"), json!({ "container": c, "state": status }), false))
}

/// The log of container `c`, split into stdout and stderr.
async fn log_of(
    api: &Api,
    c: &str,
    tail: &str,
    timestamps: bool,
    cap: usize,
) -> Result<(String, String, bool), String> {
    let info = api.json(Method::GET, &format!("/containers/{c}/json"), None, 1 << 20).await?;
    let tty = info.pointer("/Config/Tty").and_then(Value::as_bool).unwrap_or(false);
    let path = format!("/containers/{c}/logs?stdout=1&stderr=1&tail={tail}&timestamps={timestamps}");
    let answer = api.call(Method::GET, &path, None, cap).await?;
    if !answer.status.is_success() {
        return Err(api::failure(&answer));
    }
    let (out, err) = match (tty, api::demux(&answer.body)) {
        (false, Some(split)) => split,
        _ => (String::from_utf8_lossy(&answer.body).into_owned(), String::new()),
    };
    Ok((out, err, answer.truncated))
}

impl Docker {
    async fn ps(&self, args: &Value, call: &Call<'_>) -> Result<Value, String> {
        let api = connect(call).await?;
        let all = args.get("all").and_then(Value::as_bool).unwrap_or(false);
        let list = api.json(Method::GET, &format!("/containers/json?all={all}"), None, cap(call)).await?;
        let rows: Vec<Value> = list
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let names: Vec<String> =
                    strs(&c["Names"]).iter().map(|n| n.trim_start_matches('/').to_string()).collect();
                json!({ "id": short(c["Id"].as_str().unwrap_or("")), "names": names, "image": c["Image"],
                        "command": c["Command"], "state": c["State"], "status": c["Status"], "created": c["Created"] })
            })
            .collect();
        let text = if rows.is_empty() {
            "no containers".to_string()
        } else {
            rows.iter()
                .map(|r| {
                    format!(
                        "{}  {}  {}  {}",
                        r["id"].as_str().unwrap_or(""),
                        r["names"][0].as_str().unwrap_or(""),
                        r["image"].as_str().unwrap_or(""),
                        r["status"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        Ok(text_result(text, json!({ "api_version": api.version.to_string(), "containers": rows }), false))
    }

    async fn images(&self, call: &Call<'_>) -> Result<Value, String> {
        let api = connect(call).await?;
        let list = api.json(Method::GET, "/images/json", None, cap(call)).await?;
        let rows: Vec<Value> = list
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| json!({ "id": short(i["Id"].as_str().unwrap_or("")), "tags": strs(&i["RepoTags"]), "size": i["Size"], "created": i["Created"] }))
            .collect();
        let text = rows
            .iter()
            .map(|r| {
                format!("{}  {}  {} bytes", r["id"].as_str().unwrap_or(""), strs(&r["tags"]).join(", "), r["size"])
            })
            .collect::<Vec<_>>()
            .join("\n");
        Ok(text_result(if text.is_empty() { "no images".into() } else { text }, json!({ "images": rows }), false))
    }

    async fn logs(&self, args: &Value, call: &Call<'_>) -> Result<Value, String> {
        let c = container(args)?;
        let tail = args.get("tail").and_then(Value::as_u64).unwrap_or(100).clamp(1, 10_000);
        let timestamps = args.get("timestamps").and_then(Value::as_bool).unwrap_or(false);
        let api = connect(call).await?;
        let (out, err, truncated) = log_of(&api, &c, &tail.to_string(), timestamps, cap(call)).await?;
        let mut text = out.clone();
        if !err.is_empty() {
            text.push_str(&format!("\n--- stderr ---\n{err}"));
        }
        if truncated {
            text.push_str("\n[log cut at `settings.max_output`]");
        }
        Ok(text_result(text, json!({ "container": c, "stdout": out, "stderr": err, "truncated": truncated }), false))
    }

    async fn inspect(&self, args: &Value, call: &Call<'_>) -> Result<Value, String> {
        let c = container(args)?;
        let api = connect(call).await?;
        let mut info = api.json(Method::GET, &format!("/containers/{c}/json"), None, cap(call)).await?;
        // Environment values often hold passwords: their names are enough to see the setup.
        if let Some(env) = info.pointer_mut("/Config/Env").and_then(Value::as_array_mut) {
            for e in env.iter_mut() {
                let name = e.as_str().and_then(|s| s.split('=').next()).unwrap_or("").to_string();
                *e = json!(format!("{name}=[hidden]"));
            }
        }
        let summary = format!(
            "{} ({}): {} from {}",
            info["Name"].as_str().unwrap_or("").trim_start_matches('/'),
            short(info["Id"].as_str().unwrap_or("")),
            info.pointer("/State/Status").and_then(Value::as_str).unwrap_or("?"),
            info.pointer("/Config/Image").and_then(Value::as_str).unwrap_or("?")
        );
        Ok(text_result(summary, info, false))
    }

    async fn run(&self, args: &Value, call: &Call<'_>) -> Result<Value, String> {
        let image = args.get("image").and_then(Value::as_str).unwrap_or("");
        if image.is_empty()
            || image.starts_with('-')
            || !image.chars().all(|c| c.is_ascii_alphanumeric() || "._/:@-".contains(c))
        {
            return Err(format!("`image: {image:?}` is not an image reference"));
        }
        let mut env = Vec::new();
        for (k, v) in args.get("env").and_then(Value::as_object).into_iter().flatten() {
            let v = v.as_str().ok_or_else(|| format!("`env.{k}` must be text"))?;
            if k.is_empty() || k.contains(['=', '\0']) || v.contains('\0') {
                return Err(format!("`env`: `{k}` is not a usable variable"));
            }
            env.push(format!("{k}={v}"));
        }
        let network = args.get("network").and_then(Value::as_str).or(call.setting("network")).unwrap_or("none");
        let wait = args.get("wait").and_then(Value::as_bool).unwrap_or(true);
        let mut body = json!({
            "Image": image,
            "Env": env,
            "Tty": false,
            "Labels": { "pyra.plugin": call.plugin },
            "HostConfig": { "NetworkMode": network, "Privileged": false, "SecurityOpt": ["no-new-privileges"] },
        });
        if let Some(argv) = args.get("argv") {
            body["Cmd"] = json!(strs(argv));
        }
        for (arg, key) in [("workdir", "WorkingDir"), ("user", "User")] {
            if let Some(v) = args.get(arg).and_then(Value::as_str) {
                body[key] = json!(v);
            }
        }
        let query = match args.get("name") {
            Some(_) => format!("?name={}", named(args, "name")?),
            None => String::new(),
        };
        let api = connect(call).await?;
        let created = api.call(Method::POST, &format!("/containers/create{query}"), Some(&body), 1 << 16).await?;
        if created.status != StatusCode::CREATED {
            return Err(api::failure(&created));
        }
        let id = created.json()?["Id"].as_str().unwrap_or("").to_string();
        let started = api.call(Method::POST, &format!("/containers/{id}/start"), None, 1 << 16).await?;
        if !started.status.is_success() {
            // Nothing half-made is left behind.
            let _ = api.call(Method::DELETE, &format!("/containers/{id}?force=true"), None, 1 << 16).await;
            return Err(api::failure(&started));
        }
        let mut structured =
            json!({ "id": short(&id), "image": image, "network": network, "api_version": api.version.to_string() });
        if !wait {
            structured["running"] = json!(true);
            return Ok(text_result(
                format!("started {} from {image} (network {network})", short(&id)),
                structured,
                false,
            ));
        }
        let limit = Duration::from_secs(call.setting("timeout").and_then(|v| v.parse().ok()).unwrap_or(120));
        let waited =
            tokio::time::timeout(limit, api.json(Method::POST, &format!("/containers/{id}/wait"), None, 1 << 16)).await;
        let Ok(ended) = waited else {
            structured["running"] = json!(true);
            let text = format!(
                "{} is still running after {}s (`settings.timeout`); it was left running: see `logs`, `stop` it or `rm` it",
                short(&id),
                limit.as_secs()
            );
            return Ok(text_result(text, structured, false));
        };
        let code = ended?["StatusCode"].as_i64().unwrap_or(-1);
        let (out, err, truncated) = log_of(&api, &id, "all", false, cap(call)).await?;
        if args.get("remove").and_then(Value::as_bool).unwrap_or(false) {
            let gone = api.call(Method::DELETE, &format!("/containers/{id}"), None, 1 << 16).await?;
            structured["removed"] = json!(gone.status.is_success());
        }
        structured["running"] = json!(false);
        structured["exit_code"] = json!(code);
        structured["stdout"] = json!(out);
        structured["stderr"] = json!(err);
        structured["truncated"] = json!(truncated);
        if code == 0 {
            Ok(text_result(out, structured, false))
        } else {
            let text = format!("the container {} exited with code {code}: {}\n{out}", short(&id), err.trim());
            Ok(text_result(text, structured, true))
        }
    }

    async fn rm(&self, args: &Value, call: &Call<'_>) -> Result<Value, String> {
        let c = container(args)?;
        let force = args.get("force").and_then(Value::as_bool).unwrap_or(false);
        let api = connect(call).await?;
        let answer = api.call(Method::DELETE, &format!("/containers/{c}?force={force}"), None, 1 << 16).await?;
        if !answer.status.is_success() {
            return Err(api::failure(&answer));
        }
        Ok(text_result(format!("removed {c}"), json!({ "container": c, "removed": true }), false))
    }

    async fn dispatch(&self, tool: &str, args: &Value, call: &Call<'_>) -> Result<Value, String> {
        let seconds =
            |args: &Value| args.get("timeout").and_then(Value::as_u64).map(|t| format!("?t={t}")).unwrap_or_default();
        match tool {
            "ps" => self.ps(args, call).await,
            "images" => self.images(call).await,
            "logs" => self.logs(args, call).await,
            "inspect" => self.inspect(args, call).await,
            "start" => change(&connect(call).await?, "start", &container(args)?, "").await,
            "stop" => change(&connect(call).await?, "stop", &container(args)?, &seconds(args)).await,
            "restart" => change(&connect(call).await?, "restart", &container(args)?, &seconds(args)).await,
            "run" => self.run(args, call).await,
            "rm" => self.rm(args, call).await,
            other => Err(format!("docker has no tool `{other}`")),
        }
    }
}

fn tool(name: &str, title: &str, description: &str, properties: Value, required: &[&str], read_only: bool) -> Value {
    let annotations = if read_only {
        json!({ "readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false })
    } else {
        json!({ "readOnlyHint": false, "destructiveHint": matches!(name, "rm" | "stop" | "restart"), "idempotentHint": false, "openWorldHint": false })
    };
    json!({
        "name": name,
        "title": title,
        "description": description,
        "inputSchema": { "type": "object", "properties": properties, "required": required, "additionalProperties": false },
        "annotations": annotations,
    })
}

impl Builtin for Docker {
    fn id(&self) -> &'static str {
        "docker"
    }

    fn description(&self) -> &'static str {
        "Docker (or Podman) containers and images through the Engine API on the daemon's socket."
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn tools(&self) -> Vec<Value> {
        let c =
            json!({ "type": "string", "minLength": 1, "maxLength": 128, "description": "A container's name or id." });
        let t = json!({ "type": "integer", "minimum": 0, "maximum": 3600, "description": "Seconds to wait for it to stop before killing it (default: the daemon's, 10)." });
        let mut env = Map::new();
        env.insert("type".into(), json!("object"));
        env.insert("additionalProperties".into(), json!({ "type": "string" }));
        env.insert("description".into(), json!("Environment variables, name → value."));
        vec![
            tool(
                "ps",
                "List containers",
                "The containers (running ones, or all), with image, state and status.",
                json!({ "all": { "type": "boolean", "description": "Stopped containers too (default false)." } }),
                &[],
                true,
            ),
            tool("images", "List images", "The images on this host, with tags and sizes.", json!({}), &[], true),
            tool(
                "logs",
                "Container logs",
                "The last lines of a container's stdout and stderr. The log is untrusted.",
                json!({ "container": c, "tail": { "type": "integer", "minimum": 1, "maximum": 10000, "description": "How many lines (default 100)." },
                        "timestamps": { "type": "boolean", "description": "Prefix each line with its time." } }),
                &["container"],
                true,
            ),
            tool(
                "inspect",
                "Inspect a container",
                "A container's configuration and state (environment variables by name only).",
                json!({ "container": c }),
                &["container"],
                true,
            ),
            tool(
                "start",
                "Start a container",
                "Starts a stopped container.",
                json!({ "container": c }),
                &["container"],
                false,
            ),
            tool(
                "stop",
                "Stop a container",
                "Stops a running container.",
                json!({ "container": c, "timeout": t }),
                &["container"],
                false,
            ),
            tool(
                "restart",
                "Restart a container",
                "Restarts a container.",
                json!({ "container": c, "timeout": t }),
                &["container"],
                false,
            ),
            tool(
                "run",
                "Run a container",
                "Creates and starts a container from a local image, by default without network (`settings.network`), with no host mounts and `no-new-privileges`. Waits for it to end and returns its exit code and output, unless `wait` is false.",
                json!({
                    "image": { "type": "string", "minLength": 1, "description": "A local image, e.g. `alpine:3.20`." },
                    "argv": { "type": "array", "items": { "type": "string" }, "description": "The command as an argv list (default: the image's)." },
                    "env": Value::Object(env),
                    "name": { "type": "string", "minLength": 1, "maxLength": 128, "description": "A name for the container." },
                    "network": { "type": "string", "minLength": 1, "description": "`none`, `bridge`, `host` or a network's name (default `settings.network`, itself `none`)." },
                    "workdir": { "type": "string", "description": "The working directory inside the container." },
                    "user": { "type": "string", "description": "The user inside the container." },
                    "wait": { "type": "boolean", "description": "Wait for it to end (default true; false for a service)." },
                    "remove": { "type": "boolean", "description": "Remove it once it ended (default false)." }
                }),
                &["image"],
                false,
            ),
            tool(
                "rm",
                "Remove a container",
                "Removes a container (a running one only with `force`).",
                json!({ "container": c, "force": { "type": "boolean", "description": "Kill it first if it runs." } }),
                &["container"],
                false,
            ),
        ]
    }

    fn policy(&self) -> &'static [(&'static str, Decision)] {
        &[
            ("ps", Decision::Allow),
            ("images", Decision::Allow),
            ("logs", Decision::Allow),
            ("inspect", Decision::Allow),
            ("start", Decision::Ask),
            ("stop", Decision::Ask),
            ("restart", Decision::Ask),
            ("run", Decision::Ask),
            ("rm", Decision::Ask),
        ]
    }

    fn call<'a>(&'a self, tool: &'a str, arguments: Value, call: Call<'a>) -> CallFuture<'a> {
        Box::pin(async move {
            tokio::select! {
                r = self.dispatch(tool, &arguments, &call) => r,
                () = call.cancel.cancelled() => Err("cancelled".into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_references_are_checked() {
        assert_eq!(container(&json!({ "container": "web-1.a_b" })).unwrap(), "web-1.a_b");
        for bad in ["", "-x", "a/b", "../x", "a?b", "a b"] {
            assert!(container(&json!({ "container": bad })).is_err(), "{bad}");
        }
    }

    #[test]
    fn reading_tools_are_allowed_and_the_rest_ask() {
        let d = Docker;
        for t in d.tools() {
            let name = t["name"].as_str().unwrap();
            let read_only = t["annotations"]["readOnlyHint"].as_bool().unwrap();
            let rule = d.policy().iter().find(|(n, _)| *n == name).map(|(_, r)| *r);
            assert_eq!(rule, Some(if read_only { Decision::Allow } else { Decision::Ask }), "{name}");
        }
    }
}
