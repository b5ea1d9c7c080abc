//! Kinds that touch the outside world: `http`, `exec`, `file.read`, `file.write`,
//! `message.send`. Their results count as untrusted data.

use lang::KindSpec;
use serde_json::json;

use super::{duration, object};

pub fn specs() -> Vec<KindSpec> {
    vec![
        KindSpec::new(
            "http",
            "Make an HTTP request; the response is parsed as JSON or text.",
            object(
                json!({
                    "method": { "enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"], "description": "Default `GET`." },
                    "url": { "type": "string", "description": "The URL (http or https)." },
                    "headers": { "type": "object", "additionalProperties": { "type": "string" }, "description": "Request headers." },
                    "query": { "type": "object", "description": "Query parameters, added to the URL encoded." },
                    "json": { "description": "A body sent as JSON (sets Content-Type)." },
                    "body": { "type": "string", "description": "A raw body." },
                    "timeout": duration("Timeout for the whole request (default `30s`)."),
                    "response": { "enum": ["auto", "json", "text"], "description": "How to read the response (default `auto`: JSON if the server says so)." },
                    "max_bytes": { "type": "integer", "minimum": 1, "description": "Largest response accepted (default 10 MiB)." },
                    "allow_status": { "type": "array", "items": { "type": "integer", "minimum": 100, "maximum": 599 }, "description": "Statuses besides 2xx that are not errors." }
                }),
                &["url"],
            ),
        ),
        KindSpec::new(
            "exec",
            "Run a program with an argv list (never a shell string); needs approval when any argument came from untrusted data.",
            object(
                json!({
                    "argv": { "type": "array", "items": { "type": "string" }, "minItems": 1, "description": "The program and its arguments as a list, never a shell string, e.g. `[\"git\", \"status\"]`." },
                    "cwd": { "type": "string", "description": "Working directory (checked against the allowed roots)." },
                    "env": { "type": "object", "additionalProperties": { "type": "string" }, "description": "Extra environment variables." },
                    "stdin": { "type": "string", "description": "Text written to the program's standard input." },
                    "parse_json": { "type": "boolean", "description": "Parse standard output as JSON (default false)." }
                }),
                &["argv"],
            ),
        ),
        KindSpec::new(
            "file.read",
            "Read a text file (paths are resolved and checked; the vault is never readable).",
            object(
                json!({
                    "path": { "type": "string", "description": "The file to read; `~` is the home directory." },
                    "max_bytes": { "type": "integer", "minimum": 1, "description": "Largest file accepted (default 10 MiB)." }
                }),
                &["path"],
            ),
        ),
        KindSpec::new(
            "file.write",
            "Write a text file atomically (paths are resolved and checked).",
            object(
                json!({
                    "path": { "type": "string", "description": "The file to write; `~` is the home directory." },
                    "content": { "type": "string", "description": "The text to write." },
                    "append": { "type": "boolean", "description": "Append instead of replacing (default false)." },
                    "create_dirs": { "type": "boolean", "description": "Create missing parent directories (default false)." }
                }),
                &["path", "content"],
            ),
        ),
        KindSpec::new(
            "message.send",
            "Send a message through a messaging channel (Telegram, Matrix, Signal).",
            object(
                json!({
                    "channel": { "enum": ["telegram", "matrix", "signal"], "description": "The channel: `telegram`, `matrix` or `signal`." },
                    "to": { "type": "string", "description": "The recipient: a name under the channel's `recipients:`, or an id (a Telegram chat id; a Matrix room `!…` or user `@…`; a Signal UUID, number or `group:ID`). Default: the channel's owner, the first id under `allow`." },
                    "text": { "type": "string", "description": "The message text, sent as plain text (long text is split)." }
                }),
                &["channel", "text"],
            ),
        ),
    ]
}
