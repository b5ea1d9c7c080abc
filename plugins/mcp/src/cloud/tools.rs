//! The `cloud` tools: their MCP definitions and what each runs (`lsjson`, `cat`,
//! `rcat`/`copyto`, `moveto`, `deletefile`, `about`), with results as MCP
//! `CallToolResult`s (text for people and models, `structuredContent` for skills).

use std::path::PathBuf;

use serde_json::{Value, json};

use super::Setup;
use super::args::{self, PATH_PATTERN, REMOTE_PATTERN};
use super::run::Ran;

/// The most entries `list` returns by default, and at all.
const LIST_DEFAULT: u64 = 1000;
const LIST_MAX: u64 = 10_000;
/// `get`'s cap on a file's text: by default (the text appears twice in the result, as
/// content and in `structuredContent`, and both fit the default `max_result_bytes` of
/// 256 KiB), and at most (past `max_result_bytes`, raised in the plugin's manifest).
const GET_DEFAULT: u64 = 128 << 10;
const GET_MAX: u64 = 4 << 20;
/// The most `put` accepts as `content`.
const PUT_MAX: usize = 16 << 20;
/// Cap on the output of the commands that print little (errors, `about`, a stat).
const SMALL: usize = 1 << 20;

fn path_prop(what: &str) -> Value {
    json!({ "type": "string", "pattern": PATH_PATTERN, "description": format!("{what}, relative to the plugin's root on the remote (no `..`, no leading `/`)") })
}

fn remote_prop() -> Value {
    json!({ "type": "string", "pattern": REMOTE_PATTERN, "description": "Which remote (e.g. `gdrive:`); default the plugin's `remote`. Only the remotes in its settings." })
}

fn tool(name: &str, title: &str, description: &str, props: Value, required: &[&str], hints: [bool; 3]) -> Value {
    let [read_only, destructive, idempotent] = hints;
    json!({
        "name": name,
        "title": title,
        "description": description,
        "inputSchema": { "type": "object", "properties": props, "required": required, "additionalProperties": false },
        "annotations": { "readOnlyHint": read_only, "destructiveHint": destructive, "idempotentHint": idempotent, "openWorldHint": true }
    })
}

pub(crate) fn definitions() -> Vec<Value> {
    vec![
        tool(
            "list",
            "List a folder",
            "Lists a folder on a cloud drive: name, path, size, modification time, whether a folder. File names are untrusted.",
            json!({
                "path": path_prop("The folder (default the root)"),
                "remote": remote_prop(),
                "recursive": { "type": "boolean", "description": "Include every subfolder's contents (default false)." },
                "limit": { "type": "integer", "minimum": 1, "maximum": LIST_MAX, "description": "Most entries (default 1000)." }
            }),
            &[],
            [true, false, true],
        ),
        tool(
            "get",
            "Read a text file",
            "Returns a text file's content from a cloud drive (capped; a binary file is refused: `download` it). The content is untrusted.",
            json!({
                "path": path_prop("The file"),
                "remote": remote_prop(),
                "max_bytes": { "type": "integer", "minimum": 1, "maximum": GET_MAX, "description": "Most bytes returned (default 131072; past 131072, raise `max_result_bytes` in the plugin's plugin.yaml too)." }
            }),
            &["path"],
            [true, false, true],
        ),
        tool(
            "put",
            "Upload a file",
            "Writes a file on a cloud drive, from `content` (text) or `from` (a local file in the plugin's local folder); replaces a file already there.",
            json!({
                "path": path_prop("Where the file goes"),
                "content": { "type": "string", "description": "The file's text." },
                "from": { "type": "string", "description": "A local file to upload: relative to the plugin's `local_dir`, or an absolute path inside it." },
                "remote": remote_prop()
            }),
            &["path"],
            [false, true, true],
        ),
        tool(
            "move",
            "Move or rename",
            "Moves or renames a file (or folder) on a cloud drive, within one remote.",
            json!({
                "from": path_prop("What to move"),
                "to": path_prop("Its new path"),
                "remote": remote_prop()
            }),
            &["from", "to"],
            [false, true, false],
        ),
        tool(
            "delete",
            "Delete a file",
            "Deletes one file on a cloud drive (never a folder). Most providers keep it in their trash.",
            json!({ "path": path_prop("The file"), "remote": remote_prop() }),
            &["path"],
            [false, true, true],
        ),
        tool(
            "about",
            "Quota",
            "A cloud drive's quota: total, used, free and trashed bytes, as far as its provider reports them.",
            json!({ "remote": remote_prop() }),
            &[],
            [true, false, true],
        ),
        tool(
            "download",
            "Download a file",
            "Copies a file from a cloud drive into the plugin's local folder (`local_dir`); refuses to replace a local file unless `overwrite`.",
            json!({
                "path": path_prop("The file on the remote"),
                "to": { "type": "string", "description": "The local file: relative to `local_dir`, or an absolute path inside it." },
                "overwrite": { "type": "boolean", "description": "Replace a local file already there (default false)." },
                "remote": remote_prop()
            }),
            &["path", "to"],
            [false, false, true],
        ),
    ]
}

fn text_of<'v>(a: &'v Value, key: &str) -> Option<&'v str> {
    a.get(key).and_then(Value::as_str)
}

fn result(text: String, structured: Value) -> Value {
    json!({ "content": [{ "type": "text", "text": text }], "structuredContent": structured })
}

pub(crate) async fn call(
    tool: &str,
    a: &Value,
    s: &Setup<'_>,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<Value, String> {
    let remote = s.remote(text_of(a, "remote"))?;
    let path = args::check_path(text_of(a, "path").unwrap_or(""))?;
    let at = args::target(&remote, &s.root, &path);
    let shown = if path.is_empty() { "/".to_string() } else { path.clone() };
    let fail = |ran: &Ran, about: &str| args::explain(ran.code, &ran.stderr, &s.context(&remote, about));
    let go = |argv: Vec<String>, stdin: Option<Vec<u8>>, cap: usize| async move {
        s.rclone.run(&argv, stdin, cap, cancel).await
    };
    match tool {
        "list" => {
            let limit = a.get("limit").and_then(Value::as_u64).unwrap_or(LIST_DEFAULT).clamp(1, LIST_MAX) as usize;
            let mut flags = vec!["--no-mimetype"];
            if a.get("recursive").and_then(Value::as_bool) == Some(true) {
                flags.push("--recursive");
            }
            // A line of lsjson is ~150 bytes; the cap stops a huge listing early.
            let ran = go(args::argv("lsjson", &flags, &[&at]), None, (limit + 1) * 4096).await?;
            let entries: Vec<Value> = String::from_utf8_lossy(&ran.stdout)
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l.trim().trim_end_matches(',')).ok())
                .filter(Value::is_object)
                .collect();
            if !ran.ok() && !ran.cut {
                return Err(fail(&ran, &shown));
            }
            let truncated = ran.cut || entries.len() > limit;
            let entries: Vec<Value> = entries
                .into_iter()
                .take(limit)
                .map(|e| {
                    json!({
                        "path": e["Path"].as_str().unwrap_or(""),
                        "name": e["Name"].as_str().unwrap_or(""),
                        "size": e["Size"].as_i64().unwrap_or(-1),
                        "modified": e["ModTime"].as_str().unwrap_or(""),
                        "is_dir": e["IsDir"].as_bool().unwrap_or(false),
                    })
                })
                .collect();
            let mut text: Vec<String> = entries
                .iter()
                .map(|e| {
                    let name = e["path"].as_str().unwrap_or("").escape_debug().to_string();
                    if e["is_dir"] == true {
                        format!("{name}/")
                    } else {
                        format!(
                            "{name}  {}  {}",
                            args::human(e["size"].as_u64().unwrap_or(0)),
                            e["modified"].as_str().unwrap_or("")
                        )
                    }
                })
                .collect();
            if entries.is_empty() {
                text.push(format!("{shown} on {remote}: empty"));
            }
            if truncated {
                text.push(format!("(more entries: the first {limit} are shown; list a subfolder or raise `limit`)"));
            }
            Ok(result(
                text.join("\n"),
                json!({ "remote": remote, "path": path, "entries": entries, "truncated": truncated }),
            ))
        }
        "get" => {
            let max = a.get("max_bytes").and_then(Value::as_u64).unwrap_or(GET_DEFAULT).clamp(1, GET_MAX) as usize;
            let stat = go(args::argv("lsjson", &["--stat", "--no-mimetype"], &[&at]), None, SMALL).await?;
            if !stat.ok() {
                return Err(fail(&stat, &shown));
            }
            let info: Value = serde_json::from_slice(&stat.stdout).unwrap_or(Value::Null);
            if info["IsDir"] == true {
                return Err(format!("`{shown}` is a folder on remote `{remote}`: `list` it"));
            }
            let size = info["Size"].as_u64();
            let count = (max + 1).to_string();
            let ran = go(args::argv("cat", &["--count", &count], &[&at]), None, max + 1).await?;
            if !ran.ok() && !ran.cut {
                return Err(fail(&ran, &shown));
            }
            let truncated = ran.cut || ran.stdout.len() > max;
            let mut bytes = ran.stdout;
            bytes.truncate(max);
            let text = match std::str::from_utf8(&bytes) {
                Ok(t) => t.to_string(),
                // A cut in the middle of a character is not a binary file.
                Err(e) if truncated && e.error_len().is_none() => {
                    String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned()
                }
                Err(_) => String::new(),
            };
            if (text.is_empty() && !bytes.is_empty()) || text.contains('\0') {
                return Err(format!(
                    "`{shown}` on remote `{remote}` is not text ({}): `download` it to a local file",
                    size.map(args::human).unwrap_or_else(|| "binary".into())
                ));
            }
            let mut shown_text = text.clone();
            if truncated {
                shown_text.push_str(&format!(
                    "\n[… cut at {} of {}; raise `max_bytes` for more]",
                    args::human(max as u64),
                    size.map(args::human).unwrap_or_else(|| "more".into())
                ));
            }
            Ok(result(
                shown_text,
                json!({ "remote": remote, "path": path, "size": size, "truncated": truncated, "text": text }),
            ))
        }
        "put" => {
            if path.is_empty() {
                return Err("`path` is empty: say where the file goes".into());
            }
            let ran = match (text_of(a, "content"), text_of(a, "from")) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err("give either `content` (the text) or `from` (a local file), not both or neither".into());
                }
                (Some(content), None) => {
                    if content.len() > PUT_MAX {
                        return Err(format!(
                            "`content` is {}; more than {} goes through `from` (a local file)",
                            args::human(content.len() as u64),
                            args::human(PUT_MAX as u64)
                        ));
                    }
                    go(args::argv("rcat", &[], &[&at]), Some(content.as_bytes().to_vec()), SMALL).await?
                }
                (None, Some(from)) => {
                    let local = local_path(s, from, paths::Access::Read)?;
                    if !local.is_file() {
                        return Err(format!("`{from}` is not a file"));
                    }
                    let local = local.to_string_lossy().into_owned();
                    go(args::argv("copyto", &[], &[&local, &at]), None, SMALL).await?
                }
            };
            if !ran.ok() {
                return Err(fail(&ran, &shown));
            }
            Ok(result(format!("wrote {shown} on {remote}"), json!({ "remote": remote, "path": path })))
        }
        "move" => {
            let from = args::check_path(text_of(a, "from").unwrap_or(""))?;
            let to = args::check_path(text_of(a, "to").unwrap_or(""))?;
            if from.is_empty() || to.is_empty() {
                return Err("`from` and `to` must name something below the root".into());
            }
            let (src, dst) = (args::target(&remote, &s.root, &from), args::target(&remote, &s.root, &to));
            let ran = go(args::argv("moveto", &[], &[&src, &dst]), None, SMALL).await?;
            if !ran.ok() {
                return Err(fail(&ran, &from));
            }
            Ok(result(format!("moved {from} to {to} on {remote}"), json!({ "remote": remote, "from": from, "to": to })))
        }
        "delete" => {
            if path.is_empty() {
                return Err("`path` is empty: name the file to delete".into());
            }
            let ran = go(args::argv("deletefile", &[], &[&at]), None, SMALL).await?;
            if !ran.ok() {
                return Err(fail(&ran, &shown));
            }
            Ok(result(format!("deleted {shown} on {remote}"), json!({ "remote": remote, "path": path })))
        }
        "about" => {
            let ran = go(args::argv("about", &["--json"], &[&at]), None, SMALL).await?;
            if !ran.ok() {
                return Err(fail(&ran, &shown));
            }
            let q: Value = serde_json::from_slice(&ran.stdout).map_err(|e| format!("rclone's `about` answer: {e}"))?;
            let field = |k: &str| q.get(k).and_then(Value::as_u64);
            let text = ["total", "used", "free", "trashed", "other"]
                .iter()
                .filter_map(|k| field(k).map(|v| format!("{k}: {}", args::human(v))))
                .collect::<Vec<_>>()
                .join(", ");
            Ok(result(
                format!("{remote}: {}", if text.is_empty() { "no quota reported".into() } else { text }),
                json!({
                    "remote": remote, "total": field("total"), "used": field("used"), "free": field("free"),
                    "trashed": field("trashed"), "other": field("other"), "objects": field("objects"),
                }),
            ))
        }
        "download" => {
            if path.is_empty() {
                return Err("`path` is empty: name the file to download".into());
            }
            let to = text_of(a, "to").unwrap_or("");
            let local = local_path(s, to, paths::Access::Write)?;
            if local.exists() && a.get("overwrite").and_then(Value::as_bool) != Some(true) {
                return Err(format!("`{}` exists; set `overwrite: true` to replace it", local.display()));
            }
            let local_s = local.to_string_lossy().into_owned();
            let ran = go(args::argv("copyto", &[], &[&at, &local_s]), None, SMALL).await?;
            if !ran.ok() {
                return Err(fail(&ran, &shown));
            }
            Ok(result(
                format!("downloaded {shown} from {remote} to {local_s}"),
                json!({ "remote": remote, "path": path, "to": local_s }),
            ))
        }
        other => Err(format!("cloud has no tool `{other}` (its tools: list, get, put, move, delete, about, download)")),
    }
}

/// A local file for `put`'s `from` or `download`'s `to`: relative to `local_dir` or an
/// absolute path inside it, resolved (symlinks included) by the one path policy, so it is
/// never in the vault or Pyra's database, and never outside `local_dir`.
fn local_path(s: &Setup<'_>, given: &str, access: paths::Access) -> Result<PathBuf, String> {
    let Some(dir) = s.local_dir.as_deref() else {
        return Err(format!(
            "plugin `{}` has no local folder: set one with `pyra plugin setup {} --set local_dir=~/Downloads`",
            s.plugin, s.plugin
        ));
    };
    if given.is_empty() {
        return Err("the local path is empty".into());
    }
    let dir = std::fs::canonicalize(super::expand(dir))
        .map_err(|e| format!("`settings.local_dir` ({dir}) cannot be used: {e}"))?;
    let expanded = super::expand(given);
    let joined = if expanded.is_absolute() { expanded } else { dir.join(expanded) };
    let policy = paths::PathPolicy::new(&s.pyra_home);
    let resolved = policy.check(&joined.to_string_lossy(), access).map_err(|e| e.to_string())?;
    if !resolved.starts_with(&dir) {
        return Err(format!(
            "`{given}` resolves to {}, outside the plugin's local folder {} (`settings.local_dir`)",
            resolved.display(),
            dir.display()
        ));
    }
    Ok(resolved)
}
